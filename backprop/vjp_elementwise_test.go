package backprop_test

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/onnxtune/onnxtune/backprop"
	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/tensor"
)

// The test harness of the element-wise, activation, reduce, matmul and loss VJPs. Each case is
// one node; egRun checks it twice:
//
//   - against central finite differences (backprop.Check), in float64 where the forward kernel
//     takes it, on inputs kept away from the kinks;
//   - against PyTorch autograd, in float32: the case's torch expression, over the same inputs
//     (kinks and ties included), is seeded with the same output gradient and its input
//     gradients compared with ours within 1e-5 relative.

// egTies returns a copy of x with every other element replaced by a fresh random one: the
// rest tie with x exactly.
func egTies(r *rand.Rand, x *tensor.Tensor) *tensor.Tensor {
	y := x.Clone()
	d := y.Float32s()
	for i := 0; i < len(d); i += 2 {
		d[i] = float32(r.Float64()*2 - 1)
	}
	return y
}

func TestElementwiseVJP(t *testing.T) {
	r := egRng(1)
	tieA := egUniform(r, -1, 1, 2, 3)
	tieB := egTies(r, tieA)
	tieC := egTies(r, tieA)
	cases := []egCase{
		{name: "Add/broadcast", op: "Add", in: []*tensor.Tensor{egUniform(r, -1, 1, 2, 3, 4), egUniform(r, -1, 1, 3, 1)}, wrt: []int{0, 1}, torch: "x[0] + x[1]"},
		{name: "Add/both-broadcast", op: "Add", in: []*tensor.Tensor{egUniform(r, -1, 1, 2, 1, 4), egUniform(r, -1, 1, 3, 1)}, wrt: []int{0, 1}, init: []int{1}, torch: "x[0] + x[1]"},
		{name: "Add/legacy-axis", op: "Add", opset: 6, attrs: egAttrs("broadcast", egInt(1), "axis", egInt(1)),
			in: []*tensor.Tensor{egUniform(r, -1, 1, 2, 3, 4), egUniform(r, -1, 1, 3)}, wrt: []int{0, 1}, torch: "x[0] + x[1].reshape(3, 1)"},
		{name: "Sub/broadcast", op: "Sub", in: []*tensor.Tensor{egUniform(r, -1, 1, 2, 3, 1), egUniform(r, -1, 1, 4)}, wrt: []int{0, 1}, torch: "x[0] - x[1]"},
		{name: "Sub/same", op: "Sub", in: []*tensor.Tensor{egUniform(r, -1, 1, 3, 4), egUniform(r, -1, 1, 3, 4)}, wrt: []int{0, 1}, torch: "x[0] - x[1]"},
		{name: "Sub/legacy-trailing", op: "Sub", opset: 1, attrs: egAttrs("broadcast", egInt(1)),
			in: []*tensor.Tensor{egUniform(r, -1, 1, 2, 3, 4), egUniform(r, -1, 1, 3, 4)}, wrt: []int{0, 1}, torch: "x[0] - x[1]"},
		{name: "Mul/broadcast", op: "Mul", in: []*tensor.Tensor{egUniform(r, -1, 1, 2, 1, 4), egUniform(r, -1, 1, 3, 1)}, wrt: []int{0, 1}, torch: "x[0] * x[1]"},
		{name: "Mul/channel-scale", op: "Mul", in: []*tensor.Tensor{egUniform(r, -1, 1, 2, 3, 2, 2), egUniform(r, -1, 1, 2, 3, 1, 1)}, wrt: []int{0, 1}, torch: "x[0] * x[1]"},
		{name: "Mul/scalar", op: "Mul", in: []*tensor.Tensor{egUniform(r, -1, 1), egUniform(r, -1, 1, 2, 3)}, wrt: []int{0, 1}, torch: "x[0] * x[1]"},
		{name: "Div/broadcast", op: "Div", in: []*tensor.Tensor{egUniform(r, -1, 1, 2, 3, 4), egAway(r, 0.5, 2, 4)}, wrt: []int{0, 1}, torch: "x[0] / x[1]"},
		{name: "Div/broadcast-a", op: "Div", in: []*tensor.Tensor{egUniform(r, -1, 1, 3, 1), egAway(r, 0.5, 2, 2, 3, 4)}, wrt: []int{0, 1}, torch: "x[0] / x[1]"},
		{name: "Pow/both", op: "Pow", in: []*tensor.Tensor{egUniform(r, 0.5, 2, 2, 3), egUniform(r, -2, 2, 3)}, wrt: []int{0, 1}, torch: "torch.pow(x[0], x[1])"},
		{name: "Pow/square", op: "Pow", in: []*tensor.Tensor{egUniform(r, -2, 2, 2, 3), egF32(nil, 2)}, wrt: []int{0}, torch: "torch.pow(x[0], x[1])"},
		{name: "Pow/int-exponent", op: "Pow", in: []*tensor.Tensor{egUniform(r, -2, 2, 2, 3), egI64(nil, 3)}, wrt: []int{0}, torch: "torch.pow(x[0], x[1])"},
		{name: "Pow/scalar-base", op: "Pow", in: []*tensor.Tensor{egUniform(r, 0.5, 2), egUniform(r, -2, 2, 2, 3)}, wrt: []int{0, 1}, torch: "torch.pow(x[0], x[1])"},
		{name: "Pow/zeros", op: "Pow", in: []*tensor.Tensor{egF32([]int{4}, 0, 0, 0, 2), egF32([]int{4}, 0, 2, 0.5, 0)}, wrt: []int{0, 1}, noFD: true, torch: "torch.pow(x[0], x[1])"},
		{name: "Max/2", op: "Max", in: []*tensor.Tensor{egUniform(r, -1, 1, 2, 3), egUniform(r, -1, 1, 3)}, wrt: []int{0, 1}, torch: "torch.maximum(x[0], x[1])"},
		{name: "Max/3", op: "Max", in: []*tensor.Tensor{egUniform(r, -1, 1, 2, 3), egUniform(r, -1, 1, 3), egUniform(r, -1, 1, 2, 1)}, wrt: []int{0, 1, 2}, torch: "torch.maximum(torch.maximum(x[0], x[1]), x[2])"},
		{name: "Max/opset6", op: "Max", opset: 6, in: []*tensor.Tensor{egUniform(r, -1, 1, 2, 3), egUniform(r, -1, 1, 2, 3)}, wrt: []int{0, 1}, torch: "torch.maximum(x[0], x[1])"},
		{name: "Max/ties", op: "Max", in: []*tensor.Tensor{tieA, tieB}, wrt: []int{0, 1}, noFD: true, torch: "torch.maximum(x[0], x[1])"},
		{name: "Max/ties-3", op: "Max", in: []*tensor.Tensor{tieA, tieB, tieC}, wrt: []int{0, 1, 2}, noFD: true, torch: "torch.stack(torch.broadcast_tensors(*x)).amax(0)"},
		{name: "Max/1", op: "Max", in: []*tensor.Tensor{egUniform(r, -1, 1, 2, 3)}, wrt: []int{0}, torch: "x[0] * 1"},
		{name: "Min/2", op: "Min", in: []*tensor.Tensor{egUniform(r, -1, 1, 2, 3), egUniform(r, -1, 1, 2, 1)}, wrt: []int{0, 1}, torch: "torch.minimum(x[0], x[1])"},
		{name: "Min/ties", op: "Min", in: []*tensor.Tensor{tieB, tieA}, wrt: []int{0, 1}, noFD: true, torch: "torch.minimum(x[0], x[1])"},
		{name: "Min/ties-3", op: "Min", in: []*tensor.Tensor{tieC, tieA, tieB}, wrt: []int{0, 1, 2}, noFD: true, torch: "torch.stack(torch.broadcast_tensors(*x)).amin(0)"},
		{name: "Sum/3", op: "Sum", in: []*tensor.Tensor{egUniform(r, -1, 1, 2, 3), egUniform(r, -1, 1, 3), egUniform(r, -1, 1, 2, 1)}, wrt: []int{0, 1, 2}, torch: "x[0] + x[1] + x[2]"},
		{name: "Sum/1", op: "Sum", in: []*tensor.Tensor{egUniform(r, -1, 1, 2, 3)}, wrt: []int{0}, torch: "x[0] * 1"},
		{name: "Mean/3", op: "Mean", in: []*tensor.Tensor{egUniform(r, -1, 1, 2, 3), egUniform(r, -1, 1, 3), egUniform(r, -1, 1, 2, 3)}, wrt: []int{0, 1, 2}, init: []int{2}, torch: "(x[0] + x[1] + x[2]) / 3"},
		{name: "Where", op: "Where", in: []*tensor.Tensor{tensor.From([]int{2, 3}, []bool{true, false, false, true, true, false}), egUniform(r, -1, 1, 2, 3), egUniform(r, -1, 1, 3)}, wrt: []int{1, 2}, torch: "torch.where(x[0], x[1], x[2])"},
		{name: "Where/broadcast-cond", op: "Where", in: []*tensor.Tensor{tensor.From([]int{3, 1}, []bool{true, false, true}), egUniform(r, -1, 1, 1, 4), egUniform(r, -1, 1, 2, 3, 4)}, wrt: []int{1, 2}, torch: "torch.where(x[0], x[1], x[2])"},
		{name: "Expand", op: "Expand", in: []*tensor.Tensor{egUniform(r, -1, 1, 3, 1), egI64([]int{3}, 2, 3, 4)}, wrt: []int{0}, torch: "x[0].expand(2, 3, 4)"},
		{name: "Expand/keep-dims", op: "Expand", in: []*tensor.Tensor{egUniform(r, -1, 1, 2, 3), egI64([]int{2}, 1, 3)}, wrt: []int{0}, init: []int{0}, torch: "x[0] * 1"},
		{name: "Sqrt", op: "Sqrt", in: []*tensor.Tensor{egUniform(r, 0.2, 2, 2, 3)}, wrt: []int{0}, torch: "torch.sqrt(x[0])"},
		{name: "Exp", op: "Exp", in: []*tensor.Tensor{egUniform(r, -2, 2, 2, 3)}, wrt: []int{0}, torch: "torch.exp(x[0])"},
		{name: "Log", op: "Log", in: []*tensor.Tensor{egUniform(r, 0.2, 2, 2, 3)}, wrt: []int{0}, torch: "torch.log(x[0])"},
		{name: "Neg", op: "Neg", in: []*tensor.Tensor{egUniform(r, -2, 2, 2, 3)}, wrt: []int{0}, torch: "-x[0]"},
		{name: "Abs", op: "Abs", in: []*tensor.Tensor{egAway(r, 0.1, 2, 2, 3)}, wrt: []int{0}, torch: "torch.abs(x[0])"},
		{name: "Abs/zero", op: "Abs", in: []*tensor.Tensor{egF32([]int{3}, -1, 0, 2)}, wrt: []int{0}, noFD: true, torch: "torch.abs(x[0])"},
		{name: "Erf", op: "Erf", in: []*tensor.Tensor{egUniform(r, -2, 2, 2, 3)}, wrt: []int{0}, torch: "torch.erf(x[0])"},
	}
	egRun(t, cases)
}

