//go:build !unix

package azurite

import "os/exec"

// setProcAttr needs nothing where there are no process groups.
func setProcAttr(*exec.Cmd) {}

// stopProcess kills Azurite.
func stopProcess(cmd *exec.Cmd) { _ = cmd.Process.Kill() }
