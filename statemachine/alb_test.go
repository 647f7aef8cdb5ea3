package statemachine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/greenlight/greenlight/harness/localrun"
	"github.com/greenlight/greenlight/internal/release"
)

// withALB releases behind the simulated region's load balancer (the local
// engine points the listener and target groups at it) in steps.
func withALB(steps ...int) func(*release.Config) {
	return func(c *release.Config) {
		c.Traffic.Mode = release.TrafficALB
		c.Live.ElasticIPAllocationID = ""
		c.Traffic.Steps = steps
		// Placeholders: the environment replaces them with its own.
		c.Traffic.ALB = &release.ALBConfig{
			ListenerARN: "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/shop/0000000000000000/0000000000000000",
			TargetGroupARNs: []string{
				"arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/shop-blue/0000000000000000",
				"arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/shop-green/0000000000000000",
			},
		}
	}
}

// albPath is a release's path behind an ALB: the candidate registered and
// healthy after the approval, then the steps.
var albPath = path(upToApproval, release.StateKeepPrevious, targetWait, shifting, release.StateRecordRelease, release.Released)

// weights reads the listener's forward action: each target group's weight.
func weights(env *localrun.Env) map[string]int { return env.ListenerWeights() }

// registered lists the instances in a target group (draining ones too).
func registered(t *testing.T, env *localrun.Env, group string) map[string]elbtypes.TargetHealthStateEnum {
	t.Helper()
	out, err := env.Region.ELB().DescribeTargetHealth(context.Background(), &elb.DescribeTargetHealthInput{TargetGroupArn: aws.String(group)})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]elbtypes.TargetHealthStateEnum{}
	for _, d := range out.TargetHealthDescriptions {
		ids[aws.ToString(d.Target.Id)] = d.TargetHealth.State
	}
	return ids
}

