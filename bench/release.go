package main

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"github.com/greenlight/greenlight/harness/localrun"
	"github.com/greenlight/greenlight/harness/sim"
	"github.com/greenlight/greenlight/internal/release"
)

// scenario is one benchmarked release.
type scenario struct {
	Name    string
	Data    string
	Traffic string // release.TrafficElasticIP or release.TrafficALB
	// Fleet is fleet.size behind the load balancer (0: the config's).
	Fleet int
	Fault *localrun.Fault
	// AppFault makes the new version misbehave once users reach it
	// (localrun.AppFaultErrors): the bake must roll it back.
	AppFault string
}

// fleets are the sizes the fleet scenarios release, behind the load
// balancer without data: alb/none is the fleet of one they are read
// against.
var fleets = []int{3, 10}

// faults are the injected faults the benchmark runs, one per kind, each at
// a state it applies to.
var faults = []localrun.Fault{
	{State: release.StateLaunchCandidate, Kind: localrun.FaultThrottle},
	{State: release.StateDeployRelease, Kind: localrun.FaultError},
	{State: release.StateCheckCandidate, Kind: localrun.FaultNotFound},
	{State: release.StateCheckCandidate, Kind: localrun.FaultImpaired},
	{State: release.StateDeployRelease, Kind: localrun.FaultCommandFailed},
	{State: release.StateSwitchTraffic, Kind: localrun.FaultTimeout},
}

// albAlarm rolls a release back by an alarm while traffic shifts. The
// alarm stays in ALARM, so it runs last on its environment.
var albAlarm = localrun.Fault{State: release.StateShiftTraffic, Kind: localrun.FaultAlarm}

// scenarios: the happy path in each data mode, then each fault (data mode
// none), through the Elastic IP; then behind the load balancer the happy
// path without data (the default steps) and with a move (one step), and
// the alarm during the shift.
func scenarios() []scenario {
	var out []scenario
	for _, mode := range []string{release.DataNone, release.DataRestore, release.DataMove} {
		out = append(out, scenario{Name: "happy/" + mode, Data: mode, Traffic: release.TrafficElasticIP})
	}
	for _, f := range faults {
		out = append(out, scenario{Name: f.Kind + "@" + f.State, Data: release.DataNone, Traffic: release.TrafficElasticIP, Fault: &f})
	}
	// The new version answers 500s once users reach it: rolled back
	// after the switch, without data and with the data moved back.
	for _, mode := range []string{release.DataNone, release.DataMove} {
		out = append(out, scenario{Name: localrun.AppFaultErrors + "/" + mode, Data: mode, Traffic: release.TrafficElasticIP, AppFault: localrun.AppFaultErrors})
	}
	for _, mode := range []string{release.DataNone, release.DataMove} {
		out = append(out, scenario{Name: "alb/" + mode, Data: mode, Traffic: release.TrafficALB})
	}
	out = append(out, scenario{Name: localrun.AppFaultErrors + "/alb", Data: release.DataNone, Traffic: release.TrafficALB, AppFault: localrun.AppFaultErrors})
	out = append(out, scenario{Name: albAlarm.Kind + "@" + albAlarm.State, Data: release.DataNone, Traffic: release.TrafficALB, Fault: &albAlarm})
	for _, n := range fleets {
		out = append(out, scenario{Name: fmt.Sprintf("fleet/%d", n), Data: release.DataNone, Traffic: release.TrafficALB, Fleet: n})
	}
	return out
}

