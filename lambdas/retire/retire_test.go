package retire

import (
	"encoding/json"
	"errors"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/greenlight/greenlight/events"
	"github.com/greenlight/greenlight/harness/sim"
	"github.com/greenlight/greenlight/internal/ledger"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/internal/retirement"
	"github.com/greenlight/greenlight/internal/traffic"
	"github.com/greenlight/greenlight/lambdas/internal/steptest"
)

func TestMain(m *testing.M) { os.Exit(steptest.Main(m)) }

const (
	newRelease = "shop-2-0-0-0123456789"
	day        = 24 * time.Hour
)

func newEnv(t *testing.T, opts sim.Options) (*steptest.Env, Handler) {
	t.Helper()
	e := steptest.New(t, "retire", opts)
	return e, Handler{D: e.Deps}
}

// sweep is the daily sweep rule's scheduled event, as EventBridge sends it.
func sweep(t *testing.T) Input {
	t.Helper()
	b, err := events.Sample(events.DailySweepFile)
	if err != nil {
		t.Fatal(err)
	}
	var in Input
	if err := json.Unmarshal(b, &in); err != nil {
		t.Fatal(err)
	}
	return in
}

// scheduled is the payload of an instance's retirement schedule, as the
// finish step writes it.
func scheduled(t *testing.T, e *steptest.Env, id string) Input {
	t.Helper()
	b, err := json.Marshal(retirement.Request{App: e.Fixture.App, InstanceID: id, ReleaseID: newRelease})
	if err != nil {
		t.Fatal(err)
	}
	var in Input
	if err := json.Unmarshal(b, &in); err != nil {
		t.Fatal(err)
	}
	return in
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// released sets the scene a finished release leaves: a new instance live
// behind the Elastic IP, and the fixture's instance kept for rollback
// (tagged by the finish step's own Keep) until due. It returns the new
// instance.
func released(t *testing.T, e *steptest.Env, due time.Time) string {
	t.Helper()
	f := e.Fixture
	live := e.Launch(t, map[string]string{release.TagApp: f.App, release.TagManaged: release.ManagedValue,
		release.TagRole: release.RoleLive, release.TagRelease: newRelease, release.TagVersion: "2.0.0"})
	e.Region.Advance(e.Test, time.Minute)
	if _, err := e.Region.EC2().AssociateAddress(e.Test, &ec2.AssociateAddressInput{AllocationId: aws.String(f.AllocationID),
		InstanceId: aws.String(live), AllowReassociation: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	if err := retirement.Keep(e.Test, e.Deps, f.App, "", []string{f.LiveInstance}, due); err != nil {
		t.Fatal(err)
	}
	serve(t, e, live, f.LiveInstance, due)
	return live
}

func serve(t *testing.T, e *steptest.Env, live, previous string, due time.Time) {
	t.Helper()
	if err := e.Ledger.SetServing(e.Test, ledger.Serving{App: e.Fixture.App, LiveInstance: live, LiveRelease: newRelease, LiveVersion: "2.0.0",
		PreviousInstance: previous, PreviousVersion: "1.0.0", RetireAfter: due}); err != nil {
		t.Fatal(err)
	}
}

func serving(t *testing.T, e *steptest.Env) ledger.Serving {
	t.Helper()
	s, ok, err := e.Ledger.Serving(e.Test, e.Fixture.App)
	if err != nil || !ok {
		t.Fatalf("serving record: ok=%v err=%v", ok, err)
	}
	return s
}

// kept launches an instance carrying the tags given and returns it once
// it runs.
func kept(t *testing.T, e *steptest.Env, tags map[string]string) string {
	t.Helper()
	id := e.Launch(t, tags)
	e.Region.Advance(e.Test, time.Minute)
	return id
}

// keptTags are the tags of an instance greenlight keeps for rollback.
func keptTags(app string, due time.Time) map[string]string {
	return map[string]string{release.TagApp: app, release.TagManaged: release.ManagedValue, release.TagRole: release.RolePrevious,
		release.TagVersion: "1.0.0", release.TagRetireAfter: stamp(due)}
}

func volumeTags(t *testing.T, e *steptest.Env, id string) map[string]string {
	t.Helper()
	out, err := e.Region.EC2().DescribeVolumes(e.Test, &ec2.DescribeVolumesInput{VolumeIds: []string{id}})
	if err != nil {
		t.Fatal(err)
	}
	return steptest.Tags(out.Volumes[0].Tags)
}

func terminations(e *steptest.Env) int {
	n := 0
	for _, c := range e.Region.CallsTo(sim.ServiceEC2, "TerminateInstances") {
		if c.Caller == "retire" && c.Code == "" {
			n++
		}
	}
	return n
}

// TestScheduleRetiresTheKeptInstanceWhenDue follows one kept instance
// through its schedule: left alone before its date, terminated on it with
// a notification, forgotten by the ledger's serving record, its data
// volume dated so that the next sweep deletes it once it is free; a
// retried schedule then does nothing more.
func TestScheduleRetiresTheKeptInstanceWhenDue(t *testing.T) {
	e, h := newEnv(t, sim.Options{DataVolume: true})
	f := e.Fixture
	due := e.Region.Now().Add(7 * day).Truncate(time.Second)
	live := released(t, e, due)
	old := f.LiveInstance
	in := scheduled(t, e, old)

	e.Region.Advance(e.Test, 6*day)
	res, err := h.Retire(e.Ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.NotDue, []string{old}) || len(res.Retired) != 0 || len(res.Refused) != 0 {
		t.Fatalf("a day before its date: %+v, want it not due", res)
	}
	if st := e.State(t, old); st != "running" {
		t.Fatalf("a day before its date the kept instance is %s", st)
	}
	if _, dated := volumeTags(t, e, f.DataVolume)[release.TagRetireAfter]; dated || len(e.Messages("")) != 0 || serving(t, e).PreviousInstance != old {
		t.Fatalf("not due yet, but something changed: volume tags %v, messages %d, serving %+v", volumeTags(t, e, f.DataVolume), len(e.Messages("")), serving(t, e))
	}

	e.Region.AdvanceTo(e.Test, due)
	res, err = h.Retire(e.Ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Retired, []string{old}) || len(res.NotDue) != 0 || len(res.Refused) != 0 {
		t.Fatalf("on its date: %+v, want it retired", res)
	}
	if st := e.State(t, old); st != "shutting-down" {
		t.Fatalf("the retired instance is %s, want shutting-down", st)
	}
	s := serving(t, e)
	if s.LiveInstance != live || s.PreviousInstance != "" || s.PreviousVersion != "" || !s.RetireAfter.IsZero() {
		t.Errorf("serving record after retirement: %+v, want the live instance only", s)
	}
	if holder := e.EIPHolder(t); holder != live {
		t.Errorf("the Elastic IP moved to %s", holder)
	}
	msgs := e.Messages("retired")
	if len(msgs) != 1 || !strings.Contains(msgs[0].Subject, old) || !strings.Contains(msgs[0].Body, "1.0.0") || !strings.Contains(msgs[0].Body, "no longer possible") {
		t.Fatalf("retired notifications: %+v", msgs)
	}
	vt := volumeTags(t, e, f.DataVolume)
	if vt[release.TagRetireAfter] != stamp(due) || vt[release.TagApp] != f.App {
		t.Errorf("data volume of the retired instance tagged %v, want retire-after %s", vt, stamp(due))
	}

	// The instance ends; its root volume goes with it, its data volume
	// stays, free, until the sweep.
	e.Region.Advance(e.Test, time.Minute)
	if st := e.State(t, old); st != "terminated" {
		t.Fatalf("a minute later the instance is %s", st)
	}
	if vols := e.Resources(sim.KindVolume); !slices.Contains(vols, f.DataVolume) {
		t.Fatalf("the data volume went with the instance: %v", vols)
	}

	// The schedule fires again (Scheduler retries): nothing more happens.
	res, err = h.Retire(e.Ctx, in)
	if err != nil || len(res.Retired)+len(res.Refused)+len(res.NotDue) != 0 {
		t.Fatalf("a repeated schedule: %+v %v, want nothing done", res, err)
	}
	if n := terminations(e); n != 1 || len(e.Messages("retired")) != 1 {
		t.Errorf("after a repeated schedule: %d terminations, %d notifications", n, len(e.Messages("retired")))
	}

	res, err = h.Retire(e.Ctx, sweep(t))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.VolumesDeleted, []string{f.DataVolume}) || len(res.Retired) != 0 {
		t.Fatalf("sweep after the retirement: %+v, want the left-over data volume deleted", res)
	}
	if vols := e.Resources(sim.KindVolume); slices.Contains(vols, f.DataVolume) {
		t.Errorf("the data volume still exists: %v", vols)
	}
}

// TestRetireRefusesWhatIsNotSafe: each instance is due, but only the one
// that is greenlight's, this app's, off the Elastic IP and not live in the
// ledger may go. The others are refused, left running, and the operators
// are told why. The sweep lists only this app's managed instances, so it
// does not even look at the others.
func TestRetireRefusesWhatIsNotSafe(t *testing.T) {
	type scene struct {
		e  *steptest.Env
		id string
	}
	cases := []struct {
		name string
		// set builds the scene and returns the instance due.
		set func(t *testing.T, s *scene)
		// why is the refusal's reason, "" when the instance must be
		// retired.
		why string
		// bySweep is what the sweep does with it: "retired", "refused" or
		// "ignored".
		bySweep string
	}{
		{
			name: "safe to retire",
			set: func(t *testing.T, s *scene) {
				s.id = kept(t, s.e, keptTags("shop", s.e.Region.Now()))
				serve(t, s.e, s.e.Fixture.LiveInstance, s.id, s.e.Region.Now())
			},
			bySweep: "retired",
		},
		{
			name: "holds the Elastic IP",
			set: func(t *testing.T, s *scene) {
				s.id = kept(t, s.e, keptTags("shop", s.e.Region.Now()))
				// Someone switched back by hand, outside greenlight.
				if _, err := s.e.Region.EC2().AssociateAddress(s.e.Test, &ec2.AssociateAddressInput{AllocationId: aws.String(s.e.Fixture.AllocationID),
					InstanceId: aws.String(s.id), AllowReassociation: aws.Bool(true)}); err != nil {
					t.Fatal(err)
				}
				serve(t, s.e, s.e.Fixture.LiveInstance, s.id, s.e.Region.Now())
			},
			why:     "it holds Elastic IP",
			bySweep: "refused",
		},
		{
			name: "recorded live in the ledger",
			set: func(t *testing.T, s *scene) {
				s.id = kept(t, s.e, keptTags("shop", s.e.Region.Now()))
				serve(t, s.e, s.id, s.e.Fixture.LiveInstance, s.e.Region.Now())
			},
			why:     "the ledger records it as the live instance",
			bySweep: "refused",
		},
		{
			name: "not managed by greenlight",
			set: func(t *testing.T, s *scene) {
				tags := keptTags("shop", s.e.Region.Now())
				delete(tags, release.TagManaged)
				s.id = kept(t, s.e, tags)
			},
			why:     `it is not managed by greenlight for shop (tags greenlight:app="shop", greenlight:managed="")`,
			bySweep: "ignored",
		},
		{
			name:    "another app's",
			set:     func(t *testing.T, s *scene) { s.id = kept(t, s.e, keptTags("blog", s.e.Region.Now())) },
			why:     `it is not managed by greenlight for shop (tags greenlight:app="blog", greenlight:managed="true")`,
			bySweep: "ignored",
		},
	}
	for _, c := range cases {
		for _, trigger := range []string{"schedule", "sweep"} {
			t.Run(c.name+" by "+trigger, func(t *testing.T) {
				e, h := newEnv(t, sim.Options{})
				s := &scene{e: e}
				c.set(t, s)
				e.Region.Advance(e.Test, time.Hour) // past due
				before, _, _ := e.Ledger.Serving(e.Test, "shop")
				eip := e.EIPHolder(t)
				in := scheduled(t, e, s.id)
				want := "refused"
				if c.why == "" {
					want = "retired"
				}
				if trigger == "sweep" {
					in, want = sweep(t), c.bySweep
				}
				res, err := h.Retire(e.Ctx, in)
				if err != nil {
					t.Fatal(err)
				}
				switch want {
				case "retired":
					if !slices.Equal(res.Retired, []string{s.id}) || len(res.Refused) != 0 {
						t.Fatalf("result %+v, want %s retired", res, s.id)
					}
					if st := e.State(t, s.id); st != "shutting-down" {
						t.Errorf("retired instance is %s", st)
					}
					if after := serving(t, e); after.PreviousInstance != "" || after.LiveInstance != before.LiveInstance {
						t.Errorf("serving record %+v still keeps the retired instance", after)
					}
					if n := len(e.Messages("retired")); n != 1 || len(e.Messages("retire-refused")) != 0 {
						t.Errorf("notifications: %+v", e.Messages(""))
					}
					return
				case "refused":
					if len(res.Refused) != 1 || res.Refused[0].InstanceID != s.id || !strings.Contains(res.Refused[0].Why, c.why) || len(res.Retired) != 0 {
						t.Fatalf("result %+v, want %s refused because %q", res, s.id, c.why)
					}
					if c.name == "holds the Elastic IP" && (!strings.Contains(res.Refused[0].Why, e.Fixture.AllocationID) || !strings.Contains(res.Refused[0].Why, e.Fixture.PublicIP)) {
						t.Errorf("the refusal %q does not name the Elastic IP", res.Refused[0].Why)
					}
					msgs := e.Messages("retire-refused")
					if len(msgs) != 1 || !strings.Contains(msgs[0].Subject, s.id) || !strings.Contains(msgs[0].Body, "did NOT retire") ||
						!strings.Contains(strings.Join(strings.Fields(msgs[0].Body), " "), c.why) {
						t.Errorf("refusal notifications: %+v", msgs)
					}
				case "ignored":
					if len(res.Refused)+len(res.Retired)+len(res.NotDue) != 0 {
						t.Fatalf("the sweep looked at an instance that is not this app's managed one: %+v", res)
					}
					if len(e.Messages("")) != 0 {
						t.Errorf("notifications: %+v", e.Messages(""))
					}
				}
				// Refused or ignored: nothing changed.
				if st := e.State(t, s.id); st != "running" {
					t.Errorf("the instance is %s, want it left running", st)
				}
				if n := terminations(e); n != 0 {
					t.Errorf("%d TerminateInstances calls", n)
				}
				if after, _, _ := e.Ledger.Serving(e.Test, "shop"); after.PreviousInstance != before.PreviousInstance || after.LiveInstance != before.LiveInstance {
					t.Errorf("serving record changed: %+v → %+v", before, after)
				}
				if holder := e.EIPHolder(t); holder != eip {
					t.Errorf("the Elastic IP moved from %s to %s", eip, holder)
				}
				if len(e.Messages("retired")) != 0 {
					t.Errorf("a retirement was announced: %+v", e.Messages("retired"))
				}
			})
		}
	}
}

// TestSweepRetiresWhatIsDueAndLeavesTheRest: one sweep over several kept
// instances retires the due one, lists the one not yet due, and leaves the
// live instance and unmanaged instances alone.
func TestSweepRetiresWhatIsDueAndLeavesTheRest(t *testing.T) {
	e, h := newEnv(t, sim.Options{})
	now := e.Region.Now()
	due := kept(t, e, keptTags("shop", now.Add(time.Hour)))
	later := kept(t, e, keptTags("shop", now.Add(3*day)))
	unmanaged := map[string]string{release.TagApp: "shop", release.TagRetireAfter: stamp(now)}
	stray := kept(t, e, unmanaged)
	serve(t, e, e.Fixture.LiveInstance, due, now.Add(time.Hour))
	e.Region.Advance(e.Test, 2*time.Hour)

	res, err := h.Retire(e.Ctx, sweep(t))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Retired, []string{due}) || !slices.Equal(res.NotDue, []string{later}) || len(res.Refused) != 0 {
		t.Fatalf("sweep: %+v, want retired [%s] and not due [%s]", res, due, later)
	}
	want := map[string]string{due: "shutting-down", later: "running", stray: "running", e.Fixture.LiveInstance: "running"}
	for id, st := range want {
		if got := e.State(t, id); got != st {
			t.Errorf("%s is %s, want %s", id, got, st)
		}
	}
	if s := serving(t, e); s.PreviousInstance != "" || s.LiveInstance != e.Fixture.LiveInstance {
		t.Errorf("serving record %+v", s)
	}
	if msgs := e.Messages(""); len(msgs) != 1 || msgs[0].Attributes["kind"] != "retired" || !strings.Contains(msgs[0].Subject, due) {
		t.Errorf("notifications: %+v", msgs)
	}
	if tags := steptest.Tags(e.Instance(t, later).Tags); tags[release.TagRetireAfter] != stamp(now.Add(3*day)) {
		t.Errorf("the instance not due was re-tagged: %v", tags)
	}
}

func createVolume(t *testing.T, e *steptest.Env, tags map[string]string) string {
	t.Helper()
	var list []ec2types.Tag
	for k, v := range tags {
		list = append(list, ec2types.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	in := &ec2.CreateVolumeInput{AvailabilityZone: aws.String(e.Fixture.LiveAZ), Size: aws.Int32(20), VolumeType: ec2types.VolumeTypeGp3}
	if len(list) > 0 {
		in.TagSpecifications = []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeVolume, Tags: list}}
	}
	out, err := e.Region.EC2().CreateVolume(e.Test, in)
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.VolumeId)
}

