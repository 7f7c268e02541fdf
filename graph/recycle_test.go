package graph_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/tensor"
)

// recycledPlan plans the resblock fixture (Conv, BatchNorm, Relu, a residual Add, pooling,
// Flatten's view of its input, Gemm) and returns it with a random input.
func recycledPlan(t *testing.T) (*graph.Plan, map[string]*tensor.Tensor) {
	t.Helper()
	return planWithInput(t, fixture.Small(t, "resblock.onnx"), []int{4, 3, 32, 32}, 1)
}

// planWithInput plans the model at path and returns it with a random normal input of the
// given shape for its first input.
func planWithInput(t *testing.T, path string, shape []int, seed uint64) (*graph.Plan, map[string]*tensor.Tensor) {
	t.Helper()
	p := planFile(t, path)
	rng := rand.New(rand.NewPCG(seed, seed))
	x := make([]float32, tensor.Size(shape))
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return p, map[string]*tensor.Tensor{p.Graph.Inputs[0].Name: tensor.From(shape, x)}
}

// TestRunsRecycleBuffers: later runs of a plan reuse the intermediates' buffers of earlier ones
// (the median of the fourth to eighth runs allocates less than a third of the first run's
// bytes: a run may still add a packing buffer when its goroutines first share the work in a
// new way; not checked under the race detector, see raceEnabled) and give bit-identical
// outputs, also when the caller keeps the outputs of earlier runs.
func TestRunsRecycleBuffers(t *testing.T) {
	p, in := recycledPlan(t)
	var kept []map[string]*tensor.Tensor
	var allocated []uint64
	for range 8 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		out, err := p.Run(nil, in)
		if err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		allocated = append(allocated, after.TotalAlloc-before.TotalAlloc)
		kept = append(kept, out)
	}
	if later := medianBytes(allocated[3:]); later > allocated[0]/3 && !raceEnabled {
		t.Errorf("runs 4 to 8 allocated a median of %d bytes (%v), the first %d: buffers are not recycled", later, allocated[3:], allocated[0])
	}
	for run, out := range kept[1:] {
		for name, v := range out {
			if !equalBits(v.Float32s(), kept[0][name].Float32s()) {
				t.Errorf("run %d: output %q differs from the first run's", run+2, name)
			}
		}
	}
}

// medianBytes returns the median of an odd number of byte counts.
func medianBytes(b []uint64) uint64 {
	s := slices.Clone(b)
	slices.Sort(s)
	return s[len(s)/2]
}

// TestConcurrentRunsRecycle runs one plan from several goroutines at once (for -race): each
// run has its own buffers, and every result equals a lone run's.
func TestConcurrentRunsRecycle(t *testing.T) {
	p, in := recycledPlan(t)
	want, err := p.Run(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 3 {
				out, err := p.Run(nil, in)
				if err != nil {
					t.Error(err)
					return
				}
				for name, v := range out {
					if !equalBits(v.Float32s(), want[name].Float32s()) {
						t.Errorf("output %q of a concurrent run differs from a lone run's", name)
					}
				}
			}
		})
	}
	wg.Wait()
}

func equalBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] && !(a[i] != a[i] && b[i] != b[i]) {
			return false
		}
	}
	return true
}

