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

// shapeCase is a small graph (usually one node) for the shape and tensor families' gradient
// tests: its feeds become graph inputs, its consts initializers, and the non-empty outputs of
// its last node the graph outputs unless outputs names them.
type shapeCase struct {
	name    string
	opset   int
	nodes   []*graph.Node
	feeds   map[string]*tensor.Tensor
	consts  map[string]*tensor.Tensor
	outputs []string
	wrt     []string
	// For the PyTorch comparison: the Python code that sets ys, the outputs in order, from
	// the values by name (torch tensors; those in wrt require grad), and the outputs whose
	// gradient is seeded (all when nil).
	torch  string
	seeded []string
}

func (c shapeCase) plan(t *testing.T) *graph.Plan {
	t.Helper()
	g := &graph.Graph{Name: c.name, Nodes: c.nodes, Initializers: map[string]*tensor.Tensor{}, Opsets: map[string]int{"": c.opset}}
	names := make([]string, 0, len(c.feeds))
	for name := range c.feeds {
		names = append(names, name)
	}
	for _, name := range names {
		g.Inputs = append(g.Inputs, graph.ValueInfo{Name: name, DType: c.feeds[name].DType()})
	}
	for name, v := range c.consts {
		g.Initializers[name] = v
		g.InitializerNames = append(g.InitializerNames, name)
	}
	outs := c.outputs
	if outs == nil {
		for _, o := range c.nodes[len(c.nodes)-1].Outputs {
			if o != "" {
				outs = append(outs, o)
			}
		}
	}
	for _, o := range outs {
		g.Outputs = append(g.Outputs, graph.ValueInfo{Name: o})
	}
	p, err := graph.NewPlan(g)
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	return p
}

func shapeNode(op string, in []string, out []string, attrs map[string]graph.Attr) *graph.Node {
	return &graph.Node{Name: op, OpType: op, Inputs: in, Outputs: out, Attrs: attrs}
}

func shapeInts(v ...int64) *tensor.Tensor { return tensor.From([]int{len(v)}, v) }

func shapeAttrInt(v int64) graph.Attr { return graph.Attr{Type: graph.AttrInt, Int: v} }

func shapeAttrInts(v ...int64) graph.Attr { return graph.Attr{Type: graph.AttrInts, Ints: v} }

func shapeAttrString(s string) graph.Attr { return graph.Attr{Type: graph.AttrString, String: s} }

// shapeRand returns a tensor of normal values; shapeRandAway keeps them at least 0.1 from
// zero, away from the kinks a test must not straddle.
func shapeRand(rng *rand.Rand, dt tensor.DType, shape ...int) *tensor.Tensor {
	v := make([]float64, tensor.Size(shape))
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	return tensor.FromFloat64s(dt, shape, v)
}

func shapeRandAway(rng *rand.Rand, dt tensor.DType, shape ...int) *tensor.Tensor {
	v := make([]float64, tensor.Size(shape))
	for i := range v {
		v[i] = rng.NormFloat64()
		v[i] += math.Copysign(0.1, v[i])
	}
	return tensor.FromFloat64s(dt, shape, v)
}

// shapeCheckFD runs backprop.Check on each case in float64 and requires agreement with central
// differences to 1e-6.
func shapeCheckFD(t *testing.T, cases []shapeCase) {
	t.Helper()
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := backprop.Check(c.plan(t), c.feeds, c.wrt, backprop.CheckOptions{Seed: uint64(i + 1)})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res {
				if r.Checked == 0 || r.RelErr > 1e-6 || math.IsNaN(r.RelErr) {
					t.Errorf("%s: relative error %g over %d elements, want <= 1e-6", r.Name, r.RelErr, r.Checked)
				}
			}
		})
	}
}