// TestSweepDeletesOnlyDueLeftOverVolumes: a volume goes only when it is
// this app's, managed, dated, past its date and free.
func TestSweepDeletesOnlyDueLeftOverVolumes(t *testing.T) {
	e, h := newEnv(t, sim.Options{DataVolume: true})
	now := e.Region.Now()
	past, future := stamp(now.Add(-time.Hour)), stamp(now.Add(2*day))
	managed := func(app, retireAfter string) map[string]string {
		m := map[string]string{release.TagApp: app, release.TagManaged: release.ManagedValue, release.TagRole: release.RoleData}
		if retireAfter != "" {
			m[release.TagRetireAfter] = retireAfter
		}
		return m
	}
	gone := createVolume(t, e, managed("shop", past))
	notYet := createVolume(t, e, managed("shop", future))
	attached := createVolume(t, e, managed("shop", past))
	unmanaged := createVolume(t, e, map[string]string{release.TagApp: "shop", release.TagRetireAfter: past})
	otherApp := createVolume(t, e, managed("blog", past))
	undated := createVolume(t, e, managed("shop", ""))
	badDate := createVolume(t, e, managed("shop", "next tuesday"))
	e.Region.Advance(e.Test, time.Minute) // created → available
	if _, err := e.Region.EC2().AttachVolume(e.Test, &ec2.AttachVolumeInput{VolumeId: aws.String(attached),
		InstanceId: aws.String(e.Fixture.LiveInstance), Device: aws.String("/dev/sdg")}); err != nil {
		t.Fatal(err)
	}
	e.Region.Advance(e.Test, time.Minute)
	before := e.Resources(sim.KindVolume)

	res, err := h.Retire(e.Ctx, sweep(t))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.VolumesDeleted, []string{gone}) {
		t.Fatalf("deleted %v, want exactly [%s]", res.VolumesDeleted, gone)
	}
	var want []string
	for _, id := range before {
		if id != gone {
			want = append(want, id)
		}
	}
	after := e.Resources(sim.KindVolume)
	if !slices.Equal(after, want) {
		t.Errorf("volumes left %v, want %v", after, want)
	}
	for name, id := range map[string]string{"not yet due": notYet, "attached": attached, "unmanaged": unmanaged, "another app's": otherApp,
		"undated": undated, "badly dated": badDate, "the live data volume": e.Fixture.DataVolume} {
		if !slices.Contains(after, id) {
			t.Errorf("the %s volume %s was deleted", name, id)
		}
	}
	if len(res.Retired)+len(res.Refused)+len(res.NotDue)+len(res.SnapshotsPruned) != 0 {
		t.Errorf("the sweep did more than delete a volume: %+v", res)
	}
}

