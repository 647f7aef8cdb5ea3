package rollback

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/internal/sim"
	"github.com/greenlight/greenlight/lambdas/step"
)

// TestTerminateLooksAgainAtAnInstanceNotYetVisible: EC2 may answer
// NotFound for an instance launched moments ago. The rollback must look
// again (a transient error the state machine retries), not take the
// instance for gone and leave it running; only an instance launched over
// an hour ago can have been terminated long enough to be gone.
func TestTerminateLooksAgainAtAnInstanceNotYetVisible(t *testing.T) {
	r := sim.NewTest(t, sim.Options{})
	ctx := sim.WithCaller(context.Background(), "rollback")
	const releaseID = "shop-2-0-0-0123456789"
	out, err := r.EC2().RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(r.Fixture().AMI), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		InstanceType: ec2types.InstanceTypeT4gSmall, TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeInstance,
			Tags: []ec2types.Tag{{Key: aws.String(release.TagRelease), Value: aws.String(releaseID)}}}}})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(out.Instances[0].InstanceId)
	r.Advance(ctx, time.Minute)
	h := Handler{D: &step.Deps{AWS: r.Clients(), Now: r.Now, Log: slog.New(slog.DiscardHandler)}}
	d := release.Doc{ReleaseID: releaseID}
	notFound := sim.Fault{Service: sim.ServiceEC2, Operation: "DescribeInstances", Code: "InvalidInstanceID.NotFound"}

	r.Inject(notFound)
	done, err := h.terminate(ctx, d, id, r.Now().Add(-time.Minute))
	var nv release.NotYetVisible
	if done || !errors.As(err, &nv) {
		t.Fatalf("just launched and not visible: done=%v err=%v, want NotYetVisible", done, err)
	}

	r.Inject(notFound)
	if done, err := h.terminate(ctx, d, id, r.Now().Add(-2*time.Hour)); !done || err != nil {
		t.Fatalf("launched two hours ago and not found: done=%v err=%v, want gone", done, err)
	}

	// Visible again: the retried pass terminates it.
	if done, err := h.terminate(ctx, d, id, r.Now().Add(-time.Minute)); done || err != nil {
		t.Fatalf("visible: done=%v err=%v, want termination started", done, err)
	}
	if calls := r.CallsTo(sim.ServiceEC2, "TerminateInstances"); len(calls) != 1 || calls[0].Code != "" {
		t.Errorf("TerminateInstances calls: %+v", calls)
	}
}