// Row is one scenario's figures; bench/README.md explains each.
type Row struct {
	Scenario string `json:"scenario"`
	DataMode string `json:"dataMode"`
	Traffic  string `json:"traffic"`
	Fleet    int    `json:"fleet"`
	Fault    string `json:"fault,omitempty"`
	Outcome  string `json:"outcome"`
	// TrafficSteps and Weights, behind a load balancer: the steps as the
	// release left them and the final shares of traffic.
	TrafficSteps             []TrafficStep     `json:"trafficSteps,omitempty"`
	Weights                  *localrun.Weights `json:"weights,omitempty"`
	StateTransitions         int               `json:"stateTransitions"`
	LambdaInvocations        int               `json:"lambdaInvocations"`
	AWSAPICalls              int               `json:"awsApiCalls"`
	AWSAPICallsByOperation   map[string]int    `json:"awsApiCallsByOperation"`
	LeadTimeSeconds          float64           `json:"leadTimeSeconds"`
	MaintenanceWindowSeconds float64           `json:"maintenanceWindowSeconds"`
	// MaintenanceWindowFloorSeconds is the window's physical floor: the
	// latency table's figures along its critical path (floorOf).
	MaintenanceWindowFloorSeconds float64      `json:"maintenanceWindowFloorSeconds"`
	MaintenanceWindowParts        []WindowPart `json:"maintenanceWindowParts,omitempty"`
	CriticalPathSeconds           float64      `json:"criticalPathSeconds"`
	PollingOverheadSeconds        float64      `json:"pollingOverheadSeconds"`
	PollingOverheadShare          float64      `json:"pollingOverheadShare"`
	Cost                          Cost         `json:"cost"`
	// Users: what the load generator's users saw during the release
	// (real requests to the real apps), and the acknowledged writes
	// missing from the data that serves at the end.
	Users       Users   `json:"users"`
	WallSeconds float64 `json:"wallSeconds"`
}

// Users are a release's figures from its users' side.
type Users struct {
	Requests    int `json:"requests"`
	Failed      int `json:"failed"`
	Maintenance int `json:"maintenance"`
	// InFlight is the most requests the users had in flight at once: a
	// remap can cut no more.
	InFlight              int     `json:"inFlight"`
	StickyFlips           int     `json:"stickyFlips"`
	LongestFailureSeconds float64 `json:"longestFailureSeconds"`
	Acknowledged          int     `json:"acknowledgedWrites"`
	Lost                  int     `json:"lostWrites"`
}

// TrafficStep is one step of a shift: the candidate's share, the rounds
// of checks it had and how it ended ("" if never started or under way).
type TrafficStep struct {
	Weight  int    `json:"weight"`
	Started bool   `json:"started"`
	Checks  int    `json:"checks"`
	Outcome string `json:"outcome,omitempty"`
}

// WindowPart is one action's share of the maintenance window, modelled,
// next to its floor.
type WindowPart struct {
	Action       string  `json:"action"`
	Seconds      float64 `json:"seconds"`
	FloorSeconds float64 `json:"floorSeconds"`
}

// runReleases runs every scenario: one local environment per traffic
// mode and data mode, the faults after the happy path on the environment
// without data. It also returns each function's memory size (MB) from the
// Elastic IP stacks' templates, which the cold starts' INIT cost prices
// as before the load balancer's scenarios came.
func runReleases(ctx context.Context, cfg release.Config, asset string, progress func(string)) ([]Row, map[string]float64, error) {
	all := scenarios()
	rows := make([]Row, len(all))
	type setup struct {
		traffic, data string
		fleet         int
	}
	bySetup := map[setup][]int{}
	var setups []setup
	for i, s := range all {
		k := setup{s.Traffic, s.Data, s.Fleet}
		if _, ok := bySetup[k]; !ok {
			setups = append(setups, k)
		}
		bySetup[k] = append(bySetup[k], i)
	}
	version := 0
	memory := map[string]float64{}
	for _, k := range setups {
		c := cfg
		c.Data.Mode = k.data
		counter := &invocationCounter{counts: map[string]int{}}
		progress(fmt.Sprintf("starting a local environment (traffic %s, data mode %s, fleet %d)", k.traffic, k.data, max(k.fleet, 1)))
		env, err := localrun.Start(ctx, localrun.Options{Config: c, Traffic: k.traffic, Fleet: k.fleet, Asset: asset, AfterInvoke: counter.after, Users: true})
		if err != nil {
			return nil, nil, err
		}
		if k.traffic == release.TrafficElasticIP {
			for fn, mb := range memorySizes(env.Stack) {
				memory[fn] = mb
			}
		}
		for _, i := range bySetup[k] {
			s := all[i]
			version++
			progress("running " + s.Name)
			row, err := measure(ctx, env, s, fmt.Sprintf("%d.0.0", version+1), counter)
			if err != nil {
				env.Close()
				return nil, nil, fmt.Errorf("%s: %w", s.Name, err)
			}
			rows[i] = row
		}
		if err := env.Close(); err != nil {
			return nil, nil, err
		}
	}
	return rows, memory, nil
}

