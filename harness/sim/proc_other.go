//go:build !linux

package sim

import "syscall"

// childProcAttr puts an emulator in its own process group, so Close can
// stop everything it started. Outside Linux there is no Pdeathsig: an
// emulator outlives a test binary that is killed.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
