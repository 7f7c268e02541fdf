package graph_test

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/tensor"
)

// ewKernel builds the kernel of a one-node graph: op at opset with the given attributes and
// inputs named x0, x1, ... (an empty name for each nil in omitted).
func ewKernel(t *testing.T, op string, opset int, attrs map[string]graph.Attr, inputs int, omitted ...int) (graph.Kernel, error) {
	t.Helper()
	n := &graph.Node{Name: "n_" + op, OpType: op, Outputs: []string{"y"}, Attrs: attrs}
	for i := 0; i < inputs; i++ {
		n.Inputs = append(n.Inputs, fmt.Sprintf("x%d", i))
	}
	for _, i := range omitted {
		n.Inputs[i] = ""
	}
	def, ok := graph.Lookup("", op, opset)
	if !ok {
		t.Fatalf("%s has no definition at opset %d", op, opset)
	}
	return def.Build(n, opset)
}

// ewRun builds and runs one node; a nil input is an omitted optional one.
func ewRun(t *testing.T, op string, opset int, attrs map[string]graph.Attr, in ...*tensor.Tensor) (*tensor.Tensor, error) {
	t.Helper()
	var omitted []int
	for i, x := range in {
		if x == nil {
			omitted = append(omitted, i)
		}
	}
	k, err := ewKernel(t, op, opset, attrs, len(in), omitted...)
	if err != nil {
		return nil, err
	}
	out, err := k.Run(&graph.Context{}, in)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

func ewF32(shape []int, v []float64) *tensor.Tensor {
	s := make([]float32, len(v))
	for i, x := range v {
		s[i] = float32(x)
	}
	return tensor.From(shape, s)
}

func ewArange(shape []int, scale, offset float64) []float64 {
	v := make([]float64, tensor.Size(shape))
	for i := range v {
		v[i] = float64(i)*scale + offset
	}
	return v
}

func ewInt(v int64) graph.Attr     { return graph.Attr{Type: graph.AttrInt, Int: v} }
func ewFloat(v float32) graph.Attr { return graph.Attr{Type: graph.AttrFloat, Float: v} }
func ewInts(v ...int64) graph.Attr { return graph.Attr{Type: graph.AttrInts, Ints: v} }
func ewAttrs(kv ...any) map[string]graph.Attr {
	m := map[string]graph.Attr{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1].(graph.Attr)
	}
	return m
}

// ewClose compares a float tensor with reference values.
func ewClose(t *testing.T, name string, got *tensor.Tensor, wantShape []int, want []float64, tol float64) {
	t.Helper()
	if !tensor.EqualShapes(got.Shape(), wantShape) {
		t.Fatalf("%s: got shape %v, want %v", name, got.Shape(), wantShape)
	}
	for i, w := range want {
		if g := got.Float64At(i); math.Abs(g-w) > tol*math.Max(1, math.Abs(w)) {
			t.Fatalf("%s: element %d: got %v, want %v", name, i, g, w)
		}
	}
}

// ewNumpyRef is the reference for TestLegacyAndCoercedSemantics: the pre-opset-7 broadcast
// rules and the pre-opset-13 Softmax, spelt out with numpy reshapes, and Softmax 13 by torch.
const ewNumpyRef = `
import json, numpy as np, torch
a = np.arange(2*3*4*5, dtype=np.float32).reshape(2, 3, 4, 5) * 0.25 - 7
b = np.arange(3*4, dtype=np.float32).reshape(3, 4) * 0.5 + 1
x = np.arange(2*3*4, dtype=np.float32).reshape(2, 3, 4) * 0.3 - 3
def softmax_rows(m):
    e = np.exp(m - m.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)
print(json.dumps({
    "add_axis1": (a + b.reshape(1, 3, 4, 1)).flatten().tolist(),
    "sub_trailing": (a - np.arange(5, dtype=np.float32) * 2).flatten().tolist(),
    "softmax1_axis1": softmax_rows(x.reshape(2, 12)).flatten().tolist(),
    "logsoftmax1_axis2": np.log(softmax_rows(x.reshape(6, 4))).flatten().tolist(),
    "softmax13_axis1": torch.softmax(torch.from_numpy(x), 1).flatten().tolist(),
}))
`

