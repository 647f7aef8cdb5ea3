package statemachine_test

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/greenlight/greenlight/internal/localrun"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/registry"
	"github.com/greenlight/greenlight/statemachine"
)

var update = flag.Bool("update", false, "rewrite the README's workflow diagram")

var (
	once  sync.Once
	stack *localrun.Stack
	tc    localrun.Toolchain
	err   error
)

func synth(t *testing.T) (*localrun.Stack, localrun.Toolchain) {
	t.Helper()
	once.Do(func() {
		tc, err = localrun.FindToolchain()
		if err != nil {
			return
		}
		var cfg release.Config
		cfg, err = release.LoadConfig(filepath.Join(tc.Root, "greenlight.example.json"))
		if err != nil {
			return
		}
		stack, err = localrun.Synthesize(tc, cfg, filepath.Join(tc.Root, "build", "bootstrap.zip"))
	})
	if err != nil {
		t.Fatal(err)
	}
	return stack, tc
}

func TestDefinitionPassesTheValidator(t *testing.T) {
	s, tc := synth(t)
	if err := tc.ValidateASL(context.Background(), s.Release.Definition); err != nil {
		t.Fatal(err)
	}
}

func TestEveryTaskRetriesAndForwardTasksRollBack(t *testing.T) {
	s, _ := synth(t)
	states := s.Release.Definition["States"].(map[string]any)
	noRollback := map[string]bool{statemachine.Rollback: true, statemachine.Abandon: true, statemachine.RecordRejection: true}
	for _, name := range s.Release.TaskStates() {
		st := states[name].(map[string]any)
		if _, ok := st["Retry"]; !ok {
			t.Errorf("%s has no Retry", name)
		}
		if noRollback[name] {
			continue
		}
		catches, _ := st["Catch"].([]any)
		toRollback := false
		for _, c := range catches {
			cm := c.(map[string]any)
			if cm["Next"] == statemachine.Rollback && cm["ResultPath"] == "$.failure" {
				toRollback = true
			}
		}
		if !toRollback {
			t.Errorf("%s does not catch into %s", name, statemachine.Rollback)
		}
	}
}

func TestTasksMapToRegisteredHandlers(t *testing.T) {
	s, _ := synth(t)
	known := map[string]bool{}
	for _, n := range registry.Names() {
		known[n] = true
	}
	used := map[string]bool{}
	for name, spec := range s.Release.Tasks {
		if !known[spec.Function] {
			t.Errorf("task %s calls %q, not a registered handler", name, spec.Function)
		}
		used[spec.Function] = true
	}
	var unused []string
	for _, e := range registry.For(false) {
		if !used[e.Name] && e.Name != registry.Start && e.Name != registry.Retire {
			unused = append(unused, e.Name)
		}
	}
	sort.Strings(unused)
	if len(unused) > 0 {
		t.Errorf("handlers no state uses: %v", unused)
	}
	if s.Release.Tasks[statemachine.AwaitApproval].Integration != localrun.Callback {
		t.Errorf("%s is not a callback task", statemachine.AwaitApproval)
	}
}

func TestTerminalStates(t *testing.T) {
	s, _ := synth(t)
	states := s.Release.Definition["States"].(map[string]any)
	var ends []string
	for name, v := range states {
		switch v.(map[string]any)["Type"] {
		case "Succeed", "Fail":
			ends = append(ends, name)
		}
	}
	sort.Strings(ends)
	want := append([]string(nil), statemachine.Outcomes...)
	sort.Strings(want)
	if strings.Join(ends, ",") != strings.Join(want, ",") {
		t.Errorf("terminal states %v, want %v", ends, want)
	}
}

const (
	diagramBegin = "<!-- workflow diagram: generated from the synthesized definition by `go test ./statemachine -update` -->"
	diagramEnd   = "<!-- end of workflow diagram -->"
)

// TestReadmeDiagramIsCurrent keeps the README's diagram equal to the
// definition the stack synthesizes.
func TestReadmeDiagramIsCurrent(t *testing.T) {
	s, tc := synth(t)
	path := filepath.Join(tc.Root, "README.md")
	readme, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	i, j := strings.Index(text, diagramBegin), strings.Index(text, diagramEnd)
	if i < 0 || j < i {
		t.Fatalf("README.md lacks the diagram markers %q … %q", diagramBegin, diagramEnd)
	}
	want := diagramBegin + "\n\n```mermaid\n" + statemachine.Mermaid(s.Release.Definition) + "```\n\n"
	got := text[i:j]
	if got == want {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(text[:i]+want+text[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("README.md's workflow diagram is stale: run `go test ./statemachine -update`")
}
