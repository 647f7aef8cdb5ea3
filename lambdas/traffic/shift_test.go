package traffic

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/greenlight/greenlight/harness/sim"
	"github.com/greenlight/greenlight/internal/ledger"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/internal/steptest"
)

// albRelease is a release behind the fixture's load balancer whose
// candidate runs the new version, approved and about to be registered.
type albRelease struct {
	e *steptest.Env
	d release.Doc
	h Handler
}

func newALBRelease(t *testing.T, edit func(*release.Config)) albRelease {
	t.Helper()
	return newALBReleaseIn(t, sim.Options{ALB: true, Alarms: []string{"shop-5xx"}}, edit)
}

// newALBReleaseIn is newALBRelease in a region made with opts; with
// opts.ALBRule the release manages the fixture's listener rule.
func newALBReleaseIn(t *testing.T, opts sim.Options, edit func(*release.Config)) albRelease {
	t.Helper()
	e := steptest.New(t, "shift-traffic", opts)
	f := e.Fixture
	cfg := e.BehindALB(e.Config())
	if opts.ALBRule {
		cfg.Traffic.ALB.RuleARN = f.RuleARN
	}
	if edit != nil {
		edit(&cfg)
	}
	body := []byte("release 2.0.0")
	d := e.Doc(t, "2.0.0", e.Upload(t, e.Key("2.0.0"), body, ""), body, steptest.Parsed(t, cfg))
	d.Live = release.Live{InstanceID: f.LiveInstance, PublicIP: f.LoadBalancerDNS}
	e.Record(t, d)
	cand := e.Launch(t, map[string]string{release.TagApp: d.App, release.TagRelease: d.ReleaseID})
	e.Region.Advance(e.Test, time.Minute)
	host := e.Region.Host(cand)
	host.Install("2.0.0", d.ReleaseID, 0)
	host.SetHealthCheck(f.AppPort, f.HealthPath)
	if err := host.StartApp(); err != nil {
		t.Fatal(err)
	}
	d.Candidate = &release.Candidate{Instances: []release.Member{{InstanceID: cand}}}
	return albRelease{e: e, d: d, h: Handler{D: e.Deps}}
}

// register runs the Register step until the candidate is healthy.
func (r *albRelease) register(t *testing.T) {
	t.Helper()
	for i := 0; i < 10; i++ {
		reg, err := r.h.Register(r.e.Ctx, r.d)
		if err != nil {
			t.Fatal(err)
		}
		r.d.Register = &reg
		if reg.Ready {
			return
		}
		r.e.Region.Advance(r.e.Ctx, time.Duration(reg.WaitSeconds)*time.Second)
	}
	t.Fatal("the candidate never became healthy")
}

// pass runs one Shift pass and keeps its result, as the state machine does.
func (r *albRelease) pass(t *testing.T) (release.Shift, error) {
	t.Helper()
	s, err := r.h.Shift(r.e.Ctx, r.d)
	if err == nil {
		r.d.Shift = &s
	}
	return s, err
}

func (r *albRelease) weights(t *testing.T) (blue, green int32) {
	t.Helper()
	out, err := r.e.Region.ELB().DescribeListeners(r.e.Ctx, &elb.DescribeListenersInput{ListenerArns: []string{r.e.Fixture.ListenerARN}})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range out.Listeners[0].DefaultActions[0].ForwardConfig.TargetGroups {
		switch aws.ToString(g.TargetGroupArn) {
		case r.e.Fixture.TargetGroupARNs[0]:
			blue = aws.ToInt32(g.Weight)
		case r.e.Fixture.TargetGroupARNs[1]:
			green = aws.ToInt32(g.Weight)
		}
	}
	return blue, green
}

func (r *albRelease) request(t *testing.T, field string, req ledger.Request) {
	t.Helper()
	if err := r.e.Deps.Ledger().Update(r.e.Ctx, r.d.App, r.d.ReleaseID, ledger.Change{Set: map[string]any{field: req}}); err != nil {
		t.Fatal(err)
	}
}

// TestShiftPromoteThenAbort: a promote skips the remaining steps to 100 %
// on the next pass, naming who asked; an abort fails the next pass with
// Aborted, naming who asked and why.
func TestShiftPromoteThenAbort(t *testing.T) {
	r := newALBRelease(t, nil)
	r.register(t)
	s, err := r.pass(t)
	if err != nil {
		t.Fatal(err)
	}
	if blue, green := r.weights(t); blue != 95 || green != 5 || s.Step != 0 {
		t.Fatalf("first pass: blue %d green %d step %d, want 95/5 at step 0", blue, green, s.Step)
	}
	r.request(t, "promoteRequested", ledger.Request{By: "alice", At: r.e.Region.Now()})
	s, err = r.pass(t)
	if err != nil {
		t.Fatal(err)
	}
	if blue, green := r.weights(t); blue != 0 || green != 100 || s.Step != len(s.Steps)-1 || s.PromotedBy != "alice" {
		t.Errorf("after promote: blue %d green %d step %d by %q, want all on green at the last step, by alice", blue, green, s.Step, s.PromotedBy)
	}
	for _, st := range s.Steps[:len(s.Steps)-1] {
		if st.Outcome != "promoted" {
			t.Errorf("step %d %%: outcome %q, want promoted", st.Weight, st.Outcome)
		}
	}
	r.request(t, "abortRequested", ledger.Request{By: "bob", At: r.e.Region.Now(), Reason: "checkout errors"})
	_, err = r.pass(t)
	var aborted release.Aborted
	if !errorsAs(err, &aborted) || !strings.Contains(err.Error(), "bob") || !strings.Contains(err.Error(), "checkout errors") {
		t.Errorf("after abort: %v, want Aborted by bob with the reason", err)
	}
}

