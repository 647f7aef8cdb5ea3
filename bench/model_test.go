package main

import (
	"math"
	"testing"
	"time"

	"github.com/greenlight/greenlight/harness/localrun"
	"github.com/greenlight/greenlight/harness/sim"
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

func TestWaitsFollowTheLatencyTable(t *testing.T) {
	lat := sim.DefaultLatencies()
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
	ws, err := waits(calls, commands, lat, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	want := []span{
		{From: at(2), To: at(2 + 1.5 + 16 + 150)},
		{From: at(200), To: at(200 + 2 + 20)},
		{From: at(300), To: at(303)},
		{From: at(300), To: at(600)},
		{From: at(400), To: at(403)},
	}
	if len(ws) != len(want) {
		t.Fatalf("waits %+v, want %d", ws, len(want))
	}
	for i := range want {
		if !ws[i].From.Equal(want[i].From) || !ws[i].To.Equal(want[i].To) {
			t.Errorf("wait %d: %s–%s (%s), want %s–%s", i, ws[i].From.Sub(t0), ws[i].To.Sub(t0), ws[i].What, want[i].From.Sub(t0), want[i].To.Sub(t0))
		}
	}

	// A snapshot a volume is then made from is waited on.
	calls = append(calls, sim.Call{Caller: registry.Rollback, Service: sim.ServiceEC2, Operation: "CreateVolume", At: at(520)})
	ws, _ = waits(calls, commands, lat, 5*time.Minute)
	if len(ws) != len(want)+2 {
		t.Errorf("with a volume made from the snapshot: %d waits, want %d", len(ws), len(want)+2)
	}
}

func TestCostAtListPrices(t *testing.T) {
	lat := sim.DefaultLatencies()
	invocations := map[string]int{registry.Start: 1, registry.Launch: 1, registry.Verify: 2}
	calls := []sim.Call{{Caller: registry.Launch, Service: sim.ServiceEC2, Operation: "RunInstances", Latency: lat.RunInstancesCall}}
	memory := map[string]float64{registry.Start: 256, registry.Launch: 256, registry.Verify: 512}
	c := cost(40, invocations, calls, memory, lat)
	gbs := 2*0.25*0.05 + 2*0.5*0.05 + 0.25*1.5
	for _, f := range []struct {
		name      string
		got, want float64
	}{
		{"Step Functions", c.StepFunctionsUSD, 40 * 0.025 / 1000},
		{"requests", c.LambdaRequestsUSD, 4 * 0.20 / 1e6},
		{"GB-seconds", c.LambdaGBSeconds, gbs},
		{"compute", c.LambdaComputeUSD, gbs * 0.0000133334},
		{"total", c.TotalUSD, 40*0.025/1000 + 4*0.20/1e6 + gbs*0.0000133334},
	} {
		if math.Abs(f.got-f.want) > 1e-12 {
			t.Errorf("%s: %g, want %g", f.name, f.got, f.want)
		}
	}
}