// shapeFDCases covers each attribute of each shape operator at the opsets where its form
// changed, differentiating with respect to graph inputs and initializers.
func shapeFDCases() []shapeCase {
	rng := rand.New(rand.NewPCG(11, 12))
	f64 := tensor.Float64
	x := func(shape ...int) map[string]*tensor.Tensor {
		return map[string]*tensor.Tensor{"x": shapeRand(rng, f64, shape...)}
	}
	wx := []string{"x"}
	var cases []shapeCase
	for _, axis := range []int64{0, 2, -1, 3} {
		cases = append(cases, shapeCase{
			name: fmt.Sprint("Flatten/axis", axis), opset: 13,
			nodes: []*graph.Node{shapeNode("Flatten", []string{"x"}, []string{"y"}, map[string]graph.Attr{"axis": shapeAttrInt(axis)})},
			feeds: x(2, 3, 4), wrt: wx,
		})
	}
	cases = append(cases,
		shapeCase{
			name: "Reshape/input", opset: 14,
			nodes:  []*graph.Node{shapeNode("Reshape", []string{"x", "s"}, []string{"y"}, nil)},
			feeds:  x(2, 3, 4),
			consts: map[string]*tensor.Tensor{"s": shapeInts(0, -1, 2)}, wrt: wx,
		},
		shapeCase{
			name: "Reshape/attribute-initializer", opset: 1,
			nodes:  []*graph.Node{shapeNode("Reshape", []string{"w"}, []string{"y"}, map[string]graph.Attr{"shape": shapeAttrInts(4, -1)})},
			consts: map[string]*tensor.Tensor{"w": shapeRand(rng, f64, 2, 3, 2)}, wrt: []string{"w"},
		},
		shapeCase{
			name: "Squeeze/axes-input", opset: 13,
			nodes:  []*graph.Node{shapeNode("Squeeze", []string{"x", "a"}, []string{"y"}, nil)},
			feeds:  x(2, 1, 3, 1),
			consts: map[string]*tensor.Tensor{"a": shapeInts(-1)}, wrt: wx,
		},
		shapeCase{
			name: "Squeeze/all", opset: 13,
			nodes: []*graph.Node{shapeNode("Squeeze", []string{"x"}, []string{"y"}, nil)},
			feeds: x(1, 3, 1, 2), wrt: wx,
		},
		shapeCase{
			name: "Squeeze/attribute", opset: 11,
			nodes: []*graph.Node{shapeNode("Squeeze", []string{"x"}, []string{"y"}, map[string]graph.Attr{"axes": shapeAttrInts(1, 3)})},
			feeds: x(2, 1, 3, 1), wrt: wx,
		},
		shapeCase{
			name: "Unsqueeze/axes-input", opset: 13,
			nodes:  []*graph.Node{shapeNode("Unsqueeze", []string{"x", "a"}, []string{"y"}, nil)},
			feeds:  x(2, 3),
			consts: map[string]*tensor.Tensor{"a": shapeInts(0, -1)}, wrt: wx,
		},
		shapeCase{
			name: "Unsqueeze/attribute", opset: 11,
			nodes: []*graph.Node{shapeNode("Unsqueeze", []string{"x"}, []string{"y"}, map[string]graph.Attr{"axes": shapeAttrInts(1)})},
			feeds: x(2, 3), wrt: wx,
		},
		shapeCase{
			name: "Transpose/perm", opset: 13,
			nodes: []*graph.Node{shapeNode("Transpose", []string{"x"}, []string{"y"}, map[string]graph.Attr{"perm": shapeAttrInts(2, 0, 3, 1)})},
			feeds: x(2, 3, 4, 5), wrt: wx,
		},
		shapeCase{
			name: "Transpose/reverse", opset: 1,
			nodes: []*graph.Node{shapeNode("Transpose", []string{"x"}, []string{"y"}, nil)},
			feeds: x(2, 3, 4), wrt: wx,
		},
		shapeCase{
			// c is fed but not differentiated: Concat must still place a and b right.
			name: "Concat/negative-axis", opset: 13,
			nodes:  []*graph.Node{shapeNode("Concat", []string{"a", "c", "b"}, []string{"y"}, map[string]graph.Attr{"axis": shapeAttrInt(-2)})},
			feeds:  map[string]*tensor.Tensor{"a": shapeRand(rng, f64, 2, 3, 4), "c": shapeRand(rng, f64, 2, 2, 4)},
			consts: map[string]*tensor.Tensor{"b": shapeRand(rng, f64, 2, 1, 4)},
			wrt:    []string{"a", "b"},
		},
		shapeCase{
			name: "Concat/axis0-shared", opset: 4,
			nodes: []*graph.Node{shapeNode("Concat", []string{"a", "a", "b"}, []string{"y"}, map[string]graph.Attr{"axis": shapeAttrInt(0)})},
			feeds: map[string]*tensor.Tensor{"a": shapeRand(rng, f64, 1, 3), "b": shapeRand(rng, f64, 2, 3)},
			wrt:   []string{"a", "b"},
		},
		shapeCase{
			// The middle piece is omitted: no gradient can reach it.
			name: "Split/input-omitted-output", opset: 13,
			nodes:  []*graph.Node{shapeNode("Split", []string{"x", "s"}, []string{"y0", "", "y2"}, map[string]graph.Attr{"axis": shapeAttrInt(1)})},
			feeds:  x(2, 6, 3),
			consts: map[string]*tensor.Tensor{"s": shapeInts(1, 3, 2)}, wrt: wx,
		},
		shapeCase{
			// y0 is computed but not an output: its gradient is nil.
			name: "Split/attribute-unused-output", opset: 11,
			nodes:   []*graph.Node{shapeNode("Split", []string{"x"}, []string{"y0", "y1"}, map[string]graph.Attr{"axis": shapeAttrInt(-1), "split": shapeAttrInts(2, 4)})},
			feeds:   x(3, 6),
			outputs: []string{"y1"}, wrt: wx,
		},
		shapeCase{
			name: "Split/num-outputs-uneven", opset: 18,
			nodes: []*graph.Node{shapeNode("Split", []string{"x"}, []string{"y0", "y1", "y2"}, map[string]graph.Attr{"axis": shapeAttrInt(1), "num_outputs": shapeAttrInt(3)})},
			feeds: x(2, 7, 3), wrt: wx,
		},
		shapeCase{
			name: "Split/equal", opset: 13,
			nodes: []*graph.Node{shapeNode("Split", []string{"x"}, []string{"y0", "y1", "y2"}, nil)},
			feeds: x(6, 2), wrt: wx,
		},
		shapeCase{
			name: "Slice/negative-steps", opset: 13,
			nodes: []*graph.Node{shapeNode("Slice", []string{"x", "st", "en", "ax", "sp"}, []string{"y"}, nil)},
			feeds: x(5, 6, 7),
			consts: map[string]*tensor.Tensor{
				"st": shapeInts(4, -100, 1), "en": shapeInts(-100, 100, -1),
				"ax": shapeInts(0, -2, 2), "sp": shapeInts(-2, 1, 3),
			},
			wrt: wx,
		},
		shapeCase{
			name: "Slice/reverse-from-max", opset: 13,
			nodes: []*graph.Node{shapeNode("Slice", []string{"x", "st", "en", "ax", "sp"}, []string{"y"}, nil)},
			feeds: x(4, 5),
			consts: map[string]*tensor.Tensor{
				"st": shapeInts(math.MaxInt64), "en": shapeInts(math.MinInt64),
				"ax": shapeInts(-1), "sp": shapeInts(-1),
			},
			wrt: wx,
		},
		shapeCase{
			name: "Slice/no-axes-no-steps", opset: 10,
			nodes:  []*graph.Node{shapeNode("Slice", []string{"x", "st", "en"}, []string{"y"}, nil)},
			feeds:  x(4, 5),
			consts: map[string]*tensor.Tensor{"st": shapeInts(1, -3), "en": shapeInts(3, 100)},
			wrt:    wx,
		},
		shapeCase{
			name: "Slice/attributes", opset: 1,
			nodes: []*graph.Node{shapeNode("Slice", []string{"x"}, []string{"y"}, map[string]graph.Attr{
				"starts": shapeAttrInts(1), "ends": shapeAttrInts(-1), "axes": shapeAttrInts(1)})},
			feeds: x(3, 5), wrt: wx,
		},
		shapeCase{
			name: "Pad/constant-negative", opset: 13,
			nodes:  []*graph.Node{shapeNode("Pad", []string{"x", "p", "v"}, []string{"y"}, map[string]graph.Attr{"mode": shapeAttrString("constant")})},
			feeds:  x(2, 3, 4, 5),
			consts: map[string]*tensor.Tensor{"p": shapeInts(0, 1, 2, -1, 1, 0, -1, 3), "v": tensor.Scalar(0.5)},
			wrt:    wx,
		},
		shapeCase{
			name: "Pad/reflect", opset: 13,
			nodes:  []*graph.Node{shapeNode("Pad", []string{"x", "p"}, []string{"y"}, map[string]graph.Attr{"mode": shapeAttrString("reflect")})},
			feeds:  x(2, 3, 4, 5),
			consts: map[string]*tensor.Tensor{"p": shapeInts(0, 1, 2, 3, 0, 2, 3, 1)}, wrt: wx,
		},
		shapeCase{
			name: "Pad/reflect-wide-negative", opset: 11,
			nodes:  []*graph.Node{shapeNode("Pad", []string{"x", "p"}, []string{"y"}, map[string]graph.Attr{"mode": shapeAttrString("reflect")})},
			feeds:  x(3, 4),
			consts: map[string]*tensor.Tensor{"p": shapeInts(7, -1, 5, 3)}, wrt: wx,
		},
		shapeCase{
			name: "Pad/axes-reflect", opset: 18,
			nodes:  []*graph.Node{shapeNode("Pad", []string{"x", "p", "", "ax"}, []string{"y"}, map[string]graph.Attr{"mode": shapeAttrString("reflect")})},
			feeds:  x(2, 3, 4, 5),
			consts: map[string]*tensor.Tensor{"p": shapeInts(1, 2, 0, 3), "ax": shapeInts(-1, 1)}, wrt: wx,
		},
		shapeCase{
			name: "Pad/edge", opset: 13,
			nodes:  []*graph.Node{shapeNode("Pad", []string{"x", "p"}, []string{"y"}, map[string]graph.Attr{"mode": shapeAttrString("edge")})},
			feeds:  x(2, 3, 4, 5),
			consts: map[string]*tensor.Tensor{"p": shapeInts(1, 0, -1, 4, 0, 2, 3, -2)}, wrt: wx,
		},
		shapeCase{
			name: "Pad/attribute-edge-initializer", opset: 2,
			nodes: []*graph.Node{shapeNode("Pad", []string{"w"}, []string{"y"}, map[string]graph.Attr{
				"mode": shapeAttrString("edge"), "pads": shapeAttrInts(2, 0, 1, 3)})},
			consts: map[string]*tensor.Tensor{"w": shapeRand(rng, f64, 3, 2)}, wrt: []string{"w"},
		},
		shapeCase{
			name: "Gather/repeated-negative-2d", opset: 13,
			nodes:  []*graph.Node{shapeNode("Gather", []string{"w", "i"}, []string{"y"}, nil)},
			consts: map[string]*tensor.Tensor{"w": shapeRand(rng, f64, 5, 4), "i": tensor.From([]int{2, 3}, []int64{1, -1, 1, 0, 4, 1})},
			wrt:    []string{"w"},
		},
		shapeCase{
			name: "Gather/last-axis-int32", opset: 13,
			nodes: []*graph.Node{shapeNode("Gather", []string{"x", "i"}, []string{"y"}, map[string]graph.Attr{"axis": shapeAttrInt(-1)})},
			feeds: map[string]*tensor.Tensor{"x": shapeRand(rng, f64, 3, 4, 5), "i": tensor.From([]int{3}, []int32{4, 4, 0})},
			wrt:   wx,
		},
		shapeCase{
			name: "Gather/scalar-index", opset: 11,
			nodes:  []*graph.Node{shapeNode("Gather", []string{"x", "i"}, []string{"y"}, map[string]graph.Attr{"axis": shapeAttrInt(1)})},
			feeds:  x(3, 4, 2),
			consts: map[string]*tensor.Tensor{"i": tensor.Scalar(int64(-2))}, wrt: wx,
		},
		shapeCase{
			name: "Tile/repeats", opset: 13,
			nodes:  []*graph.Node{shapeNode("Tile", []string{"x", "r"}, []string{"y"}, nil)},
			feeds:  x(2, 3, 2),
			consts: map[string]*tensor.Tensor{"r": shapeInts(2, 1, 3)}, wrt: wx,
		},
		shapeCase{
			name: "Tile/opset1-axis", opset: 1,
			nodes:  []*graph.Node{shapeNode("Tile", []string{"x", "r", "a"}, []string{"y"}, nil)},
			feeds:  x(2, 3),
			consts: map[string]*tensor.Tensor{"r": shapeInts(3), "a": shapeInts(1)}, wrt: wx,
		},
		shapeCase{
			// The exporter's dynamic reshape: Shape -> Gather -> Unsqueeze -> Concat -> Reshape,
			// through operators that carry no gradient, and constants that do not either.
			name: "Reshape/dynamic-shape", opset: 13,
			nodes: []*graph.Node{
				shapeNode("Shape", []string{"x"}, []string{"s"}, nil),
				shapeNode("Gather", []string{"s", "zero"}, []string{"n"}, nil),
				shapeNode("Unsqueeze", []string{"n", "ax0"}, []string{"n1"}, nil),
				shapeNode("Constant", nil, []string{"m1"}, map[string]graph.Attr{"value": {Type: graph.AttrTensor, Tensor: shapeInts(-1)}}),
				shapeNode("Concat", []string{"n1", "m1"}, []string{"shape"}, map[string]graph.Attr{"axis": shapeAttrInt(0)}),
				shapeNode("Reshape", []string{"x", "shape"}, []string{"flat"}, nil),
				shapeNode("ConstantOfShape", []string{"zshape"}, []string{"z"}, map[string]graph.Attr{"value": {Type: graph.AttrTensor, Tensor: tensor.From([]int{1}, []float64{0.25})}}),
				shapeNode("Range", []string{"r0", "r1", "r2"}, []string{"r"}, nil),
				shapeNode("Unsqueeze", []string{"r", "ax0"}, []string{"r2d"}, nil),
				shapeNode("Concat", []string{"flat", "z", "r2d"}, []string{"y"}, map[string]graph.Attr{"axis": shapeAttrInt(0)}),
			},
			feeds: x(2, 3, 4),
			consts: map[string]*tensor.Tensor{
				"zero": tensor.Scalar(int64(0)), "ax0": shapeInts(0), "zshape": shapeInts(1, 12),
				"r0": tensor.Scalar(0.0), "r1": tensor.Scalar(12.0), "r2": tensor.Scalar(1.0),
			},
			wrt: wx,
		},
	)
	return cases
}