// TestShiftComparesErrorRates: a candidate answering with 5xx more often
// than the live side, by more than traffic.maxErrorRateIncrease, fails the
// step once CloudWatch has the minute; too few requests are not compared.
func TestShiftComparesErrorRates(t *testing.T) {
	for _, tc := range []struct {
		name      string
		candidate int // requests, a third of them 5xx
		fails     bool
	}{{"few requests", MinRequestsToCompare - 2, false}, {"enough requests", 3 * MinRequestsToCompare, true}} {
		t.Run(tc.name, func(t *testing.T) {
			r := newALBRelease(t, nil)
			r.register(t)
			if _, err := r.pass(t); err != nil {
				t.Fatal(err)
			}
			blue, green := r.e.Fixture.TargetGroupARNs[0], r.e.Fixture.TargetGroupARNs[1]
			for i := 0; i < tc.candidate; i++ {
				status := 200
				if i%3 == 0 {
					status = 502
				}
				if err := r.e.Region.RecordALBRequest(green, status); err != nil {
					t.Fatal(err)
				}
			}
			for i := 0; i < 200; i++ {
				if err := r.e.Region.RecordALBRequest(blue, 200); err != nil {
					t.Fatal(err)
				}
			}
			// The minute is published a minute after it ends.
			r.e.Region.Advance(r.e.Ctx, 2*time.Minute+time.Second)
			_, err := r.pass(t)
			var failed release.ShiftFailed
			if got := errorsAs(err, &failed); got != tc.fails || (tc.fails && !strings.Contains(err.Error(), "maxErrorRateIncrease")) {
				t.Errorf("%d candidate requests: %v, want failed %v naming traffic.maxErrorRateIncrease", tc.candidate, err, tc.fails)
			}
		})
	}
}

// TestShiftRestoresWeightsChangedOutside: the weights AWS shows are the
// truth; a pass that finds them changed sets the step's again.
func TestShiftRestoresWeightsChangedOutside(t *testing.T) {
	r := newALBRelease(t, nil)
	r.register(t)
	if _, err := r.pass(t); err != nil {
		t.Fatal(err)
	}
	f := r.e.Fixture
	_, err := r.e.Region.ELB().ModifyListener(r.e.Ctx, &elb.ModifyListenerInput{ListenerArn: aws.String(f.ListenerARN),
		DefaultActions: []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, ForwardConfig: &elbtypes.ForwardActionConfig{
			TargetGroups: []elbtypes.TargetGroupTuple{{TargetGroupArn: aws.String(f.TargetGroupARNs[0]), Weight: aws.Int32(100)},
				{TargetGroupArn: aws.String(f.TargetGroupARNs[1]), Weight: aws.Int32(0)}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	r.e.Region.Advance(r.e.Ctx, 10*time.Second)
	if _, err := r.pass(t); err != nil {
		t.Fatal(err)
	}
	if blue, green := r.weights(t); blue != 95 || green != 5 {
		t.Errorf("blue %d green %d, want the step's 95/5 set again", blue, green)
	}
}

// TestRegisterRefusesAnUnhealthyTarget: a candidate the load balancer finds
// unhealthy (its app not answering the group's health check) fails the
// release with TargetUnhealthy, naming what to check.
func TestRegisterRefusesAnUnhealthyTarget(t *testing.T) {
	r := newALBRelease(t, nil)
	r.e.Region.Host(r.d.Candidate.First().InstanceID).StopApp()
	var err error
	for i := 0; i < 10 && err == nil; i++ {
		var reg release.Register
		reg, err = r.h.Register(r.e.Ctx, r.d)
		r.d.Register = &reg
		r.e.Region.Advance(r.e.Ctx, time.Duration(max(reg.WaitSeconds, 1))*time.Second)
	}
	var unhealthy release.TargetUnhealthy
	if !errorsAs(err, &unhealthy) || !strings.Contains(err.Error(), "security group") {
		t.Errorf("%v, want TargetUnhealthy naming the health check and security group", err)
	}
}

func errorsAs[T error](err error, target *T) bool { return errors.As(err, target) }

// TestShiftProbesThroughTheManagedRule: behind a listener rule that
// matches the app's host name, the smoke tests through the load balancer
// send that Host header, so they reach the rule's target groups and not
// the listener's default action (which still sends everything to the old
// version here): a candidate failing its users fails the step.
func TestShiftProbesThroughTheManagedRule(t *testing.T) {
	r := newALBReleaseIn(t, sim.Options{ALB: true, ALBRule: true}, func(c *release.Config) { c.Traffic.Steps = []int{100} })
	r.register(t)
	r.e.Region.Host(r.d.Candidate.First().InstanceID).SetFailing(true)
	if _, err := r.pass(t); err != nil {
		t.Fatal(err)
	}
	r.e.Region.Advance(r.e.Ctx, 2*time.Minute)
	_, err := r.pass(t)
	var failed release.ShiftFailed
	if !errorsAs(err, &failed) || !strings.Contains(err.Error(), "Host: "+r.e.Fixture.RuleHost) || !strings.Contains(err.Error(), "status 500") {
		t.Errorf("%v, want ShiftFailed from the smoke tests sent with the rule's host name", err)
	}
}
