package sim

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// DocumentKind is which of greenlight's SSM documents a command runs.
type DocumentKind string

// greenlight's documents.
const (
	DocumentDeploy      DocumentKind = "deploy"
	DocumentMaintenance DocumentKind = "maintenance"
	DocumentData        DocumentKind = "data"
)

// documentKind maps an SSM document name to its kind: Options.Documents
// first, then the stack's naming ("greenlight-shop-deploy"), then a bare
// kind name.
func (r *Region) documentKind(name string) (DocumentKind, bool) {
	if k, ok := r.opts.Documents[name]; ok {
		return k, true
	}
	for _, k := range []DocumentKind{DocumentDeploy, DocumentMaintenance, DocumentData} {
		if name == string(k) || strings.HasSuffix(name, "-"+string(k)) {
			return k, true
		}
	}
	return "", false
}

// Executor decides what a command does on an instance. The region calls
// it when the command reaches the instance (Latencies.CommandDelivery
// after SendCommand), outside its lock, and reports the outcome through
// GetCommandInvocation once the command has run for Outcome.Duration.
// ModelExecutor models greenlight's documents; later code may run the real
// scripts instead.
type Executor interface {
	Execute(ctx context.Context, inv Invocation) Outcome
}

// Invocation is one command on one instance.
type Invocation struct {
	CommandID    string
	InstanceID   string
	DocumentName string
	Kind         DocumentKind
	Parameters   map[string][]string
	// Host is the instance as the script sees it: its app state, which
	// the executor changes.
	Host *Host
}

