package sim

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
)

// testCtx is the context tests call with, named as a caller.
func testCtx() context.Context { return WithCaller(context.Background(), "test") }

// wantCode fails the test unless err carries the AWS error code (or is
// nil when code is "").
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := ErrorCode(err); got != code {
		t.Fatalf("error code = %q, want %q (err: %v)", got, code, err)
	}
	if code != "" {
		var ae smithy.APIError
		if !errors.As(err, &ae) {
			t.Fatalf("error %v is not a smithy.APIError", err)
		}
	}
}

// runInstance runs one instance in the AZ and returns its id.
func runInstance(t *testing.T, r *Region, az string, tags ...string) string {
	t.Helper()
	in := &ec2.RunInstancesInput{ImageId: aws.String(r.Fixture().AMI), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		InstanceType: ec2types.InstanceTypeT4gSmall, Placement: &ec2types.Placement{AvailabilityZone: aws.String(az)}}
	if len(tags) > 0 {
		spec := ec2types.TagSpecification{ResourceType: ec2types.ResourceTypeInstance}
		for i := 0; i+1 < len(tags); i += 2 {
			spec.Tags = append(spec.Tags, ec2types.Tag{Key: aws.String(tags[i]), Value: aws.String(tags[i+1])})
		}
		in.TagSpecifications = []ec2types.TagSpecification{spec}
	}
	out, err := r.EC2().RunInstances(testCtx(), in)
	if err != nil {
		t.Fatalf("RunInstances: %v", err)
	}
	return aws.ToString(out.Instances[0].InstanceId)
}

// boot launches an instance and advances the clock until it is running,
// its OS up and its agent online.
func boot(t *testing.T, r *Region, az string) string {
	t.Helper()
	id := runInstance(t, r, az)
	r.Advance(testCtx(), r.Latencies().PendingToRunning+r.Latencies().SSMOnline)
	return id
}

// describe returns one instance as DescribeInstances shows it.
func describe(t *testing.T, r *Region, id string) ec2types.Instance {
	t.Helper()
	out, err := r.EC2().DescribeInstances(testCtx(), &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		t.Fatalf("DescribeInstances %s: %v", id, err)
	}
	return out.Reservations[0].Instances[0]
}

func volumeOf(t *testing.T, r *Region, id string) ec2types.Volume {
	t.Helper()
	out, err := r.EC2().DescribeVolumes(testCtx(), &ec2.DescribeVolumesInput{VolumeIds: []string{id}})
	if err != nil {
		t.Fatalf("DescribeVolumes %s: %v", id, err)
	}
	return out.Volumes[0]
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }

func tagSpecs(kv ...string) []ec2types.TagSpecification {
	var tags []ec2types.Tag
	for i := 0; i+1 < len(kv); i += 2 {
		tags = append(tags, ec2types.Tag{Key: aws.String(kv[i]), Value: aws.String(kv[i+1])})
	}
	return []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeInstance, Tags: tags}}
}
