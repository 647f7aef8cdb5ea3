package finish

import (
	"errors"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"encoding/json"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"

	"github.com/greenlight/greenlight/harness/sim"
	"github.com/greenlight/greenlight/internal/ledger"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/internal/retirement"
	"github.com/greenlight/greenlight/lambdas/internal/steptest"
)

func TestMain(m *testing.M) { os.Exit(steptest.Main(m)) }

// released sets the scene after the commit point: a candidate launched
// for the release, the Elastic IP moved to it, the release holding the
// lock. It returns the handler and the document as RecordRelease gets it.
func released(t *testing.T, step string) (*steptest.Env, Handler, release.Doc) {
	t.Helper()
	e := steptest.New(t, step, sim.Options{})
	body := []byte("release 2.0.0")
	d := e.Doc(t, "2.0.0", e.Upload(t, e.Key("2.0.0"), body, ""), body, e.Config())
	e.Record(t, d)
	if err := e.Ledger.Acquire(e.Test, d.App, d.ReleaseID); err != nil {
		t.Fatal(err)
	}
	cand := e.Launch(t, map[string]string{release.TagApp: d.App, release.TagRelease: d.ReleaseID, release.TagRole: release.RoleCandidate})
	e.Region.Advance(e.Test, time.Minute)
	if _, err := e.Region.EC2().AssociateAddress(e.Test, &ec2.AssociateAddressInput{AllocationId: aws.String(e.Fixture.AllocationID),
		InstanceId: aws.String(cand), AllowReassociation: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	d.Candidate = &release.Candidate{Instances: []release.Member{{InstanceID: cand}}}
	return e, Handler{D: e.Deps}, d
}

// TestKeepDatesAndSchedulesThePreviousInstance: before the switch the
// serving instance is tagged as kept, with its retirement date, and its
// retirement is scheduled; a retried Keep changes nothing.
func TestKeepDatesAndSchedulesThePreviousInstance(t *testing.T) {
	e, h, d := released(t, "keep-previous")
	var first release.Keep
	for i := 0; i < 2; i++ {
		k, err := h.Keep(e.Ctx, d)
		if err != nil {
			t.Fatalf("keep %d: %v", i+1, err)
		}
		if i == 0 {
			first = k
		} else if !reflect.DeepEqual(k, first) {
			t.Errorf("a retried keep answered %+v, want %+v", k, first)
		}
	}
	want := e.Region.Now().UTC().Add(7 * 24 * time.Hour).Truncate(time.Second)
	if !slices.Equal(first.InstanceIDs, []string{e.Fixture.LiveInstance}) || !first.RetireAfter.Equal(want) {
		t.Errorf("kept %+v, want %s until %s", first, e.Fixture.LiveInstance, want)
	}
	tags := steptest.Tags(e.Instance(t, e.Fixture.LiveInstance).Tags)
	if tags[release.TagRole] != release.RolePrevious || tags[release.TagRetireAfter] != want.Format(time.RFC3339) {
		t.Errorf("the kept instance's tags %v", tags)
	}
	s, err := e.Region.Scheduler().GetSchedule(e.Test, &scheduler.GetScheduleInput{Name: aws.String(first.Schedule), GroupName: aws.String(e.Fixture.ScheduleGroup)})
	if err != nil || aws.ToString(s.ScheduleExpression) != "at("+want.Format("2006-01-02T15:04:05")+")" {
		t.Errorf("schedule %+v (%v), want at %s", s, err, want)
	}
}

// TestRecordWritesEveryPart: the new instance is tagged live, the serving
// record and the release's status written, the operators told and the
// lock freed; recording again (a retried step) is harmless.
func TestRecordWritesEveryPart(t *testing.T) {
	e, h, d := released(t, "record-release")
	k, err := Handler{D: e.Deps}.Keep(e.Ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	d.Keep = &k
	for i := 0; i < 2; i++ {
		if _, err := h.Record(e.Ctx, d); err != nil {
			t.Fatalf("record %d: %v", i+1, err)
		}
	}
	cand := d.Candidate.First().InstanceID
	if tags := steptest.Tags(e.Instance(t, cand).Tags); tags[release.TagRole] != release.RoleLive || tags[release.TagRelease] != d.ReleaseID {
		t.Errorf("the new instance's tags %v, want it live for %s", tags, d.ReleaseID)
	}
	s, ok, err := e.Ledger.Serving(e.Test, d.App)
	if err != nil || !ok || s.LiveInstance != cand || s.PreviousInstance != e.Fixture.LiveInstance || !s.RetireAfter.Equal(k.RetireAfter) {
		t.Errorf("serving %+v ok=%v err=%v", s, ok, err)
	}
	if rec := e.Get(t, d.ReleaseID); rec.Status != ledger.StatusReleased || rec.LiveInstance != cand {
		t.Errorf("ledger %s live %s, want %s on %s", rec.Status, rec.LiveInstance, ledger.StatusReleased, cand)
	}
	if holder := e.Lock(t); holder != "" {
		t.Errorf("the lock is held by %s", holder)
	}
	if n := len(e.Messages("released")); n < 1 {
		t.Errorf("%d released notifications", n)
	}
}

// TestRecordNamesWhatFailed: every part is tried whatever happens to the
// others, and the error names exactly the parts that failed: a transient
// refusal is Throttled (the state machine retries), a lasting one
// AWSError (the release stands with a warning).
func TestRecordNamesWhatFailed(t *testing.T) {
	for _, c := range []struct {
		name      string
		fault     sim.Fault
		part      string
		transient bool
	}{
		{"tags refused", sim.Fault{Service: sim.ServiceEC2, Operation: "CreateTags", Code: "UnauthorizedOperation", Always: true}, "the live instance's tags", false},
		{"notification throttled", sim.Fault{Service: sim.ServiceSNS, Operation: "Publish", Code: "Throttled"}, "the notification", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, h, d := released(t, "record-release")
			e.Region.Inject(c.fault)
			_, err := h.Record(e.Ctx, d)
			var th release.Throttled
			var ae release.AWSError
			if c.transient && !errors.As(err, &th) || !c.transient && !errors.As(err, &ae) {
				t.Fatalf("err %T %v, want transient=%v", err, err, c.transient)
			}
			if !strings.Contains(err.Error(), c.part) || strings.Count(err.Error(), "; ") != 0 {
				t.Errorf("error %q, want only %q named", err, c.part)
			}
			if rec := e.Get(t, d.ReleaseID); rec.Status != ledger.StatusReleased {
				t.Errorf("the other parts were not written: ledger status %s", rec.Status)
			}
			if holder := e.Lock(t); holder != "" {
				t.Errorf("the lock is held by %s although its part did not fail", holder)
			}
		})
	}
}

// TestRecordNotifiesOnce: a record step retried after a part failed
// transiently (the lock's release throttled) does not tell the operators
// twice, nor write the Released line twice in the timeline.
func TestRecordNotifiesOnce(t *testing.T) {
	e, h, d := released(t, "record-release")
	e.Region.Inject(sim.Fault{Service: sim.ServiceDynamoDB, Operation: "DeleteItem", Code: sim.ThrottleCode(sim.ServiceDynamoDB)})
	var th release.Throttled
	if _, err := h.Record(e.Ctx, d); !errors.As(err, &th) || !strings.Contains(err.Error(), "the release lock") {
		t.Fatalf("first try: %v, want Throttled naming the lock", err)
	}
	if _, err := h.Record(e.Ctx, d); err != nil {
		t.Fatalf("the retry: %v", err)
	}
	if n := len(e.Messages("released")); n != 1 {
		t.Errorf("%d released notifications, want 1", n)
	}
	lines := 0
	for _, ev := range e.Get(t, d.ReleaseID).Timeline {
		if ev.Step == release.Released {
			lines++
		}
	}
	if lines != 1 {
		t.Errorf("%d Released lines in the timeline, want 1", lines)
	}
	if holder := e.Lock(t); holder != "" {
		t.Errorf("the lock is held by %s after the retry", holder)
	}
}

// fleetReleased is released for a fleet of three behind the ALB: the
// fixture's three live instances, one in each zone, and three candidates
// launched across the zones for the release.
func fleetReleased(t *testing.T, step string) (*steptest.Env, Handler, release.Doc) {
	t.Helper()
	e, d := steptest.FleetRelease(t, step)
	f := e.Fixture
	d.Candidate = &release.Candidate{}
	for slot, subnet := range f.Subnets {
		id := e.LaunchIn(t, subnet, map[string]string{release.TagApp: d.App, release.TagRelease: d.ReleaseID, release.TagRole: release.RoleCandidate})
		d.Candidate.Instances = append(d.Candidate.Instances, release.Member{Slot: slot, InstanceID: id, SubnetID: subnet})
	}
	e.Region.Advance(e.Test, time.Minute)
	return e, Handler{D: e.Deps}, d
}

// TestKeepAFleet: the whole live side is kept, each instance dated, with
// one schedule for the side whose payload names all of it (and its first
// instance, for a retire function older than fleets). A keep retried
// after it had tagged (the schedule throttled) makes no second schedule.
func TestKeepAFleet(t *testing.T) {
	e, h, d := fleetReleased(t, "keep-previous")
	f := e.Fixture
	schedulesBefore := len(e.Resources(sim.KindSchedule))
	e.Region.Inject(sim.Fault{Service: sim.ServiceScheduler, Operation: "CreateSchedule", Code: "ThrottlingException", Times: 4})
	if _, err := h.Keep(e.Ctx, d); err == nil {
		t.Fatal("keep succeeded although its schedule was throttled")
	}
	if tags := steptest.Tags(e.Instance(t, f.LiveInstances[2]).Tags); tags[release.TagRetireAfter] == "" {
		t.Fatalf("the failed keep did not tag before failing (the scene needs it): %v", tags)
	}
	e.Region.ClearFaults()
	k, err := h.Keep(e.Ctx, d)
	if err != nil {
		t.Fatalf("the retried keep: %v", err)
	}
	want := e.Region.Now().UTC().Add(7 * 24 * time.Hour).Truncate(time.Second)
	if !slices.Equal(k.InstanceIDs, f.LiveInstances) {
		t.Errorf("kept %v, want the whole live side %v", k.InstanceIDs, f.LiveInstances)
	}
	for _, id := range f.LiveInstances {
		tags := steptest.Tags(e.Instance(t, id).Tags)
		if tags[release.TagRole] != release.RolePrevious || tags[release.TagRetireAfter] == "" || tags[release.TagApp] != f.App {
			t.Errorf("%s tagged %v, want it kept", id, tags)
		}
	}
	if n := len(e.Resources(sim.KindSchedule)) - schedulesBefore; n != 1 {
		t.Fatalf("%d schedules made, want one for the side", n)
	}
	s, err := e.Region.Scheduler().GetSchedule(e.Test, &scheduler.GetScheduleInput{Name: aws.String(k.Schedule), GroupName: aws.String(f.ScheduleGroup)})
	if err != nil {
		t.Fatal(err)
	}
	var req retirement.Request
	if err := json.Unmarshal([]byte(aws.ToString(s.Target.Input)), &req); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(req.IDs(), f.LiveInstances) || req.InstanceID != f.LiveInstance || req.App != f.App || req.ReleaseID != d.ReleaseID {
		t.Errorf("schedule payload %+v, want the side %v, first %s", req, f.LiveInstances, f.LiveInstance)
	}
	if k.Schedule != retirement.ScheduleName(f.App, f.LiveInstance) || !k.RetireAfter.Equal(want) {
		t.Errorf("keep %+v, want the schedule named after %s, due %s", k, f.LiveInstance, want)
	}
}

// TestRecordAFleet: every candidate becomes live (tagged, its retirement
// cancelled: a switch back revives a side that was kept), and the serving
// record holds both sides whole, their first instances in the fields
// older readers use. A record retried after its serving record was
// throttled writes it once more and tells the operators once.
func TestRecordAFleet(t *testing.T) {
	e, h, d := fleetReleased(t, "record-release")
	f := e.Fixture
	k, err := h.Keep(e.Ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	d.Keep = &k
	cands := d.Candidate.IDs()
	// As if the candidates were a side kept before, brought back.
	due := e.Region.Now().Add(24 * time.Hour)
	if err := retirement.Keep(e.Test, e.Deps, f.App, "", cands, due); err != nil {
		t.Fatal(err)
	}
	if _, err := retirement.Schedule(e.Test, e.Deps, retirement.NewRequest(f.App, "", cands), due); err != nil {
		t.Fatal(err)
	}
	e.Region.Inject(sim.Fault{Service: sim.ServiceDynamoDB, Operation: "PutItem", Code: sim.ThrottleCode(sim.ServiceDynamoDB)})
	var th release.Throttled
	if _, err := h.Record(e.Ctx, d); !errors.As(err, &th) || !strings.Contains(err.Error(), "the serving record") {
		t.Fatalf("first try: %v, want Throttled naming the serving record", err)
	}
	if _, err := h.Record(e.Ctx, d); err != nil {
		t.Fatalf("the retry: %v", err)
	}
	for _, id := range cands {
		tags := steptest.Tags(e.Instance(t, id).Tags)
		if tags[release.TagRole] != release.RoleLive || tags[release.TagRelease] != d.ReleaseID || tags[release.TagRetireAfter] != "" {
			t.Errorf("candidate %s tagged %v, want it live without a retirement date", id, tags)
		}
	}
	_, err = e.Region.Scheduler().GetSchedule(e.Test, &scheduler.GetScheduleInput{Name: aws.String(retirement.ScheduleName(f.App, cands[0])), GroupName: aws.String(f.ScheduleGroup)})
	if err == nil {
		t.Error("the candidates' retirement schedule is still there")
	}
	s, ok, err := e.Ledger.Serving(e.Test, d.App)
	if err != nil || !ok {
		t.Fatalf("serving: ok=%v err=%v", ok, err)
	}
	if !slices.Equal(s.LiveIDs(), cands) || s.LiveInstance != cands[0] || !slices.Equal(s.PreviousIDs(), f.LiveInstances) ||
		s.PreviousInstance != f.LiveInstance || !s.RetireAfter.Equal(k.RetireAfter) || s.PreviousVersion != f.Version {
		t.Errorf("serving %+v, want live %v and previous %v", s, cands, f.LiveInstances)
	}
	if n := len(e.Messages("released")); n != 1 {
		t.Errorf("%d released notifications, want 1", n)
	}
	if rec := e.Get(t, d.ReleaseID); rec.Status != ledger.StatusReleased || rec.LiveInstance != cands[0] {
		t.Errorf("ledger %s live %s", rec.Status, rec.LiveInstance)
	}
}
