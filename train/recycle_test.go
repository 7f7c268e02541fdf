package train_test

import (
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

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
	s := newStep(t, g, train.BNTrain)
	const n = 8
	rng := rand.New(rand.NewPCG(3, 3))
	x := make([]float32, n*3*32*32)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := make([]int64, n)
	for i := range y {
		y[i] = int64(i % 10)
	}
	inputs := map[string]*tensor.Tensor{g.Inputs[0].Name: tensor.From([]int{n, 3, 32, 32}, x)}
	targets := map[string]*tensor.Tensor{s.Outputs()[0]: tensor.From([]int{n}, y)}

	var allocated []uint64
	for range 9 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if _, err := s.Take(inputs, targets, loss.Labels{Classes: 10}, 0.01); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		allocated = append(allocated, after.TotalAlloc-before.TotalAlloc)
	}
	later := slices.Clone(allocated[4:])
	slices.Sort(later)
	if median := later[len(later)/2]; median > allocated[0]/20 && !raceEnabled {
		t.Errorf("steps 5 to 9 allocated a median of %d bytes (%v), the first %d: buffers are not recycled", median, allocated[4:], allocated[0])
	}
}
