package step

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/greenlight/greenlight/harness/sim"
	"github.com/greenlight/greenlight/internal/release"
)

// TestAWSErrorsClassify runs real (simulated) AWS calls that fail the way
// AWS fails them, wrapped as the SDK wraps them, and checks the step error
// name each becomes.
func TestAWSErrorsClassify(t *testing.T) {
	cases := []struct {
		service, code, want string
	}{
		{sim.ServiceEC2, "RequestLimitExceeded", "Throttled"},
		{sim.ServiceEC2, "InternalError", "Throttled"},
		{sim.ServiceEC2, "Unavailable", "Throttled"},
		{sim.ServiceEC2, "InvalidAllocationID.NotFound", "NotYetVisible"},
		{sim.ServiceEC2, "UnauthorizedOperation", "AWSError"},
		{sim.ServiceEC2, "InsufficientInstanceCapacity", "AWSError"},
		{sim.ServiceSNS, "Throttled", "Throttled"},
		{sim.ServiceSNS, "AuthorizationError", "AWSError"},
	}
	for _, c := range cases {
		t.Run(c.service+" "+c.code, func(t *testing.T) {
			r := sim.NewTest(t, sim.Options{})
			r.Inject(sim.Fault{Service: c.service, Code: c.code})
			var err error
			switch c.service {
			case sim.ServiceEC2:
				_, err = r.EC2().DescribeAddresses(context.Background(), &ec2.DescribeAddressesInput{})
			case sim.ServiceSNS:
				_, err = r.SNS().Publish(context.Background(), &sns.PublishInput{TopicArn: aws.String(r.Fixture().TopicARN), Message: aws.String("x")})
			}
			got := AWS("test:Op", "resource-1", err)
			if name := release.ErrorName(got); name != c.want {
				t.Errorf("%s %s became %s (%v), want %s", c.service, c.code, name, got, c.want)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	wrapped := fmt.Errorf("launch: %w", release.DeployFailed{Cause: "exit 1: checksum mismatch"})
	if got := Normalize(wrapped); release.ErrorName(got) != "DeployFailed" || got.Error() != "exit 1: checksum mismatch" {
		t.Errorf("a wrapped step error came out as %T %v", got, got)
	}
	if got := Normalize(errors.New("boom")); release.ErrorName(got) != "StepFailed" {
		t.Errorf("a plain error came out as %T", got)
	}
	if Normalize(nil) != nil {
		t.Error("nil stays nil")
	}
	if got := AWS("op", "r", context.DeadlineExceeded); release.ErrorName(got) != "Throttled" {
		t.Errorf("a deadline came out as %T", got)
	}
}

// TestHandlerTurnsACrashIntoAStepFailure: a bug that panics in a step must
// reach Step Functions as StepFailed (caught into the rollback), not as a
// runtime error its retries would repeat.
func TestHandlerTurnsACrashIntoAStepFailure(t *testing.T) {
	var logged bytes.Buffer
	d := &Deps{Log: slog.New(slog.NewJSONHandler(&logged, nil))}
	h := Handler("crashy", d, func(context.Context, release.Doc) (release.Switch, error) {
		var c *release.Candidate
		return release.Switch{To: c.Instances[0].InstanceID}, nil
	})
	_, err := h(context.Background(), release.Doc{ReleaseID: "shop-1-0-0-0000000000"})
	var sf release.StepFailed
	if !errors.As(err, &sf) || !strings.Contains(err.Error(), "crashy crashed: runtime error: invalid memory address") {
		t.Fatalf("err %v, want StepFailed naming the step and the crash", err)
	}
	if !strings.Contains(logged.String(), `"msg":"step crashed"`) || !strings.Contains(logged.String(), "goroutine") {
		t.Errorf("the crash and its stack are not logged: %s", logged.String())
	}
}