// TestLegacyAndCoercedSemantics covers what the ONNX suite has no node test for: Add with the
// opset-1 `broadcast`/`axis` attributes, and Softmax's 2-D coercion before opset 13 against
// its per-axis meaning from 13 on.
func TestLegacyAndCoercedSemantics(t *testing.T) {
	var ref map[string][]float64
	if err := json.Unmarshal([]byte(fixture.RunPython(t, ewNumpyRef)), &ref); err != nil {
		t.Fatal(err)
	}
	a := ewF32([]int{2, 3, 4, 5}, ewArange([]int{2, 3, 4, 5}, 0.25, -7))
	b := ewF32([]int{3, 4}, ewArange([]int{3, 4}, 0.5, 1))
	got, err := ewRun(t, "Add", 6, ewAttrs("broadcast", ewInt(1), "axis", ewInt(1)), a, b)
	if err != nil {
		t.Fatal(err)
	}
	ewClose(t, "Add-6 axis 1", got, a.Shape(), ref["add_axis1"], 1e-6)
	got, err = ewRun(t, "Sub", 6, ewAttrs("broadcast", ewInt(1)), a, ewF32([]int{5}, ewArange([]int{5}, 2, 0)))
	if err != nil {
		t.Fatal(err)
	}
	ewClose(t, "Sub-6 trailing", got, a.Shape(), ref["sub_trailing"], 1e-6)

	// Shapes that differ without broadcast=1, or a B that would grow A, are errors.
	if _, err := ewRun(t, "Add", 6, nil, a, b); err == nil || !strings.Contains(err.Error(), "broadcast attribute is 0") {
		t.Errorf("Add-6 of %v and %v without broadcast: got %v, want an error", a, b, err)
	}
	if _, err := ewRun(t, "Mul", 1, ewAttrs("broadcast", ewInt(1), "axis", ewInt(3)), a, b); err == nil {
		t.Errorf("Mul-1 with B %v at axis 3 of %v: no error", b, a)
	}

	x := ewF32([]int{2, 3, 4}, ewArange([]int{2, 3, 4}, 0.3, -3))
	got, err = ewRun(t, "Softmax", 11, ewAttrs("axis", ewInt(1)), x)
	if err != nil {
		t.Fatal(err)
	}
	ewClose(t, "Softmax-11 axis 1", got, x.Shape(), ref["softmax1_axis1"], 1e-6)
	got, err = ewRun(t, "LogSoftmax", 1, ewAttrs("axis", ewInt(2)), x)
	if err != nil {
		t.Fatal(err)
	}
	ewClose(t, "LogSoftmax-1 axis 2", got, x.Shape(), ref["logsoftmax1_axis2"], 1e-5)
	got, err = ewRun(t, "Softmax", 13, ewAttrs("axis", ewInt(1)), x)
	if err != nil {
		t.Fatal(err)
	}
	ewClose(t, "Softmax-13 axis 1", got, x.Shape(), ref["softmax13_axis1"], 1e-6)
}

// ewHalfRef computes each op in float32 from float16 inputs and rounds the result to
// float16, what ONNX Runtime's float16 kernels do on CPU.
const ewHalfRef = `
import json, numpy as np
x = (np.arange(24, dtype=np.float32).reshape(2, 3, 4) * 0.37 - 4).astype(np.float16)
y = (np.arange(4, dtype=np.float32) * 1.5 - 2).astype(np.float16)
f = x.astype(np.float32)
e = np.exp(f - f.max(axis=-1, keepdims=True))
out = {
    "add": (f + y.astype(np.float32)).astype(np.float16),
    "sigmoid": (1 / (1 + np.exp(-f))).astype(np.float16),
    "softmax": (e / e.sum(axis=-1, keepdims=True)).astype(np.float16),
    "reducemean": f.mean(axis=(0, 2)).astype(np.float16),
    "clip": np.clip(f, -1, 2).astype(np.float16),
}
print(json.dumps({k: v.view(np.uint16).flatten().tolist() for k, v in out.items()} |
    {"x": x.view(np.uint16).flatten().tolist(), "y": y.view(np.uint16).flatten().tolist()}))
`