// invocationCounter counts function invocations by handler.
type invocationCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

func (c *invocationCounter) after(inv localrun.Invocation, _ []byte, _ error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts[inv.Function]++
}

func (c *invocationCounter) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.counts
	c.counts = map[string]int{}
	return out
}

func measure(ctx context.Context, env *localrun.Env, s scenario, version string, counter *invocationCounter) (Row, error) {
	if s.Fault != nil {
		if err := s.Fault.Check(env.Machine(), env.Config); err != nil {
			return Row{}, err
		}
	}
	env.SetFault(s.Fault)
	defer env.SetFault(nil)
	if err := env.SetAppFault(s.AppFault); err != nil {
		return Row{}, err
	}
	defer func() { _ = env.SetAppFault("") }()
	calls0, commands0 := len(env.Region.Calls()), len(env.Region.Commands())
	counter.take()
	res, err := env.Release(ctx, version, nil)
	if err != nil {
		return Row{}, err
	}
	invocations := counter.take()
	var calls []sim.Call
	for _, c := range env.Region.Calls()[calls0:] {
		if isStep(c.Caller) {
			calls = append(calls, c)
		}
	}
	row := Row{
		Scenario: s.Name, DataMode: s.Data, Traffic: env.Config.TrafficMode(), Fleet: env.Config.FleetSize(), Outcome: res.Status, Weights: res.Weights,
		StateTransitions:         res.StateTransitions,
		AWSAPICalls:              len(calls),
		AWSAPICallsByOperation:   map[string]int{},
		LeadTimeSeconds:          res.ModelSeconds.ExcludingApproval,
		MaintenanceWindowSeconds: res.ModelSeconds.MaintenanceWindow,
		WallSeconds:              res.WallSeconds,
	}
	if s.Fault != nil {
		row.Fault = s.Fault.Kind + " at " + s.Fault.State
	}
	if s.AppFault != "" {
		row.Fault = s.AppFault + " once users reach the new version"
	}
	if t := res.Traffic; t != nil {
		row.Users = Users{Requests: t.Requests, Failed: t.Failed, Maintenance: t.Maintenance, InFlight: t.Concurrency,
			StickyFlips: t.StickyFlips, LongestFailureSeconds: t.LongestFailureSeconds}
	}
	if w := res.UserWrites; w != nil {
		row.Users.Acknowledged, row.Users.Lost = w.Acknowledged, w.Lost
	}
	for _, n := range invocations {
		row.LambdaInvocations += n
	}
	for _, st := range res.TrafficSteps {
		row.TrafficSteps = append(row.TrafficSteps, TrafficStep{Weight: st.Weight, Started: !st.StartedAt.IsZero(), Checks: st.Checks, Outcome: st.Outcome})
	}
	for _, c := range calls {
		row.AWSAPICallsByOperation[c.Service+":"+c.Operation]++
	}
	lat := env.Region.Latencies()
	for _, p := range res.Window {
		floor, err := floorOf(p.Action, lat, env.Config.UsesALB())
		if err != nil {
			return Row{}, err
		}
		row.MaintenanceWindowParts = append(row.MaintenanceWindowParts, WindowPart{Action: p.Action, Seconds: p.Seconds, FloorSeconds: floor.Seconds()})
		row.MaintenanceWindowFloorSeconds += floor.Seconds()
	}
	drains, err := deregistrationDelays(ctx, env)
	if err != nil {
		return Row{}, err
	}
	ws, err := waits(calls, env.Region.Commands()[commands0:], lat, env.Config.BakeTime.D(), drains)
	if err != nil {
		return Row{}, err
	}
	if len(res.Timeline) == 0 {
		return Row{}, fmt.Errorf("release %s has no timeline", res.ReleaseID)
	}
	var halted time.Time
	if st := localrun.Stays(res.Timeline, release.StateRollback); len(st) > 0 {
		halted = st[0].From
	}
	ws = append(ws, stepBakes(res.TrafficSteps, env.Config.StepBake(), env.Config.BakeTime.D(), halted)...)
	start := res.Timeline[0].Time
	window := span{From: start, To: start.Add(time.Duration(res.ModelSeconds.Total * float64(time.Second)))}
	critical := covered(ws, window, approvals(res.Timeline))
	row.CriticalPathSeconds = critical.Seconds()
	row.PollingOverheadSeconds = row.LeadTimeSeconds - row.CriticalPathSeconds
	if row.LeadTimeSeconds > 0 {
		row.PollingOverheadShare = row.PollingOverheadSeconds / row.LeadTimeSeconds
	}
	row.Cost = cost(res.StateTransitions, invocations, calls, memorySizes(env.Stack), lat)
	return row, nil
}

