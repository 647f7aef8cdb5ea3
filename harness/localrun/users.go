package localrun

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/greenlight/greenlight/harness/loadgen"
	"github.com/greenlight/greenlight/harness/netfront"
	"github.com/greenlight/greenlight/harness/sim"
	"github.com/greenlight/greenlight/internal/artifact"
	"github.com/greenlight/greenlight/internal/release"
)

// App faults: how the released version misbehaves once users reach it
// (`greenlight local --fault app-errors|app-crash`, no --fail-at).
const (
	// AppFaultErrors: every second request but the health check gets 500.
	AppFaultErrors = "app-errors"
	// AppFaultCrash: the next request but the health check kills the
	// process (systemd restarts it; the next one kills it again).
	AppFaultCrash = "app-crash"
)

// appFaultContent is what the sample app reads in its fault file.
var appFaultContent = map[string]string{AppFaultErrors: "errors", AppFaultCrash: "crash"}

// Default user load: reads, and with a data volume writes, per simulated
// second. Small, since a release lasts simulated hours: the point is that
// users are there at every moment, not load.
const (
	defaultReadsPerSecond  = 2
	defaultWritesPerSecond = 1
)

// users are the app's users in a local run with Options.Users: a load
// generator making real requests through the Elastic IP (a TCP proxy
// remapped as the region remaps the address) or through the region's load
// balancer, to the instances' real fronts and apps.
type users struct {
	gen *loadgen.Generator
	// url is the front door users reach: the Elastic IP's proxy, or the
	// load balancer's listener on loopback (alb).
	url string
	eip *netfront.AddressProxy
	alb *http.Server
	// cut counts the connections the Elastic IP's remaps reset.
	cut int
	// phase is the release's phase now (see phaseOf); candidate the
	// version being released.
	phase, candidate string
	faulted          bool
}

// callerTransport marks every request as the users' (the region decides
// reachability by caller: users come from the internet).
type callerTransport struct{ next http.RoundTripper }

func (t callerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.next.RoundTrip(req.WithContext(sim.WithCaller(req.Context(), Users)))
}

// startUsers starts the users of the real apps (startApps runs those):
// the front door and the load generator, paced on the simulated clock.
// Users write only with a data volume: without one the app has nowhere
// to keep a write.
func (e *Env) startUsers() error {
	c := loadgen.Config{ReadsPerSecond: e.opts.ReadsPerSecond, WritesPerSecond: e.opts.WritesPerSecond}
	if c.ReadsPerSecond == 0 && c.WritesPerSecond == 0 {
		c.ReadsPerSecond, c.WritesPerSecond = defaultReadsPerSecond, defaultWritesPerSecond
	}
	if !e.Config.HasData() {
		c.WritesPerSecond = 0
		if c.ReadsPerSecond == 0 {
			c.ReadsPerSecond = defaultReadsPerSecond
		}
	}
	if w := e.opts.UsersLog; w != nil {
		enc := json.NewEncoder(w)
		c.Record = func(r loadgen.Request) {
			if err := enc.Encode(r); err != nil {
				e.Deps.Log.Error("users log", "error", err)
			}
		}
	}
	u := &users{phase: "idle"}
	if e.Config.UsesALB() {
		alb, addr, err := e.serveALB()
		if err != nil {
			return err
		}
		u.alb, u.url = alb, "http://"+addr
	} else {
		port := e.Config.HealthCheck.Port
		eip, err := netfront.NewAddressProxy(func() (string, error) { return e.Region.Route(e.Fixture.PublicIP, port, Users) })
		if err != nil {
			return err
		}
		u.eip, u.url = eip, "http://"+eip.Addr()
	}
	c.Base = u.url
	gen, err := loadgen.New(c)
	if err != nil {
		return fmt.Errorf("users: %w", err)
	}
	u.gen = gen
	e.users = u
	e.sched.WhileHeld(e.usersTick)
	return nil
}

// usersTick runs after each clock move with the clock held: the apps
// follow the instances, the Elastic IP follows its association, and while
// a release runs the users make the requests due since from.
func (e *Env) usersTick(from, to time.Time) {
	e.apps.reconcile(e.Region.Apps())
	u := e.users
	if u.eip != nil {
		current, err := e.Region.Route(e.Fixture.PublicIP, e.Config.HealthCheck.Port, Users)
		if err != nil {
			current = ""
		}
		n := u.eip.Remapped(current)
		e.mu.Lock()
		u.cut += n
		e.mu.Unlock()
	}
	if !e.sched.Busy() {
		return
	}
	e.mu.Lock()
	phase := u.phase
	e.mu.Unlock()
	if phase == "cutover" || phase == "verify" {
		e.armAppFault()
	}
	u.gen.Tick(from, to, phase)
}

