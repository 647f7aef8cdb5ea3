package sim

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Disks holds the real content of volumes and snapshots, for an engine
// that runs the app as processes writing files (Options.Disks). The
// region calls it, with its lock held, wherever the counter model changes
// content; nil keeps the counter model alone. Ids are the region's.
type Disks interface {
	// FillVolume and FillSnapshot give a new fixture volume or snapshot
	// the history of n writes.
	FillVolume(volumeID string, writes int64) error
	FillSnapshot(snapshotID string, writes int64) error
	// Snapshot copies the volume's content as it is now: a snapshot is
	// point-in-time.
	Snapshot(snapshotID, volumeID string) error
	// Restore gives a volume created from a snapshot the snapshot's
	// content.
	Restore(volumeID, snapshotID string) error
	// Empty gives a volume created without a snapshot empty content.
	Empty(volumeID string) error
	// Append adds one write to the volume (Region.Write).
	Append(volumeID, writeID string) error
	// VolumeWrites and SnapshotWrites are how many writes the content
	// holds now; the snapshot timing model reads them.
	VolumeWrites(volumeID string) (int64, error)
	SnapshotWrites(snapshotID string) (int64, error)
	// DeleteVolume and DeleteSnapshot remove the content.
	DeleteVolume(volumeID string) error
	DeleteSnapshot(snapshotID string) error
	// Dir is the directory holding the volume's files, for mounting.
	Dir(volumeID string) string
}

// WritesLog is the file in a volume's directory the app appends writes
// to, one "<write-id>\n" line each.
const WritesLog = "writes.log"

// DirDisks keeps content in directories: root/volumes/<vol-id>/ and
// root/snapshots/<snap-id>/.
type DirDisks struct{ root string }

var _ Disks = (*DirDisks)(nil)

// NewDirDisks makes the layout under root.
func NewDirDisks(root string) (*DirDisks, error) {
	d := &DirDisks{root: root}
	for _, dir := range []string{d.Dir(""), d.snapshotDir("")} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// Dir is where the volume's files are.
func (d *DirDisks) Dir(volumeID string) string { return filepath.Join(d.root, "volumes", volumeID) }

func (d *DirDisks) snapshotDir(id string) string { return filepath.Join(d.root, "snapshots", id) }

// FillVolume replaces the volume's content with n writes "history-<k>".
func (d *DirDisks) FillVolume(volumeID string, writes int64) error {
	return fill(d.Dir(volumeID), writes)
}

// FillSnapshot replaces the snapshot's content with n writes.
func (d *DirDisks) FillSnapshot(snapshotID string, writes int64) error {
	return fill(d.snapshotDir(snapshotID), writes)
}

func fill(dir string, writes int64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var b bytes.Buffer
	for k := int64(1); k <= writes; k++ {
		fmt.Fprintf(&b, "history-%d\n", k)
	}
	return os.WriteFile(filepath.Join(dir, WritesLog), b.Bytes(), 0o644)
}

// Snapshot copies the volume's directory. The region holds its lock, so
// none of its own writes interleave; an app writing without a freeze may
// be caught mid-write, as on EBS, where AWS recommends pausing writes
// first (ebs/latest/userguide/ebs-creating-snapshot.html): the copy is
// crash-consistent only, which is why greenlight freezes first.
func (d *DirDisks) Snapshot(snapshotID, volumeID string) error {
	return replaceWithCopy(d.Dir(volumeID), d.snapshotDir(snapshotID))
}

// Restore copies the snapshot's directory to the volume's.
func (d *DirDisks) Restore(volumeID, snapshotID string) error {
	return replaceWithCopy(d.snapshotDir(snapshotID), d.Dir(volumeID))
}

// Empty makes the volume's directory, empty. A directory left by an
// earlier region using the same root and ids is not this volume's.
func (d *DirDisks) Empty(volumeID string) error {
	dir := d.Dir(volumeID)
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.Mkdir(dir, 0o755)
}

// Append adds a line to the volume's writes log, as the app does.
func (d *DirDisks) Append(volumeID, writeID string) error {
	f, err := os.OpenFile(filepath.Join(d.Dir(volumeID), WritesLog), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteString(writeID + "\n")
	return errors.Join(err, f.Close())
}

// VolumeWrites counts the lines of the volume's writes log.
func (d *DirDisks) VolumeWrites(volumeID string) (int64, error) {
	return countWrites(d.Dir(volumeID))
}

// VolumeWriteIDs are the complete lines of the volume's writes log: the
// ids of the writes it holds, in order. No log is none.
func (d *DirDisks) VolumeWriteIDs(volumeID string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(d.Dir(volumeID), WritesLog))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	} else {
		return nil, nil // a line the app is still writing is not a write yet
	}
	return strings.Split(string(b), "\n"), nil
}

// SnapshotWrites counts the lines of the snapshot's writes log.
func (d *DirDisks) SnapshotWrites(snapshotID string) (int64, error) {
	return countWrites(d.snapshotDir(snapshotID))
}

// DeleteVolume removes the volume's directory.
func (d *DirDisks) DeleteVolume(volumeID string) error { return os.RemoveAll(d.Dir(volumeID)) }

// DeleteSnapshot removes the snapshot's directory.
func (d *DirDisks) DeleteSnapshot(snapshotID string) error {
	return os.RemoveAll(d.snapshotDir(snapshotID))
}

// countWrites counts complete lines: a line the app is still writing is
// not a write yet. No log is no writes; no directory is an error.
func countWrites(dir string) (int64, error) {
	f, err := os.Open(filepath.Join(dir, WritesLog))
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Stat(dir); serr != nil {
			return 0, serr
		}
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var n int64
	buf := make([]byte, 64<<10)
	for {
		k, err := f.Read(buf)
		n += int64(bytes.Count(buf[:k], []byte{'\n'}))
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return 0, err
		}
	}
}

// replaceWithCopy makes dst a copy of src, removing what dst held; a
// failed copy leaves no dst rather than half of one.
func replaceWithCopy(src, dst string) error {
	if _, err := os.Stat(src); err != nil {
		return err
	}
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	if err := copyDir(src, dst); err != nil {
		return errors.Join(err, os.RemoveAll(dst))
	}
	// The new directory's entry in its parent, durable too.
	return syncDir(filepath.Dir(dst))
}

// copyDir copies every regular file (and directory) under src, each
// file and then each directory fsynced so the copy survives a crash. Any
// other kind of file is an error rather than silently left out.
func copyDir(src, dst string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	if err := os.Mkdir(dst, 0o755); err != nil {
		return err
	}
	for _, e := range entries {
		from, to := filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())
		switch {
		case e.IsDir():
			err = copyDir(from, to)
		case e.Type().IsRegular():
			err = copyFile(from, to)
		default:
			err = fmt.Errorf("%s: %s is not a regular file or directory", from, strings.TrimSpace(e.Type().String()))
		}
		if err != nil {
			return err
		}
	}
	return syncDir(dst)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, info.Mode().Perm())
	if err != nil {
		return err
	}
	// The size at open is the point in time: what the app appends while
	// the copy runs is not in it.
	_, err = io.Copy(out, io.LimitReader(in, info.Size()))
	if err == nil {
		err = out.Sync()
	}
	return errors.Join(err, out.Close())
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(f.Sync(), f.Close())
}
