package sim

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

func newDirDisks(t *testing.T) *DirDisks {
	t.Helper()
	d, err := NewDirDisks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// logLines is a writes log's lines.
func logLines(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, WritesLog))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// appendLines writes to a volume's log directly, as the app's process does.
func appendLines(t *testing.T, d *DirDisks, volumeID string, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(d.Dir(volumeID), WritesLog), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines {
		if _, err := f.WriteString(l + "\n"); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestDisksFixture(t *testing.T) {
	d := newDirDisks(t)
	r := NewTest(t, Options{DataVolume: true, DataSnapshots: 1, Disks: d})
	f := r.Fixture()
	got := logLines(t, d.Dir(f.DataVolume))
	if n, err := r.VolumeWrites(f.DataVolume); err != nil || n != 150 || len(got) != 150 {
		t.Fatalf("live data volume: VolumeWrites %d (%v), %d lines in its log; want 150", n, err, len(got))
	}
	if got[0] != "history-1" || got[149] != "history-150" {
		t.Errorf("live data volume log runs %q … %q, want history-1 … history-150", got[0], got[149])
	}
	snap := f.DataSnapshots[0]
	if n, err := r.SnapshotWrites(snap); err != nil || n != 100 || len(logLines(t, d.snapshotDir(snap))) != 100 {
		t.Errorf("fixture snapshot: SnapshotWrites %d (%v), want 100 in its log too", n, err)
	}
	// The live instance's root, restored from the golden image, is empty.
	root := r.instances[f.LiveInstance].devices[r.instances[f.LiveInstance].rootDevice]
	if n, err := r.VolumeWrites(root); err != nil || n != 0 {
		t.Errorf("root volume: %d writes (%v), want 0", n, err)
	}
}

// writeDuringCopy has the app write just as a snapshot's copy ends.
type writeDuringCopy struct{ *DirDisks }

func (d writeDuringCopy) Snapshot(snapshotID, volumeID string) error {
	if err := d.DirDisks.Snapshot(snapshotID, volumeID); err != nil {
		return err
	}
	return d.Append(volumeID, "during")
}

// A snapshot holds the volume's content at the call: lines the app
// appends after it are in the volume, not in the snapshot or a volume
// restored from it, and the region counts the copy, not the volume.
func TestDisksSnapshotIsPointInTime(t *testing.T) {
	d := newDirDisks(t)
	r := NewTest(t, Options{DataVolume: true, Disks: writeDuringCopy{d}})
	f := r.Fixture()
	appendLines(t, d, f.DataVolume, "before-1", "before-2")
	out, err := r.EC2().CreateSnapshot(testCtx(), &ec2.CreateSnapshotInput{VolumeId: aws.String(f.DataVolume)})
	wantCode(t, err, "")
	snap := aws.ToString(out.SnapshotId)
	appendLines(t, d, f.DataVolume, "after-1", "after-2", "after-3")

	if n, _ := r.SnapshotWrites(snap); n != 52 || r.snapshots[snap].writes != 52 {
		t.Errorf("snapshot holds %d writes, recorded %d; want 52 (the content at the call)", n, r.snapshots[snap].writes)
	}
	r.Advance(testCtx(), r.Latencies().snapshotDuration(1<<40))
	restored := createVolume(t, r, f.LiveAZ, snap)
	got := logLines(t, d.Dir(restored))
	if len(got) != 52 || got[50] != "before-1" || got[51] != "before-2" {
		t.Fatalf("restored volume's log ends %q (%d lines), want 52 ending before-1, before-2", got[max(len(got)-3, 0):], len(got))
	}
	if n, _ := r.VolumeWrites(f.DataVolume); n != 56 {
		t.Errorf("live volume holds %d writes, want 56", n)
	}
}

func TestDisksEmptyVolumeAndWrite(t *testing.T) {
	d := newDirDisks(t)
	r := NewTest(t, Options{DataVolume: true, Disks: d})
	f := r.Fixture()
	empty := createVolume(t, r, f.LiveAZ, "")
	if fi, err := os.Stat(d.Dir(empty)); err != nil || !fi.IsDir() {
		t.Fatalf("empty volume's directory: %v", err)
	}
	if n, err := r.VolumeWrites(empty); err != nil || n != 0 {
		t.Errorf("empty volume holds %d writes (%v), want 0", n, err)
	}

	if err := r.Write(f.LiveInstance); err != nil {
		t.Fatal(err)
	}
	got := logLines(t, d.Dir(f.DataVolume))
	if len(got) != 51 || got[50] != f.LiveInstance+"-51" {
		t.Errorf("after Region.Write the log ends %q (%d lines), want %s-51", got[len(got)-1], len(got), f.LiveInstance)
	}
	if n, _ := r.VolumeWrites(f.DataVolume); n != 51 || r.volumes[f.DataVolume].writes != 51 {
		t.Errorf("VolumeWrites %d, counter %d; want both 51", n, r.volumes[f.DataVolume].writes)
	}

	// Deleting a volume or a snapshot removes its content.
	r.Advance(testCtx(), r.Latencies().CreateVolume)
	_, err := r.EC2().DeleteVolume(testCtx(), &ec2.DeleteVolumeInput{VolumeId: aws.String(empty)})
	wantCode(t, err, "")
	if _, err := os.Stat(d.Dir(empty)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("deleted volume's directory: %v, want gone", err)
	}
}

// The snapshot timing model reads the store: lines a process appends
// count as changed data just as Region.Write calls do.
func TestDisksSnapshotTimingReadsTheStore(t *testing.T) {
	const writes = 300
	duration := func(disks Disks, write func(r *Region)) time.Duration {
		r := NewTest(t, Options{DataVolume: true, DataSnapshots: 1, Disks: disks})
		write(r)
		out, err := r.EC2().CreateSnapshot(testCtx(), &ec2.CreateSnapshotInput{VolumeId: aws.String(r.Fixture().DataVolume)})
		wantCode(t, err, "")
		s := r.snapshots[aws.ToString(out.SnapshotId)]
		return s.complete.Sub(s.start)
	}
	counter := duration(nil, func(r *Region) {
		for n := 0; n < writes; n++ {
			if err := r.Write(r.Fixture().LiveInstance); err != nil {
				t.Fatal(err)
			}
		}
	})
	d := newDirDisks(t)
	store := duration(d, func(r *Region) {
		lines := make([]string, writes)
		for n := range lines {
			lines[n] = "app-write"
		}
		appendLines(t, d, r.Fixture().DataVolume, lines...)
	})
	// 50 fixture writes and 300 more since the fixture's snapshot, 1 MiB
	// each at 100 MiB/s: 3.5 s on top of the base.
	lat := DefaultLatencies()
	want := lat.snapshotDuration((50 + writes) * lat.BytesPerWrite)
	if counter != want || store != want {
		t.Errorf("snapshot takes %v with the counter, %v with the store; want %v", counter, store, want)
	}
}

// failingDisks fails every snapshot copy.
type failingDisks struct{ *DirDisks }

func (failingDisks) Snapshot(string, string) error { return errors.New("disk full") }

// A store that fails fails the AWS call, AWS's fault, and records nothing.
func TestDisksErrorFailsTheCall(t *testing.T) {
	r := NewTest(t, Options{DataVolume: true, Disks: failingDisks{newDirDisks(t)}})
	before := len(r.snapshots)
	_, err := r.EC2().CreateSnapshot(testCtx(), &ec2.CreateSnapshotInput{VolumeId: aws.String(r.Fixture().DataVolume)})
	wantCode(t, err, "InternalError")
	if len(r.snapshots) != before {
		t.Errorf("%d snapshots after the failed call, want %d", len(r.snapshots), before)
	}
}

// VolumeWriteIDs reads the ids back in order, and a line still being
// written (no newline yet) is not a write.
func TestDisksVolumeWriteIDs(t *testing.T) {
	d, err := NewDirDisks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(d.Dir("vol-1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if ids, err := d.VolumeWriteIDs("vol-1"); err != nil || len(ids) != 0 {
		t.Fatalf("an empty volume: %v, %v", ids, err)
	}
	for _, id := range []string{"u1-1", "u2-1"} {
		if err := d.Append("vol-1", id); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.OpenFile(filepath.Join(d.Dir("vol-1"), WritesLog), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString("u3-")
	f.Close()
	if ids, err := d.VolumeWriteIDs("vol-1"); err != nil || !slices.Equal(ids, []string{"u1-1", "u2-1"}) {
		t.Fatalf("ids %v, %v: want u1-1 and u2-1, not the half-written line", ids, err)
	}
}

// A nil *DirDisks (a caller's unset store) is no store, as a nil Disks.
func TestNilDirDisksIsNoStore(t *testing.T) {
	var d *DirDisks
	r, err := New(Options{DataVolume: true, Disks: d})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if n, err := r.VolumeWrites(r.Fixture().DataVolume); err != nil || n == 0 {
		t.Errorf("the live volume's writes: %d, %v; want the modelled history", n, err)
	}
}
