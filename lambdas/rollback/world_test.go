package rollback

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"

	"github.com/greenlight/greenlight/harness/sim"
	"github.com/greenlight/greenlight/internal/ledger"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/internal/retirement"
	"github.com/greenlight/greenlight/lambdas/internal/steptest"
)

// These tests set up a world the way a step that acted and then failed
// leaves it (Step Functions drops a failed step's result, so the release
// document says nothing about it), run the rollback's passes as the state
// machine does, and check what AWS shows afterwards.

func TestMain(m *testing.M) { os.Exit(steptest.Main(m)) }

// scene is one test's world with a release in flight: the fixture's
// instance live behind the Elastic IP, the release recorded in the ledger
// holding the lock, and the document as the workflow hands it to the
// rollback (failed at failedAt, with no candidate recorded).
type scene struct {
	e *steptest.Env
	h Handler
	d release.Doc
}

func newScene(t *testing.T, failedAt string) *scene {
	t.Helper()
	e := steptest.New(t, "rollback", sim.Options{})
	body := []byte("release 2.0.0")
	d := e.Doc(t, "2.0.0", e.Upload(t, e.Key("2.0.0"), body, ""), body, e.Config())
	e.Record(t, d)
	if err := e.Ledger.Acquire(e.Test, d.App, d.ReleaseID); err != nil {
		t.Fatal(err)
	}
	d.Failure = &release.Failure{Error: "AWSError", Cause: `{"errorMessage":"` + failedAt + ` failed after acting"}`}
	return &scene{e: e, h: Handler{D: e.Deps}, d: d}
}

// launch starts an instance tagged with the release as the launch step
// does, and lets it boot.
func (s *scene) launch(t *testing.T, releaseID string) string {
	t.Helper()
	id := s.e.Launch(t, map[string]string{release.TagApp: s.d.App, release.TagManaged: release.ManagedValue,
		release.TagRelease: releaseID, release.TagRole: release.RoleCandidate})
	s.e.Region.Advance(s.e.Test, time.Minute)
	return id
}