// snapshotAt takes a snapshot of the data volume at the given time (the
// clock is moved there) with the given tags.
func snapshotAt(t *testing.T, e *steptest.Env, at time.Time, tags map[string]string) string {
	t.Helper()
	e.Region.AdvanceTo(e.Test, at)
	var list []ec2types.Tag
	for k, v := range tags {
		list = append(list, ec2types.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	in := &ec2.CreateSnapshotInput{VolumeId: aws.String(e.Fixture.DataVolume)}
	if len(list) > 0 {
		in.TagSpecifications = []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSnapshot, Tags: list}}
	}
	out, err := e.Region.EC2().CreateSnapshot(e.Test, in)
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.SnapshotId)
}

func backup(app string) map[string]string {
	return map[string]string{release.TagApp: app, release.TagManaged: release.ManagedValue, release.TagRole: release.RoleBackup,
		release.TagRelease: app + "-1-0-0-0123456789"}
}

func sorted(ids ...string) []string {
	out := slices.Clone(ids)
	sort.Strings(out)
	return out
}

// TestSweepPrunesBackups checks exactly which backups the sweep deletes:
// this app's completed managed backups older than the retention, except
// the newest KeepSnapshots whatever their age. Younger backups, another
// app's, unmanaged ones, the golden image's and one still pending stay.
func TestSweepPrunesBackups(t *testing.T) {
	t.Run("mixed ages", func(t *testing.T) {
		e, h := newEnv(t, sim.Options{DataVolume: true})
		t0 := e.Region.Now()
		e.Deps.Env.RetentionDays = 7
		now := t0.Add(12 * day)
		cutoff := now.Add(-7 * day)
		old0 := snapshotAt(t, e, t0, backup("shop"))
		otherApp := snapshotAt(t, e, t0.Add(time.Minute), backup("blog"))
		unmanaged := snapshotAt(t, e, t0.Add(2*time.Minute), map[string]string{release.TagApp: "shop", release.TagRole: release.RoleBackup})
		untagged := snapshotAt(t, e, t0.Add(3*time.Minute), nil)
		old1 := snapshotAt(t, e, t0.Add(1*day), backup("shop"))
		old2 := snapshotAt(t, e, t0.Add(2*day), backup("shop"))
		justOld := snapshotAt(t, e, cutoff.Add(-time.Minute), backup("shop"))  // a minute past the retention
		justYoung := snapshotAt(t, e, cutoff.Add(time.Minute), backup("shop")) // a minute within it
		young8 := snapshotAt(t, e, t0.Add(8*day), backup("shop"))
		new9 := snapshotAt(t, e, t0.Add(9*day), backup("shop"))
		new10 := snapshotAt(t, e, t0.Add(10*day), backup("shop"))
		new11 := snapshotAt(t, e, t0.Add(11*day), backup("shop"))
		pending := snapshotAt(t, e, now, backup("shop")) // still copying at the sweep
		before := e.Resources(sim.KindSnapshot)

		res, err := h.Retire(e.Ctx, sweep(t))
		if err != nil {
			t.Fatal(err)
		}
		wantPruned := sorted(old0, old1, old2, justOld)
		if got := sorted(res.SnapshotsPruned...); !slices.Equal(got, wantPruned) {
			t.Fatalf("pruned %v, want exactly %v", got, wantPruned)
		}
		var wantLeft []string
		for _, id := range before {
			if !slices.Contains(wantPruned, id) {
				wantLeft = append(wantLeft, id)
			}
		}
		left := e.Resources(sim.KindSnapshot)
		if !slices.Equal(left, wantLeft) {
			t.Errorf("snapshots left %v, want %v", left, wantLeft)
		}
		for name, id := range map[string]string{"another app's": otherApp, "unmanaged": unmanaged, "untagged": untagged,
			"a minute within the retention": justYoung, "four days old": young8, "newest but two": new9, "newest but one": new10,
			"newest": new11, "pending": pending, "the golden image's": golden(t, e)} {
			if !slices.Contains(left, id) {
				t.Errorf("the %s snapshot %s was deleted", name, id)
			}
		}
	})

	t.Run("all older than the retention", func(t *testing.T) {
		e, h := newEnv(t, sim.Options{DataVolume: true})
		t0 := e.Region.Now()
		var ids []string
		for k := 0; k < KeepSnapshots+2; k++ {
			ids = append(ids, snapshotAt(t, e, t0.Add(time.Duration(k)*day), backup("shop")))
		}
		// A backup still copying is no backup yet: it does not count among
		// the newest kept.
		pending := snapshotAt(t, e, t0.Add(90*day), backup("shop"))
		res, err := h.Retire(e.Ctx, sweep(t))
		if err != nil {
			t.Fatal(err)
		}
		// Oldest first: all but the newest KeepSnapshots go.
		wantPruned := sorted(ids[:2]...)
		if got := sorted(res.SnapshotsPruned...); !slices.Equal(got, wantPruned) {
			t.Fatalf("pruned %v, want exactly the two oldest %v", got, wantPruned)
		}
		left := e.Resources(sim.KindSnapshot)
		if !slices.Contains(left, pending) {
			t.Errorf("the pending backup %s was deleted", pending)
		}
		for _, id := range ids[2:] {
			if !slices.Contains(left, id) {
				t.Errorf("one of the newest %d backups, %s, was deleted although they are kept whatever their age", KeepSnapshots, id)
			}
		}
	})

	t.Run("no more than the newest few", func(t *testing.T) {
		e, h := newEnv(t, sim.Options{DataVolume: true})
		t0 := e.Region.Now()
		var ids []string
		for k := 0; k < KeepSnapshots; k++ {
			ids = append(ids, snapshotAt(t, e, t0.Add(time.Duration(k)*time.Hour), backup("shop")))
		}
		e.Region.AdvanceTo(e.Test, t0.Add(60*day))
		res, err := h.Retire(e.Ctx, sweep(t))
		if err != nil || len(res.SnapshotsPruned) != 0 {
			t.Fatalf("pruned %v (err %v), want none: only %d backups exist", res.SnapshotsPruned, err, KeepSnapshots)
		}
		if left, want := e.Resources(sim.KindSnapshot), sorted(append(ids, golden(t, e))...); !slices.Equal(left, want) {
			t.Errorf("snapshots left %v, want %v", left, want)
		}
	})

	t.Run("a backup in use is skipped", func(t *testing.T) {
		e, h := newEnv(t, sim.Options{DataVolume: true})
		t0 := e.Region.Now()
		var ids []string
		for k := 0; k < KeepSnapshots+2; k++ {
			ids = append(ids, snapshotAt(t, e, t0.Add(time.Duration(k)*day), backup("shop")))
		}
		e.Region.AdvanceTo(e.Test, t0.Add(30*day))
		// A volume is being restored from the first one the sweep deletes.
		e.Region.Inject(sim.Fault{Service: sim.ServiceEC2, Operation: "DeleteSnapshot", Code: "InvalidSnapshot.InUse",
			Message: "The snapshot is currently in use"})
		res, err := h.Retire(e.Ctx, sweep(t))
		if err != nil {
			t.Fatalf("a snapshot in use failed the sweep: %v", err)
		}
		if len(res.SnapshotsPruned) != 1 || !slices.Contains(ids[:2], res.SnapshotsPruned[0]) {
			t.Fatalf("pruned %v, want one of %v (the other is in use)", res.SnapshotsPruned, ids[:2])
		}
		left := e.Resources(sim.KindSnapshot)
		if slices.Contains(left, res.SnapshotsPruned[0]) || len(left) != KeepSnapshots+2 {
			t.Errorf("snapshots left %v", left)
		}
	})
}

