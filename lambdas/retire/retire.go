// Package retire terminates instances kept for rollback once their
// retention has passed. It is fired by each kept side's one-time schedule
// (the side as a whole: one instance, or a fleet) and by a daily sweep
// that catches any schedule that did not fire. It
// never touches an instance that holds an Elastic IP, is live in the
// ledger, or is not greenlight's; it refuses and says so instead. Whether
// an instance holds an Elastic IP is the traffic router's to say.
package retire

import (
	"cmp"
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

	"github.com/greenlight/greenlight/internal/notify"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/internal/retirement"
	"github.com/greenlight/greenlight/internal/traffic"
	"github.com/greenlight/greenlight/lambdas/step"
)

// Input is either a schedule's payload (InstanceIDs, or the InstanceID of
// a schedule made before fleets) or the daily sweep rule's scheduled event
// (Source "aws.events").
type Input struct {
	App         string   `json:"app,omitempty"`
	InstanceIDs []string `json:"instanceIds,omitempty"`
	InstanceID  string   `json:"instanceId,omitempty"`
	ReleaseID   string   `json:"releaseId,omitempty"`
	Source      string   `json:"source,omitempty"`
	DetailType  string   `json:"detail-type,omitempty"`
}

// ids are the instances a schedule retires.
func (in Input) ids() []string {
	return retirement.Request{InstanceIDs: in.InstanceIDs, InstanceID: in.InstanceID}.IDs()
}

// Result lists what happened to each instance looked at.
type Result struct {
	Retired []string  `json:"retired"`
	Refused []Refusal `json:"refused"`
	NotDue  []string  `json:"notDue"`
	// Draining are instances deregistered from the load balancer whose
	// deregistration delay outlasted the invocation: the next sweep
	// retires them.
	Draining []string `json:"draining,omitempty"`
	// VolumesDeleted are data volumes left behind by retired instances;
	// SnapshotsPruned are backups past the retention period.
	VolumesDeleted  []string `json:"volumesDeleted,omitempty"`
	SnapshotsPruned []string `json:"snapshotsPruned,omitempty"`
}

// KeepSnapshots is how many of the newest backups survive pruning,
// whatever their age.
const KeepSnapshots = 3

// Refusal is an instance that was due but is not safe to retire.
type Refusal struct {
	InstanceID string `json:"instanceId"`
	Why        string `json:"why"`
}

// Handler retires instances.
type Handler struct{ D *step.Deps }

// Retire handles a schedule (its side as a whole) or a sweep.
func (h Handler) Retire(ctx context.Context, in Input) (Result, error) {
	res := Result{Retired: []string{}, Refused: []Refusal{}, NotDue: []string{}}
	ids := in.ids()
	sweep := len(ids) == 0
	if sweep && in.Source != "aws.events" {
		return res, release.EventInvalid{Cause: release.Causef("retire needs instanceIds, an instanceId or the sweep's scheduled event, got source %q", in.Source)}
	}
	var listed []types.Instance
	var err error
	if sweep {
		listed, err = h.kept(ctx)
	} else {
		listed, err = h.D.DescribeByID(ctx, ids)
	}
	if err != nil {
		return res, err
	}
	if sweep {
		ids = nil
		for _, i := range listed {
			ids = append(ids, aws.ToString(i.InstanceId))
		}
		sort.Strings(ids)
	}
	if len(ids) > 0 {
		if err := h.retire(ctx, ids, listed, &res); err != nil {
			return res, err
		}
	}
	if sweep {
		if err := h.leftovers(ctx, &res); err != nil {
			return res, err
		}
		if err := h.prune(ctx, &res); err != nil {
			return res, err
		}
	}
	return res, nil
}

// leftovers deletes greenlight's data volumes that a retired instance left
// behind (adopted or restored volumes do not go with the instance): they
// are detached and carry a due retirement date.
func (h Handler) leftovers(ctx context.Context, res *Result) error {
	out, err := h.D.AWS.EC2.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{Filters: []types.Filter{
		{Name: aws.String("tag:" + release.TagApp), Values: []string{h.D.Env.App}},
		{Name: aws.String("tag:" + release.TagManaged), Values: []string{release.ManagedValue}},
		{Name: aws.String("tag-key"), Values: []string{release.TagRetireAfter}},
		{Name: aws.String("status"), Values: []string{"available"}},
	}})
	if err != nil {
		return step.AWS("ec2:DescribeVolumes", "left-over volumes of "+h.D.Env.App, err)
	}
	for _, v := range out.Volumes {
		due, err := time.Parse(time.RFC3339, tagOf(v.Tags, release.TagRetireAfter))
		if err != nil || h.D.Now().Before(due) {
			continue
		}
		id := aws.ToString(v.VolumeId)
		if _, err := h.D.AWS.EC2.DeleteVolume(ctx, &ec2.DeleteVolumeInput{VolumeId: v.VolumeId}); err != nil && !step.IsNotFound(err) {
			return step.AWS("ec2:DeleteVolume", id, err)
		}
		h.D.Did(ctx, tagOf(v.Tags, release.TagRelease), "ec2:DeleteVolume", "volume", id, "retired", true)
		res.VolumesDeleted = append(res.VolumesDeleted, id)
	}
	return nil
}