// TestEqualNotDifferentiable: no gradient flows through a comparison.
func TestEqualNotDifferentiable(t *testing.T) {
	r, ok := backprop.Lookup("Equal")
	if !ok || !r.NoGrad {
		t.Errorf("Equal: rule %+v, %v; want a NotDifferentiable declaration", r, ok)
	}
}

// egCase is one node to differentiate.
type egCase struct {
	name  string
	op    string
	opset int // 0: 13
	attrs map[string]graph.Attr
	// in holds the node's inputs, float32 for the float ones (nil: an omitted optional input).
	in []*tensor.Tensor
	// wrt lists the input positions differentiated; the other inputs are initializers of the
	// graph, as are those in init (so both kinds of value get checked).
	wrt, init []int
	outputs   int // 0: 1
	// torch is a Python expression over x (the list of inputs as torch tensors, those in wrt
	// requiring grad) giving the output, or a tuple of the outputs; "" skips the comparison.
	torch string
	// f32Only keeps the finite-difference check in float32 (kernels without float64); noFD
	// skips it (inputs on purpose at kinks or ties).
	f32Only, noFD bool
	samples       int // bounds the elements finite differences check per value; 0: all
}

// egRng returns the generator of one case's inputs.
func egRng(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0xe1e)) }

// egUniform returns a float32 tensor of uniform values in [lo, hi).
func egUniform(r *rand.Rand, lo, hi float64, shape ...int) *tensor.Tensor {
	d := make([]float32, tensor.Size(shape))
	for i := range d {
		d[i] = float32(lo + (hi-lo)*r.Float64())
	}
	return tensor.From(shape, d)
}

