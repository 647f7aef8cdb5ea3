package data

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/step"
)

// IsData reports whether an undo entry is one of this package's.
func IsData(u release.Undo) bool {
	switch u.Kind {
	case release.UndoVolume, release.UndoMaintenance, release.UndoWrites, release.UndoVolumeMoved:
		return true
	}
	return false
}

// Undo makes one pass at undoing a data entry of the compensation log;
// steps keeps its progress between passes. It reports whether the entry
// is undone.
func Undo(ctx context.Context, d *step.Deps, doc release.Doc, u release.Undo, steps map[string]release.Step) (bool, error) {
	m := mover{d: d, doc: doc}
	var actions []action
	switch u.Kind {
	case release.UndoVolume:
		actions = m.undoVolume(ctx, doc, u.Resource)
	case release.UndoMaintenance:
		actions = []action{{name: "maintenance-off", run: m.maintenance("maintenance off", u.Resource, "off", nil)}}
	case release.UndoWrites:
		// Writes resume on whatever volume holds the data at the device
		// now: a rollback after the switch may have brought another.
		vol := u.Resource
		if at, err := m.atDevice(ctx, u.From); err != nil {
			return false, err
		} else if at != "" {
			vol = at
		}
		actions = []action{
			{name: "thaw", run: m.dataCommand("thaw", u.From, "thaw", vol, nil)},
			{name: "mount", after: []string{"thaw"}, run: m.dataCommand("mount and start", u.From, "mount", vol, nil)},
		}
	case release.UndoVolumeMoved:
		actions = m.moveBack(u.Resource, u.To, u.From, steps)
	default:
		return false, release.StepFailed{Cause: release.Causef("not a data undo: %s", u)}
	}
	done, _, err := advance(ctx, steps, actions)
	return done, err
}

// undoVolume deletes a volume the release created, unless it now holds
// the live data (a rollback moved it to the old instance): that one stays.
func (m mover) undoVolume(ctx context.Context, doc release.Doc, id string) []action {
	holder := func(ctx context.Context) (string, error) {
		v, err := m.volume(ctx, id)
		if err != nil || v == nil {
			return "", err
		}
		at, _ := attachedTo(v)
		return at, nil
	}
	vol := func() string { return id }
	return []action{
		{name: "keep-if-live", run: func(ctx context.Context, st *release.Step) (bool, error) {
			at, err := holder(ctx)
			if err != nil {
				return false, err
			}
			if at == doc.Live.InstanceID {
				st.ID = "kept"
			}
			return true, nil
		}},
		// A copy on the candidate is disposable: detach it by force
		// rather than depend on the candidate's agent to unmount it.
		{name: "detach", after: []string{"keep-if-live"}, run: func(ctx context.Context, st *release.Step) (bool, error) {
			at, err := holder(ctx)
			if err != nil || at == "" || at == doc.Live.InstanceID {
				return err == nil, err
			}
			return m.detach("detach", vol, at, true)(ctx, st)
		}},
		{name: "delete", after: []string{"detach"}, run: func(ctx context.Context, st *release.Step) (bool, error) {
			at, err := holder(ctx)
			if err != nil || at == doc.Live.InstanceID {
				return err == nil, err
			}
			return m.deleteVolume("delete", vol)(ctx, st)
		}},
	}
}

// moveBack moves a data volume from the instance that holds it to the one
// it came from: writes stopped where it is (maintenance page, app stopped,
// unmounted), whatever volume sits on the destination's device set aside
// (the stale copy a restore-mode switch left there, kept detached), then
// attached, mounted and started where it belongs.
func (m mover) moveBack(volumeID, from, to string, steps map[string]release.Step) []action {
	vol := func() string { return volumeID }
	// other is the volume at the data device on the destination, if it is
	// not the one coming back.
	other := func(ctx context.Context) (string, error) {
		id, err := m.atDevice(ctx, to)
		if id == volumeID {
			id = ""
		}
		return id, err
	}
	stale := func() string { return steps["set-aside-stale"].ID }
	onFrom := func(ctx context.Context) (bool, error) {
		v, err := m.volume(ctx, volumeID)
		if err != nil || v == nil {
			return false, err
		}
		at, _ := attachedTo(v)
		return at == from, nil
	}
	skipUnlessOnFrom := func(run func(context.Context, *release.Step) (bool, error)) func(context.Context, *release.Step) (bool, error) {
		return func(ctx context.Context, st *release.Step) (bool, error) {
			if st.ID == "" {
				there, err := onFrom(ctx)
				if err != nil {
					return false, err
				}
				if !there {
					return true, nil
				}
			}
			return run(ctx, st)
		}
	}
	return []action{
		{name: "maintenance-where-it-is", run: skipUnlessOnFrom(m.maintenance("maintenance on", from, "on", nil))},
		{name: "stop-writes-where-it-is", after: []string{"maintenance-where-it-is"}, run: skipUnlessOnFrom(m.dataCommand("unmount", from, "unmount", volumeID, nil))},
		{name: "detach-where-it-is", after: []string{"stop-writes-where-it-is"}, run: m.detach("detach", vol, from, false)},
		{name: "set-aside-stale", run: func(ctx context.Context, st *release.Step) (bool, error) {
			if st.ID == "" {
				id, err := other(ctx)
				if err != nil || id == "" {
					return err == nil, err
				}
				st.ID = id
			}
			return true, nil
		}},
		{name: "unmount-stale", after: []string{"set-aside-stale"}, run: func(ctx context.Context, st *release.Step) (bool, error) {
			if stale() == "" {
				return true, nil
			}
			return m.dataCommand("unmount the stale copy", to, "unmount", stale(), nil)(ctx, st)
		}},
		{name: "detach-stale", after: []string{"unmount-stale"}, run: m.detach("detach the stale copy", stale, to, false)},
		{name: "attach", after: []string{"detach-where-it-is", "detach-stale"}, run: m.attach("attach", vol, to)},
		{name: "mount", after: []string{"attach"}, run: m.dataCommand("mount and start", to, "mount", volumeID, nil)},
	}
}

// atDevice is the volume attached at the data device of an instance, or "".
func (m mover) atDevice(ctx context.Context, instanceID string) (string, error) {
	out, err := m.d.AWS.EC2.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{Filters: []types.Filter{
		{Name: aws.String("attachment.instance-id"), Values: []string{instanceID}},
		{Name: aws.String("attachment.device"), Values: []string{m.doc.Config.Data.Device}},
	}})
	if err != nil {
		return "", step.AWS("ec2:DescribeVolumes", instanceID, err)
	}
	for _, v := range out.Volumes {
		return aws.ToString(v.VolumeId), nil
	}
	return "", nil
}