// golden is the snapshot behind the golden AMI.
func golden(t *testing.T, e *steptest.Env) string {
	t.Helper()
	out, err := e.Region.EC2().DescribeImages(e.Test, &ec2.DescribeImagesInput{ImageIds: []string{e.Fixture.AMI}})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.Images[0].BlockDeviceMappings[0].Ebs.SnapshotId)
}

// TestRetireInputs: an event that is neither a schedule nor the sweep is
// refused; a schedule for an instance that no longer exists is done.
func TestRetireInputs(t *testing.T) {
	e, h := newEnv(t, sim.Options{})
	for _, in := range []Input{{}, {App: "shop"}, {Source: "aws.s3", DetailType: "Object Created"}} {
		_, err := h.Retire(e.Ctx, in)
		var ei release.EventInvalid
		if !errors.As(err, &ei) || !strings.Contains(err.Error(), "instanceId or the sweep's scheduled event") {
			t.Errorf("input %+v: %v, want EventInvalid", in, err)
		}
	}
	res, err := h.Retire(e.Ctx, Input{App: "shop", InstanceID: "i-0123456789abcdef0"})
	if err != nil || len(res.Retired)+len(res.Refused)+len(res.NotDue) != 0 {
		t.Errorf("a schedule for a gone instance: %+v %v, want nothing to do", res, err)
	}
	if len(e.Messages("")) != 0 || terminations(e) != 0 {
		t.Errorf("something happened: %d terminations, messages %+v", terminations(e), e.Messages(""))
	}
	if st := e.State(t, e.Fixture.LiveInstance); st != "running" {
		t.Errorf("live instance %s", st)
	}
}

