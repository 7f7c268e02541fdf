package backprop_test

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/onnxtune/onnxtune/backprop"
	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/tensor"
)

// The conv, pool and norm VJP tests share the helpers below (prefixed cpn): a case is one
// node with its inputs, checked against central finite differences (backprop.Check) and,
// where PyTorch has the operator, against torch.autograd on the same values.

// cpnVal is one input of a case's node: a graph input, or an initializer (init). A value
// with an empty name is an omitted optional input.
type cpnVal struct {
	name  string
	shape []int
	data  []float64
	init  bool
}

// cpnCase is a one-node graph with output Y and the values to differentiate.
type cpnCase struct {
	name  string
	op    string
	opset int
	attrs map[string]any
	in    []cpnVal
	outs  []string // the node's outputs; nil means ["Y"]. Only the first is a graph output.
	wrt   []string
	// torch is a Python expression for Y over T[name] (torch.float32 tensors) and F
	// (torch.nn.functional); empty where PyTorch has no counterpart.
	torch string
	// training runs the forward pass of the PyTorch comparison with Context.Training.
	training bool
	// noFD skips the finite-difference check (ties, where the gradient is one-sided).
	noFD bool
}

// cpnRand returns a value of normal random elements times scale plus shift.
func cpnRand(rng *rand.Rand, name string, init bool, scale, shift float64, shape ...int) cpnVal {
	v := cpnVal{name: name, shape: shape, init: init, data: make([]float64, tensor.Size(shape))}
	for i := range v.data {
		v.data[i] = rng.NormFloat64()*scale + shift
	}
	return v
}

func cpnAttrs(t *testing.T, m map[string]any) map[string]graph.Attr {
	out := map[string]graph.Attr{}
	for k, v := range m {
		switch v := v.(type) {
		case int:
			out[k] = graph.Attr{Type: graph.AttrInt, Int: int64(v)}
		case float64:
			out[k] = graph.Attr{Type: graph.AttrFloat, Float: float32(v)}
		case string:
			out[k] = graph.Attr{Type: graph.AttrString, String: v}
		case []int:
			ints := make([]int64, len(v))
			for i, x := range v {
				ints[i] = int64(x)
			}
			out[k] = graph.Attr{Type: graph.AttrInts, Ints: ints}
		default:
			t.Fatalf("attribute %s: unsupported %T", k, v)
		}
	}
	return out
}

// build returns the case's plan in dtype dt and the fed inputs.
func (c cpnCase) build(t *testing.T, dt tensor.DType) (*graph.Plan, map[string]*tensor.Tensor) {
	t.Helper()
	opset := c.opset
	if opset == 0 {
		opset = 13
	}
	outs := c.outs
	if outs == nil {
		outs = []string{"Y"}
	}
	g := &graph.Graph{
		Name:         c.name,
		Outputs:      []graph.ValueInfo{{Name: outs[0], DType: dt}},
		Initializers: map[string]*tensor.Tensor{},
		Nodes:        []*graph.Node{{Name: c.name, OpType: c.op, Outputs: outs, Attrs: cpnAttrs(t, c.attrs)}},
		Opsets:       map[string]int{"": opset},
	}
	feeds := map[string]*tensor.Tensor{}
	for _, v := range c.in {
		g.Nodes[0].Inputs = append(g.Nodes[0].Inputs, v.name)
		if v.name == "" {
			continue
		}
		x := tensor.FromFloat64s(dt, v.shape, v.data)
		if v.init {
			g.Initializers[v.name] = x
			g.InitializerNames = append(g.InitializerNames, v.name)
		} else {
			g.Inputs = append(g.Inputs, graph.ValueInfo{Name: v.name, DType: dt})
			feeds[v.name] = x
		}
	}
	plan, err := graph.NewPlan(g)
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	return plan, feeds
}

// cpnFD checks every case's gradients against central differences in dtype dt; tol bounds
// the relative error, eps is Check's step (0: its default), samples the elements per value.
func cpnFD(t *testing.T, cases []cpnCase, dt tensor.DType, eps, tol float64, samples int) {
	for _, c := range cases {
		if c.noFD {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			plan, feeds := c.build(t, dt)
			res, err := backprop.Check(plan, feeds, c.wrt, backprop.CheckOptions{Eps: eps, Samples: samples, Seed: 7})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res {
				if !(r.RelErr <= tol) {
					t.Errorf("%s: relative error %.3g over %d elements, want <= %g", r.Name, r.RelErr, r.Checked, tol)
				}
			}
		})
	}
}

