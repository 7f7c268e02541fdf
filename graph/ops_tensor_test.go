package graph_test

import (
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/tensor"
)

// buildKernel builds op at opset from a hand-made node, the way NewPlan does.
func buildKernel(t *testing.T, op string, opset int, attrs map[string]graph.Attr, inputs []string, outputs ...string) (graph.Kernel, error) {
	t.Helper()
	def, ok := graph.Lookup("", op, opset)
	if !ok {
		t.Fatalf("%s is not registered at opset %d", op, opset)
	}
	if attrs == nil {
		attrs = map[string]graph.Attr{}
	}
	if len(outputs) == 0 {
		outputs = []string{"y"}
	}
	return def.Build(&graph.Node{Name: "n", OpType: op, Inputs: inputs, Outputs: outputs, Attrs: attrs}, opset)
}

func mustKernel(t *testing.T, op string, opset int, attrs map[string]graph.Attr, inputs []string, outputs ...string) graph.Kernel {
	t.Helper()
	k, err := buildKernel(t, op, opset, attrs, inputs, outputs...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func ints(v ...int64) graph.Attr       { return graph.Attr{Type: graph.AttrInts, Ints: v} }
func intAttr(v int64) graph.Attr       { return graph.Attr{Type: graph.AttrInt, Int: v} }
func floatAttr(v float32) graph.Attr   { return graph.Attr{Type: graph.AttrFloat, Float: v} }
func stringAttr(v string) graph.Attr   { return graph.Attr{Type: graph.AttrString, String: v} }
func vec(v ...int64) *tensor.Tensor    { return tensor.From([]int{len(v)}, v) }
func fvec(v ...float32) *tensor.Tensor { return tensor.From([]int{len(v)}, v) }

func run1(t *testing.T, k graph.Kernel, ctx *graph.Context, in ...*tensor.Tensor) []*tensor.Tensor {
	t.Helper()
	out, err := k.Run(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestOldOpsetForms covers the attribute forms of early opsets that neither the conformance
// suite nor PyTorch's exporter produce: Reshape-1, Pad-1 ("paddings"), Tile-1 (tiles and
// axis inputs), Cast-1 (the type by name), Concat-1's default axis and Split-1's split input.
func TestOldOpsetForms(t *testing.T) {
	x := fvec(1, 2, 3, 4, 5, 6)
	x2, _ := x.Reshape(2, 3)

	y := run1(t, mustKernel(t, "Reshape", 1, map[string]graph.Attr{"shape": ints(3, -1)}, []string{"x"}), nil, x)[0]
	shapeSame(t, "Reshape-1", y, tensor.From([]int{3, 2}, []float32{1, 2, 3, 4, 5, 6}))

	y = run1(t, mustKernel(t, "Pad", 1, map[string]graph.Attr{"paddings": ints(0, 1, 0, 1), "mode": stringAttr("edge")}, []string{"x"}), nil, x2)[0]
	shapeSame(t, "Pad-1", y, tensor.From([]int{2, 5}, []float32{1, 1, 2, 3, 3, 4, 4, 5, 6, 6}))

	y = run1(t, mustKernel(t, "Pad", 2, map[string]graph.Attr{"pads": ints(1, 0, 0, -1), "value": floatAttr(9)}, []string{"x"}), nil, x2)[0]
	shapeSame(t, "Pad-2", y, tensor.From([]int{3, 2}, []float32{9, 9, 1, 2, 4, 5}))

	y = run1(t, mustKernel(t, "Tile", 1, nil, []string{"x", "tiles", "axis"}), nil, x2, tensor.Scalar(int64(2)), tensor.Scalar(int64(-1)))[0]
	shapeSame(t, "Tile-1", y, tensor.From([]int{2, 6}, []float32{1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6}))

	y = run1(t, mustKernel(t, "Cast", 1, map[string]graph.Attr{"to": stringAttr("int64")}, []string{"x"}), nil, fvec(-1.5, 2.7))[0]
	if y.DType() != tensor.Int64 {
		t.Errorf("Cast-1 to \"int64\": got %v", y)
	}
	shapeSame(t, "Cast-1", y, vec(-1, 2))

	y = run1(t, mustKernel(t, "Concat", 1, nil, []string{"a", "b"}), nil, x2, x2)[0]
	shapeSame(t, "Concat-1", y, tensor.From([]int{2, 6}, []float32{1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6}))
	if _, err := buildKernel(t, "Concat", 4, nil, []string{"a", "b"}); err == nil {
		t.Error("Concat-4 without axis built")
	}

	ys := run1(t, mustKernel(t, "Split", 1, nil, []string{"x", "split"}, "a", "b"), nil, x, vec(4, 2))
	shapeSame(t, "Split-1 a", ys[0], fvec(1, 2, 3, 4))
	shapeSame(t, "Split-1 b", ys[1], fvec(5, 6))

	y = run1(t, mustKernel(t, "Slice", 1, map[string]graph.Attr{"starts": ints(-1, 0), "ends": ints(100, 2)}, []string{"x"}), nil, x2)[0]
	shapeSame(t, "Slice-1", y, tensor.From([]int{1, 2}, []float32{4, 5}))
}

// TestConstantForms covers Constant's opset-12 attributes.
func TestConstantForms(t *testing.T) {
	for _, c := range []struct {
		attr string
		a    graph.Attr
		want *tensor.Tensor
	}{
		{"value_float", floatAttr(2.5), tensor.Scalar(float32(2.5))},
		{"value_floats", graph.Attr{Type: graph.AttrFloats, Floats: []float32{1, 2}}, fvec(1, 2)},
		{"value_int", intAttr(-3), tensor.Scalar(int64(-3))},
		{"value_ints", ints(4, 5, 6), vec(4, 5, 6)},
		{"value", graph.Attr{Type: graph.AttrTensor, Tensor: tensor.From([]int{1, 2}, []int32{7, 8})}, tensor.From([]int{1, 2}, []int32{7, 8})},
	} {
		y := run1(t, mustKernel(t, "Constant", 13, map[string]graph.Attr{c.attr: c.a}, nil), nil)[0]
		if y.DType() != c.want.DType() {
			t.Errorf("%s: got %v, want %v", c.attr, y, c.want)
		}
		shapeSame(t, c.attr, y, c.want)
	}
	for name, attrs := range map[string]map[string]graph.Attr{
		"none":   {},
		"two":    {"value_int": intAttr(1), "value_float": floatAttr(1)},
		"string": {"value_string": stringAttr("a")},
	} {
		if _, err := buildKernel(t, "Constant", 13, attrs, nil); err == nil || !strings.Contains(err.Error(), `"n"`) {
			t.Errorf("%s: got error %v, want one naming the node", name, err)
		}
	}
}

// TestCast19 runs Cast's opset-19 entry, whose saturate attribute changes nothing for the
// types onnxtune holds.
func TestCast19(t *testing.T) {
	k := mustKernel(t, "Cast", 19, map[string]graph.Attr{"to": intAttr(6), "saturate": intAttr(0)}, []string{"x"})
	shapeSame(t, "Cast-19 to int32", run1(t, k, nil, fvec(-1.5, 2.7, 1e9))[0], tensor.From([]int{3}, []int32{-1, 2, 1000000000}))
}

// TestShapeFamilyErrors checks that bad attributes fail at build time and bad inputs at run
// time, with errors rather than panics.
func TestShapeFamilyErrors(t *testing.T) {
	for name, f := range map[string]func() error{
		"cast to string": func() error {
			_, err := buildKernel(t, "Cast", 13, map[string]graph.Attr{"to": intAttr(8)}, []string{"x"})
			return err
		},
		"cast without to": func() error { _, err := buildKernel(t, "Cast", 13, nil, []string{"x"}); return err },
		"cast-19 to float8": func() error {
			_, err := buildKernel(t, "Cast", 19, map[string]graph.Attr{"to": intAttr(17), "saturate": intAttr(0)}, []string{"x"})
			return err
		},
		"cast-19 saturate": func() error {
			_, err := buildKernel(t, "Cast", 19, map[string]graph.Attr{"to": intAttr(10), "saturate": intAttr(2)}, []string{"x"})
			return err
		},
		"split-18 num_outputs": func() error {
			_, err := buildKernel(t, "Split", 18, map[string]graph.Attr{"num_outputs": intAttr(3)}, []string{"x"}, "a", "b")
			return err
		},
		"split-18 both": func() error {
			_, err := buildKernel(t, "Split", 18, map[string]graph.Attr{"num_outputs": intAttr(2)}, []string{"x", "s"}, "a", "b")
			return err
		},
		"gelu approximate": func() error {
			_, err := buildKernel(t, "Gelu", 20, map[string]graph.Attr{"approximate": stringAttr("sigmoid")}, []string{"x"})
			return err
		},
		"pad mode": func() error {
			_, err := buildKernel(t, "Pad", 13, map[string]graph.Attr{"mode": stringAttr("wrap")}, []string{"x", "p"})
			return err
		},
		"reshape inputs": func() error { _, err := buildKernel(t, "Reshape", 13, nil, []string{"x"}); return err },
		"unsqueeze-1 axes": func() error {
			_, err := buildKernel(t, "Unsqueeze", 11, nil, []string{"x"})
			return err
		},
		"split-13 attribute": func() error {
			_, err := buildKernel(t, "Split", 13, map[string]graph.Attr{"split": ints(1, 1)}, []string{"x"}, "a", "b")
			return err
		},
	} {
		if err := f(); err == nil {
			t.Errorf("%s: built", name)
		}
	}
	x := tensor.New(tensor.Float32, 2, 3)
	for name, c := range map[string]struct {
		op    string
		attrs map[string]graph.Attr
		in    []*tensor.Tensor
	}{
		"two -1":          {"Reshape", nil, []*tensor.Tensor{x, vec(-1, -1)}},
		"reshape count":   {"Reshape", nil, []*tensor.Tensor{x, vec(4, -1)}},
		"reshape float":   {"Reshape", nil, []*tensor.Tensor{x, fvec(6)}},
		"squeeze non-1":   {"Squeeze", nil, []*tensor.Tensor{x, vec(1)}},
		"unsqueeze dup":   {"Unsqueeze", nil, []*tensor.Tensor{x, vec(0, -4)}},
		"gather range":    {"Gather", nil, []*tensor.Tensor{x, vec(2)}},
		"slice zero step": {"Slice", nil, []*tensor.Tensor{x, vec(0), vec(1), vec(0), vec(0)}},
		"slice dup axes":  {"Slice", nil, []*tensor.Tensor{x, vec(0, 0), vec(1, 1), vec(1, -1)}},
		"pad length":      {"Pad", nil, []*tensor.Tensor{x, vec(1, 1)}},
		"tile length":     {"Tile", nil, []*tensor.Tensor{x, vec(2)}},
		"flatten axis":    {"Flatten", map[string]graph.Attr{"axis": intAttr(3)}, []*tensor.Tensor{x}},
		"split uneven":    {"Split", map[string]graph.Attr{"axis": intAttr(1)}, []*tensor.Tensor{x}},
		"concat dtypes":   {"Concat", map[string]graph.Attr{"axis": intAttr(0)}, []*tensor.Tensor{x, tensor.New(tensor.Int64, 2, 3)}},
		"range zero":      {"Range", nil, []*tensor.Tensor{tensor.Scalar(1.0), tensor.Scalar(2.0), tensor.Scalar(0.0)}},
		"range dtypes":    {"Range", nil, []*tensor.Tensor{tensor.Scalar(1.0), tensor.Scalar(int64(2)), tensor.Scalar(1.0)}},
		"shape negative":  {"ConstantOfShape", nil, []*tensor.Tensor{vec(2, -1)}},
	} {
		names := make([]string, len(c.in))
		for i := range names {
			names[i] = string(rune('a' + i))
		}
		outs := []string{"y"}
		if c.op == "Split" {
			outs = []string{"y", "z"}
		}
		k, err := buildKernel(t, c.op, 17, c.attrs, names, outs...)
		if err != nil {
			t.Errorf("%s: build: %v", name, err)
			continue
		}
		if _, err := k.Run(nil, c.in); err == nil {
			t.Errorf("%s: ran without error", name)
		}
	}
}

// TestDropoutInference: outside training, and in training runs where training_mode is false,
// Dropout passes its input on (the same tensor) with an all-true mask, bool from opset 10 and
// of the input's dtype before.
func TestDropoutInference(t *testing.T) {
	x := fvec(1, -2, 3)
	train := &graph.Context{Training: true}
	for _, c := range []struct {
		opset int
		ctx   *graph.Context
		in    []*tensor.Tensor
		attrs map[string]graph.Attr
	}{
		{13, nil, []*tensor.Tensor{x, tensor.Scalar(float32(0.5)), tensor.Scalar(true)}, nil},
		{13, train, []*tensor.Tensor{x, tensor.Scalar(float32(0.5)), tensor.Scalar(false)}, nil},
		{13, train, []*tensor.Tensor{x, nil, nil}, nil},
		{10, nil, []*tensor.Tensor{x}, nil},
		{7, nil, []*tensor.Tensor{x}, nil},
		{6, train, []*tensor.Tensor{x}, map[string]graph.Attr{"is_test": intAttr(1)}},
	} {
		names := []string{"x", "r", "t"}[:len(c.in)]
		out := run1(t, mustKernel(t, "Dropout", c.opset, c.attrs, names, "y", "mask"), c.ctx, c.in...)
		if out[0] != x {
			t.Errorf("opset %d: the output is not the input", c.opset)
		}
		want := tensor.Bool
		if c.opset < 10 {
			want = tensor.Float32
		}
		if m := out[1]; m.DType() != want || m.Len() != 3 || m.Float64At(0) != 1 || m.Float64At(2) != 1 {
			t.Errorf("opset %d: mask %v %v, want all-true %v", c.opset, m, m.ToFloat64s(), want)
		}
	}
}

// TestDropoutTraining: in training, about ratio of the elements are zeroed and the others scaled
// by 1/(1-ratio), as torch.nn.functional.dropout does; the mask says which; a seed makes the
// sequence of masks reproducible from a fresh plan, and successive runs draw new masks.
func TestDropoutTraining(t *testing.T) {
	const n, ratio = 20000, 0.3
	x := tensor.New(tensor.Float32, n)
	for i := range x.Float32s() {
		x.Float32s()[i] = float32(i%17) - 8
	}
	train := &graph.Context{Training: true}
	seed := map[string]graph.Attr{"seed": intAttr(42)}
	in := []*tensor.Tensor{x, tensor.Scalar(float32(ratio)), tensor.Scalar(true)}
	k := mustKernel(t, "Dropout", 13, seed, []string{"x", "r", "t"}, "y", "mask")
	first := run1(t, k, train, in...)
	y, mask := first[0].Float32s(), tensor.Data[bool](first[1])
	kept := 0
	for i, v := range x.Float32s() {
		want := float32(0)
		if mask[i] {
			kept++
			want = v * float32(1/(1-float64(ratio)))
		}
		if math.Abs(float64(y[i]-want)) > 1e-6*math.Abs(float64(want)) {
			t.Fatalf("element %d: got %v, want %v (mask %v)", i, y[i], want, mask[i])
		}
	}
	// The kept count is binomial(n, 0.7): its standard deviation is about 65.
	if frac := float64(kept) / n; math.Abs(frac-(1-ratio)) > 0.02 {
		t.Errorf("kept %.3f of the elements, want about %.2f", frac, 1-ratio)
	}
	second := tensor.Data[bool](run1(t, k, train, in...)[1])
	fresh := tensor.Data[bool](run1(t, mustKernel(t, "Dropout", 13, seed, []string{"x", "r", "t"}, "y", "mask"), train, in...)[1])
	same, again := true, true
	for i := range mask {
		same = same && fresh[i] == mask[i]
		again = again && second[i] == mask[i]
	}
	if !same {
		t.Error("a fresh kernel with the same seed drew a different first mask")
	}
	if again {
		t.Error("the second run drew the same mask as the first")
	}
	// Opset 7 trains on Context.Training alone, with the ratio attribute and a float mask.
	old := run1(t, mustKernel(t, "Dropout", 7, map[string]graph.Attr{"ratio": floatAttr(0.5)}, []string{"x"}, "y", "mask"), train, x)
	if old[1].DType() != tensor.Float32 {
		t.Errorf("opset 7 mask: got %v, want float32", old[1])
	}
	for i, v := range old[0].Float32s() {
		if m := old[1].Float32s()[i]; v != x.Float32s()[i]*2*m {
			t.Fatalf("opset 7 element %d: got %v, want %v", i, v, x.Float32s()[i]*2*m)
		}
	}
	// Ratio 1 drops everything.
	all := run1(t, k, train, x, tensor.Scalar(float32(1)), tensor.Scalar(true))
	for i, v := range all[0].Float32s() {
		if v != 0 || tensor.Data[bool](all[1])[i] {
			t.Fatalf("ratio 1: element %d is %v, kept %v", i, v, tensor.Data[bool](all[1])[i])
		}
	}
}

// TestDropoutConcurrent runs one kernel from several goroutines (for -race).
func TestDropoutConcurrent(t *testing.T) {
	k := mustKernel(t, "Dropout", 13, map[string]graph.Attr{"seed": intAttr(1)}, []string{"x", "r", "t"}, "y", "mask")
	x := tensor.New(tensor.Float32, 1000)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, err := k.Run(&graph.Context{Training: true}, []*tensor.Tensor{x, tensor.Scalar(float32(0.5)), tensor.Scalar(true)}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}
