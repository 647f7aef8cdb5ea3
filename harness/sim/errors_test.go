package sim_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"

	"github.com/greenlight/greenlight/harness/sim"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/step"
)

// Errors reach a step shaped as the SDK shapes them, so the step's error
// classification behaves here as on AWS.
func TestErrorsClassifyAsOnAWS(t *testing.T) {
	r := sim.NewTest(t, sim.Options{})
	ctx := context.Background()
	f := r.Fixture()

	r.Throttle(sim.ServiceEC2, 1)
	_, throttled := r.EC2().DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	_, notFound := r.EC2().DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{"i-0123456789abcdef0"}})
	_, notYet := r.SSM().GetCommandInvocation(ctx, &ssm.GetCommandInvocationInput{CommandId: aws.String("c"), InstanceId: aws.String(f.LiveInstance)})
	_, inUse := r.EC2().DeleteVolume(ctx, &ec2.DeleteVolumeInput{VolumeId: aws.String(r.RootVolume(t, f.LiveInstance))})

	for _, c := range []struct {
		name string
		err  error
		want error
	}{
		{"throttling", throttled, release.Throttled{}},
		{"instance not found", notFound, release.NotYetVisible{}},
		{"invocation not there yet", notYet, release.NotYetVisible{}},
		{"volume in use", inUse, release.AWSError{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := step.AWS("call", "resource", c.err)
			if release.ErrorName(got) != release.ErrorName(c.want) {
				t.Errorf("%v classified as %s, want %s", c.err, release.ErrorName(got), release.ErrorName(c.want))
			}
		})
	}

	var oe *smithy.OperationError
	var re *awshttp.ResponseError
	var ge *smithy.GenericAPIError
	if !errors.As(inUse, &oe) || oe.Service() != "EC2" || oe.Operation() != "DeleteVolume" {
		t.Errorf("not an OperationError for EC2 DeleteVolume: %v", inUse)
	}
	if !errors.As(inUse, &re) || re.HTTPStatusCode() != 400 {
		t.Errorf("no 400 response in the chain: %v", inUse)
	}
	// The SDK's EC2 deserializer sets Code and Message only; so does the
	// simulator, so code relying on Fault fails here as it would on AWS.
	if !errors.As(inUse, &ge) || ge.Fault != smithy.FaultUnknown {
		t.Errorf("EC2 error is not a GenericAPIError as the SDK builds it: %#v", ge)
	}

	// A server-side EC2 error shows as such in the HTTP status.
	r.Inject(sim.Fault{Service: sim.ServiceEC2, Code: "InternalError"})
	_, internal := r.EC2().DescribeAddresses(ctx, &ec2.DescribeAddressesInput{})
	if !errors.As(internal, &re) || re.HTTPStatusCode() != 500 {
		t.Errorf("InternalError without a 500 status: %v", internal)
	}
	if msg := inUse.Error(); !strings.Contains(msg, "operation error EC2: DeleteVolume, https response error StatusCode: 400") ||
		!strings.Contains(msg, "api error VolumeInUse: Volume vol-") {
		t.Errorf("message %q does not read like the SDK's", msg)
	}
}
