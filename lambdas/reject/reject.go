// Package reject records a release refused before anything was created:
// the ledger says why, the operators are told, and the lock (never taken by
// a refused release) is left alone.
package reject

import (
	"context"

	"github.com/greenlight/greenlight/internal/ledger"
	"github.com/greenlight/greenlight/internal/notify"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/step"
)

// Result is the rejection as recorded; Cause is the Rejected state's
// cause.
type Result struct {
	Error  string `json:"error"`
	Reason string `json:"reason"`
	Cause  string `json:"cause"`
}

// Handler records rejections.
type Handler struct{ D *step.Deps }

// Record writes the rejection to the ledger and notifies.
func (h Handler) Record(ctx context.Context, d release.Doc) (Result, error) {
	f := release.Failure{Error: "Rejected"}
	if d.Failure != nil {
		f = *d.Failure
	}
	res := Result{Error: f.Error, Reason: f.Reason()}
	res.Cause = res.Error + ": " + res.Reason
	now := h.D.Now().UTC()
	err := h.D.Ledger().Update(ctx, d.App, d.ReleaseID, ledger.Change{
		Set:   map[string]any{"status": ledger.StatusRejected, "failure": f.Error + ": " + res.Reason, "endedAt": now},
		Event: &ledger.Event{At: now, Step: release.Rejected, Detail: f.Error + ": " + res.Reason},
	})
	// The operators are told even when the ledger refused the record;
	// the ledger's error is the one returned.
	var errs []error
	if err != nil {
		errs = append(errs, step.AWS("dynamodb:UpdateItem", d.ReleaseID, err))
	}
	if err := h.D.Publisher().Publish(ctx, notify.Rejected(d, f.Error, res.Reason)); err != nil {
		errs = append(errs, step.AWS("sns:Publish", h.D.Env.Topic, err))
	}
	if len(errs) > 0 {
		return res, step.First(ctx, h.D, d.ReleaseID, "recording the rejection", errs)
	}
	h.D.Did(ctx, d.ReleaseID, "rejected", "error", f.Error, "reason", res.Reason)
	return res, nil
}