// TestALBRelease: behind the load balancer a release registers the
// candidate in the idle target group, passes through every step in order,
// and ends with all traffic on it and the previous instance still
// registered at weight 0, kept for an instant rollback.
func TestALBRelease(t *testing.T) {
	env := localrun.NewTestEnv(t, localrun.Options{}, withALB(5, 25, 50, 100))
	res, err := env.Release(ctxT(t), "1.1.0", nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != release.Released {
		t.Fatalf("status %s: %s %s", res.Status, res.Error, res.Cause)
	}
	assertPath(t, res, albPath)
	f := env.Fixture
	blue, green := f.TargetGroupARNs[0], f.TargetGroupARNs[1]
	if w := weights(env); w[green] != 100 || w[blue] != 0 {
		t.Errorf("weights %v, want green 100, blue 0", w)
	}
	cand := res.LiveInstanceID
	if cand == f.LiveInstance || res.LiveVersion != "1.1.0" {
		t.Errorf("live is %s serving %s, want the candidate serving 1.1.0", cand, res.LiveVersion)
	}
	if g := registered(t, env, green); g[cand] != elbtypes.TargetHealthStateEnumHealthy || len(g) != 1 {
		t.Errorf("green holds %v, want the candidate, healthy", g)
	}
	if b := registered(t, env, blue); b[f.LiveInstance] == "" {
		t.Errorf("blue holds %v, want the previous instance kept registered", b)
	}
	if res.Weights == nil || res.Weights.Live != 0 || res.Weights.Candidate != 100 {
		t.Errorf("weights %+v, want live 0, candidate 100", res.Weights)
	}
	var seen []int
	for _, st := range res.TrafficSteps {
		seen = append(seen, st.Weight)
		if st.Outcome != "passed" || st.StartedAt.IsZero() || st.Checks == 0 {
			t.Errorf("step %+v, want passed with checks", st)
		}
	}
	if len(seen) != 4 || seen[0] != 5 || seen[3] != 100 {
		t.Errorf("steps %v, want 5, 25, 50, 100", seen)
	}
	if len(res.LeakedResources) > 0 {
		t.Errorf("leaked: %+v", res.LeakedResources)
	}
	assertUnlocked(t, env)
}

// TestALBAlarmAtEachStepRollsBack raises the watched alarm while the
// release holds each step in turn: it ends RolledBack with all traffic
// back on the live side, stickiness off, and the candidate deregistered
// (drained) and terminated.
func TestALBAlarmAtEachStepRollsBack(t *testing.T) {
	steps := []int{5, 25, 50, 100}
	for _, at := range steps {
		t.Run(fmt.Sprintf("at %d %%", at), func(t *testing.T) {
			env := localrun.NewTestEnv(t, localrun.Options{}, func(c *release.Config) {
				withALB(steps...)(c)
				c.Traffic.Alarms = []string{"shop-5xx"}
			})
			green := env.Fixture.TargetGroupARNs[1]
			raised := false
			env.AfterAdvance(func(from, to time.Time) {
				if !raised && weights(env)[green] == at {
					raised = true
					if err := env.Region.SetAlarm("shop-5xx", cwtypes.StateValueAlarm, "Threshold Crossed: 1 datapoint [12.0] was greater than the threshold (5.0)."); err != nil {
						t.Error(err)
					}
				}
			})
			res, err := env.Release(ctxT(t), "1.1.0", nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != release.RolledBack || !strings.Contains(res.Cause, "shop-5xx") {
				t.Fatalf("status %s: %s, want RolledBack naming the alarm", res.Status, res.Cause)
			}
			assertPath(t, res, path(upToApproval, release.StateKeepPrevious, targetWait, leftAt(shifting, release.StateShiftTraffic), rolledBack))
			if w := weights(env); w[green] != 0 || w[env.Fixture.TargetGroupARNs[0]] != 100 {
				t.Errorf("weights %v, want all on blue", w)
			}
			if res.Weights == nil || res.Weights.Live != 100 || res.Weights.Candidate != 0 {
				t.Errorf("weights %+v, want live 100", res.Weights)
			}
			if g := registered(t, env, green); len(g) != 0 {
				t.Errorf("green still holds %v", g)
			}
			var failed *release.TrafficStep
			for i := range res.TrafficSteps {
				if st := &res.TrafficSteps[i]; st.Outcome != "" && st.Outcome != "passed" {
					failed = st
				}
			}
			if failed == nil || failed.Weight != at || !strings.Contains(failed.Outcome, "shop-5xx") {
				t.Errorf("traffic steps %+v, want the %d %% step failed on the alarm", res.TrafficSteps, at)
			}
			assertClean(t, env, res)
		})
	}
}

// TestALBDataMove releases with the data moved under a maintenance page
// behind the load balancer: one step to 100 %, no write lost, and a
// measured maintenance window.
func TestALBDataMove(t *testing.T) {
	env := localrun.NewTestEnv(t, realUsers, func(c *release.Config) {
		withData(release.DataMove)(c)
		withALB()(c)
	})
	res, err := env.Release(ctxT(t), "1.1.0", nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != release.Released {
		t.Fatalf("status %s: %s %s", res.Status, res.Error, res.Cause)
	}
	if len(res.TrafficSteps) != 1 || res.TrafficSteps[0].Weight != 100 {
		t.Errorf("traffic steps %+v, want one step to 100", res.TrafficSteps)
	}
	if res.ModelSeconds.MaintenanceWindow <= 0 || len(res.Window) == 0 {
		t.Errorf("maintenance window %v s (%+v), want measured", res.ModelSeconds.MaintenanceWindow, res.Window)
	}
	assertNoWriteLost(t, res)
	if tr := res.Traffic; tr.Failed != 0 || tr.StickyFlips != 0 || tr.Maintenance == 0 {
		t.Errorf("users %+v: want the maintenance page in the window, and no failure or sticky flip", tr)
	}
	t.Logf("window %.1f s: %+v", res.ModelSeconds.MaintenanceWindow, res.Window)
}

// TestALBRollbackAndRetirement: behind the load balancer `greenlight
// rollback` flips the weights back to the kept instance in one step; the
// instance that served is kept in turn, registered at weight 0, and once
// its retention has passed it is deregistered, drained and terminated.
func TestALBRollbackAndRetirement(t *testing.T) {
	env := localrun.NewTestEnv(t, localrun.Options{}, withALB(5, 25, 50, 100))
	ctx := ctxT(t)
	rel, err := env.Release(ctx, "1.1.0", nil)
	if err != nil || rel.Status != release.Released {
		t.Fatalf("release: %v %v", rel, err)
	}
	newLive := rel.LiveInstanceID
	f := env.Fixture
	blue, green := f.TargetGroupARNs[0], f.TargetGroupARNs[1]
	res, err := env.Rollback(ctx, localrun.RollbackRequest{RequestedBy: "test", Reason: "checkout broken"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != release.Released {
		t.Fatalf("rollback: %s %s", res.Status, res.Cause)
	}
	assertPath(t, res, path(release.StatePrepareSwitchBack, release.StateKeepPrevious, targetWait, shifting, release.StateRecordRelease, release.Released))
	if w := weights(env); w[blue] != 100 || w[green] != 0 {
		t.Errorf("weights after the rollback %v, want all on blue", w)
	}
	if len(res.TrafficSteps) != 1 || res.TrafficSteps[0].Weight != 100 {
		t.Errorf("traffic steps %+v, want one step to 100", res.TrafficSteps)
	}
	if res.LiveInstanceID != f.LiveInstance || res.LiveVersion != f.Version {
		t.Errorf("live %s serving %s after the rollback", res.LiveInstanceID, res.LiveVersion)
	}
	if g := registered(t, env, green); g[newLive] == "" {
		t.Errorf("green holds %v, want %s kept there", g, newLive)
	}

	// The retention passes: the kept instance leaves its group, then ends.
	env.LetTimePass(8 * 24 * time.Hour)
	if state := instanceState(env, newLive); state != "shutting-down" && state != "terminated" {
		t.Errorf("the kept instance is %s after its retention", state)
	}
	if g := registered(t, env, green); len(g) != 0 {
		t.Errorf("green still holds %v after the retirement", g)
	}
	if b := registered(t, env, blue); b[f.LiveInstance] != elbtypes.TargetHealthStateEnumHealthy {
		t.Errorf("blue holds %v, want the live instance healthy", b)
	}
}

// TestALBErrorRateRollsBack: a candidate that answers users with 500s while
// its health check passes (so the load balancer keeps it healthy) is
// caught by the comparison of the target groups' 5xx rates, from the
// requests of the users that reach it, and the release rolls back. The
// smoke tests are off, so only the comparison can catch it.
func TestALBErrorRateRollsBack(t *testing.T) {
	var env *localrun.Env
	env = localrun.NewTestEnv(t, localrun.Options{
		AfterInvoke: func(inv localrun.Invocation, _ []byte, _ error) {
			if inv.State != release.StateRegisterCandidate {
				return
			}
			var d release.Doc
			if err := json.Unmarshal(inv.Payload, &d); err == nil && d.Candidate != nil {
				env.Region.Host(d.Candidate.First().InstanceID).SetFailing(true)
			}
		},
	}, func(c *release.Config) {
		withALB(5, 25, 50, 100)(c)
		c.SmokeTests = nil
	})
	res, err := env.Release(ctxT(t), "1.1.0", nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != release.RolledBack || !strings.Contains(res.Cause, "traffic.maxErrorRateIncrease") {
		t.Fatalf("status %s: %s, want RolledBack by the error-rate comparison", res.Status, res.Cause)
	}
	if res.Weights == nil || res.Weights.Live != 100 {
		t.Errorf("weights %+v, want all back on the live side", res.Weights)
	}
	assertClean(t, env, res)
	t.Logf("caught at: %s", res.Cause)
}

// TestALBRollbackRefusesAnUnhealthyKeptSide: `greenlight rollback` behind
// the load balancer needs the kept instance registered and healthy in its
// target group; otherwise it is refused before anything changes.
func TestALBRollbackRefusesAnUnhealthyKeptSide(t *testing.T) {
	env := localrun.NewTestEnv(t, localrun.Options{}, withALB(100))
	ctx := ctxT(t)
	rel, err := env.Release(ctx, "1.1.0", nil)
	if err != nil || rel.Status != release.Released {
		t.Fatalf("release: %v %v", rel, err)
	}
	f := env.Fixture
	// The kept instance's app stops: the load balancer finds it unhealthy
	// after two failed checks.
	env.Region.Host(f.LiveInstance).StopApp()
	env.LetTimePass(2 * time.Minute)
	res, err := env.Rollback(ctx, localrun.RollbackRequest{RequestedBy: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != release.Rejected || !strings.Contains(res.Cause, "NothingToRollBack") || !strings.Contains(res.Cause, "not healthy behind the load balancer") {
		t.Fatalf("rollback: %s %s, want Rejected, the kept instance not healthy", res.Status, res.Cause)
	}
	if w := weights(env); w[f.TargetGroupARNs[1]] != 100 {
		t.Errorf("weights %v after a refused rollback, want all still on green", w)
	}
}
