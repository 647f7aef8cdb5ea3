package localrun

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Event is one line of an execution's history as the runner reports it,
// stamped with the simulated time.
type Event struct {
	Type      string    `json:"type"`
	State     string    `json:"state,omitempty"`
	StateType string    `json:"stateType,omitempty"`
	Error     string    `json:"error,omitempty"`
	Cause     string    `json:"cause,omitempty"`
	Attempt   int       `json:"attempt,omitempty"`
	Delay     float64   `json:"delaySeconds,omitempty"`
	Time      time.Time `json:"time"`

	// On the Result line only.
	Status string          `json:"status,omitempty"`
	Output json.RawMessage `json:"output,omitempty"`
}

// Execution is how a run ended.
type Execution struct {
	Name   string
	Status string // SUCCEEDED or FAILED
	Output json.RawMessage
	Error  string
	Cause  string
	Events []Event
}

// Path lists the states entered, in order.
func (e *Execution) Path() []string {
	var out []string
	for _, ev := range e.Events {
		if ev.Type == "StateEntered" {
			out = append(out, ev.State)
		}
	}
	return out
}

// Transitions counts state transitions as Step Functions bills them: one
// per state entered, retries included.
func (e *Execution) Transitions() int {
	n := 0
	for _, ev := range e.Events {
		if ev.Type == "StateEntered" || ev.Type == "StateRetried" {
			n++
		}
	}
	return n
}

// Toolchain locates the repository's pinned Node and the runner script.
type Toolchain struct {
	Root string // the repository root (holds go.mod and node_modules)
}

// FindToolchain walks up from the working directory to the checkout that
// holds node_modules with the pinned Node.
func FindToolchain() (Toolchain, error) {
	dir, err := os.Getwd()
	if err != nil {
		return Toolchain{}, err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "internal", "localrun", "runner.mjs")); err == nil {
				tc := Toolchain{Root: dir}
				if _, err := os.Stat(tc.Node()); err != nil {
					return Toolchain{}, fmt.Errorf("%s is missing: run `make node` in %s to install the pinned Node toolchain", tc.Node(), dir)
				}
				return tc, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return Toolchain{}, errors.New("the local engine runs from a greenlight checkout: cd into it (it holds internal/localrun/runner.mjs) and run `make node`")
		}
		dir = parent
	}
}

// Node is the pinned node binary.
func (t Toolchain) Node() string { return filepath.Join(t.Root, "node_modules", ".bin", "node") }

// Bin is a tool from node_modules/.bin.
func (t Toolchain) Bin(name string) string {
	return filepath.Join(t.Root, "node_modules", ".bin", name)
}

// Run runs one execution whose job the host holds, reporting each event to
// onEvent as it happens. The runner process dies with ctx and with this
// process.
func (t Toolchain) Run(ctx context.Context, hostURL, execution string, onEvent func(Event)) (*Execution, error) {
	cmd := exec.CommandContext(ctx, t.Node(), filepath.Join(t.Root, "internal", "localrun", "runner.mjs"), hostURL, execution)
	cmd.Dir = t.Root
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.Env = append(os.Environ(), "NODE_NO_WARNINGS=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the runner: %w", err)
	}
	ex := &Execution{Name: execution}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 8<<20)
	for sc.Scan() {
		var ev Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return nil, fmt.Errorf("runner printed %q: %w", sc.Text(), err)
		}
		if ev.Type == "Result" {
			ex.Status, ex.Output, ex.Error, ex.Cause = ev.Status, ev.Output, ev.Error, ev.Cause
			continue
		}
		ex.Events = append(ex.Events, ev)
		if onEvent != nil {
			onEvent(ev)
		}
	}
	if err := cmd.Wait(); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("runner for %s failed: %w: %s", execution, err, strings.TrimSpace(stderr.String()))
	}
	if ex.Status == "" {
		return nil, fmt.Errorf("runner for %s ended without a result: %s", execution, strings.TrimSpace(stderr.String()))
	}
	return ex, nil
}

// ValidateASL checks a definition with asl-validator, the States Language
// validator from npm, and returns its message when it rejects it.
func (t Toolchain) ValidateASL(ctx context.Context, def map[string]any) error {
	b, err := json.Marshal(def)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp("", "greenlight-*.asl.json")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	f.Close()
	cmd := exec.CommandContext(ctx, t.Node(), t.Bin("asl-validator"), "--json-path", f.Name())
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	if err != nil {
		msg := strings.ReplaceAll(strings.TrimSpace(string(out)), f.Name(), "definition")
		return fmt.Errorf("asl-validator rejects the definition: %s", msg)
	}
	return nil
}
