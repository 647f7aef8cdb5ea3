package sim

import "syscall"

// childProcAttr puts an emulator in its own process group, so Close can
// stop everything it started, and has the kernel kill it when the process
// that started it dies (Pdeathsig), so a test binary killed mid-run
// leaves nothing behind. Pdeathsig fires when the starting OS thread
// exits; Go only retires threads a goroutine locked, which the starters
// here never do.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
