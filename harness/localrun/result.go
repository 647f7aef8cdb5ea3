package localrun

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/greenlight/greenlight/harness/sim"
	"github.com/greenlight/greenlight/internal/artifact"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/data"
	"github.com/greenlight/greenlight/lambdas/finish"
	"github.com/greenlight/greenlight/lambdas/start"
	"github.com/greenlight/greenlight/lambdas/switchback"
)

// Result is how a local release went, in the shape `greenlight local
// --json` prints.
type Result struct {
	Status                 string         `json:"status"`
	ReleaseID              string         `json:"releaseId"`
	Execution              string         `json:"execution,omitempty"`
	Error                  string         `json:"error,omitempty"`
	Cause                  string         `json:"cause,omitempty"`
	StatesEntered          []string       `json:"statesEntered"`
	StateTransitions       int            `json:"stateTransitions"`
	LambdaInvocations      int            `json:"lambdaInvocations"`
	AWSAPICalls            int            `json:"awsApiCalls"`
	AWSAPICallsByOperation map[string]int `json:"awsApiCallsByOperation"`
	ModelSeconds           ModelSeconds   `json:"modelSeconds"`
	LiveInstanceID         string         `json:"liveInstanceId"`
	// LiveInstanceIDs are every instance the front serves from at the
	// end: the Elastic IP's one, or the heaviest target group's.
	LiveInstanceIDs []string `json:"liveInstanceIds"`
	// LiveServing: the live instance runs and the app answers its health
	// check through the front users reach (the Elastic IP, or the load
	// balancer in alb mode).
	LiveServing bool   `json:"liveServing"`
	LiveVersion string `json:"liveVersion"`
	// Warning is what a release that stands could not record
	// (ReleaseNotRecorded).
	Warning string `json:"warning,omitempty"`
	// FaultMissed says why an injected fault never landed.
	FaultMissed     string         `json:"faultMissed,omitempty"`
	LeakedResources []sim.Resource `json:"leakedResources"`
	// ModelledWrites, with a data volume and the modelled app (no
	// Options.Users): every write the modelled users made, and whether
	// each is on the live data volume.
	Writes *Writes `json:"modelledWrites,omitempty"`
	// TrafficSteps, behind an ALB, are the release's traffic steps as it
	// left them; Weights the final shares of traffic.
	TrafficSteps []release.TrafficStep `json:"trafficSteps,omitempty"`
	Weights      *Weights              `json:"weights,omitempty"`
	// ALBRequests, in alb mode: the users' requests through the load
	// balancer, by outcome and by the version that answered.
	ALBRequests *ALBRequests `json:"albRequests,omitempty"`
	// Traffic, with Options.Users: what the users saw since this release
	// was delivered; UserWrites whether every write they had acknowledged
	// since the environment started is in the data that serves.
	Traffic    *Traffic    `json:"traffic,omitempty"`
	UserWrites *UserWrites `json:"writes,omitempty"`
	// Window is the maintenance window split along the cutover's
	// critical path (data.WindowParts).
	Window      []data.WindowPart `json:"maintenanceWindowParts,omitempty"`
	Timeline    []Event           `json:"timeline,omitempty"`
	WallSeconds float64           `json:"wallSeconds"`
}

// Weights are the shares of traffic, in percent, of the side that was
// live when a release started and of its candidate's side.
type Weights struct {
	Live      int `json:"live"`
	Candidate int `json:"candidate"`
}

// ModelSeconds are modelled (simulated) durations.
type ModelSeconds struct {
	Total             float64 `json:"total"`
	ExcludingApproval float64 `json:"excludingApproval"`
	MaintenanceWindow float64 `json:"maintenanceWindow"`
}

// Release uploads an artifact, delivers its upload event and follows the
// execution to its end. An empty artifact means the sample release of
// version.
func (e *Env) Release(ctx context.Context, version string, body []byte) (*Result, error) {
	wall := time.Now()
	res, err := e.Start(ctx, version, body)
	if err != nil {
		return nil, err
	}
	return e.Follow(ctx, res, wall)
}

