// Package traffic moves an app's public traffic between instances. Router
// is the one interface; ElasticIP is the implementation for an app behind
// an Elastic IP (an ALB target-group router can implement it later).
package traffic

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// Router sends the app's traffic to one instance.
type Router interface {
	// Serving is the instance receiving traffic now ("" for none).
	Serving(ctx context.Context) (string, error)
	// Route sends traffic to instanceID. Routing to the instance already
	// serving changes nothing and reports Changed false.
	Route(ctx context.Context, instanceID string) (Move, error)
}

// Move is what a Route did.
type Move struct {
	From    string // the instance that served before ("" for none)
	To      string
	Changed bool
	// Detail identifies the routing change (the EIP association id).
	Detail string
}

// EC2 is the part of the EC2 API the Elastic IP router uses.
type EC2 interface {
	DescribeAddresses(ctx context.Context, in *ec2.DescribeAddressesInput, optFns ...func(*ec2.Options)) (*ec2.DescribeAddressesOutput, error)
	AssociateAddress(ctx context.Context, in *ec2.AssociateAddressInput, optFns ...func(*ec2.Options)) (*ec2.AssociateAddressOutput, error)
}

// ElasticIP routes by associating an Elastic IP with the serving instance.
type ElasticIP struct {
	EC2          EC2
	AllocationID string
}

// Serving reads the Elastic IP's association.
func (e ElasticIP) Serving(ctx context.Context) (string, error) {
	out, err := e.EC2.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{AllocationIds: []string{e.AllocationID}})
	if err != nil {
		return "", fmt.Errorf("ec2:DescribeAddresses %s: %w", e.AllocationID, err)
	}
	if len(out.Addresses) == 0 {
		return "", fmt.Errorf("ec2:DescribeAddresses %s: no such Elastic IP", e.AllocationID)
	}
	return aws.ToString(out.Addresses[0].InstanceId), nil
}

// Route associates the Elastic IP with instanceID, taking it from whichever
// instance holds it (AllowReassociation): one call, no moment without an
// association.
func (e ElasticIP) Route(ctx context.Context, instanceID string) (Move, error) {
	from, err := e.Serving(ctx)
	if err != nil {
		return Move{}, err
	}
	if from == instanceID {
		return Move{From: from, To: instanceID}, nil
	}
	out, err := e.EC2.AssociateAddress(ctx, &ec2.AssociateAddressInput{
		AllocationId:       aws.String(e.AllocationID),
		InstanceId:         aws.String(instanceID),
		AllowReassociation: aws.Bool(true),
	})
	if err != nil {
		return Move{}, fmt.Errorf("ec2:AssociateAddress %s to %s: %w", e.AllocationID, instanceID, err)
	}
	return Move{From: from, To: instanceID, Changed: true, Detail: aws.ToString(out.AssociationId)}, nil
}

// SettleSeconds is how long after an Elastic IP moves the workflow waits
// before relying on it: the remapping takes a few seconds to reach the
// network (3 s in the latency table). The bake's first check waits this
// long after the switch, and the rollback after moving it back.
const SettleSeconds = 10
