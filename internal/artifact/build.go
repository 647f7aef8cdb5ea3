package artifact

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	_ "embed"
	"fmt"
	"time"
)

// Entry is one file of an archive built by Build.
type Entry struct {
	Name     string
	Body     string
	Mode     int64
	Type     byte   // tar.TypeReg when zero
	Linkname string // for links
}

// Build writes a gzipped tar of entries. The local engine uses it for its
// sample release, and tests for good and hostile archives.
func Build(entries []Entry) ([]byte, error) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	mtime := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, e := range entries {
		typ := e.Type
		if typ == 0 {
			typ = tar.TypeReg
		}
		mode := e.Mode
		if mode == 0 {
			mode = 0o644
		}
		h := &tar.Header{Name: e.Name, Typeflag: typ, Mode: mode, Linkname: e.Linkname, ModTime: mtime, Format: tar.FormatPAX}
		if typ == tar.TypeReg {
			h.Size = int64(len(e.Body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("archive entry %s: %w", e.Name, err)
		}
		if typ == tar.TypeReg {
			if _, err := tw.Write([]byte(e.Body)); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// The sample release's app (sample/): a Node.js server using built-in
// modules only, its entry point and its install hook.
var (
	//go:embed sample/server.js
	sampleServer string
	//go:embed sample/run
	sampleRun string
	//go:embed sample/install
	sampleInstall string
)

// Sample is a small release of app at version in the layout the instance
// scripts expect (instance/README.md): VERSION, APP, the greenlight/run
// entry point that starts server.js with node, and an install hook.
func Sample(app, version string) ([]byte, error) {
	return Build([]Entry{
		{Name: "VERSION", Body: version + "\n"},
		{Name: "APP", Body: app + "\n"},
		{Name: "server.js", Body: sampleServer},
		{Name: "greenlight/", Type: tar.TypeDir, Mode: 0o755},
		{Name: Entrypoint, Mode: 0o755, Body: sampleRun},
		{Name: "greenlight/hooks/", Type: tar.TypeDir, Mode: 0o755},
		{Name: "greenlight/hooks/install", Mode: 0o755, Body: sampleInstall},
	})
}
