// Package data moves the app's data volume: it gives the candidate a
// restored copy of the live data for testing, and at cutover stops writes
// under a maintenance page, takes a consistent snapshot and puts the data
// on the candidate (a fresh volume from the snapshot, or the live volume
// itself). The same moves, backwards, are how a rollback gives the data
// back to the old instance.
//
// Each of these is a plan: a few actions with prerequisites. A pass looks
// at AWS, starts whatever action is due and not yet started, and reports
// what is still pending; the state machine calls again after a short
// wait. Progress lives in the release document, so a pass can be repeated
// and a retried Lambda changes nothing.
package data

import (
	"context"
	"fmt"
	"strings"

	"github.com/greenlight/greenlight/internal/release"
)

// action is one thing a plan does. run looks at AWS and, when the action's
// effect is not in place and it has not been started, starts it; it
// reports whether the effect is in place. It may record what it started in
// st (a command id, a snapshot or volume id).
type action struct {
	name  string
	after []string
	run   func(ctx context.Context, st *release.Step) (bool, error)
}

// advance makes one pass over a plan: every action whose prerequisites are
// done runs once. It returns whether the whole plan is done and what is
// still pending, in plan order.
func advance(ctx context.Context, steps map[string]release.Step, actions []action) (bool, []string, error) {
	var pending []string
	for _, a := range actions {
		st := steps[a.name]
		if st.Done {
			continue
		}
		ready := true
		for _, dep := range a.after {
			if !steps[dep].Done {
				ready = false
			}
		}
		if !ready {
			pending = append(pending, a.name)
			continue
		}
		done, err := a.run(ctx, &st)
		if err != nil {
			steps[a.name] = st
			return false, nil, err
		}
		st.Done = done
		steps[a.name] = st
		if !done {
			pending = append(pending, a.name)
		}
	}
	return len(pending) == 0, pending, nil
}

// describe words what a plan still waits for.
func describe(pending []string) string {
	if len(pending) == 0 {
		return "done"
	}
	return "waiting for " + strings.Join(pending, ", ")
}

// check is a plan's own consistency: every prerequisite names an action
// that comes before it.
func check(actions []action) error {
	seen := map[string]bool{}
	for _, a := range actions {
		for _, dep := range a.after {
			if !seen[dep] {
				return fmt.Errorf("data plan: %s waits for %s, which does not come before it", a.name, dep)
			}
		}
		seen[a.name] = true
	}
	return nil
}
