package step

import (
	"context"
	"errors"
	"testing"
	"time"
)

// fakeClock is a simulated clock the sleeps move.
type fakeClock struct{ now time.Time }

func (c *fakeClock) deps() *Deps {
	return &Deps{
		Now:     func() time.Time { return c.now },
		Sleeper: func(_ context.Context, d time.Duration) error { c.now = c.now.Add(d); return nil },
	}
}

// TestPollStopsWhenDoneFailedOrOutOfBudget: Poll sleeps what each pass
// asks, ends at the first pass that is done or fails, and never sleeps
// past its budget.
func TestPollStopsWhenDoneFailedOrOutOfBudget(t *testing.T) {
	start := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	t.Run("done", func(t *testing.T) {
		c := &fakeClock{now: start}
		passes := 0
		done, err := c.deps().Poll(context.Background(), time.Minute, func(context.Context) (bool, time.Duration, error) {
			passes++
			return passes == 4, 500 * time.Millisecond, nil
		})
		if !done || err != nil || passes != 4 || c.now.Sub(start) != 1500*time.Millisecond {
			t.Errorf("done %v err %v after %d passes and %s, want done after 4 passes and 1.5 s", done, err, passes, c.now.Sub(start))
		}
	})
	t.Run("failed", func(t *testing.T) {
		c := &fakeClock{now: start}
		boom := errors.New("boom")
		passes := 0
		done, err := c.deps().Poll(context.Background(), time.Minute, func(context.Context) (bool, time.Duration, error) {
			passes++
			if passes == 2 {
				return false, time.Second, boom
			}
			return false, time.Second, nil
		})
		if done || !errors.Is(err, boom) || passes != 2 {
			t.Errorf("done %v err %v after %d passes, want the second pass's error", done, err, passes)
		}
	})
	t.Run("budget", func(t *testing.T) {
		c := &fakeClock{now: start}
		done, err := c.deps().Poll(context.Background(), 10*time.Second, func(context.Context) (bool, time.Duration, error) {
			return false, 3 * time.Second, nil
		})
		if done || err != nil || c.now.Sub(start) != 9*time.Second {
			t.Errorf("done %v err %v after %s, want not done after 9 s (a fourth sleep would pass the 10 s budget)", done, err, c.now.Sub(start))
		}
	})
	t.Run("deadline", func(t *testing.T) {
		c := &fakeClock{now: start}
		ctx, cancel := context.WithTimeout(context.Background(), PollMargin)
		defer cancel()
		passes := 0
		done, err := c.deps().Poll(ctx, time.Hour, func(context.Context) (bool, time.Duration, error) {
			passes++
			return false, time.Second, nil
		})
		if done || err != nil || passes != 1 {
			t.Errorf("done %v err %v after %d passes, want one pass: the invocation's deadline is within the margin", done, err, passes)
		}
	})
}
