package sim

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	"pgregory.net/rapid"
)

// Random sequences of operations, faults and clock advances never corrupt
// the region: no volume on two instances, no Elastic IP on two instances,
// terminated instances hold nothing, a volume and its instance share an
// AZ. Every failed call fails with an AWS API error.
func TestRandomOperationsKeepTheInventoryConsistent(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		r, err := New(Options{DataVolume: true, DataSnapshots: 1, Seed: rapid.Uint64Min(1).Draw(t, "seed")})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		ctx := WithCaller(context.Background(), "property")
		ec := r.EC2()
		f := r.Fixture()

		apiErr := func(op string, err error) {
			var ae smithy.APIError
			if err != nil && !errors.As(err, &ae) {
				t.Fatalf("%s: %v is not an AWS API error", op, err)
			}
		}
		pick := func(kind string, ids []string) string {
			if len(ids) == 0 {
				t.Skip("no " + kind)
			}
			return rapid.SampledFrom(ids).Draw(t, kind)
		}
		instances := func() []string { return r.ids(func(r *Region) []string { return r.instanceOrder }) }
		volumes := func() []string {
			return r.ids(func(r *Region) []string {
				var out []string
				for _, id := range r.volumeOrder {
					if _, ok := r.volumes[id]; ok {
						out = append(out, id)
					}
				}
				return out
			})
		}
		snapshots := func() []string {
			return r.ids(func(r *Region) []string {
				var out []string
				for _, id := range r.snapshotOrder {
					if _, ok := r.snapshots[id]; ok {
						out = append(out, id)
					}
				}
				return out
			})
		}
		az := func() string { return rapid.SampledFrom(f.AZs).Draw(t, "az") }
		device := func() string {
			return rapid.SampledFrom([]string{"/dev/sdf", "/dev/sdg", "/dev/xvda"}).Draw(t, "device")
		}

		t.Repeat(map[string]func(*rapid.T){
			"launch": func(t *rapid.T) {
				if rapid.Bool().Draw(t, "impaired") {
					r.ImpairNextInstance(1)
				}
				_, err := ec.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(f.AMI), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
					Placement: &ec2types.Placement{AvailabilityZone: aws.String(az())}})
				apiErr("RunInstances", err)
			},
			"terminate": func(t *rapid.T) {
				_, err := ec.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{pick("instance", instances())}})
				apiErr("TerminateInstances", err)
			},
			"stop": func(t *rapid.T) {
				_, err := ec.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{pick("instance", instances())}})
				apiErr("StopInstances", err)
			},
			"start": func(t *rapid.T) {
				_, err := ec.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: []string{pick("instance", instances())}})
				apiErr("StartInstances", err)
			},
			"create volume": func(t *rapid.T) {
				in := &ec2.CreateVolumeInput{AvailabilityZone: aws.String(az()), Size: aws.Int32(20)}
				if rapid.Bool().Draw(t, "from snapshot") {
					in.SnapshotId = aws.String(pick("snapshot", snapshots()))
				}
				_, err := ec.CreateVolume(ctx, in)
				apiErr("CreateVolume", err)
			},
			"attach": func(t *rapid.T) {
				_, err := ec.AttachVolume(ctx, &ec2.AttachVolumeInput{VolumeId: aws.String(pick("volume", volumes())),
					InstanceId: aws.String(pick("instance", instances())), Device: aws.String(device())})
				apiErr("AttachVolume", err)
			},
			"detach": func(t *rapid.T) {
				_, err := ec.DetachVolume(ctx, &ec2.DetachVolumeInput{VolumeId: aws.String(pick("volume", volumes())), Force: aws.Bool(rapid.Bool().Draw(t, "force"))})
				apiErr("DetachVolume", err)
			},
			"delete volume": func(t *rapid.T) {
				_, err := ec.DeleteVolume(ctx, &ec2.DeleteVolumeInput{VolumeId: aws.String(pick("volume", volumes()))})
				apiErr("DeleteVolume", err)
			},
			"snapshot": func(t *rapid.T) {
				_, err := ec.CreateSnapshot(ctx, &ec2.CreateSnapshotInput{VolumeId: aws.String(pick("volume", volumes()))})
				apiErr("CreateSnapshot", err)
			},
			"delete snapshot": func(t *rapid.T) {
				_, err := ec.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String(pick("snapshot", snapshots()))})
				apiErr("DeleteSnapshot", err)
			},
			"associate": func(t *rapid.T) {
				_, err := ec.AssociateAddress(ctx, &ec2.AssociateAddressInput{AllocationId: aws.String(f.AllocationID),
					InstanceId: aws.String(pick("instance", instances())), AllowReassociation: aws.Bool(rapid.Bool().Draw(t, "allow"))})
				apiErr("AssociateAddress", err)
			},
			"disassociate": func(t *rapid.T) {
				out, err := ec.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{AllocationIds: []string{f.AllocationID}})
				apiErr("DescribeAddresses", err)
				if err != nil || out.Addresses[0].AssociationId == nil {
					t.Skip("not associated")
				}
				_, err = ec.DisassociateAddress(ctx, &ec2.DisassociateAddressInput{AssociationId: out.Addresses[0].AssociationId})
				apiErr("DisassociateAddress", err)
			},
			"mount": func(t *rapid.T) {
				_ = r.Host(pick("instance", instances())).Mount(pick("volume", volumes()), "/data")
			},
			"unmount": func(t *rapid.T) {
				r.Host(pick("instance", instances())).Unmount()
			},
			"write": func(t *rapid.T) {
				_ = r.Write(pick("instance", instances()))
			},
			"advance": func(t *rapid.T) {
				r.Advance(ctx, time.Duration(rapid.IntRange(0, 120).Draw(t, "seconds"))*time.Second)
			},
			"fault": func(t *rapid.T) {
				op := rapid.SampledFrom([]string{"", "AttachVolume", "DetachVolume", "TerminateInstances", "AssociateAddress", "RunInstances"}).Draw(t, "op")
				code := rapid.SampledFrom([]string{"RequestLimitExceeded", "InternalError", "Unavailable"}).Draw(t, "code")
				r.Inject(Fault{Service: ServiceEC2, Operation: op, Code: code, Times: rapid.IntRange(1, 3).Draw(t, "times")})
			},
			"": func(t *rapid.T) {
				if err := r.checkInvariants(); err != nil {
					t.Fatal(err)
				}
			},
		})
	})
}

