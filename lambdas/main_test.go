package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/greenlight/greenlight/lambdas/registry"
)

func TestBuildRefusesUnknownHandlers(t *testing.T) {
	for _, name := range []string{"", "no-such-step"} {
		_, err := build(context.Background(), name)
		if err == nil {
			t.Fatalf("handler %q: want an error", name)
		}
		for _, known := range registry.Names() {
			if !strings.Contains(err.Error(), known) {
				t.Errorf("handler %q: error %q does not list %s", name, err, known)
			}
		}
	}
}

func TestBuildKnownHandlers(t *testing.T) {
	t.Setenv("AWS_REGION", "eu-west-1")
	for _, name := range registry.Names() {
		h, err := build(context.Background(), name)
		if err != nil || h == nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestColdStartFailsForUnknownHandler runs the real binary the way Lambda
// does: a bad Handler setting must end the process during init with the
// known names, not serve a broken function.
func TestColdStartFailsForUnknownHandler(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "bootstrap")
	if out, err := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "_HANDLER=no-such-step", "AWS_LAMBDA_RUNTIME_API=127.0.0.1:1")
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("want exit 1, got %v\n%s", err, out)
	}
	if !strings.Contains(string(out), `unknown handler "no-such-step"`) {
		t.Errorf("output %q", out)
	}
}

// TestLambdaBinaryLinksNoHarness: the bootstrap every function runs links
// neither the harness (simulated region, local engine, script sandbox) nor
// the testing package; the harness lives in its own top-level folder so
// that imports only ever point into it from tests and the local engine.
func TestLambdaBinaryLinksNoHarness(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-tags", "lambda.norpc", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "testing" || strings.HasPrefix(dep, "github.com/greenlight/greenlight/harness/") {
			t.Errorf("the Lambda binary links %s", dep)
		}
	}
}
