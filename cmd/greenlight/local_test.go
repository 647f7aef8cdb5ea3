//go:build harness

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/greenlight/greenlight/harness/loadgen"
	"github.com/greenlight/greenlight/harness/localrun"
	"github.com/greenlight/greenlight/internal/release"
)

// --traffic alb starts the local engine behind the simulated load
// balancer (its config validates); --fault alarm is refused without it,
// and an unknown mode is a usage error. The app faults take no --fail-at
// and need the real app.
func TestLocalTrafficFlag(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		say  string
	}{
		{[]string{"local", "--traffic", "alb", "--list-states"}, exitOK, "DeployRelease"},
		{[]string{"local", "--traffic", "nlb"}, exitUsage, `--traffic "nlb" is not one of elasticIp, alb`},
		{[]string{"local", "--traffic", "elasticIp", "--fail-at", "DeployRelease", "--fault", "alarm"}, exitUsage, "run with --traffic alb"},
		{[]string{"local", "--fail-at", "DeployRelease", "--fault", "app-errors"}, exitUsage, "--fault app-errors needs no --fail-at"},
		{[]string{"local", "--model-app", "--fault", "app-crash"}, exitUsage, "--fault app-crash needs the real app: drop --model-app"},
		{[]string{"local", "--reads-per-second", "-1"}, exitUsage, "--reads-per-second and --writes-per-second must be 0 or more"},
		// The bake catches the new version's 500s: RolledBack is what was
		// expected, and the users who met them are counted.
		{[]string{"local", "--fault", "app-errors", "--json"}, exitOK, `"status 500":`},
	} {
		var out, errOut bytes.Buffer
		code := execute(context.Background(), c.args, strings.NewReader(""), &out, &errOut)
		if code != c.code || !strings.Contains(out.String()+errOut.String(), c.say) {
			t.Errorf("greenlight %s: exit %d\n%s%s\nwant exit %d saying %q", strings.Join(c.args, " "), code, out.String(), errOut.String(), c.code, c.say)
		}
	}
}

// The summary words the traffic steps: each step's outcome in order, the
// ones never reached too, and the final weights.
func TestTrafficStepsInTheSummary(t *testing.T) {
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	got := trafficSteps([]release.TrafficStep{
		{Weight: 5, StartedAt: at, Checks: 3, Outcome: "passed"},
		{Weight: 25, StartedAt: at, Checks: 1, Outcome: "ShiftFailed: alarm in ALARM: shop-5xx"},
		{Weight: 50},
		{Weight: 100},
	})
	want := "5 % passed (3 rounds) → 25 % ShiftFailed: alarm in ALARM: shop-5xx → 50 % not reached → 100 % not reached"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if got := trafficSteps([]release.TrafficStep{{Weight: 100, StartedAt: at}}); got != "100 % under way" {
		t.Errorf("a step under way: %q", got)
	}
}

// The users' line: outcomes, the longest outage, flips, cut connections
// and the versions each phase served, phases in release order.
func TestUsersLine(t *testing.T) {
	tr := &localrun.Traffic{CutAtRemap: 4}
	tr.Requests, tr.OK, tr.Maintenance, tr.Failed, tr.LongestFailureSeconds = 10, 7, 2, 1, 28.1
	tr.VersionsSeen = map[string]map[string]int{"verify": {"2.0.0": 3}, "deploy": {"1.0.0": 4}}
	want := "10 requests: 7 ok, 2 maintenance, 1 failed; longest outage 28.1s; 0 sticky flips; 4 connections cut by remaps; served deploy 1.0.0 4, verify 2.0.0 3"
	if got := usersLine(tr); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

// --users-log writes every user request as a JSON line, as many as the
// summary counts.
func TestLocalUsersLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.jsonl")
	var out, errOut bytes.Buffer
	if code := execute(context.Background(), []string{"local", "--json", "--users-log", path}, strings.NewReader(""), &out, &errOut); code != exitOK {
		t.Fatalf("exit %d\n%s", code, errOut.String())
	}
	var res localrun.Result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || res.Traffic == nil {
		t.Fatalf("summary %v: %s", err, out.String())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != res.Traffic.Requests {
		t.Fatalf("%d lines, the summary counts %d requests", len(lines), res.Traffic.Requests)
	}
	var r loadgen.Request
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil || r.Outcome != "ok" || r.Version == "" || r.At.IsZero() || r.Phase == "" {
		t.Errorf("last line %s: %+v %v", lines[len(lines)-1], r, err)
	}
}