// egAway returns uniform values in [-hi, hi) with magnitude at least lo: away from kinks at 0.
func egAway(r *rand.Rand, lo, hi float64, shape ...int) *tensor.Tensor {
	d := make([]float32, tensor.Size(shape))
	for i := range d {
		v := lo + (hi-lo)*r.Float64()
		if r.IntN(2) == 0 {
			v = -v
		}
		d[i] = float32(v)
	}
	return tensor.From(shape, d)
}

// egF32 builds a float32 tensor from values.
func egF32(shape []int, v ...float64) *tensor.Tensor {
	d := make([]float32, len(v))
	for i, x := range v {
		d[i] = float32(x)
	}
	return tensor.From(shape, d)
}

func egI64(shape []int, v ...int64) *tensor.Tensor { return tensor.From(shape, v) }

func egInt(v int64) graph.Attr     { return graph.Attr{Type: graph.AttrInt, Int: v} }
func egFloat(v float32) graph.Attr { return graph.Attr{Type: graph.AttrFloat, Float: v} }
func egInts(v ...int64) graph.Attr { return graph.Attr{Type: graph.AttrInts, Ints: v} }
func egString(v string) graph.Attr { return graph.Attr{Type: graph.AttrString, String: v} }
func egAttrs(kv ...any) map[string]graph.Attr {
	m := map[string]graph.Attr{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1].(graph.Attr)
	}
	return m
}

