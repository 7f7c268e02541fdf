//go:build linux || darwin

package main

import (
	"runtime"
	"syscall"
)

// peakRSS returns the peak resident set size of this process so far, in bytes: getrusage's
// ru_maxrss, which Linux gives in KiB and macOS in bytes.
func peakRSS() (int64, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	if runtime.GOOS == "linux" {
		return int64(ru.Maxrss) * 1024, true
	}
	return int64(ru.Maxrss), true
}
