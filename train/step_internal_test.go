package train

import (
	"math"
	"testing"

	"github.com/onnxtune/onnxtune/tensor"
)

// TestNonFiniteGradient names the first weight in name order whose gradient is not finite,
// with the value found, across gradients split into several parallel ranges.
func TestNonFiniteGradient(t *testing.T) {
	grads := map[string]*tensor.Tensor{}
	for _, name := range []string{"b", "a", "c", "d"} {
		grads[name] = tensor.New(tensor.Float32, 3, 1<<14+5)
	}
	grads["i"] = tensor.From([]int{2}, []int64{1, 2}) // not a float gradient: skipped
	if name, _ := nonFiniteGradient(grads); name != "" {
		t.Fatalf("finite gradients: got %q", name)
	}
	grads["d"].Float32s()[40000] = float32(math.NaN())
	grads["c"].Float32s()[3*(1<<14)+4] = float32(math.Inf(-1))
	grads["c"].Float32s()[20000] = float32(math.Inf(1))
	name, v := nonFiniteGradient(grads)
	if name != "c" || !math.IsInf(float64(v), 1) {
		t.Errorf("got %q holding %v, want \"c\" holding +Inf (its first bad value)", name, v)
	}
}