// Param returns a parameter's first value, "" if absent: every value of
// greenlight's documents is a single string.
func (inv Invocation) Param(name string) string {
	if v := inv.Parameters[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Outcome is how a command ended.
type Outcome struct {
	// Status is Success, Failed or TimedOut.
	Status       ssmtypes.CommandInvocationStatus
	Stdout       string
	Stderr       string
	ResponseCode int32
	// Duration is how long the script ran; the invocation finishes at
	// SendCommand + Latencies.CommandOverhead + Duration.
	Duration time.Duration
}

// AppState is the application as it is on one instance.
type AppState struct {
	Version       string   // installed version, "" for none
	ReleaseID     string   // the release that installed it
	Releases      []string // release ids installed here, newest last
	Running       bool     // the app process runs (it answers once the OS is up)
	Maintenance   bool     // maintenance mode: every request gets 503
	Failing       bool     // every request but the health check gets 500
	Frozen        bool     // the data filesystem is frozen: writes block
	MountedVolume string   // the data volume mounted, "" for none
	MountPoint    string
	Port          int    // the port the app listens on
	HealthPath    string // the app's health endpoint
}

// Host is a handle on one instance's app state. Its methods are what a
// script on the instance can do; they are safe for concurrent use.
type Host struct {
	r  *Region
	id string
}

// Host returns the handle on an instance.
func (r *Region) Host(instanceID string) *Host { return &Host{r: r, id: instanceID} }

// ID is the instance id.
func (h *Host) ID() string { return h.id }

// update runs fn on the instance with the region locked.
func (h *Host) update(fn func(i *instance) error) error {
	h.r.mu.Lock()
	defer h.r.mu.Unlock()
	h.r.settle()
	i, ok := h.r.instances[h.id]
	if !ok {
		return errUnknown("instance", h.id)
	}
	return fn(i)
}

// App returns the instance's app state.
func (h *Host) App() AppState {
	var out AppState
	_ = h.update(func(i *instance) error {
		out = i.app
		out.Releases = slices.Clone(i.app.Releases)
		return nil
	})
	return out
}

// InstanceApp is one instance's app as its processes should be now.
type InstanceApp struct {
	ID  string
	App AppState
	// Up: the instance runs and its OS has booted. Gone: terminated.
	Up, Gone bool
}

// Apps is every instance's app state, by instance id.
func (r *Region) Apps() []InstanceApp {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.settle()
	now := r.now()
	var out []InstanceApp
	for _, i := range r.instances {
		a := i.app
		a.Releases = slices.Clone(i.app.Releases)
		out = append(out, InstanceApp{ID: i.id, App: a, Up: i.osUp(now, r.lat), Gone: i.state == stateTerminated})
	}
	slices.SortFunc(out, func(a, b InstanceApp) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// App returns an instance's app state.
func (r *Region) App(instanceID string) (AppState, error) {
	if _, ok := r.instanceExists(instanceID); !ok {
		return AppState{}, errUnknown("instance", instanceID)
	}
	return r.Host(instanceID).App(), nil
}

func (r *Region) instanceExists(id string) (*instance, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	i, ok := r.instances[id]
	return i, ok
}

// Install records a version as installed by a release, keeping the last
// keep release ids (all when keep <= 0). It does not start the app.
func (h *Host) Install(version, releaseID string, keep int) {
	_ = h.update(func(i *instance) error {
		i.app.Version, i.app.ReleaseID = version, releaseID
		if releaseID != "" && !slices.Contains(i.app.Releases, releaseID) {
			i.app.Releases = append(i.app.Releases, releaseID)
		}
		if keep > 0 && len(i.app.Releases) > keep {
			i.app.Releases = slices.Clone(i.app.Releases[len(i.app.Releases)-keep:])
		}
		return nil
	})
}

// SetHealthCheck sets the port the app listens on and its health path.
func (h *Host) SetHealthCheck(port int, path string) {
	_ = h.update(func(i *instance) error {
		if port > 0 {
			i.app.Port = port
		}
		if path != "" {
			i.app.HealthPath = path
		}
		return nil
	})
}

// StartApp starts the app; it stays stopped when no version is installed
// or the instance is not running.
func (h *Host) StartApp() error {
	return h.update(func(i *instance) error {
		if i.app.Version == "" {
			return errors.New("no version installed")
		}
		if i.state != stateRunning {
			return fmt.Errorf("instance %s is %s", i.id, i.state)
		}
		i.app.Running = true
		return nil
	})
}

// StopApp stops the app.
func (h *Host) StopApp() {
	_ = h.update(func(i *instance) error { i.app.Running = false; return nil })
}

// SetMaintenance turns maintenance mode on or off.
func (h *Host) SetMaintenance(on bool) {
	_ = h.update(func(i *instance) error { i.app.Maintenance = on; return nil })
}

// SetFailing makes the app answer 500 to every request but its health
// check, or stops that: a release broken where the health check does not
// look.
func (h *Host) SetFailing(on bool) {
	_ = h.update(func(i *instance) error { i.app.Failing = on; return nil })
}

// Freeze freezes the data filesystem (fsfreeze): writes stop until Thaw.
func (h *Host) Freeze() {
	_ = h.update(func(i *instance) error { i.app.Frozen = true; return nil })
}

// Thaw unfreezes the data filesystem.
func (h *Host) Thaw() {
	_ = h.update(func(i *instance) error { i.app.Frozen = false; return nil })
}

// Mount mounts a data volume, which must be attached to this instance.
func (h *Host) Mount(volumeID, mountPoint string) error {
	return h.update(func(i *instance) error {
		v := h.r.volumes[volumeID]
		if v == nil || v.att == nil || v.att.instanceID != i.id || v.att.state != attAttached {
			return fmt.Errorf("volume %s is not attached", volumeID)
		}
		if i.app.MountedVolume != "" && i.app.MountedVolume != volumeID {
			return fmt.Errorf("%s already has volume %s mounted", mountPoint, i.app.MountedVolume)
		}
		i.app.MountedVolume, i.app.MountPoint = volumeID, mountPoint
		return nil
	})
}

// Unmount unmounts the data volume (thawing it first, as umount needs). A
// detach that was waiting for the device to be released proceeds.
func (h *Host) Unmount() {
	_ = h.update(func(i *instance) error {
		vid := i.app.MountedVolume
		i.app.MountedVolume, i.app.MountPoint, i.app.Frozen = "", "", false
		if v := h.r.volumes[vid]; v != nil && v.att != nil && v.att.state == attBusy {
			v.att.state, v.att.next = attDetaching, h.r.now().Add(h.r.lat.DetachVolume)
		}
		return nil
	})
}

// ErrWriteRefused is wrapped by every error Write returns.
var ErrWriteRefused = errors.New("write refused")

// Write makes the app on an instance write to its data volume: the
// volume's counter goes up by one and, with Options.Disks, a line is
// appended to its writes log. It is refused unless the instance is up,
// the app runs, maintenance is off, the filesystem is not frozen and a
// data volume is mounted.
func (r *Region) Write(instanceID string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.settle()
	i, ok := r.instances[instanceID]
	if !ok {
		return errUnknown("instance", instanceID)
	}
	refuse := func(why string) error { return fmt.Errorf("%w on %s: %s", ErrWriteRefused, instanceID, why) }
	switch {
	case !i.osUp(r.now(), r.lat):
		return refuse("instance is not up")
	case !i.app.Running:
		return refuse("app is stopped")
	case i.app.Maintenance:
		return refuse("maintenance mode is on")
	case i.app.Frozen:
		return refuse("filesystem is frozen")
	case i.app.MountedVolume == "":
		return refuse("no data volume mounted")
	}
	v := r.volumes[i.app.MountedVolume]
	if v == nil || v.att == nil || v.att.instanceID != i.id {
		return refuse("data volume is gone")
	}
	if d := r.opts.Disks; d != nil {
		if err := d.Append(v.id, fmt.Sprintf("%s-%d", i.id, v.writes+1)); err != nil {
			return fmt.Errorf("write on %s: %w", instanceID, err)
		}
	}
	v.writes++
	return nil
}

// VolumeWrites is a volume's content: how many writes it holds, as
// Options.Disks counts them when set.
func (r *Region) VolumeWrites(volumeID string) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.volumes[volumeID]
	if !ok {
		return 0, errUnknown("volume", volumeID)
	}
	if d := r.opts.Disks; d != nil {
		return d.VolumeWrites(v.id)
	}
	return v.writes, nil
}

// SnapshotWrites is the content a snapshot captured, as Options.Disks
// counts it when set.
func (r *Region) SnapshotWrites(snapshotID string) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.snapshots[snapshotID]
	if !ok {
		return 0, errUnknown("snapshot", snapshotID)
	}
	if d := r.opts.Disks; d != nil {
		return d.SnapshotWrites(s.id)
	}
	return s.writes, nil
}
