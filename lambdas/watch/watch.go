// Package watch raises the alarm when an execution ends outside
// greenlight's own outcomes: stopped by hand (ABORTED), out of time
// (TIMED_OUT), or failed with an error no state handled. Such a release
// had no chance to undo what it did: its candidate may run, the
// maintenance page may be up and the release lock is still held. The
// ledger is corrected (Stopped) and the operators are told at once, with
// what to look at; nothing in AWS is changed, since only a person can
// tell what the stopped release left half-done.
//
// It also reads every release that ended Released: one whose bookkeeping
// failed after the commit point (ReleaseNotRecorded) stands, and the
// operators are told what was not recorded.
package watch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/greenlight/greenlight/internal/ledger"
	"github.com/greenlight/greenlight/internal/notify"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/step"
)

// DetailType is the EventBridge detail-type of Step Functions' execution
// status changes.
const DetailType = "Step Functions Execution Status Change"

// outcomes are the error names of the workflows' own failing ends (the
// ledger's terminal statuses are named after them), each reported by the
// step that reached it.
var outcomes = []string{ledger.StatusRolledBack, ledger.StatusRejected, ledger.StatusRollbackFailed}

// Detail is the part of the status change event the handler reads.
type Detail struct {
	ExecutionArn    string `json:"executionArn"`
	StateMachineArn string `json:"stateMachineArn"`
	Name            string `json:"name"`
	Status          string `json:"status"`
}

// Result says what the handler did.
type Result struct {
	Execution string `json:"execution"`
	Status    string `json:"status"`
	Error     string `json:"error,omitempty"`
	// Alarm: the end was outside the outcomes and the operators were
	// told; otherwise the event needed nothing.
	Alarm bool `json:"alarm"`
	// LockHeld: the stopped release still holds the release lock.
	LockHeld bool `json:"lockHeld,omitempty"`
}

// Handler watches executions.
type Handler struct{ D *step.Deps }

// Watch handles one execution status change.
func (h Handler) Watch(ctx context.Context, ev events.EventBridgeEvent) (Result, error) {
	if ev.Source != "aws.states" || ev.DetailType != DetailType {
		return Result{}, release.EventInvalid{Cause: release.Causef("watch takes %q events from aws.states, got %q from %q", DetailType, ev.DetailType, ev.Source)}
	}
	var d Detail
	if err := json.Unmarshal(ev.Detail, &d); err != nil || d.ExecutionArn == "" || d.Name == "" {
		return Result{}, release.EventInvalid{Cause: release.Causef("the event's detail names no execution (%v)", err)}
	}
	res := Result{Execution: d.ExecutionArn, Status: d.Status}
	switch d.Status {
	case "ABORTED", "TIMED_OUT":
	case "FAILED":
		out, err := h.D.AWS.SFN.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(d.ExecutionArn)})
		if err != nil {
			return res, step.AWS("states:DescribeExecution", d.ExecutionArn, err)
		}
		name := aws.ToString(out.Error)
		if slices.Contains(outcomes, name) {
			res.Error = name
			return res, nil // the workflow's own end: already recorded and told
		}
		res.Error = name + ": " + release.Failure{Error: name, Cause: aws.ToString(out.Cause)}.Reason()
	case "SUCCEEDED":
		return h.released(ctx, d, res)
	default:
		return res, nil // running: nothing to say
	}
	res.Alarm = true
	why := stoppedWhy(d.Status, res.Error)
	led := h.D.Ledger()
	app := h.D.Env.App
	// Executions are named after their release.
	rec, err := led.Get(ctx, app, d.Name)
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		rec = ledger.Record{App: app, ReleaseID: d.Name}
	case err != nil:
		return res, step.AWS("dynamodb:GetItem", d.Name, err)
	default:
		err := led.Update(ctx, app, d.Name, ledger.Change{
			Set:    map[string]any{"status": ledger.StatusStopped, "endedAt": h.D.Now().UTC(), "failure": why},
			Remove: []string{"token", "tokenExpires"},
			Event:  &ledger.Event{Step: ledger.StatusStopped, Detail: why},
		})
		if err != nil {
			return res, step.AWS("dynamodb:UpdateItem", d.Name, err)
		}
	}
	lock, held, err := led.LockHolder(ctx, app)
	if err != nil {
		return res, step.AWS("dynamodb:GetItem", "lock "+app, err)
	}
	res.LockHeld = held && lock.ReleaseID == d.Name
	about := notify.Release{App: app, ReleaseID: d.Name, Version: rec.Version, Status: rec.Status, LiveInstance: rec.LiveInstance, CandidateInstance: rec.CandidateInstance}
	if err := h.D.Publisher().Publish(ctx, notify.Stopped(about, d.ExecutionArn, why, res.LockHeld)); err != nil {
		return res, step.AWS("sns:Publish", h.D.Env.Topic, err)
	}
	h.D.Did(ctx, d.Name, "execution-stopped", "status", d.Status, "error", res.Error, "lockHeld", res.LockHeld)
	return res, nil
}

// released looks at a release that ended Released: if its bookkeeping
// failed past the commit point (ReleaseNotRecorded), the release stands
// and a person must fix its record. The ledger gets the warning, if it
// takes it, and the operators an urgent notification.
func (h Handler) released(ctx context.Context, d Detail, res Result) (Result, error) {
	out, err := h.D.AWS.SFN.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(d.ExecutionArn)})
	if err != nil {
		return res, step.AWS("states:DescribeExecution", d.ExecutionArn, err)
	}
	var doc release.Doc
	if err := json.Unmarshal([]byte(aws.ToString(out.Output)), &doc); err != nil {
		return res, nil // not a release document: not ours to judge
	}
	warning := doc.Record.Warning()
	if warning == "" {
		return res, nil
	}
	res.Alarm = true
	res.Error = warning
	if doc.App == "" {
		doc.App = h.D.Env.App
	}
	err = h.D.Ledger().Update(ctx, doc.App, d.Name, ledger.Change{
		Set:   map[string]any{"warnings": []string{warning}},
		Event: &ledger.Event{Step: release.StateReleaseNotRecorded, Detail: warning},
	})
	if err != nil && !errors.Is(err, ledger.ErrNotFound) {
		h.D.Log.ErrorContext(ctx, "watch: ledger not updated", "release", d.Name, "error", err)
	}
	if err := h.D.Publisher().Publish(ctx, notify.NotRecorded(doc, warning)); err != nil {
		return res, step.AWS("sns:Publish", h.D.Env.Topic, err)
	}
	h.D.Did(ctx, d.Name, "released-not-recorded", "warning", warning)
	return res, nil
}

func stoppedWhy(status, errText string) string {
	switch status {
	case "ABORTED":
		return "the execution was stopped (StopExecution) before the release ended"
	case "TIMED_OUT":
		return "the execution ran out of time before the release ended"
	}
	return fmt.Sprintf("the execution failed outside the workflow's outcomes: %s", errText)
}
