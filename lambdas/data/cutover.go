package data

import (
	"context"
	"fmt"
	"time"

	"github.com/greenlight/greenlight/internal/datamove"
	"github.com/greenlight/greenlight/internal/ledger"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/step"
)

// Cutover puts the live data on the candidate with no write lost:
//
//	warm-up snapshot of the live volume (so the final one copies little)
//	the test copy leaves the candidate
//	maintenance page on the live instance     ← the window opens
//	restore: writes stopped (app stopped, filesystem frozen); final
//	         snapshot; thaw; a fresh volume from the final snapshot
//	move:    writes stopped (app stopped, volume unmounted); final
//	         snapshot; the live volume itself detached
//	(the final snapshot's point in time is the call; it is kept as the
//	backup)
//	the volume attached and mounted on the candidate, its app started
//	the app answers its health check          → SwitchTraffic closes it
//
// Everything the window does not need happens before it opens. A call
// polls the plan (step.Poll): each pass starts what is due, every half
// second once the maintenance page is up; when the budget is spent the
// state machine waits and calls again.
func (h Handler) Cutover(ctx context.Context, d release.Doc) (release.Cutover, error) {
	c := release.Cutover{Steps: map[string]release.Step{}, Deadline: h.D.Now().UTC().Add(planTimeout)}
	if d.Cutover != nil {
		c = *d.Cutover
	}
	return step.PollPasses(ctx, h.D, c, func(ctx context.Context, c release.Cutover) (release.Cutover, bool, time.Duration, error) {
		c, err := h.cutoverPass(ctx, d, c)
		if c.Steps["maintenance-on"].ID != "" {
			return c, c.Ready, pollInside, err
		}
		return c, c.Ready, pollOutside, err
	})
}

// cutoverPass is one pass over the cutover's plan.
func (h Handler) cutoverPass(ctx context.Context, d release.Doc, c release.Cutover) (release.Cutover, error) {
	c.Checks++
	m := datamove.Mover{D: h.D, Doc: d}
	actions := cutoverPlan(m, d, &c)
	if err := datamove.Check(actions); err != nil {
		return c, err
	}
	done, pending, err := datamove.Advance(ctx, h.D.Now().UTC(), c.Steps, actions)
	if st := c.Steps["maintenance-on"]; st.Done && c.MaintenanceOnAt.IsZero() {
		c.MaintenanceOnAt = st.DoneAt
	}
	c.FinalSnapshotID = c.Steps["final-snapshot"].ID
	if d.Config.Data.Mode == release.DataRestore && !d.IsRollback() {
		c.VolumeID = c.Steps["volume"].ID
	}
	if err != nil {
		return c, err
	}
	c.Status, c.Ready = datamove.Describe(pending), done
	c.WaitSeconds = waitSeconds
	if c.Steps["maintenance-on"].ID != "" {
		c.WaitSeconds = 1
	}
	if done {
		err := h.D.Ledger().Update(ctx, d.App, d.ReleaseID, ledger.Change{Event: &ledger.Event{Step: release.StateCutover,
			Detail: fmt.Sprintf("data on %s: volume %s (%s mode); final snapshot %s kept", d.Candidate.First().InstanceID, c.VolumeID, d.Config.Data.Mode, c.FinalSnapshotID)}})
		if err != nil {
			return c, step.AWS("dynamodb:UpdateItem", d.ReleaseID, err)
		}
		return c, nil
	}
	if h.D.Now().After(c.Deadline) {
		return c, release.DataFailed{Cause: release.Causef("the cutover did not finish in %s: %s", planTimeout, c.Status)}
	}
	return c, nil
}

