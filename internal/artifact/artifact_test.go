package artifact

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func mustBuild(t *testing.T, entries ...Entry) []byte {
	t.Helper()
	b, err := Build(entries)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestInspectAcceptsTheSample(t *testing.T) {
	b, err := Sample("shop", "1.4.2")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Inspect(bytes.NewReader(b), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if s.SHA256 != hex.EncodeToString(sum[:]) || s.CompressedSize != int64(len(b)) || s.Version != "1.4.2" || s.Files != 5 {
		t.Errorf("summary %+v", s)
	}
}

func TestInspectRefuses(t *testing.T) {
	good := mustBuild(t, Entry{Name: "VERSION", Body: "1\n"}, Entry{Name: "bin/app", Body: strings.Repeat("x", 1000)})
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty file", nil, "the archive is empty"},
		{"not gzip", []byte("PK\x03\x04 this is a zip"), "not a gzip file"},
		{"truncated", good[:len(good)/2], "truncated or corrupt"},
		{"corrupt trailer", append(append([]byte{}, good[:len(good)-8]...), 1, 2, 3, 4, 5, 6, 7, 8), "corrupt"},
		{"no files", mustBuild(t, Entry{Name: "empty/", Type: tar.TypeDir}), "holds no files"},
		{"traversal", mustBuild(t, Entry{Name: "../etc/passwd", Body: "x"}), "climbs out"},
		{"nested traversal", mustBuild(t, Entry{Name: "a/../../b", Body: "x"}), "climbs out"},
		{"absolute path", mustBuild(t, Entry{Name: "/etc/cron.d/evil", Body: "x"}), "absolute path"},
		{"escaping symlink", mustBuild(t, Entry{Name: "VERSION", Body: "1"}, Entry{Name: "lib/x", Type: tar.TypeSymlink, Linkname: "../../etc/shadow"}), "points outside"},
		{"absolute symlink", mustBuild(t, Entry{Name: "VERSION", Body: "1"}, Entry{Name: "x", Type: tar.TypeSymlink, Linkname: "/etc/shadow"}), "absolute path"},
		{"escaping hard link", mustBuild(t, Entry{Name: "VERSION", Body: "1"}, Entry{Name: "x", Type: tar.TypeLink, Linkname: "../outside"}), "hard link"},
		{"device file", mustBuild(t, Entry{Name: "VERSION", Body: "1"}, Entry{Name: "dev/sda", Type: tar.TypeBlock}), "device file"},
		{"char device", mustBuild(t, Entry{Name: "VERSION", Body: "1"}, Entry{Name: "dev/tty", Type: tar.TypeChar}), "device file"},
		{"fifo", mustBuild(t, Entry{Name: "VERSION", Body: "1"}, Entry{Name: "pipe", Type: tar.TypeFifo}), "fifo"},
		{"unpacks too large", mustBuild(t, Entry{Name: "big", Body: strings.Repeat("0", 3000)}), "unpacks to more than"},
		{"no entry point", mustBuild(t, Entry{Name: "VERSION", Body: "1"}), "has no greenlight/run"},
		{"entry point not executable", mustBuild(t, Entry{Name: Entrypoint, Body: "x", Mode: 0o644}), "not executable"},
		{"not tar inside gzip", gzipOf(t, []byte(strings.Repeat("hello", 200))), "not a valid tar"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Inspect(bytes.NewReader(tt.data), 2048)
			var p *Problem
			if !errors.As(err, &p) {
				t.Fatalf("want a *Problem, got %v", err)
			}
			if !strings.Contains(p.Reason, tt.want) {
				t.Errorf("reason %q does not say %q", p.Reason, tt.want)
			}
		})
	}
}

func TestInspectCompressedLimit(t *testing.T) {
	// Random-ish content does not compress, so the compressed stream
	// itself passes the limit.
	var body strings.Builder
	x := uint32(1)
	for i := 0; i < 20000; i++ {
		x = x*1664525 + 1013904223
		body.WriteByte(byte(x >> 24))
	}
	b := mustBuild(t, Entry{Name: "noise", Body: body.String()})
	_, err := Inspect(bytes.NewReader(b), 4096)
	if err == nil || !strings.Contains(err.Error(), "4096 bytes") {
		t.Fatalf("got %v", err)
	}
}

func TestInsideLinksAreFine(t *testing.T) {
	b := mustBuild(t, Entry{Name: "VERSION", Body: "2"}, Entry{Name: "bin/run", Body: "x"}, Entry{Name: Entrypoint, Body: "x", Mode: 0o755},
		Entry{Name: "bin/start", Type: tar.TypeSymlink, Linkname: "run"},
		Entry{Name: "lib/a/b", Type: tar.TypeSymlink, Linkname: "../../bin/run"},
		Entry{Name: "bin/hard", Type: tar.TypeLink, Linkname: "bin/run"})
	if _, err := Inspect(bytes.NewReader(b), 1<<20); err != nil {
		t.Fatal(err)
	}
}

func gzipOf(t *testing.T, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := newGzip(&buf)
	w.Write(data)
	w.Close()
	return buf.Bytes()
}

func newGzip(buf *bytes.Buffer) *gzip.Writer { return gzip.NewWriter(buf) }
