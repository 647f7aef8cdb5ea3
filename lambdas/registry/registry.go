// Package registry lists every step handler by the name Lambda passes in
// _HANDLER. The bootstrap binary and the local engine both serve handlers
// from this one list, and the stack creates one function per entry.
package registry

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/step"
)

// Entry is one step handler.
type Entry struct {
	// Name is the function's Handler setting and the state machine's
	// reference to it.
	Name string
	// Summary describes the function in the console.
	Summary string
	// New builds the handler, a func(context.Context, In) (Out, error)
	// that aws-lambda-go can start.
	New func(d *step.Deps) any
	// Needs, when set, says which configs' stacks have the step: the
	// data steps need a data mode, the Elastic IP switch and the ALB
	// shift their traffic mode. Nil: every stack.
	Needs func(release.Config) bool
}

// In reports whether a stack for cfg has the step.
func (e Entry) In(cfg release.Config) bool { return e.Needs == nil || e.Needs(cfg) }

// For lists the entries a stack for cfg has.
func For(cfg release.Config) []Entry {
	var out []Entry
	for _, e := range All() {
		if e.In(cfg) {
			out = append(out, e)
		}
	}
	return out
}

var entries []Entry

// All returns the entries sorted by name.
func All() []Entry {
	out := append([]Entry(nil), entries...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Names lists the handler names, sorted.
func Names() []string {
	var names []string
	for _, e := range All() {
		names = append(names, e.Name)
	}
	return names
}

// Lookup finds a handler by name; the error lists the known names so a
// misconfigured function says what it could have been.
func Lookup(name string) (Entry, error) {
	if name == "" {
		return Entry{}, fmt.Errorf("no handler name: set the function's Handler to one of %s", strings.Join(Names(), ", "))
	}
	for _, e := range entries {
		if e.Name == name {
			return e, nil
		}
	}
	return Entry{}, fmt.Errorf("unknown handler %q: known handlers are %s", name, strings.Join(Names(), ", "))
}

// addFor registers a step that only some configs' stacks have.
func addFor[In, Out any](needs func(release.Config) bool, name, summary string, build func(d *step.Deps) func(context.Context, In) (Out, error)) {
	add(name, summary, build)
	entries[len(entries)-1].Needs = needs
}

// elasticIP and alb are the traffic modes' Needs.
func elasticIP(c release.Config) bool { return !c.UsesALB() }
func alb(c release.Config) bool       { return c.UsesALB() }

// add registers a typed handler, wrapped so that whatever error it returns
// reaches Step Functions under a step error name.
func add[In, Out any](name, summary string, build func(d *step.Deps) func(context.Context, In) (Out, error)) {
	entries = append(entries, Entry{Name: name, Summary: summary, New: func(d *step.Deps) any {
		return step.Handler(name, d, build(d))
	}})
}
