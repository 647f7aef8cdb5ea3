// Package rollback is the compensating rollback: it walks the release's
// compensation log newest first and undoes each entry, reconciling toward
// "the live instance serves, nothing this release created remains". Each
// undo looks at AWS before acting, so a repeated pass changes nothing; an
// undo that must wait (an instance shutting down) makes the pass return
// and the state machine call again after a short wait.
package rollback

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/greenlight/greenlight/internal/ledger"
	"github.com/greenlight/greenlight/internal/notify"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/internal/traffic"
	"github.com/greenlight/greenlight/lambdas/data"
	"github.com/greenlight/greenlight/lambdas/step"
)

// Outcomes, matching the state machine's terminal states.
const (
	RolledBack     = "RolledBack"
	RollbackFailed = "RollbackFailed"
)

// WaitSeconds is the pause between passes while an undo is in progress.
const WaitSeconds = 10

// Handler rolls releases back.
type Handler struct{ D *step.Deps }

// Rollback makes one pass over the compensation log.
func (h Handler) Rollback(ctx context.Context, d release.Doc) (release.Rollback, error) {
	rb := release.Rollback{}
	if d.Rollback != nil {
		rb = *d.Rollback
	}
	rb.Checks++
	rb.WaitSeconds = WaitSeconds
	rb.Reason = reasonOf(d)
	if rb.Checks == 1 {
		// Say so at once: a rollback can take minutes (data moving back),
		// and the release must not look like it still awaits approval.
		err := h.D.Ledger().Update(ctx, d.App, d.ReleaseID, ledger.Change{
			Set:    map[string]any{"status": ledger.StatusRollingBack, "failure": rb.Reason},
			Remove: []string{"token", "tokenExpires"},
			Event:  &ledger.Event{Step: "Rollback", Detail: "rolling back: " + rb.Reason},
		})
		if err != nil && !errors.Is(err, ledger.ErrNotFound) {
			return rb, step.AWS("dynamodb:UpdateItem", d.ReleaseID, err)
		}
	}
	log := d.Compensation()
	for i := len(log) - 1 - rb.Done; i >= 0; i-- {
		u := log[i]
		if rb.Steps == nil {
			rb.Steps = map[string]release.Step{}
		}
		done, err := h.undo(ctx, d, u, rb.Steps)
		if err != nil {
			if isTransient(err) {
				return rb, err // the state machine retries this pass
			}
			rb.Outcome = RollbackFailed
			for j := i; j >= 0; j-- {
				rb.Left = append(rb.Left, "undo "+log[j].String())
			}
			rb.Left = append(rb.Left, "failed at "+u.String()+": "+err.Error())
			return rb, h.conclude(ctx, d, &rb)
		}
		if !done {
			return rb, nil
		}
		rb.Done++
		rb.Steps = nil
		if u.Kind == release.UndoEIP {
			rb.TrafficBackAt = h.D.Now().UTC()
		}
		if err := h.D.Ledger().Update(ctx, d.App, d.ReleaseID, ledger.Change{Event: &ledger.Event{Step: "Rollback", Detail: "undone: " + u.String()}}); err != nil {
			return rb, step.AWS("dynamodb:UpdateItem", d.ReleaseID, err)
		}
	}
	if !rb.TrafficBackAt.IsZero() {
		// An Elastic IP remapping takes seconds to reach the network: the
		// release is not reported rolled back while users may still reach
		// the new instance.
		if left := traffic.SettleSeconds*time.Second - h.D.Now().Sub(rb.TrafficBackAt); left > 0 {
			rb.WaitSeconds = int((left + time.Second - 1) / time.Second)
			return rb, nil
		}
	}
	rb.Ready, rb.Outcome = true, RolledBack
	return rb, h.conclude(ctx, d, &rb)
}

func isTransient(err error) bool {
	var t release.Throttled
	var nv release.NotYetVisible
	return errors.As(err, &t) || errors.As(err, &nv)
}

// undo reconciles one entry; done reports that it needs nothing more.
func (h Handler) undo(ctx context.Context, d release.Doc, u release.Undo, steps map[string]release.Step) (bool, error) {
	if data.IsData(u) {
		return data.Undo(ctx, h.D, d, u, steps)
	}
	switch u.Kind {
	case release.UndoEIP:
		mv, err := traffic.ElasticIP{EC2: h.D.AWS.EC2, AllocationID: u.Resource}.Route(ctx, u.From)
		if err != nil {
			return false, step.AWS("switch traffic back", u.Resource, err)
		}
		if mv.Changed {
			h.D.Did(ctx, d.ReleaseID, "ec2:AssociateAddress", "allocation", u.Resource, "to", u.From, "undo", true)
		}
		return true, nil
	case release.UndoLaunch:
		return h.terminate(ctx, d, u.Resource, u.At)
	}
	return false, release.StepFailed{Cause: release.Causef("unknown compensation entry %q", u.Kind)}
}

// TerminatedVisible is how long EC2 keeps listing a terminated instance:
// about an hour (AWS docs, "Terminate Amazon EC2 instances").
const TerminatedVisible = time.Hour

