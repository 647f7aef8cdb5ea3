package deploy

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/greenlight/greenlight/harness/sim"
	"github.com/greenlight/greenlight/instance"
	"github.com/greenlight/greenlight/internal/artifact"
	"github.com/greenlight/greenlight/internal/ledger"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/internal/steptest"
	"github.com/greenlight/greenlight/lambdas/step"
)

func TestMain(m *testing.M) { os.Exit(steptest.Main(m)) }

// scene is a release whose candidate runs and is online in SSM, about to
// be deployed.
func scene(t *testing.T, opts sim.Options, edit func(*release.Config)) (*steptest.Env, Handler, release.Doc) {
	t.Helper()
	e := steptest.New(t, "deploy", opts)
	body, err := artifact.Sample("shop", "2.0.0")
	if err != nil {
		t.Fatal(err)
	}
	vid := e.Upload(t, e.Key("2.0.0"), body, "")
	cfg := e.Config()
	if edit != nil {
		edit(&cfg)
	}
	d := e.Doc(t, "2.0.0", vid, body, cfg)
	e.Record(t, d)
	cand := e.Launch(t, map[string]string{release.TagApp: "shop", release.TagManaged: release.ManagedValue,
		release.TagRole: release.RoleCandidate, release.TagRelease: d.ReleaseID})
	launched := e.Region.Now()
	e.Region.Advance(e.Test, 2*time.Minute) // running, SSM agent online
	d.Candidate = &release.Candidate{Instances: []release.Member{{InstanceID: cand, LaunchedAt: launched}}, LaunchedAt: launched, Poll: release.Poll{Ready: true}, Status: "ready"}
	return e, Handler{D: e.Deps}, d
}

// send sends the deploy and puts its result in the document, as the state
// machine does.
func send(t *testing.T, e *steptest.Env, h Handler, d *release.Doc) {
	t.Helper()
	dep, err := h.Send(e.Ctx, *d)
	if err != nil {
		t.Fatal(err)
	}
	d.Deploy = &dep
}

// check looks once, keeping the result in the document.
func check(e *steptest.Env, h Handler, d *release.Doc) (release.Deploy, error) {
	dep, err := h.Check(e.Ctx, *d)
	d.Deploy = &dep
	return dep, err
}

func timeline(t *testing.T, e *steptest.Env, id string) []ledger.Event {
	t.Helper()
	return e.Get(t, id).Timeline
}

