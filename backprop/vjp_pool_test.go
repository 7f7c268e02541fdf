package backprop_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/onnxtune/onnxtune/tensor"
)

// cpnPoolCases covers the pools: MaxPool with strides, pads (symmetric, asymmetric and
// auto_pad), dilations, ceil_mode, 1-D and 3-D, its Indices output, and ties (torch only:
// the gradient is one-sided there); AveragePool with and without count_include_pad,
// ceil_mode's clipped edge windows, asymmetric pads and dilations (opset 19); and the global
// pools.
func cpnPoolCases() []cpnCase {
	rng := rand.New(rand.NewPCG(5, 6))
	x := func(shape ...int) cpnVal { return cpnRand(rng, "X", false, 1, 0, shape...) }
	// Small integers: windows with several equal maxima.
	ties := func(shape ...int) cpnVal {
		v := x(shape...)
		for i := range v.data {
			v.data[i] = math.Floor(math.Abs(v.data[i]) * 1.5)
		}
		return v
	}
	// 0..24 as a 5x5 plane, the example in PARITY.md.
	ramp := cpnVal{name: "X", shape: []int{1, 1, 5, 5}, data: make([]float64, 25)}
	for i := range ramp.data {
		ramp.data[i] = float64(i)
	}
	wx := []string{"X"}
	maxp := func(name string, attrs map[string]any, in cpnVal, torch string) cpnCase {
		return cpnCase{name: "max-" + name, op: "MaxPool", opset: 12, attrs: attrs, in: []cpnVal{in}, wrt: wx, torch: torch}
	}
	avg := func(name string, opset int, attrs map[string]any, in cpnVal, torch string) cpnCase {
		return cpnCase{name: "avg-" + name, op: "AveragePool", opset: opset, attrs: attrs, in: []cpnVal{in}, wrt: wx, torch: torch}
	}
	tie := maxp("ties-k3s1", map[string]any{"kernel_shape": []int{3, 3}, "pads": []int{1, 1, 1, 1}}, ties(2, 3, 6, 7),
		"F.max_pool2d(T['X'], 3, 1, 1)")
	tie.noFD = true
	tie2 := maxp("ties-k2s2-ceil", map[string]any{"kernel_shape": []int{2, 2}, "strides": []int{2, 2}, "ceil_mode": 1}, ties(2, 2, 7, 5),
		"F.max_pool2d(T['X'], 2, 2, ceil_mode=True)")
	tie2.noFD = true
	gtie := cpnCase{name: "global-max-ties", op: "GlobalMaxPool", in: []cpnVal{ties(2, 3, 3, 4)}, wrt: wx, noFD: true,
		torch: "F.adaptive_max_pool2d(T['X'], 1)"}
	withIndices := maxp("k3s2p1-indices", map[string]any{"kernel_shape": []int{3, 3}, "strides": []int{2, 2}, "pads": []int{1, 1, 1, 1}}, x(2, 3, 9, 8),
		"F.max_pool2d(T['X'], 3, 2, 1)")
	withIndices.outs = []string{"Y", "I"}
	return []cpnCase{
		maxp("k3s2p1", map[string]any{"kernel_shape": []int{3, 3}, "strides": []int{2, 2}, "pads": []int{1, 1, 1, 1}}, x(2, 3, 9, 8),
			"F.max_pool2d(T['X'], 3, 2, 1)"),
		withIndices,
		maxp("k3s2p1-ceil", map[string]any{"kernel_shape": []int{3, 3}, "strides": []int{2, 2}, "pads": []int{1, 1, 1, 1}, "ceil_mode": 1}, x(1, 2, 8, 7),
			"F.max_pool2d(T['X'], 3, 2, 1, ceil_mode=True)"),
		maxp("dilated", map[string]any{"kernel_shape": []int{2, 3}, "strides": []int{1, 2}, "dilations": []int{2, 1}, "pads": []int{1, 1, 1, 1}}, x(2, 2, 7, 8),
			"F.max_pool2d(T['X'], (2, 3), (1, 2), (1, 1), dilation=(2, 1))"),
		maxp("asym-pads", map[string]any{"kernel_shape": []int{2, 2}, "strides": []int{2, 2}, "pads": []int{0, 1, 1, 0}}, x(2, 2, 5, 6),
			"F.max_pool2d(F.pad(T['X'], (1, 0, 0, 1), value=float('-inf')), 2, 2)"),
		// SAME_UPPER over 7x6 with kernel 3, stride 2: pads (1, 1) rows, (0, 1) columns.
		maxp("same-upper", map[string]any{"kernel_shape": []int{3, 3}, "strides": []int{2, 2}, "auto_pad": "SAME_UPPER"}, x(1, 2, 7, 6),
			"F.max_pool2d(F.pad(T['X'], (0, 1, 1, 1), value=float('-inf')), 3, 2)"),
		tie, tie2,
		maxp("1d", map[string]any{"kernel_shape": []int{3}, "strides": []int{2}, "pads": []int{1, 1}}, x(2, 3, 10),
			"F.max_pool1d(T['X'], 3, 2, 1)"),
		maxp("3d-ceil", map[string]any{"kernel_shape": []int{2, 2, 3}, "strides": []int{2, 1, 2}, "pads": []int{1, 0, 1, 1, 0, 1}, "ceil_mode": 1}, x(1, 2, 4, 3, 6),
			"F.max_pool3d(T['X'], (2, 2, 3), (2, 1, 2), (1, 0, 1), ceil_mode=True)"),
		avg("k3s2p1-exclude-pad", 11, map[string]any{"kernel_shape": []int{3, 3}, "strides": []int{2, 2}, "pads": []int{1, 1, 1, 1}}, x(2, 3, 9, 8),
			"F.avg_pool2d(T['X'], 3, 2, 1, count_include_pad=False)"),
		avg("k3s2p1-include-pad-ceil", 11, map[string]any{"kernel_shape": []int{3, 3}, "strides": []int{2, 2}, "pads": []int{1, 1, 1, 1}, "ceil_mode": 1, "count_include_pad": 1}, x(2, 2, 8, 7),
			"F.avg_pool2d(T['X'], 3, 2, 1, ceil_mode=True, count_include_pad=True)"),
		avg("k3s2p1-exclude-pad-ceil", 11, map[string]any{"kernel_shape": []int{3, 3}, "strides": []int{2, 2}, "pads": []int{1, 1, 1, 1}, "ceil_mode": 1}, x(2, 2, 8, 7),
			"F.avg_pool2d(T['X'], 3, 2, 1, ceil_mode=True, count_include_pad=False)"),
		avg("parity-ramp-ceil", 11, map[string]any{"kernel_shape": []int{2, 2}, "strides": []int{2, 2}, "pads": []int{1, 1, 1, 1}, "ceil_mode": 1, "count_include_pad": 1}, ramp,
			"F.avg_pool2d(T['X'], 2, 2, 1, ceil_mode=True, count_include_pad=True)"),
		avg("rect-no-pad", 11, map[string]any{"kernel_shape": []int{2, 3}, "strides": []int{1, 2}}, x(2, 3, 5, 8),
			"F.avg_pool2d(T['X'], (2, 3), (1, 2))"),
		avg("asym-pads-include", 11, map[string]any{"kernel_shape": []int{3, 2}, "pads": []int{0, 1, 2, 0}, "count_include_pad": 1}, x(1, 2, 5, 4),
			"F.avg_pool2d(F.pad(T['X'], (1, 0, 0, 2)), (3, 2), 1)"),
		avg("asym-pads-exclude", 11, map[string]any{"kernel_shape": []int{3, 2}, "strides": []int{2, 1}, "pads": []int{0, 1, 2, 0}}, x(1, 2, 5, 4), ""),
		avg("dilated-opset19", 19, map[string]any{"kernel_shape": []int{2, 2}, "dilations": []int{2, 1}, "pads": []int{1, 0, 1, 1}, "ceil_mode": 1}, x(1, 2, 6, 5), ""),
		avg("1d-include-pad", 11, map[string]any{"kernel_shape": []int{4}, "strides": []int{3}, "pads": []int{2, 2}, "count_include_pad": 1}, x(2, 3, 10),
			"F.avg_pool1d(T['X'], 4, 3, 2, count_include_pad=True)"),
		avg("3d-exclude-pad", 11, map[string]any{"kernel_shape": []int{2, 3, 2}, "strides": []int{1, 2, 2}, "pads": []int{1, 1, 0, 1, 1, 0}}, x(1, 2, 3, 5, 4),
			"F.avg_pool3d(T['X'], (2, 3, 2), (1, 2, 2), (1, 1, 0), count_include_pad=False)"),
		avg("same-lower", 11, map[string]any{"kernel_shape": []int{3, 3}, "strides": []int{2, 2}, "auto_pad": "SAME_LOWER"}, x(1, 2, 6, 7), ""),
		{name: "global-avg", op: "GlobalAveragePool", in: []cpnVal{x(2, 3, 4, 5)}, wrt: wx, torch: "F.adaptive_avg_pool2d(T['X'], 1)"},
		{name: "global-avg-1d", op: "GlobalAveragePool", in: []cpnVal{x(2, 3, 7)}, wrt: wx, torch: "F.adaptive_avg_pool1d(T['X'], 1)"},
		{name: "global-max", op: "GlobalMaxPool", in: []cpnVal{x(2, 3, 4, 5)}, wrt: wx, torch: "F.adaptive_max_pool2d(T['X'], 1)"},
		{name: "global-max-3d", op: "GlobalMaxPool", in: []cpnVal{x(2, 2, 3, 2, 4)}, wrt: wx, torch: "F.adaptive_max_pool3d(T['X'], 1)"},
		gtie,
	}
}

// TestPoolVJPFiniteDifferences checks the pools in float64, away from ties.
func TestPoolVJPFiniteDifferences(t *testing.T) {
	cpnFD(t, cpnPoolCases(), tensor.Float64, 0, 1e-6, 0)
}

// TestPoolVJPTorch compares the pools' gradients with torch.autograd through max_pool1d/2d/
// 3d, avg_pool1d/2d/3d and the adaptive pools, ties included.
func TestPoolVJPTorch(t *testing.T) {
	cpnTorch(t, cpnPoolCases(), 1e-5)
}
