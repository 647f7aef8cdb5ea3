package localrun

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
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
			if _, err := os.Stat(filepath.Join(dir, "harness", "localrun", "runner.mjs")); err == nil {
				tc := Toolchain{Root: dir}
				if _, err := os.Stat(tc.Node()); err != nil {
					return Toolchain{}, fmt.Errorf("%s is missing: run `make node` in %s to install the pinned Node toolchain", tc.Node(), dir)
				}
				return tc, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return Toolchain{}, errors.New("the local engine runs from a greenlight checkout: cd into it (it holds harness/localrun/runner.mjs) and run `make node`")
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

// Engine is one runner process serving every execution of a local
// environment: starting Node costs more than most executions, so it
// starts once. Executions run side by side; each line it prints names its
// execution and reaches that execution's Run.
type Engine struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser

	mu      sync.Mutex
	runs    map[string]chan Event
	stderr  bytes.Buffer
	exited  chan struct{}
	exitErr error
}

// Start starts the runner process for a host. It dies with ctx and with
// this process; Close stops it.
func (t Toolchain) Start(ctx context.Context, hostURL string) (*Engine, error) {
	cmd := exec.CommandContext(ctx, t.Node(), filepath.Join(t.Root, "harness", "localrun", "runner.mjs"), hostURL)
	cmd.Dir = t.Root
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.Env = append(os.Environ(), "NODE_NO_WARNINGS=1")
	g := &Engine{cmd: cmd, runs: map[string]chan Event{}, exited: make(chan struct{})}
	cmd.Stderr = &lockedWriter{mu: &g.mu, w: &g.stderr}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if g.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the runner: %w", err)
	}
	go g.dispatch(stdout)
	return g, nil
}

// lockedWriter serializes writes with the engine's lock.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// line is one line the runner prints: an event of an execution.
type line struct {
	Event
	Execution string `json:"execution"`
}

func (g *Engine) dispatch(stdout io.Reader) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 8<<20)
	var bad error
	for sc.Scan() {
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			bad = fmt.Errorf("runner printed %q: %w", sc.Text(), err)
			break
		}
		g.mu.Lock()
		ch := g.runs[l.Execution]
		if l.Type == "Result" {
			delete(g.runs, l.Execution)
		}
		g.mu.Unlock()
		if ch == nil {
			continue
		}
		ch <- l.Event
		if l.Type == "Result" {
			close(ch)
		}
	}
	err := g.cmd.Wait()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.exitErr = errors.Join(bad, err)
	if g.exitErr == nil {
		g.exitErr = errors.New("the runner exited")
	}
	g.exitErr = fmt.Errorf("%w: %s", g.exitErr, strings.TrimSpace(g.stderr.String()))
	close(g.exited)
}

// Run runs one execution whose job the host holds, reporting each event
// to onEvent as it happens.
func (g *Engine) Run(ctx context.Context, execution string, onEvent func(Event)) (*Execution, error) {
	ch := make(chan Event, 1024)
	g.mu.Lock()
	select {
	case <-g.exited:
		g.mu.Unlock()
		return nil, fmt.Errorf("runner for %s: %w", execution, g.exitErr)
	default:
	}
	g.runs[execution] = ch
	_, err := io.WriteString(g.stdin, execution+"\n")
	g.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("runner for %s: %w", execution, err)
	}
	ex := &Execution{Name: execution}
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return ex, nil
			}
			if ev.Type == "Result" {
				ex.Status, ex.Output, ex.Error, ex.Cause = ev.Status, ev.Output, ev.Error, ev.Cause
				continue
			}
			ex.Events = append(ex.Events, ev)
			if onEvent != nil {
				onEvent(ev)
			}
		case <-g.exited:
			g.mu.Lock()
			defer g.mu.Unlock()
			return nil, fmt.Errorf("runner for %s failed: %w", execution, g.exitErr)
		case <-ctx.Done():
			g.mu.Lock()
			delete(g.runs, execution)
			g.mu.Unlock()
			go func() {
				for range ch { // the dispatcher may be sending: let it go on
				}
			}()
			return nil, ctx.Err()
		}
	}
}

// Close lets the executions under way end, then stops the runner.
func (g *Engine) Close() error {
	// Wait closes the pipe once the runner has exited (the environment's
	// context ending kills it): already closed is done, not an error.
	if err := g.stdin.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
		return err
	}
	select {
	case <-g.exited:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-g.cmd.Process.Pid, syscall.SIGKILL)
		<-g.exited
	}
	return nil
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
