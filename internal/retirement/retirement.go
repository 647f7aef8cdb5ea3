// Package retirement is the lifecycle of a side kept for rollback (one
// instance, or a fleet behind an ALB): tagged as the previous one with its
// retirement date, one one-time EventBridge Scheduler schedule that
// retires the side as a whole, and the reverse when it serves again. The finish step keeps and records, the rollback unkeeps,
// the retire step reads the schedule's payload: one package, so no step
// package imports another.
package retirement

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	schedtypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"

	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/step"
)

// Request is the payload a retirement schedule sends the retire
// function. InstanceIDs is the kept side; InstanceID its first instance,
// the whole payload of a schedule made before fleets (such schedules
// still fire) and what an older retire function reads.
type Request struct {
	App         string   `json:"app"`
	InstanceIDs []string `json:"instanceIds,omitempty"`
	InstanceID  string   `json:"instanceId,omitempty"`
	ReleaseID   string   `json:"releaseId"`
}

// NewRequest is the payload that retires the side of instanceIDs.
func NewRequest(app, releaseID string, instanceIDs []string) Request {
	r := Request{App: app, InstanceIDs: slices.Clone(instanceIDs), ReleaseID: releaseID}
	if len(instanceIDs) > 0 {
		r.InstanceID = instanceIDs[0]
	}
	return r
}

// IDs are the instances the request retires: InstanceIDs, or the one
// InstanceID of a schedule made before fleets.
func (r Request) IDs() []string { return release.SideOf(r.InstanceIDs, r.InstanceID) }

func tag(k, v string) types.Tag { return types.Tag{Key: aws.String(k), Value: aws.String(v)} }

// Keep tags the instances of a side that stops serving as the previous
// one, managed by greenlight and due for retirement after the given time,
// in one call: CreateTags takes "Up to 1000 resource IDs" (CreateTags,
// Amazon EC2 API Reference).
func Keep(ctx context.Context, d *step.Deps, app, releaseID string, instanceIDs []string, retireAfter time.Time) error {
	tags := []types.Tag{
		tag(release.TagApp, app),
		tag(release.TagManaged, release.ManagedValue),
		tag(release.TagRole, release.RolePrevious),
		tag(release.TagRetireAfter, retireAfter.UTC().Format(time.RFC3339)),
	}
	if releaseID != "" {
		tags = append(tags, tag(release.TagRelease, releaseID))
	}
	_, err := d.AWS.EC2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: instanceIDs, Tags: tags})
	if err != nil {
		return step.AWS("ec2:CreateTags", strings.Join(instanceIDs, ", "), err)
	}
	return nil
}

// MarkLive tags the instances that now serve and clears any retirement
// date they carried (a switch back brings a kept side back).
func MarkLive(ctx context.Context, d *step.Deps, app, releaseID, version string, instanceIDs []string) error {
	what := strings.Join(instanceIDs, ", ")
	_, err := d.AWS.EC2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: instanceIDs, Tags: []types.Tag{
		tag(release.TagApp, app),
		tag(release.TagManaged, release.ManagedValue),
		tag(release.TagRole, release.RoleLive),
		tag(release.TagRelease, releaseID),
		tag(release.TagVersion, version),
		tag("Name", fmt.Sprintf("%s %s (live)", app, version)),
	}})
	if err != nil {
		return step.AWS("ec2:CreateTags", what, err)
	}
	_, err = d.AWS.EC2.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: instanceIDs, Tags: []types.Tag{{Key: aws.String(release.TagRetireAfter)}}})
	if err != nil {
		return step.AWS("ec2:DeleteTags", what, err)
	}
	return nil
}

// ScheduleName is the one-time retirement schedule of a side whose first
// instance is instanceID, within the stack's schedule group. A schedule
// made before fleets has the same name for its one instance.
func ScheduleName(app, instanceID string) string { return app + "-retire-" + instanceID }

// Schedule creates the one-time schedule that retires a side; an existing
// one (a retried step) is left as it is.
func Schedule(ctx context.Context, d *step.Deps, req Request, at time.Time) (string, error) {
	ids := req.IDs()
	if len(ids) == 0 {
		return "", fmt.Errorf("a retirement schedule needs the instances it retires")
	}
	name := ScheduleName(req.App, ids[0])
	payload, err := json.Marshal(req)
	if err != nil {
		return "", err
	}
	_, err = d.AWS.Scheduler.CreateSchedule(ctx, &scheduler.CreateScheduleInput{
		Name:                       aws.String(name),
		GroupName:                  aws.String(d.Env.ScheduleGroup),
		ScheduleExpression:         aws.String("at(" + at.UTC().Format("2006-01-02T15:04:05") + ")"),
		ScheduleExpressionTimezone: aws.String("UTC"),
		FlexibleTimeWindow:         &schedtypes.FlexibleTimeWindow{Mode: schedtypes.FlexibleTimeWindowModeOff},
		ActionAfterCompletion:      schedtypes.ActionAfterCompletionDelete,
		Description:                aws.String(description(req.App, ids)),
		Target: &schedtypes.Target{
			Arn:         aws.String(d.Env.RetireFunction),
			RoleArn:     aws.String(d.Env.SchedulerRole),
			Input:       aws.String(string(payload)),
			RetryPolicy: &schedtypes.RetryPolicy{MaximumRetryAttempts: aws.Int32(10), MaximumEventAgeInSeconds: aws.Int32(86400)},
		},
	})
	if err != nil && step.ErrorCode(err) != "ConflictException" {
		return "", step.AWS("scheduler:CreateSchedule", name, err)
	}
	d.Did(ctx, req.ReleaseID, "scheduler:CreateSchedule", "schedule", name, "instances", strings.Join(ids, ","), "at", at.UTC().Format(time.RFC3339))
	return name, nil
}

// description is a schedule's description: "Maximum length of 512"
// (CreateSchedule, EventBridge Scheduler API Reference), so a large
// fleet is counted rather than listed.
func description(app string, ids []string) string {
	what := strings.Join(ids, ", ")
	if len(ids) > 8 {
		what = fmt.Sprintf("%d instances from %s", len(ids), ids[0])
	}
	return fmt.Sprintf("greenlight: retire %s of %s (kept for rollback until then)", what, app)
}

// Unschedule deletes the retirement schedule of the side of instanceIDs,
// if any. Its schedule is named after its first instance, which a side
// brought back may no longer list first, so each instance's name is
// tried.
func Unschedule(ctx context.Context, d *step.Deps, app string, instanceIDs ...string) error {
	for _, id := range instanceIDs {
		name := ScheduleName(app, id)
		_, err := d.AWS.Scheduler.DeleteSchedule(ctx, &scheduler.DeleteScheduleInput{Name: aws.String(name), GroupName: aws.String(d.Env.ScheduleGroup)})
		if err != nil && step.ErrorCode(err) != "ResourceNotFoundException" {
			return step.AWS("scheduler:DeleteSchedule", name, err)
		}
	}
	return nil
}