// cutoverPlan lists the cutover's actions for the data mode. A switch
// back to the previous instance moves the live volume itself (whatever
// the mode: it is the fastest way and the volume holds every write), and
// sets aside the stale copy the previous instance may still hold instead
// of deleting a test copy.
func cutoverPlan(m datamove.Mover, d release.Doc, c *release.Cutover) []datamove.Action {
	live, cand := d.Live.InstanceID, d.Candidate.First().InstanceID
	liveVol := d.Live.DataVolumeID
	testVol := ""
	if d.TestData != nil {
		testVol = d.TestData.VolumeID
	}
	// The volume at the data device of the destination, set aside before
	// the live data arrives: the test copy (deleted), or on a switch back
	// the previous instance's stale copy (kept, detached).
	aside := func() string { return c.Steps["set-aside"].ID }
	actions := []datamove.Action{
		{Name: "adopt", Run: m.Adopt(live, liveVol)},
		{Name: "warm-up-snapshot", After: []string{"adopt"}, Run: m.Snapshot("warm-up-snapshot", liveVol, datamove.PurposeWarmUp, true)},
		{Name: "set-aside", Run: func(ctx context.Context, st *release.Step) (bool, error) {
			if st.ID == "" {
				st.ID = testVol
				if d.IsRollback() {
					id, err := m.AtDevice(ctx, cand)
					if err != nil {
						return false, err
					}
					st.ID = id
				}
			}
			return true, nil
		}},
		{Name: "set-aside-unmount", After: []string{"set-aside"}, Run: func(ctx context.Context, st *release.Step) (bool, error) {
			if aside() == "" {
				return true, nil
			}
			return m.Data("unmount "+aside(), cand, "unmount", aside())(ctx, st)
		}},
		{Name: "set-aside-detach", After: []string{"set-aside-unmount"}, Run: func(ctx context.Context, st *release.Step) (bool, error) {
			done, err := m.Detach("set-aside-detach", aside, cand, false)(ctx, st)
			if err != nil || !done || !d.IsRollback() || aside() == "" {
				return done, err
			}
			// A switch back keeps the previous instance's stale copy
			// detached rather than deleting it at once: dated, the
			// retire sweep deletes it after the retention.
			return true, m.DateForSweep(ctx, aside())
		}},
		{Name: "test-copy-delete", After: []string{"set-aside-detach"}, Run: func(ctx context.Context, st *release.Step) (bool, error) {
			if d.IsRollback() {
				return true, nil
			}
			return m.DeleteVolume("test-copy-delete", aside)(ctx, st)
		}},
		{Name: "maintenance-on", After: []string{"adopt", "warm-up-snapshot", "set-aside-detach"}, Run: m.Maintenance("maintenance on", live, "on")},
	}
	if d.Config.Data.Mode == release.DataRestore && !d.IsRollback() {
		// The live volume stays: its filesystem is frozen for the final
		// snapshot's point in time, then thawed.
		actions = append(actions,
			datamove.Action{Name: "freeze", After: []string{"maintenance-on"}, Run: m.Data("stop writes", live, "freeze", liveVol)},
			datamove.Action{Name: "final-snapshot", After: []string{"freeze"}, Run: m.Snapshot("final-snapshot", liveVol, datamove.PurposeFinal, false)},
			datamove.Action{Name: "thaw", After: []string{"final-snapshot"}, Run: m.Data("thaw", live, "thaw", liveVol)},
			datamove.Action{Name: "final-snapshot-completed", After: []string{"final-snapshot"}, Run: func(ctx context.Context, _ *release.Step) (bool, error) {
				return m.SnapshotCompleted(ctx, c.Steps["final-snapshot"].ID)
			}},
			datamove.Action{Name: "volume", After: []string{"final-snapshot-completed"}, Run: m.CreateVolume("volume", func() string { return c.Steps["final-snapshot"].ID }, datamove.PurposeData)},
			datamove.Action{Name: "attach", After: []string{"volume", "set-aside-detach"}, Run: m.Attach("attach", func() string { return c.Steps["volume"].ID }, cand)},
		)
	} else {
		// The live volume itself moves. Unmounting stops the app and
		// leaves the filesystem clean, so the final snapshot taken then
		// is consistent without a freeze: one command less in the window.
		// Amazon EBS, "Create Amazon EBS snapshots"
		// (https://docs.aws.amazon.com/ebs/latest/userguide/ebs-creating-snapshot.html):
		// "we recommend that you unmount the volume, from within the
		// instance, before you create the snapshot"; "The snapshot is
		// created immediately, but it remains in the pending state ...
		// You can continue to use the volume during this time without
		// impacting the snapshot", so it detaches right after the call.
		c.VolumeID = liveVol
		actions = append(actions,
			datamove.Action{Name: "live-unmount", After: []string{"maintenance-on"}, Run: m.Data("stop writes and unmount the live volume", live, "unmount", liveVol)},
			datamove.Action{Name: "final-snapshot", After: []string{"live-unmount"}, Run: m.Snapshot("final-snapshot", liveVol, datamove.PurposeFinal, false)},
			datamove.Action{Name: "live-detach", After: []string{"final-snapshot"}, Run: m.Detach("live-detach", func() string { return liveVol }, live, false)},
			datamove.Action{Name: "attach", After: []string{"live-detach", "set-aside-detach"}, Run: m.Attach("attach", func() string { return liveVol }, cand)},
		)
	}
	serving := func() string {
		if d.Config.Data.Mode == release.DataRestore && !d.IsRollback() {
			return c.Steps["volume"].ID
		}
		return liveVol
	}
	// The app's health is checked on the instance itself, by the data
	// document against 127.0.0.1: the step functions run outside the
	// app's VPC and cannot reach a private address ("Giving Lambda
	// functions access to resources in an Amazon VPC", lambda/latest/dg/
	// configuration-vpc.html: by default a function "can't access
	// resources in a VPC").
	if !d.IsRollback() {
		return append(actions, datamove.Action{Name: "mount", After: []string{"attach"}, Run: func(ctx context.Context, st *release.Step) (bool, error) {
			return m.DataThenHealthy("mount the data on the candidate", cand, "mount", serving())(ctx, st)
		}})
	}
	// The previous instance still shows the maintenance page its release
	// left up: the page goes before its health is checked and users come
	// back to it.
	return append(actions,
		datamove.Action{Name: "mount", After: []string{"attach"}, Run: m.Data("mount the data on the candidate", cand, "mount", liveVol)},
		datamove.Action{Name: "maintenance-off-destination", After: []string{"mount"}, Run: m.Maintenance("maintenance off", cand, "off")},
		datamove.Action{Name: "healthy", After: []string{"maintenance-off-destination"}, Run: m.DataThenHealthy("check health", cand, "start", "")},
	)
}