// TestLeaseGivesBuffersBack: a ForwardLeased run keeps every intermediate; the values a
// caller gives back serve the next runs (the median of the fourth to eighth allocates less
// than a third of what the first run did; not checked under the race detector), values still
// held are never
// reused, and every run's results equal a plain Run's.
func TestLeaseGivesBuffersBack(t *testing.T) {
	p, in := recycledPlan(t)
	want, err := p.Run(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	keep := make([]bool, p.NumSlots())
	for i := range keep {
		keep[i] = true
	}
	outs := map[int]bool{}
	for _, s := range p.OutputSlots() {
		outs[s] = true
	}
	var held []*tensor.Tensor // values not given back, with a copy of their contents
	var copies [][]float32
	var allocated []uint64
	for run := range 8 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		vals, lease, err := p.ForwardLeased(nil, in, keep, nil)
		if err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		allocated = append(allocated, after.TotalAlloc-before.TotalAlloc)
		for i, s := range p.OutputSlots() {
			if !equalBits(vals[s].Float32s(), want[p.Graph.Outputs[i].Name].Float32s()) {
				t.Fatalf("run %d: output %q differs from Run's", run+1, p.Graph.Outputs[i].Name)
			}
		}
		for s, v := range vals {
			if v == nil || v.DType() != tensor.Float32 {
				continue
			}
			if run == 0 && !outs[s] && len(held) < 3 {
				held = append(held, v) // the first run's caller keeps a few
				copies = append(copies, append([]float32(nil), v.Float32s()...))
				continue
			}
			lease.GiveBack(v) // once per slot holding it, as a backward pass drops them
		}
	}
	if later := medianBytes(allocated[3:]); later > allocated[0]/3 && !raceEnabled {
		t.Errorf("runs 4 to 8 allocated a median of %d bytes (%v), the first %d: given-back buffers are not reused", later, allocated[3:], allocated[0])
	}
	for i, v := range held {
		if !equalBits(v.Float32s(), copies[i]) {
			t.Errorf("a value the caller kept was overwritten by a later run")
		}
	}
}

// TestLargeRunsAllocateNothing: on torchvision's resnet18, mobilenet_v2 and squeezenet1_1
// (224x224, batch 1 and 8, weights frozen as the CLI's inference commands have them and not),
// a steady-state RunInto makes no allocation at all, where the intermediates alone take
// tens of megabytes, and its outputs equal Run's bit for bit. At batch 8 on more than one
// core the runs split the batch (split.go).
func TestLargeRunsAllocateNothing(t *testing.T) {
	if testing.Short() {
		// The -short pass is the race detector's, under which allocation counts mean little
		// (see raceEnabled).
		t.Skip("model-sized case: runs in the full (non -short) pass")
	}
	for _, name := range []string{"resnet18", "mobilenet_v2", "squeezenet1_1"} {
		path := fixture.Large(t, name)
		for _, c := range []struct {
			batch  int
			frozen bool
		}{{1, true}, {8, true}, {1, false}} {
			t.Run(fmt.Sprintf("%s/batch%d/frozen=%v", name, c.batch, c.frozen), func(t *testing.T) {
				p, in := planWithInput(t, path, []int{c.batch, 3, 224, 224}, 5)
				if c.frozen {
					if err := p.FreezeWeights(); err != nil {
						t.Fatal(err)
					}
				}
				want, err := p.Run(nil, in)
				if err != nil {
					t.Fatal(err)
				}
				got := map[string]*tensor.Tensor{}
				if err := p.RunInto(nil, in, got); err != nil {
					t.Fatal(err)
				}
				allocs := allocsPerRun(4, func() {
					if err := p.RunInto(nil, in, got); err != nil {
						t.Fatal(err)
					}
				})
				if allocs != 0 {
					t.Errorf("a steady-state RunInto made %v allocations, want none", allocs)
				}
				for name, v := range want {
					if !equalBits(got[name].Float32s(), v.Float32s()) {
						t.Errorf("output %q of RunInto differs from Run's", name)
					}
				}
			})
		}
	}
}

// allocsPerRun is testing.AllocsPerRun without its GOMAXPROCS(1), under which a plan's runs
// would not split their batch: the average number of allocations of runs calls of f, the
// fewest of three tries. The kernels' scratch pools and loop bodies grow to the most that
// the cores ever held at once, and on a loaded machine (CI runs the packages' tests side by
// side) the helper goroutine, or one part of a split batch, can lag behind for a whole
// kernel in one run and keep pace in a later one, which then grows a pool once. An
// allocation in every run is what the tries still catch.
func allocsPerRun(runs int, f func()) float64 {
	f()
	fewest := math.Inf(1)
	for range 3 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range runs {
			f()
		}
		runtime.ReadMemStats(&after)
		fewest = min(fewest, float64(after.Mallocs-before.Mallocs)/float64(runs))
	}
	return fewest
}
