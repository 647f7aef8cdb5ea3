package statemachine_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/greenlight/greenlight/harness/localrun"
	"github.com/greenlight/greenlight/internal/release"
)

// Expected paths: the scenario tests assert the exact sequence of states an
// execution entered, with each poll loop written once as poll(states…),
// however many passes it made. How many passes a loop makes is the latency
// table's business (how long a candidate takes to boot), not the
// workflow's, so a change of the table rewrites no expectation. A loop
// left in the middle of a pass, by a failure, reads
// "poll(states…) left at State", however many whole passes came first.

// pollLoop is a poll loop of a workflow, written as its states in the
// order it runs them from where it is entered. The loop is left at its
// Choice, the state named with a question mark (the workflows name every
// Choice so). poll(Wait, Check, Ready?) is entered at Wait and left at
// Ready? once ready; poll(Check, Ready?, Wait) checks before it first
// waits.
type pollLoop struct {
	states []string
	exit   int // the Choice's index in states
}

func poll(states ...string) pollLoop {
	exit := -1
	for i, s := range states {
		if strings.HasSuffix(s, "?") {
			if exit >= 0 {
				panic(fmt.Sprintf("poll%v: two Choice states", states))
			}
			exit = i
		}
	}
	if exit < 0 {
		panic(fmt.Sprintf("poll%v: no Choice state (named with a ?) to leave the loop at", states))
	}
	return pollLoop{states: states, exit: exit}
}

// String is how the loop reads in a path: one token for all its passes.
func (l pollLoop) String() string { return "poll(" + strings.Join(l.states, " > ") + ")" }

// first is the states of the first pass: from the entry to the Choice.
func (l pollLoop) first() []string { return l.states[:l.exit+1] }

// again is the states of each further pass: from the Choice round the
// cycle back to it.
func (l pollLoop) again() []string {
	return append(slices.Clone(l.states[l.exit+1:]), l.states[:l.exit+1]...)
}

// The workflows' poll loops (TestPollLoopsAreTheWorkflows holds them to
// the synthesized definitions).
var (
	candidateWait = poll(release.StateWaitForCandidate, release.StateCheckCandidate, release.StateCandidateReady)
	testDataWait  = poll(release.StateAttachTestData, release.StateTestDataReady, release.StateWaitForTestData)
	deployWait    = poll(release.StateWaitForDeploy, release.StateCheckDeploy, release.StateDeployDone)
	cutoverWait   = poll(release.StateCutover, release.StateCutoverDone, release.StateWaitForCutover)
	bake          = poll(release.StateVerifyLive, release.StateBaked, release.StateWaitBeforeVerify)
	// Behind an ALB: the candidate's registration, then the traffic
	// steps, however many there are.
	targetWait = poll(release.StateRegisterCandidate, release.StateTargetHealthy, release.StateWaitForTarget)
	shifting   = poll(release.StateShiftTraffic, release.StateShifted, release.StateWaitBeforeShift)
	// rollbackLoop is the compensating rollback: passes that each look at
	// AWS and move it back, until its Choice sees RolledBack (or
	// RollbackFailed).
	rollbackLoop = poll(release.StateRollback, release.StateRollbackDone, release.StateWaitForRollback)

	loops = []pollLoop{candidateWait, testDataWait, deployWait, cutoverWait, bake, targetWait, shifting, rollbackLoop}
)

// leftAt is how a loop reads when a failure left it at state, in the
// middle of a pass.
func leftAt(l pollLoop, state string) string { return l.String() + " left at " + state }

// collapse rewrites a path with each run of a poll loop (its first pass,
// then any number of whole further passes) as the loop's one token, and a
// run that ends part of the way into a pass (a failure left the loop) as
// leftAt the last state it entered. Only whole passes and a pass's own
// beginning fold: a state missing or out of order in any pass is left as
// it is, so it cannot match an expectation written with poll(…).
func collapse(p []string) []string {
	var out []string
	for i := 0; i < len(p); {
		folded := false
		for _, l := range loops {
			first, again := l.first(), l.again()
			j, whole := i, false
			if hasPrefix(p[j:], first) {
				j, whole = j+len(first), true
				for hasPrefix(p[j:], again) {
					j += len(again)
				}
			}
			// The beginning of the pass the loop was left in.
			pass := again
			if !whole {
				pass = first
			}
			k := 0
			for k < len(pass)-1 && j+k < len(p) && p[j+k] == pass[k] {
				k++
			}
			switch {
			case k > 0:
				out = append(out, leftAt(l, pass[k-1]))
			case whole:
				out = append(out, l.String())
			default:
				continue
			}
			i, folded = j+k, true
			break
		}
		if !folded {
			out = append(out, p[i])
			i++
		}
	}
	return out
}

