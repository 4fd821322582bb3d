//go:build unix

package azurite

import (
	"os/exec"
	"syscall"
)

// setProcAttr puts Azurite in a process group of its own, so that Stop
// reaches node and anything it spawned, and so that a terminal's Ctrl-C,
// which the caller handles, does not kill it before the caller's cleanup.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	setParentDeathSignal(cmd.SysProcAttr)
}

// stopProcess asks Azurite's process group to end.
func stopProcess(cmd *exec.Cmd) {
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
}