// TestShapeVJPFiniteDifferences checks every shape-family VJP against central differences.
func TestShapeVJPFiniteDifferences(t *testing.T) {
	shapeCheckFD(t, shapeFDCases())
}

// shapeTorchScript computes, for each case of the manifest in sys.argv[1], PyTorch's gradients
// of sum over seeded outputs of y * seed with respect to the wrt values, from .npy files in the
// case's directory (name.npy for values, seed_name.npy for seeds), into grad_name.npy. A case's
// code sets ys from the values, or sets grads itself where the reference is a backward
// function (Dropout); dir names the case's directory, for files a test saved there itself.
const shapeTorchScript = `
import sys, json, numpy as np, torch
import torch.nn.functional as F

def sl(x, axis, start, end, step):
    # Python's slice semantics, which clamp as ONNX Slice does, through index_select so that
    # negative steps work (torch slicing has none).
    idx = list(range(x.shape[axis]))[start:end:step]
    return x.index_select(axis, torch.tensor(idx, dtype=torch.long))

for case in json.load(open(sys.argv[1])):
    d = case["dir"]
    env = {"torch": torch, "F": F, "sl": sl, "np": np, "dir": d}
    for name in case["values"]:
        v = torch.from_numpy(np.load("%s/%s.npy" % (d, name)))
        if name in case["wrt"]:
            v.requires_grad_(True)
        env[name] = v
    seeds = {o: torch.from_numpy(np.load("%s/seed_%s.npy" % (d, o))) for o in case["seeded"]}
    env["seeds"] = seeds
    exec(case["code"], env)
    if "grads" in env:
        grads = env["grads"]
    else:
        loss = sum((y * seeds[o]).sum() for o, y in zip(case["outputs"], env["ys"]) if o in seeds)
        loss.backward()
        grads = {n: env[n].grad for n in case["wrt"]}
    for n in case["wrt"]:
        g = grads[n]
        if g is None:
            g = torch.zeros_like(env[n])
        np.save("%s/grad_%s.npy" % (d, n), g.detach().numpy())
print("ok")
`

