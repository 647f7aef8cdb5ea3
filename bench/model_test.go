package main

import (
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"github.com/greenlight/greenlight/harness/localrun"
	"github.com/greenlight/greenlight/harness/sim"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/data"
	"github.com/greenlight/greenlight/lambdas/registry"
)

var t0 = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

func TestCoveredCountsOverlapsOnceAndLeavesOutApproval(t *testing.T) {
	spans := []span{
		{From: at(0), To: at(10)},
		{From: at(5), To: at(20)},  // overlaps the first: 0–20 once
		{From: at(30), To: at(40)}, // a gap of 10 s before it
		{From: at(90), To: at(200)},
	}
	window := span{From: at(0), To: at(100)} // clips the last to 90–100
	approval := []span{{From: at(35), To: at(60)}}
	if got, want := covered(spans, window, approval), 20*time.Second+5*time.Second+10*time.Second; got != want {
		t.Errorf("covered %s, want %s", got, want)
	}
}

// figures is a latency table of the test's own, each figure distinct, so
// that a wait taken from the wrong row shows; the model must follow
// whatever table it is given, not the reference one.
var figures = sim.Latencies{
	RunInstancesCall: 1 * time.Second,
	PendingToRunning: 2 * time.Second,
	StatusChecksOK:   40 * time.Second, // later than SSMOnline: the launch waits for it
	SSMOnline:        30 * time.Second,
	CommandOverhead:  3 * time.Second,
	AssociateAddress: 5 * time.Second,
	SnapshotBase:     7 * time.Second,
	CreateVolume:     11 * time.Second,
	LambdaWarmInvoke: 100 * time.Millisecond,
	// Behind a load balancer.
	TargetRegistration: 13 * time.Second,
	ListenerUpdate:     17 * time.Second,
}