// switchTo moves the Elastic IP as the switch step does: intent first.
func (s *scene) switchTo(t *testing.T, id string) {
	t.Helper()
	if err := s.e.Ledger.Update(s.e.Test, s.d.App, s.d.ReleaseID, ledger.Change{Set: map[string]any{"switchingTo": id}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.e.Region.EC2().AssociateAddress(s.e.Test, &ec2.AssociateAddressInput{AllocationId: aws.String(s.e.Fixture.AllocationID),
		InstanceId: aws.String(id), AllowReassociation: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
}

// rollBack runs passes as the state machine does (waiting WaitSeconds
// between them, retrying a pass that failed transiently with its input
// unchanged) until the rollback concludes.
func (s *scene) rollBack(t *testing.T) release.Rollback {
	t.Helper()
	for pass := 0; pass < 300; pass++ {
		rb, err := s.h.Rollback(s.e.Ctx, s.d)
		if err != nil {
			var th release.Throttled
			var nv release.NotYetVisible
			if !errors.As(err, &th) && !errors.As(err, &nv) {
				t.Fatalf("pass %d: %v", pass+1, err)
			}
			s.e.Region.Advance(s.e.Test, 2*time.Second)
			continue
		}
		s.d.Rollback = &rb
		if rb.Outcome != "" {
			return rb
		}
		s.e.Region.Advance(s.e.Test, time.Duration(rb.WaitSeconds)*time.Second)
	}
	t.Fatal("the rollback did not conclude in 300 passes")
	return release.Rollback{}
}

// restored checks the end state every successful rollback must leave:
// the live instance serves behind the Elastic IP, tagged live, nothing
// of the release runs, the lock is free and the ledger says RolledBack.
func (s *scene) restored(t *testing.T, rb release.Rollback) {
	t.Helper()
	e, f := s.e, s.e.Fixture
	if rb.Outcome != release.RolledBack {
		t.Fatalf("outcome %q (left %v, errors %v), want %s", rb.Outcome, rb.Left, rb.Errors, release.RolledBack)
	}
	if got := e.EIPHolder(t); got != f.LiveInstance {
		t.Errorf("the Elastic IP is on %q, want the live instance %s", got, f.LiveInstance)
	}
	if st := e.State(t, f.LiveInstance); st != "running" {
		t.Errorf("the live instance is %s", st)
	}
	tags := steptest.Tags(e.Instance(t, f.LiveInstance).Tags)
	if tags[release.TagRetireAfter] != "" || tags[release.TagRole] == release.RolePrevious {
		t.Errorf("the live instance still carries the keep tags: %v", tags)
	}
	if leaks := e.Region.Leaks(s.d.ReleaseID); len(leaks) > 0 {
		t.Errorf("left behind: %+v", leaks)
	}
	if holder := e.Lock(t); holder != "" {
		t.Errorf("the lock is still held by %s", holder)
	}
	if rec := e.Get(t, s.d.ReleaseID); rec.Status != ledger.StatusRolledBack {
		t.Errorf("ledger status %q, want %s", rec.Status, ledger.StatusRolledBack)
	}
}

// TestRollbackFindsTheCandidateByTag: the launch step launched, then
// failed; the document names no candidate. The rollback finds it by its
// release tag and terminates it.
func TestRollbackFindsTheCandidateByTag(t *testing.T) {
	s := newScene(t, release.StateLaunchCandidate)
	cand := s.launch(t, s.d.ReleaseID)
	rb := s.rollBack(t)
	s.restored(t, rb)
	if st := s.e.State(t, cand); st != "terminated" {
		t.Errorf("the candidate is %s, want terminated", st)
	}
	if !slices.Contains(rb.Did, "candidate "+cand+" terminated") {
		t.Errorf("did %v, want the termination listed", rb.Did)
	}
}

// TestRollbackFindsACandidateNotYetListed: EC2 lists an instance under its
// tag some time after launching it (the simulator hides it for 2 s). A
// rollback whose first pass runs at once must still find it by the sweep.
func TestRollbackFindsACandidateNotYetListed(t *testing.T) {
	s := newScene(t, release.StateLaunchCandidate)
	cand := s.e.Launch(t, map[string]string{release.TagApp: s.d.App, release.TagRelease: s.d.ReleaseID})
	rb := s.rollBack(t)
	s.restored(t, rb)
	if st := s.e.State(t, cand); st != "terminated" {
		t.Errorf("the candidate launched just before the rollback is %s, want terminated", st)
	}
}

// TestRollbackMovesTrafficBackFirst: the switch moved the Elastic IP and
// then failed (the reproduction of the defect: the site must not be left
// with its address on a terminated instance). Traffic goes back before
// the candidate is terminated.
func TestRollbackMovesTrafficBackFirst(t *testing.T) {
	s := newScene(t, release.StateSwitchTraffic)
	cand := s.launch(t, s.d.ReleaseID)
	s.d.Candidate = &release.Candidate{Instances: []release.Member{{InstanceID: cand, LaunchedAt: s.e.Region.Now().Add(-time.Minute)}}, LaunchedAt: s.e.Region.Now().Add(-time.Minute)}
	s.switchTo(t, cand)
	rb := s.rollBack(t)
	s.restored(t, rb)
	if rb.TrafficBackAt.IsZero() {
		t.Error("TrafficBackAt not set although the address moved back")
	}
	var order []string
	for _, c := range s.e.Region.Calls() {
		if c.Caller == "rollback" && c.Code == "" && (c.Operation == "AssociateAddress" || c.Operation == "TerminateInstances") {
			order = append(order, c.Operation)
		}
	}
	if len(order) < 2 || order[0] != "AssociateAddress" {
		t.Errorf("rollback's calls in order %v, want AssociateAddress before TerminateInstances", order)
	}
}

// TestRollbackUnkeepsTheLiveInstance: KeepPrevious dated the live instance
// and scheduled its retirement, then the release failed. The live
// instance serves on, so the rollback takes date and schedule off.
func TestRollbackUnkeepsTheLiveInstance(t *testing.T) {
	s := newScene(t, release.StateKeepPrevious)
	e, f := s.e, s.e.Fixture
	due := e.Region.Now().Add(7 * 24 * time.Hour)
	if err := retirement.Keep(e.Test, e.Deps, f.App, "", []string{f.LiveInstance}, due); err != nil {
		t.Fatal(err)
	}
	if _, err := retirement.Schedule(e.Test, e.Deps, retirement.Request{App: f.App, InstanceID: f.LiveInstance, ReleaseID: s.d.ReleaseID}, due); err != nil {
		t.Fatal(err)
	}
	rb := s.rollBack(t)
	s.restored(t, rb)
	if role := steptest.Tags(e.Instance(t, f.LiveInstance).Tags)[release.TagRole]; role != release.RoleLive {
		t.Errorf("the live instance's role is %q, want %s", role, release.RoleLive)
	}
	_, err := e.Region.Scheduler().GetSchedule(e.Test, &scheduler.GetScheduleInput{Name: aws.String(retirement.ScheduleName(f.App, f.LiveInstance)),
		GroupName: aws.String(f.ScheduleGroup)})
	if err == nil || !strings.Contains(err.Error(), "ResourceNotFound") {
		t.Errorf("the retirement schedule of the live instance: err=%v, want it deleted", err)
	}
}

// TestRollbackLeavesOtherReleasesAlone: an instance tagged with another
// release is not this rollback's to end, even of the same app.
func TestRollbackLeavesOtherReleasesAlone(t *testing.T) {
	s := newScene(t, release.StateLaunchCandidate)
	other := s.launch(t, "shop-9-9-9-0000000000")
	mine := s.launch(t, s.d.ReleaseID)
	rb := s.rollBack(t)
	s.restored(t, rb)
	if st := s.e.State(t, other); st != "running" {
		t.Errorf("another release's instance is %s, want running", st)
	}
	if st := s.e.State(t, mine); st != "terminated" {
		t.Errorf("this release's instance is %s, want terminated", st)
	}
}

// TestRollbackWithNothingToUndo: a release that failed before acting
// leaves nothing; the rollback changes nothing in EC2.
func TestRollbackWithNothingToUndo(t *testing.T) {
	s := newScene(t, release.StatePrepare)
	before := s.e.Inventory()
	rb := s.rollBack(t)
	s.restored(t, rb)
	if len(rb.Did) != 0 {
		t.Errorf("did %v, want nothing", rb.Did)
	}
	for _, c := range s.e.Region.Calls() {
		if c.Caller == "rollback" && c.Service == sim.ServiceEC2 && !strings.HasPrefix(c.Operation, "Describe") {
			t.Errorf("rollback called ec2:%s with nothing to undo", c.Operation)
		}
	}
	if after := s.e.Inventory(); !slices.Equal(before, after) {
		t.Errorf("inventory changed:\nbefore %v\nafter  %v", before, after)
	}
}

// TestRollbackPassRepeated: a pass whose result was lost runs again with
// the same input; it finds the termination under way and does not ask
// for it twice.
func TestRollbackPassRepeated(t *testing.T) {
	s := newScene(t, release.StateLaunchCandidate)
	s.launch(t, s.d.ReleaseID)
	in := s.d
	for i := 0; i < 2; i++ {
		if _, err := s.h.Rollback(s.e.Ctx, in); err != nil {
			t.Fatalf("pass %d: %v", i+1, err)
		}
	}
	if n := len(s.e.Region.CallsTo(sim.ServiceEC2, "TerminateInstances")); n != 1 {
		t.Errorf("TerminateInstances called %d times by a repeated pass, want 1", n)
	}
	s.restored(t, s.rollBack(t))
}

// TestRollbackGivesUpOnAPersistentRefusal: an action refused pass after
// pass (here the candidate's termination) ends the rollback after
// GiveUpAfter passes as RollbackFailed, naming what is left, with the
// lock freed and the alarm raised, instead of retrying forever.
func TestRollbackGivesUpOnAPersistentRefusal(t *testing.T) {
	s := newScene(t, release.StateLaunchCandidate)
	cand := s.launch(t, s.d.ReleaseID)
	s.e.Region.Inject(sim.Fault{Service: sim.ServiceEC2, Operation: "TerminateInstances", Code: "UnauthorizedOperation", Always: true})
	rb := s.rollBack(t)
	if rb.Outcome != release.RollbackFailed {
		t.Fatalf("outcome %q, want %s", rb.Outcome, release.RollbackFailed)
	}
	if n := rb.Failures["terminate "+cand]; n != GiveUpAfter {
		t.Errorf("the termination failed %d times before giving up, want %d", n, GiveUpAfter)
	}
	if len(rb.Left) != 1 || !strings.Contains(rb.Left[0], cand) || !strings.Contains(rb.Left[0], "UnauthorizedOperation") {
		t.Errorf("left %q, want the candidate's termination and the error", rb.Left)
	}
	if got := s.e.EIPHolder(t); got != s.e.Fixture.LiveInstance {
		t.Errorf("the Elastic IP is on %q, want the live instance", got)
	}
	if holder := s.e.Lock(t); holder != "" {
		t.Errorf("the lock is still held by %s", holder)
	}
	if rec := s.e.Get(t, s.d.ReleaseID); rec.Status != ledger.StatusRollbackFailed || len(rec.Left) != 1 {
		t.Errorf("ledger %q left %v, want %s with what is left", rec.Status, rec.Left, ledger.StatusRollbackFailed)
	}
	if len(s.e.Messages("rollback-failed")) != 1 {
		t.Errorf("messages %+v, want one rollback-failed alarm", s.e.Messages(""))
	}
}