// TrafficArrives is the last part of the maintenance window: from the
// app answering on the candidate to users reaching it (the switch and the
// address settling, or the load balancer's weights taking effect:
// Doc.TrafficArrivedAt).
const TrafficArrives = "traffic"

// CriticalPath names, for a data mode, the actions the maintenance window
// waits on one after another, from the page going up to users reaching
// the candidate: everything else in the plan happens before the window or
// beside this path (a restore's thaw). A switch back always moves the
// volume, and takes the page off the previous instance before its health
// is checked.
func CriticalPath(mode string, switchBack bool) []string {
	switch {
	case switchBack:
		return []string{"live-unmount", "final-snapshot", "live-detach", "attach", "mount", "maintenance-off-destination", "healthy", TrafficArrives}
	case mode == release.DataRestore:
		return []string{"freeze", "final-snapshot", "final-snapshot-completed", "volume", "attach", "mount", TrafficArrives}
	}
	return []string{"live-unmount", "final-snapshot", "live-detach", "attach", "mount", TrafficArrives}
}

// WindowPart is one action's share of a maintenance window.
type WindowPart struct {
	Action  string  `json:"action"`
	Seconds float64 `json:"seconds"`
}

// WindowParts splits a release's maintenance window along CriticalPath:
// each action's share runs from the end of the one before (the page going
// up, for the first) to its own end as the cutover saw it, so the shares
// add up to the window. Nil without a window.
func WindowParts(d release.Doc) []WindowPart {
	if d.Cutover == nil || d.Cutover.MaintenanceOnAt.IsZero() || d.TrafficArrivedAt().IsZero() {
		return nil
	}
	var parts []WindowPart
	from := d.Cutover.MaintenanceOnAt
	for _, name := range CriticalPath(d.Config.Data.Mode, d.IsRollback()) {
		to := d.TrafficArrivedAt()
		if name != TrafficArrives {
			to = d.Cutover.Steps[name].DoneAt
		}
		if to.Before(from) {
			to = from
		}
		parts = append(parts, WindowPart{Action: name, Seconds: to.Sub(from).Seconds()})
		from = to
	}
	return parts
}
