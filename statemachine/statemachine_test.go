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

	"github.com/greenlight/greenlight/harness/localrun"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/registry"
	"github.com/greenlight/greenlight/statemachine"
)

var update = flag.Bool("update", false, "rewrite the workflow diagrams in docs/workflows.md")

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
		// The template's shape is what matters here: a placeholder asset
		// (make test does not cross-compile the Lambda binary).
		stack, err = localrun.Synthesize(tc, cfg, "")
	})
	if err != nil {
		t.Fatal(err)
	}
	return stack, tc
}

// variant is a stack synthesized once per test binary from the example
// config changed by an edit.
type variant struct {
	once  sync.Once
	stack *localrun.Stack
	err   error
}

var variants = map[string]*variant{"data": {}, "alb": {}}

func synthVariant(t *testing.T, name string, edit func(*release.Config)) *localrun.Stack {
	t.Helper()
	_, tc := synth(t)
	v := variants[name]
	v.once.Do(func() {
		var cfg release.Config
		if cfg, v.err = release.LoadConfig(filepath.Join(tc.Root, "greenlight.example.json")); v.err != nil {
			return
		}
		edit(&cfg)
		v.stack, v.err = localrun.Synthesize(tc, cfg, "")
	})
	if v.err != nil {
		t.Fatal(v.err)
	}
	return v.stack
}

// synthData is the stack of the example config with a data volume (move).
func synthData(t *testing.T) *localrun.Stack {
	return synthVariant(t, "data", func(c *release.Config) { c.Data.Mode = release.DataMove })
}

// synthALB is the stack of the example behind a load balancer (see withALB).
func synthALB(t *testing.T) *localrun.Stack {
	return synthVariant(t, "alb", withALB(5, 25, 50, 100))
}

// machines are the stack's two workflows.
func machines(s *localrun.Stack) map[string]*localrun.Machine {
	return map[string]*localrun.Machine{"release": s.Release, "rollback": s.SwitchBack}
}

