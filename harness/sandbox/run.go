package sandbox

import (
	"github.com/greenlight/greenlight/instance"

	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Spec is one command invocation: a document, its parameters and the
// sandbox standing in for the instance.
type Spec struct {
	// Document is Deploy, Maintenance or Data.
	Document string
	// Params are the SendCommand parameters, one value each.
	Params  map[string]string
	Sandbox *Sandbox
	// Unchecked skips the allowedPattern check SSM makes when the command
	// is sent, to test the script's own check behind it.
	Unchecked bool
	// Timeout bounds the run; zero means the document's timeoutSeconds.
	Timeout time.Duration
}

// Result is what GetCommandInvocation would report.
type Result struct {
	// Script is the rendered file that ran.
	Script   string
	ExitCode int
	Stdout   string
	Stderr   string
}

// OK reports a zero exit status.
func (r Result) OK() bool { return r.ExitCode == instance.ExitOK }

// Reason is the last non-empty line of standard output: the outcome the
// workflow shows to the operator.
func (r Result) Reason() string { return instance.LastLine(r.Stdout) }

// ErrTimedOut is returned (wrapped) when a run outlives its timeout; the
// script's process group is killed, as the agent does.
var ErrTimedOut = errors.New("command timed out")

// Run executes a document the way the SSM agent does: resolve the
// parameters as SendCommand would (a *ParameterError if SSM would refuse
// them), render the script, write it as an executable file and run it with
// "sh -c <file>", so the script's bash shebang is honoured exactly as on
// an instance whose sh is dash. A non-zero exit status is a Result, not an
// error.
func Run(ctx context.Context, spec Spec) (Result, error) {
	d, ok := instance.Lookup(spec.Document)
	if !ok {
		return Result{}, fmt.Errorf("sandbox: no document %q", spec.Document)
	}
	if spec.Sandbox == nil {
		return Result{}, fmt.Errorf("sandbox: run %s: no sandbox", d.Name)
	}
	resolve := d.Resolve
	if spec.Unchecked {
		resolve = d.ResolveUnchecked
	}
	values, err := resolve(spec.Params)
	if err != nil {
		return Result{}, err
	}
	res := Result{Script: d.Render(values)}
	f, err := os.CreateTemp(filepath.Join(spec.Sandbox.Dir(), "scripts"), d.Name+"-*.sh")
	if err != nil {
		return res, fmt.Errorf("sandbox: run %s: %w", d.Name, err)
	}
	path := f.Name()
	_, werr := f.WriteString(res.Script)
	cerr := f.Close()
	if err := errors.Join(werr, cerr, os.Chmod(path, 0o700)); err != nil {
		return res, fmt.Errorf("sandbox: run %s: write script: %w", d.Name, err)
	}

	timeout := spec.Timeout
	if timeout == 0 {
		timeout = time.Duration(d.TimeoutSeconds) * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for attempt := 1; ; attempt++ {
		res.Stdout, res.Stderr, err = execute(ctx, spec.Sandbox, path)
		var exit *exec.ExitError
		switch {
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			res.ExitCode = -1
			return res, fmt.Errorf("sandbox: run %s: %w after %s", d.Name, ErrTimedOut, timeout)
		case ctx.Err() != nil:
			res.ExitCode = -1
			return res, fmt.Errorf("sandbox: run %s: %w", d.Name, ctx.Err())
		case errors.As(err, &exit) && exit.ExitCode() == 126 && strings.Contains(res.Stderr, "Text file busy") && attempt < 10:
			// The script never started: a process forked elsewhere in this
			// program still held the file open for writing when sh tried to
			// execute it (Go issue 22315). That child closes it on its own
			// exec, within moments.
			time.Sleep(time.Duration(attempt) * 5 * time.Millisecond)
			continue
		case errors.As(err, &exit):
			res.ExitCode = exit.ExitCode()
			return res, nil
		case err != nil:
			return res, fmt.Errorf("sandbox: run %s: %w", d.Name, err)
		}
		return res, nil
	}
}

// execute runs the script file as the agent does, sh -c <file>, in the
// sandbox's environment.
func execute(ctx context.Context, sb *Sandbox, path string) (stdout, stderr string, err error) {
	cmd := exec.CommandContext(ctx, "sh", "-c", path)
	cmd.Dir = sb.Dir()
	cmd.Env = sb.Env()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	// On timeout kill the script and everything it started: its process
	// group, and the descendants that left it (timeout(1) puts the hook
	// in a group of its own).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		pids := Descendants(cmd.Process.Pid)
		err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		return err
	}
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// Descendants lists the processes below pid, from /proc where there is
// one (elsewhere the process group kill has to do). The CLI's interrupt
// test uses it too, to find what a run left behind.
func Descendants(pid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so read after ")".
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(f[1]); err == nil {
			children[ppid] = append(children[ppid], p)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}
