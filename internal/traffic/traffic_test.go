package traffic

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/greenlight/greenlight/harness/sim"
)

func TestElasticIPRoute(t *testing.T) {
	r := sim.NewTest(t, sim.Options{})
	f := r.Fixture()
	eip := ElasticIP{EC2: r.EC2(), AllocationID: f.AllocationID}
	ctx := context.Background()
	if got, err := eip.Serving(ctx); err != nil || got != f.LiveInstance {
		t.Fatalf("serving %q %v", got, err)
	}
	mv, err := eip.Route(ctx, f.LiveInstance)
	if err != nil || mv.Changed || mv.From != f.LiveInstance {
		t.Fatalf("routing to the instance already serving changes nothing: %+v %v", mv, err)
	}
	out, err := r.EC2().RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(f.AMI), InstanceType: "t4g.small",
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1), SubnetId: aws.String(f.LiveSubnet)})
	if err != nil {
		t.Fatal(err)
	}
	other := aws.ToString(out.Instances[0].InstanceId)
	r.Advance(ctx, time.Minute)
	mv, err = eip.Route(ctx, other)
	if err != nil || !mv.Changed || mv.From != f.LiveInstance || mv.To != other || mv.Detail == "" {
		t.Fatalf("move: %+v %v", mv, err)
	}
	if got, _ := eip.Serving(ctx); got != other {
		t.Errorf("serving %s after the move", got)
	}
	if _, err := (ElasticIP{EC2: r.EC2(), AllocationID: "eipalloc-00000000000000000"}).Serving(ctx); err == nil {
		t.Error("an unknown Elastic IP must fail")
	}
}
