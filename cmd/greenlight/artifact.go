package main

import (
	"bytes"
	"path/filepath"
	"strings"

	"github.com/greenlight/greenlight/internal/artifact"
)

// versionOf names an artifact's version: from its file name
// (<app>-<version>.tar.gz), else from its VERSION file.
func versionOf(body []byte, app, path string) string {
	if v := versionFromName(app, path); v != "" {
		return v
	}
	if s, err := artifact.Inspect(bytes.NewReader(body), int64(len(body))*64+1<<20); err == nil {
		return s.Version
	}
	return ""
}

// versionFromName is the version in a file named <app>-<version>.tar.gz,
// or "".
func versionFromName(app, path string) string {
	base := filepath.Base(path)
	if v, ok := strings.CutPrefix(strings.TrimSuffix(base, ".tar.gz"), app+"-"); ok && strings.HasSuffix(base, ".tar.gz") && v != "" {
		return v
	}
	return ""
}
