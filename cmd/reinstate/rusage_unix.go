//go:build unix

package main

import (
	"runtime"
	"syscall"
)

// peakRSS is the process's peak resident memory in bytes.
func peakRSS() (int64, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	// Linux reports kilobytes; macOS and the BSDs, bytes.
	if runtime.GOOS == "linux" {
		return ru.Maxrss * 1024, true
	}
	return ru.Maxrss, true
}
