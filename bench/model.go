package main

import (
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"github.com/greenlight/greenlight/harness/sim"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/data"
	"github.com/greenlight/greenlight/lambdas/registry"
)

// List prices the cost estimate uses: AWS on-demand list prices, without
// free tiers or savings plans, checked on PriceDate.
//
//   - Step Functions Standard: https://aws.amazon.com/step-functions/pricing/
//     lists $0.0250 per 1,000 state transitions for US East (N. Virginia)
//     and Europe (Ireland), among others.
//   - Lambda: https://aws.amazon.com/lambda/pricing/ renders its rate table
//     from price tokens the checked copy did not show; its Arm rates for US
//     East (N. Virginia), $0.0000133334 per GB-second for the first 7.5
//     billion GB-seconds a month and $0.20 per million requests, are quoted
//     from that page by cloudchipr.com ("AWS Lambda Pricing Breakdown") and
//     by Artillery's price table (artillery 2.0.28, prices.js).
const (
	PriceDate = "2026-11-26"
	// USDPerStateTransition: $0.025 per 1,000 state transitions.
	USDPerStateTransition = 0.025 / 1000
	// USDPerLambdaRequest: $0.20 per 1 million requests.
	USDPerLambdaRequest = 0.20 / 1e6
	// USDPerArmGBSecond: $0.0000133334 per GB-second on arm64.
	USDPerArmGBSecond = 0.0000133334
)

// span is a stretch of modelled time.
type span struct {
	From, To time.Time
	What     string
}

// Runs times the simulated region's model executor gives each SSM
// document's script when the local engine does not override them.
var runTimes = map[sim.DocumentKind]time.Duration{
	sim.DocumentDeploy:      sim.DefaultDeployRunTime,
	sim.DocumentMaintenance: sim.DefaultMaintenanceRunTime,
	sim.DocumentData:        sim.DefaultDataRunTime,
}

// waits lists what a release waited on, from the calls its steps made (in
// order) and the SSM commands they sent (in order), by the latency table:
// the critical path's pieces, defined in bench/README.md. A failed call
// started nothing and waits for nothing. bake is the configured bake time;
// drains are the deregistration delays of the load balancer's target
// groups, by ARN (empty without one).
func waits(calls []sim.Call, commands []sim.Command, lat sim.Latencies, bake time.Duration, drains map[string]time.Duration) ([]span, error) {
	var out []span
	add := func(c sim.Call, d time.Duration, what string) {
		out = append(out, span{c.At, c.At.Add(d), what})
	}
	launched, baked := map[string]bool{}, false
	cmd := 0
	for i, c := range calls {
		if c.Code != "" || !isStep(c.Caller) {
			continue
		}
		switch c.Service + ":" + c.Operation {
		case "EC2:RunInstances":
			// Each candidate (a fleet's, a replacement) has its own client
			// token; a retried launch carries the same one and EC2 answers
			// with the first launch.
			token := ""
			if in, ok := c.Input.(*ec2.RunInstancesInput); ok {
				token = aws.ToString(in.ClientToken)
			}
			if launched[token] {
				continue
			}
			launched[token] = true
			add(c, lat.RunInstancesCall+lat.PendingToRunning+max(lat.StatusChecksOK, lat.SSMOnline), "candidate launched, running, status checks passed, online in SSM")
		case "EC2:StartInstances":
			add(c, lat.PendingToRunning+lat.SSMOnline, "instance running and online in SSM")
		case "EC2:StopInstances":
			add(c, lat.StoppingToStopped, "instance stopped")
		case "EC2:TerminateInstances":
			add(c, lat.ShuttingDownToTerminated, "instance terminated")
		case "EC2:CreateVolume":
			add(c, lat.CreateVolume, "volume available")
		case "EC2:AttachVolume":
			add(c, lat.AttachVolume, "volume attached")
		case "EC2:DetachVolume":
			add(c, lat.DetachVolume, "volume detached")
		case "EC2:CreateSnapshot":
			// Waited on only when a volume is then made from it: EBS
			// restores volumes from completed snapshots only. A snapshot
			// kept as a backup fixes its point in time at the call.
			if createsVolumeAfter(calls[i+1:]) {
				add(c, lat.SnapshotBase, "snapshot completed")
			}
		case "EC2:AssociateAddress":
			add(c, lat.AssociateAddress, "Elastic IP traffic at the new instance")
			if c.Caller == registry.Switch && !baked {
				// The bake is timed from the switch.
				baked = true
				add(c, bake, "configured bake time")
			}
		case "ELB:RegisterTargets":
			// A registered target is healthy after one passing health
			// check, which the load balancer sends once the registration
			// is done; the simulated app answers it at once.
			add(c, lat.TargetRegistration, "candidate registered, first health check passed")
		case "ELB:ModifyListener", "ELB:ModifyRule":
			add(c, lat.ListenerUpdate, "load balancer routes by the new weights")
		case "ELB:DeregisterTargets":
			// The rollback ends the candidate only once it has drained;
			// the registration's clearing out of an older kept side
			// waits for nothing.
			if c.Caller != registry.Rollback {
				continue
			}
			in, _ := c.Input.(*elb.DeregisterTargetsInput)
			if in == nil {
				return nil, fmt.Errorf("DeregisterTargets by %s without its input", c.Caller)
			}
			d, ok := drains[aws.ToString(in.TargetGroupArn)]
			if !ok {
				return nil, fmt.Errorf("no deregistration delay for target group %s", aws.ToString(in.TargetGroupArn))
			}
			add(c, d, "candidate drained from its target group")
		case "SSM:SendCommand":
			if cmd >= len(commands) {
				return nil, fmt.Errorf("%d successful SendCommand calls but %d commands recorded", cmd+1, len(commands))
			}
			run, ok := runTimes[commands[cmd].Kind]
			if !ok {
				return nil, fmt.Errorf("no run time for SSM document %s (%s)", commands[cmd].DocumentName, commands[cmd].Kind)
			}
			add(c, lat.CommandOverhead+run, fmt.Sprintf("SSM %s command finished", commands[cmd].Kind))
			cmd++
		}
	}
	return out, nil
}

