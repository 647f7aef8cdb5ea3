package localrun

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/greenlight/greenlight/harness/sim"
)

// State describes the simulated AWS state that a step may change, as
// stable text: instances with their state and tags, volumes with their
// attachments, snapshots, the Elastic IP's association, schedules, and
// each app's serving state. Two equal States mean nothing changed.
func (e *Env) State() string {
	ctx := sim.WithCaller(context.Background(), "localrun-state")
	ec := e.Region.EC2()
	var lines []string
	if out, err := ec.DescribeInstances(ctx, &ec2.DescribeInstancesInput{}); err == nil {
		for _, r := range out.Reservations {
			for _, i := range r.Instances {
				lines = append(lines, fmt.Sprintf("instance %s %s %s", aws.ToString(i.InstanceId), i.State.Name, tags(i.Tags)))
				if app, err := e.Region.App(aws.ToString(i.InstanceId)); err == nil {
					lines = append(lines, fmt.Sprintf("  app %+v", app))
				}
			}
		}
	}
	if out, err := ec.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{}); err == nil {
		for _, v := range out.Volumes {
			var att []string
			for _, a := range v.Attachments {
				att = append(att, aws.ToString(a.InstanceId)+":"+aws.ToString(a.Device)+":"+string(a.State))
			}
			lines = append(lines, fmt.Sprintf("volume %s %s %v %s", aws.ToString(v.VolumeId), v.State, att, tags(v.Tags)))
		}
	}
	if out, err := ec.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"}}); err == nil {
		for _, s := range out.Snapshots {
			lines = append(lines, fmt.Sprintf("snapshot %s %s %s", aws.ToString(s.SnapshotId), aws.ToString(s.VolumeId), tags(s.Tags)))
		}
	}
	if out, err := ec.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{}); err == nil {
		for _, a := range out.Addresses {
			lines = append(lines, fmt.Sprintf("address %s -> %s", aws.ToString(a.AllocationId), aws.ToString(a.InstanceId)))
		}
	}
	for _, r := range e.Region.Inventory() {
		if r.Kind == sim.KindSchedule {
			lines = append(lines, "schedule "+r.ID+" "+r.State)
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func tags(ts []ec2types.Tag) string {
	var out []string
	for _, t := range ts {
		out = append(out, aws.ToString(t.Key)+"="+aws.ToString(t.Value))
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}