// armAppFault writes the app fault on every instance running the
// candidate once the approval is given, before traffic moves: the new
// version misbehaves from the moment users can reach it, so the bake, not
// the smoke tests, must catch it, and the report counts the users who met
// it first.
func (e *Env) armAppFault() {
	u := e.users
	e.mu.Lock()
	kind, candidate, done := e.opts.AppFault, u.candidate, u.faulted
	e.mu.Unlock()
	if kind == "" || done || candidate == "" {
		return
	}
	for _, s := range e.Region.Apps() {
		if s.Gone || s.App.Version != candidate {
			continue
		}
		sb, err := e.scripts.sandbox(s.ID)
		if err == nil {
			err = os.WriteFile(faultFile(sb), []byte(appFaultContent[kind]+"\n"), 0o644)
		}
		if err != nil {
			e.Deps.Log.Error("app fault", "instance", s.ID, "error", err)
		}
	}
	e.mu.Lock()
	u.faulted = true
	e.mu.Unlock()
}

// Phases are the parts of a release the users' report is split by, in
// order: "idle" is before the first release starts.
var Phases = []string{"idle", "deploy", "approval", "cutover", "verify", "done", "rollback"}

// checkAppFault refuses an app fault that is unknown, or that has no real
// app to misbehave ("" is none).
func checkAppFault(kind string, realApp bool) error {
	switch {
	case kind == "":
		return nil
	case appFaultContent[kind] == "":
		return fmt.Errorf("app fault %q is not one of %s, %s", kind, AppFaultErrors, AppFaultCrash)
	case !realApp:
		return fmt.Errorf("app fault %s needs the real app (Options.Users)", kind)
	}
	return nil
}

// SetAppFault changes the app fault for the next release ("" for none).
func (e *Env) SetAppFault(kind string) error {
	if err := checkAppFault(kind, e.users != nil); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.opts.AppFault = kind
	if e.users != nil {
		e.users.faulted = false
	}
	return nil
}

// phaseOf names the part of a release a Task state belongs to, for the
// users' report.
func phaseOf(state string) string {
	switch state {
	case release.StateAwaitApproval:
		return "approval"
	case release.StateKeepPrevious, release.StateCutover, release.StateSwitchTraffic,
		release.StateRegisterCandidate, release.StateShiftTraffic:
		return "cutover"
	case release.StateVerifyLive:
		return "verify"
	case release.StateRecordRelease:
		return "done"
	case release.StateRollback, release.StateAbandon, release.StatePrepareSwitchBack:
		return "rollback"
	}
	return "deploy"
}

// notePhase records the phase of the state being invoked and the version
// being released: a rollback execution (greenlight rollback) is all
// "rollback", and its version is the one restored, not a candidate.
func (e *Env) notePhase(inv Invocation) {
	if e.users == nil {
		return
	}
	var doc struct {
		Kind    string `json:"kind"`
		Version string `json:"version"`
	}
	_ = json.Unmarshal(inv.Payload, &doc) // a payload without them changes nothing
	e.mu.Lock()
	defer e.mu.Unlock()
	u := e.users
	u.phase = phaseOf(inv.State)
	if doc.Kind == release.KindRollback {
		u.phase = "rollback"
	} else if doc.Version != "" && u.phase != "rollback" && doc.Version != u.candidate {
		u.candidate, u.faulted = doc.Version, false
		u.gen.SetCandidate(doc.Version)
	}
}

// close stops the users and the front door.
func (u *users) close() {
	u.gen.Close()
	if u.eip != nil {
		_ = u.eip.Close()
	}
	if u.alb != nil {
		_ = u.alb.Close()
	}
}

// serveALB puts the load balancer's listener on a loopback port: each
// request goes, as the users', to the load balancer's DNS name (with the
// rule's host name when the config names a rule) through the region,
// which routes it by the weights, the stickiness cookie and the targets'
// health to the chosen instance's real front.
func (e *Env) serveALB() (*http.Server, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	dns, host := e.Fixture.LoadBalancerDNS, e.albHost()
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(&url.URL{Scheme: "http", Host: dns})
			pr.Out.Host = host
		},
		Transport: callerTransport{e.Region.HTTPClient().Transport},
		ErrorLog:  log.New(io.Discard, "", 0), // the users' report says what failed
	}
	srv := &http.Server{Handler: proxy, ReadHeaderTimeout: time.Minute}
	go func() { _ = srv.Serve(ln) }()
	return srv, ln.Addr().String(), nil
}