func TestDefinitionsPassTheValidator(t *testing.T) {
	s, tc := synth(t)
	for name, m := range machines(s) {
		if err := tc.ValidateASL(context.Background(), m.Definition); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestEveryTaskRetriesAndForwardTasksRollBack(t *testing.T) {
	s, _ := synth(t)
	for _, m := range machines(s) {
		checkRetriesAndCatches(t, m)
	}
}

func checkRetriesAndCatches(t *testing.T, m *localrun.Machine) {
	states := m.Definition["States"].(map[string]any)
	noRollback := map[string]bool{release.StateRollback: true, release.StateAbandon: true, release.StateRecordRejection: true}
	for _, name := range m.TaskStates() {
		st := states[name].(map[string]any)
		if _, ok := st["Retry"]; !ok {
			t.Errorf("%s has no Retry", name)
		}
		if name == release.StateRecordRelease {
			// Past the commit point: its failure never rolls back.
			for _, c := range st["Catch"].([]any) {
				if next := c.(map[string]any)["Next"]; next != release.StateReleaseNotRecorded {
					t.Errorf("%s catches into %s, want only %s", name, next, release.StateReleaseNotRecorded)
				}
			}
			continue
		}
		if noRollback[name] {
			continue
		}
		catches, _ := st["Catch"].([]any)
		toRollback := false
		for _, c := range catches {
			cm := c.(map[string]any)
			if cm["Next"] == release.StateRollback && cm["ResultPath"] == "$.failure" {
				toRollback = true
			}
		}
		if !toRollback {
			t.Errorf("%s does not catch into %s", name, release.StateRollback)
		}
	}
}

// TestTasksMapToRegisteredHandlers: every task of the Elastic IP, data and
// ALB stacks calls a registered handler, and every handler such a stack
// has is called by one of its states (the event-driven ones aside).
func TestTasksMapToRegisteredHandlers(t *testing.T) {
	s, _ := synth(t)
	known := map[string]bool{}
	for _, n := range registry.Names() {
		known[n] = true
	}
	albCfg := release.Config{}
	withALB()(&albCfg)
	for _, stack := range []struct {
		name string
		s    *localrun.Stack
		cfg  release.Config
	}{{"elasticIp", s, release.Config{}}, {"data", synthData(t), release.Config{Data: release.DataConfig{Mode: release.DataMove}}}, {"alb", synthALB(t), albCfg}} {
		used := map[string]bool{}
		for _, m := range machines(stack.s) {
			for name, spec := range m.Tasks {
				if !known[spec.Function] {
					t.Errorf("%s: task %s calls %q, not a registered handler", stack.name, name, spec.Function)
				}
				used[spec.Function] = true
			}
		}
		var unused []string
		for _, e := range registry.For(stack.cfg) {
			// Triggered by an upload, a schedule, an execution's end and a
			// function URL, not by a Task state.
			if !used[e.Name] && e.Name != registry.Start && e.Name != registry.Retire && e.Name != registry.Watch && e.Name != registry.ApprovalPage {
				unused = append(unused, e.Name)
			}
		}
		sort.Strings(unused)
		if len(unused) > 0 {
			t.Errorf("%s: handlers no state uses: %v", stack.name, unused)
		}
	}
	if s.Release.Tasks[release.StateAwaitApproval].Integration != localrun.Callback {
		t.Errorf("%s is not a callback task", release.StateAwaitApproval)
	}
}

func TestTerminalStates(t *testing.T) {
	s, _ := synth(t)
	for name, m := range machines(s) {
		states := m.Definition["States"].(map[string]any)
		var ends []string
		for state, v := range states {
			switch v.(map[string]any)["Type"] {
			case "Succeed", "Fail":
				ends = append(ends, state)
			}
		}
		sort.Strings(ends)
		want := append([]string(nil), release.Outcomes...)
		sort.Strings(want)
		if strings.Join(ends, ",") != strings.Join(want, ",") {
			t.Errorf("%s: terminal states %v, want %v", name, ends, want)
		}
	}
}

// TestReadmeDiagramsAreCurrent keeps the diagrams in docs/workflows.md equal to the
// definitions the stack synthesizes (the example config, the same with a
// data volume, and behind a load balancer).
func TestReadmeDiagramsAreCurrent(t *testing.T) {
	s, tc := synth(t)
	withData := synthData(t)
	path := filepath.Join(tc.Root, "docs", "workflows.md")
	readme, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	for _, d := range []struct {
		name, startedBy string
		m               *localrun.Machine
	}{
		{"release workflow", "upload", s.Release},
		{"release workflow with a data volume", "upload", withData.Release},
		{"rollback workflow with a data volume", "greenlight rollback", withData.SwitchBack},
		{"release workflow behind a load balancer", "upload", synthALB(t).Release},
		{"rollback workflow behind a load balancer", "greenlight rollback", synthALB(t).SwitchBack},
	} {
		begin := "<!-- " + d.name + ": generated from the synthesized definition by `go test ./statemachine -update` -->"
		end := "<!-- end of " + d.name + " -->"
		i, j := strings.Index(text, begin), strings.Index(text, end)
		if i < 0 || j < i {
			t.Errorf("docs/workflows.md lacks the diagram markers %q … %q", begin, end)
			continue
		}
		want := begin + "\n\n```mermaid\n" + statemachine.Mermaid(d.m.Definition, d.startedBy) + "```\n\n"
		if text[i:j] != want {
			if !*update {
				t.Errorf("docs/workflows.md's %s diagram is stale: run `go test ./statemachine -update`", d.name)
				continue
			}
			text = text[:i] + want + text[j:]
		}
	}
	if *update {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// crashErrors are the error names a Lambda task surfaces when the Lambda
// service fails transiently, or when the function (a Go binary on
// provided.al2023) timed out or crashed rather than returned an error.
// Step handlers are idempotent, so each is retried.
var crashErrors = []string{
	// Transient failures of the Lambda service and throttling.
	"Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException",
	"Lambda.ClientExecutionTimeoutException", "Lambda.TooManyRequestsException",
	// An unhandled error without an error type: out of memory, timeout.
	"Lambda.Unknown",
	// The function ran past its timeout (Lambda reports Sandbox.Timedout).
	"Sandbox.Timedout",
	// The bootstrap process exited (a fatal runtime error, os.Exit, killed).
	"Runtime.ExitError",
}

// neverRetried would retry what must not be: any error at all, a
// function's own errors (rejections, hard failures) as a class, or the
// approval's timeout, which means nobody answered.
var neverRetried = []string{"States.ALL", "States.TaskFailed", "States.Timeout"}

// TestDefinitionRetriesCrashedFunctions: every task of both workflows
// retries each error a crashed, timed-out or throttled function surfaces,
// and none retries a catch-all.
func TestDefinitionRetriesCrashedFunctions(t *testing.T) {
	s, _ := synth(t)
	for name, m := range machines(s) {
		states := m.Definition["States"].(map[string]any)
		for _, task := range m.TaskStates() {
			retried := map[string]bool{}
			retries, _ := states[task].(map[string]any)["Retry"].([]any)
			for _, r := range retries {
				for _, e := range r.(map[string]any)["ErrorEquals"].([]any) {
					retried[e.(string)] = true
				}
			}
			for _, e := range crashErrors {
				if !retried[e] {
					t.Errorf("%s: %s does not retry %s", name, task, e)
				}
			}
			for _, e := range neverRetried {
				if retried[e] {
					t.Errorf("%s: %s retries %s", name, task, e)
				}
			}
		}
	}
}
