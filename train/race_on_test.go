//go:build race

package train_test

// raceEnabled says the race detector is on: sync.Pool then drops items at random, so the
// scratch buffers kernels keep in pools are allocated again, and allocation counts mean little.
const raceEnabled = true
