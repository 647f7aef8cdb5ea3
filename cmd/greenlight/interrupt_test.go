//go:build harness && linux

package main

import (
	"github.com/greenlight/greenlight/harness/sandbox"

	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
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
			children := sandbox.Descendants(cmd.Process.Pid)
			if len(children) < 2 {
				t.Fatalf("want dynalite and the runner among the children, found %v", children)
			}
			// The live instance's app and the candidate's, waiting for
			// the approval, are real processes too.
			apps := 0
			for _, pid := range children {
				if b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline")); err == nil && strings.Contains(string(b), "server.js") {
					apps++
				}
			}
			if apps < 2 {
				t.Fatalf("want the live and the candidate's app among the children, found %d app processes in %v", apps, children)
			}
			exits := watchExits(t, children)
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
			// The children are not this test's own, so it cannot wait(2)
			// for them; their pidfds tell it when each has exited.
			if alive := exits.await(30 * time.Second); len(alive) > 0 {
				t.Fatalf("still running after %s: %v", sig, alive)
			}
		})
	}
}

// exitWatch holds a pidfd for each of some processes: the kernel makes a
// pidfd readable once its process has exited, so the test waits for the
// exits themselves rather than looking at /proc every so often.
type exitWatch map[int]int // pid → pidfd

// watchExits opens the pidfds while the processes run (so that no reused
// pid is watched instead); a process already gone is not watched.
func watchExits(t *testing.T, pids []int) exitWatch {
	t.Helper()
	w := exitWatch{}
	t.Cleanup(func() {
		for _, fd := range w {
			unix.Close(fd)
		}
	})
	for _, pid := range pids {
		fd, err := unix.PidfdOpen(pid, 0)
		switch {
		case err == nil:
			w[pid] = fd
		case errors.Is(err, unix.ESRCH):
		case errors.Is(err, unix.ENOSYS):
			t.Skip("this kernel has no pidfd_open (Linux 5.3 and later do)")
		default:
			t.Fatalf("pidfd_open %d: %v", pid, err)
		}
	}
	return w
}

// await blocks until every watched process has exited, or patience has
// run out (a failure), and returns those still running.
func (w exitWatch) await(patience time.Duration) []int {
	deadline := time.Now().Add(patience)
	for len(w) > 0 {
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		var pids []int
		var fds []unix.PollFd
		for pid, fd := range w {
			pids = append(pids, pid)
			fds = append(fds, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
		}
		if _, err := unix.Poll(fds, int(left.Milliseconds())+1); err != nil && !errors.Is(err, unix.EINTR) {
			break
		}
		for i, fd := range fds {
			if fd.Revents != 0 {
				unix.Close(w[pids[i]])
				delete(w, pids[i])
			}
		}
	}
	var alive []int
	for pid := range w {
		alive = append(alive, pid)
	}
	return alive
}