func TestWaitsFollowTheLatencyTable(t *testing.T) {
	lat := figures
	calls := []sim.Call{
		{Caller: registry.Launch, Service: sim.ServiceEC2, Operation: "RunInstances", Code: "RequestLimitExceeded", At: at(0)}, // failed: started nothing
		{Caller: registry.Launch, Service: sim.ServiceEC2, Operation: "RunInstances", At: at(2)},
		{Caller: registry.Launch, Service: sim.ServiceEC2, Operation: "RunInstances", At: at(6)}, // a retry: same ClientToken
		{Caller: registry.CheckCandidate, Service: sim.ServiceEC2, Operation: "DescribeInstanceStatus", At: at(60)},
		{Caller: registry.Deploy, Service: sim.ServiceSSM, Operation: "SendCommand", At: at(200)},
		{Caller: registry.Switch, Service: sim.ServiceEC2, Operation: "AssociateAddress", At: at(300)},
		{Caller: registry.Rollback, Service: sim.ServiceEC2, Operation: "AssociateAddress", At: at(400)},
		{Caller: registry.Rollback, Service: sim.ServiceEC2, Operation: "CreateSnapshot", At: at(500)},     // a backup: no volume made from it
		{Caller: localrun.Approver, Service: sim.ServiceEC2, Operation: "TerminateInstances", At: at(600)}, // not a step
	}
	commands := []sim.Command{{Kind: sim.DocumentDeploy}}
	ws, err := waits(calls, commands, lat, 5*time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	deploy := sim.DefaultDeployRunTime.Seconds()
	want := []span{
		{From: at(2), To: at(2 + 1 + 2 + 40)}, // the call, pending, then the status checks (after SSM online)
		{From: at(200), To: at(200 + 3 + deploy)},
		{From: at(300), To: at(305)},
		{From: at(300), To: at(600)}, // the bake, from the switch
		{From: at(400), To: at(405)},
	}
	checkSpans(t, ws, want)

	// A snapshot a volume is then made from is waited on, and so is the
	// volume.
	calls = append(calls, sim.Call{Caller: registry.Rollback, Service: sim.ServiceEC2, Operation: "CreateVolume", At: at(520)})
	ws, err = waits(calls, commands, lat, 5*time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkSpans(t, ws, append(want, span{From: at(500), To: at(507)}, span{From: at(520), To: at(531)}))
}

// TestWaitsForEachCandidate: each candidate's launch has its own client
// token, so a fleet's launches and a replacement launched later are each
// waited on; a retry with a token already seen is not.
func TestWaitsForEachCandidate(t *testing.T) {
	run := func(caller string, s float64, token string) sim.Call {
		return sim.Call{Caller: caller, Service: sim.ServiceEC2, Operation: "RunInstances", At: at(s), Input: &ec2.RunInstancesInput{ClientToken: aws.String(token)}}
	}
	calls := []sim.Call{
		run(registry.Launch, 0, "r-0-0"), run(registry.Launch, 1, "r-1-0"), run(registry.Launch, 3, "r-1-0"),
		run(registry.CheckCandidate, 170, "r-0-1"),
	}
	ws, err := waits(calls, nil, figures, 5*time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkSpans(t, ws, []span{{From: at(0), To: at(43)}, {From: at(1), To: at(44)}, {From: at(170), To: at(213)}})
}

// TestWaitsBehindALB: the registration waits for its first health check
// (TargetRegistration), a weight change for the load balancer to apply
// it (ListenerUpdate), and the rollback's deregistration for its own
// group's deregistration delay; the registration's clearing out of an
// older side waits for nothing, and an unknown group is an error.
func TestWaitsBehindALB(t *testing.T) {
	groupA, groupB := "arn:tg/a", "arn:tg/b"
	drains := map[string]time.Duration{groupA: 300 * time.Second, groupB: 120 * time.Second}
	calls := []sim.Call{
		{Caller: registry.Register, Service: sim.ServiceELB, Operation: "RegisterTargets", Code: "Throttling", At: at(0)}, // failed: started nothing
		{Caller: registry.Register, Service: sim.ServiceELB, Operation: "DeregisterTargets", At: at(10), Input: &elb.DeregisterTargetsInput{TargetGroupArn: aws.String(groupA)}},
		{Caller: registry.Register, Service: sim.ServiceELB, Operation: "RegisterTargets", At: at(10)},
		{Caller: registry.Shift, Service: sim.ServiceELB, Operation: "ModifyListener", At: at(30)},
		{Caller: registry.Rollback, Service: sim.ServiceELB, Operation: "ModifyListener", At: at(100)},
		{Caller: registry.Rollback, Service: sim.ServiceELB, Operation: "DeregisterTargets", At: at(101), Input: &elb.DeregisterTargetsInput{TargetGroupArn: aws.String(groupB)}},
	}
	ws, err := waits(calls, nil, figures, 5*time.Minute, drains)
	if err != nil {
		t.Fatal(err)
	}
	checkSpans(t, ws, []span{
		{From: at(10), To: at(10 + 13)},
		{From: at(30), To: at(30 + 17)},
		{From: at(100), To: at(100 + 17)},
		{From: at(101), To: at(101 + 120)}, // group B's delay, not A's
	})
	delete(drains, groupB)
	if _, err := waits(calls, nil, figures, 5*time.Minute, drains); err == nil {
		t.Error("a rollback's deregistration from a group of unknown delay was given a wait")
	}
}

// TestStepBakes: a step bakes for stepBake from its start, the last for
// bakeTime; no longer than until the next step started (a promote) or the
// rollback started; a step never started bakes nothing.
func TestStepBakes(t *testing.T) {
	stepBake, bake := 300*time.Second, 600*time.Second
	steps := []release.TrafficStep{
		{Weight: 5, StartedAt: at(0), Outcome: "passed"},
		{Weight: 25, StartedAt: at(301), Outcome: "promoted"}, // promoted at 350
		{Weight: 50, Outcome: "promoted"},
		{Weight: 100, StartedAt: at(350), Outcome: "passed"},
	}
	checkSpans(t, stepBakes(steps, stepBake, bake, time.Time{}), []span{
		{From: at(0), To: at(300)},
		{From: at(301), To: at(350)},
		{From: at(350), To: at(950)},
	})
	checkSpans(t, stepBakes(steps, stepBake, bake, at(320)), []span{
		{From: at(0), To: at(300)},
		{From: at(301), To: at(320)},
	})
	if got := stepBakes(nil, stepBake, bake, time.Time{}); len(got) != 0 {
		t.Errorf("no steps baked %v", got)
	}
}

func TestStepsString(t *testing.T) {
	for _, c := range []struct {
		steps []TrafficStep
		want  string
	}{
		{nil, "-"},
		{[]TrafficStep{{Weight: 5, Started: true, Outcome: "passed"}, {Weight: 25, Started: true, Outcome: "promoted"}, {Weight: 50}, {Weight: 100, Started: true, Outcome: "passed"}}, "5/25/100"},
		{[]TrafficStep{{Weight: 5, Started: true, Outcome: "alarm in ALARM: shop-5xx"}, {Weight: 100}}, "5!"},
	} {
		if got := stepsString(c.steps); got != c.want {
			t.Errorf("stepsString(%+v) = %q, want %q", c.steps, got, c.want)
		}
	}
}

func checkSpans(t *testing.T, got, want []span) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("waits %+v, want %d", got, len(want))
	}
	for i := range want {
		if !got[i].From.Equal(want[i].From) || !got[i].To.Equal(want[i].To) {
			t.Errorf("wait %d: %s–%s (%s), want %s–%s", i, got[i].From.Sub(t0), got[i].To.Sub(t0), got[i].What, want[i].From.Sub(t0), want[i].To.Sub(t0))
		}
	}
}

// TestCostAtListPrices: transitions, requests and GB-seconds priced at
// the list prices (the constants, whose sources model.go gives), with an
// invocation's duration the invoke overhead plus its calls' latency.
func TestCostAtListPrices(t *testing.T) {
	lat := figures
	invocations := map[string]int{registry.Start: 1, registry.Launch: 1, registry.Verify: 2}
	calls := []sim.Call{
		{Caller: registry.Launch, Service: sim.ServiceEC2, Operation: "RunInstances", Latency: 2 * time.Second},
		{Caller: localrun.Approver, Service: sim.ServiceSFN, Operation: "SendTaskSuccess", Latency: time.Second}, // no function's
	}
	memory := map[string]float64{registry.Start: 256, registry.Launch: 256, registry.Verify: 512}
	c := cost(40, invocations, calls, memory, lat)
	gbs := (1*0.25+1*0.25+2*0.5)*0.1 + 0.25*2
	for _, f := range []struct {
		name      string
		got, want float64
	}{
		{"Step Functions", c.StepFunctionsUSD, 40 * USDPerStateTransition},
		{"requests", c.LambdaRequestsUSD, 4 * USDPerLambdaRequest},
		{"GB-seconds", c.LambdaGBSeconds, gbs},
		{"compute", c.LambdaComputeUSD, gbs * USDPerArmGBSecond},
		{"total", c.TotalUSD, 40*USDPerStateTransition + 4*USDPerLambdaRequest + gbs*USDPerArmGBSecond},
	} {
		if math.Abs(f.got-f.want) > 1e-12 {
			t.Errorf("%s: %g, want %g", f.name, f.got, f.want)
		}
	}
}

// TestBudgetsFlagWhatIsOver: each happy-path budget is checked against its
// own row (transitions with and without data, through the Elastic IP or
// the load balancer, the window against its floor, the move window, the
// users' failed requests and sticky flips), and what is over is returned
// for -strict; fault rows have only the users' budgets: users present,
// no write lost, and an app fault rolled back.
func TestBudgetsFlagWhatIsOver(t *testing.T) {
	users := Users{Requests: 100, InFlight: 4}
	withData := Users{Requests: 100, InFlight: 4, Maintenance: 20, Acknowledged: 30}
	cut := users
	cut.Failed = 4 // the requests in flight at the remap, no more
	ok := []Row{
		{Scenario: "happy/none", DataMode: "none", Traffic: "elasticIp", StateTransitions: 40, Users: cut},
		{Scenario: "happy/restore", DataMode: "restore", Traffic: "elasticIp", StateTransitions: 60, MaintenanceWindowSeconds: 62, MaintenanceWindowFloorSeconds: 48, Users: withData},
		{Scenario: "happy/move", DataMode: "move", Traffic: "elasticIp", StateTransitions: 31, MaintenanceWindowSeconds: 30, MaintenanceWindowFloorSeconds: 26, Users: withData},
		{Scenario: "error@DeployRelease", DataMode: "none", Traffic: "elasticIp", StateTransitions: 99, Users: users},
		{Scenario: "app-errors/none", DataMode: "none", Traffic: "elasticIp", Fault: "app-errors", Outcome: "RolledBack", Users: Users{Requests: 100, Failed: 30}},
		{Scenario: "alb/none", DataMode: "none", Traffic: "alb", StateTransitions: 60, PollingOverheadShare: 0.05, Users: users},
		{Scenario: "alb/move", DataMode: "move", Traffic: "alb", StateTransitions: 60, MaintenanceWindowSeconds: 30, MaintenanceWindowFloorSeconds: 28, Users: withData},
		{Scenario: "alarm@ShiftTraffic", DataMode: "none", Traffic: "alb", StateTransitions: 120, PollingOverheadShare: 0.5, Users: users},
	}
	if over := printReleases(io.Discard, ok); len(over) != 0 {
		t.Fatalf("rows within budget flagged: %v", over)
	}
	bad := []Row{
		{Scenario: "happy/none", DataMode: "none", StateTransitions: 41, PollingOverheadShare: 0.06, Users: Users{Requests: 10, InFlight: 4, Failed: 5}},
		{Scenario: "happy/restore", DataMode: "restore", StateTransitions: 61, MaintenanceWindowSeconds: 63, MaintenanceWindowFloorSeconds: 48, Users: Users{Requests: 10, Failed: 1}},
		{Scenario: "happy/move", DataMode: "move", StateTransitions: 31, MaintenanceWindowSeconds: 30.5, MaintenanceWindowFloorSeconds: 20, Users: users},
		{Scenario: "alb/none", DataMode: "none", Traffic: "alb", StateTransitions: 61, PollingOverheadShare: 0.06, Users: Users{Requests: 10, StickyFlips: 1}},
		{Scenario: "alb/move", DataMode: "move", Traffic: "alb", StateTransitions: 61, MaintenanceWindowSeconds: 30.5, MaintenanceWindowFloorSeconds: 28, Users: Users{Requests: 10, Acknowledged: 5, Lost: 1}},
		{Scenario: "app-errors/none", DataMode: "none", Fault: "app-errors", Outcome: "Released"},
	}
	over := printReleases(io.Discard, bad)
	want := []string{"happy/none: 5 failed requests (budget 4", "happy/none: 41 state transitions", "happy/none: polling overhead",
		"happy/restore: 1 failed requests (budget 0", "happy/restore: 61 state transitions", "happy/restore: maintenance window 63.0 s = 1.31 ×",
		"happy/move: maintenance window 30.5 s = 1.52 ×", "happy/move: maintenance window 30.5 s (budget 30 s)",
		"alb/none: 1 sticky flips (budget 0)", "alb/none: 61 state transitions (budget 60)", "alb/none: polling overhead 6.0 %",
		"alb/move: 1 of 5 acknowledged writes lost", "alb/move: 61 state transitions (budget 60)", "alb/move: maintenance window 30.5 s (budget 30 s)",
		"app-errors/none: 0 of 0 acknowledged writes lost, 0 requests", "app-errors/none: Released"}
	if len(over) != len(want) {
		t.Fatalf("over budget: %q, want %d findings", over, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(over[i], w) {
			t.Errorf("finding %d: %q, want it to start %q", i, over[i], w)
		}
	}
}

// TestEveryWindowActionHasAFloor: every action on any mode's critical path
// has a latency-table figure, and one that is not known is refused (a new
// action in the cutover cannot leave the floor silently short).
func TestEveryWindowActionHasAFloor(t *testing.T) {
	lat := sim.DefaultLatencies()
	for _, mode := range []string{"restore", "move"} {
		for _, back := range []bool{false, true} {
			for _, alb := range []bool{false, true} {
				var sum time.Duration
				for _, a := range data.CriticalPath(mode, back) {
					d, err := floorOf(a, lat, alb)
					if err != nil {
						t.Fatal(err)
					}
					sum += d
				}
				t.Logf("%s (switch back %v, alb %v): floor %s", mode, back, alb, sum)
			}
		}
	}
	if _, err := floorOf("defragment", lat, false); err == nil {
		t.Error("an unknown action has a floor")
	}
}

// TestTrafficArrivesByTheFront: users reach the candidate once the
// Elastic IP moved, or once the load balancer applies the new weights.
func TestTrafficArrivesByTheFront(t *testing.T) {
	for alb, want := range map[bool]time.Duration{false: figures.AssociateAddress, true: figures.ListenerUpdate} {
		if got, err := floorOf(data.TrafficArrives, figures, alb); err != nil || got != want {
			t.Errorf("alb %v: traffic arrives in %s (%v), want %s", alb, got, err, want)
		}
	}
}
