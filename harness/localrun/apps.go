package localrun

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/greenlight/greenlight/harness/netfront"
	"github.com/greenlight/greenlight/harness/sandbox"
	"github.com/greenlight/greenlight/harness/sim"
)

// apps runs every simulated instance's app for real, as its systemd unit
// and nginx would on the instance: a netfront.Front (nginx with the
// maintenance snippet, testing the flag maintenance.sh writes in the
// instance's sandbox) and, behind it, the installed release's
// greenlight/run. reconcile starts, restarts and stops them from the
// region's app states: what the world says now, not what a step meant to
// do.
type apps struct {
	app, healthPath string
	// mountPoint is the data volume's mount point, "" without data.
	mountPoint string
	// path is the PATH the apps run with (node's directory first).
	path    string
	disks   *sim.DirDisks
	sandbox func(instanceID string) (*sandbox.Sandbox, error)
	log     *slog.Logger
	// problem, when set, is told once per new reason when an app does not
	// start (the operator's artifact may not run on this machine).
	problem func(instanceID, why string)

	mu     sync.Mutex
	procs  map[string]*appProc
	closed bool
	// pids are every process started, for the tests that check none
	// outlives the environment.
	pids []int
}

// appProc is one instance's front and app process.
type appProc struct {
	front *netfront.Front
	box   *sandbox.Sandbox
	// release is the directory the process runs (where current pointed
	// when it started); "" while none runs.
	release string
	cmd     *exec.Cmd
	exited  chan struct{}
	// failed is why the last start failed, kept so a broken release is
	// logged once rather than at every clock move.
	failed string
}

// appStartTimeout bounds an app's start, wall clock: node starts in well
// under a second.
const appStartTimeout = 10 * time.Second

// appStopTimeout is how long a stopped app may drain before it is killed
// (systemd's TimeoutStopSec, shortened: the requests of a held clock move
// are already answered).
const appStopTimeout = 3 * time.Second

func newApps(app, healthPath, mountPoint, nodeDir string, disks *sim.DirDisks, box func(string) (*sandbox.Sandbox, error), log *slog.Logger) *apps {
	return &apps{app: app, healthPath: healthPath, mountPoint: mountPoint, path: nodeDir + string(os.PathListSeparator) + "/usr/local/bin:/usr/bin:/bin",
		disks: disks, sandbox: box, log: log, procs: map[string]*appProc{}}
}

// Front is the loopback address of an instance's front (the region routes
// the instance's app port there), false when the instance runs none.
func (a *apps) Front(instanceID string) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if p := a.procs[instanceID]; p != nil {
		return p.front.Addr(), true
	}
	return "", false
}

// faultFile is where an instance's app reads its injected fault
// (GREENLIGHT_FAULT_FILE): outside the instance's root, as it is the
// engine's, not the instance's.
func faultFile(sb *sandbox.Sandbox) string { return filepath.Join(sb.Dir(), "state", "app-fault") }

// reconcile makes the processes match the instances: a front for every
// instance whose OS is up, the app behind it while the app is installed
// and running, restarted when the release changes or the process has
// exited (systemd's Restart=), the data directory present while a volume
// is mounted and not frozen; everything of an instance that is down or
// gone stops.
func (a *apps) reconcile(states []sim.InstanceApp) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	for _, s := range states {
		if s.Gone || !s.Up {
			a.stop(s.ID)
			continue
		}
		p, err := a.ensure(s.ID)
		if err != nil {
			a.log.Error("local app front", "instance", s.ID, "error", err)
			continue
		}
		if err := a.mountData(p, s.App); err != nil {
			a.log.Error("local app data", "instance", s.ID, "error", err)
		}
		a.run(s.ID, p, s.App)
	}
}

// ensure returns the instance's entry, starting its front.
func (a *apps) ensure(id string) (*appProc, error) {
	if p := a.procs[id]; p != nil {
		return p, nil
	}
	sb, err := a.sandbox(id)
	if err != nil {
		return nil, err
	}
	// No upstream yet: the front answers 502 until the app runs, as nginx
	// does in front of a stopped service.
	front, err := netfront.NewFront(sb.Path(maintenanceFlag(a.app)), "127.0.0.1:1")
	if err != nil {
		return nil, err
	}
	p := &appProc{front: front, box: sb}
	a.procs[id] = p
	return p, nil
}

func maintenanceFlag(app string) string { return "/var/lib/greenlight/" + app + "/maintenance" }

