package localrun

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/greenlight/greenlight/harness/sim"
)

// Clock is the simulated clock the engine drives.
type Clock interface {
	Now() time.Time
	Advance(d time.Duration)
}

// regionClock is a simulated region's clock: moving it lets the region
// apply every state change due by then.
type regionClock struct{ r *sim.Region }

func (c regionClock) Now() time.Time          { return c.r.Now() }
func (c regionClock) Advance(d time.Duration) { c.r.Advance(context.Background(), d) }

// Scheduler moves simulated time the way a discrete-event simulation does:
// executions (actors) run until they wait, and only when every running
// execution is waiting does the clock jump to the earliest wake-up. Two
// executions waiting 60 s side by side therefore cost 60 simulated seconds,
// not 120, and a task never sees time move under it.
type Scheduler struct {
	clock Clock

	mu     sync.Mutex
	actors map[string]*actor
	// AfterAdvance hooks run, without the lock, each time the clock
	// moves (schedules firing, the live app writing).
	afterAdvance []func(from, to time.Time)
	// whileHeld hooks run after each move with the clock held: no actor
	// moves it again until they return, so what they do (the users'
	// requests) happens at one simulated moment, never across a change
	// of state. held counts the moves whose held hooks still run.
	whileHeld []func(from, to time.Time)
	held      int
}

type actor struct {
	waiting bool
	wake    time.Time // zero: no deadline (a human must answer)
	woken   chan struct{}
}

// NewScheduler drives clock.
func NewScheduler(clock Clock) *Scheduler {
	return &Scheduler{clock: clock, actors: map[string]*actor{}}
}

// Now is the simulated time.
func (s *Scheduler) Now() time.Time { return s.clock.Now() }

// AfterAdvance registers a hook run after every clock move.
func (s *Scheduler) AfterAdvance(f func(from, to time.Time)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.afterAdvance = append(s.afterAdvance, f)
}

// WhileHeld registers a hook run after every clock move before any
// AfterAdvance hook, with the clock held until it returns. It must not
// wait on the clock.
func (s *Scheduler) WhileHeld(f func(from, to time.Time)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.whileHeld = append(s.whileHeld, f)
}

// Join marks an execution as running.
func (s *Scheduler) Join(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.actors[name] = &actor{}
}

// Leave marks an execution as ended; the others may then move on.
func (s *Scheduler) Leave(name string) {
	s.mu.Lock()
	delete(s.actors, name)
	moved := s.step()
	s.mu.Unlock()
	s.runHooks(moved)
}

// Sleep waits until the clock has moved d past now.
func (s *Scheduler) Sleep(ctx context.Context, name string, d time.Duration) error {
	_, err := s.Wait(ctx, name, s.Now().Add(d), nil)
	return err
}

// SleepIn is Sleep for the execution whose task the context serves (the
// host puts it there); a handler run outside any execution (`greenlight
// local invoke`) sleeps as an actor of its own for the length of the
// sleep.
func (s *Scheduler) SleepIn(ctx context.Context, d time.Duration) error {
	name, ok := ctx.Value(executionKey{}).(string)
	if !ok || name == "" {
		name = fmt.Sprintf("sleeper-%d", sleepers.Add(1))
		s.Join(name)
		defer s.Leave(name)
	}
	return s.Sleep(ctx, name, d)
}

var sleepers atomic.Int64

type executionKey struct{}

// WithExecution names the execution a handler's invocation serves.
func WithExecution(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, executionKey{}, name)
}

// Wait blocks the execution until done is closed (it returns false) or the
// clock reaches deadline (it returns true). A zero deadline waits for done
// only.
func (s *Scheduler) Wait(ctx context.Context, name string, deadline time.Time, done <-chan struct{}) (timedOut bool, err error) {
	s.mu.Lock()
	a, ok := s.actors[name]
	if !ok {
		a = &actor{}
		s.actors[name] = a
	}
	if !deadline.IsZero() && !s.clock.Now().Before(deadline) {
		s.mu.Unlock()
		return true, nil
	}
	a.waiting, a.wake, a.woken = true, deadline, make(chan struct{})
	woken := a.woken
	moved := s.step()
	s.mu.Unlock()
	s.runHooks(moved)

	select {
	case <-woken:
		return true, nil
	case <-done:
		s.resume(name)
		return false, nil
	case <-ctx.Done():
		s.resume(name)
		return false, ctx.Err()
	}
}

func (s *Scheduler) resume(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.actors[name]; ok && a.waiting {
		a.waiting = false
	}
}

type move struct{ from, to time.Time }

// step advances the clock while every actor waits and one has a deadline.
// Called with the lock held; returns the moves for the hooks.
func (s *Scheduler) step() []move {
	var moves []move
	if s.held > 0 {
		return nil
	}
	defer func() {
		if len(moves) > 0 && len(s.whileHeld) > 0 {
			s.held++
		}
	}()
	for {
		var next time.Time
		for _, a := range s.actors {
			if !a.waiting {
				return moves
			}
			if !a.wake.IsZero() && (next.IsZero() || a.wake.Before(next)) {
				next = a.wake
			}
		}
		if next.IsZero() {
			return moves
		}
		from := s.clock.Now()
		if next.After(from) {
			s.clock.Advance(next.Sub(from))
			moves = append(moves, move{from, next})
		}
		for _, a := range s.actors {
			if a.waiting && !a.wake.IsZero() && !a.wake.After(next) {
				a.waiting = false
				close(a.woken)
			}
		}
	}
}

func (s *Scheduler) runHooks(moves []move) {
	if len(moves) == 0 {
		return
	}
	s.mu.Lock()
	held := append([]func(from, to time.Time){}, s.whileHeld...)
	hooks := append([]func(from, to time.Time){}, s.afterAdvance...)
	s.mu.Unlock()
	if len(held) > 0 {
		for _, m := range moves {
			for _, h := range held {
				h(m.from, m.to)
			}
		}
		// Every actor may have started waiting meanwhile: the clock
		// moves on here if it can.
		s.mu.Lock()
		s.held--
		more := s.step()
		s.mu.Unlock()
		defer s.runHooks(more)
	}
	for _, m := range moves {
		for _, h := range hooks {
			h(m.from, m.to)
		}
	}
}

// Busy reports whether an execution is running.
func (s *Scheduler) Busy() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.actors) > 0
}

// AdvanceIdle moves the clock by d when no execution runs, for scenarios
// that let days pass (retirement) between releases.
func (s *Scheduler) AdvanceIdle(d time.Duration) {
	s.mu.Lock()
	from := s.clock.Now()
	s.clock.Advance(d)
	if len(s.whileHeld) > 0 {
		s.held++
	}
	s.mu.Unlock()
	s.runHooks([]move{{from, from.Add(d)}})
}
