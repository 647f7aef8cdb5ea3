package rollback

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"

	"github.com/greenlight/greenlight/harness/sim"
	"github.com/greenlight/greenlight/internal/ledger"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/internal/retirement"
	"github.com/greenlight/greenlight/internal/traffic"
	"github.com/greenlight/greenlight/lambdas/internal/steptest"
)

const keptRelease = "shop-1-0-0-9876543210"

// fleetScene is a fleet release behind the ALB that failed while shifting
// traffic: the fixture's three instances live in blue (KeepPrevious dated
// them and scheduled their retirement), three candidates of the release
// registered in green with 10 % of the traffic, and the three instances
// kept from the release before still running but registered nowhere (the
// candidates took their place in green). The document names two of the
// candidates: the third is found by its tag.
func fleetScene(t *testing.T) (s *scene, cands, kept []string) {
	t.Helper()
	e, d := steptest.FleetRelease(t, "rollback")
	f := e.Fixture
	d.Failure = &release.Failure{Error: "AWSError", Cause: `{"errorMessage":"` + release.StateShiftTraffic + ` failed after acting"}`}
	s = &scene{e: e, h: Handler{D: e.Deps}, d: d}

	for _, subnet := range f.Subnets {
		kept = append(kept, e.LaunchIn(t, subnet, map[string]string{release.TagApp: f.App, release.TagManaged: release.ManagedValue,
			release.TagRole: release.RolePrevious, release.TagRelease: keptRelease, release.TagVersion: "1.0.0"}))
		cands = append(cands, e.LaunchIn(t, subnet, map[string]string{release.TagApp: f.App, release.TagManaged: release.ManagedValue,
			release.TagRole: release.RoleCandidate, release.TagRelease: d.ReleaseID}))
	}
	e.Region.Advance(e.Test, time.Minute)
	serving := ledger.Serving{App: f.App, LiveRelease: "shop-1-5-0-1111111111", LiveVersion: f.Version, PreviousRelease: keptRelease, PreviousVersion: "1.0.0",
		RetireAfter: e.Region.Now().Add(24 * time.Hour)}
	serving.SetLive(f.LiveInstances)
	serving.SetPrevious(kept)
	if err := e.Ledger.SetServing(e.Test, serving); err != nil {
		t.Fatal(err)
	}
	due := e.Region.Now().Add(7 * 24 * time.Hour)
	if err := retirement.Keep(e.Test, e.Deps, f.App, "", f.LiveInstances, due); err != nil {
		t.Fatal(err)
	}
	if _, err := retirement.Schedule(e.Test, e.Deps, retirement.NewRequest(f.App, d.ReleaseID, f.LiveInstances), due); err != nil {
		t.Fatal(err)
	}
	router := e.Deps.Router(d.Config)
	if _, err := router.Register(e.Test, traffic.Side{Instances: cands}); err != nil {
		t.Fatal(err)
	}
	if _, err := router.Shift(e.Test, traffic.Side{Instances: cands}, 10); err != nil {
		t.Fatal(err)
	}
	s.d.Candidate = &release.Candidate{Instances: []release.Member{{InstanceID: cands[0], LaunchedAt: e.Region.Now()}, {Slot: 1, InstanceID: cands[1], LaunchedAt: e.Region.Now()}}}
	return s, cands, kept
}

