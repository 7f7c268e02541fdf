package train_test

import (
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/loss"
	"github.com/onnxtune/onnxtune/tensor"
	"github.com/onnxtune/onnxtune/train"
)

// TestStepsRecycleBuffers: once a few steps have run, a training step allocates a twentieth
// of what the first one did (the activations, the gradients of the intermediates and those of
// the weights all reuse the buffers of earlier steps), so that the heap does not grow with
// garbage the collector lets pile up to twice the live size. The resblock fixture has
// BatchNorm in train mode and a residual Add, whose gradient is a sum. Not checked under the
// race detector (see raceEnabled); that the recycled steps still compute what PyTorch does is
// TestRunMatchesTorch's part.
func TestStepsRecycleBuffers(t *testing.T) {
	g := importModel(t, filepath.Join(fixture.Root(t), "testdata", "models", "resblock.onnx"))
	allocated := stepAllocations(t, g, 8, 32, 10, 9)
	if median := medianBytes(allocated[4:]); median > allocated[0]/20 && !raceEnabled {
		t.Errorf("steps 5 to 9 allocated a median of %d bytes (%v), the first %d: buffers are not recycled", median, allocated[4:], allocated[0])
	}
}

// TestLargeStepsRecycleBuffers is TestStepsRecycleBuffers on torchvision's resnet18 and
// mobilenet_v2 (64x64 inputs, batch 4, BatchNorm in train mode, every weight trained): a
// steady-state step allocates under a fiftieth of the first step's bytes and under 2 MB
// (resnet18 about 0.5 MB of 190, mobilenet_v2 about 1 MB of 75: per-node bookkeeping, the
// batch statistics handed to Context.BatchStats, small per-channel vectors), where before
// the gradients were recycled it was 10% of the first step's.
func TestLargeStepsRecycleBuffers(t *testing.T) {
	if testing.Short() {
		// The -short pass is the race detector's, under which allocation counts mean little
		// (see raceEnabled).
		t.Skip("model-sized case: runs in the full (non -short) pass")
	}
	for _, name := range []string{"resnet18", "mobilenet_v2"} {
		t.Run(name, func(t *testing.T) {
			g := importModel(t, fixture.Large(t, name, "--preserve-bn", "--size", "64"))
			allocated := stepAllocations(t, g, 4, 64, 1000, 5)
			t.Logf("bytes allocated per step: %v", allocated)
			if median := medianBytes(allocated[2:]); (median > allocated[0]/50 || median > 2<<20) && !raceEnabled {
				t.Errorf("steps 3 to 5 allocated a median of %d bytes (%v), the first %d", median, allocated[2:], allocated[0])
			}
		})
	}
}

// stepAllocations takes steps of Adam under cross-entropy on g (BatchNorm in train mode) with
// a batch of n random size x size RGB images and labels below classes, and returns the bytes
// each step allocated.
func stepAllocations(t *testing.T, g *graph.Graph, n, size, classes, steps int) []uint64 {
	t.Helper()
	s := newStep(t, g, train.BNTrain)
	rng := rand.New(rand.NewPCG(3, 3))
	x := make([]float32, n*3*size*size)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := make([]int64, n)
	for i := range y {
		y[i] = int64(i % classes)
	}
	inputs := map[string]*tensor.Tensor{g.Inputs[0].Name: tensor.From([]int{n, 3, size, size}, x)}
	targets := map[string]*tensor.Tensor{s.Outputs()[0]: tensor.From([]int{n}, y)}
	var allocated []uint64
	for range steps {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if _, err := s.Take(inputs, targets, loss.Labels{Classes: classes}, 1e-4); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		allocated = append(allocated, after.TotalAlloc-before.TotalAlloc)
	}
	return allocated
}

// medianBytes returns the median of an odd number of byte counts.
func medianBytes(b []uint64) uint64 {
	s := slices.Clone(b)
	slices.Sort(s)
	return s[len(s)/2]
}
