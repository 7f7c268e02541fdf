//go:build !linux && !darwin

package main

// peakRSS reports that this system's peak resident set size is not read.
func peakRSS() (int64, bool) { return 0, false }
