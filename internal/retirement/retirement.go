// Package retirement is the lifecycle of an instance kept for rollback:
// tagged as the previous one with its retirement date, a one-time
// EventBridge Scheduler schedule that retires it, and the reverse when it
// serves again. The finish step keeps and records, the rollback unkeeps,
// the retire step reads the schedule's payload: one package, so no step
// package imports another.
package retirement

import (
	"context"
	"encoding/json"
	"fmt"
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
// function.
type Request struct {
	App        string `json:"app"`
	InstanceID string `json:"instanceId"`
	ReleaseID  string `json:"releaseId"`
}

func tag(k, v string) types.Tag { return types.Tag{Key: aws.String(k), Value: aws.String(v)} }

// Keep tags an instance that stopped serving as the previous one, managed
// by greenlight and due for retirement after the given time.
func Keep(ctx context.Context, d *step.Deps, app, releaseID, instanceID string, retireAfter time.Time) error {
	tags := []types.Tag{
		tag(release.TagApp, app),
		tag(release.TagManaged, release.ManagedValue),
		tag(release.TagRole, release.RolePrevious),
		tag(release.TagRetireAfter, retireAfter.UTC().Format(time.RFC3339)),
	}
	if releaseID != "" {
		tags = append(tags, tag(release.TagRelease, releaseID))
	}
	_, err := d.AWS.EC2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{instanceID}, Tags: tags})
	if err != nil {
		return step.AWS("ec2:CreateTags", instanceID, err)
	}
	return nil
}

// MarkLive tags the instance that now serves and clears any retirement
// date it carried (a rollback brings a kept instance back).
func MarkLive(ctx context.Context, d *step.Deps, app, releaseID, version, instanceID string) error {
	_, err := d.AWS.EC2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{instanceID}, Tags: []types.Tag{
		tag(release.TagApp, app),
		tag(release.TagManaged, release.ManagedValue),
		tag(release.TagRole, release.RoleLive),
		tag(release.TagRelease, releaseID),
		tag(release.TagVersion, version),
		tag("Name", fmt.Sprintf("%s %s (live)", app, version)),
	}})
	if err != nil {
		return step.AWS("ec2:CreateTags", instanceID, err)
	}
	_, err = d.AWS.EC2.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{instanceID}, Tags: []types.Tag{{Key: aws.String(release.TagRetireAfter)}}})
	if err != nil {
		return step.AWS("ec2:DeleteTags", instanceID, err)
	}
	return nil
}

// ScheduleName is the one-time retirement schedule of an instance, within
// the stack's schedule group.
func ScheduleName(app, instanceID string) string { return app + "-retire-" + instanceID }

// Schedule creates the one-time schedule that retires an instance; an
// existing one (a retried step) is left as it is.
func Schedule(ctx context.Context, d *step.Deps, req Request, at time.Time) (string, error) {
	name := ScheduleName(req.App, req.InstanceID)
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
		Description:                aws.String(fmt.Sprintf("greenlight: retire %s of %s (kept for rollback until then)", req.InstanceID, req.App)),
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
	d.Did(ctx, req.ReleaseID, "scheduler:CreateSchedule", "schedule", name, "instance", req.InstanceID, "at", at.UTC().Format(time.RFC3339))
	return name, nil
}

// Unschedule deletes an instance's retirement schedule, if any.
func Unschedule(ctx context.Context, d *step.Deps, app, instanceID string) error {
	name := ScheduleName(app, instanceID)
	_, err := d.AWS.Scheduler.DeleteSchedule(ctx, &scheduler.DeleteScheduleInput{Name: aws.String(name), GroupName: aws.String(d.Env.ScheduleGroup)})
	if err != nil && step.ErrorCode(err) != "ResourceNotFoundException" {
		return step.AWS("scheduler:DeleteSchedule", name, err)
	}
	return nil
}
