// Package retire terminates instances kept for rollback once their
// retention has passed. It is fired by each instance's one-time schedule
// and by a daily sweep that catches any schedule that did not fire. It
// never touches an instance that holds an Elastic IP, is live in the
// ledger, or is not greenlight's; it refuses and says so instead. Whether
// an instance holds an Elastic IP is the traffic router's to say.
package retire

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/greenlight/greenlight/internal/notify"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/internal/traffic"
	"github.com/greenlight/greenlight/lambdas/step"
)

// Input is either a schedule's payload (InstanceID set) or the daily sweep
// rule's scheduled event (Source "aws.events").
type Input struct {
	App        string `json:"app,omitempty"`
	InstanceID string `json:"instanceId,omitempty"`
	ReleaseID  string `json:"releaseId,omitempty"`
	Source     string `json:"source,omitempty"`
	DetailType string `json:"detail-type,omitempty"`
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

// Retire handles a schedule or a sweep.
func (h Handler) Retire(ctx context.Context, in Input) (Result, error) {
	res := Result{Retired: []string{}, Refused: []Refusal{}, NotDue: []string{}}
	ids := []string{in.InstanceID}
	if in.InstanceID == "" {
		if in.Source != "aws.events" {
			return res, release.EventInvalid{Cause: release.Causef("retire needs an instanceId or the sweep's scheduled event, got source %q", in.Source)}
		}
		var err error
		if ids, err = h.kept(ctx); err != nil {
			return res, err
		}
	}
	for _, id := range ids {
		if err := h.one(ctx, id, &res); err != nil {
			return res, err
		}
	}
	if in.InstanceID == "" {
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
func (h Handler) kept(ctx context.Context) ([]string, error) {
	out, err := h.D.AWS.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []types.Filter{
		{Name: aws.String("tag:" + release.TagApp), Values: []string{h.D.Env.App}},
		{Name: aws.String("tag:" + release.TagManaged), Values: []string{release.ManagedValue}},
		{Name: aws.String("tag-key"), Values: []string{release.TagRetireAfter}},
		{Name: aws.String("instance-state-name"), Values: []string{"pending", "running", "stopping", "stopped"}},
	}})
	if err != nil {
		return nil, step.AWS("ec2:DescribeInstances", "kept instances of "+h.D.Env.App, err)
	}
	var ids []string
	for _, r := range out.Reservations {
		for _, i := range r.Instances {
			ids = append(ids, aws.ToString(i.InstanceId))
		}
	}
	sort.Strings(ids)
	return ids, nil
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

func (h Handler) one(ctx context.Context, id string, res *Result) error {
	out, err := h.D.AWS.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if step.IsNotFound(err) {
		return nil // already gone
	}
	if err != nil {
		return step.AWS("ec2:DescribeInstances", id, err)
	}
	var inst *types.Instance
	for _, r := range out.Reservations {
		for i := range r.Instances {
			inst = &r.Instances[i]
		}
	}
	if inst == nil || inst.State.Name == types.InstanceStateNameTerminated || inst.State.Name == types.InstanceStateNameShuttingDown {
		return nil
	}
	tags := map[string]string{}
	for _, t := range inst.Tags {
		tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	refuse := func(why string) error {
		res.Refused = append(res.Refused, Refusal{InstanceID: id, Why: why})
		h.D.Did(ctx, tags[release.TagRelease], "retire-refused", "instance", id, "why", why)
		if err := h.D.Publisher().Publish(ctx, notify.RetireRefused(h.D.Env.App, id, why)); err != nil {
			return step.AWS("sns:Publish", h.D.Env.Topic, err)
		}
		return nil
	}
	if tags[release.TagManaged] != release.ManagedValue || tags[release.TagApp] != h.D.Env.App {
		return refuse(fmt.Sprintf("it is not managed by greenlight for %s (tags %s=%q, %s=%q)", h.D.Env.App, release.TagApp, tags[release.TagApp], release.TagManaged, tags[release.TagManaged]))
	}
	due, err := time.Parse(time.RFC3339, tags[release.TagRetireAfter])
	if err != nil || h.D.Now().Before(due) {
		// Not due: a rollback re-dated or cleared it. Nothing to say.
		res.NotDue = append(res.NotDue, id)
		return nil
	}
	router := traffic.For(h.D.AWS, h.D.Env.Front)
	if h.D.Env.Front.ListenerARN != "" {
		// Behind an ALB the kept side stayed registered at weight 0 for an
		// instant rollback: it leaves its target group, drained, first. A
		// group with weight is refused (ErrServing).
		drained, err := h.drain(ctx, router, id)
		if errors.Is(err, traffic.ErrServing) {
			return refuse(err.Error())
		}
		if err != nil {
			return err
		}
		if !drained {
			res.Draining = append(res.Draining, id)
			return nil // the next sweep finds it drained
		}
	}
	// Any front counts, not only the app's: Serves needs no allocation id.
	serves, how, err := router.Serves(ctx, id)
	if err != nil {
		return step.Traffic(err)
	}
	if serves {
		return refuse(how + ": it serves users")
	}
	led := h.D.Ledger()
	serving, ok, err := led.Serving(ctx, h.D.Env.App)
	if err != nil {
		return step.AWS("dynamodb:GetItem", "serving "+h.D.Env.App, err)
	}
	if ok && serving.LiveInstance == id {
		return refuse("the ledger records it as the live instance")
	}
	if err := h.markDataVolumes(ctx, id, due); err != nil {
		return err
	}
	if _, err := h.D.AWS.EC2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}}); err != nil {
		return step.AWS("ec2:TerminateInstances", id, err)
	}
	h.D.Did(ctx, tags[release.TagRelease], "ec2:TerminateInstances", "instance", id, "retired", true, "due", due.Format(time.RFC3339))
	res.Retired = append(res.Retired, id)
	if ok && serving.PreviousInstance == id {
		serving.PreviousInstance, serving.PreviousRelease, serving.PreviousVersion, serving.RetireAfter = "", "", "", time.Time{}
		if err := led.SetServing(ctx, serving); err != nil {
			return step.AWS("dynamodb:PutItem", "serving "+h.D.Env.App, err)
		}
	}
	if err := h.D.Publisher().Publish(ctx, notify.Retired(h.D.Env.App, id, tags[release.TagVersion], due)); err != nil {
		return step.AWS("sns:Publish", h.D.Env.Topic, err)
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

// drain deregisters the instance from the app's target groups and waits,
// within the invocation, until it has left them.
func (h Handler) drain(ctx context.Context, router traffic.Router, id string) (bool, error) {
	return h.D.Poll(ctx, DrainBudget, func(ctx context.Context) (bool, time.Duration, error) {
		gone, err := router.Deregister(ctx, traffic.One(id))
		if errors.Is(err, traffic.ErrServing) {
			return false, 0, err
		}
		if err != nil {
			return false, 0, step.Traffic(err)
		}
		return gone, drainPoll, nil
	})
}
