//go:build harness

package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// --traffic alb starts the local engine behind the simulated load
// balancer (its config validates); --fault alarm is refused without it,
// and an unknown mode is a usage error.
func TestLocalTrafficFlag(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		say  string
	}{
		{[]string{"local", "--traffic", "alb", "--list-states"}, exitOK, "DeployRelease"},
		{[]string{"local", "--traffic", "nlb"}, exitUsage, `--traffic "nlb" is not one of elasticIp, alb`},
		{[]string{"local", "--traffic", "elasticIp", "--fail-at", "DeployRelease", "--fault", "alarm"}, exitUsage, "run with --traffic alb"},
	} {
		var out, errOut bytes.Buffer
		code := execute(context.Background(), c.args, strings.NewReader(""), &out, &errOut)
		if code != c.code || !strings.Contains(out.String()+errOut.String(), c.say) {
			t.Errorf("greenlight %s: exit %d\n%s%s\nwant exit %d saying %q", strings.Join(c.args, " "), code, out.String(), errOut.String(), c.code, c.say)
		}
	}
}
