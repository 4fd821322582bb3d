package azurite

import "syscall"

// setParentDeathSignal has Linux end Azurite when the test binary that
// started it dies without stopping it (killed by go test's timeout, say).
func setParentDeathSignal(attr *syscall.SysProcAttr) { attr.Pdeathsig = syscall.SIGKILL }
