package statemachine_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/greenlight/greenlight/harness/localrun"
	"github.com/greenlight/greenlight/harness/sim"
	"github.com/greenlight/greenlight/internal/artifact"
	"github.com/greenlight/greenlight/internal/ledger"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/registry"
)

// Scenario tests run the synthesized Release state machine on the local
// engine against the simulated region and read like coinbase/odin's: input,
// injected fault, the exact path of states, and AWS afterwards.

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// Path pieces, so each expectation reads as the workflow; the poll loops
// (candidateWait, deployWait, bake, rollbackLoop, …) are in path_test.go.
var (
	prepared   = []string{release.StatePrepare, release.StateLaunchCandidate}
	rolledBack = path(rollbackLoop, release.RolledBack)
	rejected   = []string{release.StatePrepare, release.StateRecordRejection, release.Rejected}
	// upToApproval is a release's path until it awaits approval.
	upToApproval = path(prepared, candidateWait, release.StateDeployRelease, deployWait, release.StateRunSmokeTests, release.StateAwaitApproval)
	// switched is the path from the approval to the bake.
	switched = path(release.StateKeepPrevious, release.StateSwitchTraffic, bake)
)

// happyPath is the path of a release with the example config.
var happyPath = path(upToApproval, switched, release.StateRecordRelease, release.Released)

// assertClean checks what every ending must leave: the original live
// instance serving the original version, nothing the release made, the
// lock free.
func assertClean(t *testing.T, env *localrun.Env, res *localrun.Result) {
	t.Helper()
	f := env.Fixture
	if res.LiveInstanceID != f.LiveInstance || res.LiveVersion != f.Version {
		t.Errorf("live is %s serving %q, want %s serving %q", res.LiveInstanceID, res.LiveVersion, f.LiveInstance, f.Version)
	}
	if len(res.LeakedResources) > 0 {
		t.Errorf("leaked: %+v", res.LeakedResources)
	}
	assertUnlocked(t, env)
}

func assertUnlocked(t *testing.T, env *localrun.Env) {
	t.Helper()
	if lk, held, err := env.Deps.Ledger().LockHolder(context.Background(), env.Config.App); err != nil || held {
		t.Errorf("lock still held by %+v (%v)", lk, err)
	}
}

