package localrun

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/greenlight/greenlight/harness/sim"
)

// simClock is the simulator's clock as a Scheduler's Clock (its Advance
// returns the new time, which the scheduler does not need).
type simClock struct{ *sim.Clock }

func (c simClock) Advance(d time.Duration) { c.Clock.Advance(d) }

// While a WhileHeld hook runs (the users' requests of one moment), no
// actor moves the clock, however it waits; once it returns, the clock
// moves on by itself.
func TestTheClockStaysWhileHeldHooksRun(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := simClock{sim.NewClock(t0)}
	s := NewScheduler(clock)
	blocked, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	var moves []time.Time
	var mu sync.Mutex
	s.WhileHeld(func(from, to time.Time) {
		mu.Lock()
		moves = append(moves, to)
		mu.Unlock()
		once.Do(func() { close(blocked); <-release })
	})
	ctx := context.Background()
	s.Join("a")
	s.Join("b")
	aDone := make(chan error, 1)
	go func() {
		if err := s.Sleep(ctx, "a", 10*time.Second); err != nil {
			aDone <- err
			return
		}
		// Woken at 10 s while the hook holds the clock: this wait
		// must not move it.
		aDone <- s.Sleep(ctx, "a", 5*time.Second)
	}()
	go func() { _ = s.Sleep(ctx, "b", 20*time.Second) }()
	<-blocked
	deadline := time.Now().Add(200 * time.Millisecond)
	for time.Now().Before(deadline) {
		if got := clock.Now().Sub(t0); got != 10*time.Second {
			t.Fatalf("the clock moved to %s while a held hook ran; want 10s", got)
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	if err := <-aDone; err != nil {
		t.Fatal(err)
	}
	if got := clock.Now().Sub(t0); got < 15*time.Second {
		t.Fatalf("after the hook returned the clock is at %s; want it past 15s", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(moves) < 2 || moves[0] != t0.Add(10*time.Second) || moves[1] != t0.Add(15*time.Second) {
		t.Fatalf("held hooks saw moves to %v; want 10s then 15s", moves)
	}
}