// terminate ends an instance this release launched, and only such an
// instance: its release tag must name this release.
func (h Handler) terminate(ctx context.Context, d release.Doc, id string, launched time.Time) (bool, error) {
	out, err := h.D.AWS.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if step.IsNotFound(err) {
		// NotFound means "gone" only for an instance terminated over an
		// hour ago. One launched less than an hour ago cannot be gone
		// that long: EC2 does not show it yet (eventual consistency), so
		// the pass is retried rather than the instance left running.
		if h.D.Now().Sub(launched) < TerminatedVisible {
			return false, step.AWS("ec2:DescribeInstances", id, err)
		}
		return true, nil
	}
	if err != nil {
		return false, step.AWS("ec2:DescribeInstances", id, err)
	}
	var inst *types.Instance
	for _, r := range out.Reservations {
		for i := range r.Instances {
			inst = &r.Instances[i]
		}
	}
	if inst == nil {
		return true, nil
	}
	switch inst.State.Name {
	case types.InstanceStateNameTerminated:
		return true, nil
	case types.InstanceStateNameShuttingDown:
		return false, nil
	}
	if rel := tagValue(inst.Tags, release.TagRelease); rel != d.ReleaseID {
		return false, release.RollbackIncomplete{Cause: release.Causef("refusing to terminate %s: it belongs to release %q, not %s", id, rel, d.ReleaseID)}
	}
	if _, err := h.D.AWS.EC2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}}); err != nil {
		return false, step.AWS("ec2:TerminateInstances", id, err)
	}
	h.D.Did(ctx, d.ReleaseID, "ec2:TerminateInstances", "instance", id, "undo", true)
	return false, nil
}

func tagValue(tags []types.Tag, key string) string {
	for _, t := range tags {
		if aws.ToString(t.Key) == key {
			return aws.ToString(t.Value)
		}
	}
	return ""
}

// reasonOf words why the release failed.
func reasonOf(d release.Doc) string {
	if d.Failure == nil {
		return "unknown failure"
	}
	if r := d.Failure.Reason(); r != d.Failure.Error {
		return d.Failure.Error + ": " + r
	}
	return d.Failure.Error
}

// conclude records the outcome, releases the lock and notifies.
func (h Handler) conclude(ctx context.Context, d release.Doc, rb *release.Rollback) error {
	return Conclude(ctx, h.D, d, rb.Outcome, reasonOf(d), rb.Left)
}

// Conclude writes the end of a failed release: ledger status, lock
// released, pending token cleared, notification. Each of the three is
// tried whatever happened to the others (a ledger that refuses the record
// must not keep the lock held or the operators uninformed); the first
// error is returned, so the step is retried or reported as failed.
func Conclude(ctx context.Context, dep *step.Deps, d release.Doc, outcome, reason string, left []string) error {
	now := dep.Now().UTC()
	led := dep.Ledger()
	status, detail := ledger.StatusRolledBack, "rolled back: "+reason
	if outcome == RollbackFailed {
		status, detail = ledger.StatusRollbackFailed, fmt.Sprintf("ROLLBACK FAILED (%s); left: %v", reason, left)
	}
	var errs []error
	err := led.Update(ctx, d.App, d.ReleaseID, ledger.Change{
		Set:    map[string]any{"status": status, "endedAt": now, "failure": reason, "left": left},
		Remove: []string{"token", "tokenExpires"},
		Event:  &ledger.Event{At: now, Step: outcome, Detail: detail},
	})
	if err != nil && !errors.Is(err, ledger.ErrNotFound) {
		errs = append(errs, step.AWS("dynamodb:UpdateItem", d.ReleaseID, err))
	}
	if err := led.Release(ctx, d.App, d.ReleaseID); err != nil {
		errs = append(errs, step.AWS("dynamodb:DeleteItem", "lock "+d.App, err))
	}
	msg := notify.RolledBack(d, reason, undone(d, left))
	if outcome == RollbackFailed {
		msg = notify.RollbackFailed(d, reason, left)
	}
	if err := dep.Publisher().Publish(ctx, msg); err != nil {
		errs = append(errs, step.AWS("sns:Publish", dep.Env.Topic, err))
	}
	if len(errs) > 0 {
		return step.First(ctx, dep, d.ReleaseID, "concluding the release ("+outcome+")", errs)
	}
	dep.Did(ctx, d.ReleaseID, outcome, "reason", reason, "left", len(left), "after", now.Sub(d.StartedAt).Round(time.Second).String())
	return nil
}

func undone(d release.Doc, left []string) []string {
	if len(left) > 0 {
		return nil
	}
	var out []string
	log := d.Compensation()
	for i := len(log) - 1; i >= 0; i-- {
		out = append(out, log[i].String())
	}
	return out
}

// Abandon is the last resort when the rollback itself keeps failing (its
// retries exhausted): record RollbackFailed with what the log still holds,
// free the lock and raise the alarm.
func (h Handler) Abandon(ctx context.Context, d release.Doc) (release.Rollback, error) {
	rb := release.Rollback{}
	if d.Rollback != nil {
		rb = *d.Rollback
	}
	rb.Outcome, rb.Reason = RollbackFailed, reasonOf(d)
	log := d.Compensation()
	for i := len(log) - 1 - rb.Done; i >= 0; i-- {
		rb.Left = append(rb.Left, "undo "+log[i].String())
	}
	if d.RollbackError != nil {
		rb.Left = append(rb.Left, "the rollback step failed: "+d.RollbackError.Error+": "+d.RollbackError.Reason())
	}
	return rb, h.conclude(ctx, d, &rb)
}