// cpnTorchScript evaluates each case's expression with torch.autograd: it saves Y and, for
// the seed gradient of Y, the gradient of every value differentiated.
const cpnTorchScript = `
import sys, os, json
import numpy as np
import torch
import torch.nn.functional as F
root = sys.argv[1]
for c in json.load(open(os.path.join(root, 'cases.json'))):
    d = os.path.join(root, c['dir'])
    T = {}
    for n in c['values']:
        T[n] = torch.tensor(np.load(os.path.join(d, n + '.npy')), requires_grad=n in c['wrt'])
    y = eval(c['torch'], {'F': F, 'torch': torch, 'T': T})
    seed = torch.tensor(np.load(os.path.join(d, 'seed.npy')))
    (y * seed).sum().backward()
    np.save(os.path.join(d, 'y.npy'), y.detach().numpy())
    for n in c['wrt']:
        np.save(os.path.join(d, 'grad_' + n + '.npy'), T[n].grad.numpy())
`

// cpnTorch runs the cases with a torch expression in float32, here with the reverse walk
// and in PyTorch with autograd (one Python process for all), and compares Y and each
// gradient: the largest difference must stay within tol of the largest magnitude.
func cpnTorch(t *testing.T, cases []cpnCase, tol float64) {
	t.Helper()
	root := t.TempDir()
	type job struct {
		Dir    string   `json:"dir"`
		Values []string `json:"values"`
		Wrt    []string `json:"wrt"`
		Torch  string   `json:"torch"`
	}
	type result struct {
		c     cpnCase
		y     *tensor.Tensor
		grads map[string]*tensor.Tensor
	}
	var jobs []job
	var results []result
	rng := rand.New(rand.NewPCG(11, 12))
	for i, c := range cases {
		if c.torch == "" {
			continue
		}
		plan, feeds := c.build(t, tensor.Float32)
		prog, err := backprop.NewProgram(plan, c.wrt)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		tape, err := prog.Forward(&graph.Context{Training: c.training}, feeds)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		yName := plan.Graph.Outputs[0].Name
		y := tape.Outputs()[yName]
		seed := tensor.New(tensor.Float32, y.Shape()...)
		for j := range seed.Float32s() {
			seed.Float32s()[j] = float32(rng.NormFloat64())
		}
		grads, err := tape.Backward(map[string]*tensor.Tensor{yName: seed})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		j := job{Dir: fmt.Sprintf("case%d", i), Wrt: c.wrt, Torch: c.torch}
		dir := filepath.Join(root, j.Dir)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		save := func(name string, x *tensor.Tensor) {
			if err := data.SaveNPY(filepath.Join(dir, name+".npy"), x); err != nil {
				t.Fatal(err)
			}
		}
		for _, v := range c.in {
			if v.name == "" {
				continue
			}
			j.Values = append(j.Values, v.name)
			save(v.name, tensor.FromFloat64s(tensor.Float32, v.shape, v.data))
		}
		save("seed", seed)
		jobs = append(jobs, j)
		results = append(results, result{c, y, grads})
	}
	raw, err := json.Marshal(jobs)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "cases.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	fixture.RunPython(t, cpnTorchScript, root)
	for k, r := range results {
		dir := filepath.Join(root, jobs[k].Dir)
		load := func(name string) *tensor.Tensor {
			x, err := data.LoadNPY(filepath.Join(dir, name+".npy"))
			if err != nil {
				t.Fatalf("%s: %v", r.c.name, err)
			}
			return x
		}
		cpnCompare(t, r.c.name+": Y", r.y, load("y"), tol)
		for _, name := range r.c.wrt {
			cpnCompare(t, r.c.name+": gradient of "+name, r.grads[name], load("grad_"+name), tol)
		}
	}
}

