// Package traffic switches users to the candidate and then verifies the
// public endpoint for the configured bake time.
package traffic

import (
	"context"
	"fmt"
	"time"

	"github.com/greenlight/greenlight/internal/ledger"
	"github.com/greenlight/greenlight/internal/probe"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/internal/traffic"
	"github.com/greenlight/greenlight/lambdas/step"
)

// Handler switches and verifies.
type Handler struct{ D *step.Deps }

// Switch sends all traffic to the candidate through the release's router
// (moves the Elastic IP). It first writes its intent in the ledger (users
// may write to the candidate's data from the moment the address moves, so
// a rollback must bring that data back whatever the address shows by
// then); a retried switch finds the address already moved and changes
// nothing.
func (h Handler) Switch(ctx context.Context, d release.Doc) (release.Switch, error) {
	to := d.Candidate.First().InstanceID
	if n := len(d.Candidate.IDs()); n > 1 {
		// The config refuses a fleet behind an Elastic IP; moving the
		// address to one instance would strand the others.
		return release.Switch{}, release.StepFailed{Cause: release.Causef("an Elastic IP serves one instance, the candidate side has %d", n)}
	}
	if err := h.switching(ctx, d); err != nil {
		return release.Switch{}, err
	}
	mv, err := h.D.Router(d.Config).Shift(ctx, traffic.One(to), 100)
	if err != nil {
		return release.Switch{}, step.AWS("switch traffic", d.Live.AllocationID, err)
	}
	from := mv.From.String()
	if from == to || from == "" {
		from = d.Live.InstanceID // a retried switch: the first one moved it
	}
	sw := release.Switch{From: from, To: to, AssociationID: mv.Detail, At: h.D.Now().UTC()}
	h.D.Did(ctx, d.ReleaseID, "ec2:AssociateAddress", "allocation", d.Live.AllocationID, "from", from, "to", to, "changed", mv.Changed)
	return sw, h.switched(ctx, d, release.StateSwitchTraffic, fmt.Sprintf("Elastic IP %s moved from %s to %s", d.Live.PublicIP, from, to), nil)
}

// switching writes, before traffic first moves, that it is moving to the
// candidate: from then on users may write to the candidate's data, so a
// rollback must bring that data back whatever the front shows by then.
func (h Handler) switching(ctx context.Context, d release.Doc) error {
	// The whole side: the rollback only asks whether it is set.
	err := h.D.Ledger().Update(ctx, d.App, d.ReleaseID, ledger.Change{Set: map[string]any{"switchingTo": candidateSide(d).String()}})
	if err != nil {
		return step.AWS("dynamodb:UpdateItem", d.ReleaseID, err)
	}
	return nil
}

// switched records that traffic moved: the release runs on (past its
// approval, whose token goes), who approved it, and what moved.
func (h Handler) switched(ctx context.Context, d release.Doc, state, detail string, extra map[string]any) error {
	set := map[string]any{"status": ledger.StatusRunning}
	for k, v := range extra {
		set[k] = v
	}
	if d.Approval != nil {
		set["approvedBy"] = d.Approval.By
		if d.Approval.Reason != "" {
			set["reason"] = d.Approval.Reason
		}
	}
	err := h.D.Ledger().Update(ctx, d.App, d.ReleaseID, ledger.Change{
		Set:    set,
		Remove: []string{"token", "tokenExpires"},
		Event:  &ledger.Event{At: h.D.Now().UTC(), Step: state, Detail: detail},
	})
	if err != nil {
		return step.AWS("dynamodb:UpdateItem", d.ReleaseID, err)
	}
	return nil
}

// Verify waits, within its first invocation, until users reach the
// candidate, then checks the public endpoint once per call; after the
// bake time has passed with every round green, the release is verified.
// A failed round fails the release, and the rollback moves traffic back.
func (h Handler) Verify(ctx context.Context, d release.Doc) (release.Verify, error) {
	v := release.Verify{Since: h.D.Now().UTC()}
	if d.Verify != nil {
		v = *d.Verify
	}
	if err := h.D.Aborted(ctx, d); err != nil {
		return v, err
	}
	if v.TrafficAt.IsZero() {
		arrived, err := h.D.Poll(ctx, step.PollBudget, func(ctx context.Context) (bool, time.Duration, error) {
			return h.trafficArrived(ctx, d, v)
		})
		if err != nil {
			return v, err
		}
		if !arrived {
			if h.D.Now().Sub(v.Since) > settleTimeout {
				return v, release.VerifyFailed{Cause: release.Causef("%s still shows the maintenance page %s after the switch", d.Live.PublicIP, settleTimeout)}
			}
			v.WaitSeconds = 1
			return v, nil
		}
		v.TrafficAt = h.D.Now().UTC()
	}
	v.Checks++
	bake := d.Config.BakeTime.D()
	rep := probe.Run(ctx, h.D.HTTP, d.Live.PublicIP, d.Config.HealthCheck.Port, probe.Checks(d.Config), h.D.Now())
	v.Last = rep
	if !rep.Passed {
		return v, release.VerifyFailed{Cause: release.Causef("after the switch, round %d: %s", v.Checks, probe.Failures(rep))}
	}
	elapsed := h.D.Now().Sub(v.Since)
	if elapsed >= bake {
		v.Ready = true
		err := h.D.Ledger().Update(ctx, d.App, d.ReleaseID, ledger.Change{
			Event: &ledger.Event{Step: release.StateVerifyLive, Detail: fmt.Sprintf("%s served %s cleanly for %s (%d rounds)", d.Live.PublicIP, d.Version, bake, v.Checks)},
		})
		if err != nil {
			return v, step.AWS("dynamodb:UpdateItem", d.ReleaseID, err)
		}
		return v, nil
	}
	v.WaitSeconds = waitFor(bake, elapsed)
	return v, nil
}

// With a data cutover the old instance shows the maintenance page, so the
// moment the public endpoint stops showing it is when users reach the
// candidate: it is watched every settlePoll, for up to settleTimeout.
const (
	settlePoll    = 500 * time.Millisecond
	settleTimeout = 2 * time.Minute
)

// trafficArrived reports whether users reach the candidate, and if not how
// long to wait before looking again. Without a data cutover the old
// instance serves the same data, so traffic counts as arrived once the
// remapping has had traffic.SettleSeconds to reach the network; with one,
// once the public health check no longer answers with the maintenance
// page (503).
func (h Handler) trafficArrived(ctx context.Context, d release.Doc, v release.Verify) (bool, time.Duration, error) {
	if d.Cutover == nil {
		left := v.Since.Add(traffic.SettleSeconds * time.Second).Sub(h.D.Now())
		return left <= 0, left, nil
	}
	hc := d.Config.HealthCheck
	rep := probe.Run(ctx, h.D.HTTP, d.Live.PublicIP, hc.Port, probe.Checks(d.Config)[:1], h.D.Now())
	return rep.Checks[0].Status != 0 && rep.Checks[0].Status != 503, settlePoll, nil
}

// Interval is how often the bake checks the public endpoint: three rounds
// after the first across the bake, at least 30 s apart, so a long bake
// does not cost a state transition every few seconds.
func Interval(bake time.Duration) time.Duration {
	i := bake / 3
	if i < 30*time.Second {
		i = 30 * time.Second
	}
	return i
}
