package traffic

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"github.com/greenlight/greenlight/internal/awsapi"
)

// What a front is made of, read for `greenlight init` (read-only): the
// routing API stays in this package.

// ElasticIPOf is the allocation id of the Elastic IP associated with the
// instance, or "" when none is.
func ElasticIPOf(ctx context.Context, api awsapi.EC2, instanceID string) (string, error) {
	out, err := api.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{Filters: []ec2types.Filter{{Name: aws.String("instance-id"), Values: []string{instanceID}}}})
	if err != nil {
		return "", &CallError{Op: "ec2:DescribeAddresses", Resource: instanceID, Err: err}
	}
	if len(out.Addresses) == 0 {
		return "", nil
	}
	return aws.ToString(out.Addresses[0].AllocationId), nil
}

// ForwardGroups are the target groups a listener's default action
// forwards to. greenlight's ALB mode needs exactly two: anything else is
// an error that says how to get there.
func ForwardGroups(ctx context.Context, api awsapi.ELB, listener string) ([]string, error) {
	out, err := api.DescribeListeners(ctx, &elb.DescribeListenersInput{ListenerArns: []string{listener}})
	if err != nil {
		if notFound(err) {
			err = NotFound{Front: "listener " + listener, Err: err}
		}
		return nil, &CallError{Op: "elasticloadbalancing:DescribeListeners", Resource: listener, Err: err}
	}
	if len(out.Listeners) != 1 {
		return nil, &CallError{Op: "elasticloadbalancing:DescribeListeners", Resource: listener, Err: NotFound{Front: "listener " + listener}}
	}
	var groups []string
	for _, a := range out.Listeners[0].DefaultActions {
		switch {
		case a.ForwardConfig != nil:
			for _, g := range a.ForwardConfig.TargetGroups {
				groups = append(groups, aws.ToString(g.TargetGroupArn))
			}
		case a.TargetGroupArn != nil:
			groups = append(groups, aws.ToString(a.TargetGroupArn))
		}
	}
	if len(groups) != 2 {
		return groups, fmt.Errorf("the listener %s forwards to %d target group(s): greenlight shifts traffic between two (the live side's and the candidates'); create the second and forward to both, weighted 100 and 0", listener, len(groups))
	}
	return groups, nil
}
