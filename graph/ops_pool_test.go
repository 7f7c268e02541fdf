package graph_test

import (
	"testing"

	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/tensor"
)

// TestPoolORT compares the pools with ONNX Runtime where the conformance suite is thin:
// auto_pad with odd totals, ceil_mode with padding and dilations, the Indices output in both
// storage orders, integer and float64 inputs, 1-D and 3-D, and the older opsets. (The runner
// cannot feed int8, and ONNX Runtime has no float64 AveragePool or global pools: the generic kernels behind
// those are the ones tested here for other types.)
func TestPoolORT(t *testing.T) {
	pool := func(name, op string, opset int, attrs map[string]any, shape ...int) convORTCase {
		return convORTCase{Name: name, Op: op, Opset: opset, Attrs: attrs, Inputs: []convORTInput{convIn("x", shape...)}, Outputs: []string{"y"}}
	}
	withIdx := func(c convORTCase) convORTCase {
		c.Outputs = []string{"y", "i"}
		c.OutTypes = []string{"float32", "int64"}
		return c
	}
	typed := func(c convORTCase, dt string) convORTCase {
		c.Inputs[0].DType = dt
		return c
	}
	cases := []convORTCase{
		pool("max_same_upper_s2", "MaxPool", 12, map[string]any{"kernel_shape": []int{3, 2}, "strides": []int{2, 2}, "auto_pad": "SAME_UPPER"}, 2, 3, 7, 8),
		pool("max_same_lower_s2", "MaxPool", 12, map[string]any{"kernel_shape": []int{2, 3}, "strides": []int{2, 3}, "auto_pad": "SAME_LOWER"}, 1, 2, 7, 8),
		pool("max_valid", "MaxPool", 12, map[string]any{"kernel_shape": []int{3, 3}, "strides": []int{2, 2}, "auto_pad": "VALID"}, 1, 2, 8, 9),
		pool("max_ceil_dil_pads", "MaxPool", 12, map[string]any{"kernel_shape": []int{3, 2}, "strides": []int{2, 2}, "dilations": []int{2, 2}, "pads": []int{2, 1, 1, 0}, "ceil_mode": 1}, 1, 2, 10, 9),
		withIdx(pool("max_indices", "MaxPool", 12, map[string]any{"kernel_shape": []int{3, 3}, "strides": []int{2, 2}, "pads": []int{1, 1, 1, 1}}, 2, 3, 7, 6)),
		withIdx(pool("max_indices_col_major", "MaxPool", 12, map[string]any{"kernel_shape": []int{2, 3}, "strides": []int{2, 1}, "storage_order": 1}, 2, 2, 6, 5)),
		withIdx(pool("max_indices_opset8", "MaxPool", 8, map[string]any{"kernel_shape": []int{2, 2}, "strides": []int{2, 2}}, 1, 2, 6, 6)),
		withIdx(pool("max_indices_3d", "MaxPool", 12, map[string]any{"kernel_shape": []int{2, 2, 2}, "strides": []int{1, 2, 2}, "pads": []int{1, 0, 1, 0, 1, 0}}, 1, 2, 4, 5, 6)),
		typed(pool("max_uint8_ceil", "MaxPool", 12, map[string]any{"kernel_shape": []int{2, 2}, "strides": []int{2, 2}, "ceil_mode": 1}, 1, 2, 5, 7), "uint8"),
		typed(pool("max_float64_1d", "MaxPool", 12, map[string]any{"kernel_shape": []int{3}, "strides": []int{2}, "pads": []int{1, 1}}, 2, 2, 9), "float64"),
		pool("max_opset1", "MaxPool", 1, map[string]any{"kernel_shape": []int{2, 2}, "strides": []int{1, 2}}, 1, 2, 5, 6),
		pool("avg_same_upper_include", "AveragePool", 11, map[string]any{"kernel_shape": []int{3, 3}, "strides": []int{2, 2}, "auto_pad": "SAME_UPPER", "count_include_pad": 1}, 1, 2, 6, 7),
		pool("avg_same_lower", "AveragePool", 11, map[string]any{"kernel_shape": []int{2, 3}, "strides": []int{1, 2}, "auto_pad": "SAME_LOWER"}, 1, 2, 6, 7),
		pool("avg_pads_include", "AveragePool", 11, map[string]any{"kernel_shape": []int{3, 2}, "strides": []int{2, 1}, "pads": []int{1, 0, 2, 1}, "count_include_pad": 1}, 2, 2, 7, 6),
		pool("avg_ceil", "AveragePool", 11, map[string]any{"kernel_shape": []int{3, 3}, "strides": []int{2, 2}, "pads": []int{1, 1, 1, 1}, "ceil_mode": 1}, 1, 2, 8, 7),
		pool("avg_3d", "AveragePool", 11, map[string]any{"kernel_shape": []int{2, 3, 2}, "strides": []int{2, 1, 2}, "pads": []int{0, 1, 1, 1, 1, 0}}, 1, 2, 5, 6, 5),
		pool("avg_opset19_dilations", "AveragePool", 19, map[string]any{"kernel_shape": []int{2, 3}, "strides": []int{2, 1}, "dilations": []int{2, 2}, "pads": []int{1, 2, 0, 1}, "count_include_pad": 1, "ceil_mode": 1}, 1, 2, 8, 9),
		pool("avg_opset7_include", "AveragePool", 7, map[string]any{"kernel_shape": []int{3, 3}, "pads": []int{1, 1, 1, 1}, "count_include_pad": 1}, 1, 2, 5, 5),
		pool("avg_1d", "AveragePool", 11, map[string]any{"kernel_shape": []int{4}, "strides": []int{3}, "pads": []int{2, 1}}, 2, 2, 11),
		pool("global_avg_3d", "GlobalAveragePool", 1, nil, 2, 3, 3, 4, 5),
		pool("global_max_1d", "GlobalMaxPool", 1, nil, 2, 3, 7),
	}
	convORT(t, cases, 1e-5)
}

