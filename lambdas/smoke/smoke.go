// Package smoke runs the smoke tests against the candidate: every instance
// of the side. It only probes: with a network configured the function sits
// in the app's VPC, which gives it no path to an AWS API (no NAT gateway or
// VPC endpoint is part of the stack), so the approval step, outside the
// VPC, records the report in the ledger; a failing report's instances and
// checks are named in the error, which the rollback records.
package smoke

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/greenlight/greenlight/internal/probe"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/step"
)

// Handler runs smoke tests.
type Handler struct{ D *step.Deps }

// Run checks each candidate's private address (the function runs in the
// VPC when the stack is given subnets, else over its public address). A
// side of one is reported as it always was; a fleet's report has one
// report per instance, probed side by side so the step takes as long as
// its slowest instance.
func (h Handler) Run(ctx context.Context, d release.Doc) (release.Report, error) {
	side := d.Candidate.Instances
	if len(side) == 0 {
		side = []release.Member{{}}
	}
	targets := make([]string, len(side))
	var unreachable []string
	for i, c := range side {
		targets[i] = c.PrivateIP
		if h.D.Env.SmokeTarget != "private" {
			targets[i] = c.PublicIP
			if targets[i] == "" {
				unreachable = append(unreachable, fmt.Sprintf("%s (private %s)", c.InstanceID, c.PrivateIP))
			}
		}
	}
	switch {
	case len(unreachable) > 0 && len(side) == 1:
		return release.Report{}, release.SmokeTestFailed{Cause: release.Causef("candidate %s has no public address and the smoke tests run outside the VPC: set network.subnetIds and network.securityGroupIds so they reach its private address %s",
			side[0].InstanceID, side[0].PrivateIP)}
	case len(unreachable) > 0:
		return release.Report{}, release.SmokeTestFailed{Cause: release.Causef("%d of %d candidates have no public address and the smoke tests run outside the VPC: %s; set network.subnetIds and network.securityGroupIds so they reach the private addresses",
			len(unreachable), len(side), strings.Join(unreachable, ", "))}
	}
	now := h.D.Now()
	reports := make([]*release.Report, len(side))
	var wg sync.WaitGroup
	for i := range side {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reports[i] = probe.Run(ctx, h.D.HTTP, targets[i], d.Config.HealthCheck.Port, probe.Checks(d.Config), now)
		}()
	}
	wg.Wait()
	for i, rep := range reports {
		passed := 0
		for _, ch := range rep.Checks {
			if ch.Passed {
				passed++
			}
		}
		h.D.Did(ctx, d.ReleaseID, "smoke-tests", "instance", side[i].InstanceID, "target", rep.Target, "passed", passed, "of", len(rep.Checks))
	}
	if len(side) == 1 {
		rep := reports[0]
		if !rep.Passed {
			return *rep, release.SmokeTestFailed{Cause: release.Cause(probe.Failures(rep))}
		}
		return *rep, nil
	}
	return fleetReport(side, reports, now)
}

// fleetReport sums a fleet's reports up; failing, it names each instance
// that failed with its failed checks.
func fleetReport(side []release.Member, reports []*release.Report, now time.Time) (release.Report, error) {
	rep := release.Report{Target: fmt.Sprintf("%d candidates", len(side)), Passed: true, At: now.UTC()}
	var failed []string
	for i, r := range reports {
		m := side[i]
		rep.Instances = append(rep.Instances, release.InstanceReport{InstanceID: m.InstanceID, AZ: m.AZ, Target: r.Target, Passed: r.Passed, Checks: r.Checks})
		if !r.Passed {
			rep.Passed = false
			failed = append(failed, name(m)+": "+probe.Failures(r))
		}
	}
	if !rep.Passed {
		return rep, release.SmokeTestFailed{Cause: release.Causef("smoke tests failed on %d of %d candidates: %s", len(failed), len(side), strings.Join(failed, " | "))}
	}
	return rep, nil
}

// name is an instance with its zone, when known.
func name(m release.Member) string {
	if m.AZ == "" {
		return m.InstanceID
	}
	return m.InstanceID + " (" + m.AZ + ")"
}