// TestDeploySendThenCheck follows a deploy through the simulated SSM: not
// yet registered just after the send, in progress, then installed on the
// candidate, and only there.
func TestDeploySendThenCheck(t *testing.T) {
	e, h, d := scene(t, sim.Options{}, nil)
	cand := d.Candidate.First().InstanceID
	sent := e.Region.Now()
	send(t, e, h, &d)
	if d.Deploy.CommandID == "" || d.Deploy.Status != "Pending" || d.Deploy.WaitSeconds != 10 || !d.Deploy.SentAt.Equal(sent) || d.Deploy.Ready {
		t.Fatalf("sent: %+v", d.Deploy)
	}
	cmds := e.Region.Commands()
	if len(cmds) != 1 || cmds[0].ID != d.Deploy.CommandID || cmds[0].DocumentName != instance.DocumentName("shop", instance.Deploy) ||
		!slices.Equal(cmds[0].InstanceIDs, []string{cand}) || cmds[0].Caller != "deploy" {
		t.Fatalf("commands %+v", cmds)
	}
	p := cmds[0].Parameters
	for name, want := range map[string]string{
		instance.ParamReleaseID: d.ReleaseID, instance.ParamVersion: "2.0.0", instance.ParamBucket: e.Fixture.Bucket,
		instance.ParamKey: e.Key("2.0.0"), instance.ParamVersionID: d.Artifact.VersionID, instance.ParamSha256: d.Artifact.SHA256,
		instance.ParamHealthPort: "8080", instance.ParamHealthPath: "/healthz", instance.ParamHealthTimeout: "120",
	} {
		if got := p[name]; !slices.Equal(got, []string{want}) {
			t.Errorf("parameter %s = %v, want %s", name, got, want)
		}
	}
	if tl := timeline(t, e, d.ReleaseID); tl[len(tl)-1].Step != "DeployRelease" || !strings.Contains(tl[len(tl)-1].Detail, d.Deploy.CommandID) {
		t.Errorf("timeline %+v", tl)
	}

	// One check follows the command from "SSM does not know the
	// invocation yet" to its end, polling within its invocation on the
	// simulated clock, and notices the end within one poll interval.
	sentAt := e.Region.Now()
	dep, err := check(e, h, &d)
	if err != nil || !dep.Ready || dep.Status != string(ssmtypes.CommandInvocationStatusSuccess) || dep.Checks < 3 {
		t.Fatalf("one check: %+v %v, want ready after several looks", dep, err)
	}
	lat := e.Region.Latencies()
	took, want := e.Region.Now().Sub(sentAt), lat.CommandOverhead+sim.DefaultDeployRunTime
	if took < want || took > want+CheckEvery {
		t.Errorf("the check returned %s after the send; the command ends after %s and the check looks every %s", took, want, CheckEvery)
	}
	app, err := e.Region.App(cand)
	if err != nil || app.Version != "2.0.0" || app.ReleaseID != d.ReleaseID || !app.Running || app.Port != 8080 {
		t.Errorf("candidate's app %+v %v", app, err)
	}
	if live, _ := e.Region.App(e.Fixture.LiveInstance); live.Version != "1.0.0" || live.ReleaseID != "" || !live.Running {
		t.Errorf("the live instance was touched: %+v", live)
	}
	tl := timeline(t, e, d.ReleaseID)
	if last := tl[len(tl)-1]; last.Step != "CheckDeploy" || !strings.Contains(last.Detail, "2.0.0 installed on "+cand) || !strings.Contains(last.Detail, "healthy on :8080/healthz") {
		t.Errorf("timeline %+v", tl)
	}
	if rec := e.Get(t, d.ReleaseID); rec.Status != ledger.StatusStarting {
		t.Errorf("deploy changed the release's status to %s", rec.Status)
	}
}

// stderrOnly fails every command with output on stderr alone.
type stderrOnly struct{}

func (stderrOnly) Execute(context.Context, sim.Invocation) sim.Outcome {
	return sim.Outcome{Status: ssmtypes.CommandInvocationStatusFailed, ResponseCode: 2, Stderr: "tar: Unexpected EOF in archive\ntar: Error is not recoverable: exiting now\n", Duration: 3 * time.Second}
}

// TestDeployFailureNamesTheLastLine: a failed command is DeployFailed
// with the script's last line, and nothing is installed.
func TestDeployFailureNamesTheLastLine(t *testing.T) {
	cases := []struct {
		name string
		opts sim.Options
		set  func(e *steptest.Env, d *release.Doc)
		// want is the error's text; lastLine the script's line it ends with.
		want, lastLine string
	}{
		{
			name: "checksum mismatch",
			set:  func(e *steptest.Env, d *release.Doc) { d.Artifact.SHA256 = strings.Repeat("0", 64) },
			want: "failed (exit 1): checksum mismatch: expected " + strings.Repeat("0", 64) + ", got ",
		},
		{
			name: "timed out waiting for health",
			set: func(e *steptest.Env, d *release.Doc) {
				e.Region.FailCommands(sim.CommandFault{Document: "deploy", Outcome: sim.Outcome{Status: ssmtypes.CommandInvocationStatusTimedOut,
					ResponseCode: 124, Stdout: "installed shop 2.0.0\nwaiting for http://127.0.0.1:8080/healthz\nno healthy answer within 120s\n\n"}})
			},
			want: "timedout (exit 124): no healthy answer within 120s", lastLine: "no healthy answer within 120s",
		},
		{
			name: "only stderr",
			opts: sim.Options{Executor: stderrOnly{}},
			want: "failed (exit 2): tar: Error is not recoverable: exiting now", lastLine: "tar: Error is not recoverable: exiting now",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, h, d := scene(t, c.opts, nil)
			if c.set != nil {
				c.set(e, &d)
			}
			send(t, e, h, &d)
			e.Region.Advance(e.Test, 30*time.Second)
			dep, err := check(e, h, &d)
			var df release.DeployFailed
			if !errors.As(err, &df) || !strings.Contains(err.Error(), "deploy on "+d.Candidate.First().InstanceID+" "+c.want) {
				t.Fatalf("%T %v\nwant DeployFailed saying %q", err, err, c.want)
			}
			if c.lastLine != "" && dep.LastLine != c.lastLine {
				t.Errorf("last line %q, want %q", dep.LastLine, c.lastLine)
			}
			if dep.LastLine == "" || !strings.HasSuffix(err.Error(), dep.LastLine) || dep.Ready {
				t.Errorf("deploy %+v", dep)
			}
			if app, _ := e.Region.App(d.Candidate.First().InstanceID); app.Version != "" || app.Running {
				t.Errorf("a failed deploy left %+v on the candidate", app)
			}
		})
	}
}