// fleetKept sets the scene a fleet release leaves behind the ALB: three
// new instances live in the green group at full weight, the fixture's
// three (one per zone) kept in blue at weight 0, dated due, recorded as
// the previous side. It returns the live side.
func fleetKept(t *testing.T, e *steptest.Env, due time.Time) []string {
	t.Helper()
	f := e.Fixture
	e.Deps.Env.Front = traffic.Front{ListenerARN: f.ListenerARN, TargetGroupARNs: f.TargetGroupARNs}
	router := traffic.For(e.Region.Clients(), e.Deps.Env.Front)
	var live []string
	for _, subnet := range f.Subnets {
		live = append(live, e.LaunchIn(t, subnet, map[string]string{release.TagApp: f.App, release.TagManaged: release.ManagedValue,
			release.TagRole: release.RoleLive, release.TagRelease: newRelease, release.TagVersion: "2.0.0"}))
	}
	e.Region.Advance(e.Test, time.Minute)
	for _, id := range live {
		host := e.Region.Host(id)
		host.Install("2.0.0", newRelease, 0)
		host.SetHealthCheck(f.AppPort, f.HealthPath)
		if err := host.StartApp(); err != nil {
			t.Fatal(err)
		}
	}
	side := traffic.Side{Instances: live}
	for i := 0; ; i++ {
		h, err := router.Register(e.Test, side)
		if err != nil {
			t.Fatal(err)
		}
		if h.Ready() {
			break
		}
		if i == 40 {
			t.Fatalf("the new side never became healthy: %+v", h)
		}
		e.Region.Advance(e.Test, 15*time.Second)
	}
	if _, err := router.Shift(e.Test, side, 100); err != nil {
		t.Fatal(err)
	}
	if err := retirement.Keep(e.Test, e.Deps, f.App, "", f.LiveInstances, due); err != nil {
		t.Fatal(err)
	}
	s := ledger.Serving{App: f.App, LiveRelease: newRelease, LiveVersion: "2.0.0", PreviousVersion: "1.0.0", RetireAfter: due}
	s.SetLive(live)
	s.SetPrevious(f.LiveInstances)
	if err := e.Ledger.SetServing(e.Test, s); err != nil {
		t.Fatal(err)
	}
	return live
}