// TestPoolCeilModeCountIncludePad pins ONNX AveragePool to PyTorch's divisor with ceil_mode
// and count_include_pad, on PARITY.md's example: avg_pool2d of arange(25) as 5×5, kernel 2,
// stride 2, padding 1, ceil_mode, whose bottom-right window covers 18, 19, 23, 24 and the
// padding past them, and divides by 4: the cells beyond the padded input do not count.
// (tensor's TestPoolTorch checks the kernel against PyTorch on many shapes.)
func TestPoolCeilModeCountIncludePad(t *testing.T) {
	n := &graph.Node{Name: "p", OpType: "AveragePool", Inputs: []string{"x"}, Outputs: []string{"y"}, Attrs: map[string]graph.Attr{
		"kernel_shape":      {Type: graph.AttrInts, Ints: []int64{2, 2}},
		"strides":           {Type: graph.AttrInts, Ints: []int64{2, 2}},
		"pads":              {Type: graph.AttrInts, Ints: []int64{1, 1, 1, 1}},
		"ceil_mode":         {Type: graph.AttrInt, Int: 1},
		"count_include_pad": {Type: graph.AttrInt, Int: 1},
	}}
	k, err := convBuild(n, 11)
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, 25)
	for i := range x {
		x[i] = float32(i)
	}
	outs, err := k.Run(&graph.Context{}, []*tensor.Tensor{tensor.From([]int{1, 1, 5, 5}, x)})
	if err != nil {
		t.Fatal(err)
	}
	y := outs[0]
	if !tensor.EqualShapes(y.Shape(), []int{1, 1, 3, 3}) {
		t.Fatalf("got shape %v, want [1 1 3 3]: the window starting in the right padding is dropped", y.Shape())
	}
	if got, want := y.Float32s()[8], (x[18]+x[19]+x[23]+x[24])/4; got != want {
		t.Errorf("bottom-right average: got %v, want %v", got, want)
	}
}
