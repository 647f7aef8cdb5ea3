package data

import (
	"context"
	"fmt"

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
//	writes stopped: app stopped, filesystem frozen
//	final snapshot (the point in time is the call; kept as the backup)
//	restore: thaw; a fresh volume from the final snapshot
//	move:    unmount and detach the live volume itself
//	the volume attached and mounted on the candidate, its app started
//	the app answers its health check          → SwitchTraffic closes it
//
// Everything the window does not need happens before it opens. Each pass
// starts what is due and returns; the state machine calls again.
func (h Handler) Cutover(ctx context.Context, d release.Doc) (release.Cutover, error) {
	c := release.Cutover{Steps: map[string]release.Step{}, Deadline: h.D.Now().UTC().Add(planTimeout)}
	if d.Cutover != nil {
		c = *d.Cutover
	}
	c.Checks++
	m := datamove.Mover{D: h.D, Doc: d}
	actions := cutoverPlan(m, d, &c)
	if err := datamove.Check(actions); err != nil {
		return c, err
	}
	done, pending, err := datamove.Advance(ctx, c.Steps, actions)
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
	c.WaitSeconds = pollOutside
	if c.Steps["maintenance-on"].ID != "" {
		c.WaitSeconds = pollInside
	}
	if done {
		err := h.D.Ledger().Update(ctx, d.App, d.ReleaseID, ledger.Change{Event: &ledger.Event{Step: release.StateCutover,
			Detail: fmt.Sprintf("data on %s: volume %s (%s mode); final snapshot %s kept", d.Candidate.InstanceID, c.VolumeID, d.Config.Data.Mode, c.FinalSnapshotID)}})
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
	live, cand := d.Live.InstanceID, d.Candidate.InstanceID
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
		{Name: "set-aside-detach", After: []string{"set-aside-unmount"}, Run: m.Detach("set-aside-detach", aside, cand, false)},
		{Name: "test-copy-delete", After: []string{"set-aside-detach"}, Run: func(ctx context.Context, st *release.Step) (bool, error) {
			if d.IsRollback() {
				return true, nil
			}
			return m.DeleteVolume("test-copy-delete", aside)(ctx, st)
		}},
		{Name: "maintenance-on", After: []string{"adopt", "warm-up-snapshot", "set-aside-detach"}, Run: m.Maintenance("maintenance on", live, "on")},
		{Name: "freeze", After: []string{"maintenance-on"}, Run: m.Data("stop writes", live, "freeze", liveVol)},
		{Name: "final-snapshot", After: []string{"freeze"}, Run: m.Snapshot("final-snapshot", liveVol, datamove.PurposeFinal, false)},
	}
	if d.Config.Data.Mode == release.DataRestore && !d.IsRollback() {
		actions = append(actions,
			datamove.Action{Name: "thaw", After: []string{"final-snapshot"}, Run: m.Data("thaw", live, "thaw", liveVol)},
			datamove.Action{Name: "final-snapshot-completed", After: []string{"final-snapshot"}, Run: func(ctx context.Context, _ *release.Step) (bool, error) {
				return m.SnapshotCompleted(ctx, c.Steps["final-snapshot"].ID)
			}},
			datamove.Action{Name: "volume", After: []string{"final-snapshot-completed"}, Run: m.CreateVolume("volume", func() string { return c.Steps["final-snapshot"].ID }, datamove.PurposeData)},
			datamove.Action{Name: "attach", After: []string{"volume", "set-aside-detach"}, Run: m.Attach("attach", func() string { return c.Steps["volume"].ID }, cand)},
		)
	} else {
		c.VolumeID = liveVol
		actions = append(actions,
			datamove.Action{Name: "live-unmount", After: []string{"final-snapshot"}, Run: m.Data("unmount the live volume", live, "unmount", liveVol)},
			datamove.Action{Name: "live-detach", After: []string{"live-unmount"}, Run: m.Detach("live-detach", func() string { return liveVol }, live, false)},
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
