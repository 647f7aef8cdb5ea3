package smoke

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/greenlight/greenlight/harness/sim"
	"github.com/greenlight/greenlight/internal/artifact"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/internal/steptest"
)

func TestMain(m *testing.M) { os.Exit(steptest.Main(m)) }

// scene is a release whose candidate runs version 2.0.0, deployed and
// healthy, ready for its smoke tests. The live instance still serves
// 1.0.0, so a check that reached it instead would see the wrong version.
func scene(t *testing.T, opts sim.Options, target string, edit func(*release.Config)) (*steptest.Env, Handler, release.Doc) {
	t.Helper()
	// The network as the stack builds it: with smoke tests on private
	// addresses the function is in the VPC, else outside it.
	opts.FunctionsInVPC = []string{}
	if target == "private" {
		opts.FunctionsInVPC = []string{"smoke"}
	}
	e := steptest.New(t, "smoke", opts)
	e.Deps.Env.SmokeTarget = target
	body, err := artifact.Sample("shop", "2.0.0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.Config()
	cfg.SmokeTests[1].BodyContains = "2.0.0" // /version
	if edit != nil {
		edit(&cfg)
	}
	d := e.Doc(t, "2.0.0", "v2", body, cfg)
	e.Record(t, d)
	cand := e.Launch(t, map[string]string{release.TagApp: "shop", release.TagRelease: d.ReleaseID})
	e.Region.Advance(e.Test, 3*time.Minute) // running, OS up
	host := e.Region.Host(cand)
	host.SetHealthCheck(8080, "/healthz")
	host.Install("2.0.0", d.ReleaseID, 5)
	if err := host.StartApp(); err != nil {
		t.Fatal(err)
	}
	i := e.Instance(t, cand)
	d.Candidate = &release.Candidate{Instances: []release.Member{{InstanceID: cand, PrivateIP: aws.ToString(i.PrivateIpAddress), PublicIP: aws.ToString(i.PublicIpAddress)}},
		Poll: release.Poll{Ready: true}, Status: "ready"}
	return e, Handler{D: e.Deps}, d
}

func names(r release.Report) string {
	var out []string
	for _, c := range r.Checks {
		out = append(out, c.Name)
	}
	return strings.Join(out, ",")
}

// noAWSCalls: the smoke-test function only probes; in the VPC it has no
// path to an AWS API (the region answers such a call with a timeout).
func noAWSCalls(t *testing.T, e *steptest.Env) {
	t.Helper()
	for _, c := range e.Region.Calls() {
		if c.Caller == "smoke" {
			t.Errorf("the smoke-test function called %s:%s", c.Service, c.Operation)
		}
	}
}

// TestSmokePasses: the health check and every smoke test pass against the
// candidate's private or public address, with no AWS call.
func TestSmokePasses(t *testing.T) {
	for _, target := range []string{"private", "public"} {
		t.Run(target, func(t *testing.T) {
			e, h, d := scene(t, sim.Options{}, target, nil)
			ip := d.Candidate.First().PrivateIP
			if target == "public" {
				ip = d.Candidate.First().PublicIP
			}
			if ip == "" {
				t.Fatalf("the candidate has no %s address", target)
			}
			rep, err := h.Run(e.Ctx, d)
			if err != nil {
				t.Fatal(err)
			}
			if !rep.Passed || rep.Target != "http://"+ip+":8080" || names(rep) != "health,home page,version" || !rep.At.Equal(e.Region.Now()) {
				t.Fatalf("report %+v", rep)
			}
			for _, c := range rep.Checks {
				if !c.Passed || c.Status != 200 || c.Problem != "" {
					t.Errorf("check %+v", c)
				}
			}
			noAWSCalls(t, e)
		})
	}
}

// TestSmokeFailingChecks: a failing check fails the step with
// SmokeTestFailed naming it (the rollback records that cause).
func TestSmokeFailingChecks(t *testing.T) {
	cases := []struct {
		name    string
		edit    func(*release.Config)
		app     func(e *steptest.Env, id string)
		want    []string
		failing string
	}{
		{
			name: "missing page and wrong body",
			edit: func(c *release.Config) {
				c.SmokeTests = append(c.SmokeTests,
					release.SmokeTest{Name: "checkout", Path: "/checkout", ExpectedStatus: 200, MaxLatency: release.Duration(10 * time.Second)},
					release.SmokeTest{Name: "next version", Path: "/version", ExpectedStatus: 200, BodyContains: "2.0.1", MaxLatency: release.Duration(10 * time.Second)})
			},
			want:    []string{"2 of 5 checks failed against http://", "checkout: status 404, want 200", `next version: body lacks "2.0.1"`},
			failing: "checkout,next version",
		},
		{
			name:    "app not running",
			app:     func(e *steptest.Env, id string) { e.Region.Host(id).StopApp() },
			want:    []string{"3 of 3 checks failed", "health: no answer", "connection refused"},
			failing: "health,home page,version",
		},
		{
			name:    "maintenance page",
			app:     func(e *steptest.Env, id string) { e.Region.Host(id).SetMaintenance(true) },
			want:    []string{"3 of 3 checks failed", "health: status 503, want 200"},
			failing: "health,home page,version",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, h, d := scene(t, sim.Options{}, "private", c.edit)
			if c.app != nil {
				c.app(e, d.Candidate.First().InstanceID)
			}
			rep, err := h.Run(e.Ctx, d)
			var sf release.SmokeTestFailed
			if !errors.As(err, &sf) {
				t.Fatalf("%T %v, want SmokeTestFailed", err, err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			var failing []string
			for _, ch := range rep.Checks {
				if !ch.Passed {
					failing = append(failing, ch.Name)
				}
			}
			if rep.Passed || strings.Join(failing, ",") != c.failing {
				t.Errorf("report passed=%v failing %v, want %s", rep.Passed, failing, c.failing)
			}
			noAWSCalls(t, e)
		})
	}
}

// TestSmokeNeedsAnAddressItCanReach: smoke tests run outside the VPC need
// the candidate's public address; without one the step fails naming the
// fix, before any check and without a report. Inside the VPC the same
// candidate passes on its private address.
func TestSmokeNeedsAnAddressItCanReach(t *testing.T) {
	e, h, d := scene(t, sim.Options{PrivateSubnets: true}, "public", nil)
	if d.Candidate.First().PublicIP != "" {
		t.Fatalf("a candidate in a private subnet has public IP %s", d.Candidate.First().PublicIP)
	}
	_, err := h.Run(e.Ctx, d)
	var sf release.SmokeTestFailed
	if !errors.As(err, &sf) || !strings.Contains(err.Error(), "has no public address") ||
		!strings.Contains(err.Error(), "set network.subnetIds and network.securityGroupIds") || !strings.Contains(err.Error(), d.Candidate.First().PrivateIP) {
		t.Fatalf("%v, want SmokeTestFailed naming network.subnetIds and the private address", err)
	}
	noAWSCalls(t, e)

	e.Deps.Env.SmokeTarget = "private"
	e.Region.SetFunctionsInVPC([]string{"smoke"})
	rep, err := h.Run(e.Ctx, d)
	if err != nil || !rep.Passed || rep.Target != "http://"+d.Candidate.First().PrivateIP+":8080" {
		t.Fatalf("inside the VPC: %+v %v", rep, err)
	}
}

// TestSmokeReachesOnlyWhatItsNetworkAllows: outside the VPC the candidate's
// private address does not answer (a function not attached to the VPC
// cannot reach it); inside it, its public address does not (no NAT).
func TestSmokeReachesOnlyWhatItsNetworkAllows(t *testing.T) {
	e, h, d := scene(t, sim.Options{}, "private", nil)
	e.Region.SetFunctionsInVPC([]string{})
	if _, err := h.Run(e.Ctx, d); err == nil || !strings.Contains(err.Error(), "no answer") {
		t.Errorf("private address from outside the VPC: %v, want no answer", err)
	}
	e.Region.SetFunctionsInVPC([]string{"smoke"})
	e.Deps.Env.SmokeTarget = "public"
	if _, err := h.Run(e.Ctx, d); err == nil || !strings.Contains(err.Error(), "no answer") {
		t.Errorf("public address from inside the VPC: %v, want no answer", err)
	}
}

// fleetScene is a release of three candidates behind the load balancer,
// one in each of three zones, each running version 2.0.0 and healthy.
func fleetScene(t *testing.T, target string) (*steptest.Env, Handler, release.Doc) {
	t.Helper()
	opts := sim.Options{ALB: true, Zones: 3, FunctionsInVPC: []string{}}
	if target == "private" {
		opts.FunctionsInVPC = []string{"smoke"}
	}
	e := steptest.New(t, "smoke", opts)
	e.Deps.Env.SmokeTarget = target
	f := e.Fixture
	body, err := artifact.Sample("shop", "2.0.0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.Config()
	cfg.SmokeTests[1].BodyContains = "2.0.0"
	cfg = e.BehindALB(cfg)
	cfg.Fleet = release.FleetConfig{Size: 3, SubnetIDs: f.Subnets}
	d := e.Doc(t, "2.0.0", "v2", body, cfg)
	e.Record(t, d)
	var ids []string
	for _, subnet := range f.Subnets {
		ids = append(ids, e.LaunchIn(t, subnet, map[string]string{release.TagApp: "shop", release.TagRole: release.RoleCandidate, release.TagRelease: d.ReleaseID}))
	}
	e.Region.Advance(e.Test, 3*time.Minute)
	d.Candidate = &release.Candidate{Poll: release.Poll{Ready: true}, Status: "ready"}
	for slot, id := range ids {
		host := e.Region.Host(id)
		host.SetHealthCheck(8080, "/healthz")
		host.Install("2.0.0", d.ReleaseID, 5)
		if err := host.StartApp(); err != nil {
			t.Fatal(err)
		}
		i := e.Instance(t, id)
		d.Candidate.Instances = append(d.Candidate.Instances, release.Member{Slot: slot, InstanceID: id, SubnetID: f.Subnets[slot], AZ: f.AZs[slot],
			PrivateIP: aws.ToString(i.PrivateIpAddress), PublicIP: aws.ToString(i.PublicIpAddress), Ready: true})
	}
	return e, Handler{D: e.Deps}, d
}

// TestSmokeFleetPasses: every candidate is checked on its own address,
// and the report has each instance's checks.
func TestSmokeFleetPasses(t *testing.T) {
	for _, target := range []string{"private", "public"} {
		t.Run(target, func(t *testing.T) {
			e, h, d := fleetScene(t, target)
			rep, err := h.Run(e.Ctx, d)
			if err != nil {
				t.Fatal(err)
			}
			if !rep.Passed || rep.Target != "3 candidates" || len(rep.Checks) != 0 || len(rep.Instances) != 3 {
				t.Fatalf("report %+v", rep)
			}
			for i, ir := range rep.Instances {
				m := d.Candidate.Instances[i]
				ip := m.PrivateIP
				if target == "public" {
					ip = m.PublicIP
				}
				if ir.InstanceID != m.InstanceID || ir.AZ != m.AZ || ir.Target != "http://"+ip+":8080" || !ir.Passed || names(release.Report{Checks: ir.Checks}) != "health,home page,version" {
					t.Errorf("instance %d: %+v", i, ir)
				}
			}
			noAWSCalls(t, e)
		})
	}
}

// TestSmokeFleetOneFails: one candidate failing its checks fails the step,
// naming that instance, its zone and its failed checks, and no other.
func TestSmokeFleetOneFails(t *testing.T) {
	e, h, d := fleetScene(t, "private")
	bad := d.Candidate.Instances[2]
	e.Region.Host(bad.InstanceID).SetFailing(true)
	rep, err := h.Run(e.Ctx, d)
	var sf release.SmokeTestFailed
	if !errors.As(err, &sf) {
		t.Fatalf("%T %v, want SmokeTestFailed", err, err)
	}
	for _, w := range []string{"smoke tests failed on 1 of 3 candidates: " + bad.InstanceID + " (" + bad.AZ + "): ", "against http://" + bad.PrivateIP + ":8080", "home page: status 500, want 200"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
	for _, good := range d.Candidate.Instances[:2] {
		if strings.Contains(err.Error(), good.InstanceID) {
			t.Errorf("the error names %s, which passed: %v", good.InstanceID, err)
		}
	}
	if rep.Passed || len(rep.Instances) != 3 || !rep.Instances[0].Passed || !rep.Instances[1].Passed || rep.Instances[2].Passed {
		t.Errorf("report %+v", rep)
	}
}

// TestSmokeFleetNeedsAddressesItCanReach: outside the VPC, candidates
// without a public address fail the step before any check, named.
func TestSmokeFleetNeedsAddressesItCanReach(t *testing.T) {
	e, h, d := fleetScene(t, "public")
	d.Candidate.Instances[1].PublicIP = ""
	_, err := h.Run(e.Ctx, d)
	var sf release.SmokeTestFailed
	if !errors.As(err, &sf) || !strings.Contains(err.Error(), "1 of 3 candidates have no public address") ||
		!strings.Contains(err.Error(), d.Candidate.Instances[1].InstanceID+" (private "+d.Candidate.Instances[1].PrivateIP+")") {
		t.Fatalf("%v, want SmokeTestFailed naming the instance without a public address", err)
	}
}
