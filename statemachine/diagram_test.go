package statemachine_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/greenlight/greenlight/statemachine"
)

// The common "any error → Rollback" catch is drawn once, as a note, and
// every other catch keeps its own labelled edge.
func TestMermaidFoldsTheCommonCatch(t *testing.T) {
	anyError := func(next string) []any {
		return []any{map[string]any{"ErrorEquals": []any{"States.ALL"}, "Next": next}}
	}
	def := map[string]any{
		"StartAt": "A",
		"States": map[string]any{
			"A": map[string]any{"Type": "Task", "Next": "B", "Catch": append([]any{
				map[string]any{"ErrorEquals": []any{"Invalid"}, "Next": "Reject"}}, anyError("Rollback")...)},
			"B":        map[string]any{"Type": "Task", "Next": "C", "Catch": anyError("Rollback")},
			"C":        map[string]any{"Type": "Task", "Next": "Done", "Catch": anyError("Rollback")},
			"Done":     map[string]any{"Type": "Succeed"},
			"Reject":   map[string]any{"Type": "Fail"},
			"Rollback": map[string]any{"Type": "Task", "End": true, "Catch": anyError("Give up")},
			"Give up":  map[string]any{"Type": "Fail"},
		},
	}
	got := statemachine.Mermaid(def, "greenlight rollback")
	for _, want := range []string{
		`start(("greenlight rollback")) --> `,
		"-.->|Invalid| ",    // a specific catch keeps its edge
		"-.->|States.ALL| ", // so does the one uncommon States.ALL (Rollback → Give up)
		`anyerror[/"dashed: any error goes to Rollback"/] -.-> `,
		"class s0 anyerror", "class s1 anyerror", "class s2 anyerror",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("diagram lacks %q:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "-.->|States.ALL|"); n != 1 {
		t.Errorf("%d States.ALL edges drawn, want only Rollback's own:\n%s", n, got)
	}

	// Two states sharing a catch are not worth a note.
	delete(def["States"].(map[string]any)["C"].(map[string]any), "Catch")
	if got := statemachine.Mermaid(def, "upload"); strings.Contains(got, "anyerror") || strings.Count(got, "-.->|States.ALL|") != 3 {
		t.Errorf("folded a catch only two states share:\n%s", got)
	}
}

// A first step catches as rejections exactly the bad-input errors its
// handler's sources name: a catch for an error the step cannot raise is
// noise in the workflow and its diagram; a missing one would roll back
// what should have been rejected.
func TestRejectionsAreWhatTheHandlersRaise(t *testing.T) {
	all := []string{"EventInvalid", "ArtifactInvalid", "ReleaseInProgress", "LiveNotFound", "ConfigMismatch", "NothingToRollBack"}
	for handler, caught := range statemachine.Rejections {
		files, err := filepath.Glob(filepath.Join("..", "lambdas", handler, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no sources for handler %s: %v", handler, err)
		}
		var src strings.Builder
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			src.Write(b)
		}
		var raised []string
		for _, name := range all {
			if regexp.MustCompile(`\brelease\.` + name + `\b`).MatchString(src.String()) {
				raised = append(raised, name)
			}
		}
		got := slices.Clone(caught)
		slices.Sort(got)
		slices.Sort(raised)
		if !slices.Equal(got, raised) {
			t.Errorf("handler %s: the workflow catches %v as rejections, its sources raise %v", handler, got, raised)
		}
	}
}
