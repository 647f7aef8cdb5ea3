package sim

import (
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// The volume content model: writes land on the mounted data volume only
// while the app accepts them, snapshots capture the count at the call,
// restored volumes start from it.
func TestWritesAndSnapshots(t *testing.T) {
	r := NewTest(t, Options{DataVolume: true})
	f := r.Fixture()
	h := r.Host(f.LiveInstance)
	start, _ := r.VolumeWrites(f.DataVolume)
	for n := 0; n < 5; n++ {
		if err := r.Write(f.LiveInstance); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name string
		stop func()
		undo func()
	}{
		{"maintenance", func() { h.SetMaintenance(true) }, func() { h.SetMaintenance(false) }},
		{"frozen", h.Freeze, h.Thaw},
		{"app stopped", h.StopApp, func() { _ = h.StartApp() }},
		{"unmounted", h.Unmount, func() { _ = h.Mount(f.DataVolume, f.DataMountPoint) }},
	} {
		c.stop()
		if err := r.Write(f.LiveInstance); !errors.Is(err, ErrWriteRefused) {
			t.Errorf("%s: write %v, want refused", c.name, err)
		}
		c.undo()
		if err := r.Write(f.LiveInstance); err != nil {
			t.Errorf("after %s is undone: %v", c.name, err)
		}
	}
	got, _ := r.VolumeWrites(f.DataVolume)
	if got != start+9 {
		t.Fatalf("volume holds %d writes, want %d", got, start+9)
	}
	out, err := r.EC2().CreateSnapshot(testCtx(), &ec2.CreateSnapshotInput{VolumeId: aws.String(f.DataVolume)})
	wantCode(t, err, "")
	if err := r.Write(f.LiveInstance); err != nil {
		t.Fatal(err)
	}
	if s, _ := r.SnapshotWrites(aws.ToString(out.SnapshotId)); s != got {
		t.Fatalf("snapshot holds %d, want %d", s, got)
	}
	r.Advance(testCtx(), r.Latencies().snapshotDuration(1<<40))
	restored := createVolume(t, r, f.LiveAZ, aws.ToString(out.SnapshotId))
	if n, _ := r.VolumeWrites(restored); n != got {
		t.Fatalf("restored volume holds %d, want %d", n, got)
	}
}
