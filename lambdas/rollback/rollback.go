// Package rollback is the compensating rollback. It does not replay a log
// of what the release believes it did: Step Functions throws away the
// result of a step that fails, so a step that acted and then failed never
// records what it did. Each pass looks at AWS instead, the way
// coinbase/odin tears a release down by its tag:
//
//   - where traffic goes now (the router's split: the instance the
//     Elastic IP is on), and the ledger's switch intent, written before
//     the address moved;
//   - every instance and volume tagged with this release;
//   - the live side's own tags: the cutover's intent
//     (release.TagCutover, written before the maintenance page went up)
//     and the retirement date KeepPrevious gave each live instance;
//   - behind an ALB, which instances of the side kept from the release
//     before are registered nowhere (the candidates displaced them).
//
// From that it builds the plan that takes the world back to "the live
// instance serves, with the newest data, and nothing this release made
// remains" (snapshots excepted: they are backups), runs what is due, and
// returns; the state machine calls again. Every action looks before it
// acts, so a pass repeated, or run after a lost one, changes nothing that
// is already right.
package rollback

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/greenlight/greenlight/internal/datamove"
	"github.com/greenlight/greenlight/internal/ledger"
	"github.com/greenlight/greenlight/internal/notify"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/internal/retirement"
	"github.com/greenlight/greenlight/internal/traffic"
	"github.com/greenlight/greenlight/lambdas/step"
)

const (
	// WaitSeconds is the pause between passes while something is under
	// way (an instance shutting down).
	WaitSeconds = 10
	// WaitInWindow is the pause while the live data is being restored:
	// users may be on the maintenance page meanwhile.
	WaitInWindow = 2
	// WaitDraining is the pause while a candidate drains from its target
	// group: users are back on the live side, and the deregistration
	// delay is minutes (300 s by default), so looking every 10 s would
	// only cost state transitions.
	WaitDraining = 30
	// SweepAfter is how long after its first pass the rollback looks for
	// what the release made one last time before it concludes. EC2 lists
	// a resource some time after creating it ("Eventual consistency in
	// the Amazon EC2 API", docs.aws.amazon.com/ec2/latest/devguide/
	// eventual-consistency.html: results "might not be immediately
	// visible"; no bound is documented), so an instance launched by a
	// step that then failed may not show under its tag on the first
	// pass. Estimate: the simulated region hides a new instance for 2 s.
	SweepAfter = 30 * time.Second
	// GiveUpAfter is how many passes an action may fail with an error a
	// retry of the pass does not fix (access denied, a data command
	// failing) before the rollback stops and calls a person. A one-off
	// refusal does not abandon the site half rolled back.
	GiveUpAfter = 3
	// TerminatedVisible is how long EC2 keeps listing a terminated
	// instance: "approximately one hour" (TerminateInstances, EC2 API
	// Reference).
	TerminatedVisible = time.Hour
)

// Handler rolls releases back.
type Handler struct{ D *step.Deps }

