package statemachine_test

import (
	"context"
	"encoding/json"
	"github.com/greenlight/greenlight/internal/release"
	"strings"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/greenlight/greenlight/events"
	"github.com/greenlight/greenlight/harness/localrun"
	"github.com/greenlight/greenlight/internal/artifact"
	"github.com/greenlight/greenlight/internal/awsapi"
	"github.com/greenlight/greenlight/internal/ledger"
	"github.com/greenlight/greenlight/lambdas/registry"
	"github.com/greenlight/greenlight/lambdas/watch"
)

// stoppedMessages are the alarms the watch function sent.
func stoppedMessages(env *localrun.Env, from int) []string {
	var out []string
	for _, m := range env.Region.Messages()[from:] {
		if strings.Contains(m.Subject, "release stopped") {
			out = append(out, m.Subject+"\n"+m.Body)
		}
	}
	return out
}

// TestWatchIgnoresTheWorkflowsOwnEnds: a rolled-back release also ends
// FAILED; the engine delivers the status change as EventBridge does, and
// the watch function, seeing the workflow's own outcome, says nothing.
func TestWatchIgnoresTheWorkflowsOwnEnds(t *testing.T) {
	env := localrun.NewTestEnv(t, localrun.Options{}, nil)
	env.SetApprove(localrun.ApproveReject)
	res, err := env.Release(ctxT(t), "3.1.0", nil)
	if err != nil || res.Status != release.RolledBack {
		t.Fatalf("%+v %v", res, err)
	}
	if calls := env.Region.CallsTo("SFN", "DescribeExecution"); len(calls) == 0 {
		t.Error("the watch function never looked at the failed execution")
	}
	if msgs := stoppedMessages(env, 0); len(msgs) > 0 {
		t.Errorf("alarm for a rolled-back release: %v", msgs)
	}
	if rec, err := env.Deps.Ledger().Get(ctxT(t), env.Config.App, res.ReleaseID); err != nil || rec.Status != ledger.StatusRolledBack {
		t.Errorf("ledger %s %v", rec.Status, err)
	}
}

// TestWatchRaisesTheAlarmForAStoppedRelease: a release stopped by hand
// while it waits for approval undid nothing; the watch function records
// it as Stopped and tells the operators what to look at, the lock being
// still held.
func TestWatchRaisesTheAlarmForAStoppedRelease(t *testing.T) {
	asked := make(chan string, 1)
	env := localrun.NewTestEnv(t, localrun.Options{OnApproval: func(id string) { asked <- id }}, nil)
	env.SetApprove(localrun.ApprovePrompt)
	ctx := ctxT(t)
	body, err := artifact.Sample(env.Config.App, "3.2.0")
	if err != nil {
		t.Fatal(err)
	}
	vid, err := env.Upload(ctx, env.Key("3.2.0"), body)
	if err != nil {
		t.Fatal(err)
	}
	started, err := env.Deliver(ctx, env.Key("3.2.0"), vid, int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-asked:
	case <-ctx.Done():
		t.Fatal("never awaited approval")
	}
	waiting, err := env.Deps.Ledger().Get(ctx, env.Config.App, started.ReleaseID)
	if err != nil || waiting.Token == "" {
		t.Fatalf("no approval token: %+v %v", waiting, err)
	}
	before := len(env.Region.Messages())
	ev, err := events.ExecutionStatusChange(started.Execution, env.Stack.Release.ARN(), started.ReleaseID, "ABORTED", env.Region.Now())
	if err != nil {
		t.Fatal(err)
	}
	out, err := env.Invoke(ctx, registry.Watch, ev)
	if err != nil {
		t.Fatal(err)
	}
	var res watch.Result
	if err := json.Unmarshal(out, &res); err != nil || !res.Alarm || !res.LockHeld {
		t.Fatalf("result %s %v: want an alarm with the lock held", out, err)
	}
	rec, err := env.Deps.Ledger().Get(ctx, env.Config.App, started.ReleaseID)
	if err != nil || rec.Status != ledger.StatusStopped || !strings.Contains(rec.Failure, "stopped") || rec.Token != "" {
		t.Errorf("ledger %+v %v", rec, err)
	}
	msgs := stoppedMessages(env, before)
	if len(msgs) != 1 || !strings.Contains(msgs[0], "URGENT") || !strings.Contains(msgs[0], "greenlight lock release --force") ||
		!strings.Contains(msgs[0], "greenlight status "+started.ReleaseID) || !strings.Contains(msgs[0], "AwaitingApproval") {
		t.Errorf("alarm: %v", msgs)
	}

	// The same event again (EventBridge delivers at least once): the
	// ledger stays Stopped.
	if _, err := env.Invoke(ctx, registry.Watch, ev); err != nil {
		t.Fatal(err)
	}
	// The local engine cannot stop an execution: end it by rejecting.
	if _, err := env.Region.SFN().SendTaskFailure(ctx, &sfn.SendTaskFailureInput{TaskToken: aws.String(waiting.Token), Error: aws.String("Rejected")}); err != nil {
		t.Fatal(err)
	}
	if res, err := env.Follow(ctx, started, time.Now()); err != nil || res.Status != release.RolledBack {
		t.Fatalf("%+v %v", res, err)
	}
}

// failedWith answers DescribeExecution with one error.
type failedWith struct {
	awsapi.SFN
	err string
}

func (f failedWith) DescribeExecution(context.Context, *sfn.DescribeExecutionInput, ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error) {
	return &sfn.DescribeExecutionOutput{Status: sfntypes.ExecutionStatusFailed, Error: aws.String(f.err), Cause: aws.String("Invalid path '$.switch.to'")}, nil
}

// TestWatchRaisesTheAlarmForAnUnhandledError: FAILED with an error no
// state handled is an alarm; FAILED with a workflow outcome is not.
func TestWatchRaisesTheAlarmForAnUnhandledError(t *testing.T) {
	env := localrun.NewTestEnv(t, localrun.Options{}, nil)
	ctx := ctxT(t)
	for _, c := range []struct {
		err   string
		alarm bool
	}{{"States.Runtime", true}, {release.RolledBack, false}, {release.Rejected, false}, {release.RollbackFailed, false}} {
		d := *env.Deps
		d.AWS.SFN = failedWith{d.AWS.SFN, c.err}
		arn := strings.Replace(env.Stack.Release.ARN(), ":stateMachine:", ":execution:", 1) + ":shop-3-3-0-0000000000"
		b, err := events.ExecutionStatusChange(arn, env.Stack.Release.ARN(), "shop-3-3-0-0000000000", "FAILED", env.Region.Now())
		if err != nil {
			t.Fatal(err)
		}
		var ev lambdaevents.EventBridgeEvent
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Fatal(err)
		}
		before := len(env.Region.Messages())
		res, err := watch.Handler{D: &d}.Watch(ctx, ev)
		if err != nil || res.Alarm != c.alarm || (len(stoppedMessages(env, before)) == 1) != c.alarm {
			t.Errorf("%s: %+v %v, want alarm %v", c.err, res, err, c.alarm)
		}
		if c.alarm && !strings.Contains(res.Error, "States.Runtime: Invalid path") {
			t.Errorf("%s: error %q", c.err, res.Error)
		}
	}
}