// AppURL is where the app answers as users reach it (the Elastic IP, or
// the load balancer), on loopback; "" without Options.Users.
func (e *Env) AppURL() string {
	if e.users == nil {
		return ""
	}
	return e.users.url
}

// startApps runs the instances' apps for real: the live instances get the
// sample at the version they serve (installed by deploy.sh, as an
// operator's instance has its app before greenlight's first release), and
// from then on every command and clock move reconciles the processes.
func (e *Env) startApps(ctx context.Context) error {
	mount := ""
	if e.Config.HasData() {
		mount = e.Config.Data.MountPoint
	}
	e.apps = newApps(e.Config.App, e.Config.HealthCheck.Path, mount, filepath.Dir(e.tc.Node()), e.disks, e.scripts.sandbox, e.Deps.Log)
	e.apps.problem = e.opts.OnAppProblem
	e.Region.SetAppFronts(e.apps.Front)
	for _, s := range e.Region.Apps() {
		if s.Gone || s.App.Version == "" {
			continue
		}
		art, err := artifact.Sample(e.Config.App, s.App.Version)
		if err != nil {
			return err
		}
		if err := e.scripts.install(ctx, s.ID, "installed", s.App.Version, art, e.Config.HealthCheck.Port, e.Config.HealthCheck.Path); err != nil {
			return err
		}
	}
	e.scripts.changed = func() { e.apps.reconcile(e.Region.Apps()) }
	e.apps.reconcile(e.Region.Apps())
	return nil
}

// Traffic is what the users saw: the load generator's report and the
// connections the Elastic IP's remaps reset.
type Traffic struct {
	loadgen.Report
	// CutAtRemap counts the connections open when the Elastic IP was
	// remapped, reset as a remap resets them (elasticIp mode).
	CutAtRemap int `json:"cutAtRemap"`
}

// Traffic is the users' report so far; nil without Options.Users.
func (e *Env) Traffic() *Traffic {
	if e.users == nil {
		return nil
	}
	e.mu.Lock()
	cut := e.users.cut
	e.mu.Unlock()
	return &Traffic{Report: e.users.gen.Report(), CutAtRemap: cut}
}

// UserWrites are the users' acknowledged writes and whether the data that
// serves at the end holds them, read from the real files.
type UserWrites struct {
	Acknowledged int `json:"acknowledged"`
	// Lost were acknowledged (201, after fsync) and are missing from the
	// writes log of every data volume the serving instances have mounted.
	Lost int `json:"lost"`
	// Volumes are the data volumes read.
	Volumes []string `json:"volumes"`
	// Missing are up to ten of the lost writes' ids.
	Missing []string `json:"missing,omitempty"`
	// ByVersion counts the acknowledged writes by the version that
	// acknowledged them: a rollback after the switch must keep the new
	// version's too.
	ByVersion map[string]int `json:"byVersion"`
}

// UserWrites checks the acknowledged writes against the serving data;
// nil without Options.Users or a data volume.
func (e *Env) UserWrites() (*UserWrites, error) {
	if e.users == nil || !e.Config.HasData() {
		return nil, nil
	}
	acked := e.users.gen.Acknowledged()
	out := &UserWrites{Acknowledged: len(acked), Volumes: []string{}, ByVersion: map[string]int{}}
	have := map[string]bool{}
	serving := map[string]bool{}
	for _, id := range e.liveSide() {
		serving[id] = true
	}
	for _, s := range e.Region.Apps() {
		if !serving[s.ID] || s.App.MountedVolume == "" {
			continue
		}
		out.Volumes = append(out.Volumes, s.App.MountedVolume)
		ids, err := e.disks.VolumeWriteIDs(s.App.MountedVolume)
		if err != nil {
			return nil, fmt.Errorf("read the writes of %s: %w", s.App.MountedVolume, err)
		}
		for _, id := range ids {
			have[id] = true
		}
	}
	for _, w := range acked {
		out.ByVersion[w.Version]++
		if !have[w.ID] {
			out.Lost++
			if len(out.Missing) < 10 {
				out.Missing = append(out.Missing, w.ID)
			}
		}
	}
	return out, nil
}