func hasPrefix(p, prefix []string) bool {
	return len(p) >= len(prefix) && slices.Equal(p[:len(prefix)], prefix)
}

// path joins the pieces of an expected path: state names, lists of them,
// poll loops.
func path(parts ...any) []string {
	var out []string
	for _, p := range parts {
		switch v := p.(type) {
		case string:
			out = append(out, v)
		case []string:
			out = append(out, v...)
		case pollLoop:
			out = append(out, v.String())
		default:
			panic(fmt.Sprintf("path: a %T", p))
		}
	}
	return out
}

// samePath compares an execution's path with an expectation, both
// collapsed, and returns them as they read.
func samePath(entered, want []string) (got, wanted string, ok bool) {
	got, wanted = strings.Join(collapse(entered), " > "), strings.Join(collapse(want), " > ")
	return got, wanted, got == wanted
}

func assertPath(t *testing.T, res *localrun.Result, want []string) {
	t.Helper()
	if got, want, ok := samePath(res.StatesEntered, want); !ok {
		t.Errorf("path\n got: %s\nwant: %s", got, want)
	}
}

// TestCollapse: however many passes a loop makes, the path reads the same;
// a loop that never ran, a state missing or out of order, a pass cut short
// and a wait that never led back to its check still tell.
func TestCollapse(t *testing.T) {
	const (
		w, c, r = release.StateWaitForCandidate, release.StateCheckCandidate, release.StateCandidateReady
		v, b, z = release.StateVerifyLive, release.StateBaked, release.StateWaitBeforeVerify
		deploy  = release.StateDeployRelease
		keep    = release.StateKeepPrevious
		record  = release.StateRecordRelease
	)
	pass := []string{w, c, r}
	want := path(release.StatePrepare, candidateWait, deploy)
	for _, tc := range []struct {
		name    string
		entered []string
		same    bool
	}{
		{"one pass", path(release.StatePrepare, pass, deploy), true},
		{"three passes", path(release.StatePrepare, pass, pass, pass, deploy), true},
		{"the loop never ran", path(release.StatePrepare, deploy), false},
		{"a state missing from the only pass", path(release.StatePrepare, w, r, deploy), false},
		{"a state missing from a later pass", path(release.StatePrepare, pass, w, r, deploy), false},
		{"out of order in a later pass", path(release.StatePrepare, pass, w, r, c, deploy), false},
		{"out of order around the loop", path(pass, release.StatePrepare, deploy), false},
		{"left from the wait, not the Choice", path(release.StatePrepare, pass, w, deploy), false},
		{"a pass cut short", path(release.StatePrepare, pass, w, c, deploy), false},
		{"left at the check", path(release.StatePrepare, w, c, deploy), false},
		{"a state outside the loop missing", path(pass, deploy), false},
	} {
		if got, wanted, same := samePath(tc.entered, want); same != tc.same {
			t.Errorf("%s: %s\n  against %s: same %v, want %v", tc.name, got, wanted, same, tc.same)
		}
	}

	// A loop that checks first: ready at once, or after waits.
	bakeWant := path(keep, bake, record)
	for _, entered := range [][]string{{keep, v, b, record}, {keep, v, b, z, v, b, record}, {keep, v, b, z, v, b, z, v, b, record}} {
		if got, wanted, same := samePath(entered, bakeWant); !same {
			t.Errorf("%s does not read as %s", got, wanted)
		}
	}
	for _, entered := range [][]string{{keep, v, b, z, record}, {keep, v, z, v, b, record}, {keep, b, v, record}} {
		if got, _, same := samePath(entered, bakeWant); same {
			t.Errorf("%v reads as %s", entered, got)
		}
	}

	// A failure left the loop at the check: in its first pass or a later
	// one, it reads the same; left elsewhere, it does not.
	rollback := []string{release.StateRollback, release.StateRollbackDone, release.StateWaitForRollback, release.StateRollback, release.StateRollbackDone, release.RolledBack}
	failed := path(release.StatePrepare, leftAt(candidateWait, c), rollbackLoop, release.RolledBack)
	for _, tc := range []struct {
		name    string
		entered []string
		same    bool
	}{
		{"in the first pass", path(release.StatePrepare, w, c, rollback), true},
		{"in the third pass", path(release.StatePrepare, pass, pass, w, c, rollback), true},
		{"written as it ran", path(release.StatePrepare, w, c, rollbackLoop, release.RolledBack), true},
		{"left at the wait", path(release.StatePrepare, pass, w, rollback), false},
		{"left through the Choice", path(release.StatePrepare, pass, rollback), false},
		{"a state missing before the check", path(release.StatePrepare, pass, c, rollback), false},
		{"never entered", path(release.StatePrepare, rollback), false},
	} {
		if got, wanted, same := samePath(tc.entered, failed); same != tc.same {
			t.Errorf("%s: %s\n  against %s: same %v, want %v", tc.name, got, wanted, same, tc.same)
		}
	}
}

