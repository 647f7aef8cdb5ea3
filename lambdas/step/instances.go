package step

import (
	"context"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// Instances are the instances of DescribeInstances' reservations.
func Instances(out *ec2.DescribeInstancesOutput) []types.Instance {
	var all []types.Instance
	for _, r := range out.Reservations {
		all = append(all, r.Instances...)
	}
	return all
}

// ByID indexes instances by id.
func ByID(insts []types.Instance) map[string]types.Instance {
	m := make(map[string]types.Instance, len(insts))
	for _, i := range insts {
		m[aws.ToString(i.InstanceId)] = i
	}
	return m
}

// DescribeByID lists instances by id with an instance-id filter: with
// InstanceIds, "If you specify an instance ID that is not valid, an error
// is returned" (DescribeInstances, Amazon EC2 API Reference:
// /AWSEC2/latest/APIReference/API_DescribeInstances.html), and one
// instance of a side long gone must not hide the others; it is simply not
// listed.
func (d *Deps) DescribeByID(ctx context.Context, ids []string) ([]types.Instance, error) {
	out, err := d.AWS.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []types.Filter{{Name: aws.String("instance-id"), Values: ids}}})
	if err != nil {
		return nil, AWS("ec2:DescribeInstances", strings.Join(ids, ", "), err)
	}
	return Instances(out), nil
}