// egAs returns t converted to dt if it is a float32 tensor, t itself otherwise.
func egAs(t *tensor.Tensor, dt tensor.DType) *tensor.Tensor {
	if t == nil || t.DType() != tensor.Float32 || dt == tensor.Float32 {
		return t
	}
	c, err := tensor.CastTensor(nil, t, dt)
	if err != nil {
		panic(err)
	}
	return c
}

// egPlan builds the case's one-node graph with float inputs of dtype dt, and returns the plan,
// the fed inputs and the names to differentiate.
func egPlan(t *testing.T, c egCase, dt tensor.DType) (*graph.Plan, map[string]*tensor.Tensor, []string) {
	t.Helper()
	opset := c.opset
	if opset == 0 {
		opset = 13
	}
	g := &graph.Graph{Initializers: map[string]*tensor.Tensor{}, Opsets: map[string]int{"": opset}}
	n := &graph.Node{Name: c.name, OpType: c.op, Attrs: c.attrs}
	feeds := map[string]*tensor.Tensor{}
	isWrt, isInit := map[int]bool{}, map[int]bool{}
	for _, j := range c.wrt {
		isWrt[j] = true
	}
	for _, j := range c.init {
		isInit[j] = true
	}
	var wrt []string
	for j, v := range c.in {
		if v == nil {
			n.Inputs = append(n.Inputs, "")
			continue
		}
		name := fmt.Sprintf("x%d", j)
		n.Inputs = append(n.Inputs, name)
		v = egAs(v.Clone(), dt)
		if isWrt[j] {
			wrt = append(wrt, name)
		}
		if isWrt[j] && !isInit[j] {
			g.Inputs = append(g.Inputs, graph.ValueInfo{Name: name, DType: v.DType()})
			feeds[name] = v
			continue
		}
		g.Initializers[name] = v
		g.InitializerNames = append(g.InitializerNames, name)
	}
	outs := max(c.outputs, 1)
	for k := range outs {
		name := fmt.Sprintf("y%d", k)
		n.Outputs = append(n.Outputs, name)
		g.Outputs = append(g.Outputs, graph.ValueInfo{Name: name})
	}
	g.Nodes = []*graph.Node{n}
	p, err := graph.NewPlan(g)
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	return p, feeds, wrt
}