// prune deletes the app's backup snapshots older than the retention
// period, always keeping the newest KeepSnapshots.
func (h Handler) prune(ctx context.Context, res *Result) error {
	out, err := h.D.AWS.EC2.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"}, Filters: []types.Filter{
		{Name: aws.String("tag:" + release.TagApp), Values: []string{h.D.Env.App}},
		{Name: aws.String("tag:" + release.TagManaged), Values: []string{release.ManagedValue}},
		{Name: aws.String("status"), Values: []string{"completed"}},
	}})
	if err != nil {
		return step.AWS("ec2:DescribeSnapshots", "backups of "+h.D.Env.App, err)
	}
	snaps := out.Snapshots
	sort.Slice(snaps, func(i, j int) bool { return aws.ToTime(snaps[i].StartTime).After(aws.ToTime(snaps[j].StartTime)) })
	cutoff := h.D.Now().Add(-time.Duration(h.D.Env.RetentionDays) * 24 * time.Hour)
	for i, sn := range snaps {
		if i < KeepSnapshots || aws.ToTime(sn.StartTime).After(cutoff) {
			continue
		}
		id := aws.ToString(sn.SnapshotId)
		if _, err := h.D.AWS.EC2.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: sn.SnapshotId}); err != nil && !step.IsNotFound(err) {
			if step.ErrorCode(err) == "InvalidSnapshot.InUse" {
				continue // a volume is being created from it
			}
			return step.AWS("ec2:DeleteSnapshot", id, err)
		}
		h.D.Did(ctx, tagOf(sn.Tags, release.TagRelease), "ec2:DeleteSnapshot", "snapshot", id, "pruned", true)
		res.SnapshotsPruned = append(res.SnapshotsPruned, id)
	}
	return nil
}

func tagOf(tags []types.Tag, key string) string {
	for _, t := range tags {
		if aws.ToString(t.Key) == key {
			return aws.ToString(t.Value)
		}
	}
	return ""
}

// kept lists the app's instances carrying a retirement date.
func (h Handler) kept(ctx context.Context) ([]types.Instance, error) {
	out, err := h.D.AWS.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []types.Filter{
		{Name: aws.String("tag:" + release.TagApp), Values: []string{h.D.Env.App}},
		{Name: aws.String("tag:" + release.TagManaged), Values: []string{release.ManagedValue}},
		{Name: aws.String("tag-key"), Values: []string{release.TagRetireAfter}},
		{Name: aws.String("instance-state-name"), Values: []string{"pending", "running", "stopping", "stopped"}},
	}})
	if err != nil {
		return nil, step.AWS("ec2:DescribeInstances", "kept instances of "+h.D.Env.App, err)
	}
	return step.Instances(out), nil
}

// markDataVolumes dates greenlight's data volumes on an instance about to
// be retired, so the sweep deletes them once the instance let go of them.
func (h Handler) markDataVolumes(ctx context.Context, instanceID string, due time.Time) error {
	out, err := h.D.AWS.EC2.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{Filters: []types.Filter{
		{Name: aws.String("attachment.instance-id"), Values: []string{instanceID}},
		{Name: aws.String("attachment.delete-on-termination"), Values: []string{"false"}},
		{Name: aws.String("tag:" + release.TagManaged), Values: []string{release.ManagedValue}},
	}})
	if err != nil {
		return step.AWS("ec2:DescribeVolumes", "data volumes of "+instanceID, err)
	}
	var ids []string
	for _, v := range out.Volumes {
		ids = append(ids, aws.ToString(v.VolumeId))
	}
	if len(ids) == 0 {
		return nil
	}
	_, err = h.D.AWS.EC2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: ids, Tags: []types.Tag{
		{Key: aws.String(release.TagApp), Value: aws.String(h.D.Env.App)},
		{Key: aws.String(release.TagRetireAfter), Value: aws.String(due.UTC().Format(time.RFC3339))},
	}})
	if err != nil {
		return step.AWS("ec2:CreateTags", "data volumes of "+instanceID, err)
	}
	return nil
}

