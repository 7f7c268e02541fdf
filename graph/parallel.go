package graph

import (
	"github.com/onnxtune/onnxtune/internal/parallel"
)

// parallelFor calls f(i) for i in [0, n), spread over up to parallel.Procs goroutines that
// take indices in turn. Each f must touch only its own part of any shared output.
func parallelFor(n int, f func(i int)) {
	parallel.For(n, parallel.Procs(), f)
}