// TestPollLoopsAreTheWorkflows holds the loops above to the synthesized
// definitions (the release workflow with a data volume has every one):
// each is entered at its first state, runs its states in the order
// written and round again, and its Choice is its only Choice; and every
// loop of a definition is listed, or a change of the latency table would
// rewrite its expectations.
func TestPollLoopsAreTheWorkflows(t *testing.T) {
	withData, alb := synthData(t), synthALB(t)
	found := map[string]bool{}
	for _, m := range []*localrun.Machine{withData.Release, withData.SwitchBack, alb.Release, alb.SwitchBack} {
		states := m.Definition["States"].(map[string]any)
		next := func(name string) string {
			st, _ := states[name].(map[string]any)
			if st["Type"] == "Choice" {
				s, _ := st["Default"].(string)
				return s
			}
			s, _ := st["Next"].(string)
			return s
		}
		// into lists, for each state, the states that go to it.
		into := map[string][]string{}
		for name, v := range states {
			st := v.(map[string]any)
			targets := []any{st["Next"], st["Default"]}
			for _, key := range []string{"Choices", "Catch"} {
				list, _ := st[key].([]any)
				for _, c := range list {
					targets = append(targets, c.(map[string]any)["Next"])
				}
			}
			for _, to := range targets {
				if to, ok := to.(string); ok {
					into[to] = append(into[to], name)
				}
			}
		}
		declared := map[string]bool{}
		for _, l := range loops {
			if _, ok := states[l.states[0]]; !ok {
				continue // a release loop, looked at in the release workflow
			}
			found[l.String()] = true
			// The loop is entered at its first state only.
			for i, s := range l.states {
				for _, from := range into[s] {
					if !slices.Contains(l.states, from) && i != 0 {
						t.Errorf("%s: %s enters %s at %s, want at %s", m.StateMachineName, from, l, s, l.states[0])
					}
				}
			}
			for i, s := range l.states {
				declared[s] = true
				st, ok := states[s].(map[string]any)
				if !ok {
					t.Errorf("%s: %s has no state %s", m.StateMachineName, l, s)
					continue
				}
				if want := l.states[(i+1)%len(l.states)]; next(s) != want {
					t.Errorf("%s: %s goes on to %q, want %s (%s)", m.StateMachineName, s, next(s), want, l)
				}
				if isChoice := st["Type"] == "Choice"; isChoice != (i == l.exit) {
					t.Errorf("%s: %s is a %v state, want the loop %s left at its Choice only", m.StateMachineName, s, st["Type"], l)
				}
			}
		}
		// A Choice whose default goes back (to a Wait) is a poll loop.
		for name, v := range states {
			st := v.(map[string]any)
			if st["Type"] != "Choice" || declared[name] {
				continue
			}
			if d, _ := states[next(name)].(map[string]any); d["Type"] == "Wait" {
				t.Errorf("%s: the Choice %s loops back through %s but is in no poll(…) of statemachine/path_test.go", m.StateMachineName, name, next(name))
			}
		}
	}
	for _, l := range loops {
		if !found[l.String()] {
			t.Errorf("%s is in neither workflow", l)
		}
	}
}
