// Package smoke runs the smoke tests against the candidate and keeps the
// report in the ledger, where the approval notification and the CLI read
// it.
package smoke

import (
	"context"
	"fmt"

	"github.com/greenlight/greenlight/internal/ledger"
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
	c := d.Candidate
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
	err := h.D.Ledger().Update(ctx, d.App, d.ReleaseID, ledger.Change{
		Set:   map[string]any{"smoke": rep},
		Event: &ledger.Event{Step: release.StateRunSmokeTests, Detail: fmt.Sprintf("%d of %d checks passed against %s", passed, len(rep.Checks), rep.Target)},
	})
	if err != nil {
		return *rep, step.AWS("dynamodb:UpdateItem", d.ReleaseID, err)
	}
	h.D.Did(ctx, d.ReleaseID, "smoke-tests", "target", rep.Target, "passed", passed, "of", len(rep.Checks))
	if !rep.Passed {
		return *rep, release.SmokeTestFailed{Cause: release.Cause(probe.Failures(rep))}
	}
	return *rep, nil
}
