// Package artifact checks a release archive (a gzipped tar) by streaming
// it once: gzip integrity, tar structure, safe paths, no special files,
// size limits, and its SHA-256. The prepare step runs it on the uploaded
// object before anything is created; `greenlight release` runs it before
// uploading, so both refuse the same archives.
package artifact

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// Entrypoint is the file every release must hold: the instance's systemd
// unit starts it (see instance/README.md).
const Entrypoint = "greenlight/run"

// Summary describes a valid archive.
type Summary struct {
	SHA256           string // of the compressed archive, hex
	CompressedSize   int64
	UncompressedSize int64
	Files            int
	Version          string // the VERSION file's first line, when present
}

// Problem is why an archive is refused.
type Problem struct{ Reason string }

func (p *Problem) Error() string { return p.Reason }

func refuse(format string, args ...any) error { return &Problem{Reason: fmt.Sprintf(format, args...)} }

// Inspect reads the whole archive from r. limit bounds both the compressed
// and the uncompressed size in bytes. It returns a *Problem for an archive
// that must not be released, any other error for a read failure.
func Inspect(r io.Reader, limit int64) (Summary, error) {
	var s Summary
	h := sha256.New()
	counted := &countingReader{r: io.TeeReader(r, h), limit: limit}
	gz, err := gzip.NewReader(counted)
	if err != nil {
		if counted.over {
			return s, refuse("the archive is larger than %s", size(limit))
		}
		if counted.n == 0 {
			return s, refuse("the archive is empty (0 bytes)")
		}
		return s, refuse("not a gzip file: %v", err)
	}
	tr := tar.NewReader(gz)
	hasEntrypoint := false
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if counted.over {
				return s, refuse("the archive is larger than %s", size(limit))
			}
			if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) {
				return s, refuse("the archive is truncated or corrupt: %v", err)
			}
			return s, refuse("not a valid tar archive: %v", err)
		}
		if err := checkEntry(hdr); err != nil {
			return s, err
		}
		if hdr.Typeflag == tar.TypeReg && clean(hdr.Name) == Entrypoint {
			if hdr.Mode&0o111 == 0 {
				return s, refuse("%s is not executable", Entrypoint)
			}
			hasEntrypoint = true
		}
		if hdr.Typeflag == tar.TypeReg {
			s.Files++
			s.UncompressedSize += hdr.Size
			if s.UncompressedSize > limit {
				return s, refuse("the archive unpacks to more than %s", size(limit))
			}
			if clean(hdr.Name) == "VERSION" {
				b, _ := io.ReadAll(io.LimitReader(tr, 256))
				s.Version = strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0])
			}
		}
		// Read the entry's data so truncation anywhere is caught.
		if _, err := io.Copy(io.Discard, tr); err != nil {
			if counted.over {
				return s, refuse("the archive is larger than %s", size(limit))
			}
			return s, refuse("the archive is truncated or corrupt in %s: %v", hdr.Name, err)
		}
	}
	// The gzip trailer (CRC and size) is checked once the stream ends.
	if _, err := io.Copy(io.Discard, gz); err != nil {
		return s, refuse("the archive is truncated or corrupt: %v", err)
	}
	if err := gz.Close(); err != nil {
		return s, refuse("the archive is corrupt: %v", err)
	}
	if s.Files == 0 {
		return s, refuse("the archive holds no files")
	}
	if !hasEntrypoint {
		return s, refuse("the archive has no %s, the entry point the app's service starts", Entrypoint)
	}
	s.SHA256 = hex.EncodeToString(h.Sum(nil))
	s.CompressedSize = counted.n
	return s, nil
}

func clean(name string) string {
	return strings.TrimPrefix(path.Clean("/"+name), "/")
}

// checkEntry refuses what the instance's unpacking would refuse: absolute
// paths, "..", links leaving the release directory, devices and fifos.
func checkEntry(h *tar.Header) error {
	name := h.Name
	if name == "" {
		return refuse("an entry has an empty name")
	}
	if strings.HasPrefix(name, "/") {
		return refuse("absolute path %q", name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return refuse("path %q climbs out of the release directory", name)
		}
	}
	switch h.Typeflag {
	case tar.TypeReg, tar.TypeDir:
		return nil
	case tar.TypeSymlink:
		target := h.Linkname
		if strings.HasPrefix(target, "/") {
			return refuse("symlink %q points to absolute path %q", name, target)
		}
		if escapes(path.Join(path.Dir(clean(name)), target)) {
			return refuse("symlink %q points outside the release directory (%q)", name, target)
		}
		return nil
	case tar.TypeLink:
		if strings.HasPrefix(h.Linkname, "/") || escapes(h.Linkname) {
			return refuse("hard link %q points outside the release directory (%q)", name, h.Linkname)
		}
		return nil
	case tar.TypeXGlobalHeader, tar.TypeXHeader, tar.TypeGNULongName, tar.TypeGNULongLink:
		return nil
	case tar.TypeChar, tar.TypeBlock:
		return refuse("device file %q", name)
	case tar.TypeFifo:
		return refuse("fifo %q", name)
	default:
		return refuse("entry %q has unsupported type %q", name, string(h.Typeflag))
	}
}

// escapes reports whether a relative path, resolved lexically, leaves the
// directory it is relative to.
func escapes(p string) bool {
	c := path.Clean(p)
	return c == ".." || strings.HasPrefix(c, "../")
}

type countingReader struct {
	r     io.Reader
	n     int64
	limit int64
	over  bool
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.limit > 0 && c.n > c.limit {
		c.over = true
		return n, errors.New("size limit exceeded")
	}
	return n, err
}

// size words a byte count for a message.
func size(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}