// TestDeployGivesUpOnAHungCommand: a command still running past the
// health timeout plus the slack is DeployFailed, not waited on forever;
// one just inside it is waited for.
func TestDeployGivesUpOnAHungCommand(t *testing.T) {
	cases := []struct {
		name  string
		fault func(e *steptest.Env)
		state string
	}{
		{"in progress", func(e *steptest.Env) {
			e.Region.FailCommands(sim.CommandFault{Document: "deploy", Outcome: sim.Outcome{Status: ssmtypes.CommandInvocationStatusSuccess, Duration: 3 * time.Hour}})
		}, "InProgress"},
		{"never registered", func(e *steptest.Env) {
			e.Region.Inject(sim.Fault{Service: sim.ServiceSSM, Operation: "GetCommandInvocation", Code: "InvocationDoesNotExist", Always: true})
		}, "Pending"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// A 5-minute health timeout: the deadline is 15 minutes after
			// the send.
			e, h, d := scene(t, sim.Options{}, func(cfg *release.Config) { cfg.HealthCheck.Timeout = release.Duration(5 * time.Minute) })
			c.fault(e)
			send(t, e, h, &d)
			// A check that starts well before the deadline polls until its
			// budget is spent and asks to be called again.
			e.Region.AdvanceTo(e.Test, d.Deploy.SentAt.Add(15*time.Minute-step.PollBudget-10*time.Second))
			from := e.Region.Now()
			dep, err := check(e, h, &d)
			if err != nil || dep.Status != c.state || dep.Ready || dep.WaitSeconds != int(WaitBetween/time.Second) {
				t.Fatalf("before the deadline: %+v %v, want still waiting", dep, err)
			}
			if polled := e.Region.Now().Sub(from); polled > step.PollBudget || polled < step.PollBudget-CheckEvery {
				t.Errorf("the check polled for %s, want its budget %s", polled, step.PollBudget)
			}
			// The next one crosses the deadline while it polls.
			e.Region.AdvanceTo(e.Test, d.Deploy.SentAt.Add(15*time.Minute-time.Second))
			_, err = check(e, h, &d)
			var df release.DeployFailed
			if !errors.As(err, &df) || !strings.Contains(err.Error(), "still "+c.state+" 15m1s after it was sent") {
				t.Fatalf("at the deadline: %v, want DeployFailed", err)
			}
		})
	}
}

// TestDeployCheckRetriesThrottling: a throttled look is Throttled (the
// state machine retries it), not a failed deploy.
func TestDeployCheckRetriesThrottling(t *testing.T) {
	e, h, d := scene(t, sim.Options{}, nil)
	send(t, e, h, &d)
	e.Region.Advance(e.Test, FirstCheck)
	e.Region.Throttle(sim.ServiceSSM, 1)
	if _, err := check(e, h, &d); release.ErrorName(err) != "Throttled" {
		t.Fatalf("%T %v, want Throttled", err, err)
	}
	e.Region.Advance(e.Test, time.Minute)
	if dep, err := check(e, h, &d); err != nil || !dep.Ready {
		t.Fatalf("after the throttling: %+v %v", dep, err)
	}
}

