//go:build harness

package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLocalLeavesNoProcessBehind runs the real binary's `greenlight local`
// until it waits for an approval (dynalite and the runner are up), then
// interrupts it the way Ctrl-C does, and kills it outright: either way no
// process it started may remain.
func TestLocalLeavesNoProcessBehind(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := filepath.Join(t.TempDir(), "greenlight")
	if out, err := exec.Command("go", "build", "-tags", "harness", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := exec.Command(bin, "local", "--approve", "prompt")
			cmd.Dir = "../.." // the checkout, as a developer runs it
			cmd.Env = append(os.Environ(), "GREENLIGHT_LOCAL_ENDPOINTS="+filepath.Join(t.TempDir(), "local.json"))
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			waiting, ended := make(chan struct{}), make(chan string, 1)
			go func() {
				var lines []string
				sc := bufio.NewScanner(stderr)
				for sc.Scan() {
					lines = append(lines, sc.Text())
					if strings.Contains(sc.Text(), "approval pending") {
						close(waiting)
					}
				}
				ended <- strings.Join(lines, "\n")
			}()
			select {
			case <-waiting:
			case out := <-ended:
				t.Fatalf("greenlight local ended before the approval:\n%s", out)
			case <-time.After(2 * time.Minute):
				t.Fatal("greenlight local never reached the approval")
			}
			children := descendants(cmd.Process.Pid)
			if len(children) < 2 {
				t.Fatalf("want dynalite and the runner among the children, found %v", children)
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("greenlight local did not stop after the signal")
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				var alive []int
				for _, pid := range children {
					if running(pid) {
						alive = append(alive, pid)
					}
				}
				if len(alive) == 0 {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("still running after %s: %v", sig, alive)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}

// descendants lists the processes below pid, from /proc.
func descendants(pid int) []int {
	parent := map[int]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so split after ")".
		fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(fields) > 1 {
			pp, _ := strconv.Atoi(fields[1])
			parent[p] = pp
		}
	}
	var out []int
	for p := range parent {
		for q := parent[p]; q > 1; q = parent[q] {
			if q == pid {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// running reports a live process (a zombie has exited).
func running(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}