// Start uploads an artifact and delivers its upload event: the release
// starts and runs on while the caller goes on (Follow waits for its end).
// An empty artifact means the sample release of version.
func (e *Env) Start(ctx context.Context, version string, body []byte) (start.Result, error) {
	if body == nil {
		var err error
		if body, err = artifact.Sample(e.Config.App, version); err != nil {
			return start.Result{}, err
		}
	}
	key := e.Key(version)
	vid, err := e.Upload(ctx, key, body)
	if err != nil {
		return start.Result{}, err
	}
	return e.Deliver(ctx, key, vid, int64(len(body)))
}

// Follow waits for a started release to end and summarizes it.
func (e *Env) Follow(ctx context.Context, started start.Result, wall time.Time) (*Result, error) {
	if started.Status == start.Duplicate {
		return &Result{Status: release.Duplicate, ReleaseID: started.ReleaseID, Execution: started.Execution,
			StatesEntered: []string{}, AWSAPICallsByOperation: map[string]int{}, LeakedResources: []sim.Resource{},
			LiveInstanceID: e.live(), LiveInstanceIDs: e.liveSide(), LiveServing: e.liveServing(), LiveVersion: e.liveVersion(), ALBRequests: e.ALBRequests(), WallSeconds: time.Since(wall).Seconds()}, nil
	}
	ex, err := e.Wait(ctx, started.ReleaseID)
	if err != nil {
		return nil, err
	}
	return e.summarize(started, ex, wall), nil
}

func (e *Env) summarize(started start.Result, ex *Execution, wall time.Time) *Result {
	e.mu.Lock()
	r := e.runs[ex.Name]
	calls := append([]sim.Call(nil), e.calls[ex.Name]...)
	invocations := e.invocations[ex.Name]
	e.mu.Unlock()
	res := &Result{
		ReleaseID: started.ReleaseID, Execution: started.Execution,
		Status: outcomeOf(ex), Error: ex.Error, Cause: ex.Cause,
		StatesEntered: ex.Path(), StateTransitions: ex.Transitions(), LambdaInvocations: invocations,
		AWSAPICalls: len(calls), AWSAPICallsByOperation: map[string]int{},
		Timeline: ex.Events, WallSeconds: time.Since(wall).Seconds(),
	}
	for _, c := range calls {
		res.AWSAPICallsByOperation[c.Service+":"+c.Operation]++
	}
	total := r.ended.Sub(r.started)
	res.ModelSeconds = ModelSeconds{
		Total:             total.Seconds(),
		ExcludingApproval: (total - waited(ex.Events, release.StateAwaitApproval)).Seconds(),
	}
	var doc release.Doc
	if ex.Status == "SUCCEEDED" && json.Unmarshal(ex.Output, &doc) == nil {
		res.ModelSeconds.MaintenanceWindow = finish.MaintenanceWindow(doc).Seconds()
		res.Window = data.WindowParts(doc)
		res.Warning = doc.Record.Warning()
	}
	res.FaultMissed = e.FaultMissed()
	if e.Config.HasData() && e.users == nil {
		w := e.Writes()
		res.Writes = &w
	}
	if e.Config.UsesALB() {
		e.mu.Lock()
		res.TrafficSteps = e.shifts[ex.Name]
		e.mu.Unlock()
		res.Weights = e.weights(started.ReleaseID)
	}
	res.ALBRequests = e.ALBRequests()
	res.Traffic = e.Traffic()
	if w, err := e.UserWrites(); err != nil {
		res.Error, res.Cause = "local engine", err.Error()
	} else {
		res.UserWrites = w
	}
	res.LiveInstanceID, res.LiveVersion = e.live(), e.liveVersion()
	res.LiveInstanceIDs = e.liveSide()
	res.LiveServing = e.liveServing()
	res.LeakedResources = e.leaks(started.ReleaseID)
	return res
}

