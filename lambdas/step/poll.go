package step

import (
	"context"
	"time"
)

// Polling within one invocation. A Wait → Check → Choice pass costs three
// state transitions ($0.000075 at $0.025 per 1,000), as much as about 22 s
// of a 256 MB arm64 function ($0.0000133334 per GB-second), and inside the
// maintenance window every second between a thing being done and the
// workflow noticing is downtime. So a step whose wait is short polls in its
// own invocation, at sub-second intervals while users see the maintenance
// page, and hands back to a Wait state only when PollBudget is spent.
// docs/decisions.md, "Poll where it matters", has the measurements.
const (
	// PollBudget is how long one invocation may poll.
	PollBudget = 90 * time.Second
	// PollMargin is what a polling function's timeout keeps beyond
	// PollBudget for its last pass and its bookkeeping; infra gives the
	// polling steps a timeout of PollBudget + PollMargin, and Poll stops
	// early if the invocation's own deadline comes closer than this.
	PollMargin = 30 * time.Second
)

// Sleep pauses the handler for d, or until ctx ends: on the wall clock in
// Lambda, on the simulated clock in the local engine (Deps.Sleeper).
func (d *Deps) Sleep(ctx context.Context, dur time.Duration) error {
	if d.Sleeper != nil {
		return d.Sleeper(ctx, dur)
	}
	t := time.NewTimer(dur)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Poll runs pass until it reports done or fails, sleeping the interval the
// pass asks for between passes, for at most budget (by d.Now) and never
// closer than PollMargin to the invocation's deadline. It reports whether
// the last pass was done; a pass's error ends the polling at once. A
// context that ends while sleeping ends the polling without an error: the
// caller returns the progress it has.
func (d *Deps) Poll(ctx context.Context, budget time.Duration, pass func(context.Context) (done bool, next time.Duration, err error)) (bool, error) {
	start := d.Now()
	for {
		done, next, err := pass(ctx)
		if err != nil || done {
			return done, err
		}
		if d.Now().Add(next).Sub(start) > budget {
			return false, nil
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < next+PollMargin {
			return false, nil
		}
		if d.Sleep(ctx, next) != nil {
			return false, nil
		}
	}
}

// PollPasses is Poll for a step whose pass carries its progress: each pass
// takes the value the one before returned, says whether it is done and
// how long to wait, and the last value is returned, with the error that
// ended the polling.
func PollPasses[T any](ctx context.Context, d *Deps, v T, pass func(context.Context, T) (T, bool, time.Duration, error)) (T, error) {
	_, err := d.Poll(ctx, PollBudget, func(ctx context.Context) (bool, time.Duration, error) {
		next, done, wait, err := pass(ctx, v)
		v = next
		return done, wait, err
	})
	return v, err
}