// shapeTorchRun is the Go side of one PyTorch comparison: the gradients of the seeded outputs
// with respect to the case's wrt values, from a Program walked with ctx.
type shapeTorchRun struct {
	c     shapeCase
	dir   string
	seeds map[string]*tensor.Tensor
	grads map[string]*tensor.Tensor
}

// shapeCompareTorch runs each case in Go, then all of them in one Python process, and compares
// the gradients within 1e-5 relative (the tolerance float32 sums in another order leave).
// extra, when not nil, may save more values for a case's Python code.
func shapeCompareTorch(t *testing.T, ctx *graph.Context, cases []shapeCase, extra func(t *testing.T, c shapeCase, tape *backprop.Tape, dir string)) {
	t.Helper()
	root := t.TempDir()
	rng := rand.New(rand.NewPCG(21, 22))
	type manifest struct {
		Dir     string   `json:"dir"`
		Values  []string `json:"values"`
		Wrt     []string `json:"wrt"`
		Outputs []string `json:"outputs"`
		Seeded  []string `json:"seeded"`
		Code    string   `json:"code"`
	}
	var man []manifest
	var runs []shapeTorchRun
	for i, c := range cases {
		dir := filepath.Join(root, fmt.Sprint(i))
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		m := manifest{Dir: dir, Wrt: c.wrt, Code: c.torch}
		for _, vals := range []map[string]*tensor.Tensor{c.feeds, c.consts} {
			for name, v := range vals {
				m.Values = append(m.Values, name)
				if err := data.SaveNPY(filepath.Join(dir, name+".npy"), v); err != nil {
					t.Fatal(err)
				}
			}
		}
		plan := c.plan(t)
		prog, err := backprop.NewProgram(plan, c.wrt)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		tape, err := prog.Forward(ctx, c.feeds)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		outs := tape.Outputs()
		seeds := map[string]*tensor.Tensor{}
		for _, o := range plan.Graph.Outputs {
			m.Outputs = append(m.Outputs, o.Name)
			y := outs[o.Name]
			seeded := c.seeded == nil
			for _, s := range c.seeded {
				seeded = seeded || s == o.Name
			}
			if !seeded || !y.DType().IsFloat() {
				continue
			}
			seeds[o.Name] = shapeRand(rng, y.DType(), y.Shape()...)
			m.Seeded = append(m.Seeded, o.Name)
			if err := data.SaveNPY(filepath.Join(dir, "seed_"+o.Name+".npy"), seeds[o.Name]); err != nil {
				t.Fatal(err)
			}
		}
		if extra != nil {
			extra(t, c, tape, dir)
		}
		grads, err := tape.Backward(seeds)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		man = append(man, m)
		runs = append(runs, shapeTorchRun{c: c, dir: dir, seeds: seeds, grads: grads})
	}
	js, err := json.Marshal(man)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, "manifest.json")
	if err := os.WriteFile(path, js, 0o644); err != nil {
		t.Fatal(err)
	}
	fixture.RunPython(t, shapeTorchScript, path)
	for _, r := range runs {
		for _, name := range r.c.wrt {
			want, err := data.LoadNPY(filepath.Join(r.dir, "grad_"+name+".npy"))
			if err != nil {
				t.Fatal(err)
			}
			shapeClose(t, r.c.name+" d/d"+name, r.grads[name], want, 1e-5)
		}
	}
}

