package instance_test

import (
	"github.com/greenlight/greenlight/harness/sandbox"
	"github.com/greenlight/greenlight/instance"

	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const app = "shop"

// box is a sandbox for one test.
func box(t *testing.T) *sandbox.Sandbox {
	t.Helper()
	sb, err := sandbox.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return sb
}

// entry is one tar member of a test artifact.
type entry struct {
	name     string
	typ      byte
	mode     int64
	body     string
	size     int64 // for bodies made of zeros or random bytes
	random   bool
	linkname string
}

func dir(name string) entry { return entry{name: name, typ: tar.TypeDir, mode: 0o755} }
func file(name, body string) entry {
	return entry{name: name, typ: tar.TypeReg, mode: 0o644, body: body}
}
func script(name, body string) entry {
	return entry{name: name, typ: tar.TypeReg, mode: 0o755, body: body}
}
func symlink(name, to string) entry {
	return entry{name: name, typ: tar.TypeSymlink, mode: 0o777, linkname: to}
}
func hardlink(name, to string) entry {
	return entry{name: name, typ: tar.TypeLink, mode: 0o644, linkname: to}
}
func special(name string, typ byte) entry { return entry{name: name, typ: typ, mode: 0o644} }

// good is the layout of a valid artifact: the entry point, a file, an
// in-tree symlink and an in-tree hard link.
func good(release string) []entry {
	return []entry{
		dir("./"),
		dir("greenlight/"),
		script("greenlight/run", "#!/bin/sh\nexec echo serving\n"),
		file("app.txt", "release "+release+"\n"),
		dir("static/"),
		symlink("static/app.txt", "../app.txt"),
		hardlink("app-copy.txt", "app.txt"),
	}
}

// tarball builds a .tar.gz from entries with archive/tar, so the test can
// write any header, devices and escaping links included, without root.
func tarball(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	mtime := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Linkname: e.linkname, ModTime: mtime, Format: tar.FormatPAX}
		var body []byte
		switch {
		case e.size > 0 && e.random:
			body = make([]byte, e.size)
			rand.New(rand.NewSource(e.size)).Read(body)
		case e.size > 0:
			body = make([]byte, e.size)
		default:
			body = []byte(e.body)
		}
		if e.typ == tar.TypeReg {
			h.Size = int64(len(body))
		}
		if e.typ == tar.TypeChar || e.typ == tar.TypeBlock {
			h.Devmajor, h.Devminor = 1, 3
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatalf("tar header %s: %v", e.name, err)
		}
		if e.typ == tar.TypeReg {
			if _, err := tw.Write(body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// deployParams uploads art as release id and returns the parameters the
// deploy step would send; change adjusts them.
func deployParams(t *testing.T, sb *sandbox.Sandbox, id string, art []byte, change func(map[string]string)) map[string]string {
	t.Helper()
	key := "releases/" + app + "-" + id + ".tar.gz"
	version := "v" + strings.ReplaceAll(id, "-", "") + ".x_Yz"
	if err := sb.PutObject("greenlight-releases", key, version, art); err != nil {
		t.Fatal(err)
	}
	p := map[string]string{
		instance.ParamApp:           app,
		instance.ParamReleaseID:     id,
		instance.ParamVersion:       "1.0." + id,
		instance.ParamBucket:        "greenlight-releases",
		instance.ParamKey:           key,
		instance.ParamVersionID:     version,
		instance.ParamSha256:        sha(art),
		instance.ParamHealthPort:    "8080",
		instance.ParamHealthPath:    "/healthz",
		instance.ParamHealthTimeout: "3",
		instance.ParamKeepReleases:  "5",
		instance.ParamRegion:        "eu-west-1",
	}
	if change != nil {
		change(p)
	}
	return p
}

// run runs a document and fails the test on a runner error.
func run(t *testing.T, sb *sandbox.Sandbox, doc string, params map[string]string) sandbox.Result {
	t.Helper()
	res, err := sandbox.Run(context.Background(), sandbox.Spec{Document: doc, Params: params, Sandbox: sb, Timeout: time.Minute})
	if err != nil {
		t.Fatalf("run %s: %v\nstderr:\n%s", doc, err, res.Stderr)
	}
	if n := strings.Count(strings.TrimRight(res.Stdout, "\n"), "\n"); n != 0 {
		t.Errorf("%s printed %d lines on stdout, want exactly one:\n%s", doc, n+1, res.Stdout)
	}
	return res
}

// deploy uploads and deploys a release, returning the result.
func deploy(t *testing.T, sb *sandbox.Sandbox, id string, art []byte, change func(map[string]string)) sandbox.Result {
	t.Helper()
	return run(t, sb, instance.Deploy, deployParams(t, sb, id, art, change))
}

// mustDeploy deploys a good release and requires success.
func mustDeploy(t *testing.T, sb *sandbox.Sandbox, id string, change func(map[string]string)) {
	t.Helper()
	if err := sb.SetHealth(200); err != nil {
		t.Fatal(err)
	}
	res := deploy(t, sb, id, tarball(t, good(id)...), change)
	if !res.OK() {
		t.Fatalf("deploy %s: exit %d: %s\nstderr:\n%s", id, res.ExitCode, res.Reason(), res.Stderr)
	}
}

// current is the release /opt/shop/current points at ("" for none).
func current(t *testing.T, sb *sandbox.Sandbox) string {
	t.Helper()
	target, err := os.Readlink(sb.Path("/opt/" + app + "/current"))
	if os.IsNotExist(err) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(target, "releases/")
}

// releases lists the directories under /opt/shop/releases.
func releases(t *testing.T, sb *sandbox.Sandbox) []string {
	t.Helper()
	ents, err := os.ReadDir(sb.Path("/opt/" + app + "/releases"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// assertClean is checked after every case: current and previous are
// either absent or point at a complete, installed release; no temporary,
// trash or half-unpacked directory is left; every release directory has
// its install marker and entry point.
func assertClean(t *testing.T, sb *sandbox.Sandbox) {
	t.Helper()
	appDir := sb.Path("/opt/" + app)
	marker := func(id string) string { return sb.Path("/var/lib/greenlight/" + app + "/installed/" + id) }
	for _, link := range []string{"current", "previous"} {
		p := filepath.Join(appDir, link)
		fi, err := os.Lstat(p)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			t.Errorf("%s is not a symlink", link)
			continue
		}
		target, _ := os.Readlink(p)
		if !strings.HasPrefix(target, "releases/") {
			t.Errorf("%s -> %s, want releases/<id>", link, target)
		}
		if st, err := os.Stat(p); err != nil || !st.IsDir() {
			t.Errorf("%s -> %s is broken: %v", link, target, err)
			continue
		}
		if _, err := os.Stat(marker(strings.TrimPrefix(target, "releases/"))); err != nil {
			t.Errorf("%s -> %s, which was never fully installed", link, target)
		}
	}
	ents, _ := os.ReadDir(appDir)
	for _, e := range ents {
		if strings.Contains(e.Name(), "greenlight-new") {
			t.Errorf("left behind %s", e.Name())
		}
	}
	for _, id := range releases(t, sb) {
		if strings.HasPrefix(id, ".") {
			t.Errorf("left behind temporary directory releases/%s", id)
			continue
		}
		if _, err := os.Stat(marker(id)); err != nil {
			t.Errorf("releases/%s is not a finished install (no marker)", id)
		}
		if _, err := os.Stat(filepath.Join(appDir, "releases", id, "greenlight", "run")); err != nil {
			t.Errorf("releases/%s is incomplete: %v", id, err)
		}
	}
}

// calls returns the stub calls named name, as strings.
func calls(t *testing.T, sb *sandbox.Sandbox, name string) []string {
	t.Helper()
	all, err := sb.Calls()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range all {
		if c.Name == name {
			out = append(out, c.String())
		}
	}
	return out
}

// count returns how many of the stub calls named name start with prefix.
func count(t *testing.T, sb *sandbox.Sandbox, name, prefix string) int {
	t.Helper()
	n := 0
	for _, c := range calls(t, sb, name) {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}
