//go:build race

package tensor

// gemmRaceEnabled tells allocation tests to stand down: the race detector allocates.
const gemmRaceEnabled = true
