package sandbox

import (
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

//go:embed stub.sh
var stubScript []byte

// StubCommands are the commands a sandbox replaces with the recording
// stub (sandbox/stub.sh): everything the scripts call that would reach
// AWS, systemd, block devices or the network, and sleep, so no run ever
// waits. Everything else (tar, gzip, sha256sum, timeout, flock, ...) is
// the host's own and only touches the sandbox root.
var StubCommands = []string{
	"aws", "systemctl", "curl", "mount", "umount", "mountpoint", "findmnt",
	"fsfreeze", "sync", "sleep", "udevadm",
}

// Sandbox is a directory that stands in for one instance:
//
//	root/        the instance's file system (GREENLIGHT_ROOT): opt/, etc/, dev/, var/, run/
//	bin/         the stubs, first on PATH
//	state/       what the stubs know and record:
//	  calls.log              one line per stub call (see Calls)
//	  s3/<bucket>/<version>/<key>   objects aws s3api get-object serves
//	  health                 status code curl answers; absent: connection refused
//	  mounts                 "source<TAB>target" per mounted filesystem
//	  frozen                 one frozen mount point per line
//	  systemd/<unit>         "active" or "inactive"
//	  systemd/<unit>.release where /opt/<app>/current pointed at the last (re)start
//	  fail/<cmd>[-<arg1>]    exit status to fail that command with
//	scripts/     the rendered scripts, as the agent's _script.sh
//
// Paths the stubs see are sandbox paths; Calls reports them as the
// instance would see them.
type Sandbox struct {
	dir string
}

// New prepares a sandbox in dir (usually a test's temp dir).
func New(dir string) (*Sandbox, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("sandbox %s: %w", dir, err)
	}
	s := &Sandbox{dir: abs}
	for _, d := range []string{"root", "bin", "state", "state/s3", "state/fail", "state/systemd", "scripts"} {
		if err := os.MkdirAll(filepath.Join(abs, d), 0o755); err != nil {
			return nil, fmt.Errorf("sandbox: create %s: %w", d, err)
		}
	}
	stub := filepath.Join(abs, "bin", "greenlight-stub")
	if err := os.WriteFile(stub, stubScript, 0o755); err != nil {
		return nil, fmt.Errorf("sandbox: write stub: %w", err)
	}
	for _, c := range StubCommands {
		if err := os.Symlink("greenlight-stub", filepath.Join(abs, "bin", c)); err != nil {
			return nil, fmt.Errorf("sandbox: link stub %s: %w", c, err)
		}
	}
	if err := os.WriteFile(s.state("calls.log"), nil, 0o644); err != nil {
		return nil, fmt.Errorf("sandbox: create call log: %w", err)
	}
	return s, nil
}

// Dir is the sandbox directory.
func (s *Sandbox) Dir() string { return s.dir }

// Root is the instance's file system root (GREENLIGHT_ROOT).
func (s *Sandbox) Root() string { return filepath.Join(s.dir, "root") }

// Path maps an absolute instance path into the sandbox root.
func (s *Sandbox) Path(abs string) string { return filepath.Join(s.Root(), abs) }

func (s *Sandbox) state(parts ...string) string {
	return filepath.Join(append([]string{s.dir, "state"}, parts...)...)
}

// Env is the environment scripts run with: the stubs first on PATH, the
// sandbox root, the stub state, and nothing inherited but the host's PATH.
func (s *Sandbox) Env() []string {
	return []string{
		"PATH=" + filepath.Join(s.dir, "bin") + string(os.PathListSeparator) + os.Getenv("PATH"),
		"GREENLIGHT_ROOT=" + s.Root(),
		"GREENLIGHT_STUB_STATE=" + s.state(),
		"HOME=" + s.Path("/root"),
		"LANG=C.UTF-8",
	}
}

// PutObject stores an object version that the aws stub's s3api get-object
// serves.
func (s *Sandbox) PutObject(bucket, key, versionID string, body []byte) error {
	p := s.state("s3", bucket, versionID, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("sandbox: put s3://%s/%s: %w", bucket, key, err)
	}
	return os.WriteFile(p, body, 0o644)
}

