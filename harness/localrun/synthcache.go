package localrun

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// The on-disk synthesis cache. `go test ./...` runs a test process per
// package, and each one that starts a local environment would otherwise
// start jsii, load the CDK library and synthesize the same few configs
// again: seconds of CPU each, most of what the suite spends in Node. In
// tests only, a template is kept under build/cache/synth, named by a
// fingerprint of every file the synthesis is compiled from (the module's
// non-test sources and embedded files, go.mod, go.sum, the Node lockfile)
// and the Go version, plus the config. A test binary is always built from
// the sources it finds, so the fingerprint names what it runs; where a
// source is newer than the running binary (edited after the build) the
// cache is bypassed. Outside tests (the local engine, whose binary may be
// older than the checkout) it is never used.

// synthSources are the module's directories the stack is built from
// (infra and what it imports); the harness is not among them.
var synthSources = []string{"infra", "instance", "internal", "lambdas", "statemachine", "go.mod", "go.sum", "package-lock.json"}

type diskCache struct {
	dir         string // empty: no cache
	fingerprint string
}

var (
	synthDiskOnce sync.Once
	synthDisk     diskCache
)

// synthDiskCache returns the cache for this process, or one with an empty
// dir when there is none. A built asset is named by its path and time, not
// its sources: its templates are not shared.
func synthDiskCache(tc Toolchain, asset string) diskCache {
	if asset != "" {
		return diskCache{}
	}
	synthDiskOnce.Do(func() {
		if !testing.Testing() {
			return
		}
		exe, err := os.Executable()
		if err != nil {
			return
		}
		st, err := os.Stat(exe)
		if err != nil {
			return
		}
		fp, ok := fingerprint(tc.Root, st.ModTime().UnixNano())
		if !ok {
			return
		}
		synthDisk = diskCache{dir: filepath.Join(tc.Root, "build", "cache", "synth"), fingerprint: fp}
	})
	return synthDisk
}

// fingerprint hashes the synthesis's sources; ok is false when one is newer
// than built (nanoseconds) or cannot be read.
func fingerprint(root string, built int64) (string, bool) {
	h := sha256.New()
	h.Write([]byte(runtime.Version() + "\x00"))
	for _, top := range synthSources {
		if _, err := os.Stat(filepath.Join(root, top)); errors.Is(err, fs.ErrNotExist) {
			h.Write([]byte(top + " is missing\x00"))
			continue
		}
		err := filepath.WalkDir(filepath.Join(root, top), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			name := d.Name()
			if d.IsDir() {
				if name == "testdata" || name == "node_modules" {
					return filepath.SkipDir
				}
				return nil
			}
			if strings.HasSuffix(name, "_test.go") || !d.Type().IsRegular() {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			if info.ModTime().UnixNano() > built {
				return errNewerThanBinary
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, path)
			h.Write([]byte(rel + "\x00"))
			h.Write(b)
			h.Write([]byte{0})
			return nil
		})
		if err != nil {
			return "", false
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:24], true
}

var errNewerThanBinary = errors.New("a source is newer than the running binary")

// path names the file for a synthesis key.
func (c diskCache) path(key string) string {
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(c.dir, c.fingerprint+"-"+hex.EncodeToString(sum[:12])+".json")
}

func (c diskCache) load(key string) (synthesized, bool) {
	if c.dir == "" {
		return synthesized{}, false
	}
	b, err := os.ReadFile(c.path(key))
	if err != nil {
		return synthesized{}, false
	}
	var got synthesized
	if json.Unmarshal(b, &got) != nil || len(got.Template) == 0 {
		return synthesized{}, false
	}
	return got, true
}

// store writes atomically (test processes run side by side) and removes
// what earlier sources left; a failure only costs the next process a
// synthesis.
func (c diskCache) store(key string, s synthesized) {
	if c.dir == "" || os.MkdirAll(c.dir, 0o755) != nil {
		return
	}
	b, err := json.Marshal(s)
	if err != nil {
		return
	}
	tmp, err := os.CreateTemp(c.dir, ".tmp-*")
	if err != nil {
		return
	}
	_, werr := tmp.Write(b)
	if cerr := tmp.Close(); werr != nil || cerr != nil || os.Rename(tmp.Name(), c.path(key)) != nil {
		os.Remove(tmp.Name())
		return
	}
	old, _ := filepath.Glob(filepath.Join(c.dir, "*.json"))
	for _, f := range old {
		if !strings.HasPrefix(filepath.Base(f), c.fingerprint+"-") {
			os.Remove(f)
		}
	}
}