func TestReleaseHappyPath(t *testing.T) {
	env := localrun.NewTestEnv(t, localrun.Options{}, nil)
	res, err := env.Release(ctxT(t), "1.1.0", nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != release.Released {
		t.Fatalf("status %s: %s", res.Status, res.Cause)
	}
	assertPath(t, res, happyPath)
	if res.LiveInstanceID == env.Fixture.LiveInstance || res.LiveVersion != "1.1.0" {
		t.Errorf("live is %s serving %s, want the candidate serving 1.1.0", res.LiveInstanceID, res.LiveVersion)
	}
	if len(res.LeakedResources) > 0 {
		t.Errorf("leaked: %+v", res.LeakedResources)
	}
	assertUnlocked(t, env)
	rec, err := env.Deps.Ledger().Get(context.Background(), env.Config.App, res.ReleaseID)
	if err != nil || rec.Status != ledger.StatusReleased || rec.ApprovedBy == "" || rec.Smoke == nil || !rec.Smoke.Passed {
		t.Errorf("ledger record %+v (%v)", rec, err)
	}
	serving, _, _ := env.Deps.Ledger().Serving(context.Background(), env.Config.App)
	if serving.LiveInstance != res.LiveInstanceID || serving.PreviousInstance != env.Fixture.LiveInstance {
		t.Errorf("serving state %+v", serving)
	}
	kinds := map[string]int{}
	for _, m := range env.Region.Messages() {
		kinds[m.Subject]++
	}
	if len(env.Region.Messages()) != 3 {
		t.Errorf("want started, approval and released notifications, got %v", kinds)
	}
}

// TestPathsDoNotDependOnTheLatencyTable releases on a region twice as slow
// to boot a candidate and to run a deploy: the loops make more passes, and
// the path, as written, is the happy path still.
func TestPathsDoNotDependOnTheLatencyTable(t *testing.T) {
	fast := localrun.NewTestEnv(t, localrun.Options{}, nil)
	lat := sim.DefaultLatencies()
	lat.StatusChecksOK *= 2
	lat.SSMOnline *= 2
	lat.CommandOverhead *= 4
	slow := localrun.NewTestEnv(t, localrun.Options{Latencies: &lat}, nil)
	var entered [2][]string
	for i, env := range []*localrun.Env{fast, slow} {
		res, err := env.Release(ctxT(t), "1.2.0", nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != release.Released {
			t.Fatalf("status %s: %s", res.Status, res.Cause)
		}
		assertPath(t, res, happyPath)
		entered[i] = res.StatesEntered
	}
	if len(entered[1]) <= len(entered[0]) {
		t.Errorf("the slower region's release made no more passes (%d states entered, %d on the reference table): the test proves nothing",
			len(entered[1]), len(entered[0]))
	}
	t.Logf("%d states entered on the reference table, %d on the slower one", len(entered[0]), len(entered[1]))
}

// TestEveryTaskStateRollsBack fails each forward Task state's next
// invocation with a hard AWS error on its first call: before the commit
// point the release must end RolledBack with the old instance serving,
// nothing leaked and the lock free; each case asserts its whole path.
func TestEveryTaskStateRollsBack(t *testing.T) {
	env := localrun.NewTestEnv(t, localrun.Options{}, nil)
	cases := []struct {
		state string
		path  []string
	}{
		{release.StatePrepare, path(release.StatePrepare, rolledBack)},
		{release.StateLaunchCandidate, path(prepared, rolledBack)},
		{release.StateCheckCandidate, path(prepared, release.StateWaitForCandidate, release.StateCheckCandidate, rolledBack)},
		{release.StateDeployRelease, path(prepared, candidateWait, release.StateDeployRelease, rolledBack)},
		{release.StateCheckDeploy, path(prepared, candidateWait, release.StateDeployRelease, release.StateWaitForDeploy, release.StateCheckDeploy, rolledBack)},
		{release.StateRunSmokeTests, path(prepared, candidateWait, release.StateDeployRelease, deployWait, release.StateRunSmokeTests, rolledBack)},
		{release.StateAwaitApproval, path(upToApproval, rolledBack)},
		{release.StateKeepPrevious, path(upToApproval, release.StateKeepPrevious, rolledBack)},
		{release.StateSwitchTraffic, path(upToApproval, release.StateKeepPrevious, release.StateSwitchTraffic, rolledBack)},
		{release.StateVerifyLive, path(upToApproval, release.StateKeepPrevious, release.StateSwitchTraffic, release.StateVerifyLive, rolledBack)},
	}
	for i, c := range cases {
		t.Run(c.state, func(t *testing.T) {
			env.SetFault(&localrun.Fault{State: c.state, Kind: localrun.FaultError})
			defer env.SetFault(nil)
			res, err := env.Release(ctxT(t), "2.0."+strconv.Itoa(i), nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != release.RolledBack {
				t.Fatalf("status %s, want RolledBack: %s", res.Status, res.Cause)
			}
			if !strings.Contains(res.Cause, "injected by --fault error") {
				t.Errorf("cause %q does not name the injected fault", res.Cause)
			}
			assertPath(t, res, c.path)
			assertClean(t, env, res)
		})
	}
}

// TestSwitchActedThenFailed is the defect the reconciling rollback fixes:
// SwitchTraffic moves the Elastic IP to the candidate, then its ledger
// write fails, so Step Functions keeps no record that it moved. A
// rollback replaying its own log terminated the candidate and left the
// Elastic IP on nothing (the site down) while reporting RolledBack; this
// one looks at where the address points and moves it back first.
func TestSwitchActedThenFailed(t *testing.T) {
	env := localrun.NewTestEnv(t, localrun.Options{}, nil)
	env.SetFault(&localrun.Fault{State: release.StateSwitchTraffic, Kind: localrun.FaultErrorAfter})
	res, err := env.Release(ctxT(t), "2.1.0", nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != release.RolledBack || !strings.Contains(res.Cause, "error-after") {
		t.Fatalf("status %s: %s", res.Status, res.Cause)
	}
	assertPath(t, res, path(upToApproval, release.StateKeepPrevious, release.StateSwitchTraffic, rolledBack))
	if !res.LiveServing {
		t.Error("the live instance does not answer through the Elastic IP")
	}
	assertClean(t, env, res)
	// The rollback found the move in AWS: the Elastic IP went to the
	// candidate and came back.
	moves := env.Region.CallsTo(sim.ServiceEC2, "AssociateAddress")
	if len(moves) != 2 || moves[1].Caller != "rollback" {
		t.Errorf("AssociateAddress calls %+v, want the switch's and the rollback's", moves)
	}
}

// TestRecordFailureLeavesTheReleaseStanding makes a part of the
// bookkeeping after the commit point fail for good: the new version stays
// live, the release ends Released with a warning naming exactly what was
// not recorded, every other part is done, and the watch function sends the
// operators an urgent notification saying what to fix.
func TestRecordFailureLeavesTheReleaseStanding(t *testing.T) {
	env := localrun.NewTestEnv(t, localrun.Options{}, nil)
	cases := []struct {
		name, names string
		fault       sim.Fault
		lockHeld    bool
	}{
		{"notification refused", "the notification", sim.Fault{Service: sim.ServiceSNS, Operation: "Publish", Caller: registry.RecordRelease, Code: "AuthorizationError", Always: true}, false},
		{"lock not released", "the release lock (free it with: greenlight lock release --force)",
			sim.Fault{Service: sim.ServiceDynamoDB, Operation: "DeleteItem", Caller: registry.RecordRelease, Code: "AccessDeniedException", Always: true}, true},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			messages := len(env.Region.Messages())
			env.Region.Inject(c.fault)
			version := "2.2." + strconv.Itoa(i)
			res, err := env.Release(ctxT(t), version, nil)
			env.Region.ClearFaults()
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != release.Released {
				t.Fatalf("status %s, want Released: %s", res.Status, res.Cause)
			}
			assertPath(t, res, path(upToApproval, switched, release.StateRecordRelease, release.StateReleaseNotRecorded, release.Released))
			if !strings.Contains(res.Warning, "not recorded: "+c.names+" (") || strings.Count(res.Warning, "; ") != 0 {
				t.Errorf("warning %q, want exactly %q named", res.Warning, c.names)
			}
			if !res.LiveServing || res.LiveVersion != version || res.LiveInstanceID == env.Fixture.LiveInstance {
				t.Errorf("live %s serving %s (answering %v), want the new instance serving %s", res.LiveInstanceID, res.LiveVersion, res.LiveServing, version)
			}
			urgent := false
			for _, m := range env.Region.Messages()[messages:] {
				urgent = urgent || (strings.Contains(m.Subject, "URGENT") && strings.Contains(m.Subject, "not recorded") && strings.Contains(m.Body, c.names))
			}
			if !urgent {
				t.Error("no urgent notification naming what was not recorded")
			}
			ctx := context.Background()
			rec, err := env.Deps.Ledger().Get(ctx, env.Config.App, res.ReleaseID)
			if err != nil || rec.Status != ledger.StatusReleased || len(rec.Warnings) != 1 {
				t.Errorf("ledger %s, warnings %v (%v)", rec.Status, rec.Warnings, err)
			}
			serving, _, _ := env.Deps.Ledger().Serving(ctx, env.Config.App)
			if serving.LiveInstance != res.LiveInstanceID {
				t.Errorf("the serving record names %s, want %s", serving.LiveInstance, res.LiveInstanceID)
			}
			if _, held, _ := env.Deps.Ledger().LockHolder(ctx, env.Config.App); held != c.lockHeld {
				t.Errorf("lock held %v, want %v", held, c.lockHeld)
			}
			if c.lockHeld {
				if _, _, err := env.Deps.Ledger().ForceRelease(ctx, env.Config.App); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestApprovalRejectedOrTimedOut(t *testing.T) {
	env := localrun.NewTestEnv(t, localrun.Options{}, nil)
	for _, c := range []struct {
		policy, version, errName string
		wait                     float64
	}{
		{localrun.ApproveReject, "3.0.0", "Rejected", 0},
		{localrun.ApproveTimeout, "3.0.1", "States.Timeout", 24 * 3600},
	} {
		t.Run(c.policy, func(t *testing.T) {
			env.SetApprove(c.policy)
			defer env.SetApprove(localrun.ApproveAuto)
			res, err := env.Release(ctxT(t), c.version, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != release.RolledBack {
				t.Fatalf("status %s", res.Status)
			}
			assertPath(t, res, path(upToApproval, rolledBack))
			if !strings.Contains(res.Cause, c.errName) {
				t.Errorf("cause %q, want %s", res.Cause, c.errName)
			}
			if waited := res.ModelSeconds.Total - res.ModelSeconds.ExcludingApproval; waited < c.wait || waited > c.wait+1 {
				t.Errorf("the approval waited %.0fs, want %.0fs", waited, c.wait)
			}
			assertClean(t, env, res)
		})
	}
}

// TestVerifyFailureMovesTrafficBack breaks the new version right after
// the switch: the bake sees it and the rollback moves the Elastic IP back.
func TestVerifyFailureMovesTrafficBack(t *testing.T) {
	var env *localrun.Env
	env = localrun.NewTestEnv(t, localrun.Options{AfterInvoke: func(inv localrun.Invocation, out []byte, err error) {
		if inv.State == release.StateSwitchTraffic && err == nil {
			for _, r := range env.Region.Inventory() {
				if r.Kind == sim.KindInstance && r.ID != env.Fixture.LiveInstance && r.State == "running" {
					env.Region.Host(r.ID).StopApp()
				}
			}
		}
	}}, nil)
	res, err := env.Release(ctxT(t), "4.0.0", nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != release.RolledBack || !strings.Contains(res.Cause, "VerifyFailed") {
		t.Fatalf("status %s: %s", res.Status, res.Cause)
	}
	// A look of the bake finds the new version down: the loop is left at
	// VerifyLive, after however many passes the Elastic IP took to settle.
	assertPath(t, res, path(upToApproval, release.StateKeepPrevious, release.StateSwitchTraffic, leftAt(bake, release.StateVerifyLive), rolledBack))
	assertClean(t, env, res)
}

func TestDuplicateEvent(t *testing.T) {
	env := localrun.NewTestEnv(t, localrun.Options{}, nil)
	ctx := ctxT(t)
	body, _ := artifact.Sample("shop", "5.0.0")
	key := env.Key("5.0.0")
	vid, err := env.Upload(ctx, key, body)
	if err != nil {
		t.Fatal(err)
	}
	first, err := env.Deliver(ctx, key, vid, int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	// EventBridge delivers at least once: the same event again, while
	// the release runs and after it ended.
	again, err := env.Deliver(ctx, key, vid, int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	res, err := env.Follow(ctx, first, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	late, err := env.Deliver(ctx, key, vid, int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != release.Released || again.Status != release.Duplicate || late.Status != release.Duplicate || again.ReleaseID != first.ReleaseID {
		t.Fatalf("first %s, again %+v, late %+v", res.Status, again, late)
	}
	if n := len(env.Region.Executions()); n != 1 {
		t.Errorf("%d executions, want 1", n)
	}
	rec, _ := env.Deps.Ledger().Get(ctx, env.Config.App, first.ReleaseID)
	if rec.Duplicates != 2 {
		t.Errorf("ledger counts %d duplicates, want 2", rec.Duplicates)
	}
}

// TestConcurrentReleaseIsRejected starts a second release while the first
// waits for approval: the second ends Rejected with ReleaseInProgress
// naming the first, having launched nothing.
func TestConcurrentReleaseIsRejected(t *testing.T) {
	asked := make(chan string, 1)
	env := localrun.NewTestEnv(t, localrun.Options{Approve: localrun.ApprovePrompt, OnApproval: func(id string) { asked <- id }}, nil)
	ctx := ctxT(t)
	body, _ := artifact.Sample("shop", "6.0.0")
	vid, err := env.Upload(ctx, env.Key("6.0.0"), body)
	if err != nil {
		t.Fatal(err)
	}
	first, err := env.Deliver(ctx, env.Key("6.0.0"), vid, int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	token := awaitToken(ctx, t, env, asked, first.ReleaseID)
	second, err := env.Release(ctx, "6.0.1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if second.Status != release.Rejected || !strings.Contains(second.Cause, "ReleaseInProgress") || !strings.Contains(second.Cause, first.ReleaseID) {
		t.Fatalf("second: %s %s", second.Status, second.Cause)
	}
	assertPath(t, second, rejected)
	if n := len(env.Region.Leaks(second.ReleaseID)); n != 0 || launchedBy(env, second.ReleaseID) {
		t.Errorf("the rejected release created resources")
	}
	// The first goes on when approved.
	if _, err := env.Region.SFN().SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String(token), Output: aws.String(`{"approved":true,"by":"test"}`)}); err != nil {
		t.Fatal(err)
	}
	res, err := env.Follow(ctx, first, time.Now())
	if err != nil || res.Status != release.Released {
		t.Fatalf("first: %v %v", res, err)
	}
}

func launchedBy(env *localrun.Env, releaseID string) bool {
	for _, r := range env.Region.Inventory() {
		if r.Release == releaseID {
			return true
		}
	}
	return false
}

// awaitToken waits until the environment says the release awaits a
// person's approval (Options.OnApproval) and returns the token the ledger
// holds by then.
func awaitToken(ctx context.Context, t *testing.T, env *localrun.Env, asked <-chan string, releaseID string) string {
	t.Helper()
	select {
	case id := <-asked:
		if id != releaseID {
			t.Fatalf("%s awaits approval, want %s", id, releaseID)
		}
	case <-ctx.Done():
		t.Fatalf("%s never awaited approval", releaseID)
	}
	rec, err := env.Deps.Ledger().Get(ctx, env.Config.App, releaseID)
	if err != nil || rec.Token == "" {
		t.Fatalf("%s awaits approval but the ledger holds no token: %+v %v", releaseID, rec, err)
	}
	return rec.Token
}

func TestInvalidArtifactsAreRejected(t *testing.T) {
	env := localrun.NewTestEnv(t, localrun.Options{}, nil)
	good := func(extra ...artifact.Entry) []byte {
		b, err := artifact.Build(append([]artifact.Entry{{Name: "VERSION", Body: "7.0.0\n"}, {Name: artifact.Entrypoint, Body: "#!/bin/sh\n", Mode: 0o755}}, extra...))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	sample := good()
	cases := []struct {
		name, why string
		body      []byte
	}{
		{"not gzip", "not a gzip file", []byte("PK\x03\x04 definitely a zip")},
		{"truncated", "truncated or corrupt", sample[:len(sample)/2]},
		{"traversal", "climbs out", good(artifact.Entry{Name: "../../etc/cron.d/x", Body: "x"})},
		{"absolute path", "absolute path", good(artifact.Entry{Name: "/etc/passwd", Body: "x"})},
		{"escaping link", "points outside", good(artifact.Entry{Name: "data", Type: tar.TypeSymlink, Linkname: "../../../etc"})},
		{"empty", "empty", []byte{}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := env.Release(ctxT(t), "7.0."+string(rune('0'+i)), c.body)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != release.Rejected || !strings.Contains(res.Cause, "ArtifactInvalid") || !strings.Contains(res.Cause, c.why) {
				t.Fatalf("status %s, cause %s; want Rejected with ArtifactInvalid: %s", res.Status, res.Cause, c.why)
			}
			assertPath(t, res, rejected)
			if launchedBy(env, res.ReleaseID) || len(env.Region.CallsTo(sim.ServiceEC2, "RunInstances")) > 0 {
				t.Error("an instance was launched for a rejected artifact")
			}
			assertClean(t, env, res)
		})
	}
}

// TestEveryStepIsIdempotent runs each invocation twice with the same
// input, on the happy path and through a rollback, and fails on any AWS
// change the second run makes.
func TestEveryStepIsIdempotent(t *testing.T) {
	var changes []string
	env := localrun.NewTestEnv(t, localrun.Options{Twice: true, OnRepeatChange: func(inv localrun.Invocation, before, after string) {
		changes = append(changes, inv.State+": "+diff(before, after))
	}}, nil)
	res, err := env.Release(ctxT(t), "8.0.0", nil)
	if err != nil || res.Status != release.Released {
		t.Fatalf("%v %v", res, err)
	}
	env.SetFault(&localrun.Fault{State: release.StateVerifyLive, Kind: localrun.FaultError})
	res, err = env.Release(ctxT(t), "8.0.1", nil)
	if err != nil || res.Status != release.RolledBack {
		t.Fatalf("%v %v", res, err)
	}
	for _, c := range changes {
		t.Errorf("a second run changed AWS: %s", c)
	}
}

func diff(before, after string) string {
	b := map[string]bool{}
	for _, l := range strings.Split(before, "\n") {
		b[l] = true
	}
	var out []string
	for _, l := range strings.Split(after, "\n") {
		if !b[l] {
			out = append(out, "+ "+l)
		}
	}
	return strings.Join(out, "; ")
}

// TestRetirement lets the retention pass: the schedule retires the old
// instance; an instance holding the Elastic IP is never retired, even
// tagged and due.
func TestRetirement(t *testing.T) {
	env := localrun.NewTestEnv(t, localrun.Options{}, nil)
	ctx := ctxT(t)
	res, err := env.Release(ctx, "9.0.0", nil)
	if err != nil || res.Status != release.Released {
		t.Fatalf("%v %v", res, err)
	}
	old := env.Fixture.LiveInstance
	env.LetTimePass(6 * 24 * time.Hour)
	if state := instanceState(env, old); state != "running" {
		t.Fatalf("the old instance is %s after 6 of 7 days", state)
	}
	env.LetTimePass(24*time.Hour + time.Minute)
	if state := instanceState(env, old); state != "shutting-down" && state != "terminated" {
		t.Fatalf("the old instance is %s after 7 days", state)
	}
	if len(env.Region.Firings()) != 1 {
		t.Errorf("firings: %+v", env.Region.Firings())
	}

	// The live instance, tagged as due by mistake: the sweep refuses it.
	live := res.LiveInstanceID
	finishTags(t, env, live, env.Region.Now().Add(-time.Hour))
	out, err := env.Invoke(ctx, "retire", []byte(`{"source":"aws.events","detail-type":"Scheduled Event"}`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), live) || !strings.Contains(string(out), "Elastic IP") {
		t.Errorf("the sweep did not refuse the live instance: %s", out)
	}
	if state := instanceState(env, live); state != "running" {
		t.Fatalf("the live instance is %s", state)
	}
}

func instanceState(env *localrun.Env, id string) string {
	for _, r := range env.Region.Inventory() {
		if r.ID == id {
			return r.State
		}
	}
	return "terminated"
}

// finishTags marks an instance as kept and due, as finish would.
func finishTags(t *testing.T, env *localrun.Env, id string, due time.Time) {
	t.Helper()
	_, err := env.Region.EC2().CreateTags(context.Background(), &ec2.CreateTagsInput{Resources: []string{id}, Tags: []ec2types.Tag{
		{Key: aws.String(release.TagRetireAfter), Value: aws.String(due.UTC().Format(time.RFC3339))},
		{Key: aws.String(release.TagRole), Value: aws.String(release.RolePrevious)},
	}})
	if err != nil {
		t.Fatal(err)
	}
}

// Path pieces of a switch back.
var switchedBack = path(release.StatePrepareSwitchBack, switched, release.StateRecordRelease, release.Released)

// TestRollbackSwitchesBack releases, then rolls back: the old version is
// live again on its instance, whose retirement is cancelled, and the
// instance that served is kept and scheduled in turn.
func TestRollbackSwitchesBack(t *testing.T) {
	env := localrun.NewTestEnv(t, localrun.Options{}, nil)
	ctx := ctxT(t)
	rel, err := env.Release(ctx, "1.1.0", nil)
	if err != nil || rel.Status != release.Released {
		t.Fatalf("release: %v %v", rel, err)
	}
	newLive := rel.LiveInstanceID
	res, err := env.Rollback(ctx, localrun.RollbackRequest{RequestedBy: "test", Reason: "checkout broken"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != release.Released {
		t.Fatalf("rollback: %s %s", res.Status, res.Cause)
	}
	assertPath(t, res, switchedBack)
	if res.LiveInstanceID != env.Fixture.LiveInstance || res.LiveVersion != env.Fixture.Version {
		t.Errorf("live %s serving %s after the rollback", res.LiveInstanceID, res.LiveVersion)
	}
	serving, _, _ := env.Deps.Ledger().Serving(ctx, env.Config.App)
	if serving.LiveInstance != env.Fixture.LiveInstance || serving.PreviousInstance != newLive || serving.PreviousRelease != rel.ReleaseID {
		t.Errorf("serving state %+v", serving)
	}
	var schedules []string
	for _, r := range env.Region.Inventory() {
		if r.Kind == sim.KindSchedule {
			schedules = append(schedules, r.ID)
		}
	}
	if len(schedules) != 1 || !strings.HasSuffix(schedules[0], newLive) {
		t.Errorf("retirement schedules %v, want only %s's", schedules, newLive)
	}
	assertUnlocked(t, env)

	// Rolling back again goes forward to the kept 1.1.0 instance; asking
	// for another release than the kept one is refused.
	refused, err := env.Rollback(ctx, localrun.RollbackRequest{RequestedBy: "test", ToRelease: "shop-0-9-0-0000000000"})
	if err != nil {
		t.Fatal(err)
	}
	if refused.Status != release.Rejected || !strings.Contains(refused.Cause, "NothingToRollBack") {
		t.Fatalf("refused: %s %s", refused.Status, refused.Cause)
	}
	assertPath(t, refused, path(release.StatePrepareSwitchBack, release.StateRecordRejection, release.Rejected))
}

func TestRollbackWithoutPreviousIsRejected(t *testing.T) {
	env := localrun.NewTestEnv(t, localrun.Options{}, nil)
	res, err := env.Rollback(ctxT(t), localrun.RollbackRequest{RequestedBy: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != release.Rejected || !strings.Contains(res.Cause, "nothing to switch back to") {
		t.Fatalf("%s %s", res.Status, res.Cause)
	}
	assertPath(t, res, path(release.StatePrepareSwitchBack, release.StateRecordRejection, release.Rejected))
	assertClean(t, env, res)
}

// TestFailingInstallHookRollsBack releases an artifact whose install hook
// fails: the real deploy script runs (in a sandbox standing in for the
// candidate) and its last line reaches the operator.
func TestFailingInstallHookRollsBack(t *testing.T) {
	env := localrun.NewTestEnv(t, localrun.Options{}, nil)
	body, err := artifact.Build([]artifact.Entry{
		{Name: "VERSION", Body: "10.0.0\n"},
		{Name: artifact.Entrypoint, Mode: 0o755, Body: "#!/bin/sh\nexec sleep infinity\n"},
		{Name: "greenlight/hooks/install", Mode: 0o755, Body: "#!/bin/sh\necho migrating >&2\nexit 3\n"},
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := env.Release(ctxT(t), "10.0.0", body)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != release.RolledBack || !strings.Contains(res.Cause, "DeployFailed") || !strings.Contains(res.Cause, "hook") {
		t.Fatalf("status %s: %s", res.Status, res.Cause)
	}
	assertPath(t, res, failedAt(t, routeForward, "", release.StateCheckDeploy))
	assertClean(t, env, res)
}

// TestPrepareRejectsBadInput: what the Prepare step refuses, with a cause
// that names the problem, before anything is created.
func TestPrepareRejectsBadInput(t *testing.T) {
	env := localrun.NewTestEnv(t, localrun.Options{}, nil)
	ctx := ctxT(t)
	f := env.Fixture
	ec := env.Region.EC2()
	upload := func(key string, body []byte, sha string) (string, error) {
		out, err := env.Region.S3Client().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("greenlight-shop-releases"), Key: aws.String(key),
			Body: bytes.NewReader(body), Metadata: map[string]string{"sha256": sha}})
		if err != nil {
			return "", err
		}
		return aws.ToString(out.VersionId), nil
	}
	deliver := func(t *testing.T, key string, body []byte, sha string) *localrun.Result {
		t.Helper()
		vid, err := upload(key, body, sha)
		if err != nil {
			t.Fatal(err)
		}
		started, err := env.Deliver(ctx, key, vid, int64(len(body)))
		if err != nil {
			t.Fatal(err)
		}
		res, err := env.Follow(ctx, started, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	sample, _ := artifact.Sample("shop", "11.0.0")
	sum := sha256.Sum256(sample)
	good := hex.EncodeToString(sum[:])
	cases := []struct {
		name, want string
		run        func(t *testing.T) *localrun.Result
		undo       func()
	}{
		{"checksum mismatch", "ArtifactInvalid: s3://greenlight-shop-releases/releases/shop-11.0.0.tar.gz: checksum mismatch", func(t *testing.T) *localrun.Result {
			return deliver(t, "releases/shop-11.0.0.tar.gz", sample, strings.Repeat("0", 64))
		}, nil},
		{"VERSION file disagrees with the key", `its VERSION file says "11.0.0" but the key says "11.0.1"`, func(t *testing.T) *localrun.Result {
			return deliver(t, "releases/shop-11.0.1.tar.gz", sample, good)
		}, nil},
		{"key not named after the app", `EventInvalid: key "releases/blog-11.0.0.tar.gz" is not named releases/<app>-<version>.tar.gz for app "shop"`, func(t *testing.T) *localrun.Result {
			return deliver(t, "releases/blog-11.0.0.tar.gz", sample, good)
		}, nil},
		{"Elastic IP not associated", "is not associated with an instance: associate it with the live instance first", func(t *testing.T) *localrun.Result {
			out, _ := ec.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{AllocationIds: []string{f.AllocationID}})
			if _, err := ec.DisassociateAddress(ctx, &ec2.DisassociateAddressInput{AssociationId: out.Addresses[0].AssociationId}); err != nil {
				t.Fatal(err)
			}
			res, err := env.Release(ctx, "11.0.2", nil)
			if err != nil {
				t.Fatal(err)
			}
			return res
		}, func() {
			_, _ = ec.AssociateAddress(ctx, &ec2.AssociateAddressInput{AllocationId: aws.String(f.AllocationID), InstanceId: aws.String(f.LiveInstance)})
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := c.run(t)
			if c.undo != nil {
				defer c.undo()
			}
			if res.Status != release.Rejected || !strings.Contains(res.Cause, c.want) {
				t.Fatalf("status %s, cause %q; want Rejected naming %q", res.Status, res.Cause, c.want)
			}
			assertPath(t, res, rejected)
			if launchedBy(env, res.ReleaseID) {
				t.Error("a rejected release created resources")
			}
			assertUnlocked(t, env)
			rec, err := env.Deps.Ledger().Get(ctx, env.Config.App, res.ReleaseID)
			if err != nil || rec.Status != ledger.StatusRejected || !strings.Contains(rec.Failure, c.want[strings.Index(c.want, ":")+1:]) {
				t.Errorf("ledger %+v %v", rec.Failure, err)
			}
		})
	}
}