// Rollback makes one pass: it looks at AWS, does what is due, and says
// whether the world is back.
func (h Handler) Rollback(ctx context.Context, d release.Doc) (release.Rollback, error) {
	rb := release.Rollback{}
	if d.Rollback != nil {
		rb = *d.Rollback
	}
	now := h.D.Now().UTC()
	rb.Checks++
	rb.WaitSeconds = WaitSeconds
	rb.Reason = reasonOf(d)
	if rb.StartedAt.IsZero() {
		rb.StartedAt = now
	}
	if rb.Steps == nil {
		rb.Steps = map[string]release.Step{}
	}
	if rb.Checks == 1 {
		// Say so at once: a rollback can take minutes (data moving back),
		// and the release must not look like it still awaits approval.
		// Best effort: the conclusion records the outcome anyway.
		err := h.D.Ledger().Update(ctx, d.App, d.ReleaseID, ledger.Change{
			Set:    map[string]any{"status": ledger.StatusRollingBack, "failure": rb.Reason},
			Remove: []string{"token", "tokenExpires"},
			Event:  &ledger.Event{Step: release.StateRollback, Detail: "rolling back: " + rb.Reason},
		})
		if err != nil && !errors.Is(err, ledger.ErrNotFound) {
			h.D.Log.WarnContext(ctx, "rollback: ledger not updated", "release", d.ReleaseID, "error", err)
		}
	}
	w, err := h.observe(ctx, d)
	if err != nil {
		return rb, err
	}
	actions := h.plan(d, w)
	done, pending, failed, err := datamove.AdvanceEach(ctx, rb.Steps, actions)
	h.progress(ctx, d, &rb, actions, now)
	if err != nil {
		return rb, err // transient: the state machine retries this pass
	}
	if len(failed) > 0 {
		if rb.Failures == nil {
			rb.Failures, rb.Errors = map[string]int{}, map[string]string{}
		}
		giveUp := false
		for name, ferr := range failed {
			rb.Failures[name]++
			rb.Errors[name] = ferr.Error()
			giveUp = giveUp || rb.Failures[name] >= GiveUpAfter
		}
		if giveUp {
			rb.Outcome = release.RollbackFailed
			rb.Left = left(actions, pending, rb.Errors)
			return rb, h.conclude(ctx, d, &rb)
		}
	}
	if !done {
		switch {
		case inWindow(actions, pending):
			rb.WaitSeconds = WaitInWindow
		case draining(pending):
			rb.WaitSeconds = WaitDraining
		}
		return rb, nil
	}
	// The last word on what the release made is a sweep late enough for
	// EC2 to list everything it created, and users must no longer reach
	// the candidate through a remapping still under way.
	until := rb.StartedAt.Add(SweepAfter)
	if !rb.TrafficBackAt.IsZero() {
		if t := rb.TrafficBackAt.Add(traffic.SettleSeconds * time.Second); t.After(until) {
			until = t
		}
	}
	if wait := until.Sub(now); wait > 0 {
		rb.WaitSeconds = int((wait + time.Second - 1) / time.Second)
		return rb, nil
	}
	rb.Ready, rb.Outcome = true, release.RolledBack
	return rb, h.conclude(ctx, d, &rb)
}

// progress updates what the rollback has done: actions that finished this
// pass, and actions started on an earlier pass that the world no longer
// needs (a terminated instance drops out of the tag search before its
// action sees it terminated).
func (h Handler) progress(ctx context.Context, d release.Doc, rb *release.Rollback, actions []datamove.Action, now time.Time) {
	did, underway := rb.Did, map[string]string{}
	record := func(what string) {
		if what != "" && !slices.Contains(did, what) {
			did = append(did, what)
			h.D.Did(ctx, d.ReleaseID, "rollback", "done", what)
		}
	}
	inPlan := map[string]bool{}
	for _, a := range actions {
		inPlan[a.Name] = true
	}
	for _, name := range sortedKeys(rb.Underway) {
		if !inPlan[name] {
			record(rb.Underway[name])
		}
	}
	for _, a := range actions {
		st := rb.Steps[a.Name]
		switch {
		case st.Done:
			record(a.What)
			if a.Name == actTrafficBack && rb.TrafficBackAt.IsZero() {
				rb.TrafficBackAt = now
			}
		case !st.Started.IsZero() || st.ID != "":
			underway[a.Name] = a.What
		}
	}
	if len(underway) == 0 {
		underway = nil
	}
	rb.Did, rb.Underway = did, underway
}

// world is what AWS says about the release now.
type world struct {
	// split is where traffic goes now: all of it to the instance the
	// Elastic IP is on, or nowhere.
	split traffic.Split
	// liveTags are the (first) live instance's tags.
	liveTags map[string]string
	// liveKept are the live instances KeepPrevious dated (the whole live
	// side: a fleet is kept as one).
	liveKept []string
	// made are the instances this release launched that still exist
	// (any state but terminated), by id.
	made map[string]types.InstanceStateName
	// volumes are the volumes this release created, and the live data
	// volume, by id.
	volumes map[string]types.Volume
	// atLive is the volume at the live instance's data device ("" none).
	atLive string
	// switched: the switch wrote its intent, so users may have written
	// to the candidate's data.
	switched bool
	// keptOut are, behind an ALB, the instances kept from the release
	// before (still running) that are registered in neither target group:
	// the candidates took their place in the idle group. keptSide is that
	// whole kept side (every instance of it still running), which goes
	// back there together for an instant `greenlight rollback`.
	keptOut, keptSide []string
}

