package netfront

import (
	"strings"
	"testing"

	"github.com/greenlight/greenlight/instance"
)

// The embedded snippet gives the answer instance/nginx_test.go checks
// nginx for: 503, Retry-After 120, Cache-Control no-store, text/html.
func TestParseEmbeddedSnippet(t *testing.T) {
	conf, err := instance.Assets.ReadFile("nginx/greenlight-maintenance.conf")
	if err != nil {
		t.Fatal(err)
	}
	m, err := parseSnippet(string(conf))
	if err != nil {
		t.Fatal(err)
	}
	if m.status != 503 || m.header.Get("Retry-After") != "120" || m.header.Get("Cache-Control") != "no-store" || m.contentType != "text/html" || len(m.header) != 2 {
		t.Errorf("%+v", m)
	}
}

// A snippet the Front cannot read is an error, never a guess.
func TestParseSnippetRejects(t *testing.T) {
	const good = `error_page 503 @m; # a comment with ; and {
if (-f "/flag") { return 503; }
location @m { add_header Retry-After 120 always; default_type text/html; }`
	if _, err := parseSnippet(good); err != nil {
		t.Fatalf("good snippet: %v", err)
	}
	for name, conf := range map[string]string{
		"no return":          strings.Replace(good, "return 503;", "", 1),
		"other error_page":   strings.Replace(good, "error_page 503", "error_page 502", 1),
		"no location":        strings.Replace(good, "location @m", "location /m", 1),
		"Retry-After always": strings.Replace(good, " always;", ";", 1),
		"no default_type":    strings.Replace(good, "default_type text/html;", "", 1),
		"unbalanced":         good + "}",
		"unterminated quote": good + ` add_header X "y;`,
	} {
		if _, err := parseSnippet(conf); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}
