// Package smoke runs the smoke tests against the candidate. It only
// probes: with a network configured the function sits in the app's VPC,
// which gives it no path to an AWS API (no NAT gateway or VPC endpoint is
// part of the stack), so the approval step, outside the VPC, records the
// report in the ledger; a failing report's checks are named in the error,
// which the rollback records.
package smoke

import (
	"context"

	"github.com/greenlight/greenlight/internal/probe"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/step"
)

// Handler runs smoke tests.
type Handler struct{ D *step.Deps }

// Run checks the candidate's private address (the function runs in the
// VPC when the stack is given subnets, else over the candidate's public
// address).
func (h Handler) Run(ctx context.Context, d release.Doc) (release.Report, error) {
	c := d.Candidate.First()
	target := c.PrivateIP
	if h.D.Env.SmokeTarget != "private" {
		target = c.PublicIP
		if target == "" {
			return release.Report{}, release.SmokeTestFailed{Cause: release.Causef("candidate %s has no public address and the smoke tests run outside the VPC: set network.subnetIds and network.securityGroupIds so they reach its private address %s",
				c.InstanceID, c.PrivateIP)}
		}
	}
	rep := probe.Run(ctx, h.D.HTTP, target, d.Config.HealthCheck.Port, probe.Checks(d.Config), h.D.Now())
	passed := 0
	for _, ch := range rep.Checks {
		if ch.Passed {
			passed++
		}
	}
	h.D.Did(ctx, d.ReleaseID, "smoke-tests", "target", rep.Target, "passed", passed, "of", len(rep.Checks))
	if !rep.Passed {
		return *rep, release.SmokeTestFailed{Cause: release.Cause(probe.Failures(rep))}
	}
	return *rep, nil
}
