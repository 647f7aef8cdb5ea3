package sim

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// createVolume makes a volume in the AZ from a snapshot ("" for empty).
func createVolume(t *testing.T, r *Region, az, snapshot string) string {
	t.Helper()
	in := &ec2.CreateVolumeInput{AvailabilityZone: aws.String(az), VolumeType: ec2types.VolumeTypeGp3,
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeVolume,
			Tags: []ec2types.Tag{{Key: aws.String("greenlight:release"), Value: aws.String("r1")}}}}}
	if snapshot != "" {
		in.SnapshotId = aws.String(snapshot)
	} else {
		in.Size = aws.Int32(10)
	}
	out, err := r.EC2().CreateVolume(testCtx(), in)
	if err != nil {
		t.Fatalf("CreateVolume: %v", err)
	}
	return aws.ToString(out.VolumeId)
}

func TestVolumeFromSnapshot(t *testing.T) {
	r := NewTest(t, Options{DataVolume: true, DataSnapshots: 2})
	f := r.Fixture()
	latest := f.DataSnapshots[1]
	id := createVolume(t, r, f.LiveAZ, latest)
	v := volumeOf(t, r, id)
	if v.State != ec2types.VolumeStateCreating || aws.ToString(v.SnapshotId) != latest || !aws.ToBool(v.Encrypted) || aws.ToInt32(v.Size) != 20 {
		t.Fatalf("new volume: state=%v snapshot=%s encrypted=%v size=%d", v.State, aws.ToString(v.SnapshotId), aws.ToBool(v.Encrypted), aws.ToInt32(v.Size))
	}
	if got := tagSetOf(v.Tags)["greenlight:release"]; got != "r1" {
		t.Errorf("release tag %q", got)
	}
	r.Advance(testCtx(), r.Latencies().CreateVolume)
	if v := volumeOf(t, r, id); v.State != ec2types.VolumeStateAvailable {
		t.Fatalf("after %v: %v, want available", r.Latencies().CreateVolume, v.State)
	}
	want, _ := r.SnapshotWrites(latest)
	if got, _ := r.VolumeWrites(id); got != want || want != 200 {
		t.Errorf("restored volume holds %d writes, snapshot %d (want 200)", got, want)
	}

	// A snapshot still pending cannot be restored.
	snap, err := r.EC2().CreateSnapshot(testCtx(), &ec2.CreateSnapshotInput{VolumeId: aws.String(f.DataVolume)})
	wantCode(t, err, "")
	_, err = r.EC2().CreateVolume(testCtx(), &ec2.CreateVolumeInput{AvailabilityZone: aws.String(f.LiveAZ), SnapshotId: snap.SnapshotId})
	wantCode(t, err, "IncorrectState")
	_, err = r.EC2().CreateVolume(testCtx(), &ec2.CreateVolumeInput{AvailabilityZone: aws.String(f.LiveAZ), SnapshotId: aws.String("snap-0123456789abcdef0")})
	wantCode(t, err, "InvalidSnapshot.NotFound")
	_, err = r.EC2().CreateVolume(testCtx(), &ec2.CreateVolumeInput{AvailabilityZone: aws.String("eu-west-1z"), Size: aws.Int32(1)})
	wantCode(t, err, "InvalidParameterValue")
	_, err = r.EC2().CreateVolume(testCtx(), &ec2.CreateVolumeInput{AvailabilityZone: aws.String(f.LiveAZ)})
	wantCode(t, err, "MissingParameter")
}