// mountData makes the mount point a link to the mounted volume's
// directory, or removes it: a frozen filesystem or none mounted leaves the
// app without a data directory, so it refuses writes (503) rather than
// write where no volume is.
func (a *apps) mountData(p *appProc, app sim.AppState) error {
	link := a.dataDir(p)
	if link == "" {
		return nil
	}
	want := ""
	if app.MountedVolume != "" && !app.Frozen {
		want = a.disks.Dir(app.MountedVolume)
	}
	have, err := os.Readlink(link)
	switch {
	case err == nil && have == want:
		return nil
	case err == nil:
		if err := os.Remove(link); err != nil {
			return err
		}
	case !errors.Is(err, os.ErrNotExist):
		// Something else is there (the deploy script made a directory):
		// the volume's link replaces it only when empty.
		if err := os.Remove(link); err != nil {
			return err
		}
	}
	if want == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		return err
	}
	return os.Symlink(want, link)
}

// dataDir is the instance's data mount point in its sandbox, "" when the
// app has no data volume.
func (a *apps) dataDir(p *appProc) string {
	if a.disks == nil || a.mountPoint == "" {
		return ""
	}
	return p.box.Path(a.mountPoint)
}

// run starts, restarts or stops the instance's app process.
func (a *apps) run(id string, p *appProc, app sim.AppState) {
	release := ""
	if app.Running && app.Version != "" {
		release, _ = filepath.EvalSymlinks(p.box.Path("/opt/" + a.app + "/current"))
	}
	if p.cmd != nil {
		select {
		case <-p.exited:
			p.cmd, p.release = nil, "" // it died: start again below
		default:
			if release == p.release {
				return
			}
			a.kill(p)
		}
	}
	if release == "" {
		return
	}
	if err := a.start(p, release); err != nil {
		if msg := err.Error(); msg != p.failed {
			a.log.Error("local app did not start", "instance", id, "release", filepath.Base(release), "error", err)
			p.failed = msg
			if a.problem != nil {
				a.problem(id, msg)
			}
		}
		return
	}
	p.failed = ""
}

var listeningLine = regexp.MustCompile(` listening on (\S+) `)

// start runs the release's greenlight/run and points the front at the
// address it reports.
func (a *apps) start(p *appProc, release string) error {
	cmd := exec.Command(filepath.Join(release, "greenlight", "run"))
	cmd.Dir = release
	cmd.Env = []string{"PATH=" + a.path, "PORT=0", "GREENLIGHT_LISTEN_HOST=127.0.0.1", "GREENLIGHT_APP=" + a.app,
		"GREENLIGHT_HEALTH_PATH=" + a.healthPath, "GREENLIGHT_FAULT_FILE=" + faultFile(p.box), "HOME=" + p.box.Path("/root"), "LANG=C.UTF-8"}
	if dir := a.dataDir(p); dir != "" {
		cmd.Env = append(cmd.Env, "GREENLIGHT_DATA_DIR="+dir)
	}
	// Its own process group, killed with it; and killed with the engine
	// if the engine dies without closing.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	logFile, err := os.OpenFile(filepath.Join(p.box.Dir(), "state", "app.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd.Stdout = logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return err
	}
	a.pids = append(a.pids, cmd.Process.Pid)
	exited := make(chan struct{})
	first := make(chan string, 1)
	var firstLines []string // why it exited, if it does at once
	go func() {
		sc := bufio.NewScanner(stderr)
		for n := 0; sc.Scan(); n++ { // read on, so the app never blocks on stderr
			line := sc.Text()
			fmt.Fprintln(logFile, line)
			if n == 0 {
				first <- line
			}
			if n < 5 {
				firstLines = append(firstLines, line)
			}
		}
		close(first)
		_ = cmd.Wait()
		logFile.Close()
		close(exited)
	}()
	p.cmd, p.exited, p.release = cmd, exited, release
	select {
	case line, ok := <-first:
		if m := listeningLine.FindStringSubmatch(line); ok && m != nil {
			p.front.SetUpstream(m[1])
			return nil
		}
		<-exited
		p.cmd, p.release = nil, ""
		return fmt.Errorf("%s exited: %s", filepath.Join("greenlight", "run"), strings.Join(firstLines, "; "))
	case <-time.After(appStartTimeout):
		a.kill(p)
		return fmt.Errorf("%s said nothing within %s", filepath.Join("greenlight", "run"), appStartTimeout)
	}
}

// kill stops the process as systemd stops a unit: SIGTERM to its group,
// then SIGKILL after appStopTimeout.
func (a *apps) kill(p *appProc) {
	if p.cmd == nil {
		return
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(appStopTimeout):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.exited
	}
	p.cmd, p.release = nil, ""
}

// stop ends everything of an instance.
func (a *apps) stop(id string) {
	p := a.procs[id]
	if p == nil {
		return
	}
	a.kill(p)
	_ = p.front.Close()
	delete(a.procs, id)
}

// started are the pids of every app process started so far.
func (a *apps) started() []int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]int(nil), a.pids...)
}

// Close stops every app and front; reconcile does nothing after it.
func (a *apps) Close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed = true
	for id := range a.procs {
		a.stop(id)
	}
}
