package candidate

// Tests for Check and the golden AMI's resolution only: Launch is being
// rewritten, and the candidates here are launched by the tests themselves.

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/greenlight/greenlight/harness/sim"
	"github.com/greenlight/greenlight/internal/artifact"
	"github.com/greenlight/greenlight/internal/ledger"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/internal/steptest"
)

func TestMain(m *testing.M) { os.Exit(steptest.Main(m)) }

func doc(t *testing.T, e *steptest.Env, edit func(*release.Config)) release.Doc {
	t.Helper()
	body, err := artifact.Sample("shop", "2.0.0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.Config()
	if edit != nil {
		edit(&cfg)
	}
	d := e.Doc(t, "2.0.0", "v2", body, cfg)
	e.Record(t, d)
	return d
}

// noReplacing gives up on the first candidate that will not become ready
// (fleet.replaceUnhealthy 0), for the tests of giving up.
func noReplacing(c *release.Config) { c.Fleet.ReplaceUnhealthy = new(int) }

// launched is a release whose candidate was just launched (by the test,
// as the launch step would: tagged, in the live subnet), as the launch
// step hands it to the first check.
func launched(t *testing.T, opts sim.Options, readyTimeout time.Duration) (*steptest.Env, Handler, release.Doc) {
	t.Helper()
	e := steptest.New(t, "check-candidate", opts)
	d := doc(t, e, func(c *release.Config) {
		c.Candidate.ReadyTimeout = release.Duration(readyTimeout)
		noReplacing(c)
	})
	id := e.Launch(t, map[string]string{release.TagApp: "shop", release.TagRelease: d.ReleaseID, release.TagRole: release.RoleCandidate,
		release.TagManaged: release.ManagedValue})
	now := e.Region.Now()
	d.Candidate = &release.Candidate{Instances: []release.Member{{InstanceID: id, SubnetID: e.Fixture.LiveSubnet, LaunchedAt: now}}, ImageID: e.Fixture.AMI, LaunchedAt: now, Poll: release.Poll{WaitSeconds: int(FirstCheck / time.Second)},
		Status: "pending"}
	return e, Handler{D: e.Deps}, d
}

// at checks the candidate once at launch + after, keeping the result in
// the document as the state machine does.
func at(t *testing.T, e *steptest.Env, h Handler, d *release.Doc, after time.Duration) (release.Candidate, error) {
	t.Helper()
	e.Region.AdvanceTo(e.Test, d.Candidate.LaunchedAt.Add(after))
	c, err := h.Check(e.Ctx, *d)
	if err == nil {
		d.Candidate = &c
	}
	return c, err
}

const initializing = "system status check initializing, instance status check initializing"

// TestCheckWaitsUntilReady follows a candidate from launch to ready: each
// look before then says what is missing and asks to look again, backing
// off from 10 s by 10 s to CheckEvery;
// ready means running, both status checks ok and SSM online, and the
// ledger then has its address.
func TestCheckWaitsUntilReady(t *testing.T) {
	e, h, d := launched(t, sim.Options{}, 10*time.Minute)
	id := d.Candidate.First().InstanceID
	steps := []struct {
		after  time.Duration
		status string
	}{
		{0, "not visible yet"}, // EC2 is eventually consistent
		{5 * time.Second, "pending"},
		{30 * time.Second, initializing + ", SSM agent not online"},
		{90 * time.Second, initializing},
	}
	for n, s := range steps {
		c, err := at(t, e, h, &d, s.after)
		if err != nil {
			t.Fatalf("%s after launch: %v", s.after, err)
		}
		if c.Ready || c.Status != s.status || c.WaitSeconds != []int{10, 20, 30, 30}[n] || c.Checks != n+1 {
			t.Fatalf("%s after launch: %+v, want waiting with status %q", s.after, c, s.status)
		}
		if rec := e.Get(t, d.ReleaseID); rec.CandidateAddress != "" {
			t.Fatalf("%s after launch the ledger has address %s already", s.after, rec.CandidateAddress)
		}
	}
	inst := e.Instance(t, id)
	if d.Candidate.First().PrivateIP != *inst.PrivateIpAddress || d.Candidate.First().PublicIP != *inst.PublicIpAddress {
		t.Errorf("addresses %s / %s, EC2 says %s / %s", d.Candidate.First().PrivateIP, d.Candidate.First().PublicIP, *inst.PrivateIpAddress, *inst.PublicIpAddress)
	}

	c, err := at(t, e, h, &d, 170*time.Second)
	if err != nil || !c.Ready || c.Status != "ready" || c.Checks != len(steps)+1 {
		t.Fatalf("170 s after launch: %+v %v, want ready", c, err)
	}
	if c.First().InstanceID != id {
		t.Errorf("the check lost the candidate: %+v", c)
	}
	rec := e.Get(t, d.ReleaseID)
	if rec.CandidateAddress != c.First().PrivateIP || rec.Status != ledger.StatusStarting {
		t.Errorf("ledger: address %q status %s, want %s", rec.CandidateAddress, rec.Status, c.First().PrivateIP)
	}
	if last := rec.Timeline[len(rec.Timeline)-1]; last.Step != "CheckCandidate" || last.Detail != id+" ready after 2m50s (running, status checks ok, SSM online)" {
		t.Errorf("timeline %+v", rec.Timeline)
	}
	if st := e.State(t, id); st != "running" {
		t.Errorf("candidate %s", st)
	}
}

// TestCheckGivesUpOnAFailedCandidate: an impaired status check ends the
// wait at once with CandidateNotReady; so does a candidate that stopped
// or is terminating. While the checks initialize, an impaired candidate
// is waited for like any other.
func TestCheckGivesUpOnAFailedCandidate(t *testing.T) {
	cases := []struct {
		name string
		// set acts on the candidate after it has run for a while.
		set  func(t *testing.T, e *steptest.Env, id string)
		at   time.Duration
		want string
	}{
		{"impaired", nil, 170 * time.Second, "failed its instance status check (impaired)"},
		{"stopped", func(t *testing.T, e *steptest.Env, id string) {
			if _, err := e.Region.EC2().StopInstances(e.Test, &ec2.StopInstancesInput{InstanceIds: []string{id}}); err != nil {
				t.Fatal(err)
			}
			e.Region.Advance(e.Test, time.Minute)
		}, 150 * time.Second, "is stopped"},
		{"terminating", func(t *testing.T, e *steptest.Env, id string) {
			if _, err := e.Region.EC2().TerminateInstances(e.Test, &ec2.TerminateInstancesInput{InstanceIds: []string{id}}); err != nil {
				t.Fatal(err)
			}
		}, 100 * time.Second, "is shutting-down"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := steptest.New(t, "check-candidate", sim.Options{})
			if c.set == nil {
				e.Region.ImpairNextInstance(1)
			}
			d := doc(t, e, noReplacing)
			id := e.Launch(t, map[string]string{release.TagApp: "shop"})
			d.Candidate = &release.Candidate{Instances: []release.Member{{InstanceID: id, LaunchedAt: e.Region.Now()}}, LaunchedAt: e.Region.Now()}
			h := Handler{D: e.Deps}
			if cand, err := at(t, e, h, &d, 90*time.Second); err != nil || cand.Ready {
				t.Fatalf("while checks initialize: %+v %v, want waiting", cand, err)
			}
			if c.set != nil {
				c.set(t, e, id)
			}
			_, err := at(t, e, h, &d, c.at)
			var nr release.CandidateNotReady
			if !errors.As(err, &nr) || !strings.Contains(err.Error(), "candidate "+id+" "+c.want) {
				t.Fatalf("%v, want CandidateNotReady saying %q", err, c.want)
			}
			if rec := e.Get(t, d.ReleaseID); rec.CandidateAddress != "" {
				t.Errorf("a failed candidate's address is in the ledger: %s", rec.CandidateAddress)
			}
		})
	}
}