func TestAttachAndDetach(t *testing.T) {
	r := NewTest(t, Options{DataVolume: true})
	f := r.Fixture()
	lat := r.Latencies()
	cand := boot(t, r, f.LiveAZ)
	other := boot(t, r, f.AZs[1])
	vol := createVolume(t, r, f.LiveAZ, "")
	farVol := createVolume(t, r, f.AZs[1], "")

	attach := func(vol, inst, dev string) error {
		_, err := r.EC2().AttachVolume(testCtx(), &ec2.AttachVolumeInput{VolumeId: aws.String(vol), InstanceId: aws.String(inst), Device: aws.String(dev)})
		return err
	}
	wantCode(t, attach(vol, cand, "/dev/sdf"), "IncorrectState") // still creating
	r.Advance(testCtx(), lat.CreateVolume)

	for _, c := range []struct {
		name, vol, inst, dev, code string
	}{
		{"other AZ", vol, other, "/dev/sdf", "InvalidVolume.ZoneMismatch"},
		{"volume attached elsewhere", f.DataVolume, cand, "/dev/sdg", "VolumeInUse"},
		{"device taken", farVol, other, "/dev/xvda", "InvalidParameterValue"},
		{"unknown volume", "vol-0123456789abcdef0", cand, "/dev/sdf", "InvalidVolume.NotFound"},
		{"malformed volume", "data", cand, "/dev/sdf", "InvalidVolumeID.Malformed"},
		{"unknown instance", vol, "i-0123456789abcdef0", "/dev/sdf", "InvalidInstanceID.NotFound"},
	} {
		t.Run(c.name, func(t *testing.T) { wantCode(t, attach(c.vol, c.inst, c.dev), c.code) })
	}

	wantCode(t, attach(vol, cand, "/dev/sdf"), "")
	v := volumeOf(t, r, vol)
	if v.State != ec2types.VolumeStateInUse || v.Attachments[0].State != ec2types.VolumeAttachmentStateAttaching {
		t.Fatalf("after AttachVolume: %v/%v, want in-use/attaching", v.State, v.Attachments[0].State)
	}
	wantCode(t, attach(vol, cand, "/dev/sdg"), "VolumeInUse")
	r.Advance(testCtx(), lat.AttachVolume)
	if v := volumeOf(t, r, vol); v.Attachments[0].State != ec2types.VolumeAttachmentStateAttached {
		t.Fatalf("after %v: %v, want attached", lat.AttachVolume, v.Attachments[0].State)
	}
	_, err := r.EC2().DeleteVolume(testCtx(), &ec2.DeleteVolumeInput{VolumeId: aws.String(vol)})
	wantCode(t, err, "VolumeInUse")
	_, err = r.EC2().DetachVolume(testCtx(), &ec2.DetachVolumeInput{VolumeId: aws.String(vol), InstanceId: aws.String(other)})
	wantCode(t, err, "InvalidAttachment.NotFound")

	out, err := r.EC2().DetachVolume(testCtx(), &ec2.DetachVolumeInput{VolumeId: aws.String(vol)})
	wantCode(t, err, "")
	if out.State != ec2types.VolumeAttachmentStateDetaching {
		t.Fatalf("DetachVolume state %v, want detaching", out.State)
	}
	r.Advance(testCtx(), lat.DetachVolume)
	if v := volumeOf(t, r, vol); v.State != ec2types.VolumeStateAvailable || len(v.Attachments) != 0 {
		t.Fatalf("after %v: %v with %d attachments, want available", lat.DetachVolume, v.State, len(v.Attachments))
	}
	_, err = r.EC2().DetachVolume(testCtx(), &ec2.DetachVolumeInput{VolumeId: aws.String(vol)})
	wantCode(t, err, "IncorrectState")
	_, err = r.EC2().DeleteVolume(testCtx(), &ec2.DeleteVolumeInput{VolumeId: aws.String(vol)})
	wantCode(t, err, "")
	_, err = r.EC2().DescribeVolumes(testCtx(), &ec2.DescribeVolumesInput{VolumeIds: []string{vol}})
	wantCode(t, err, "InvalidVolume.NotFound")
}

// A mounted volume's detach waits, busy, until the OS lets go of it.
func TestDetachWaitsForUnmount(t *testing.T) {
	r := NewTest(t, Options{DataVolume: true})
	f := r.Fixture()
	_, err := r.EC2().DetachVolume(testCtx(), &ec2.DetachVolumeInput{VolumeId: aws.String(f.DataVolume)})
	wantCode(t, err, "")
	r.Advance(testCtx(), r.Latencies().DetachVolume*10)
	if v := volumeOf(t, r, f.DataVolume); v.Attachments[0].State != ec2types.VolumeAttachmentStateBusy {
		t.Fatalf("mounted volume: %v, want busy", v.Attachments[0].State)
	}
	r.Host(f.LiveInstance).Unmount()
	r.Advance(testCtx(), r.Latencies().DetachVolume)
	if v := volumeOf(t, r, f.DataVolume); v.State != ec2types.VolumeStateAvailable {
		t.Fatalf("after unmount: %v, want available", v.State)
	}
}

