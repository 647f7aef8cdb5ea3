package localrun

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/greenlight/greenlight/internal/release"
)

// newEnv starts a local environment on the example config, changed by
// edit, and closes it at the end of the test.
func newEnv(t *testing.T, opts Options, edit func(*release.Config)) *Env {
	t.Helper()
	tc, err := FindToolchain()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := release.LoadConfig(filepath.Join(tc.Root, "greenlight.example.json"))
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(&cfg)
	}
	opts.Config = cfg
	opts.Asset = filepath.Join(tc.Root, "build", "bootstrap.zip")
	if testing.Verbose() {
		opts.Log = os.Stderr
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	env, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return env
}

func TestHappyPathReleases(t *testing.T) {
	env := newEnv(t, Options{}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := env.Release(ctx, "1.1.0", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := res.JSON()
	if res.Status != "Released" {
		t.Fatalf("status %s\n%s", res.Status, b)
	}
	t.Logf("path %s", strings.Join(res.StatesEntered, " > "))
	t.Logf("%s", b)
}