// deregistrationDelays are the load balancer's target groups' delays as
// the region reports them (deregistration_delay.timeout_seconds), by ARN;
// none in Elastic IP mode.
func deregistrationDelays(ctx context.Context, env *localrun.Env) (map[string]time.Duration, error) {
	out := map[string]time.Duration{}
	if !env.Config.UsesALB() {
		return out, nil
	}
	ctx = sim.WithCaller(ctx, "bench")
	for _, g := range env.Config.Traffic.ALB.TargetGroupARNs {
		attrs, err := env.Region.ELB().DescribeTargetGroupAttributes(ctx, &elb.DescribeTargetGroupAttributesInput{TargetGroupArn: aws.String(g)})
		if err != nil {
			return nil, err
		}
		for _, a := range attrs.Attributes {
			if aws.ToString(a.Key) != "deregistration_delay.timeout_seconds" {
				continue
			}
			n, err := strconv.Atoi(aws.ToString(a.Value))
			if err != nil {
				return nil, fmt.Errorf("target group %s: deregistration delay %q: %w", g, aws.ToString(a.Value), err)
			}
			out[g] = time.Duration(n) * time.Second
		}
		if _, ok := out[g]; !ok {
			return nil, fmt.Errorf("target group %s reports no deregistration delay", g)
		}
	}
	return out, nil
}

// approvals are the stretches the release spent waiting for approval,
// which the lead time leaves out.
func approvals(evs []localrun.Event) []span {
	var out []span
	for _, st := range localrun.Stays(evs, release.StateAwaitApproval) {
		out = append(out, span{From: st.From, To: st.To, What: "approval"})
	}
	return out
}

// memorySizes reads each function's memory (MB) from the template.
func memorySizes(st *localrun.Stack) map[string]float64 {
	out := map[string]float64{}
	res, _ := st.Template["Resources"].(map[string]any)
	for id, handler := range st.Handlers {
		r, _ := res[id].(map[string]any)
		props, _ := r["Properties"].(map[string]any)
		mb, _ := props["MemorySize"].(float64)
		if mb == 0 {
			mb = 128 // Lambda's default
		}
		out[handler] = mb
	}
	return out
}

// operations lists every operation any row called, sorted.
func operations(rows []Row) []string {
	seen := map[string]bool{}
	for _, r := range rows {
		for op := range r.AWSAPICallsByOperation {
			seen[op] = true
		}
	}
	var out []string
	for op := range seen {
		out = append(out, op)
	}
	sort.Strings(out)
	return out
}
