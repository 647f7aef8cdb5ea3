package sim

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	schedtypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// TestCreateVolumeTokenIsForOneRequest: a client token reused with another
// snapshot is IdempotentParameterMismatch, even after the first volume
// was deleted; the same request returns the same volume.
func TestCreateVolumeTokenIsForOneRequest(t *testing.T) {
	r := NewTest(t, Options{DataVolume: true})
	ctx := WithCaller(context.Background(), "test")
	f := r.Fixture()
	snap := func() string {
		out, err := r.EC2().CreateSnapshot(ctx, &ec2.CreateSnapshotInput{VolumeId: aws.String(f.DataVolume)})
		if err != nil {
			t.Fatal(err)
		}
		r.Advance(ctx, time.Hour)
		return aws.ToString(out.SnapshotId)
	}
	first, second := snap(), snap()
	create := func(snapshot string) (*ec2.CreateVolumeOutput, error) {
		return r.EC2().CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String(f.LiveAZ), SnapshotId: aws.String(snapshot),
			VolumeType: ec2types.VolumeTypeGp3, ClientToken: aws.String("rel-volume")})
	}
	a, err := create(first)
	if err != nil {
		t.Fatal(err)
	}
	again, err := create(first)
	if err != nil || aws.ToString(again.VolumeId) != aws.ToString(a.VolumeId) {
		t.Fatalf("the same request again: %v %v, want volume %s", again, err, aws.ToString(a.VolumeId))
	}
	r.Advance(ctx, time.Minute)
	if _, err := r.EC2().DeleteVolume(ctx, &ec2.DeleteVolumeInput{VolumeId: a.VolumeId}); err != nil {
		t.Fatal(err)
	}
	if _, err := create(second); ErrorCode(err) != "IdempotentParameterMismatch" {
		t.Errorf("the token with another snapshot, its first volume deleted: %v, want IdempotentParameterMismatch", err)
	}
}

// TestParameterLimits: each documented length limit of a parameter
// greenlight sends is enforced.
func TestParameterLimits(t *testing.T) {
	r := NewTest(t, Options{})
	ctx := WithCaller(context.Background(), "test")
	f := r.Fixture()
	long := strings.Repeat("x", 65)
	if _, err := r.EC2().RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(f.AMI), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		ClientToken: aws.String(long)}); ErrorCode(err) != "InvalidParameterValue" {
		t.Errorf("RunInstances with a 65-character token: %v", err)
	}
	if _, err := r.EC2().CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String(f.LiveAZ), Size: aws.Int32(1),
		ClientToken: aws.String(long)}); ErrorCode(err) != "InvalidParameterValue" {
		t.Errorf("CreateVolume with a 65-character token: %v", err)
	}
	if _, err := r.EC2().CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String(f.LiveAZ), Size: aws.Int32(1),
		VolumeInitializationRate: aws.Int32(200)}); ErrorCode(err) != "InvalidParameterCombination" {
		t.Errorf("an initialization rate without a snapshot: %v", err)
	}
	if _, err := r.EC2().CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{f.LiveInstance},
		Tags: []ec2types.Tag{{Key: aws.String("k"), Value: aws.String(strings.Repeat("v", 257))}}}); ErrorCode(err) != "InvalidParameterValue" {
		t.Errorf("a 257-character tag value: %v", err)
	}
	if _, err := r.SSM().SendCommand(ctx, &ssm.SendCommandInput{DocumentName: aws.String("AWS-RunShellScript"), InstanceIds: []string{f.LiveInstance},
		Comment: aws.String(strings.Repeat("c", 101))}); ErrorCode(err) != "ValidationException" {
		t.Errorf("SendCommand with a 101-character comment: %v", err)
	}
	if _, err := r.Scheduler().CreateSchedule(ctx, &scheduler.CreateScheduleInput{Name: aws.String(long), ScheduleExpression: aws.String("at(2030-01-01T00:00:00)"),
		FlexibleTimeWindow: &schedtypes.FlexibleTimeWindow{Mode: schedtypes.FlexibleTimeWindowModeOff},
		Target:             &schedtypes.Target{Arn: aws.String("arn:aws:lambda:eu-west-1:123456789012:function:f"), RoleArn: aws.String("arn:aws:iam::123456789012:role/r")}}); ErrorCode(err) != "ValidationException" {
		t.Errorf("a 65-character schedule name: %v", err)
	}
	if err := checkLimits(ServiceSFN, "StartExecution", startExecution(strings.Repeat("n", 81))); ErrorCode(err) != "InvalidName" {
		t.Errorf("an 81-character execution name: %v", err)
	}
	if err := checkLimits(ServiceSFN, "StartExecution", startExecution(strings.Repeat("n", 80))); err != nil {
		t.Errorf("an 80-character execution name: %v", err)
	}
}

func startExecution(name string) *sfn.StartExecutionInput {
	return &sfn.StartExecutionInput{Name: aws.String(name), StateMachineArn: aws.String("arn:aws:states:eu-west-1:123456789012:stateMachine:m")}
}