func (h Handler) observe(ctx context.Context, d release.Doc) (world, error) {
	w := world{liveTags: map[string]string{}, made: map[string]types.InstanceStateName{}, volumes: map[string]types.Volume{}}
	live := d.Live.InstanceID
	if hasFront(d) {
		sp, err := h.router(d).Split(ctx)
		if err != nil {
			return w, step.Traffic(err)
		}
		w.split = sp
	}
	lives := d.Live.IDs()
	if live != "" {
		insts, err := h.D.DescribeByID(ctx, lives)
		if err != nil {
			return w, err
		}
		for _, i := range insts {
			id := aws.ToString(i.InstanceId)
			if id == live {
				for _, t := range i.Tags {
					w.liveTags[aws.ToString(t.Key)] = aws.ToString(t.Value)
				}
			}
			if tagOf(i.Tags, release.TagRetireAfter) != "" || tagOf(i.Tags, release.TagRole) == release.RolePrevious {
				w.liveKept = append(w.liveKept, id)
			}
		}
		sort.Strings(w.liveKept)
	}
	// A switch back launches nothing: its candidate is the kept instance.
	if !d.IsRollback() {
		out, err := h.D.AWS.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []types.Filter{
			{Name: aws.String("tag:" + release.TagRelease), Values: []string{d.ReleaseID}},
			{Name: aws.String("instance-state-name"), Values: []string{"pending", "running", "stopping", "stopped", "shutting-down"}},
		}})
		if err != nil {
			return w, step.AWS("ec2:DescribeInstances", "instances of "+d.ReleaseID, err)
		}
		for _, i := range step.Instances(out) {
			if id := aws.ToString(i.InstanceId); !slices.Contains(lives, id) {
				w.made[id] = i.State.Name
			}
		}
		if c := d.Candidate; c != nil {
			for _, m := range c.Instances {
				if _, listed := w.made[m.InstanceID]; !listed && m.InstanceID != "" && !slices.Contains(lives, m.InstanceID) {
					if err := h.lookAgain(ctx, m, w.made); err != nil {
						return w, err
					}
				}
			}
		}
	}
	if d.Config.UsesALB() && !d.IsRollback() && live != "" {
		if err := h.observeKept(ctx, d, &w); err != nil {
			return w, err
		}
	}
	if d.Config.HasData() {
		out, err := h.D.AWS.EC2.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{Filters: []types.Filter{
			{Name: aws.String("tag:" + release.TagRelease), Values: []string{d.ReleaseID}},
		}})
		if err != nil {
			return w, step.AWS("ec2:DescribeVolumes", "volumes of "+d.ReleaseID, err)
		}
		for _, v := range out.Volumes {
			if v.State != types.VolumeStateDeleting && v.State != types.VolumeStateDeleted {
				w.volumes[aws.ToString(v.VolumeId)] = v
			}
		}
		if id := d.Live.DataVolumeID; id != "" {
			out, err := h.D.AWS.EC2.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{id}})
			if err != nil {
				return w, step.AWS("ec2:DescribeVolumes", id, err)
			}
			for _, v := range out.Volumes {
				w.volumes[id] = v
			}
		}
		if live != "" {
			at, err := datamove.Mover{D: h.D, Doc: d}.AtDevice(ctx, live)
			if err != nil {
				return w, err
			}
			w.atLive = at
		}
		rec, err := h.D.Ledger().Get(ctx, d.App, d.ReleaseID)
		if err != nil && !errors.Is(err, ledger.ErrNotFound) {
			return w, step.AWS("dynamodb:GetItem", d.ReleaseID, err)
		}
		w.switched = rec.SwitchingTo != ""
	}
	return w, nil
}

