package sim

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

func TestAssociateAddress(t *testing.T) {
	r := NewTest(t, Options{AutoAssignPublicIP: true})
	f := r.Fixture()
	lat := r.Latencies()
	cand := runInstance(t, r, f.LiveAZ)
	r.Advance(testCtx(), lat.InstanceNotFound)

	associate := func(inst string, allow bool) (*ec2.AssociateAddressOutput, error) {
		return r.EC2().AssociateAddress(testCtx(), &ec2.AssociateAddressInput{AllocationId: aws.String(f.AllocationID),
			InstanceId: aws.String(inst), AllowReassociation: aws.Bool(allow)})
	}
	_, err := associate(cand, true)
	wantCode(t, err, "InvalidInstanceID") // still pending
	r.Advance(testCtx(), lat.PendingToRunning)

	_, err = associate(cand, false)
	wantCode(t, err, "Resource.AlreadyAssociated")
	out, err := associate(cand, true)
	wantCode(t, err, "")

	addr, err := r.EC2().DescribeAddresses(testCtx(), &ec2.DescribeAddressesInput{AllocationIds: []string{f.AllocationID}})
	wantCode(t, err, "")
	a := addr.Addresses[0]
	if aws.ToString(a.InstanceId) != cand || aws.ToString(a.AssociationId) != aws.ToString(out.AssociationId) {
		t.Fatalf("address on %s (%s), want %s", aws.ToString(a.InstanceId), aws.ToString(a.AssociationId), cand)
	}
	if got := aws.ToString(describe(t, r, cand).PublicIpAddress); got != f.PublicIP {
		t.Errorf("candidate public IP %s, want the Elastic IP %s", got, f.PublicIP)
	}
	if aws.ToString(describe(t, r, f.LiveInstance).PublicIpAddress) == f.PublicIP {
		t.Error("old instance still shows the Elastic IP")
	}

	// Traffic follows the association only after the propagation delay.
	if got := r.TrafficTarget(f.AllocationID); got != f.LiveInstance {
		t.Fatalf("traffic at once goes to %s, want still the old instance %s", got, f.LiveInstance)
	}
	r.Advance(testCtx(), lat.AssociateAddress)
	if got := r.TrafficTarget(f.AllocationID); got != cand {
		t.Fatalf("traffic after %v goes to %s, want %s", lat.AssociateAddress, got, cand)
	}

	byInstance, _ := r.EC2().DescribeAddresses(testCtx(), &ec2.DescribeAddressesInput{Filters: []ec2types.Filter{{Name: aws.String("instance-id"), Values: []string{cand}}}})
	if len(byInstance.Addresses) != 1 {
		t.Errorf("filter instance-id: %d addresses", len(byInstance.Addresses))
	}

	_, err = r.EC2().DisassociateAddress(testCtx(), &ec2.DisassociateAddressInput{AssociationId: out.AssociationId})
	wantCode(t, err, "")
	_, err = r.EC2().DisassociateAddress(testCtx(), &ec2.DisassociateAddressInput{AssociationId: out.AssociationId})
	wantCode(t, err, "InvalidAssociationID.NotFound")
	r.Advance(testCtx(), lat.AssociateAddress)
	if got := r.TrafficTarget(f.AllocationID); got != "" {
		t.Errorf("traffic after disassociation goes to %s", got)
	}
	if aws.ToString(describe(t, r, cand).PublicIpAddress) == "" {
		t.Error("instance in a public subnet got no public IP back")
	}
	_, err = r.EC2().DescribeAddresses(testCtx(), &ec2.DescribeAddressesInput{AllocationIds: []string{"eipalloc-0123456789abcdef0"}})
	wantCode(t, err, "InvalidAllocationID.NotFound")
}