// TestCheckStopsAtTheReadyTimeout: a candidate not ready by readyTimeout
// is CandidateNotReady, saying what it still lacks; the last wait is cut
// to end at the deadline; one ready just inside it passes.
func TestCheckStopsAtTheReadyTimeout(t *testing.T) {
	e, h, d := launched(t, sim.Options{}, time.Minute)
	c, err := at(t, e, h, &d, 55*time.Second)
	if err != nil || c.Ready || c.WaitSeconds != 5 {
		t.Fatalf("5 s before the deadline: %+v %v, want a 5 s wait (not the 10 s backoff)", c, err)
	}
	_, err = at(t, e, h, &d, time.Minute)
	var nr release.CandidateNotReady
	if !errors.As(err, &nr) || !strings.Contains(err.Error(), "not ready 1m0s after launch (readyTimeout): "+initializing) {
		t.Fatalf("at the deadline: %v, want CandidateNotReady naming what is missing", err)
	}

	e, h, d = launched(t, sim.Options{}, 3*time.Minute)
	if c, err := at(t, e, h, &d, 179*time.Second); err != nil || !c.Ready {
		t.Fatalf("ready a second before a 3-minute deadline: %+v %v", c, err)
	}
}

// TestGoldenAMI resolves the image to launch: directly, or through its
// SSM parameter; a missing parameter or image is a ConfigMismatch, a
// throttled call is retried, not taken for a bad config.
func TestGoldenAMI(t *testing.T) {
	const unknown = "ami-0123456789abcdef0"
	cases := []struct {
		name      string
		set       func(e *steptest.Env, c *release.Launch)
		err, text string
	}{
		{name: "through the parameter"},
		{name: "directly", set: func(e *steptest.Env, c *release.Launch) { c.AMIParameter, c.AMI = "", e.Fixture.AMI }},
		{name: "a parameter value with spaces", set: func(e *steptest.Env, c *release.Launch) {
			e.Region.PutParameter(e.Fixture.AMIParameter, " "+e.Fixture.AMI+"\n")
		}},
		{name: "no such parameter", set: func(e *steptest.Env, c *release.Launch) { c.AMIParameter = "/greenlight/shop/ami-next" },
			err: "ConfigMismatch", text: "SSM parameter /greenlight/shop/ami-next (candidate.amiParameter) does not exist"},
		{name: "the parameter names an unknown image", set: func(e *steptest.Env, c *release.Launch) { e.Region.PutParameter(e.Fixture.AMIParameter, unknown) },
			err: "ConfigMismatch", text: "golden AMI " + unknown + " does not exist or is not shared with this account"},
		{name: "the parameter holds no image id", set: func(e *steptest.Env, c *release.Launch) { e.Region.PutParameter(e.Fixture.AMIParameter, "latest") },
			err: "ConfigMismatch", text: "golden AMI latest does not exist"},
		{name: "an unknown image directly", set: func(e *steptest.Env, c *release.Launch) { c.AMIParameter, c.AMI = "", unknown },
			err: "ConfigMismatch", text: "golden AMI " + unknown + " does not exist"},
		{name: "SSM throttles", set: func(e *steptest.Env, c *release.Launch) { e.Region.Throttle(sim.ServiceSSM, 1) },
			err: "Throttled", text: "ssm:GetParameter"},
		{name: "EC2 throttles", set: func(e *steptest.Env, c *release.Launch) { e.Region.Throttle(sim.ServiceEC2, 1) },
			err: "Throttled", text: "ec2:DescribeImages"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := steptest.New(t, "launch", sim.Options{})
			d := doc(t, e, nil)
			if c.set != nil {
				c.set(e, &d.Config.Candidate)
			}
			before := e.Inventory()
			img, err := Handler{D: e.Deps}.image(e.Ctx, d)
			if c.err == "" {
				if err != nil || img.id != e.Fixture.AMI || img.rootDevice != "/dev/xvda" {
					t.Fatalf("image %+v %v, want %s with root /dev/xvda", img, err, e.Fixture.AMI)
				}
			} else if name := release.ErrorName(err); err == nil || name != c.err || !strings.Contains(err.Error(), c.text) {
				t.Fatalf("%v, want %s saying %q", err, c.err, c.text)
			}
			if after := e.Inventory(); strings.Join(after, "\n") != strings.Join(before, "\n") {
				t.Errorf("resolving the image changed AWS: %v → %v", before, after)
			}
		})
	}
}