// observeKept finds the side kept from the release before (the ledger's
// serving record names it), if the serving record still describes this
// release's live side: the instances of it still running, and those
// registered in neither target group. AWS says which are out, one
// instance at a time, whatever the document believes.
func (h Handler) observeKept(ctx context.Context, d release.Doc, w *world) error {
	serving, ok, err := h.D.Ledger().Serving(ctx, d.App)
	if err != nil {
		return step.AWS("dynamodb:GetItem", "serving "+d.App, err)
	}
	lives := d.Live.IDs()
	if !ok || !slices.Contains(serving.LiveIDs(), d.Live.InstanceID) {
		return nil
	}
	kept := slices.DeleteFunc(slices.Clone(serving.PreviousIDs()), func(id string) bool { return slices.Contains(lives, id) })
	if len(kept) == 0 {
		return nil
	}
	insts, err := h.D.DescribeByID(ctx, kept)
	if err != nil {
		return err
	}
	var running, out []string
	for _, i := range insts {
		if i.State == nil || i.State.Name != types.InstanceStateNameRunning {
			continue
		}
		id := aws.ToString(i.InstanceId)
		running = append(running, id)
		health, err := h.router(d).Health(ctx, traffic.One(id))
		if err != nil {
			return step.Traffic(err)
		}
		if health.Group == "" {
			out = append(out, id)
		}
	}
	if len(out) > 0 {
		sort.Strings(running)
		sort.Strings(out)
		w.keptOut, w.keptSide = out, running
	}
	return nil
}

// lookAgain finds the candidate the release document names but the tag
// search did not list. NotFound means "gone" only for an instance
// terminated over an hour ago; one launched less than an hour ago is not
// visible yet, so the pass is retried rather than the instance left
// running.
func (h Handler) lookAgain(ctx context.Context, c release.Member, made map[string]types.InstanceStateName) error {
	out, err := h.D.AWS.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{c.InstanceID}})
	if step.IsNotFound(err) && h.D.Now().Sub(c.LaunchedAt) >= TerminatedVisible {
		return nil
	}
	if err != nil {
		return step.AWS("ec2:DescribeInstances", c.InstanceID, err)
	}
	for _, i := range step.Instances(out) {
		if i.State.Name != types.InstanceStateNameTerminated {
			made[c.InstanceID] = i.State.Name
		}
	}
	return nil
}

// Action names of the rollback's plan.
const (
	actDataHome     = "data-home"
	actTrafficBack  = "traffic-back"
	actMaintenance  = "maintenance-off"
	actUnkeep       = "unkeep"
	actClearCutover = "clear-cutover-mark"
)

