//go:build harness

package main

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"github.com/greenlight/greenlight/internal/ledger"
	"github.com/greenlight/greenlight/internal/release"
)

// holdAt pauses the simulated clock the first time the target group
// reaches weight percent, until the returned resume is called: the test
// acts while the release holds that traffic step. reached is closed when
// it gets there.
func holdAt(t *testing.T, env *localEnv, group string, weight int) (reached <-chan struct{}, resume func()) {
	t.Helper()
	at, proceed := make(chan struct{}), make(chan struct{})
	var once, resumed sync.Once
	env.AfterAdvance(func(from, to time.Time) {
		if env.ListenerWeights()[group] == weight {
			once.Do(func() {
				close(at)
				<-proceed
			})
		}
	})
	resume = func() { resumed.Do(func() { close(proceed) }) }
	t.Cleanup(resume)
	return at, resume
}

func withALB(c *release.Config) {
	c.ApprovalTimeout = release.Duration(30 * time.Minute)
	c.Live.ElasticIPAllocationID = ""
	c.Traffic = release.TrafficConfig{Mode: release.TrafficALB, Steps: []int{5, 25, 50, 100},
		ALB: &release.ALBConfig{
			ListenerARN: "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/shop/0000000000000000/0000000000000000",
			TargetGroupARNs: []string{
				"arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/shop-blue/0000000000000000",
				"arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/shop-green/0000000000000000",
			}}}
}

// TestAbortAndPromoteOnTheLocalEngine: behind the load balancer, promote
// during the first traffic step goes straight to 100 % and the release
// ends Released; abort while the approval waits, and abort during a
// traffic step, each roll the release back with all traffic on the live
// side. Each request is in the ledger with who asked.
func TestAbortAndPromoteOnTheLocalEngine(t *testing.T) {
	env := startLocal(t, withALB)
	o := &operator{t: t, local: env}
	dir := t.TempDir()

	t.Run("promote during the first step", func(t *testing.T) {
		o.t = t
		reached, resume := holdAt(t, env, env.Fixture.TargetGroupARNs[1], 5)
		id := o.upload(dir, "2.0.0")
		o.awaitApproval(id)
		o.expect(exitPending, "promote", "--local")
		o.expect(0, "approve", "--local")
		<-reached
		r := o.expect(0, "status", "--local", id)
		contains(t, "status while shifting", r.stdout, "traffic    5 % on the candidate, 95 % on the live side (step 1 of 4)")
		r = o.expect(0, "promote", "--local", "--reason", "metrics look fine")
		contains(t, "promote", r.stdout, "promote of "+id, "as tester (local): metrics look fine", "sends all traffic to")
		r = o.expect(exitPending, "promote", "--local")
		contains(t, "promote again", r.stderr, "promote was asked already, by tester (local)")
		resume()
		v := o.awaitEnd(id)
		if v.Release.Status != ledger.StatusReleased || v.Release.Traffic == nil || v.Release.Traffic.Weights["candidate"] != 100 {
			t.Fatalf("ended %s with traffic %+v, want Released with all of it", v.Release.Status, v.Release.Traffic)
		}
		rec, _ := env.Deps.Ledger().Get(context.Background(), env.Config.App, id)
		if rec.PromoteRequested == nil || rec.PromoteRequested.By != "tester (local)" || rec.PromoteRequested.Reason != "metrics look fine" {
			t.Errorf("promote request %+v", rec.PromoteRequested)
		}
		for _, s := range v.Release.Timeline {
			if s.Step == release.StateShiftTraffic && (strings.Contains(s.Detail, "25 %") || strings.Contains(s.Detail, "50 %")) {
				t.Errorf("the release went through a step promote skipped: %s", s.Detail)
			}
		}
	})

	t.Run("abort while the approval waits", func(t *testing.T) {
		o.t = t
		id := o.upload(dir, "2.1.0")
		o.awaitApproval(id)
		r := o.expect(0, "abort", "--local", "--reason", "wrong build")
		contains(t, "abort", r.stdout, "abort of "+id, "as tester (local): wrong build", "rolls back")
		v := o.awaitEnd(id)
		if v.Release.Status != ledger.StatusRolledBack || !strings.Contains(v.Release.Failure, "Aborted") || !strings.Contains(v.Release.Failure, "wrong build") {
			t.Fatalf("ended %s (%s), want RolledBack, Aborted with the reason", v.Release.Status, v.Release.Failure)
		}
		o.expect(exitPending, "abort", "--local", id)
	})

	t.Run("abort during a traffic step", func(t *testing.T) {
		o.t = t
		// The 2.0.0 instance is live now, in green: the candidate goes to
		// blue.
		reached, resume := holdAt(t, env, env.Fixture.TargetGroupARNs[0], 25)
		id := o.upload(dir, "2.2.0")
		o.awaitApproval(id)
		o.expect(0, "approve", "--local")
		<-reached
		o.expect(0, "abort", "--local", "--reason", "errors in the logs")
		resume()
		v := o.awaitEnd(id)
		if v.Release.Status != ledger.StatusRolledBack || !strings.Contains(v.Release.Failure, "Aborted") {
			t.Fatalf("ended %s (%s), want RolledBack, Aborted", v.Release.Status, v.Release.Failure)
		}
		if w := env.ListenerWeights()[env.Fixture.TargetGroupARNs[1]]; w != 100 {
			t.Errorf("green (the live side) has %d %% after the abort", w)
		}
		// The 1.0.0 instance kept for rollback made way for the candidate
		// in blue; the rollback put it back.
		th, err := env.Region.ELB().DescribeTargetHealth(context.Background(), &elb.DescribeTargetHealthInput{TargetGroupArn: aws.String(env.Fixture.TargetGroupARNs[0])})
		if err != nil {
			t.Fatal(err)
		}
		back := false
		for _, d := range th.TargetHealthDescriptions {
			back = back || (aws.ToString(d.Target.Id) == env.Fixture.LiveInstance && d.TargetHealth.State != "draining")
		}
		if !back {
			t.Errorf("the kept instance %s is not back in blue after the abort: %+v", env.Fixture.LiveInstance, th.TargetHealthDescriptions)
		}
	})
}