// SetHealth makes the curl stub answer status; 0 refuses connections.
func (s *Sandbox) SetHealth(status int) error {
	if status == 0 {
		err := os.Remove(s.state("health"))
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	return os.WriteFile(s.state("health"), []byte(strconv.Itoa(status)), 0o644)
}

// Fail makes a stubbed command exit with status: command is a name
// ("systemctl") or a name and its first argument ("systemctl-restart").
// Status 0 removes the failure.
func (s *Sandbox) Fail(command string, status int) error {
	p := s.state("fail", command)
	if status == 0 {
		err := os.Remove(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	return os.WriteFile(p, []byte(strconv.Itoa(status)), 0o644)
}

// AttachNVMe makes a volume appear as on a Nitro instance: the device
// node /dev/<name> and udev's by-id link carrying the volume id.
func (s *Sandbox) AttachNVMe(volumeID, name string) error {
	if err := s.makeDevice("/dev/" + name); err != nil {
		return err
	}
	link := s.Path("/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_" + strings.Replace(volumeID, "-", "", 1))
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		return fmt.Errorf("sandbox: attach %s: %w", volumeID, err)
	}
	return os.Symlink("../../"+name, link)
}

// AttachXen makes a device node appear as on a Xen instance (/dev/xvdf).
func (s *Sandbox) AttachXen(device string) error { return s.makeDevice(device) }

// Device nodes are regular files: creating real ones needs root.
func (s *Sandbox) makeDevice(device string) error {
	p := s.Path(device)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("sandbox: device %s: %w", device, err)
	}
	return os.WriteFile(p, nil, 0o644)
}

// Call is one stub invocation, with sandbox paths shown as instance paths.
type Call struct {
	Name string
	Args []string
}

func (c Call) String() string { return strings.TrimSpace(c.Name + " " + strings.Join(c.Args, " ")) }

// Calls returns every stub call so far, oldest first.
func (s *Sandbox) Calls() ([]Call, error) {
	b, err := os.ReadFile(s.state("calls.log"))
	if err != nil {
		return nil, fmt.Errorf("sandbox: read calls: %w", err)
	}
	var out []Call
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if line == "" {
			continue
		}
		f := strings.Split(line, "\x1f")
		c := Call{Name: f[0]}
		for _, a := range f[1:] {
			c.Args = append(c.Args, s.instancePath(a))
		}
		out = append(out, c)
	}
	return out, nil
}

func (s *Sandbox) instancePath(p string) string {
	root := s.Root()
	if p == root {
		return "/"
	}
	if strings.HasPrefix(p, root+"/") {
		return strings.TrimPrefix(p, root)
	}
	return p
}

// Mounts returns the mounted filesystems, mount point to device, as
// instance paths.
func (s *Sandbox) Mounts() (map[string]string, error) {
	lines, err := s.lines("mounts")
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, l := range lines {
		src, tgt, ok := strings.Cut(l, "\t")
		if ok {
			out[s.instancePath(tgt)] = s.instancePath(src)
		}
	}
	return out, nil
}

// Frozen reports whether the filesystem at the mount point is frozen.
func (s *Sandbox) Frozen(mountPoint string) (bool, error) {
	lines, err := s.lines("frozen")
	if err != nil {
		return false, err
	}
	for _, l := range lines {
		if s.instancePath(l) == mountPoint {
			return true, nil
		}
	}
	return false, nil
}

// Unit reports whether a systemd unit is active and which release
// (/opt/<app>/current's target) it last started.
func (s *Sandbox) Unit(unit string) (active bool, release string, err error) {
	b, err := os.ReadFile(s.state("systemd", unit))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, "", err
	}
	r, err := os.ReadFile(s.state("systemd", unit+".release"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, "", err
	}
	return strings.TrimSpace(string(b)) == "active", strings.TrimSpace(string(r)), nil
}

func (s *Sandbox) lines(name string) ([]string, error) {
	b, err := os.ReadFile(s.state(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sandbox: read %s: %w", name, err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out, nil
}