// plan is what takes the world back, given what AWS shows. Order: the
// newest data goes home to the live instance first (under the
// maintenance page wherever users are), then traffic, then the live
// instance opens again; the release's instances and volumes go once
// nothing serves from them.
func (h Handler) plan(d release.Doc, w world) []datamove.Action {
	m := datamove.Mover{D: h.D, Doc: d}
	live := d.Live.InstanceID
	var plan []datamove.Action
	cutover := live != "" && w.liveTags[release.TagCutover] == d.ReleaseID
	home := ""
	if d.Config.HasData() && d.Live.DataVolumeID != "" && live != "" {
		data := authoritative(d, w)
		at, state := attachedTo(w.volumes[data])
		switch {
		case at != live || state != types.VolumeAttachmentStateAttached:
			if at == live {
				at = "" // detaching from home: wait for it, then attach again
			}
			stale := w.atLive
			if stale == data {
				stale = ""
			}
			plan = append(plan, moveHome(m, d, data, at, stale)...)
			home = actDataHome
		case cutover:
			// The data is home; writes may be stopped.
			plan = append(plan,
				datamove.Action{Name: "thaw", Run: m.Data("thaw", live, "thaw", data), What: "writes resumed on " + live},
				datamove.Action{Name: actDataHome, After: []string{"thaw"}, Run: m.Data("mount and start", live, "mount", data),
					What: fmt.Sprintf("data volume %s mounted and the app started on %s", data, live)},
			)
			home = actDataHome
		}
	}
	if cutover {
		plan = append(plan, datamove.Action{Name: actMaintenance, After: []string{home}, Run: m.Maintenance("maintenance off", live, "off"),
			What: "maintenance page off on " + live})
	}
	if live != "" && hasFront(d) && w.split.Weight(live) != 100 {
		what := fmt.Sprintf("Elastic IP %s moved back to %s", d.Live.AllocationID, live)
		if d.Config.UsesALB() {
			what = fmt.Sprintf("all traffic through %s back to %s", d.Live.PublicIP, strings.Join(d.Live.IDs(), ", "))
		}
		plan = append(plan, datamove.Action{Name: actTrafficBack, After: []string{home}, Run: h.trafficBack(d), What: what})
	}
	var terminations []string
	for _, id := range sortedKeys(w.made) {
		name := "terminate " + id
		terminations = append(terminations, name)
		after := []string{actTrafficBack, home}
		if d.Config.UsesALB() {
			// It leaves its target group (drained) before it ends.
			dereg := "deregister " + id
			plan = append(plan, datamove.Action{Name: dereg, After: after, Run: h.deregister(d, id),
				What: "candidate " + id + " deregistered from the load balancer"})
			after = []string{dereg}
		}
		plan = append(plan, datamove.Action{Name: name, After: after, Run: h.terminate(d, id),
			What: "candidate " + id + " terminated"})
	}
	for _, id := range sortedKeys(w.volumes) {
		v := w.volumes[id]
		if id == d.Live.DataVolumeID || tagOf(v.Tags, release.TagRelease) != d.ReleaseID {
			continue
		}
		if at, _ := attachedTo(v); at == live {
			continue // it holds the live data now: it stays
		}
		plan = append(plan, datamove.Action{Name: "delete " + id, After: append([]string{home}, terminations...), Run: h.deleteVolume(m, id),
			What: "volume " + id + " deleted"})
	}
	if len(w.keptOut) > 0 {
		plan = append(plan, datamove.Action{Name: "re-register kept", After: []string{actTrafficBack}, Run: h.reregister(d, w.keptSide),
			What: fmt.Sprintf("%s, kept from the release before, registered again at weight 0 for greenlight rollback", strings.Join(w.keptSide, ", "))})
	}
	if live != "" && len(w.liveKept) > 0 {
		plan = append(plan, datamove.Action{Name: actUnkeep, Run: h.unkeep(d, w.liveKept),
			What: strings.Join(w.liveKept, ", ") + " live again: retirement date and schedule removed"})
	}
	if cutover {
		plan = append(plan, datamove.Action{Name: actClearCutover, After: []string{actMaintenance, actTrafficBack}, Run: h.untag(live, release.TagCutover),
			What: "cutover mark removed from " + live})
	}
	return plan
}

// authoritative is the volume that holds the newest data: the one users
// last wrote to. In move mode, and on a switch back, there is only the
// live volume (wherever it is now); in restore mode it is the volume
// restored for the candidate once traffic may have reached it, else the
// live volume, which never stopped being the source.
func authoritative(d release.Doc, w world) string {
	if d.IsRollback() || d.Config.Data.Mode != release.DataRestore {
		return d.Live.DataVolumeID
	}
	// Users reached no instance but the live one: no intent written and
	// no share of the traffic anywhere else.
	if !w.switched && w.split.Total()-w.split.Weight(d.Live.InstanceID) == 0 {
		return d.Live.DataVolumeID
	}
	for _, id := range sortedKeys(w.volumes) {
		if tagOf(w.volumes[id].Tags, datamove.TagPurpose) == datamove.PurposeData && tagOf(w.volumes[id].Tags, release.TagRelease) == d.ReleaseID {
			return id
		}
	}
	return d.Live.DataVolumeID // the cutover never restored one
}