// TestFloat16 runs a few ops on float16 tensors, which go through float32.
func TestFloat16(t *testing.T) {
	var ref map[string][]uint16
	if err := json.Unmarshal([]byte(fixture.RunPython(t, ewHalfRef)), &ref); err != nil {
		t.Fatal(err)
	}
	x := tensor.FromBits(tensor.Float16, []int{2, 3, 4}, ref["x"])
	y := tensor.FromBits(tensor.Float16, []int{4}, ref["y"])
	lo := tensor.FromBits(tensor.Float16, nil, []uint16{tensor.Float32ToFloat16(-1)})
	hi := tensor.FromBits(tensor.Float16, nil, []uint16{tensor.Float32ToFloat16(2)})
	for _, c := range []struct {
		name  string
		op    string
		opset int
		attrs map[string]graph.Attr
		in    []*tensor.Tensor
	}{
		{"add", "Add", 14, nil, []*tensor.Tensor{x, y}},
		{"sigmoid", "Sigmoid", 13, nil, []*tensor.Tensor{x}},
		{"softmax", "Softmax", 13, nil, []*tensor.Tensor{x}},
		{"reducemean", "ReduceMean", 13, ewAttrs("axes", ewInts(0, -1), "keepdims", ewInt(0)), []*tensor.Tensor{x}},
		{"clip", "Clip", 13, nil, []*tensor.Tensor{x, lo, hi}},
	} {
		got, err := ewRun(t, c.op, c.opset, c.attrs, c.in...)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got.DType() != tensor.Float16 {
			t.Fatalf("%s: got %v, want float16", c.name, got)
		}
		for i, w := range ref[c.name] {
			g := tensor.Data[uint16](got)[i]
			// One unit in the last place: numpy's float32 exp is not Go's float64 one.
			if d := int(g) - int(w); d > 1 || d < -1 {
				t.Errorf("%s: element %d: got %v, want %v", c.name, i, tensor.Float16ToFloat32(g), tensor.Float16ToFloat32(w))
			}
		}
	}
}

// TestIntegerOps checks the integer paths ONNX allows against numpy.
func TestIntegerOps(t *testing.T) {
	out := fixture.RunPython(t, `
import json, numpy as np
x = np.array([[-7, -3, 0], [2, 5, 120]], dtype=np.int8)
d = np.array([2, -3, 4], dtype=np.int8)
print(json.dumps({k: v.flatten().tolist() for k, v in {
    "div": np.trunc(x.astype(np.float64) / d).astype(np.int8),
    "clip": np.clip(x, -4, None),
    "relu": np.maximum(x, 0),
    "abs": np.abs(x),
    "max": np.maximum(x, d),
    "sum": x.sum(axis=1, dtype=np.int8),
}.items()}))
`)
	var want map[string][]int64
	if err := json.Unmarshal([]byte(out), &want); err != nil {
		t.Fatal(err)
	}
	x := tensor.From([]int{2, 3}, []int8{-7, -3, 0, 2, 5, 120})
	d := tensor.From([]int{3}, []int8{2, -3, 4})
	check := func(name string, got *tensor.Tensor, err error, w []int64) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got.DType() != tensor.Int8 {
			t.Fatalf("%s: got %v, want int8", name, got)
		}
		for i, v := range w {
			if got.Int64At(i) != v {
				t.Fatalf("%s: element %d: got %d, want %d", name, i, got.Int64At(i), v)
			}
		}
	}
	got, err := ewRun(t, "Div", 14, nil, x, d)
	check("div", got, err, want["div"])
	got, err = ewRun(t, "Clip", 13, nil, x, tensor.Scalar[int8](-4), nil)
	check("clip", got, err, want["clip"])
	got, err = ewRun(t, "Relu", 14, nil, x)
	check("relu", got, err, want["relu"])
	got, err = ewRun(t, "Abs", 13, nil, x)
	check("abs", got, err, want["abs"])
	got, err = ewRun(t, "Max", 13, nil, x, d)
	check("max", got, err, want["max"])
	got, err = ewRun(t, "ReduceSum", 13, ewAttrs("keepdims", ewInt(0)), x, tensor.From([]int{1}, []int64{1}))
	check("sum", got, err, want["sum"])
}