// dueInstance is an instance due for retirement, as DescribeInstances
// showed it.
type dueInstance struct {
	id   string
	tags map[string]string
	due  time.Time
}

// retire retires a set of kept instances together: a schedule's side, or
// what the sweep found. Each instance is refused on its own grounds, and
// the others go on: behind an ALB they drain at the same time, one
// deregistration delay for the whole side. Every instance terminated is
// recorded and announced even when another one failed; the first error is
// returned, and the schedule's retry (or the next sweep) finishes the rest.
func (h Handler) retire(ctx context.Context, ids []string, listed []types.Instance, res *Result) error {
	due, gone, err := h.inspect(ctx, ids, listed, res)
	if err != nil {
		return err
	}
	byID := map[string]dueInstance{}
	var clear []string
	for _, k := range due {
		byID[k.id] = k
		clear = append(clear, k.id)
	}
	router := traffic.For(h.D.AWS, h.D.Env.Front)
	if h.D.Env.Front.ListenerARN != "" && len(clear) > 0 {
		// Behind an ALB the kept side stayed registered at weight 0 for an
		// instant rollback: it leaves its target group, drained, first. An
		// instance in a group with weight is refused (ErrServing).
		drained, draining, refused, err := h.drain(ctx, router, clear)
		if err != nil {
			return err
		}
		for _, r := range refused {
			if err := h.refuse(ctx, res, r.InstanceID, byID[r.InstanceID].tags, r.Why); err != nil {
				return err
			}
		}
		// The next sweep finds them drained.
		res.Draining = append(res.Draining, draining...)
		clear = drained
	}
	var safe []string
	for _, id := range clear {
		// Any front counts, not only the app's: Serves needs no
		// allocation id.
		serves, how, err := router.Serves(ctx, id)
		if err != nil {
			return step.Traffic(err)
		}
		if serves {
			if err := h.refuse(ctx, res, id, byID[id].tags, how+": it serves users"); err != nil {
				return err
			}
			continue
		}
		safe = append(safe, id)
	}
	led := h.D.Ledger()
	if len(safe) > 0 {
		serving, ok, err := led.Serving(ctx, h.D.Env.App)
		if err != nil {
			return step.AWS("dynamodb:GetItem", "serving "+h.D.Env.App, err)
		}
		var notLive []string
		for _, id := range safe {
			if ok && slices.Contains(serving.LiveIDs(), id) {
				if err := h.refuse(ctx, res, id, byID[id].tags, "the ledger records it as the live instance"); err != nil {
					return err
				}
				continue
			}
			notLive = append(notLive, id)
		}
		safe = notLive
	}
	var retired []dueInstance
	var failed error
	for _, id := range safe {
		k := byID[id]
		if err := h.terminate(ctx, k); err != nil {
			failed = cmp.Or(failed, err)
			continue
		}
		retired = append(retired, k)
		res.Retired = append(res.Retired, id)
	}
	if err := h.forget(ctx, append(gone, res.Retired...)); err != nil {
		failed = cmp.Or(failed, err)
	}
	if err := h.announce(ctx, retired); err != nil {
		failed = cmp.Or(failed, err)
	}
	return failed
}

// inspect sorts the instances as EC2 listed them: gone (terminated, or
// no longer listed), refused (not this app's managed instance), not due,
// or due.
func (h Handler) inspect(ctx context.Context, ids []string, listed []types.Instance, res *Result) (due []dueInstance, gone []string, err error) {
	byID := map[string]types.Instance{}
	for _, i := range listed {
		byID[aws.ToString(i.InstanceId)] = i
	}
	for _, id := range ids {
		inst, ok := byID[id]
		if !ok || inst.State == nil || inst.State.Name == types.InstanceStateNameTerminated || inst.State.Name == types.InstanceStateNameShuttingDown {
			gone = append(gone, id)
			continue
		}
		tags := map[string]string{}
		for _, t := range inst.Tags {
			tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
		if tags[release.TagManaged] != release.ManagedValue || tags[release.TagApp] != h.D.Env.App {
			why := fmt.Sprintf("it is not managed by greenlight for %s (tags %s=%q, %s=%q)", h.D.Env.App, release.TagApp, tags[release.TagApp], release.TagManaged, tags[release.TagManaged])
			if err := h.refuse(ctx, res, id, tags, why); err != nil {
				return nil, nil, err
			}
			continue
		}
		at, err := time.Parse(time.RFC3339, tags[release.TagRetireAfter])
		if err != nil || h.D.Now().Before(at) {
			// Not due: a rollback re-dated or cleared it. Nothing to say.
			res.NotDue = append(res.NotDue, id)
			continue
		}
		due = append(due, dueInstance{id: id, tags: tags, due: at})
	}
	return due, gone, nil
}

// refuse records and announces an instance that was due but is not safe
// to retire.
func (h Handler) refuse(ctx context.Context, res *Result, id string, tags map[string]string, why string) error {
	res.Refused = append(res.Refused, Refusal{InstanceID: id, Why: why})
	h.D.Did(ctx, tags[release.TagRelease], "retire-refused", "instance", id, "why", why)
	if err := h.D.Publisher().Publish(ctx, notify.RetireRefused(h.D.Env.App, id, why)); err != nil {
		return step.AWS("sns:Publish", h.D.Env.Topic, err)
	}
	return nil
}

// terminate dates the instance's data volumes for the sweep and ends it.
func (h Handler) terminate(ctx context.Context, k dueInstance) error {
	if err := h.markDataVolumes(ctx, k.id, k.due); err != nil {
		return err
	}
	if _, err := h.D.AWS.EC2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{k.id}}); err != nil {
		return step.AWS("ec2:TerminateInstances", k.id, err)
	}
	h.D.Did(ctx, k.tags[release.TagRelease], "ec2:TerminateInstances", "instance", k.id, "retired", true, "due", k.due.Format(time.RFC3339))
	return nil
}