// moveHome brings the data volume from the instance that holds it (or
// from nowhere, detached) to the live instance: writes stopped where it
// is (maintenance page, app stopped, unmounted), whatever other volume
// sits on the live instance's data device set aside (the stale copy in
// restore mode: kept detached, dated for the retire sweep), then
// attached, mounted and started at home.
func moveHome(m datamove.Mover, d release.Doc, data, from, stale string) []datamove.Action {
	live := d.Live.InstanceID
	var plan []datamove.Action
	var freed []string
	if from != "" {
		vol := func() string { return data }
		plan = append(plan,
			datamove.Action{Name: "maintenance-where-it-is", Run: m.Maintenance("maintenance on", from, "on"), What: "maintenance page on " + from},
			datamove.Action{Name: "stop-writes-where-it-is", After: []string{"maintenance-where-it-is"}, Run: m.Data("unmount", from, "unmount", data),
				What: fmt.Sprintf("writes stopped on %s (%s unmounted)", from, data)},
			datamove.Action{Name: "detach-where-it-is", After: []string{"stop-writes-where-it-is"}, Run: m.Detach("detach", vol, from, false),
				What: fmt.Sprintf("%s detached from %s", data, from)},
		)
		freed = append(freed, "detach-where-it-is")
	}
	if stale != "" {
		sv := func() string { return stale }
		plan = append(plan,
			datamove.Action{Name: "unmount-stale", Run: m.Data("unmount the stale copy", live, "unmount", stale), What: fmt.Sprintf("stale copy %s unmounted on %s", stale, live)},
			datamove.Action{Name: "set-aside-stale", After: []string{"unmount-stale"}, Run: func(ctx context.Context, st *release.Step) (bool, error) {
				ok, err := m.Detach("detach the stale copy", sv, live, false)(ctx, st)
				if !ok || err != nil {
					return ok, err
				}
				// Kept as a backup until the retire sweep's date.
				return true, m.DateForSweep(ctx, stale)
			}, What: fmt.Sprintf("stale copy %s detached from %s, kept until the retention has passed", stale, live)},
		)
		freed = append(freed, "set-aside-stale")
	}
	return append(plan,
		datamove.Action{Name: "attach-home", After: freed, Run: m.Attach("attach", func() string { return data }, live),
			What: fmt.Sprintf("%s attached to %s", data, live)},
		datamove.Action{Name: actDataHome, After: []string{"attach-home"}, Run: m.Data("mount and start", live, "mount", data),
			What: fmt.Sprintf("data volume %s mounted and the app started on %s", data, live)},
	)
}

// router is the release's traffic router.
func (h Handler) router(d release.Doc) traffic.Router { return h.D.Router(d.Config) }

// hasFront reports whether the release knew its front when it failed
// (Prepare found it): before that there is no traffic to bring back.
func hasFront(d release.Doc) bool {
	return d.Live.InstanceID != "" && (d.Live.AllocationID != "" || d.Config.UsesALB())
}

// reregister puts the kept side back in the idle target group, as a
// whole (the candidates, deregistered meanwhile, leave it); done once
// registered.
func (h Handler) reregister(d release.Doc, ids []string) datamove.Run {
	return func(ctx context.Context, st *release.Step) (bool, error) {
		health, err := h.router(d).Register(ctx, traffic.Side{Instances: ids})
		if err != nil {
			return false, step.Traffic(err)
		}
		h.D.Did(ctx, d.ReleaseID, "elasticloadbalancing:RegisterTargets", "instances", strings.Join(ids, ","), "group", health.Group, "undo", true)
		return true, nil
	}
}

// deregister takes a candidate out of the load balancer's target groups;
// done once it has drained and left them.
func (h Handler) deregister(d release.Doc, id string) datamove.Run {
	return func(ctx context.Context, st *release.Step) (bool, error) {
		gone, err := h.router(d).Deregister(ctx, traffic.One(id))
		if err != nil {
			return false, step.Traffic(err)
		}
		if !gone && st.Started.IsZero() {
			st.Started = h.D.Now().UTC()
			h.D.Did(ctx, d.ReleaseID, "elasticloadbalancing:DeregisterTargets", "instance", id, "undo", true)
		}
		return gone, nil
	}
}

