package localrun

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/greenlight/greenlight/internal/release"
)

// NewTestEnv starts a local environment on the example config, changed by
// edit, for a test; it is closed when the test ends. Handler logs go to
// stderr with `go test -v`.
func NewTestEnv(tb testing.TB, opts Options, edit func(*release.Config)) *Env {
	tb.Helper()
	tc, err := FindToolchain()
	if err != nil {
		tb.Fatal(err)
	}
	cfg, err := release.LoadConfig(filepath.Join(tc.Root, "greenlight.example.json"))
	if err != nil {
		tb.Fatal(err)
	}
	if edit != nil {
		edit(&cfg)
	}
	opts.Config = cfg
	// opts.Asset stays empty: a placeholder asset, as `make local` uses
	// when nothing is built; the handlers run in-process.
	if testing.Verbose() && opts.Log == nil {
		opts.Log = os.Stderr
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	env, err := Start(ctx, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := env.Close(); err != nil {
			tb.Errorf("close the local environment: %v", err)
		}
	})
	return env
}