// fleetScene is a release of three candidates behind the load balancer,
// one in each of three zones, running and online in SSM.
func fleetScene(t *testing.T) (*steptest.Env, Handler, release.Doc) {
	t.Helper()
	e := steptest.New(t, "deploy", sim.Options{ALB: true, Zones: 3})
	f := e.Fixture
	body, err := artifact.Sample("shop", "2.0.0")
	if err != nil {
		t.Fatal(err)
	}
	vid := e.Upload(t, e.Key("2.0.0"), body, "")
	cfg := e.BehindALB(e.Config())
	cfg.Fleet = release.FleetConfig{Size: 3, SubnetIDs: f.Subnets}
	d := e.Doc(t, "2.0.0", vid, body, cfg)
	e.Record(t, d)
	launched := e.Region.Now()
	d.Candidate = &release.Candidate{LaunchedAt: launched, Poll: release.Poll{Ready: true}, Status: "ready"}
	for slot, subnet := range f.Subnets {
		id := e.LaunchIn(t, subnet, map[string]string{release.TagApp: "shop", release.TagManaged: release.ManagedValue,
			release.TagRole: release.RoleCandidate, release.TagRelease: d.ReleaseID})
		d.Candidate.Instances = append(d.Candidate.Instances, release.Member{Slot: slot, InstanceID: id, SubnetID: subnet, AZ: f.AZs[slot], LaunchedAt: launched, Ready: true})
	}
	e.Region.Advance(e.Test, 2*time.Minute) // running, SSM agents online
	return e, Handler{D: e.Deps}, d
}

// events counts the timeline's events of one state.
func events(t *testing.T, e *steptest.Env, id, state string) []ledger.Event {
	t.Helper()
	var out []ledger.Event
	for _, ev := range timeline(t, e, id) {
		if ev.Step == state {
			out = append(out, ev)
		}
	}
	return out
}

// TestDeployFleet: one command reaches the three candidates at once, with
// no error allowed and all of them at a time; the check follows every
// invocation and is ready once all three installed, recording each with
// its zone. A check repeated after it recorded (its answer lost) adds no
// second event.
func TestDeployFleet(t *testing.T) {
	e, h, d := fleetScene(t)
	ids := d.Candidate.IDs()
	send(t, e, h, &d)
	cmds := e.Region.Commands()
	if len(cmds) != 1 || !slices.Equal(cmds[0].InstanceIDs, ids) {
		t.Fatalf("commands %+v, want one to %v", cmds, ids)
	}
	in := e.Region.CallsTo(sim.ServiceSSM, "SendCommand")[0].Input.(*ssm.SendCommandInput)
	if aws.ToString(in.MaxErrors) != "0" || aws.ToString(in.MaxConcurrency) != "100%" {
		t.Errorf("MaxErrors %q MaxConcurrency %q, want 0 and 100%%", aws.ToString(in.MaxErrors), aws.ToString(in.MaxConcurrency))
	}
	if len(d.Deploy.Instances) != 3 || d.Deploy.Instances[2].InstanceID != ids[2] || d.Deploy.Instances[2].Status != "Pending" {
		t.Errorf("sent: %+v", d.Deploy.Instances)
	}
	before := d
	dep, err := check(e, h, &d)
	if err != nil || !dep.Ready || dep.Status != "Success" {
		t.Fatalf("check: %+v %v", dep, err)
	}
	for i, o := range dep.Instances {
		if o.InstanceID != ids[i] || o.Status != "Success" || !strings.Contains(o.LastLine, "healthy on :8080/healthz") {
			t.Errorf("instance %d: %+v", i, o)
		}
		if app, err := e.Region.App(ids[i]); err != nil || app.Version != "2.0.0" || !app.Running {
			t.Errorf("%s runs %+v %v", ids[i], app, err)
		}
	}
	installed := events(t, e, d.ReleaseID, "CheckDeploy")
	if len(installed) != 1 || !strings.HasPrefix(installed[0].Detail, "2.0.0 installed on 3 candidates: ") {
		t.Fatalf("CheckDeploy events %+v", installed)
	}
	for i, id := range ids {
		if !strings.Contains(installed[0].Detail, id+" ("+e.Fixture.AZs[i]+"): ") {
			t.Errorf("the event %q lacks %s in %s", installed[0].Detail, id, e.Fixture.AZs[i])
		}
	}
	again, err := h.Check(e.Ctx, before)
	if err != nil || !again.Ready {
		t.Fatalf("repeated check: %+v %v", again, err)
	}
	if n := len(events(t, e, d.ReleaseID, "CheckDeploy")); n != 1 {
		t.Errorf("%d CheckDeploy events after a repeated check, want 1", n)
	}
}

