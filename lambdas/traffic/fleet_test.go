package traffic

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"github.com/greenlight/greenlight/harness/sim"
	"github.com/greenlight/greenlight/internal/ledger"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/internal/steptest"
)

// newFleetRelease is newALBRelease with a side of three: a live fleet of
// three in three zones, and three candidates, one per zone, running the
// new version.
func newFleetRelease(t *testing.T) albRelease {
	t.Helper()
	e := steptest.New(t, "shift-traffic", sim.Options{ALB: true, Zones: 3, LiveFleet: 3})
	f := e.Fixture
	cfg := e.BehindALB(e.Config())
	cfg.Fleet = release.FleetConfig{Size: 3, SubnetIDs: f.Subnets}
	body := []byte("release 2.0.0")
	d := e.Doc(t, "2.0.0", e.Upload(t, e.Key("2.0.0"), body, ""), body, steptest.Parsed(t, cfg))
	d.Live = release.Live{InstanceID: f.LiveInstance, InstanceIDs: f.LiveInstances, PublicIP: f.LoadBalancerDNS}
	e.Record(t, d)
	d.Candidate = &release.Candidate{}
	for slot, subnet := range f.Subnets {
		id := e.LaunchIn(t, subnet, map[string]string{release.TagApp: d.App, release.TagManaged: release.ManagedValue,
			release.TagRole: release.RoleCandidate, release.TagRelease: d.ReleaseID})
		d.Candidate.Instances = append(d.Candidate.Instances, release.Member{Slot: slot, InstanceID: id, SubnetID: subnet, AZ: f.AZs[slot]})
	}
	e.Region.Advance(e.Test, time.Minute)
	for _, id := range d.Candidate.IDs() {
		host := e.Region.Host(id)
		host.Install("2.0.0", d.ReleaseID, 0)
		host.SetHealthCheck(f.AppPort, f.HealthPath)
		if err := host.StartApp(); err != nil {
			t.Fatal(err)
		}
	}
	return albRelease{e: e, d: d, h: Handler{D: e.Deps}}
}

// groupTargets are the instances registered in a target group.
func (r *albRelease) groupTargets(t *testing.T, group string) []string {
	t.Helper()
	out, err := r.e.Region.ELB().DescribeTargetHealth(r.e.Test, &elb.DescribeTargetHealthInput{TargetGroupArn: aws.String(group)})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, d := range out.TargetHealthDescriptions {
		ids = append(ids, aws.ToString(d.Target.Id))
	}
	slices.Sort(ids)
	return ids
}

func (r *albRelease) events(t *testing.T, state string) []ledger.Event {
	t.Helper()
	var out []ledger.Event
	for _, ev := range r.e.Get(t, r.d.ReleaseID).Timeline {
		if ev.Step == state {
			out = append(out, ev)
		}
	}
	return out
}

// TestRegisterFleetWaitsForAll: all three candidates are registered in the
// idle group; the side is not ready while one of them is still initial
// although the other two are healthy, and is once all three are. A pass
// repeated after it recorded the side healthy (its answer lost) records
// nothing more.
func TestRegisterFleetWaitsForAll(t *testing.T) {
	r := newFleetRelease(t)
	ids := r.d.Candidate.IDs()
	late := ids[2]
	r.e.Region.Host(late).StopApp()
	// The invocation's time runs out after the first health check: one
	// failed check leaves a target initial (the unhealthy threshold is 2).
	limit := r.e.Region.Now().Add(20 * time.Second)
	advance := r.e.Deps.Sleeper
	r.e.Deps.Sleeper = func(ctx context.Context, d time.Duration) error {
		if !r.e.Region.Now().Before(limit) {
			return context.DeadlineExceeded
		}
		return advance(ctx, d)
	}
	reg, err := r.h.Register(r.e.Ctx, r.d)
	if err != nil {
		t.Fatal(err)
	}
	r.d.Register = &reg
	green := r.e.Fixture.TargetGroupARNs[1]
	if reg.Ready || reg.Group != green || len(reg.Healthy) != 2 || !strings.HasPrefix(reg.Unhealthy[late], "initial") || slices.Contains(reg.Healthy, late) {
		t.Fatalf("with %s still initial: %+v, want not ready with the other two healthy", late, reg)
	}
	want := slices.Clone(ids)
	slices.Sort(want)
	if got := r.groupTargets(t, green); !slices.Equal(got, want) {
		t.Errorf("green holds %v, want the three candidates %v", got, want)
	}
	if n := len(r.events(t, release.StateRegisterCandidate)); n != 0 {
		t.Errorf("%d RegisterCandidate events before the side is healthy", n)
	}

	r.e.Deps.Sleeper = advance
	if err := r.e.Region.Host(late).StartApp(); err != nil {
		t.Fatal(err)
	}
	before := r.d
	r.register(t)
	if len(r.d.Register.Healthy) != 3 || len(r.d.Register.Unhealthy) != 0 {
		t.Fatalf("ready: %+v", r.d.Register)
	}
	again, err := r.h.Register(r.e.Ctx, before)
	if err != nil || !again.Ready {
		t.Fatalf("repeated pass: %+v %v", again, err)
	}
	evs := r.events(t, release.StateRegisterCandidate)
	if len(evs) != 1 || !strings.HasPrefix(evs[0].Detail, "3 candidates (") || !strings.Contains(evs[0].Detail, "all healthy") {
		t.Errorf("RegisterCandidate events %+v, want one naming the 3 candidates", evs)
	}
}

