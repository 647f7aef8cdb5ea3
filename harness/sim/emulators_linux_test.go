package sim

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// The helper's cleanup stops dynalite when a test fails, and the process
// dies with a test binary that is killed outright. Both run in a child
// copy of this test binary; the parent checks no process is left.
func TestDynaliteIsStoppedWhenATestFails(t *testing.T) {
	pid, cmd := startHelper(t, "fail")
	err := cmd.Wait()
	if err == nil {
		t.Fatal("the helper test was meant to fail")
	}
	// The child's t.Cleanup ran before it exited: dynalite is gone (and
	// reaped by the child's Wait), no waiting needed.
	if alive(pid) {
		t.Fatalf("dynalite %d outlived the failed test", pid)
	}
}

func TestDynaliteDiesWithAKilledParent(t *testing.T) {
	pid, cmd := startHelper(t, "hang")
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	// Pdeathsig: the kernel kills dynalite when its parent dies. Wait for
	// that exit on a pidfd, bounded, rather than sleeping.
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		if err == unix.ESRCH {
			return // already gone
		}
		t.Fatalf("pidfd_open: %v", err)
	}
	defer unix.Close(fd)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 10_000)
	if err != nil || n != 1 {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Fatalf("dynalite %d still running 10s after its parent was killed (poll %d, %v)", pid, n, err)
	}
}

// alive reports whether a process exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}
