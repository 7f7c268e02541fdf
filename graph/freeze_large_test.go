package graph_test

import (
	"math"
	"testing"

	"github.com/onnxtune/onnxtune/internal/fixture"
)

// TestLargeFrozenWeights: torchvision's mobilenet_v2, squeezenet1_1 and resnet18 (224x224)
// give the same outputs from a plan whose filters are prepared once (FreezeWeights: the 1×1
// ones packed, the Winograd transforms of resnet18's 3×3 ones and the direct convolution's
// layouts kept) as from one that prepares them on every run, at batch 1 (which reads the
// packed filters) and 2, twice (the second run reads the kept transforms and layouts): bit
// for bit, but where a kept layout lets a convolution run directly that an unfrozen plan
// leaves to im2col and the GEMM (resnet18's 7×7 layers of 2,304 and 4,608 taps, one image
// per core), whose sums round differently: within 1e-6 of the largest logit there (1.6e-7 here).
func TestLargeFrozenWeights(t *testing.T) {
	if testing.Short() {
		t.Skip("model-sized case: runs in the full (non -short) pass")
	}
	for _, c := range []struct {
		name string
		tol  float64 // relative to the largest output
	}{{"mobilenet_v2", 0}, {"squeezenet1_1", 0}, {"resnet18", 1e-6}} {
		for _, batch := range []int{1, 2} {
			path := fixture.Large(t, c.name)
			plain, in := planWithInput(t, path, []int{batch, 3, 224, 224}, 3)
			frozen := planFile(t, path)
			if err := frozen.FreezeWeights(); err != nil {
				t.Fatal(err)
			}
			want, err := plain.Run(nil, in)
			if err != nil {
				t.Fatal(err)
			}
			for run := range 2 {
				got, err := frozen.Run(nil, in)
				if err != nil {
					t.Fatal(err)
				}
				for k, v := range want {
					if d := largestDiff(got[k].Float32s(), v.Float32s()); d > c.tol {
						t.Errorf("%s, batch %d, run %d: output %q differs by %.3g of its largest value once the weights are frozen, want at most %g", c.name, batch, run, k, d, c.tol)
					}
				}
			}
		}
	}
}

// largestDiff returns the largest difference between got and want relative to want's
// largest magnitude (0 for the same bits, +Inf where a NaN differs).
func largestDiff(got, want []float32) float64 {
	if equalBits(got, want) {
		return 0
	}
	var d, m float64
	for i := range want {
		d = max(d, math.Abs(float64(got[i])-float64(want[i])))
		m = max(m, math.Abs(float64(want[i])))
	}
	if math.IsNaN(d) {
		return math.Inf(1)
	}
	return d / m
}
