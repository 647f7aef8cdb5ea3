package sim

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
)

// TestLiveFleetAcrossZones: Options.LiveFleet serves the live version from
// that many instances spread over Options.Zones, all registered and healthy
// in the blue group; a fixture of one keeps the ids it always had.
func TestLiveFleetAcrossZones(t *testing.T) {
	ctx := context.Background()
	one, err := New(Options{ALB: true})
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(Options{ALB: true, Zones: 3, LiveFleet: 3})
	if err != nil {
		t.Fatal(err)
	}
	f := r.Fixture()
	if len(f.LiveInstances) != 3 || f.LiveInstances[0] != f.LiveInstance || len(f.Subnets) != 3 {
		t.Fatalf("live %v in subnets %v, want 3 instances in 3 subnets", f.LiveInstances, f.Subnets)
	}
	two, err := New(Options{ALB: true, LiveFleet: 2})
	if err != nil {
		t.Fatal(err)
	}
	if one.Fixture().LiveInstance != two.Fixture().LiveInstance || one.Fixture().TargetGroupARNs != two.Fixture().TargetGroupARNs {
		t.Errorf("a fleet changed the first instance's or the groups' ids")
	}
	out, err := r.EC2().DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: f.LiveInstances})
	if err != nil {
		t.Fatal(err)
	}
	var zones []string
	for _, res := range out.Reservations {
		for _, i := range res.Instances {
			if az := aws.ToString(i.Placement.AvailabilityZone); !slices.Contains(zones, az) {
				zones = append(zones, az)
			}
		}
	}
	if len(zones) != 3 {
		t.Errorf("live side in zones %v, want 3", zones)
	}
	th, err := r.ELB().DescribeTargetHealth(ctx, &elb.DescribeTargetHealthInput{TargetGroupArn: aws.String(f.TargetGroupARNs[0])})
	if err != nil {
		t.Fatal(err)
	}
	healthy := 0
	for _, d := range th.TargetHealthDescriptions {
		if d.TargetHealth.State == "healthy" {
			healthy++
		}
	}
	if healthy != 3 {
		t.Errorf("%d healthy targets in blue, want 3", healthy)
	}
}

// TestNoCapacityIn: a zone without capacity refuses a launch with
// InsufficientInstanceCapacity naming the zones that have some; nothing is
// launched, and the zone launches again once it has capacity back.
func TestNoCapacityIn(t *testing.T) {
	ctx := context.Background()
	r, err := New(Options{Zones: 3})
	if err != nil {
		t.Fatal(err)
	}
	f := r.Fixture()
	r.NoCapacityIn(f.AZs[0], true)
	run := func(subnet string) error {
		_, err := r.EC2().RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(f.AMI), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
			InstanceType: ec2types.InstanceTypeT4gSmall, SubnetId: aws.String(subnet), ClientToken: aws.String("tok-" + subnet)})
		return err
	}
	before := len(r.Inventory())
	err = run(f.Subnets[0])
	if ErrorCode(err) != "InsufficientInstanceCapacity" || !strings.Contains(err.Error(), f.AZs[1]+", "+f.AZs[2]) {
		t.Fatalf("launch in a full zone: %v", err)
	}
	if len(r.Inventory()) != before {
		t.Errorf("a refused launch left something: %v", r.Inventory())
	}
	if err := run(f.Subnets[1]); err != nil {
		t.Errorf("another zone: %v", err)
	}
	r.NoCapacityIn(f.AZs[0], false)
	if err := run(f.Subnets[0]); err != nil {
		t.Errorf("capacity back: %v", err)
	}
}
