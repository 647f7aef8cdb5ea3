//go:build harness

package main

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/greenlight/greenlight/harness/localrun"
	"github.com/greenlight/greenlight/internal/artifact"
	"github.com/greenlight/greenlight/internal/release"
)

type localFlags struct {
	config     string
	artifact   string
	version    string
	approve    string
	failAt     string
	fault      string
	failCall   int
	dataMode   string
	traffic    string
	fleet      int
	expect     string
	listStates bool
	serve      bool
	json       bool
	logFile    string
	modelApp   bool
	reads      float64
	writes     float64
	usersLog   string
}

func newLocal() *cobra.Command {
	var f localFlags
	cmd := &cobra.Command{
		Use:   "local",
		Short: "Run a whole release on the local engine, no AWS account needed",
		Long: `local synthesizes the stack, takes the Release state machine out of the
template and runs it on aws-local-stepfunctions, with every step served by
the same handlers as in Lambda, against a simulated AWS region (EC2, EBS,
Elastic IP, SSM, Scheduler, SNS in memory; S3 on gofakes3; DynamoDB on
dynalite). Wait states run on the simulated clock, so a release takes
seconds while the summary shows modelled AWS time.

Real app, real users: every simulated instance runs its release for
real (greenlight/run, behind a front that serves the maintenance page
when maintenance.sh has set its flag), data volumes are directories, and
users are a load generator paced on the simulated clock (--reads-per-second,
--writes-per-second; writes only with a data volume) reaching the app
through the Elastic IP, a TCP proxy remapped as the region remaps the
address, or through the load balancer. The summary counts what they saw:
ok, maintenance pages, failures, versions by phase, sticky flips, the
longest outage, and acknowledged writes missing from the data that serves
at the end. --model-app models the app instead (an artifact that cannot
run on this machine).

Traffic: --traffic alb puts the simulated region's Application Load
Balancer in front of the app and points traffic.alb at it; the users then
reach it through its DNS name, as a few sessions each keeping its
cookies. --fleet N (with --traffic alb) makes
each side N instances: the region spans three zones, the live side starts
with N instances and the release launches N candidates across them.

Faults: --fail-at STATE arms a fault for that Task state's next
invocation. --fault error fails one of its AWS calls (the first, or the
K-th with --fail-call K); --fault error-after lets every call succeed and
then fails the step, as if its last call had failed; --fault alarm (alb
mode) puts the first of traffic.alarms in ALARM; throttle, not-found and
timeout are transient and must be survived. Without --fail-at, --fault
app-errors makes the new version answer 500 to every second request once
users reach it, and --fault app-crash makes it exit on each request: the
bake must catch it and roll back (expected RolledBack).

It exits 0 when the release ends as expected: Released, or RolledBack when
the approval is refused or a hard fault is injected before the commit
point (after it, at RecordRelease, the release stands; a candidate impaired
at LaunchCandidate or CheckCandidate is replaced while
fleet.replaceUnhealthy allows; with --fault no-capacity at LaunchCandidate
a fleet launches in the zones that have capacity) (see --expect).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runLocal(cmd, f) },
	}
	cmd.AddCommand(newInvoke(), newAdvance())
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "config file (default greenlight.json, else greenlight.example.json)")
	fl.StringVar(&f.artifact, "artifact", "", "release this .tar.gz instead of a generated sample")
	fl.StringVar(&f.version, "version", "", "version to release (default: the artifact's VERSION file, or 1.1.0 for the sample)")
	fl.StringVar(&f.approve, "approve", localrun.ApproveAuto, "how the approval is answered: auto, reject, timeout or prompt (wait for `greenlight approve|reject --local`)")
	fl.StringVar(&f.failAt, "fail-at", "", "Task state whose next invocation fails (see --list-states)")
	fl.StringVar(&f.fault, "fault", localrun.FaultError, "what --fail-at injects: "+strings.Join(localrun.FaultKinds, ", ")+
		" (error: an AWS call fails; error-after: every call succeeds, then the step fails; alarm: the first of traffic.alarms goes to ALARM, with --traffic alb)")
	fl.IntVar(&f.failCall, "fail-call", 0, "with --fault error: fail the K-th AWS call of that invocation instead of the first (implies --fault error)")
	fl.StringVar(&f.dataMode, "data-mode", "", "override data.mode: none, restore or move")
	fl.StringVar(&f.traffic, "traffic", "", "override traffic.mode: elasticIp (users reach the app through the Elastic IP) or alb (through the simulated load balancer); default the config's")
	fl.IntVar(&f.fleet, "fleet", 0, "override fleet.size: instances per side, 1–20 (more than 1 needs --traffic alb); default the config's")
	fl.StringVar(&f.expect, "expect", "", "the terminal status that counts as success (default: Released, or RolledBack for a refused approval or a hard fault)")
	fl.BoolVar(&f.listStates, "list-states", false, "print the Task states --fail-at accepts, one per line, and exit; every fault kind applies to each, impaired, command-failed and no-capacity only where they say, alarm only with --traffic alb")
	fl.BoolVar(&f.json, "json", false, "print one JSON summary on stdout instead of progress")
	fl.StringVar(&f.logFile, "log", "", "write the handlers' JSON log lines to this file")
	fl.BoolVar(&f.modelApp, "model-app", false, "model the app instead of running each instance's release for real (for an artifact that cannot run here); users are then modelled too")
	fl.Float64Var(&f.reads, "reads-per-second", 0, "users' reads per simulated second (default 2)")
	fl.Float64Var(&f.writes, "writes-per-second", 0, "users' writes per simulated second, with a data volume (default 1)")
	fl.StringVar(&f.usersLog, "users-log", "", "write every user request to this file as a JSON line: simulated time, phase, session, method, path, status, version, outcome, error")
	fl.BoolVar(&f.serve, "serve", false, "keep the simulated account up until interrupted: every upload to its bucket starts a release (approval prompt unless --approve says otherwise), every --local command works against it, and `greenlight local advance` moves its clock")
	return cmd
}

func runLocal(cmd *cobra.Command, f localFlags) error {
	out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
	switch f.approve {
	case localrun.ApproveAuto, localrun.ApproveReject, localrun.ApproveTimeout, localrun.ApprovePrompt:
	default:
		return withCode(exitUsage, fmt.Errorf("--approve %q is not one of auto, reject, timeout, prompt", f.approve))
	}
	cfgPath := f.config
	if cfgPath == "" {
		cfgPath = release.DefaultConfigPath()
		if _, err := os.Stat(cfgPath); err != nil {
			// Run from elsewhere in the checkout: its root's config.
			if tc, terr := localrun.FindToolchain(); terr == nil {
				cfgPath = filepath.Join(tc.Root, cfgPath)
			}
		}
	}
	cfg, err := release.LoadConfig(cfgPath)
	if err != nil {
		return withCode(exitConfig, err)
	}
	if f.dataMode != "" {
		if err := setDataMode(&cfg, f.dataMode); err != nil {
			return withCode(exitUsage, err)
		}
	}
	switch f.traffic {
	case "", release.TrafficElasticIP, release.TrafficALB:
	default:
		return withCode(exitUsage, fmt.Errorf("--traffic %q is not one of %s, %s", f.traffic, release.TrafficElasticIP, release.TrafficALB))
	}
	if f.fleet != 0 {
		if f.fleet < 1 || f.fleet > 20 {
			return withCode(exitUsage, fmt.Errorf("--fleet %d is not between 1 and 20", f.fleet))
		}
		if mode := cmp.Or(f.traffic, cfg.TrafficMode()); f.fleet > 1 && mode != release.TrafficALB {
			return withCode(exitUsage, fmt.Errorf("--fleet %d needs --traffic alb: an Elastic IP serves one instance", f.fleet))
		}
	}
	if f.serve {
		return serve(cmd, f, cfg, cfgPath)
	}
	body, version, err := localArtifact(f, cfg.App)
	if err != nil {
		return withCode(exitUsage, err)
	}
	var fault *localrun.Fault
	appFault := ""
	if f.failCall != 0 && !cmd.Flags().Changed("fault") {
		f.fault = localrun.FaultError
	}
	if f.reads < 0 || f.writes < 0 {
		return withCode(exitUsage, errors.New("--reads-per-second and --writes-per-second must be 0 or more"))
	}
	if f.fault == localrun.AppFaultErrors || f.fault == localrun.AppFaultCrash {
		switch {
		case f.failAt != "":
			return withCode(exitUsage, fmt.Errorf("--fault %s needs no --fail-at: the new version misbehaves from the moment users reach it", f.fault))
		case f.modelApp:
			return withCode(exitUsage, fmt.Errorf("--fault %s needs the real app: drop --model-app", f.fault))
		}
		appFault = f.fault
	} else if f.failAt != "" {
		fault = &localrun.Fault{State: f.failAt, Kind: f.fault, Call: f.failCall}
	} else if f.failCall != 0 || cmd.Flags().Changed("fault") {
		return withCode(exitUsage, fmt.Errorf("--fault and --fail-call need --fail-at STATE (see --list-states), except --fault %s or %s", localrun.AppFaultErrors, localrun.AppFaultCrash))
	}

	sess, err := openSession(cmd, f.logFile)
	if err != nil {
		return err
	}
	defer sess.close()
	ctx, tc, logOut := sess.ctx, sess.tc, sess.log
	var usersLog io.Writer
	if f.usersLog != "" {
		if f.modelApp {
			return withCode(exitUsage, errors.New("--users-log logs the real users: drop --model-app"))
		}
		file, err := os.Create(f.usersLog)
		if err != nil {
			return withCode(exitUsage, fmt.Errorf("--users-log: %w", err))
		}
		defer file.Close()
		buf := bufio.NewWriter(file)
		defer buf.Flush()
		usersLog = buf
	}
	progress := &progress{w: errOut, quiet: f.json}
	if !f.json {
		traffic := f.traffic
		if traffic == "" {
			traffic = cfg.TrafficMode()
		}
		fleet := ""
		if n := max(f.fleet, cfg.FleetSize()); f.fleet > 1 || (f.fleet == 0 && n > 1) {
			fleet = fmt.Sprintf(", fleet of %d", n)
		}
		fmt.Fprintf(errOut, "greenlight local: %s %s from %s, data mode %s, traffic %s%s, approval %s\n", cfg.App, version, describeArtifact(f.artifact), cfg.Data.Mode, traffic, fleet, f.approve)
		fmt.Fprintf(errOut, "  starting the simulated region, dynalite and the stack (config %s)...\n", cfgPath)
	}
	var unpublish func()
	var env *localrun.Env
	env, err = localrun.Start(ctx, localrun.Options{
		Config:     cfg,
		Asset:      localAsset(tc),
		Approve:    f.approve,
		Traffic:    f.traffic,
		Fleet:      f.fleet,
		Fault:      fault,
		Log:        logOut,
		OnEvent:    progress.event,
		OnApproval: func(id string) { askApproval(ctx, errOut, env, id) },
		Users:      !f.modelApp,
		OnAppProblem: func(id, why string) {
			if !f.json {
				fmt.Fprintf(errOut, "  the app on %s did not start: %s\n  (an artifact that cannot run on this machine: --model-app models it)\n", id, why)
			}
		},
		AppFault:        appFault,
		ReadsPerSecond:  f.reads,
		WritesPerSecond: f.writes,
		UsersLog:        usersLog,
	})
	if err != nil {
		return err
	}
	defer env.Close()
	if f.listStates {
		for _, s := range env.Machine().TaskStates() {
			fmt.Fprintln(out, s)
		}
		return nil
	}
	if fault != nil {
		if err := fault.Check(env.Machine(), env.Config); err != nil {
			return withCode(exitUsage, err)
		}
	}
	if f.approve == localrun.ApprovePrompt {
		if unpublish, err = env.Publish(); err != nil {
			return err
		}
		defer unpublish()
	}
	type done struct {
		res *localrun.Result
		err error
	}
	ch := make(chan done, 1)
	go func() {
		res, err := env.Release(ctx, version, body)
		ch <- done{res, err}
	}()
	var d done
	select {
	case d = <-ch:
	case <-ctx.Done():
		fmt.Fprintln(errOut, "\ninterrupted: stopping the runner, the region and dynalite")
		return withCode(exitFailed, errors.New("interrupted"))
	}
	if d.err != nil {
		return d.err
	}
	if unpublish != nil {
		// Another terminal may be following this release with
		// `greenlight status --watch --local`, polling every 100 ms: let
		// it read the end before the environment goes away.
		time.Sleep(time.Second)
	}
	res := d.res
	expect := f.expect
	if expect == "" {
		expect = localrun.Expected(f.approve, fault, env.Config)
		if appFault != "" {
			expect = release.RolledBack
		}
	}
	if f.json {
		b, err := res.JSON()
		if err != nil {
			return err
		}
		fmt.Fprintln(out, string(b))
	} else {
		summarize(errOut, res)
	}
	if res.Status != expect {
		return withCode(exitFailed, fmt.Errorf("the release ended %s, expected %s: %s", res.Status, expect, release.Failure{Error: res.Error, Cause: res.Cause}.Reason()))
	}
	if len(res.LeakedResources) > 0 {
		return withCode(exitFailed, fmt.Errorf("the release leaked %d resource(s): %v", len(res.LeakedResources), res.LeakedResources))
	}
	return nil
}

// session is what a local run and a served account share: a context that
// ends on Ctrl-C, the toolchain, and the handlers' log file.
type session struct {
	ctx   context.Context
	tc    localrun.Toolchain
	log   io.Writer
	close func()
}

func openSession(cmd *cobra.Command, logFile string) (*session, error) {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	s := &session{ctx: ctx, close: stop}
	tc, err := localrun.FindToolchain()
	if err != nil {
		stop()
		return nil, err
	}
	s.tc = tc
	if logFile != "" {
		lf, err := os.Create(logFile)
		if err != nil {
			stop()
			return nil, err
		}
		s.log, s.close = lf, func() { lf.Close(); stop() }
	}
	return s, nil
}

// askApproval tells the person at the terminal how to answer a waiting
// approval.
func askApproval(ctx context.Context, w io.Writer, env *localrun.Env, id string) {
	fmt.Fprintf(w, "\n  approval pending for %s. In another terminal run\n      greenlight approve --local %s\n  or  greenlight reject --local %s --reason \"...\"\n", id, id, id)
	if links, err := env.ApprovalLinks(ctx, id); err == nil {
		fmt.Fprintf(w, "  or open the notification's links in a browser:\n      approve: %s\n      reject:  %s\n", links.Approve, links.Reject)
	}
	fmt.Fprintln(w)
}

func setDataMode(c *release.Config, mode string) error {
	switch mode {
	case release.DataNone, release.DataRestore, release.DataMove:
	default:
		return fmt.Errorf("--data-mode %q is not one of none, restore, move", mode)
	}
	c.Data.Mode = mode
	if mode != release.DataNone {
		if c.Data.Device == "" {
			c.Data.Device = "/dev/sdf"
		}
		if c.Data.MountPoint == "" {
			c.Data.MountPoint = "/var/lib/" + c.App
		}
		if c.Data.SnapshotMaxAge == 0 {
			c.Data.SnapshotMaxAge = release.Duration(time.Hour)
		}
	}
	return nil
}

// localArtifact reads --artifact, or makes the sample release.
func localArtifact(f localFlags, app string) ([]byte, string, error) {
	if f.artifact == "" {
		v := f.version
		if v == "" {
			v = "1.1.0"
		}
		b, err := artifact.Sample(app, v)
		return b, v, err
	}
	b, err := os.ReadFile(f.artifact)
	if err != nil {
		return nil, "", err
	}
	v := f.version
	if v == "" {
		v = versionOf(b, app, f.artifact)
	}
	if v == "" {
		return nil, "", fmt.Errorf("cannot tell the version of %s: name it %s-<version>.tar.gz, put a VERSION file in it, or pass --version", f.artifact, app)
	}
	return b, v, nil
}

func describeArtifact(path string) string {
	if path == "" {
		return "a generated sample artifact"
	}
	return path
}

// progress prints one line per state entered, with the simulated time
// since the execution started.
type progress struct {
	w     io.Writer
	quiet bool
	mu    sync.Mutex
	start time.Time
}

func (p *progress) event(execution string, ev localrun.Event) {
	if p.quiet {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if ev.Type == "ExecutionStarted" {
		p.start = ev.Time
		fmt.Fprintf(p.w, "  execution %s\n", execution)
		return
	}
	at := fmtOffset(ev.Time.Sub(p.start))
	switch ev.Type {
	case "StateEntered":
		fmt.Fprintf(p.w, "  %9s  %s\n", at, ev.State)
	case "StateRetried":
		fmt.Fprintf(p.w, "  %9s    retry %s in %gs (attempt %d)\n", at, ev.State, ev.Delay, ev.Attempt)
	case "StateFailed":
		if ev.StateType == "Fail" {
			return
		}
		fmt.Fprintf(p.w, "  %9s    %s failed: %s: %s\n", at, ev.State, ev.Error, release.Failure{Error: ev.Error, Cause: ev.Cause}.Reason())
	}
}

func fmtOffset(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("+%.1fs", d.Seconds())
	}
	return "+" + d.Round(time.Second).String()
}

func summarize(w io.Writer, r *localrun.Result) {
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%s: %s\n", r.ReleaseID, r.Status)
	if r.Status == "Duplicate" {
		fmt.Fprintf(w, "  the upload event was a duplicate; no second release started (%s)\n", r.Execution)
		return
	}
	if r.Error != "" && r.Status != "Released" {
		fmt.Fprintf(w, "  why:          %s\n", release.Failure{Error: r.Error, Cause: r.Cause}.Reason())
	}
	if r.Warning != "" {
		fmt.Fprintf(w, "  WARNING:      %s\n", r.Warning)
	}
	if r.FaultMissed != "" {
		fmt.Fprintf(w, "  fault:        never landed: %s\n", r.FaultMissed)
	}
	ms := r.ModelSeconds
	fmt.Fprintf(w, "  modelled:     %s in all, %s excluding the approval wait", secs(ms.Total), secs(ms.ExcludingApproval))
	if ms.MaintenanceWindow > 0 {
		fmt.Fprintf(w, ", maintenance window %s", secs(ms.MaintenanceWindow))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  work:         %d state transitions, %d Lambda invocations, %d AWS API calls\n", r.StateTransitions, r.LambdaInvocations, r.AWSAPICalls)
	serving := "answering"
	if !r.LiveServing {
		serving = "NOT ANSWERING"
	}
	live := r.LiveInstanceID
	if len(r.LiveInstanceIDs) > 1 {
		live = fmt.Sprintf("%d instances (%s)", len(r.LiveInstanceIDs), strings.Join(r.LiveInstanceIDs, ", "))
	}
	fmt.Fprintf(w, "  live:         %s serving %s (%s)\n", live, r.LiveVersion, serving)
	if len(r.TrafficSteps) > 0 {
		fmt.Fprintf(w, "  traffic:      %s", trafficSteps(r.TrafficSteps))
		if r.Weights != nil {
			fmt.Fprintf(w, "; now %d %% live side, %d %% candidate", r.Weights.Live, r.Weights.Candidate)
		}
		fmt.Fprintln(w)
	}
	if wr := r.Writes; wr != nil {
		verdict := "none lost"
		if wr.Lost != 0 {
			verdict = fmt.Sprintf("%d LOST", wr.Lost)
		}
		fmt.Fprintf(w, "  user writes:  %d accepted, %d refused under maintenance, %s (%s holds %d)\n",
			wr.Accepted, wr.Refused, verdict, wr.LiveVolume, wr.OnLiveVolume)
	}
	if t := r.Traffic; t != nil {
		fmt.Fprintf(w, "  users:        %s\n", usersLine(t))
	}
	if uw := r.UserWrites; uw != nil {
		verdict := "none lost"
		if uw.Lost != 0 {
			verdict = fmt.Sprintf("%d LOST (%s)", uw.Lost, strings.Join(uw.Missing, ", "))
		}
		fmt.Fprintf(w, "  user writes:  %d acknowledged, %s (read from %s)\n", uw.Acknowledged, verdict, strings.Join(uw.Volumes, ", "))
	}
	if a := r.ALBRequests; a != nil {
		versions := make([]string, 0, len(a.ByVersion))
		for v := range a.ByVersion {
			versions = append(versions, fmt.Sprintf("%s %d", v, a.ByVersion[v]))
		}
		sort.Strings(versions)
		if len(versions) == 0 {
			versions = []string{"none"}
		}
		fmt.Fprintf(w, "  users (ALB):  %d requests, %d ok, %d failed; served by version: %s\n", a.Requests, a.OK, a.Failed, strings.Join(versions, ", "))
	}
	if len(r.LeakedResources) == 0 {
		fmt.Fprintln(w, "  leaked:       nothing")
	} else {
		for _, l := range r.LeakedResources {
			fmt.Fprintf(w, "  LEAKED:       %s %s (%s)\n", l.Kind, l.ID, l.State)
		}
	}
	fmt.Fprintf(w, "  wall time:    %.1fs\n", r.WallSeconds)
}

func secs(s float64) string {
	return (time.Duration(s * float64(time.Second))).Round(100 * time.Millisecond).String()
}

// localAsset is the built Lambda asset when there is one; otherwise the
// local engine synthesizes with a placeholder: it runs the handlers
// in-process, so `make local` need not cross-compile the Lambda binary.
func localAsset(tc localrun.Toolchain) string {
	path := filepath.Join(tc.Root, "build", "bootstrap.zip")
	if _, err := os.Stat(path); err != nil {
		return ""
	}
	return path
}

// trafficSteps words a release's traffic steps: "5 % passed (4 rounds) →
// 25 % alarm in ALARM: … → 50 % not reached".
func trafficSteps(steps []release.TrafficStep) string {
	parts := make([]string, len(steps))
	for i, st := range steps {
		switch {
		case st.Outcome == "passed":
			parts[i] = fmt.Sprintf("%d %% passed (%d rounds)", st.Weight, st.Checks)
		case st.Outcome != "":
			parts[i] = fmt.Sprintf("%d %% %s", st.Weight, st.Outcome)
		case st.StartedAt.IsZero():
			parts[i] = fmt.Sprintf("%d %% not reached", st.Weight)
		default:
			parts[i] = fmt.Sprintf("%d %% under way", st.Weight)
		}
	}
	return strings.Join(parts, " → ")
}

// usersLine is the users' report in one line: outcomes, the longest
// outage, sticky flips and the versions each phase served.
func usersLine(t *localrun.Traffic) string {
	var phases []string
	for _, p := range localrun.Phases {
		seen := t.VersionsSeen[p]
		if len(seen) == 0 {
			continue
		}
		var vs []string
		for v, n := range seen {
			vs = append(vs, fmt.Sprintf("%s %d", v, n))
		}
		sort.Strings(vs)
		phases = append(phases, p+" "+strings.Join(vs, "+"))
	}
	line := fmt.Sprintf("%d requests: %d ok, %d maintenance, %d failed; longest outage %s; %d sticky flips",
		t.Requests, t.OK, t.Maintenance, t.Failed, secs(t.LongestFailureSeconds), t.StickyFlips)
	if t.CutAtRemap > 0 {
		line += fmt.Sprintf("; %d connections cut by remaps", t.CutAtRemap)
	}
	if len(phases) > 0 {
		line += "; served " + strings.Join(phases, ", ")
	}
	return line
}
