//go:build !race

package train_test

// raceEnabled: see race_on_test.go.
const raceEnabled = false