// cpnCompare fails unless got and want have one shape and max |got - want| <= tol *
// max |want| (or tol when want is all zeros).
func cpnCompare(t *testing.T, what string, got, want *tensor.Tensor, tol float64) {
	t.Helper()
	if got == nil {
		t.Errorf("%s: got no gradient", what)
		return
	}
	if !tensor.EqualShapes(got.Shape(), want.Shape()) {
		t.Errorf("%s: got shape %v, want %v", what, got.Shape(), want.Shape())
		return
	}
	var diff, scale float64
	at := 0
	for i := range got.Len() {
		g, w := got.Float64At(i), want.Float64At(i)
		if d := math.Abs(g - w); d > diff || math.IsNaN(d) {
			diff, at = d, i
		}
		scale = math.Max(scale, math.Abs(w))
	}
	if !(diff <= tol*math.Max(scale, 1e-30)) && !(scale == 0 && diff <= tol) {
		t.Errorf("%s: element %d: got %v, want %v (largest difference %.3g, largest magnitude %.3g)",
			what, at, got.Float64At(at), want.Float64At(at), diff, scale)
	}
}

// convCases covers Conv's attributes: 1-D, 2-D and 3-D; strides, dilations, symmetric and
// asymmetric pads, every auto_pad; groups, depthwise with and without a channel multiplier;
// pointwise; optional bias; and frozen weights or input.
func cpnConvCases() []cpnCase {
	rng := rand.New(rand.NewPCG(1, 2))
	x := func(shape ...int) cpnVal { return cpnRand(rng, "X", false, 1, 0, shape...) }
	w := func(shape ...int) cpnVal { return cpnRand(rng, "W", true, 0.5, 0, shape...) }
	b := func(m int) cpnVal { return cpnRand(rng, "B", true, 0.5, 0, m) }
	all := []string{"X", "W", "B"}
	return []cpnCase{
		{name: "2d-pad1", op: "Conv", attrs: map[string]any{"pads": []int{1, 1, 1, 1}},
			in: []cpnVal{x(2, 3, 7, 6), w(4, 3, 3, 3), b(4)}, wrt: all,
			torch: "F.conv2d(T['X'], T['W'], T['B'], padding=1)"},
		{name: "2d-stride2-asym-pads", op: "Conv", attrs: map[string]any{"strides": []int{2, 2}, "pads": []int{1, 0, 0, 2}},
			in: []cpnVal{x(2, 3, 8, 7), w(4, 3, 3, 2), b(4)}, wrt: all,
			torch: "F.conv2d(F.pad(T['X'], (0, 2, 1, 0)), T['W'], T['B'], stride=2)"},
		{name: "2d-dilated-strided", op: "Conv", attrs: map[string]any{"strides": []int{1, 2}, "dilations": []int{2, 1}, "pads": []int{2, 1, 2, 1}, "kernel_shape": []int{3, 3}},
			in: []cpnVal{x(2, 2, 9, 9), w(3, 2, 3, 3), b(3)}, wrt: all,
			torch: "F.conv2d(T['X'], T['W'], T['B'], stride=(1, 2), padding=(2, 1), dilation=(2, 1))"},
		{name: "2d-groups-no-bias", op: "Conv", attrs: map[string]any{"group": 2, "pads": []int{0, 1, 0, 1}},
			in: []cpnVal{x(2, 4, 6, 5), w(6, 2, 3, 2)}, wrt: []string{"X", "W"},
			torch: "F.conv2d(T['X'], T['W'], None, padding=(0, 1), groups=2)"},
		{name: "2d-depthwise", op: "Conv", attrs: map[string]any{"group": 3, "pads": []int{1, 1, 1, 1}},
			in: []cpnVal{x(2, 3, 8, 7), w(3, 1, 3, 3), b(3)}, wrt: all,
			torch: "F.conv2d(T['X'], T['W'], T['B'], padding=1, groups=3)"},
		{name: "2d-depthwise-mult2-strided-dilated", op: "Conv", attrs: map[string]any{"group": 3, "strides": []int{2, 2}, "dilations": []int{2, 2}, "pads": []int{2, 2, 2, 2}},
			in: []cpnVal{x(2, 3, 9, 10), w(6, 1, 3, 3), b(6)}, wrt: all,
			torch: "F.conv2d(T['X'], T['W'], T['B'], stride=2, padding=2, dilation=2, groups=3)"},
		{name: "2d-depthwise-5x5-asym", op: "Conv", attrs: map[string]any{"group": 4, "strides": []int{1, 2}, "pads": []int{2, 1, 2, 3}},
			in: []cpnVal{x(1, 4, 9, 10), w(4, 1, 5, 5), b(4)}, wrt: all,
			torch: "F.conv2d(F.pad(T['X'], (1, 3, 2, 2)), T['W'], T['B'], stride=(1, 2), groups=4)"},
		// SAME_UPPER over 7x8 at stride 2 with a 3x3 kernel pads (1, 1) rows and (0, 1)
		// columns; SAME_LOWER puts the odd column first.
		{name: "2d-same-upper", op: "Conv", attrs: map[string]any{"auto_pad": "SAME_UPPER", "strides": []int{2, 2}},
			in: []cpnVal{x(1, 2, 7, 8), w(3, 2, 3, 3), b(3)}, wrt: all,
			torch: "F.conv2d(F.pad(T['X'], (0, 1, 1, 1)), T['W'], T['B'], stride=2)"},
		{name: "2d-same-lower", op: "Conv", attrs: map[string]any{"auto_pad": "SAME_LOWER", "strides": []int{2, 2}},
			in: []cpnVal{x(1, 2, 7, 8), w(3, 2, 3, 3), b(3)}, wrt: all,
			torch: "F.conv2d(F.pad(T['X'], (1, 0, 1, 1)), T['W'], T['B'], stride=2)"},
		{name: "2d-valid", op: "Conv", attrs: map[string]any{"auto_pad": "VALID", "strides": []int{2, 1}},
			in: []cpnVal{x(2, 2, 7, 6), w(2, 2, 2, 3), b(2)}, wrt: all,
			torch: "F.conv2d(T['X'], T['W'], T['B'], stride=(2, 1))"},
		{name: "2d-pointwise", op: "Conv",
			in: []cpnVal{x(3, 5, 4, 6), w(4, 5, 1, 1), b(4)}, wrt: all,
			torch: "F.conv2d(T['X'], T['W'], T['B'])"},
		{name: "2d-1x1-stride2", op: "Conv", attrs: map[string]any{"strides": []int{2, 2}},
			in: []cpnVal{x(2, 3, 7, 6), w(4, 3, 1, 1), b(4)}, wrt: all,
			torch: "F.conv2d(T['X'], T['W'], T['B'], stride=2)"},
		{name: "2d-frozen-weight", op: "Conv", attrs: map[string]any{"pads": []int{1, 1, 1, 1}},
			in: []cpnVal{x(2, 3, 6, 6), w(4, 3, 3, 3), b(4)}, wrt: []string{"X"},
			torch: "F.conv2d(T['X'], T['W'], T['B'], padding=1)"},
		{name: "2d-weight-only", op: "Conv", attrs: map[string]any{"pads": []int{1, 1, 1, 1}},
			in: []cpnVal{x(2, 3, 6, 6), w(4, 3, 3, 3), b(4)}, wrt: []string{"W"},
			torch: "F.conv2d(T['X'], T['W'], T['B'], padding=1)"},
		{name: "1d-strided-dilated-asym", op: "Conv", attrs: map[string]any{"strides": []int{2}, "dilations": []int{2}, "pads": []int{1, 2}},
			in: []cpnVal{x(2, 3, 11), w(2, 3, 3), b(2)}, wrt: all,
			torch: "F.conv1d(F.pad(T['X'], (1, 2)), T['W'], T['B'], stride=2, dilation=2)"},
		{name: "1d-depthwise", op: "Conv", attrs: map[string]any{"group": 3, "pads": []int{2, 1}},
			in: []cpnVal{x(2, 3, 11), w(3, 1, 4), b(3)}, wrt: all,
			torch: "F.conv1d(F.pad(T['X'], (2, 1)), T['W'], T['B'], groups=3)"},
		{name: "3d-strided-dilated-asym", op: "Conv", attrs: map[string]any{"strides": []int{1, 2, 1}, "dilations": []int{1, 1, 2}, "pads": []int{1, 0, 1, 0, 1, 1}},
			in: []cpnVal{x(2, 2, 4, 5, 6), w(3, 2, 2, 3, 2), b(3)}, wrt: all,
			torch: "F.conv3d(F.pad(T['X'], (1, 1, 0, 1, 1, 0)), T['W'], T['B'], stride=(1, 2, 1), dilation=(1, 1, 2))"},
		{name: "3d-depthwise", op: "Conv", attrs: map[string]any{"group": 4, "pads": []int{1, 1, 1, 1, 1, 1}},
			in: []cpnVal{x(1, 4, 3, 4, 5), w(4, 1, 3, 3, 3), b(4)}, wrt: all,
			torch: "F.conv3d(T['X'], T['W'], T['B'], padding=1, groups=4)"},
		// Large enough for the parallel paths of both gradients.
		{name: "2d-parallel", op: "Conv", attrs: map[string]any{"pads": []int{1, 1, 1, 1}},
			in: []cpnVal{x(4, 8, 20, 20), w(16, 8, 3, 3), b(16)}, wrt: all,
			torch: "F.conv2d(T['X'], T['W'], T['B'], padding=1)"},
		{name: "2d-depthwise-parallel", op: "Conv", attrs: map[string]any{"group": 16, "pads": []int{1, 1, 1, 1}},
			in: []cpnVal{x(2, 16, 32, 32), w(16, 1, 3, 3), b(16)}, wrt: all,
			torch: "F.conv2d(T['X'], T['W'], T['B'], padding=1, groups=16)"},
	}
}