// egRun checks every case against finite differences and, in one Python run, PyTorch.
func egRun(t *testing.T, cases []egCase) {
	t.Helper()
	for _, c := range cases {
		if c.noFD {
			continue
		}
		t.Run("fd/"+c.name, func(t *testing.T) {
			dt, tol := tensor.Float64, 1e-6
			if c.f32Only {
				dt, tol = tensor.Float32, 1e-2
			}
			p, feeds, wrt := egPlan(t, c, dt)
			res, err := backprop.Check(p, feeds, wrt, backprop.CheckOptions{Seed: 7, Samples: c.samples})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res {
				if !(r.RelErr <= tol) {
					t.Errorf("%s: gradient of %s differs from finite differences by %.3g relative (tolerance %g)", c.name, r.Name, r.RelErr, tol)
				}
			}
		})
	}
	egTorch(t, cases)
}

// egTensorJSON is a tensor as the Python side reads it.
type egTensorJSON struct {
	DType string    `json:"dtype"`
	Shape []int     `json:"shape"`
	Data  []float64 `json:"data"`
	Grad  bool      `json:"grad"`
}

func egToJSON(v *tensor.Tensor, grad bool) egTensorJSON {
	return egTensorJSON{DType: v.DType().String(), Shape: append([]int{}, v.Shape()...), Data: v.ToFloat64s(), Grad: grad}
}

// egPython evaluates each case's expression, seeds each output with the given gradient and
// prints the input gradients (null where none).
const egPython = `
import json, sys
import numpy as np
import torch
import torch.nn.functional as F

def tensor(t):
    a = torch.tensor(np.array(t["data"], dtype=t["dtype"]).reshape(t["shape"]))
    return a.requires_grad_(True) if t["grad"] else a

res = []
for c in json.load(open(sys.argv[1])):
    x = [tensor(t) if t is not None else None for t in c["inputs"]]
    y = eval(c["expr"], {"torch": torch, "F": F, "x": x})
    if not isinstance(y, (tuple, list)):
        y = (y,)
    total = sum((yi * tensor(s)).sum() for yi, s in zip(y, c["seeds"]))
    total.backward()
    res.append([None if a is None or a.grad is None else [v if np.isfinite(v) else str(v) for v in a.grad.double().flatten().tolist()] for a in x])
print(json.dumps(res))
`

