package graph

import (
	"runtime"

	"github.com/onnxtune/onnxtune/internal/parallel"
)

// parallelFor calls f(i) for i in [0, n), spread over up to GOMAXPROCS goroutines that take
// indices in turn. Each f must touch only its own part of any shared output.
func parallelFor(n int, f func(i int)) {
	parallel.For(n, runtime.GOMAXPROCS(0), f)
}
