package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestOperatorBuildIsLean: the CLI an operator installs links neither the
// CDK (and its jsii runtime) nor the local engine, the simulator, the step
// handlers or the testing package; only the harness build (-tags harness,
// what make local runs) does. A 166 MB build of it was once committed.
func TestOperatorBuildIsLean(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	forbidden := []string{"github.com/aws/aws-cdk-go/", "github.com/aws/jsii-runtime-go", "github.com/greenlight/greenlight/harness/",
		"github.com/greenlight/greenlight/lambdas/", "github.com/greenlight/greenlight/infra",
		"github.com/greenlight/greenlight/statemachine"}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "testing" {
			t.Errorf("the operator's build links the testing package")
		}
		for _, f := range forbidden {
			if strings.HasPrefix(dep, f) || dep == strings.TrimSuffix(f, "/") {
				t.Errorf("the operator's build links %s", dep)
			}
		}
	}
}