// TestScheduleRetiresAKeptFleet: the side's one schedule retires its
// three instances together: deregistered from blue at once and drained
// side by side (one deregistration delay, not three), then terminated. A
// termination that fails does not stop the others, which are recorded
// and announced; the schedule's retry finishes the side and the serving
// record forgets it whole.
func TestScheduleRetiresAKeptFleet(t *testing.T) {
	e, h := newEnv(t, sim.Options{ALB: true, Zones: 3, LiveFleet: 3})
	f := e.Fixture
	due := e.Region.Now().Add(7 * day).Truncate(time.Second)
	live := fleetKept(t, e, due)
	kept := f.LiveInstances
	b, err := json.Marshal(retirement.NewRequest(f.App, newRelease, kept))
	if err != nil {
		t.Fatal(err)
	}
	var in Input
	if err := json.Unmarshal(b, &in); err != nil {
		t.Fatal(err)
	}

	e.Region.AdvanceTo(e.Test, due)
	e.Region.Inject(sim.Fault{Service: sim.ServiceEC2, Operation: "TerminateInstances", Caller: "retire", Code: "InternalError", Nth: 2})
	start := e.Region.Now()
	res, err := h.Retire(e.Ctx, in)
	if err == nil || !strings.Contains(err.Error(), kept[1]) {
		t.Fatalf("first attempt: %v, want the second termination's failure", err)
	}
	if took := e.Region.Now().Sub(start); took > 2*300*time.Second {
		t.Errorf("draining took %s: the side drained one instance after another", took)
	}
	if want := []string{kept[0], kept[2]}; !slices.Equal(res.Retired, want) {
		t.Fatalf("first attempt retired %v, want %v", res.Retired, want)
	}
	if s := serving(t, e); !slices.Equal(s.PreviousIDs(), kept[1:2]) || s.PreviousInstance != kept[1] || s.RetireAfter.IsZero() {
		t.Errorf("after the first attempt the serving record keeps %+v, want %s, still dated", s, kept[1])
	}
	if msgs := e.Messages("retired"); len(msgs) != 1 || !strings.Contains(msgs[0].Subject, kept[0]) || !strings.Contains(msgs[0].Subject, kept[2]) {
		t.Errorf("after the first attempt: notifications %+v", msgs)
	}
	var dereg, term []time.Time
	for _, c := range e.Region.Calls() {
		if c.Caller == "retire" && c.Code == "" && c.Operation == "DeregisterTargets" {
			dereg = append(dereg, c.At)
		}
		if c.Caller == "retire" && c.Operation == "TerminateInstances" {
			term = append(term, c.At)
		}
	}
	if len(dereg) == 0 || len(term) == 0 || term[0].Before(dereg[len(dereg)-1].Add(time.Minute)) {
		t.Errorf("deregistrations at %v, terminations at %v: want every instance drained before the first termination", dereg, term)
	}

	res, err = h.Retire(e.Ctx, in)
	if err != nil {
		t.Fatalf("the schedule's retry: %v", err)
	}
	if !slices.Equal(res.Retired, kept[1:2]) || len(res.Refused) != 0 || len(res.Draining) != 0 {
		t.Fatalf("the retry: %+v, want %s retired", res, kept[1])
	}
	for _, id := range kept {
		if st := e.State(t, id); st != "shutting-down" && st != "terminated" {
			t.Errorf("kept %s is %s", id, st)
		}
	}
	for _, id := range live {
		if st := e.State(t, id); st != "running" {
			t.Errorf("live %s is %s", id, st)
		}
	}
	s := serving(t, e)
	if s.PreviousIDs() != nil || s.PreviousVersion != "" || !s.RetireAfter.IsZero() || !slices.Equal(s.LiveIDs(), live) {
		t.Errorf("serving record %+v, want the live side only", s)
	}
	if msgs := e.Messages("retired"); len(msgs) != 2 || !strings.Contains(msgs[1].Subject, kept[1]) {
		t.Errorf("notifications %+v, want the rest of the side announced once", msgs)
	}
	if n := terminations(e); n != 3 {
		t.Errorf("%d terminations, want 3", n)
	}
	if got := e.Region.ALBServing(f.ListenerARN); len(got) == 0 {
		t.Error("the ALB serves nothing")
	}
}

