package data

import (
	"context"
	"fmt"

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
	m := mover{d: h.D, doc: d, undo: &c.Undo}
	actions := cutoverPlan(m, d, &c)
	if err := check(actions); err != nil {
		return c, err
	}
	done, pending, err := advance(ctx, c.Steps, actions)
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
	c.Status, c.Ready = describe(pending), done
	c.WaitSeconds = pollOutside
	if c.Steps["maintenance-on"].ID != "" {
		c.WaitSeconds = pollInside
	}
	if done {
		err := h.D.Ledger().Update(ctx, d.App, d.ReleaseID, ledger.Change{Event: &ledger.Event{Step: "Cutover",
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
func cutoverPlan(m mover, d release.Doc, c *release.Cutover) []action {
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
	actions := []action{
		{name: "adopt", run: m.adopt(live, liveVol)},
		{name: "warm-up-snapshot", after: []string{"adopt"}, run: m.snapshot("warm-up-snapshot", liveVol, "warm-up", true)},
		{name: "set-aside", run: func(ctx context.Context, st *release.Step) (bool, error) {
			if st.ID == "" {
				st.ID = testVol
				if d.IsRollback() {
					id, err := m.atDevice(ctx, cand)
					if err != nil {
						return false, err
					}
					st.ID = id
				}
			}
			return true, nil
		}},
		{name: "set-aside-unmount", after: []string{"set-aside"}, run: func(ctx context.Context, st *release.Step) (bool, error) {
			if aside() == "" {
				return true, nil
			}
			return m.dataCommand("unmount "+aside(), cand, "unmount", aside(), nil)(ctx, st)
		}},
		{name: "set-aside-detach", after: []string{"set-aside-unmount"}, run: m.detach("set-aside-detach", aside, cand, false)},
		{name: "test-copy-delete", after: []string{"set-aside-detach"}, run: func(ctx context.Context, st *release.Step) (bool, error) {
			if d.IsRollback() {
				return true, nil
			}
			return m.deleteVolume("test-copy-delete", aside)(ctx, st)
		}},
		{name: "maintenance-on", after: []string{"adopt", "warm-up-snapshot", "set-aside-detach"}, run: m.maintenance("maintenance on", live, "on", func() {
			m.record(release.Undo{Kind: release.UndoMaintenance, Resource: live})
		})},
		{name: "freeze", after: []string{"maintenance-on"}, run: m.dataCommand("stop writes", live, "freeze", liveVol, func() {
			m.record(release.Undo{Kind: release.UndoWrites, Resource: liveVol, From: live})
		})},
		{name: "final-snapshot", after: []string{"freeze"}, run: m.snapshot("final-snapshot", liveVol, "final", false)},
	}
	if d.Config.Data.Mode == release.DataRestore && !d.IsRollback() {
		actions = append(actions,
			action{name: "thaw", after: []string{"final-snapshot"}, run: m.dataCommand("thaw", live, "thaw", liveVol, nil)},
			action{name: "final-snapshot-completed", after: []string{"final-snapshot"}, run: func(ctx context.Context, _ *release.Step) (bool, error) {
				return m.snapshotCompleted(ctx, c.Steps["final-snapshot"].ID)
			}},
			action{name: "volume", after: []string{"final-snapshot-completed"}, run: m.createVolume("volume", func() string { return c.Steps["final-snapshot"].ID }, "data")},
			action{name: "attach", after: []string{"volume", "set-aside-detach"}, run: m.attach("attach", func() string { return c.Steps["volume"].ID }, cand)},
		)
	} else {
		c.VolumeID = liveVol
		actions = append(actions,
			action{name: "live-unmount", after: []string{"final-snapshot"}, run: m.dataCommand("unmount the live volume", live, "unmount", liveVol, nil)},
			action{name: "live-detach", after: []string{"live-unmount"}, run: func(ctx context.Context, st *release.Step) (bool, error) {
				m.record(release.Undo{Kind: release.UndoVolumeMoved, Resource: liveVol, From: live, To: cand})
				return m.detach("live-detach", func() string { return liveVol }, live, false)(ctx, st)
			}},
			action{name: "attach", after: []string{"live-detach", "set-aside-detach"}, run: m.attach("attach", func() string { return liveVol }, cand)},
		)
	}
	serving := func() string {
		if d.Config.Data.Mode == release.DataRestore && !d.IsRollback() {
			return c.Steps["volume"].ID
		}
		return liveVol
	}
	actions = append(actions,
		action{name: "mount", after: []string{"attach"}, run: func(ctx context.Context, st *release.Step) (bool, error) {
			return m.dataCommand("mount the data on the candidate", cand, "mount", serving(), nil)(ctx, st)
		}},
	)
	healthyAfter := "mount"
	if d.IsRollback() {
		// The previous instance still shows the maintenance page its
		// release left up; it goes before users come back to it.
		actions = append(actions, action{name: "maintenance-off-destination", after: []string{"mount"}, run: m.maintenance("maintenance off", cand, "off", nil)})
		healthyAfter = "maintenance-off-destination"
	}
	return append(actions, action{name: "healthy", after: []string{healthyAfter}, run: m.healthy("healthy", cand, d.Candidate.PrivateIP)})
}