// TestLaunchGivesTheCandidateAPathToSSM: in a public subnet without
// auto-assigned public IPs or a NAT gateway (an Elastic IP's usual home),
// the candidate is launched with a public IP on its primary interface, so
// its SSM agent comes online; with candidate.publicIp false it never
// does, and the check at the ready timeout says what the network lacks.
func TestLaunchGivesTheCandidateAPathToSSM(t *testing.T) {
	for _, public := range []bool{true, false} {
		t.Run(fmt.Sprintf("publicIp=%v", public), func(t *testing.T) {
			e := steptest.New(t, "launch", sim.Options{})
			d := doc(t, e, func(c *release.Config) {
				c.Candidate.ReadyTimeout = release.Duration(5 * time.Minute)
				noReplacing(c)
				if !public {
					c.Candidate.PublicIP = aws.Bool(false)
				}
			})
			c, err := Handler{D: e.Deps}.Launch(e.Ctx, d)
			if err != nil {
				t.Fatal(err)
			}
			d.Candidate = &c
			for _, call := range e.Region.CallsTo(sim.ServiceEC2, "RunInstances") {
				in := call.Input.(*ec2.RunInstancesInput)
				if len(in.NetworkInterfaces) != 1 || aws.ToBool(in.NetworkInterfaces[0].AssociatePublicIpAddress) != public {
					t.Errorf("RunInstances network interfaces %+v, want one asking for a public IP: %v", in.NetworkInterfaces, public)
				}
			}
			h := Handler{D: e.Deps}
			got, err := at(t, e, h, &d, 5*time.Minute)
			var nr release.CandidateNotReady
			switch {
			case public && (err != nil || !got.Ready || got.First().PublicIP == ""):
				t.Errorf("with a public IP: %+v %v, want ready", got, err)
			case !public && (!errors.As(err, &nr) || !strings.Contains(err.Error(), "SSM agent not online; the SSM agent needs a path to Systems Manager: a public IP (candidate.publicIp), a NAT gateway")):
				t.Errorf("without a public IP: %+v %v, want CandidateNotReady naming the network path", got, err)
			}
		})
	}
}