// trafficBack sends all traffic back to the live instance (moves the
// Elastic IP to it), if it does not have it.
func (h Handler) trafficBack(d release.Doc) datamove.Run {
	return func(ctx context.Context, st *release.Step) (bool, error) {
		// Behind an ALB the live side's group is the one any of its
		// instances is still registered in: one of a fleet gone (replaced
		// by hand, terminated) must not keep users on the candidates.
		var mv traffic.Move
		var err error
		for _, id := range d.Live.IDs() {
			if mv, err = h.router(d).Shift(ctx, traffic.One(id), 100); !errors.Is(err, traffic.ErrUnsupported) {
				break
			}
		}
		if err != nil {
			return false, step.AWS("switch traffic back", d.Live.PublicIP, err)
		}
		if mv.Changed {
			h.D.Did(ctx, d.ReleaseID, "traffic back", "front", d.Live.PublicIP, "to", strings.Join(d.Live.IDs(), ","), "detail", mv.Detail, "undo", true)
		}
		return true, nil
	}
}

// terminate ends an instance this release launched, and only such an
// instance: its release tag must name this release. It is done once EC2
// reports it terminated.
func (h Handler) terminate(d release.Doc, id string) datamove.Run {
	return func(ctx context.Context, st *release.Step) (bool, error) {
		out, err := h.D.AWS.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
		if err != nil {
			return false, step.AWS("ec2:DescribeInstances", id, err)
		}
		insts := step.Instances(out)
		if len(insts) == 0 {
			return false, release.NotYetVisible{Cause: release.Causef("ec2:DescribeInstances %s: not listed", id)}
		}
		inst := insts[0]
		switch inst.State.Name {
		case types.InstanceStateNameTerminated:
			return true, nil
		case types.InstanceStateNameShuttingDown:
			return false, nil
		}
		if rel := tagOf(inst.Tags, release.TagRelease); rel != d.ReleaseID {
			return false, release.RollbackIncomplete{Cause: release.Causef("refusing to terminate %s: it belongs to release %q, not %s", id, rel, d.ReleaseID)}
		}
		if _, err := h.D.AWS.EC2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}}); err != nil {
			return false, step.AWS("ec2:TerminateInstances", id, err)
		}
		st.Started = h.D.Now().UTC()
		h.D.Did(ctx, d.ReleaseID, "ec2:TerminateInstances", "instance", id, "undo", true)
		return false, nil
	}
}

// deleteVolume deletes a volume the release created once nothing holds
// it: a terminated candidate lets go of its volumes; one still attached
// to a running instance is detached by force, since it is a copy.
func (h Handler) deleteVolume(m datamove.Mover, id string) datamove.Run {
	vol := func() string { return id }
	return func(ctx context.Context, st *release.Step) (bool, error) {
		v, err := m.Volume(ctx, id)
		if err != nil || v == nil {
			return v == nil && err == nil, err
		}
		if at, state := attachedTo(*v); at != "" {
			if state == types.VolumeAttachmentStateAttached {
				return m.Detach("detach "+id, vol, at, true)(ctx, st)
			}
			return false, nil
		}
		return m.DeleteVolume("delete "+id, vol)(ctx, st)
	}
}

// unkeep takes back what KeepPrevious did to the live side: it serves
// again, so none of it carries a retirement date and the side has no
// schedule (named after its first instance; each one's is tried).
func (h Handler) unkeep(d release.Doc, ids []string) datamove.Run {
	return func(ctx context.Context, st *release.Step) (bool, error) {
		what := strings.Join(ids, ", ")
		if _, err := h.D.AWS.EC2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: ids, Tags: []types.Tag{
			{Key: aws.String(release.TagApp), Value: aws.String(d.App)},
			{Key: aws.String(release.TagRole), Value: aws.String(release.RoleLive)},
		}}); err != nil {
			return false, step.AWS("ec2:CreateTags", what, err)
		}
		if _, err := h.D.AWS.EC2.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: ids, Tags: []types.Tag{{Key: aws.String(release.TagRetireAfter)}}}); err != nil {
			return false, step.AWS("ec2:DeleteTags", what, err)
		}
		if err := retirement.Unschedule(ctx, h.D, d.App, append([]string{d.Live.InstanceID}, ids...)...); err != nil {
			return false, err
		}
		return true, nil
	}
}