// outcomeOf maps an execution's end to the release's terminal state.
func outcomeOf(ex *Execution) string {
	if ex.Status == "SUCCEEDED" {
		path := ex.Path()
		return path[len(path)-1]
	}
	for _, o := range release.Outcomes {
		if ex.Error == o {
			return o
		}
	}
	return "Failed(" + ex.Error + ")"
}

// Stay is one stretch of simulated time an execution spent in a state.
type Stay struct{ From, To time.Time }

// Stays lists the stretches an execution spent in a state, from its
// events.
func Stays(evs []Event, state string) []Stay {
	var out []Stay
	var entered time.Time
	for _, ev := range evs {
		if ev.State != state {
			continue
		}
		switch ev.Type {
		case "StateEntered":
			entered = ev.Time
		case "StateExited", "StateFailed":
			if !entered.IsZero() {
				out = append(out, Stay{entered, ev.Time})
				entered = time.Time{}
			}
		}
	}
	return out
}

// waited is the simulated time spent in a state.
func waited(evs []Event, state string) time.Duration {
	var d time.Duration
	for _, st := range Stays(evs, state) {
		d += st.To.Sub(st.From)
	}
	return d
}

// live is the instance receiving the Elastic IP's traffic now; in alb
// mode the first of those the load balancer sends most requests to.
func (e *Env) live() string {
	if e.Config.UsesALB() {
		if ids := e.Region.ALBServing(e.albARN()); len(ids) > 0 {
			return ids[0]
		}
		return ""
	}
	return e.Region.TrafficTarget(e.Fixture.AllocationID)
}

// liveSide is every instance the front sends users to now.
func (e *Env) liveSide() []string {
	if e.Config.UsesALB() {
		if ids := e.Region.ALBServing(e.albARN()); len(ids) > 0 {
			return ids
		}
		return []string{}
	}
	if id := e.Region.TrafficTarget(e.Fixture.AllocationID); id != "" {
		return []string{id}
	}
	return []string{}
}

// Live is the instance the front sends users to now (the Elastic IP's; the
// heaviest target group's first behind an ALB).
func (e *Env) Live() string { return e.live() }

// ListenerWeights are the managed forward action's weights by target
// group (the rule's when the config names one), read from the simulated
// region.
func (e *Env) ListenerWeights() map[string]int {
	w := map[string]int{}
	ctx := sim.WithCaller(context.Background(), "localrun")
	alb := e.Config.Traffic.ALB
	var actions []elbtypes.Action
	if alb.RuleARN != "" {
		out, err := e.Region.ELB().DescribeRules(ctx, &elb.DescribeRulesInput{RuleArns: []string{alb.RuleARN}})
		if err != nil || len(out.Rules) != 1 {
			return w
		}
		actions = out.Rules[0].Actions
	} else {
		out, err := e.Region.ELB().DescribeListeners(ctx, &elb.DescribeListenersInput{ListenerArns: []string{alb.ListenerARN}})
		if err != nil || len(out.Listeners) != 1 {
			return w
		}
		actions = out.Listeners[0].DefaultActions
	}
	for _, a := range actions {
		if a.ForwardConfig != nil {
			for _, g := range a.ForwardConfig.TargetGroups {
				w[aws.ToString(g.TargetGroupArn)] = int(aws.ToInt32(g.Weight))
			}
		}
	}
	return w
}

// weights are a release's final shares: its live side's group is the one
// that had the weight when it started.
func (e *Env) weights(releaseID string) *Weights {
	e.mu.Lock()
	liveGroup := e.liveGroups[releaseID]
	e.mu.Unlock()
	w := &Weights{}
	for g, n := range e.ListenerWeights() {
		if g == liveGroup {
			w.Live += n
		} else {
			w.Candidate += n
		}
	}
	return w
}

