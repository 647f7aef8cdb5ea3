package data

import (
	"slices"
	"testing"

	"github.com/greenlight/greenlight/internal/datamove"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/step"
)

// TestCutoverPlansAreOrdered: in every mode and kind, each action's
// prerequisites come before it, or Advance would wait for them forever.
func TestCutoverPlansAreOrdered(t *testing.T) {
	m := datamove.Mover{D: &step.Deps{}, Doc: release.Doc{Config: release.Config{Data: release.DataConfig{Mode: release.DataRestore}}, Candidate: &release.Candidate{}}}
	for _, mode := range []string{release.DataRestore, release.DataMove} {
		for _, kind := range []string{release.KindRelease, release.KindRollback} {
			m.Doc.Config.Data.Mode, m.Doc.Kind = mode, kind
			c := &release.Cutover{Steps: map[string]release.Step{}}
			if err := datamove.Check(cutoverPlan(m, m.Doc, c)); err != nil {
				t.Errorf("%s %s cutover: %v", mode, kind, err)
			}
		}
	}
}

// TestMoveStopsWritesByUnmounting: when the live volume itself moves, the
// unmount stops the app and leaves the filesystem clean, so the final
// snapshot follows it with no freeze (one command less while users see
// the maintenance page) and the volume detaches after the snapshot call;
// a restore keeps the volume and freezes it for the snapshot instead.
func TestMoveStopsWritesByUnmounting(t *testing.T) {
	m := datamove.Mover{D: &step.Deps{}, Doc: release.Doc{Candidate: &release.Candidate{}}}
	after := func(actions []datamove.Action) map[string][]string {
		out := map[string][]string{}
		for _, a := range actions {
			out[a.Name] = a.After
		}
		return out
	}
	for _, kind := range []string{release.KindRelease, release.KindRollback} {
		m.Doc.Config.Data.Mode, m.Doc.Kind = release.DataMove, kind
		plan := after(cutoverPlan(m, m.Doc, &release.Cutover{Steps: map[string]release.Step{}}))
		if _, ok := plan["freeze"]; ok {
			t.Errorf("move %s: the plan freezes the volume it unmounts", kind)
		}
		if !slices.Equal(plan["live-unmount"], []string{"maintenance-on"}) || !slices.Equal(plan["final-snapshot"], []string{"live-unmount"}) ||
			!slices.Equal(plan["live-detach"], []string{"final-snapshot"}) {
			t.Errorf("move %s: unmount after %v, final snapshot after %v, detach after %v; want maintenance → unmount → snapshot → detach",
				kind, plan["live-unmount"], plan["final-snapshot"], plan["live-detach"])
		}
	}
	m.Doc.Config.Data.Mode, m.Doc.Kind = release.DataRestore, release.KindRelease
	plan := after(cutoverPlan(m, m.Doc, &release.Cutover{Steps: map[string]release.Step{}}))
	if !slices.Equal(plan["freeze"], []string{"maintenance-on"}) || !slices.Equal(plan["final-snapshot"], []string{"freeze"}) {
		t.Errorf("restore: freeze after %v, final snapshot after %v; want maintenance → freeze → snapshot", plan["freeze"], plan["final-snapshot"])
	}
}

// TestCriticalPathFollowsThePlan: the window's critical path names actions
// of each mode's plan, each waiting (through its prerequisites) on the one
// before, so the window's breakdown adds up along real dependencies.
func TestCriticalPathFollowsThePlan(t *testing.T) {
	m := datamove.Mover{D: &step.Deps{}, Doc: release.Doc{Candidate: &release.Candidate{}}}
	for _, c := range []struct {
		mode, kind string
	}{{release.DataRestore, release.KindRelease}, {release.DataMove, release.KindRelease}, {release.DataRestore, release.KindRollback}} {
		mode := c.mode + " " + c.kind
		m.Doc.Config.Data.Mode, m.Doc.Kind = c.mode, c.kind
		deps := map[string][]string{}
		for _, a := range cutoverPlan(m, m.Doc, &release.Cutover{Steps: map[string]release.Step{}}) {
			deps[a.Name] = a.After
		}
		var waitsOn func(a, b string) bool
		waitsOn = func(a, b string) bool {
			for _, d := range deps[a] {
				if d == b || waitsOn(d, b) {
					return true
				}
			}
			return false
		}
		path := CriticalPath(c.mode, m.Doc.IsRollback())
		if path[len(path)-1] != TrafficArrives {
			t.Errorf("%s: the path ends with %s, want %s", mode, path[len(path)-1], TrafficArrives)
		}
		prev := "maintenance-on"
		for _, name := range path[:len(path)-1] {
			if _, ok := deps[name]; !ok {
				t.Errorf("%s: %s is not in the plan", mode, name)
			} else if !waitsOn(name, prev) {
				t.Errorf("%s: %s does not wait on %s", mode, name, prev)
			}
			prev = name
		}
	}
}