// TestRetireRefusesTheServingPartOfAFleet: a kept side of which one
// instance was registered again in the serving group (someone's hand) is
// retired but for that one, which is refused, named and left running.
func TestRetireRefusesTheServingPartOfAFleet(t *testing.T) {
	e, h := newEnv(t, sim.Options{ALB: true, Zones: 3, LiveFleet: 3})
	f := e.Fixture
	due := e.Region.Now().Add(time.Hour)
	fleetKept(t, e, due)
	kept := f.LiveInstances
	if _, err := e.Region.ELB().RegisterTargets(e.Test, &elb.RegisterTargetsInput{TargetGroupArn: aws.String(f.TargetGroupARNs[1]),
		Targets: []elbtypes.TargetDescription{{Id: aws.String(kept[2]), Port: aws.Int32(int32(f.AppPort))}}}); err != nil {
		t.Fatal(err)
	}
	e.Region.Advance(e.Test, 2*time.Hour)
	res, err := h.Retire(e.Ctx, sweep(t))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Retired, kept[:2]) || len(res.Refused) != 1 || res.Refused[0].InstanceID != kept[2] {
		t.Fatalf("sweep %+v, want %v retired and %s refused", res, kept[:2], kept[2])
	}
	if st := e.State(t, kept[2]); st != "running" {
		t.Errorf("the serving instance is %s", st)
	}
	if s := serving(t, e); !slices.Equal(s.PreviousIDs(), kept[2:]) {
		t.Errorf("serving record keeps %v, want %v", s.PreviousIDs(), kept[2:])
	}
	if msgs := e.Messages("retire-refused"); len(msgs) != 1 || !strings.Contains(msgs[0].Subject, kept[2]) {
		t.Errorf("refusals %+v", msgs)
	}
}