func (r *Region) ids(list func(*Region) []string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), list(r)...)
}

// checkInvariants checks the region's state is one AWS could be in.
func (r *Region) checkInvariants() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.settle()
	now := r.now()
	for id, v := range r.volumes {
		if (v.att != nil) != (v.state == volInUse) {
			return fmt.Errorf("volume %s is %s with attachment %v", id, v.state, v.att)
		}
		if v.att == nil {
			continue
		}
		i := r.instances[v.att.instanceID]
		switch {
		case i == nil:
			return fmt.Errorf("volume %s attached to unknown instance %s", id, v.att.instanceID)
		case i.state == stateTerminated:
			return fmt.Errorf("volume %s attached to terminated instance %s", id, i.id)
		case i.devices[v.att.device] != id:
			return fmt.Errorf("volume %s attached to %s at %s, which has %q there", id, i.id, v.att.device, i.devices[v.att.device])
		case i.az != v.az:
			return fmt.Errorf("volume %s in %s attached to %s in %s", id, v.az, i.id, i.az)
		}
	}
	claimed := map[string]string{}
	for id, i := range r.instances {
		for dev, vid := range i.devices {
			v := r.volumes[vid]
			if v == nil || v.att == nil || v.att.instanceID != id || v.att.device != dev {
				return fmt.Errorf("instance %s claims %s at %s, which is not attached there", id, vid, dev)
			}
			if other, ok := claimed[vid]; ok {
				return fmt.Errorf("volume %s attached to %s and %s", vid, other, id)
			}
			claimed[vid] = id
		}
		if m := i.app.MountedVolume; m != "" {
			if v := r.volumes[m]; v == nil || v.att == nil || v.att.instanceID != id {
				return fmt.Errorf("instance %s has %s mounted but not attached", id, m)
			}
		}
		if i.state == stateTerminated && (len(i.devices) > 0 || i.publicIP != "" || r.holdsAddress(id)) {
			return fmt.Errorf("terminated instance %s still holds devices %v, IP %q", id, i.devices, i.publicIP)
		}
	}
	holders := map[string]string{}
	for id, a := range r.addresses {
		if a.instanceID != "" {
			i := r.instances[a.instanceID]
			if i == nil || i.state == stateTerminated || i.publicIP != a.publicIP {
				return fmt.Errorf("address %s on %s, which is gone or shows another IP", id, a.instanceID)
			}
			if other, ok := holders[a.instanceID]; ok {
				return fmt.Errorf("instance %s holds %s and %s", a.instanceID, other, id)
			}
			holders[a.instanceID] = id
		}
		if target := a.trafficAt(now); target != "" && r.instances[target] == nil {
			return fmt.Errorf("address %s routes to unknown %s", id, target)
		}
	}
	return nil
}