// egTorch compares the float32 gradients of the cases that name a torch expression with
// PyTorch's.
func egTorch(t *testing.T, cases []egCase) {
	t.Helper()
	type job struct {
		Expr   string          `json:"expr"`
		Inputs []*egTensorJSON `json:"inputs"`
		Seeds  []egTensorJSON  `json:"seeds"`
	}
	var jobs []job
	var grads []map[string]*tensor.Tensor
	var used []egCase
	for i, c := range cases {
		if c.torch == "" {
			continue
		}
		p, feeds, wrt := egPlan(t, c, tensor.Float32)
		prog, err := backprop.NewProgram(p, wrt)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		tape, err := prog.Forward(nil, feeds)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		r := egRng(uint64(1000 + i))
		j := job{Expr: c.torch}
		seeds := map[string]*tensor.Tensor{}
		for k := range max(c.outputs, 1) {
			name := fmt.Sprintf("y%d", k)
			y := tape.Outputs()[name]
			s := egUniform(r, -1, 1, y.Shape()...)
			seeds[name] = s
			j.Seeds = append(j.Seeds, egToJSON(s, false))
		}
		g, err := tape.Backward(seeds)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		isWrt := map[int]bool{}
		for _, w := range c.wrt {
			isWrt[w] = true
		}
		for k, v := range c.in {
			if v == nil {
				j.Inputs = append(j.Inputs, nil)
				continue
			}
			tj := egToJSON(v, isWrt[k])
			j.Inputs = append(j.Inputs, &tj)
		}
		jobs = append(jobs, j)
		grads = append(grads, g)
		used = append(used, c)
	}
	if len(jobs) == 0 {
		return
	}
	blob, err := json.Marshal(jobs)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cases.json")
	if err := os.WriteFile(path, blob, 0o644); err != nil {
		t.Fatal(err)
	}
	out := fixture.RunPython(t, egPython, path)
	var want [][][]egNum
	if err := json.Unmarshal([]byte(out), &want); err != nil {
		t.Fatalf("python printed %q: %v", out, err)
	}
	if len(want) != len(used) {
		t.Fatalf("python answered %d cases, want %d", len(want), len(used))
	}
	for i, c := range used {
		for _, j := range c.wrt {
			name := fmt.Sprintf("x%d", j)
			got := grads[i][name]
			w := want[i][j]
			if w == nil {
				t.Errorf("torch/%s: PyTorch gave no gradient for %s", c.name, name)
				continue
			}
			if got == nil || got.Len() != len(w) || got.DType() != c.in[j].DType() || !tensor.EqualShapes(got.Shape(), c.in[j].Shape()) {
				t.Errorf("torch/%s: gradient of %s is %v, want %d elements of %v", c.name, name, got, len(w), c.in[j])
				continue
			}
			if msg := egCompare(got, w, 1e-5); msg != "" {
				t.Errorf("torch/%s: gradient of %s: %s", c.name, name, msg)
			}
		}
	}
}

// egNum is a number Python printed: a JSON number, or "inf", "-inf" or "nan" as a string.
type egNum float64

func (n *egNum) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		f, err := strconv.ParseFloat(s, 64)
		*n = egNum(f)
		return err
	}
	var f float64
	err := json.Unmarshal(b, &f)
	*n = egNum(f)
	return err
}

// egCompare checks got against want element by element within tol relative to the element,
// with a floor at tol times a tenth of the largest |want|: a sum that cancels to near zero
// carries the rounding of its terms, and PyTorch accumulates in float32 where onnxtune uses
// float64. It returns "" or a description of the first differences.
func egCompare(got *tensor.Tensor, want []egNum, tol float64) string {
	var scale float64
	for _, v := range want {
		if !math.IsInf(float64(v), 0) {
			scale = math.Max(scale, math.Abs(float64(v)))
		}
	}
	var bad []string
	for i, wn := range want {
		g, w := got.Float64At(i), float64(wn)
		if g == w || math.IsNaN(w) && math.IsNaN(g) {
			continue
		}
		if !(math.Abs(g-w) <= tol*math.Max(math.Abs(w), 0.1*scale)) {
			bad = append(bad, fmt.Sprintf("[%d] got %.9g, want %.9g", i, g, w))
		}
	}
	if len(bad) == 0 {
		return ""
	}
	if len(bad) > 5 {
		bad = append(bad[:5], fmt.Sprintf("and %d more", len(bad)-5))
	}
	return strings.Join(bad, "; ")
}

