// Package finish keeps the previous side for rollback and records a
// release. Keeping runs before traffic moves, so its failure rolls the
// release back like any other; recording runs after the commit point
// (the new side serves and was verified), so its failure never moves
// traffic back: the release stands, with a warning naming what was not
// recorded.
package finish

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/greenlight/greenlight/internal/ledger"
	"github.com/greenlight/greenlight/internal/notify"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/internal/retirement"
	"github.com/greenlight/greenlight/lambdas/step"
)

// MaintenanceWindow is how long users saw the maintenance page: from the
// page going up on the old instance to the public endpoint answering from
// the candidate. Zero without a data cutover.
func MaintenanceWindow(d release.Doc) time.Duration {
	if d.Cutover == nil || d.Cutover.MaintenanceOnAt.IsZero() || d.TrafficArrivedAt().IsZero() {
		return 0
	}
	return d.TrafficArrivedAt().Sub(d.Cutover.MaintenanceOnAt)
}

// Handler keeps and records.
type Handler struct{ D *step.Deps }

// Keep tags the side serving now (every live instance) as the one kept
// for rollback, with its retirement date, and schedules its retirement:
// one schedule for the whole side. It runs before the switch: the side
// still serves, and the retire function refuses an instance that holds
// the Elastic IP, is registered in a target group or that the ledger
// records as live, so a date set early never retires a serving instance;
// a rollback takes the date off again.
func (h Handler) Keep(ctx context.Context, d release.Doc) (release.Keep, error) {
	old := d.Live.IDs()
	if len(old) == 0 {
		return release.Keep{}, release.LiveNotFound{Cause: release.Causef("the release's document names no live instance to keep")}
	}
	retireAfter := h.D.Now().UTC().Add(time.Duration(d.Config.RetentionDays) * 24 * time.Hour).Truncate(time.Second)
	if err := retirement.Keep(ctx, h.D, d.App, d.Live.PreviousRelID, old, retireAfter); err != nil {
		return release.Keep{}, err
	}
	name, err := retirement.Schedule(ctx, h.D, retirement.NewRequest(d.App, d.ReleaseID, old), retireAfter)
	if err != nil {
		return release.Keep{}, err
	}
	err = h.D.Ledger().Update(ctx, d.App, d.ReleaseID, ledger.Change{
		Event: &ledger.Event{Step: release.StateKeepPrevious, Detail: fmt.Sprintf("%s will be kept for rollback until %s", strings.Join(old, ", "), retireAfter.Format(time.RFC3339))},
	})
	if err != nil {
		return release.Keep{}, step.AWS("dynamodb:UpdateItem", d.ReleaseID, err)
	}
	return release.Keep{InstanceIDs: old, RetireAfter: retireAfter, Schedule: name}, nil
}

// Record is the bookkeeping after the commit point: the new side (every
// candidate instance) tagged live, its own retirement (a switch back
// revives a kept side) cancelled, the serving record, the release's status, the notification
// and the lock. Each part is tried whatever happens to the others; the
// error names every part that failed, so that the warning the workflow
// keeps says exactly what a person must fix.
func (h Handler) Record(ctx context.Context, d release.Doc) (release.Record, error) {
	now := h.D.Now().UTC()
	old, cands := d.Live.IDs(), d.Candidate.IDs()
	cand, previous := strings.Join(cands, ", "), strings.Join(old, ", ")
	var retireAfter time.Time
	if d.Keep != nil {
		retireAfter = d.Keep.RetireAfter
	}
	liveRelease := d.ReleaseID
	if d.IsRollback() {
		liveRelease = d.RestoresRelease
	}
	led := h.D.Ledger()
	lead := now.Sub(d.StartedAt)
	window := MaintenanceWindow(d)
	set := map[string]any{"status": ledger.StatusReleased, "endedAt": now, "liveInstance": d.Candidate.First().InstanceID, "leadTimeSeconds": lead.Seconds()}
	if window > 0 {
		set["maintenanceWindowSeconds"] = window.Seconds()
	}
	var failed []part
	try := func(what string, err error) {
		if err != nil {
			failed = append(failed, part{what, err})
		}
	}
	tags := "the live instance's tags"
	if len(cands) > 1 {
		tags = "the live instances' tags"
	}
	try(tags+" (greenlight:role=live on "+cand+")", retirement.MarkLive(ctx, h.D, d.App, liveRelease, d.Version, cands))
	try("the cancellation of the retirement schedule of "+cand, retirement.Unschedule(ctx, h.D, d.App, cands...))
	serving := ledger.Serving{App: d.App, LiveRelease: liveRelease, LiveVersion: d.Version,
		PreviousRelease: d.Live.PreviousRelID, PreviousVersion: d.Live.Version, RetireAfter: retireAfter}
	serving.SetLive(cands)
	serving.SetPrevious(old)
	try("the serving record (what greenlight rollback switches back to)", wrap("dynamodb:PutItem", "serving "+d.App, led.SetServing(ctx, serving)))
	// The notification goes first, once: a retried step (a part below
	// failed transiently) finds it sent in the ledger and does not tell
	// the operators twice. Sent but not marked (the status write failed)
	// is the one case that repeats it.
	// A record that cannot be read is taken as not notified: better told
	// twice than not at all.
	rec, err := led.Get(ctx, d.App, d.ReleaseID)
	if err != nil {
		h.D.Log.WarnContext(ctx, "record: the release's record could not be read; notifying", "release", d.ReleaseID, "error", err)
	}
	if rec.NotifiedAt.IsZero() {
		err := h.D.Publisher().Publish(ctx, notify.Released(d, previous, retireAfter, lead, window))
		try("the notification", wrap("sns:Publish", h.D.Env.Topic, err))
		if err == nil {
			set["notifiedAt"] = now
		}
	}
	event := &ledger.Event{At: now, Step: release.Released, Detail: fmt.Sprintf("%s live on %s; %s kept until %s (greenlight rollback)",
		d.Version, cand, previous, retireAfter.Format(time.RFC3339))}
	if rec.Status == ledger.StatusReleased {
		event = nil // a retry: the timeline says it once
	}
	try("the release's status in the ledger", wrap("dynamodb:UpdateItem", d.ReleaseID, led.Update(ctx, d.App, d.ReleaseID, ledger.Change{Set: set, Event: event})))
	try("the release lock (free it with: greenlight lock release --force)", wrap("dynamodb:DeleteItem", "lock "+d.App, led.Release(ctx, d.App, d.ReleaseID)))
	if len(failed) > 0 {
		return release.Record{}, notRecorded(failed)
	}
	h.D.Did(ctx, d.ReleaseID, "released", "live", cand, "previous", previous, "retireAfter", retireAfter.Format(time.RFC3339))
	return release.Record{At: now}, nil
}

// part is one piece of the record that failed.
type part struct {
	what string
	err  error
}

func wrap(op, resource string, err error) error { return step.AWS(op, resource, err) }

// notRecorded is the error for parts that failed: Throttled when any of
// them may succeed on a retry (the state machine retries the whole step;
// every part is idempotent), AWSError otherwise.
func notRecorded(failed []part) error {
	var b strings.Builder
	b.WriteString("released, but not recorded: ")
	transient := false
	for i, f := range failed {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s (%v)", f.what, f.err)
		var t release.Throttled
		var nv release.NotYetVisible
		transient = transient || errors.As(f.err, &t) || errors.As(f.err, &nv)
	}
	if transient {
		return release.Throttled{Cause: release.Cause(b.String())}
	}
	return release.AWSError{Cause: release.Cause(b.String())}
}