// cpnConvTransposeCases covers ConvTranspose: strides with output_padding, groups with
// dilation, depthwise, asymmetric pads, output_shape (cropping and zero-extending), SAME
// auto_pad and 1-D.
func cpnConvTransposeCases() []cpnCase {
	rng := rand.New(rand.NewPCG(3, 4))
	x := func(shape ...int) cpnVal { return cpnRand(rng, "X", false, 1, 0, shape...) }
	w := func(shape ...int) cpnVal { return cpnRand(rng, "W", true, 0.5, 0, shape...) }
	b := func(m int) cpnVal { return cpnRand(rng, "B", true, 0.5, 0, m) }
	all := []string{"X", "W", "B"}
	return []cpnCase{
		{name: "2d-stride2-outpad", op: "ConvTranspose", attrs: map[string]any{"strides": []int{2, 2}, "pads": []int{1, 1, 1, 1}, "output_padding": []int{1, 1}},
			in: []cpnVal{x(2, 4, 3, 3), w(4, 3, 3, 3), b(3)}, wrt: all,
			torch: "F.conv_transpose2d(T['X'], T['W'], T['B'], stride=2, padding=1, output_padding=1)"},
		{name: "2d-groups-dilated", op: "ConvTranspose", attrs: map[string]any{"group": 2, "strides": []int{2, 3}, "dilations": []int{1, 2}, "pads": []int{1, 0, 1, 0}, "output_padding": []int{1, 2}},
			in: []cpnVal{x(2, 4, 4, 4), w(4, 2, 3, 2), b(4)}, wrt: all,
			torch: "F.conv_transpose2d(T['X'], T['W'], T['B'], stride=(2, 3), padding=(1, 0), output_padding=(1, 2), dilation=(1, 2), groups=2)"},
		{name: "2d-depthwise", op: "ConvTranspose", attrs: map[string]any{"group": 3, "strides": []int{2, 2}, "pads": []int{1, 1, 1, 1}},
			in: []cpnVal{x(2, 3, 5, 5), w(3, 1, 3, 3), b(3)}, wrt: all,
			torch: "F.conv_transpose2d(T['X'], T['W'], T['B'], stride=2, padding=1, groups=3)"},
		{name: "2d-depthwise-mult2", op: "ConvTranspose", attrs: map[string]any{"group": 3},
			in: []cpnVal{x(2, 3, 4, 5), w(3, 2, 3, 2), b(6)}, wrt: all,
			torch: "F.conv_transpose2d(T['X'], T['W'], T['B'], groups=3)"},
		{name: "2d-asym-pads", op: "ConvTranspose", attrs: map[string]any{"strides": []int{2, 2}, "pads": []int{1, 0, 0, 2}},
			in: []cpnVal{x(1, 2, 3, 4), w(2, 3, 3, 3), b(3)}, wrt: all,
			torch: "F.conv_transpose2d(T['X'], T['W'], T['B'], stride=2)[:, :, 1:, :-2]"},
		// output_shape 6x8 from a full 7x7 result: one row cropped at the top, one column of
		// zeros (plus bias) added at the end.
		{name: "2d-output-shape", op: "ConvTranspose", attrs: map[string]any{"strides": []int{2, 2}, "output_shape": []int{6, 8}},
			in: []cpnVal{x(1, 2, 3, 3), w(2, 3, 3, 3), b(3)}, wrt: all,
			torch: "F.conv_transpose2d(T['X'], T['W'], T['B'], stride=2, output_padding=(0, 1))[:, :, 1:, :]"},
		{name: "2d-same-upper", op: "ConvTranspose", attrs: map[string]any{"auto_pad": "SAME_UPPER", "strides": []int{2, 2}},
			in: []cpnVal{x(1, 2, 3, 4), w(2, 2, 3, 3), b(2)}, wrt: all,
			torch: "F.conv_transpose2d(T['X'], T['W'], T['B'], stride=2)[:, :, :-1, :-1]"},
		{name: "1d", op: "ConvTranspose", attrs: map[string]any{"strides": []int{3}, "pads": []int{1, 1}},
			in: []cpnVal{x(2, 3, 5), w(3, 2, 3), b(2)}, wrt: all,
			torch: "F.conv_transpose1d(T['X'], T['W'], T['B'], stride=3, padding=1)"},
		{name: "3d-no-bias", op: "ConvTranspose", attrs: map[string]any{"strides": []int{2, 1, 2}, "pads": []int{0, 1, 1, 0, 1, 1}},
			in: []cpnVal{x(1, 2, 3, 3, 2), w(2, 2, 2, 3, 3)}, wrt: []string{"X", "W"},
			torch: "F.conv_transpose3d(T['X'], T['W'], None, stride=(2, 1, 2), padding=(0, 1, 1))"},
	}
}