// TestFamiliesDeclared: every operator of the element-wise, activation, reduce, matmul and loss
// families has a rule.
func TestFamiliesDeclared(t *testing.T) {
	for _, op := range []string{"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "Where",
		"Expand", "Sqrt", "Exp", "Log", "Neg", "Abs", "Erf", "Relu", "LeakyRelu", "PRelu", "Elu", "Selu",
		"Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Softplus", "Clip", "Softmax", "LogSoftmax",
		"ReduceMean", "ReduceSum", "Gemm", "MatMul", "SoftmaxCrossEntropyLoss", "NegativeLogLikelihoodLoss"} {
		if r, ok := backprop.Lookup(op); !ok || r.VJP == nil {
			t.Errorf("%s has no VJP", op)
		}
	}
}

// TestHalfPrecisionVJP: float16 and bfloat16 values are differentiated in float32 and their
// gradients come back in their own dtype, close to the float32 ones.
func TestHalfPrecisionVJP(t *testing.T) {
	r := egRng(9)
	cases := []egCase{
		{name: "Mul", op: "Mul", in: []*tensor.Tensor{egUniform(r, -1, 1, 2, 3), egUniform(r, -1, 1, 3)}, wrt: []int{0, 1}},
		{name: "Sigmoid", op: "Sigmoid", in: []*tensor.Tensor{egUniform(r, -2, 2, 2, 3)}, wrt: []int{0}},
		{name: "PRelu", op: "PRelu", in: []*tensor.Tensor{egAway(r, 0.1, 2, 2, 3), egUniform(r, 0, 0.5, 3)}, wrt: []int{0, 1}},
		{name: "ReduceMean", op: "ReduceMean", attrs: egAttrs("axes", egInts(1)), in: []*tensor.Tensor{egUniform(r, -1, 1, 2, 3)}, wrt: []int{0}},
		{name: "Max", op: "Max", in: []*tensor.Tensor{egUniform(r, -1, 1, 2, 3), egUniform(r, -1, 1, 2, 1)}, wrt: []int{0, 1}},
	}
	grads := func(c egCase, dt tensor.DType) map[string]*tensor.Tensor {
		p, feeds, wrt := egPlan(t, c, dt)
		prog, err := backprop.NewProgram(p, wrt)
		if err != nil {
			t.Fatal(err)
		}
		tape, err := prog.Forward(nil, feeds)
		if err != nil {
			t.Fatal(err)
		}
		y := tape.Outputs()["y0"]
		seed := tensor.New(dt, y.Shape()...)
		for i := range y.Len() {
			v := float32(i%3) - 1
			switch d := seed.Data().(type) {
			case []float32:
				d[i] = v
			case []uint16:
				if dt == tensor.BFloat16 {
					d[i] = tensor.Float32ToBFloat16(v)
				} else {
					d[i] = tensor.Float32ToFloat16(v)
				}
			}
		}
		g, err := tape.Backward(map[string]*tensor.Tensor{"y0": seed})
		if err != nil {
			t.Fatalf("%s %v: %v", c.name, dt, err)
		}
		return g
	}
	for _, c := range cases {
		want := grads(c, tensor.Float32)
		for _, dt := range []tensor.DType{tensor.Float16, tensor.BFloat16} {
			for name, g := range grads(c, dt) {
				w := want[name]
				if g.DType() != dt || !tensor.EqualShapes(g.Shape(), w.Shape()) {
					t.Errorf("%s %v: gradient of %s is %v, want %v of shape %v", c.name, dt, name, g, dt, w.Shape())
					continue
				}
				for i := range g.Len() {
					// Inputs, outputs and gradients are all rounded to 8 (bfloat16) bits.
					if d := math.Abs(g.Float64At(i) - w.Float64At(i)); !(d <= 0.02*math.Max(1, math.Abs(w.Float64At(i)))) {
						t.Errorf("%s %v: gradient of %s [%d]: got %v, float32 %v", c.name, dt, name, i, g.Float64At(i), w.Float64At(i))
					}
				}
			}
		}
	}
}
