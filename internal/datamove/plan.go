// Package datamove moves an app's data volume between instances, as plans
// of small actions with prerequisites: a restored copy for the candidate's
// tests, the cutover under maintenance, and the way back on rollback.
//
// A pass over a plan looks at AWS, starts whatever action is due and not
// yet started, and reports what is still pending; the state machine calls
// again after a short wait. Progress lives in the release document, so a
// pass can be repeated and a retried Lambda changes nothing.
package datamove

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/greenlight/greenlight/internal/release"
)

// Action is one thing a plan does, once the actions named in After are
// done. What says it in words, for reports ("move the Elastic IP back to
// i-0abc").
type Action struct {
	Name  string
	After []string
	Run   Run
	What  string
}

// Advance makes one pass over a plan, at now: every action whose
// prerequisites are done runs once, and one that finishes is stamped done
// at now unless it knows better (a command's own end). It returns whether
// the whole plan is done and what is still pending, in plan order.
func Advance(ctx context.Context, now time.Time, steps map[string]release.Step, actions []Action) (bool, []string, error) {
	var pending []string
	for _, a := range actions {
		st := steps[a.Name]
		if st.Done {
			continue
		}
		ready := true
		for _, dep := range a.After {
			if !steps[dep].Done {
				ready = false
			}
		}
		if !ready {
			pending = append(pending, a.Name)
			continue
		}
		done, err := a.Run(ctx, &st)
		if err != nil {
			steps[a.Name] = st
			return false, nil, err
		}
		st.Done = done
		if done && st.DoneAt.IsZero() {
			st.DoneAt = now
		}
		steps[a.Name] = st
		if !done {
			pending = append(pending, a.Name)
		}
	}
	return len(pending) == 0, pending, nil
}

// AdvanceEach is Advance for a plan whose independent actions must not
// wait on one another's failures (a rollback): every ready action runs,
// an action that fails with an error retrying the pass will not fix is
// reported in failed and its dependants wait, and the others go on. A
// transient error (Throttled, NotYetVisible) ends the pass at once, for
// the state machine to retry it with backoff. A prerequisite that is not
// in the plan counts as done: a plan built from what AWS shows leaves out
// what is already in place.
func AdvanceEach(ctx context.Context, steps map[string]release.Step, actions []Action) (done bool, pending []string, failed map[string]error, err error) {
	inPlan := map[string]bool{}
	for _, a := range actions {
		inPlan[a.Name] = true
	}
	failed = map[string]error{}
	for _, a := range actions {
		st := steps[a.Name]
		if st.Done {
			continue
		}
		ready := true
		for _, dep := range a.After {
			if inPlan[dep] && !steps[dep].Done {
				ready = false
			}
		}
		if !ready {
			pending = append(pending, a.Name)
			continue
		}
		ok, runErr := a.Run(ctx, &st)
		st.Done = ok && runErr == nil
		steps[a.Name] = st
		switch {
		case runErr != nil && transient(runErr):
			return false, nil, nil, runErr
		case runErr != nil:
			failed[a.Name] = runErr
			pending = append(pending, a.Name)
		case !ok:
			pending = append(pending, a.Name)
		}
	}
	return len(pending) == 0, pending, failed, nil
}

func transient(err error) bool {
	var t release.Throttled
	var nv release.NotYetVisible
	return errors.As(err, &t) || errors.As(err, &nv)
}

// Describe words what a plan still waits for.
func Describe(pending []string) string {
	if len(pending) == 0 {
		return "done"
	}
	return "waiting for " + strings.Join(pending, ", ")
}

// Check is a plan's own consistency: every prerequisite names an action
// that comes before it.
func Check(actions []Action) error {
	seen := map[string]bool{}
	for _, a := range actions {
		for _, dep := range a.After {
			if !seen[dep] {
				return fmt.Errorf("data plan: %s waits for %s, which does not come before it", a.Name, dep)
			}
		}
		seen[a.Name] = true
	}
	return nil
}