// shapeClose requires equal shapes and dtypes and |got - want| <= tol * max(1, |want|) for
// every element.
func shapeClose(t *testing.T, name string, got, want *tensor.Tensor, tol float64) {
	t.Helper()
	if got == nil {
		t.Errorf("%s: got no gradient", name)
		return
	}
	if got.DType() != want.DType() || !tensor.EqualShapes(got.Shape(), want.Shape()) {
		t.Errorf("%s: got %v, want %v", name, got, want)
		return
	}
	for i := 0; i < want.Len(); i++ {
		g, w := got.Float64At(i), want.Float64At(i)
		if math.Abs(g-w) > tol*math.Max(1, math.Abs(w)) || math.IsNaN(g) != math.IsNaN(w) {
			t.Errorf("%s: element %d: got %v, want %v", name, i, g, w)
			return
		}
	}
}

// shapeTorchCases are float32 versions of the shape operators next to the PyTorch functions an
// exporter maps to them.
func shapeTorchCases() []shapeCase {
	rng := rand.New(rand.NewPCG(31, 32))
	f32 := tensor.Float32
	x := func(shape ...int) map[string]*tensor.Tensor {
		return map[string]*tensor.Tensor{"x": shapeRand(rng, f32, shape...)}
	}
	wx := []string{"x"}
	return []shapeCase{
		{
			name: "Flatten", opset: 13,
			nodes: []*graph.Node{shapeNode("Flatten", []string{"x"}, []string{"y"}, map[string]graph.Attr{"axis": shapeAttrInt(2)})},
			feeds: x(2, 3, 4, 5), wrt: wx,
			torch: "ys = [x.reshape(6, -1)]",
		},
		{
			name: "Reshape", opset: 13,
			nodes: []*graph.Node{shapeNode("Reshape", []string{"x", "s"}, []string{"y"}, nil)},
			feeds: x(2, 3, 4), consts: map[string]*tensor.Tensor{"s": shapeInts(0, -1)}, wrt: wx,
			torch: "ys = [x.reshape(2, -1)]",
		},
		{
			name: "Squeeze-Unsqueeze", opset: 13,
			nodes: []*graph.Node{
				shapeNode("Squeeze", []string{"x", "a1"}, []string{"s"}, nil),
				shapeNode("Unsqueeze", []string{"s", "am1"}, []string{"y"}, nil),
			},
			feeds: x(2, 1, 3), consts: map[string]*tensor.Tensor{"a1": shapeInts(1), "am1": shapeInts(-1)}, wrt: wx,
			torch: "ys = [x.squeeze(1).unsqueeze(-1)]",
		},
		{
			name: "Transpose", opset: 13,
			nodes: []*graph.Node{shapeNode("Transpose", []string{"x"}, []string{"y"}, map[string]graph.Attr{"perm": shapeAttrInts(0, 2, 3, 1)})},
			feeds: x(2, 3, 4, 5), wrt: wx,
			torch: "ys = [x.permute(0, 2, 3, 1)]",
		},
		{
			name: "Concat", opset: 13,
			nodes:  []*graph.Node{shapeNode("Concat", []string{"a", "b"}, []string{"y"}, map[string]graph.Attr{"axis": shapeAttrInt(1)})},
			feeds:  map[string]*tensor.Tensor{"a": shapeRand(rng, f32, 2, 3, 4)},
			consts: map[string]*tensor.Tensor{"b": shapeRand(rng, f32, 2, 5, 4)},
			wrt:    []string{"a", "b"},
			torch:  "ys = [torch.cat([a, b], 1)]",
		},
		{
			name: "Split-partly-seeded", opset: 13,
			nodes:  []*graph.Node{shapeNode("Split", []string{"x", "s"}, []string{"y0", "y1", "y2"}, map[string]graph.Attr{"axis": shapeAttrInt(1)})},
			feeds:  x(2, 6, 3),
			consts: map[string]*tensor.Tensor{"s": shapeInts(1, 3, 2)}, wrt: wx,
			seeded: []string{"y0", "y2"},
			torch:  "ys = list(torch.split(x, [1, 3, 2], 1))",
		},
		{
			name: "Slice-negative-steps", opset: 13,
			nodes: []*graph.Node{shapeNode("Slice", []string{"x", "st", "en", "ax", "sp"}, []string{"y"}, nil)},
			feeds: x(5, 3, 7),
			consts: map[string]*tensor.Tensor{
				"st": shapeInts(4, 1), "en": shapeInts(-100, 100), "ax": shapeInts(0, 2), "sp": shapeInts(-2, 3),
			},
			wrt:   wx,
			torch: "ys = [sl(sl(x, 0, 4, -100, -2), 2, 1, 100, 3)]",
		},
		{
			name: "Pad-reflect", opset: 13,
			nodes:  []*graph.Node{shapeNode("Pad", []string{"x", "p"}, []string{"y"}, map[string]graph.Attr{"mode": shapeAttrString("reflect")})},
			feeds:  x(2, 3, 5, 6),
			consts: map[string]*tensor.Tensor{"p": shapeInts(0, 0, 1, 2, 0, 0, 2, 1)}, wrt: wx,
			torch: "ys = [F.pad(x, (2, 1, 1, 2), mode='reflect')]",
		},
		{
			name: "Pad-edge", opset: 13,
			nodes:  []*graph.Node{shapeNode("Pad", []string{"x", "p"}, []string{"y"}, map[string]graph.Attr{"mode": shapeAttrString("edge")})},
			feeds:  x(2, 3, 5, 6),
			consts: map[string]*tensor.Tensor{"p": shapeInts(0, 0, 2, 3, 0, 0, 3, 1)}, wrt: wx,
			torch: "ys = [F.pad(x, (3, 1, 2, 3), mode='replicate')]",
		},
		{
			name: "Pad-constant-negative", opset: 13,
			nodes:  []*graph.Node{shapeNode("Pad", []string{"x", "p", "v"}, []string{"y"}, nil)},
			feeds:  x(2, 3, 5, 6),
			consts: map[string]*tensor.Tensor{"p": shapeInts(0, 0, -1, 2, 0, 0, 1, -2), "v": tensor.Scalar(float32(0.5))}, wrt: wx,
			torch: "ys = [F.pad(x, (2, -2, -1, 1), value=0.5)]",
		},
		{
			name: "Gather-repeated", opset: 13,
			nodes:  []*graph.Node{shapeNode("Gather", []string{"x", "i"}, []string{"y"}, map[string]graph.Attr{"axis": shapeAttrInt(1)})},
			feeds:  x(3, 5, 4),
			consts: map[string]*tensor.Tensor{"i": tensor.From([]int{3, 2}, []int64{4, -1, 0, 4, 2, 2})}, wrt: wx,
			torch: "ys = [x.index_select(1, (i % 5).flatten()).reshape(3, 3, 2, 4)]",
		},
		{
			name: "Tile", opset: 13,
			nodes:  []*graph.Node{shapeNode("Tile", []string{"x", "r"}, []string{"y"}, nil)},
			feeds:  x(2, 3, 4),
			consts: map[string]*tensor.Tensor{"r": shapeInts(2, 1, 3)}, wrt: wx,
			torch: "ys = [x.repeat(2, 1, 3)]",
		},
	}
}