func TestSnapshots(t *testing.T) {
	r := NewTest(t, Options{DataVolume: true, DataSnapshots: 1})
	f := r.Fixture()
	lat := r.Latencies()
	before, _ := r.VolumeWrites(f.DataVolume)
	out, err := r.EC2().CreateSnapshot(testCtx(), &ec2.CreateSnapshotInput{VolumeId: aws.String(f.DataVolume),
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSnapshot,
			Tags: []ec2types.Tag{{Key: aws.String("greenlight:release"), Value: aws.String("r1")}}}}})
	wantCode(t, err, "")
	id := aws.ToString(out.SnapshotId)
	if out.State != ec2types.SnapshotStatePending || aws.ToString(out.Progress) != "0%" {
		t.Fatalf("new snapshot %v %s, want pending 0%%", out.State, aws.ToString(out.Progress))
	}
	// Writes after the call are not in the snapshot.
	for n := 0; n < 3; n++ {
		if err := r.Write(f.LiveInstance); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := r.SnapshotWrites(id); got != before {
		t.Fatalf("snapshot holds %d writes, want %d (the content at the call)", got, before)
	}
	// 50 writes since the last snapshot at 1 MiB each: 0.5 s of copying.
	r.Advance(testCtx(), lat.SnapshotBase/2)
	describeSnap := func() ec2types.Snapshot {
		out, err := r.EC2().DescribeSnapshots(testCtx(), &ec2.DescribeSnapshotsInput{SnapshotIds: []string{id}})
		wantCode(t, err, "")
		return out.Snapshots[0]
	}
	if s := describeSnap(); s.State != ec2types.SnapshotStatePending || aws.ToString(s.Progress) == "0%" {
		t.Errorf("halfway: %v %s", s.State, aws.ToString(s.Progress))
	}
	r.Advance(testCtx(), lat.SnapshotBase)
	if s := describeSnap(); s.State != ec2types.SnapshotStateCompleted || aws.ToString(s.Progress) != "100%" {
		t.Errorf("done: %v %s", s.State, aws.ToString(s.Progress))
	}

	list, err := r.EC2().DescribeSnapshots(testCtx(), &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"},
		Filters: []ec2types.Filter{{Name: aws.String("volume-id"), Values: []string{f.DataVolume}}}})
	wantCode(t, err, "")
	if len(list.Snapshots) != 2 {
		t.Errorf("snapshots of the data volume: %d, want 2", len(list.Snapshots))
	}
	byTag, _ := r.EC2().DescribeSnapshots(testCtx(), &ec2.DescribeSnapshotsInput{Filters: []ec2types.Filter{{Name: aws.String("tag:greenlight:release"), Values: []string{"r1"}}}})
	if len(byTag.Snapshots) != 1 || aws.ToString(byTag.Snapshots[0].SnapshotId) != id {
		t.Errorf("by tag: %v", byTag.Snapshots)
	}

	img := r.images[f.AMI]
	_, err = r.EC2().DeleteSnapshot(testCtx(), &ec2.DeleteSnapshotInput{SnapshotId: aws.String(img.snapshotID)})
	wantCode(t, err, "InvalidSnapshot.InUse")
	_, err = r.EC2().DeleteSnapshot(testCtx(), &ec2.DeleteSnapshotInput{SnapshotId: aws.String(id)})
	wantCode(t, err, "")
	_, err = r.EC2().DeleteSnapshot(testCtx(), &ec2.DeleteSnapshotInput{SnapshotId: aws.String(id)})
	wantCode(t, err, "InvalidSnapshot.NotFound")
}

func TestFirstSnapshotCopiesTheWholeVolume(t *testing.T) {
	r := NewTest(t, Options{})
	vol := createVolume(t, r, "eu-west-1a", "")
	r.Advance(testCtx(), r.Latencies().CreateVolume)
	out, err := r.EC2().CreateSnapshot(testCtx(), &ec2.CreateSnapshotInput{VolumeId: aws.String(vol)})
	wantCode(t, err, "")
	// 10 GiB at 100 MiB/s is 102.4 s, plus the 20 s base.
	s := r.snapshots[aws.ToString(out.SnapshotId)]
	if got := s.complete.Sub(s.start).Seconds(); got < 122 || got > 123 {
		t.Errorf("first snapshot of 10 GiB takes %.1fs, want 122.4s", got)
	}
}