// TestRollbackOfAFleet: every candidate of the release, the one the
// document does not name included, leaves green drained and is
// terminated; all traffic goes back to the live fleet, whose keep is
// undone on every instance; the displaced kept fleet goes back into
// green as a whole. A pass retried after it had terminated one candidate
// (the second termination throttled: Step Functions retries the pass with
// its input, the first termination unrecorded) reconciles from AWS.
func TestRollbackOfAFleet(t *testing.T) {
	s, cands, kept := fleetScene(t)
	e, f := s.e, s.e.Fixture
	e.Region.Inject(sim.Fault{Service: sim.ServiceEC2, Operation: "TerminateInstances", Caller: "rollback", Code: sim.ThrottleCode(sim.ServiceEC2), Nth: 2})
	rb := s.rollBack(t)
	s.restored(t, rb)
	for _, id := range cands {
		if st := e.State(t, id); st != "terminated" {
			t.Errorf("candidate %s is %s, want terminated", id, st)
		}
	}
	var lastDereg, firstTerm time.Time
	terms := 0
	for _, c := range e.Region.Calls() {
		if c.Caller != "rollback" || c.Code != "" {
			continue
		}
		switch c.Operation {
		case "DeregisterTargets":
			lastDereg = c.At
		case "TerminateInstances":
			terms++
			if firstTerm.IsZero() {
				firstTerm = c.At
			}
		}
	}
	if terms != 3 || lastDereg.IsZero() || firstTerm.Before(lastDereg) {
		t.Errorf("%d terminations, the first at %s, the last deregistration at %s: want three, each after the candidates drained", terms, firstTerm, lastDereg)
	}
	router := e.Deps.Router(s.d.Config)
	sp, err := router.Split(e.Test)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range f.LiveInstances {
		if w := sp.Weight(id); w != 100 {
			t.Errorf("live %s gets %d %%, want 100", id, w)
		}
		tags := steptest.Tags(e.Instance(t, id).Tags)
		if tags[release.TagRetireAfter] != "" || tags[release.TagRole] != release.RoleLive {
			t.Errorf("live %s still kept: %v", id, tags)
		}
	}
	_, err = e.Region.Scheduler().GetSchedule(e.Test, &scheduler.GetScheduleInput{Name: aws.String(retirement.ScheduleName(f.App, f.LiveInstance)), GroupName: aws.String(f.ScheduleGroup)})
	if err == nil {
		t.Error("the live fleet's retirement schedule is still there")
	}
	health, err := router.Health(e.Test, traffic.Side{Instances: kept})
	if err != nil {
		t.Fatal(err)
	}
	if health.Group != f.TargetGroupARNs[1] || len(health.Healthy)+len(health.Unhealthy) != 3 {
		t.Fatalf("kept fleet: %+v, want it registered in green", health)
	}
	for id, why := range health.Unhealthy {
		if why == "not registered" {
			t.Errorf("kept %s is not registered again", id)
		}
	}
	sorted := slices.Sorted(slices.Values(kept))
	if want := strings.Join(sorted, ", ") + ", kept from the release before, registered again at weight 0 for greenlight rollback"; !slices.Contains(rb.Did, want) {
		t.Errorf("did %v, want %q", rb.Did, want)
	}
	throttled := 0
	for _, c := range e.Region.CallsTo(sim.ServiceEC2, "TerminateInstances") {
		if c.Caller == "rollback" && c.Code != "" {
			throttled++
		}
	}
	if throttled != 1 {
		t.Errorf("%d throttled terminations, want the one injected", throttled)
	}
}

// TestRollbackFindsTheLiveGroupWithoutItsFirstInstance: the first instance
// of the live fleet left its group during the release (replaced by hand);
// the traffic still goes back to the group the rest of the fleet is in.
func TestRollbackFindsTheLiveGroupWithoutItsFirstInstance(t *testing.T) {
	s, _, _ := fleetScene(t)
	e, f := s.e, s.e.Fixture
	_, err := e.Region.ELB().DeregisterTargets(e.Test, &elb.DeregisterTargetsInput{TargetGroupArn: aws.String(f.TargetGroupARNs[0]),
		Targets: []elbtypes.TargetDescription{{Id: aws.String(f.LiveInstances[0])}}})
	if err != nil {
		t.Fatal(err)
	}
	if rb := s.rollBack(t); rb.Outcome != release.RolledBack {
		t.Fatalf("outcome %q (left %v, errors %v)", rb.Outcome, rb.Left, rb.Errors)
	}
	sp, err := e.Deps.Router(s.d.Config).Split(e.Test)
	if err != nil {
		t.Fatal(err)
	}
	if w := sp.Weight(f.LiveInstances[1]); w != 100 {
		t.Errorf("the live fleet gets %d %%, want 100 (split %+v)", w, sp)
	}
}