// stepBakes are the deliberate waits of a shift behind a load balancer:
// each step holds for stepBake from when its weights were set, the last
// (all traffic on the candidate) for bake, as the shift step times them.
// A step bakes no longer than until the next one started (a promote cuts
// it short) or a rollback started (halted; zero when none did); a step
// never started bakes nothing.
func stepBakes(steps []release.TrafficStep, stepBake, bake time.Duration, halted time.Time) []span {
	var out []span
	for i, st := range steps {
		if st.StartedAt.IsZero() {
			continue
		}
		d, what := stepBake, fmt.Sprintf("traffic step %d %% baked (traffic.stepBake)", st.Weight)
		if i == len(steps)-1 {
			d, what = bake, fmt.Sprintf("traffic step %d %% baked (bakeTime)", st.Weight)
		}
		end := st.StartedAt.Add(d)
		for _, next := range steps[i+1:] {
			if !next.StartedAt.IsZero() {
				end = minTime(end, next.StartedAt)
				break
			}
		}
		if !halted.IsZero() {
			end = minTime(end, halted)
		}
		if st.StartedAt.Before(end) {
			out = append(out, span{st.StartedAt, end, what})
		}
	}
	return out
}

// floorOf is the shortest time the latency table allows for one action on
// the maintenance window's critical path (data.CriticalPath): its AWS
// latency alone, with no polling delay. Their sum is the window's
// physical floor; bench/README.md says why nothing on the path can
// overlap. alb says users reach the app through a load balancer rather
// than an Elastic IP. An action the table does not cover is an error, so
// a change of the cutover's plan cannot leave the floor silently short.
func floorOf(action string, lat sim.Latencies, alb bool) (time.Duration, error) {
	dataCommand := lat.CommandOverhead + sim.DefaultDataRunTime
	switch action {
	case "live-unmount", "freeze", "mount", "healthy":
		return dataCommand, nil
	case "maintenance-off-destination":
		return lat.CommandOverhead + sim.DefaultMaintenanceRunTime, nil
	case "final-snapshot":
		// The point in time is the call; nothing waits for the copy.
		return 0, nil
	case "final-snapshot-completed":
		// The blocks changed since the warm-up snapshot add to this;
		// the floor counts none.
		return lat.SnapshotBase, nil
	case "volume":
		return lat.CreateVolume, nil
	case "live-detach":
		return lat.DetachVolume, nil
	case "attach":
		return lat.AttachVolume, nil
	case data.TrafficArrives:
		if alb {
			return lat.ListenerUpdate, nil
		}
		return lat.AssociateAddress, nil
	}
	return 0, fmt.Errorf("no floor for the window's action %q: add its latency to bench/model.go floorOf", action)
}

