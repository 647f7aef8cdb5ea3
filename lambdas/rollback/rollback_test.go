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

	"github.com/greenlight/greenlight/harness/sim"
	"github.com/greenlight/greenlight/internal/release"
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
	notFound := sim.Fault{Service: sim.ServiceEC2, Operation: "DescribeInstances", Code: "InvalidInstanceID.NotFound"}
	made := map[string]ec2types.InstanceStateName{}

	r.Inject(notFound)
	err = h.lookAgain(ctx, release.Member{InstanceID: id, LaunchedAt: r.Now().Add(-time.Minute)}, made)
	var nv release.NotYetVisible
	if !errors.As(err, &nv) || len(made) != 0 {
		t.Fatalf("just launched and not visible: err=%v made=%v, want NotYetVisible", err, made)
	}

	r.Inject(notFound)
	if err := h.lookAgain(ctx, release.Member{InstanceID: id, LaunchedAt: r.Now().Add(-2 * time.Hour)}, made); err != nil || len(made) != 0 {
		t.Fatalf("launched two hours ago and not found: err=%v made=%v, want gone", err, made)
	}

	// Visible again: the pass finds it, and the rollback's plan ends it.
	if err := h.lookAgain(ctx, release.Member{InstanceID: id, LaunchedAt: r.Now().Add(-time.Minute)}, made); err != nil || made[id] != ec2types.InstanceStateNameRunning {
		t.Fatalf("visible: err=%v made=%v, want it listed as running", err, made)
	}
	if done, err := h.terminate(release.Doc{ReleaseID: releaseID}, id)(ctx, &release.Step{}); done || err != nil {
		t.Fatalf("terminate: done=%v err=%v, want termination started", done, err)
	}
	desc, err := r.EC2().DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil || desc.Reservations[0].Instances[0].State.Name != ec2types.InstanceStateNameShuttingDown {
		t.Errorf("the candidate after terminate: %+v %v, want shutting-down", desc, err)
	}
}
