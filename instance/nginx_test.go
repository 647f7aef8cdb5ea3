package instance_test

import (
	"github.com/greenlight/greenlight/harness/nginxtest"
	"github.com/greenlight/greenlight/instance"

	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The snippet and the maintenance document together, against a real
// nginx on loopback (`make test` installs Debian's nginx-light; a bare
// `go test` without nginx skips): maintenance on gives 503, Retry-After
// and the page; the app's own 503 passes through untouched; off restores
// the app.
func TestNginxMaintenancePage(t *testing.T) {
	sb := box(t)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/busy" {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, "app busy")
			return
		}
		fmt.Fprint(w, "app")
	}))
	defer app.Close()
	addr := nginxtest.Start(t, nginxtest.Config{Root: sb.Root(), App: "shop", Upstream: app.URL})

	get := func(path string) (int, string, http.Header) {
		t.Helper()
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	maintenance := func(action string) {
		t.Helper()
		if res := run(t, sb, instance.Maintenance, map[string]string{instance.ParamApp: "shop", instance.ParamAction: action}); !res.OK() {
			t.Fatalf("maintenance %s: %s", action, res.Reason())
		}
	}

	if code, body, _ := get("/"); code != 200 || body != "app" {
		t.Errorf("before: %d %q", code, body)
	}
	if code, body, h := get("/busy"); code != 503 || body != "app busy" || h.Get("Retry-After") != "" {
		t.Errorf("the app's own 503 was changed: %d %q %v", code, body, h)
	}
	maintenance("on")
	code, body, h := get("/")
	if code != 503 || h.Get("Retry-After") != "120" || !strings.Contains(body, "be right back") || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		t.Errorf("maintenance on: %d %v\n%s", code, h, body)
	}
	// A write meets the same page, not 405: nginx serves an error_page URI
	// to every method.
	resp, err := http.Post("http://"+addr+"/write", "text/plain", strings.NewReader("u1-1"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "120" || !strings.Contains(string(b), "be right back") {
		t.Errorf("a POST under maintenance: %d %v\n%s", resp.StatusCode, resp.Header, b)
	}
	maintenance("off")
	if code, body, _ := get("/"); code != 200 || body != "app" {
		t.Errorf("after: %d %q", code, body)
	}
}