// untag removes one tag from an instance.
func (h Handler) untag(id, key string) datamove.Run {
	return func(ctx context.Context, st *release.Step) (bool, error) {
		_, err := h.D.AWS.EC2.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{id}, Tags: []types.Tag{{Key: aws.String(key)}}})
		return err == nil, step.AWS("ec2:DeleteTags", id, err)
	}
}

func attachedTo(v types.Volume) (string, types.VolumeAttachmentState) {
	return datamove.AttachedTo(&v)
}

// inWindow reports whether users may be looking at a maintenance page
// while the plan waits: data is on its way home.
func inWindow(actions []datamove.Action, pending []string) bool {
	for _, a := range actions {
		if a.Name == actDataHome || a.Name == actMaintenance {
			return slices.Contains(pending, a.Name)
		}
	}
	return false
}

// draining reports whether a candidate is still leaving its target group.
func draining(pending []string) bool {
	return slices.ContainsFunc(pending, func(name string) bool { return strings.HasPrefix(name, "deregister ") })
}

// left words what the rollback could not do, for the person who must.
func left(actions []datamove.Action, pending []string, errs map[string]string) []string {
	var out []string
	for _, a := range actions {
		if !slices.Contains(pending, a.Name) {
			continue
		}
		what := a.What
		if what == "" {
			what = a.Name
		}
		if e, ok := errs[a.Name]; ok {
			what = "not done: " + what + " (" + e + ")"
		} else {
			what = "not done: " + what
		}
		out = append(out, what)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func tagOf(tags []types.Tag, key string) string {
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
	return Conclude(ctx, h.D, d, rb.Outcome, reasonOf(d), rb.Did, rb.Left, !rb.TrafficBackAt.IsZero())
}

// Conclude writes the end of a failed release: ledger status, lock
// released, pending token cleared, notification. Each of the three is
// tried whatever happened to the others (a ledger that refuses the record
// must not keep the lock held or the operators uninformed); the first
// error is returned, so the step is retried or reported as failed.
func Conclude(ctx context.Context, dep *step.Deps, d release.Doc, outcome, reason string, did, left []string, trafficBack bool) error {
	now := dep.Now().UTC()
	led := dep.Ledger()
	status, detail := ledger.StatusRolledBack, "rolled back: "+reason
	if outcome == release.RollbackFailed {
		status, detail = ledger.StatusRollbackFailed, fmt.Sprintf("ROLLBACK FAILED (%s); left: %s", reason, strings.Join(left, "; "))
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
	msg := notify.RolledBack(d, reason, did, trafficBack)
	if outcome == release.RollbackFailed {
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

// Abandon is the last resort when the rollback itself keeps failing (its
// retries exhausted): it looks at AWS once more, records RollbackFailed
// with what is still to undo, frees the lock and raises the alarm.
func (h Handler) Abandon(ctx context.Context, d release.Doc) (release.Rollback, error) {
	rb := release.Rollback{}
	if d.Rollback != nil {
		rb = *d.Rollback
	}
	rb.Outcome, rb.Reason = release.RollbackFailed, reasonOf(d)
	rb.Left = nil
	if w, err := h.observe(ctx, d); err == nil {
		for _, a := range h.plan(d, w) {
			if !rb.Steps[a.Name].Done {
				rb.Left = append(rb.Left, "not done: "+a.What)
			}
		}
	} else {
		rb.Left = append(rb.Left, "what is left could not be read from AWS ("+err.Error()+"): check the Elastic IP, the release's tagged instances and volumes, and the live instance's maintenance page")
	}
	if d.RollbackError != nil {
		rb.Left = append(rb.Left, "the rollback step failed: "+d.RollbackError.Error+": "+d.RollbackError.Reason())
	}
	return rb, h.conclude(ctx, d, &rb)
}
