package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/greenlight/greenlight/internal/release"
)

const albExample = "../../greenlight.alb.example.json"

func TestValidateExamples(t *testing.T) {
	for file, want := range map[string]string{
		example:    "traffic elasticIp, 2 smoke test(s)\n",
		albExample: "traffic alb in steps of 5, 25, 50, 100 %, 2 smoke test(s)\n",
	} {
		r := runCLI("validate", file)
		if r.code != exitOK || !strings.HasSuffix(r.stdout, want) {
			t.Errorf("%s\nwant exit 0 ending %q", r, want)
		}
	}
}

// TestValidateReportsTrafficProblems: greenlight validate names each
// traffic problem by its path, in text and in JSON, and exits 3.
func TestValidateReportsTrafficProblems(t *testing.T) {
	b, err := os.ReadFile(albExample)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), `"steps": [5, 25, 50, 100]`, `"steps": [5, 50, 25, 100]`, 1)
	s = strings.Replace(s, `"region": "eu-west-1",`, `"region": "eu-west-1", "live": {"elasticIpAllocationId": "eipalloc-0a1b2c3d4e5f60718"},`, 1)
	s = strings.Replace(s, `"mode": "none"`, `"mode": "move", "device": "/dev/sdf", "mountPoint": "/var/lib/shop"`, 1)
	path := filepath.Join(t.TempDir(), "greenlight.json")
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"traffic.steps[2]: 25 after 50: steps must increase",
		`traffic.steps: a data volume serves one instance: with data.mode "move", traffic.steps must be [100]`,
		`live.elasticIpAllocationId: is set but traffic.mode is "alb" (only one front can be managed`,
	}

	r := runCLI("validate", path)
	if r.code != exitConfig || !strings.Contains(r.stderr, path+": 3 problem(s):") {
		t.Fatalf("%s\nwant exit %d with 3 problems", r, exitConfig)
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, "\n  "+w) {
			t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
		}
	}

	r = runCLI("validate", "--json", path)
	var out struct {
		Valid    bool              `json:"valid"`
		Problems []release.Problem `json:"problems"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || r.code != exitConfig || out.Valid {
		t.Fatalf("%s\n%v", r, err)
	}
	got := map[string]string{}
	for _, p := range out.Problems {
		got[p.Path] = p.Message
	}
	for path, msg := range map[string]string{
		"traffic.steps[2]":           "25 after 50: steps must increase",
		"traffic.steps":              `a data volume serves one instance: with data.mode "move", traffic.steps must be [100]`,
		"live.elasticIpAllocationId": `is set but traffic.mode is "alb"`,
	} {
		if got[path] != msg {
			t.Errorf("--json: %s is %q, want %q", path, got[path], msg)
		}
	}
}