// TestDeployFleetOneFails: one candidate's failed install fails the deploy
// with DeployFailed naming that instance and its last line, and only it.
func TestDeployFleetOneFails(t *testing.T) {
	e, h, d := fleetScene(t)
	ids := d.Candidate.IDs()
	bad := ids[1]
	e.Region.FailCommands(sim.CommandFault{Document: "deploy", InstanceID: bad, Outcome: sim.Outcome{ResponseCode: 3,
		Stdout: "downloading shop 2.0.0\nno space left on device\n"}})
	send(t, e, h, &d)
	e.Region.Advance(e.Test, 30*time.Second)
	dep, err := check(e, h, &d)
	var df release.DeployFailed
	if !errors.As(err, &df) || !strings.Contains(err.Error(), "deploy failed on 1 of 3 candidates: "+bad+" failed (exit 3): no space left on device") {
		t.Fatalf("%T %v, want DeployFailed naming %s", err, err, bad)
	}
	for _, good := range []string{ids[0], ids[2]} {
		if strings.Contains(err.Error(), good) {
			t.Errorf("the error names %s, which did not fail: %v", good, err)
		}
	}
	if dep.Ready || dep.Status != "Failed" || dep.LastLine != "no space left on device" || dep.Instances[1].Status != "Failed" || dep.Instances[1].ExitCode != 3 {
		t.Errorf("deploy %+v", dep)
	}
	if n := len(events(t, e, d.ReleaseID, "CheckDeploy")); n != 0 {
		t.Errorf("%d CheckDeploy events for a failed deploy", n)
	}
}

// TestDeployFleetThrottledMidPass: a look throttled after the pass has
// read some of the side's invocations is Throttled; the retried check,
// from the document as it was, reads them all and records the install
// once.
func TestDeployFleetThrottledMidPass(t *testing.T) {
	e, h, d := fleetScene(t)
	send(t, e, h, &d)
	e.Region.Advance(e.Test, 30*time.Second) // all three ended
	e.Region.Inject(sim.Fault{Service: sim.ServiceSSM, Operation: "GetCommandInvocation", Code: "ThrottlingException", Nth: 3})
	if _, err := h.Check(e.Ctx, d); release.ErrorName(err) != "Throttled" {
		t.Fatalf("%T %v, want Throttled", err, err)
	}
	if n := len(e.Region.CallsTo(sim.ServiceSSM, "GetCommandInvocation")); n != 3 {
		t.Errorf("%d looks before the throttled one failed the pass, want 3 (two read, the third throttled)", n)
	}
	dep, err := check(e, h, &d)
	if err != nil || !dep.Ready {
		t.Fatalf("retried: %+v %v", dep, err)
	}
	if n := len(events(t, e, d.ReleaseID, "CheckDeploy")); n != 1 {
		t.Errorf("%d CheckDeploy events, want 1", n)
	}
}

// TestDeployFleetGivesUpOnAHungInstance: one candidate whose command
// still runs past the deadline fails the deploy, naming it and its state;
// the others, done long before, are not named.
func TestDeployFleetGivesUpOnAHungInstance(t *testing.T) {
	e, h, d := fleetScene(t)
	hung := d.Candidate.IDs()[2]
	e.Region.FailCommands(sim.CommandFault{Document: "deploy", InstanceID: hung, Outcome: sim.Outcome{Status: ssmtypes.CommandInvocationStatusSuccess, Duration: 3 * time.Hour}})
	send(t, e, h, &d)
	e.Region.AdvanceTo(e.Test, d.Deploy.SentAt.Add(d.Config.HealthCheck.Timeout.D()+slack-time.Second))
	_, err := check(e, h, &d)
	var df release.DeployFailed
	if !errors.As(err, &df) || !strings.Contains(err.Error(), "deploy on 1 of 3 candidates still running 12m1s after it was sent: "+hung+" InProgress") {
		t.Fatalf("%v, want DeployFailed naming %s", err, hung)
	}
	if d.Deploy.Instances[0].Status != "Success" || d.Deploy.Instances[1].Status != "Success" {
		t.Errorf("instances %+v", d.Deploy.Instances)
	}
}