// TestShapeVJPMatchesPyTorch compares the shape family's gradients with PyTorch autograd's.
func TestShapeVJPMatchesPyTorch(t *testing.T) {
	shapeCompareTorch(t, nil, shapeTorchCases(), nil)
}

// TestShapeVJPFrozenInput: a Concat input that is not differentiated gets no gradient, and the
// one that is gets exactly its part of the output gradient.
func TestShapeVJPFrozenInput(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	c := shapeCase{
		name: "Concat", opset: 13,
		nodes: []*graph.Node{shapeNode("Concat", []string{"a", "b"}, []string{"y"}, map[string]graph.Attr{"axis": shapeAttrInt(-1)})},
		feeds: map[string]*tensor.Tensor{"a": shapeRand(rng, tensor.Float32, 2, 3), "b": shapeRand(rng, tensor.Float32, 2, 2)},
	}
	prog, err := backprop.NewProgram(c.plan(t), []string{"b"})
	if err != nil {
		t.Fatal(err)
	}
	if prog.Reaches("a") {
		t.Errorf("the frozen input a is differentiated")
	}
	tape, err := prog.Forward(nil, c.feeds)
	if err != nil {
		t.Fatal(err)
	}
	seed := shapeRand(rng, tensor.Float32, 2, 5)
	grads, err := tape.Backward(map[string]*tensor.Tensor{"y": seed})
	if err != nil {
		t.Fatal(err)
	}
	want := tensor.From([]int{2, 2}, []float32{seed.Float32s()[3], seed.Float32s()[4], seed.Float32s()[8], seed.Float32s()[9]})
	shapeClose(t, "d/db", grads["b"], want, 0)
}

