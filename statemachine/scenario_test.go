package statemachine_test

import (
	"archive/tar"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/greenlight/greenlight/internal/artifact"
	"github.com/greenlight/greenlight/internal/ledger"
	"github.com/greenlight/greenlight/internal/localrun"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/internal/sim"
	sm "github.com/greenlight/greenlight/statemachine"
)

// Scenario tests run the synthesized Release state machine on the local
// engine against the simulated region and read like coinbase/odin's: input,
// injected fault, the exact path of states, and AWS afterwards.

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// Path pieces, so each expectation reads as the workflow.
var (
	prepared      = []string{sm.Prepare, sm.LaunchCandidate}
	candidateWait = []string{sm.WaitForCandidate, sm.CheckCandidate, sm.CandidateReady}
	deployWait    = []string{sm.WaitForDeploy, sm.CheckDeploy, sm.DeployDone}
	bakeRound     = []string{sm.WaitBeforeVerify, sm.VerifyLive, sm.Baked}
	rolledBack    = []string{sm.Rollback, sm.RollbackDone, sm.RolledBack}
	// terminated is a rollback that terminates the candidate and waits
	// for it to be gone (30 s shutting down in the simulated region,
	// looked at every 10 s).
	terminated = path(sm.Rollback, sm.RollbackDone, repeat([]string{sm.WaitForRollback, sm.Rollback, sm.RollbackDone}, 3), sm.RolledBack)
	rejected   = []string{sm.Prepare, sm.RecordRejection, sm.Rejected}
)

func repeat(p []string, n int) []string {
	var out []string
	for i := 0; i < n; i++ {
		out = append(out, p...)
	}
	return out
}

func path(parts ...any) []string {
	var out []string
	for _, p := range parts {
		switch v := p.(type) {
		case string:
			out = append(out, v)
		case []string:
			out = append(out, v...)
		}
	}
	return out
}

// happyPath is the path of a release with the example config: the
// candidate is ready at its fifth check, the deploy at its fourth, and the
// bake takes four rounds.
var happyPath = path(prepared, repeat(candidateWait, 5), sm.DeployRelease, repeat(deployWait, 4),
	sm.RunSmokeTests, sm.AwaitApproval, sm.SwitchTraffic, sm.VerifyLive, sm.Baked, repeat(bakeRound, 4), sm.Finish, sm.Released)

func assertPath(t *testing.T, res *localrun.Result, want []string) {
	t.Helper()
	if got := res.StatesEntered; strings.Join(got, " > ") != strings.Join(want, " > ") {
		t.Errorf("path\n got: %s\nwant: %s", strings.Join(got, " > "), strings.Join(want, " > "))
	}
}

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
	if res.Status != sm.Released {
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

// TestEveryTaskStateRollsBack fails each forward Task state's next
// invocation with a hard AWS error: the release must end RolledBack with
// the old instance serving, nothing leaked and the lock free.
func TestEveryTaskStateRollsBack(t *testing.T) {
	env := localrun.NewTestEnv(t, localrun.Options{}, nil)
	cases := []struct {
		state string
		path  []string
	}{
		{sm.Prepare, path(sm.Prepare, rolledBack)},
		{sm.LaunchCandidate, path(prepared, rolledBack)},
		{sm.CheckCandidate, path(prepared, sm.WaitForCandidate, sm.CheckCandidate, terminated)},
		{sm.DeployRelease, nil},
		{sm.CheckDeploy, nil},
		{sm.RunSmokeTests, nil},
		{sm.AwaitApproval, nil},
		{sm.SwitchTraffic, nil},
		{sm.VerifyLive, nil},
		{sm.Finish, nil},
	}
	for i, c := range cases {
		t.Run(c.state, func(t *testing.T) {
			env.SetFault(&localrun.Fault{State: c.state, Kind: localrun.FaultError})
			defer env.SetFault(nil)
			res, err := env.Release(ctxT(t), "2.0."+string(rune('0'+i)), nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != sm.RolledBack {
				t.Fatalf("status %s, want RolledBack: %s", res.Status, res.Cause)
			}
			if !strings.Contains(res.Cause, "injected by --fault error") {
				t.Errorf("cause %q does not name the injected fault", res.Cause)
			}
			if c.path != nil {
				assertPath(t, res, c.path)
			}
			entered := strings.Join(res.StatesEntered, " > ")
			if !strings.Contains(entered, c.state+" > "+sm.Rollback) {
				t.Errorf("%s did not lead into %s: %s", c.state, sm.Rollback, entered)
			}
			assertClean(t, env, res)
		})
	}
}

func TestApprovalRejectedOrTimedOut(t *testing.T) {
	env := localrun.NewTestEnv(t, localrun.Options{}, nil)
	beforeApproval := path(prepared, repeat(candidateWait, 5), sm.DeployRelease, repeat(deployWait, 4), sm.RunSmokeTests, sm.AwaitApproval)
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
			if res.Status != sm.RolledBack {
				t.Fatalf("status %s", res.Status)
			}
			assertPath(t, res, path(beforeApproval, terminated))
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
		if inv.State == sm.SwitchTraffic && err == nil {
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
	if res.Status != sm.RolledBack || !strings.Contains(res.Cause, "VerifyFailed") {
		t.Fatalf("status %s: %s", res.Status, res.Cause)
	}
	assertPath(t, res, path(prepared, repeat(candidateWait, 5), sm.DeployRelease, repeat(deployWait, 4), sm.RunSmokeTests,
		sm.AwaitApproval, sm.SwitchTraffic, sm.VerifyLive, sm.Baked, sm.WaitBeforeVerify, sm.VerifyLive, terminated))
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
	if res.Status != sm.Released || again.Status != sm.Duplicate || late.Status != sm.Duplicate || again.ReleaseID != first.ReleaseID {
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
	env := localrun.NewTestEnv(t, localrun.Options{Approve: localrun.ApprovePrompt}, nil)
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
	token := waitForToken(t, env, first.ReleaseID)
	second, err := env.Release(ctx, "6.0.1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if second.Status != sm.Rejected || !strings.Contains(second.Cause, "ReleaseInProgress") || !strings.Contains(second.Cause, first.ReleaseID) {
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
	if err != nil || res.Status != sm.Released {
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

// waitForToken waits until a release awaits approval and returns the
// token the ledger holds.
func waitForToken(t *testing.T, env *localrun.Env, releaseID string) string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		rec, err := env.Deps.Ledger().Get(context.Background(), env.Config.App, releaseID)
		if err == nil && rec.Token != "" {
			return rec.Token
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s never awaited approval", releaseID)
	return ""
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
			if res.Status != sm.Rejected || !strings.Contains(res.Cause, "ArtifactInvalid") || !strings.Contains(res.Cause, c.why) {
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
	if err != nil || res.Status != sm.Released {
		t.Fatalf("%v %v", res, err)
	}
	env.SetFault(&localrun.Fault{State: sm.VerifyLive, Kind: localrun.FaultError})
	res, err = env.Release(ctxT(t), "8.0.1", nil)
	if err != nil || res.Status != sm.RolledBack {
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
	if err != nil || res.Status != sm.Released {
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