// TestErrorsNotPanics feeds kernels inputs they must refuse, and checks the refusal is an
// error that says what was wrong.
func TestErrorsNotPanics(t *testing.T) {
	f := func(shape ...int) *tensor.Tensor { return tensor.New(tensor.Float32, shape...) }
	for _, c := range []struct {
		op    string
		opset int
		attrs map[string]graph.Attr
		in    []*tensor.Tensor
		want  string
	}{
		{"Div", 14, nil, []*tensor.Tensor{tensor.From([]int{2}, []int32{1, 2}), tensor.From([]int{2}, []int32{1, 0})}, "division by zero"},
		{"Add", 14, nil, []*tensor.Tensor{f(2, 3), f(3, 2)}, "do not broadcast"},
		{"Add", 14, nil, []*tensor.Tensor{f(2), tensor.New(tensor.Float64, 2)}, "dtypes must match"},
		{"Pow", 7, nil, []*tensor.Tensor{f(2), tensor.New(tensor.Int64, 2)}, "dtypes must match"},
		{"Max", 6, nil, []*tensor.Tensor{f(2, 3), f(3)}, "shapes must match"},
		{"Mean", 13, nil, []*tensor.Tensor{tensor.New(tensor.Int32, 2)}, "floating-point"},
		{"Where", 16, nil, []*tensor.Tensor{f(2), f(2), f(2)}, "want bool"},
		{"Expand", 13, nil, []*tensor.Tensor{f(2, 3), tensor.From([]int{2}, []int64{4, 3})}, "do not broadcast"},
		{"Expand", 13, nil, []*tensor.Tensor{f(3), tensor.From([]int{1}, []int64{-1})}, "negative"},
		{"PRelu", 16, nil, []*tensor.Tensor{f(2, 3, 4, 5), f(3)}, "does not broadcast"},
		{"Sigmoid", 13, nil, []*tensor.Tensor{tensor.New(tensor.Int64, 2)}, "not defined on int64"},
		{"Tanh", 13, nil, []*tensor.Tensor{tensor.New(tensor.Bool, 2)}, "floating-point"},
		{"Softmax", 13, ewAttrs("axis", ewInt(3)), []*tensor.Tensor{f(2, 3)}, "out of range"},
		{"Clip", 11, nil, []*tensor.Tensor{tensor.New(tensor.Int32, 2), nil, nil}, "from opset 12"},
		{"Clip", 13, nil, []*tensor.Tensor{f(2), f(2), nil}, "one float32 element"},
		{"ReduceMean", 13, ewAttrs("axes", ewInts(1, -1)), []*tensor.Tensor{f(2, 3)}, "given twice"},
		{"ReduceSum", 13, nil, []*tensor.Tensor{f(2, 3), tensor.From([]int{1}, []int64{2})}, "out of range"},
	} {
		got, err := ewRun(t, c.op, c.opset, c.attrs, c.in...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s-%d on %v: got %v (%v), want an error saying %q", c.op, c.opset, c.in, got, err, c.want)
		}
	}
}

// TestBuildErrorsNameTheNode: attribute and arity problems are found when the plan is built,
// and the message names the node.
func TestBuildErrorsNameTheNode(t *testing.T) {
	for _, c := range []struct {
		op     string
		opset  int
		attrs  map[string]graph.Attr
		inputs int
	}{
		{"LeakyRelu", 16, ewAttrs("alpha", ewInt(1)), 1},
		{"Softmax", 13, ewAttrs("axis", ewFloat(1)), 1},
		{"ReduceSum", 11, ewAttrs("axes", ewInt(1)), 1},
		{"Add", 14, nil, 3},
		{"Where", 16, nil, 2},
	} {
		_, err := ewKernel(t, c.op, c.opset, c.attrs, c.inputs)
		if err == nil || !strings.Contains(err.Error(), `"n_`+c.op+`"`) {
			t.Errorf("%s: got %v, want an error naming node n_%s", c.op, err, c.op)
		}
	}
}

// TestConcurrentRuns runs one kernel from several goroutines at once, as concurrent plan
// runs do; under -race this checks that Run keeps no state.
func TestConcurrentRuns(t *testing.T) {
	shape := []int{4, 8, 30, 30} // large enough for the parallel path
	a := ewF32(shape, ewArange(shape, 0.001, -10))
	b := ewF32([]int{8, 1, 1}, ewArange([]int{8, 1, 1}, 1, 0))
	k, err := ewKernel(t, "Add", 14, nil, 2)
	if err != nil {
		t.Fatal(err)
	}
	want, err := k.Run(nil, []*tensor.Tensor{a, b})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := k.Run(nil, []*tensor.Tensor{a, b})
			if err != nil {
				t.Error(err)
				return
			}
			for i, v := range got[0].Float32s() {
				if v != want[0].Float32s()[i] {
					t.Errorf("element %d: got %v, want %v", i, v, want[0].Float32s()[i])
					return
				}
			}
		}()
	}
	wg.Wait()
}