// TestShapeRulesDeclared: every operator of graph/ops_shape.go and graph/ops_tensor.go has a
// rule, whose non-differentiable inputs are the shapes, axes, indices, pads, repeats and
// dropout settings, and the operators that carry no gradient are declared so.
func TestShapeRulesDeclared(t *testing.T) {
	nonDiff := map[string][]int{
		"Flatten": nil, "Reshape": {1}, "Transpose": nil, "Concat": nil, "Split": {1},
		"Slice": {1, 2, 3, 4}, "Pad": {1, 2, 3}, "Squeeze": {1}, "Unsqueeze": {1}, "Gather": {1},
		"Tile": {1, 2}, "Identity": nil, "Dropout": {1, 2}, "Cast": nil,
	}
	for op, want := range nonDiff {
		r, ok := backprop.Lookup(op)
		if !ok || r.NoGrad || r.VJP == nil {
			t.Errorf("%s: no VJP", op)
			continue
		}
		if fmt.Sprint(r.NonDiff) != fmt.Sprint(want) && !(len(r.NonDiff) == 0 && len(want) == 0) {
			t.Errorf("%s: NonDiff %v, want %v", op, r.NonDiff, want)
		}
	}
	for _, op := range []string{"Shape", "Constant", "ConstantOfShape", "Range"} {
		if r, ok := backprop.Lookup(op); !ok || !r.NoGrad {
			t.Errorf("%s: not declared NotDifferentiable", op)
		}
	}
}