// liveServing asks the app's health check through the front, the way
// users reach it, and checks the live instance runs.
func (e *Env) liveServing() bool {
	live := e.live()
	if live == "" {
		return false
	}
	ctx := sim.WithCaller(context.Background(), "localrun")
	out, err := e.Region.EC2().DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{live}})
	if err != nil || len(out.Reservations) == 0 || out.Reservations[0].Instances[0].State.Name != ec2types.InstanceStateNameRunning {
		return false
	}
	hc := e.Config.HealthCheck
	url := fmt.Sprintf("http://%s:%d%s", e.Fixture.PublicIP, hc.Port, hc.Path)
	host := ""
	if e.Config.UsesALB() {
		url, host = "http://"+e.Fixture.LoadBalancerDNS+hc.Path, e.albHost()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	if host != "" {
		req.Host = host
	}
	resp, err := e.Region.HTTPClient().Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == hc.ExpectedStatus
}

func (e *Env) liveVersion() string {
	app, err := e.Region.App(e.live())
	if err != nil {
		return ""
	}
	return app.Version
}

// leaks lists what the release created and should no longer exist:
// anything but the live side and the volumes it uses (after success
// the candidates themselves, after a rollback the data volume the old instance
// got back), and snapshots, which are kept as backups.
func (e *Env) leaks(releaseID string) []sim.Resource {
	keep := map[string]bool{}
	if live := e.liveSide(); len(live) > 0 {
		for _, id := range live {
			keep[id] = true
		}
		ctx := sim.WithCaller(context.Background(), "localrun")
		out, err := e.Region.EC2().DescribeVolumes(ctx, &ec2.DescribeVolumesInput{Filters: []ec2types.Filter{{Name: aws.String("attachment.instance-id"), Values: live}}})
		if err == nil {
			for _, v := range out.Volumes {
				keep[aws.ToString(v.VolumeId)] = true
			}
		}
	}
	out := []sim.Resource{}
	for _, r := range e.Region.Leaks(releaseID) {
		if !keep[r.ID] {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// JSON renders the result for --json.
func (r *Result) JSON() ([]byte, error) { return json.MarshalIndent(r, "", "  ") }

// Expected is the status a run should end in: Released, unless the
// approval is refused or a hard fault is injected before the commit point
// (the bookkeeping after it never moves traffic back). A candidate
// impaired while it becomes ready is replaced when fleet.replaceUnhealthy
// allows, and one a zone has no capacity for launches in another zone of
// a fleet's, and the release goes on.
func Expected(approve string, f *Fault, c release.Config) string {
	if approve == ApproveReject || approve == ApproveTimeout {
		return release.RolledBack
	}
	replaced := f != nil && f.Kind == FaultImpaired && c.ReplaceUnhealthy() > 0 &&
		(f.State == release.StateLaunchCandidate || f.State == release.StateCheckCandidate)
	moved := f != nil && f.Kind == FaultNoCapacity && c.FleetSize() > 1
	if f != nil && !Transient(f.Kind) && !AfterCommit(f.State) && !replaced && !moved {
		return release.RolledBack
	}
	return release.Released
}

// AfterCommit reports a state past the commit point: the new side serves
// and was verified, so a failure there leaves the release standing.
func AfterCommit(state string) bool { return state == release.StateRecordRelease }

// RollbackRequest is what `greenlight rollback` sends.
type RollbackRequest = switchback.Request

// RollbackName is the execution name of a switch back started at t.
func RollbackName(app string, t time.Time) string { return release.RollbackName(app, t) }

// Rollback switches back to the previous instance, as `greenlight
// rollback` does: an execution of the rollback workflow.
func (e *Env) Rollback(ctx context.Context, req RollbackRequest) (*Result, error) {
	wall := time.Now()
	name := RollbackName(e.Config.App, e.Region.Now())
	req.ReleaseID, req.App = name, e.Config.App
	input, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	out, err := e.Region.SFN().StartExecution(sim.WithCaller(ctx, "greenlight-cli"), &sfn.StartExecutionInput{
		StateMachineArn: aws.String(e.Stack.SwitchBack.ARN()), Name: aws.String(name), Input: aws.String(string(input)),
	})
	if err != nil {
		return nil, err
	}
	return e.Follow(ctx, start.Result{Status: start.Started, ReleaseID: name, Execution: aws.ToString(out.ExecutionArn)}, wall)
}
