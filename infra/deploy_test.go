package infra

import (
	"os/exec"
	"strings"
	"testing"
)

// deployRecipe is what `make deploy` would run, in order (make -n prints
// the commands without running any of them: no AWS call, no network).
func deployRecipe(t *testing.T, vars ...string) []string {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	out, err := exec.Command("make", append([]string{"-C", "..", "-n", "--no-print-directory", "deploy"}, vars...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("make -n deploy: %v\n%s", err, out)
	}
	return strings.Split(string(out), "\n")
}

// index is the first line of the recipe that runs the command, or -1.
func index(lines []string, command string) int {
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), command) {
			return i
		}
	}
	return -1
}

// TestDeployBootstrapsFirst: `make deploy` bootstraps the environment it
// deploys to before `cdk deploy`, with the same app context (so the CLI
// resolves the same account and region), and BOOTSTRAP=no leaves the
// environment alone.
func TestDeployBootstrapsFirst(t *testing.T) {
	lines := deployRecipe(t)
	boot, deploy := index(lines, "cdk bootstrap"), index(lines, "cdk deploy")
	if deploy < 0 {
		t.Fatalf("make deploy runs no `cdk deploy`:\n%s", strings.Join(lines, "\n"))
	}
	if boot < 0 || boot > deploy {
		t.Fatalf("make deploy does not run `cdk bootstrap` before `cdk deploy`:\n%s", strings.Join(lines, "\n"))
	}
	context := func(line string) string { return line[strings.Index(line, " -c "):] }
	if !strings.Contains(lines[boot], " -c ") || context(lines[boot]) != context(lines[deploy]) {
		t.Errorf("bootstrap and deploy name different apps:\n%s\n%s", lines[boot], lines[deploy])
	}

	lines = deployRecipe(t, "BOOTSTRAP=no")
	if index(lines, "cdk bootstrap") >= 0 || index(lines, "cdk deploy") < 0 {
		t.Errorf("make deploy BOOTSTRAP=no:\n%s", strings.Join(lines, "\n"))
	}
}