// TestRegisterFleetNamesTheUnhealthy: a candidate the load balancer finds
// unhealthy fails the side with TargetUnhealthy naming it, and not the
// healthy ones.
func TestRegisterFleetNamesTheUnhealthy(t *testing.T) {
	r := newFleetRelease(t)
	ids := r.d.Candidate.IDs()
	r.e.Region.Host(ids[1]).StopApp()
	var err error
	for i := 0; i < 10 && err == nil; i++ {
		var reg release.Register
		reg, err = r.h.Register(r.e.Ctx, r.d)
		r.d.Register = &reg
		r.e.Region.Advance(r.e.Ctx, time.Duration(max(reg.WaitSeconds, 1))*time.Second)
	}
	var unhealthy release.TargetUnhealthy
	if !errorsAs(err, &unhealthy) || !strings.Contains(err.Error(), "finds "+ids[1]+" (unhealthy") {
		t.Fatalf("%v, want TargetUnhealthy naming %s", err, ids[1])
	}
	for _, ok := range []string{ids[0], ids[2]} {
		if strings.Contains(err.Error(), ok) {
			t.Errorf("the error names %s, which is healthy: %v", ok, err)
		}
	}
}

// TestShiftFleet: the weights move to the group holding the whole side,
// and the step's events speak of the side.
func TestShiftFleet(t *testing.T) {
	r := newFleetRelease(t)
	r.register(t)
	s, err := r.pass(t)
	if err != nil {
		t.Fatal(err)
	}
	if blue, green := r.weights(t); blue != 95 || green != 5 || s.Step != 0 {
		t.Fatalf("first pass: blue %d green %d step %d, want 95/5 at step 0", blue, green, s.Step)
	}
	rec := r.e.Get(t, r.d.ReleaseID)
	if rec.SwitchingTo != strings.Join(r.d.Candidate.IDs(), ",") {
		t.Errorf("switchingTo %q, want the whole side", rec.SwitchingTo)
	}
	evs := r.events(t, release.StateShiftTraffic)
	if len(evs) != 1 || !strings.Contains(evs[0].Detail, "5 % of the traffic to the 3 candidates through") {
		t.Errorf("ShiftTraffic events %+v", evs)
	}
	// The first round of checks, through the load balancer, passes.
	r.e.Region.Advance(r.e.Ctx, 2*time.Minute)
	s, err = r.pass(t)
	if err != nil {
		t.Fatal(err)
	}
	if st := s.Steps[0]; st.Checks != 1 || st.Last == nil || !st.Last.Passed {
		t.Errorf("step %+v, want one green round", st)
	}
}

// TestSwitchRefusesAFleet: an Elastic IP serves one instance; a switch
// given a side of three changes nothing.
func TestSwitchRefusesAFleet(t *testing.T) {
	r := newFleetRelease(t)
	_, err := r.h.Switch(r.e.Ctx, r.d)
	var failed release.StepFailed
	if !errorsAs(err, &failed) || !strings.Contains(err.Error(), "the candidate side has 3") {
		t.Fatalf("%v, want StepFailed", err)
	}
	if got := r.e.Get(t, r.d.ReleaseID).SwitchingTo; got != "" {
		t.Errorf("switchingTo %q after a refused switch", got)
	}
}