// TestConvVJPFiniteDifferences checks Conv and ConvTranspose (float32 forward kernels; both
// are linear in each input, so the central differences are exact up to rounding).
func TestConvVJPFiniteDifferences(t *testing.T) {
	cases := append(cpnConvCases(), cpnConvTransposeCases()...)
	cpnFD(t, cases, tensor.Float32, 1e-2, 5e-3, 40)
}

// TestConvVJPTorch compares Conv's and ConvTranspose's gradients with torch.autograd through
// conv1d/2d/3d and conv_transpose1d/2d/3d.
func TestConvVJPTorch(t *testing.T) {
	cpnTorch(t, append(cpnConvCases(), cpnConvTransposeCases()...), 1e-5)
}

// TestConvVJPHalf runs Conv's VJP on float16 values: the gradients come back in float16 and
// agree with the float32 ones to float16 precision.
func TestConvVJPHalf(t *testing.T) {
	c := cpnConvCases()[0]
	grads := map[tensor.DType]map[string]*tensor.Tensor{}
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float16} {
		plan, feeds := c.build(t, dt)
		prog, err := backprop.NewProgram(plan, c.wrt)
		if err != nil {
			t.Fatal(err)
		}
		tape, err := prog.Forward(nil, feeds)
		if err != nil {
			t.Fatal(err)
		}
		y := tape.Outputs()["Y"]
		seed := tensor.New(dt, y.Shape()...)
		ones := make([]float64, seed.Len())
		for i := range ones {
			ones[i] = float64(i%5) - 2
		}
		seed = tensor.FromFloat64s(dt, y.Shape(), ones)
		g, err := tape.Backward(map[string]*tensor.Tensor{"Y": seed})
		if err != nil {
			t.Fatal(err)
		}
		grads[dt] = g
	}
	for _, name := range c.wrt {
		h := grads[tensor.Float16][name]
		if h.DType() != tensor.Float16 {
			t.Errorf("gradient of %s is %v, want float16", name, h)
			continue
		}
		cpnCompare(t, "float16 gradient of "+name, h, grads[tensor.Float32][name], 1e-2)
	}
}