// forget takes instances that are gone off the serving record's kept
// side: those retired now, and a schedule's instances already gone (a
// retry after an earlier attempt terminated them).
func (h Handler) forget(ctx context.Context, gone []string) error {
	if len(gone) == 0 {
		return nil
	}
	led := h.D.Ledger()
	serving, ok, err := led.Serving(ctx, h.D.Env.App)
	if err != nil {
		return step.AWS("dynamodb:GetItem", "serving "+h.D.Env.App, err)
	}
	if !ok || !serving.ForgetPrevious(gone) {
		return nil
	}
	if err := led.SetServing(ctx, serving); err != nil {
		return step.AWS("dynamodb:PutItem", "serving "+h.D.Env.App, err)
	}
	return nil
}

// announce tells the operators what was retired: one message per version
// retired, naming all its instances.
func (h Handler) announce(ctx context.Context, retired []dueInstance) error {
	var versions []string
	byVersion := map[string][]dueInstance{}
	for _, k := range retired {
		v := k.tags[release.TagVersion]
		if _, seen := byVersion[v]; !seen {
			versions = append(versions, v)
		}
		byVersion[v] = append(byVersion[v], k)
	}
	for _, v := range versions {
		side := byVersion[v]
		ids := make([]string, 0, len(side))
		for _, k := range side {
			ids = append(ids, k.id)
		}
		if err := h.D.Publisher().Publish(ctx, notify.Retired(h.D.Env.App, strings.Join(ids, ", "), v, side[0].due)); err != nil {
			return step.AWS("sns:Publish", h.D.Env.Topic, err)
		}
	}
	return nil
}

// DrainBudget is how long one invocation waits for a kept instance to
// drain from its target group: the default deregistration delay, 300 s
// ("Deregistration delay", elasticloadbalancing/latest/application/
// load-balancer-target-groups.html), with room to spare. A longer delay
// is finished by a later sweep.
const DrainBudget = 10 * time.Minute

// drainPoll is how often the draining target is looked at.
const drainPoll = 15 * time.Second

// drain deregisters the instances from the app's target groups, all at
// once, and waits, within the invocation, until they have left them: they
// drain side by side, so a fleet takes one deregistration delay. An
// instance in a group with weight is refused and the others go on.
func (h Handler) drain(ctx context.Context, router traffic.Router, ids []string) (drained, draining []string, refused []Refusal, err error) {
	left := slices.Clone(ids)
	done, err := h.D.Poll(ctx, DrainBudget, func(ctx context.Context) (bool, time.Duration, error) {
		gone, err := router.Deregister(ctx, traffic.Side{Instances: left})
		if errors.Is(err, traffic.ErrServing) {
			// One of them receives traffic: find which, one at a time.
			var rest []string
			for _, id := range left {
				_, err := router.Deregister(ctx, traffic.One(id))
				switch {
				case errors.Is(err, traffic.ErrServing):
					refused = append(refused, Refusal{InstanceID: id, Why: err.Error()})
				case err != nil:
					return false, 0, step.Traffic(err)
				default:
					rest = append(rest, id)
				}
			}
			left = rest
			return len(left) == 0, drainPoll, nil
		}
		if err != nil {
			return false, 0, step.Traffic(err)
		}
		return gone, drainPoll, nil
	})
	if err != nil {
		return nil, nil, nil, err
	}
	if !done {
		return nil, left, refused, nil
	}
	return left, nil, refused, nil
}
