package localrun

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestSynthCacheIsNamedByItsSources: the fingerprint changes with any
// source the stack is built from, not with a test file; a source newer
// than the binary turns the cache off; a stored template comes back, and
// storing under new sources removes what the old ones left.
func TestSynthCacheIsNamedByItsSources(t *testing.T) {
	root := t.TempDir()
	write := func(rel, body string) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-time.Hour)
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	write("go.sum", "sum")
	write("infra/stack.go", "package infra")
	write("instance/deploy.sh", "echo deploy")
	built := time.Now().UnixNano()

	first, ok := fingerprint(root, built)
	if !ok {
		t.Fatal("no fingerprint for sources older than the binary")
	}
	write("infra/stack_test.go", "package infra // a test")
	write("infra/testdata/x.json", "{}")
	if fp, _ := fingerprint(root, built); fp != first {
		t.Error("a test file changed the fingerprint")
	}
	write("instance/deploy.sh", "echo deploy again")
	second, _ := fingerprint(root, built)
	if second == first {
		t.Error("an embedded script changed and the fingerprint did not")
	}
	if err := os.Chtimes(filepath.Join(root, "go.sum"), time.Now().Add(time.Hour), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, ok := fingerprint(root, built); ok {
		t.Error("a source edited after the build still gave a fingerprint: the cache would hold what the binary did not build")
	}

	dir := filepath.Join(root, "build", "cache", "synth")
	old := diskCache{dir: dir, fingerprint: first}
	old.store("config", synthesized{Template: []byte(`{"a":1}`), Findings: []string{"f"}})
	cur := diskCache{dir: dir, fingerprint: second}
	if _, ok := cur.load("config"); ok {
		t.Error("a template from other sources was loaded")
	}
	cur.store("config", synthesized{Template: []byte(`{"a":2}`)})
	got, ok := cur.load("config")
	if !ok || string(got.Template) != `{"a":2}` {
		t.Errorf("load after store: %s %v", got.Template, ok)
	}
	if _, ok := old.load("config"); ok {
		t.Error("the old sources' template was not removed")
	}
	if _, ok := (diskCache{}).load("config"); ok {
		t.Error("no cache loaded something")
	}
}
