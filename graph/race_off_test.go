//go:build !race

package graph_test

// raceEnabled: see race_on_test.go.
const raceEnabled = false