func createsVolumeAfter(calls []sim.Call) bool {
	for _, c := range calls {
		if c.Service == sim.ServiceEC2 && c.Operation == "CreateVolume" && c.Code == "" && isStep(c.Caller) {
			return true
		}
	}
	return false
}

func isStep(caller string) bool {
	for _, n := range registry.Names() {
		if n == caller {
			return true
		}
	}
	return false
}

// covered is how much of window the spans cover together, leaving out the
// excluded stretches (the approval): overlapping waits count once.
func covered(spans []span, window span, excluded []span) time.Duration {
	type edge struct {
		at    time.Time
		delta int
	}
	var edges []edge
	clip := func(s span) (span, bool) {
		if s.From.Before(window.From) {
			s.From = window.From
		}
		if s.To.After(window.To) {
			s.To = window.To
		}
		return s, s.From.Before(s.To)
	}
	for _, s := range spans {
		if s, ok := clip(s); ok {
			edges = append(edges, edge{s.From, 1}, edge{s.To, -1})
		}
	}
	sort.Slice(edges, func(i, j int) bool { return edges[i].at.Before(edges[j].at) })
	var union []span
	depth := 0
	var from time.Time
	for _, e := range edges {
		if depth == 0 && e.delta > 0 {
			from = e.at
		}
		depth += e.delta
		if depth == 0 {
			union = append(union, span{From: from, To: e.at})
		}
	}
	var total time.Duration
	for _, u := range union {
		total += u.To.Sub(u.From)
		for _, x := range excluded {
			if x, ok := clip(x); ok {
				from, to := maxTime(u.From, x.From), minTime(u.To, x.To)
				if from.Before(to) {
					total -= to.Sub(from)
				}
			}
		}
	}
	return total
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// Cost is the estimated Step Functions and Lambda bill of one release at
// list prices.
type Cost struct {
	StepFunctionsUSD  float64 `json:"stepFunctionsUsd"`
	LambdaRequestsUSD float64 `json:"lambdaRequestsUsd"`
	LambdaComputeUSD  float64 `json:"lambdaComputeUsd"`
	LambdaGBSeconds   float64 `json:"lambdaGbSeconds"`
	TotalUSD          float64 `json:"totalUsd"`
}

// cost prices a release: its state transitions, one request per function
// invocation, and each invocation's modelled duration (the warm invoke
// overhead plus the latency the table gives its calls, as the local engine
// charges them) at its function's memory size.
func cost(transitions int, invocations map[string]int, calls []sim.Call, memoryMB map[string]float64, lat sim.Latencies) Cost {
	var c Cost
	c.StepFunctionsUSD = float64(transitions) * USDPerStateTransition
	n := 0
	for fn, k := range invocations {
		n += k
		c.LambdaGBSeconds += float64(k) * memoryMB[fn] / 1024 * lat.LambdaWarmInvoke.Seconds()
	}
	for _, call := range calls {
		if isStep(call.Caller) {
			c.LambdaGBSeconds += memoryMB[call.Caller] / 1024 * call.Latency.Seconds()
		}
	}
	c.LambdaRequestsUSD = float64(n) * USDPerLambdaRequest
	c.LambdaComputeUSD = c.LambdaGBSeconds * USDPerArmGBSecond
	c.TotalUSD = c.StepFunctionsUSD + c.LambdaRequestsUSD + c.LambdaComputeUSD
	return c
}
