package graph_test

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/onnx"
	"github.com/onnxtune/onnxtune/tensor"
)

// convORTCase is a one-node ONNX model that convORT builds with the onnx Python package, feeds
// random inputs (float inputs standard normal, unless Data gives them) and runs in both ONNX
// Runtime and the engine.
type convORTCase struct {
	Name    string         `json:"name"`
	Op      string         `json:"op"`
	Opset   int            `json:"opset"`
	Attrs   map[string]any `json:"attrs"`
	Inputs  []convORTInput `json:"inputs"`
	Outputs []string       `json:"outputs"` // "" for an omitted optional output
	// OutTypes gives the outputs' numpy dtypes where they differ from the first input's.
	OutTypes []string `json:"out_types,omitempty"`
	// Ctx, if set, runs the engine with this context (ONNX Runtime has no such switch, so
	// the case's reference must not depend on it).
	Ctx *graph.Context `json:"-"`
}

type convORTInput struct {
	Name  string    `json:"name"` // "" for an omitted optional input
	Shape []int     `json:"shape"`
	DType string    `json:"dtype"` // numpy name; float32 when empty
	Data  []float64 `json:"data,omitempty"`
	// Positive makes random data positive (variances).
	Positive bool `json:"positive,omitempty"`
}

func convIn(name string, shape ...int) convORTInput { return convORTInput{Name: name, Shape: shape} }

// convORT writes every case's model and inputs with Python, runs them and compares the
// engine's outputs with ONNX Runtime's, elementwise within tol relative to the magnitude.
func convORT(t *testing.T, cases []convORTCase, tol float64) {
	t.Helper()
	dir := t.TempDir()
	spec, _ := json.Marshal(cases)
	specFile := filepath.Join(dir, "cases.json")
	if err := os.WriteFile(specFile, spec, 0o644); err != nil {
		t.Fatal(err)
	}
	fixture.RunPython(t, `
import sys, json, os, numpy as np, onnx
from onnx import helper, TensorProto
d = sys.argv[1]
rng = np.random.default_rng(0)
for c in json.load(open(os.path.join(d, "cases.json"))):
    cd = os.path.join(d, c["name"])
    os.makedirs(cd)
    ins, names = [], []
    for i in c["inputs"]:
        names.append(i["name"])
        if not i["name"]:
            continue
        dt = np.dtype(i.get("dtype") or "float32")
        if i.get("data") is not None:
            v = np.array(i["data"], dtype=dt).reshape(i["shape"])
        elif dt.kind == "f":
            v = rng.standard_normal(i["shape"]).astype(dt)
            if i.get("positive"):
                v = np.abs(v) + 0.1
        else:
            v = rng.integers(np.iinfo(dt).min, np.iinfo(dt).max, size=i["shape"], endpoint=True).astype(dt)
        np.save(os.path.join(cd, i["name"] + ".npy"), v)
        ins.append(helper.make_tensor_value_info(i["name"], onnx.mapping.NP_TYPE_TO_TENSOR_TYPE[dt], i["shape"]))
    types = c.get("out_types") or [c["inputs"][0].get("dtype") or "float32"] * len(c["outputs"])
    outs = [helper.make_tensor_value_info(o, onnx.mapping.NP_TYPE_TO_TENSOR_TYPE[np.dtype(t)], None)
            for o, t in zip(c["outputs"], types) if o]
    node = helper.make_node(c["op"], names, c["outputs"], **(c["attrs"] or {}))
    g = helper.make_graph([node], c["name"], ins, outs)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", c["opset"])])
    m.ir_version = 8 if c["opset"] < 21 else 10  # opset 21 came with IR version 10
    onnx.save(m, os.path.join(cd, "model.onnx"))
`, dir)
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			cd := filepath.Join(dir, c.Name)
			model := filepath.Join(cd, "model.onnx")
			var args []string
			feeds := map[string]*tensor.Tensor{}
			for _, i := range c.Inputs {
				if i.Name == "" {
					continue
				}
				p := filepath.Join(cd, i.Name+".npy")
				v, err := data.LoadNPY(p)
				if err != nil {
					t.Fatal(err)
				}
				feeds[i.Name] = v
				args = append(args, i.Name+"="+p)
			}
			got, err := convRunEngine(model, c.Ctx, feeds)
			if err != nil {
				t.Fatal(err)
			}
			outDir := filepath.Join(cd, "ort")
			if err := os.MkdirAll(outDir, 0o755); err != nil {
				t.Fatal(err)
			}
			fixture.RunORT(t, model, outDir, args...)
			for _, o := range c.Outputs {
				if o == "" {
					continue
				}
				want, err := data.LoadNPY(filepath.Join(outDir, o+".npy"))
				if err != nil {
					t.Fatal(err)
				}
				if err := convClose(got[o], want, tol); err != nil {
					t.Errorf("output %s: %v", o, err)
				}
			}
		})
	}
}

func convRunEngine(model string, ctx *graph.Context, feeds map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
	m, err := onnx.Load(model)
	if err != nil {
		return nil, err
	}
	g, err := onnx.Import(m)
	if err != nil {
		return nil, err
	}
	plan, err := graph.NewPlan(g)
	if err != nil {
		return nil, err
	}
	return plan.Run(ctx, feeds)
}

// convClose compares got with want elementwise: same shape and dtype, and within tol of the
// larger of 1 and |want| (exact for integers).
func convClose(got, want *tensor.Tensor, tol float64) error {
	if got == nil {
		return fmt.Errorf("not produced")
	}
	if !tensor.EqualShapes(got.Shape(), want.Shape()) || got.DType() != want.DType() {
		return fmt.Errorf("got %v, want %v", got, want)
	}
	for i := range got.Len() {
		g, w := got.Float64At(i), want.Float64At(i)
		if g == w || math.IsNaN(g) && math.IsNaN(w) {
			continue
		}
		if !want.DType().IsFloat() || math.Abs(g-w) > tol*max(1, math.Abs(w)) {
			return fmt.Errorf("element %d: got %v, want %v", i, g, w)
		}
	}
	return nil
}

// TestConvORT covers what the conformance suite leaves out: auto_pad with odd padding totals
// (both SAME variants, strides, dilations), VALID, groups in 1-D and 3-D, depthwise with a
// multiplier, and for ConvTranspose output_shape with an odd surplus, auto_pad, groups with
// dilations and output_padding, compared with ONNX Runtime.
func TestConvORT(t *testing.T) {
	conv := func(name string, attrs map[string]any, x, w []int, bias bool) convORTCase {
		c := convORTCase{Name: name, Op: "Conv", Opset: 11, Attrs: attrs, Inputs: []convORTInput{convIn("x", x...), convIn("w", w...)}, Outputs: []string{"y"}}
		if bias {
			c.Inputs = append(c.Inputs, convIn("b", w[0]))
		}
		return c
	}
	convT := func(name string, attrs map[string]any, x, w []int, bias bool) convORTCase {
		c := convORTCase{Name: name, Op: "ConvTranspose", Opset: 11, Attrs: attrs, Inputs: []convORTInput{convIn("x", x...), convIn("w", w...)}, Outputs: []string{"y"}}
		if bias {
			c.Inputs = append(c.Inputs, convIn("b", w[1]*convAttrGroup(attrs)))
		}
		return c
	}
	cases := []convORTCase{
		conv("same_upper_s2_even", map[string]any{"auto_pad": "SAME_UPPER", "strides": []int{2, 2}}, []int{2, 3, 8, 8}, []int{4, 3, 3, 3}, true),
		// (ONNX Runtime rejects auto_pad SAME with dilations: TestConvSameDilatedTorch.)
		conv("same_upper_s2_odd", map[string]any{"auto_pad": "SAME_UPPER", "strides": []int{2, 1}}, []int{1, 2, 9, 8}, []int{3, 2, 3, 2}, true),
		conv("same_lower_k2", map[string]any{"auto_pad": "SAME_LOWER"}, []int{1, 2, 5, 6}, []int{3, 2, 2, 2}, false),
		conv("same_lower_s3", map[string]any{"auto_pad": "SAME_LOWER", "strides": []int{3, 3}}, []int{1, 2, 10, 11}, []int{2, 2, 4, 3}, true),
		conv("valid_s3", map[string]any{"auto_pad": "VALID", "strides": []int{3, 2}}, []int{2, 2, 10, 9}, []int{2, 2, 3, 3}, true),
		conv("group3_1d", map[string]any{"group": 3, "pads": []int{2, 1}, "strides": []int{2}}, []int{2, 6, 13}, []int{9, 2, 4}, true),
		conv("depthwise_mult2_same", map[string]any{"group": 4, "auto_pad": "SAME_UPPER", "strides": []int{2, 2}}, []int{2, 4, 7, 9}, []int{8, 1, 3, 3}, true),
		conv("depthwise_5x5_dil", map[string]any{"group": 3, "pads": []int{4, 3, 2, 1}, "dilations": []int{2, 1}}, []int{1, 3, 9, 8}, []int{3, 1, 5, 5}, true),
		conv("3d_groups_asym", map[string]any{"group": 2, "pads": []int{1, 0, 2, 0, 1, 1}, "strides": []int{1, 2, 2}}, []int{1, 4, 5, 6, 7}, []int{4, 2, 2, 3, 3}, true),
		conv("pointwise_s2", map[string]any{"strides": []int{2, 2}}, []int{3, 8, 9, 9}, []int{5, 8, 1, 1}, true),
		conv("batch_packed", map[string]any{"pads": []int{1, 1, 1, 1}}, []int{9, 16, 7, 7}, []int{24, 16, 3, 3}, true),
		convT("output_shape_odd", map[string]any{"strides": []int{2, 2}, "output_shape": []int{8, 9}}, []int{1, 2, 4, 5}, []int{2, 3, 3, 3}, true),
		convT("output_shape_s3", map[string]any{"strides": []int{3, 2}, "output_shape": []int{12, 10}, "kernel_shape": []int{4, 3}}, []int{2, 2, 4, 5}, []int{2, 2, 4, 3}, false),
		convT("same_upper_s2", map[string]any{"strides": []int{2, 2}, "auto_pad": "SAME_UPPER"}, []int{1, 2, 3, 4}, []int{2, 2, 4, 3}, true),
		convT("same_lower_s2", map[string]any{"strides": []int{2, 2}, "auto_pad": "SAME_LOWER"}, []int{1, 2, 3, 4}, []int{2, 2, 4, 3}, true),
		convT("group_dil_outpad", map[string]any{"group": 2, "dilations": []int{2, 1}, "strides": []int{2, 3}, "pads": []int{1, 0, 2, 1}, "output_padding": []int{1, 2}}, []int{2, 4, 4, 3}, []int{4, 3, 3, 2}, true),
		convT("1d", map[string]any{"strides": []int{3}, "pads": []int{1, 2}}, []int{2, 3, 6}, []int{3, 2, 4}, true),
		convT("3d", map[string]any{"strides": []int{2, 1, 2}, "pads": []int{0, 1, 1, 1, 0, 0}}, []int{1, 2, 3, 4, 3}, []int{2, 2, 2, 3, 3}, true),
		convT("valid_pointwise", map[string]any{"auto_pad": "VALID"}, []int{2, 5, 4, 4}, []int{5, 3, 1, 1}, true),
	}
	convORT(t, cases, 1e-4)
}

func convAttrGroup(attrs map[string]any) int {
	if g, ok := attrs["group"].(int); ok {
		return g
	}
	return 1
}

// TestConvSameDilatedTorch checks auto_pad SAME_UPPER with dilations, which ONNX Runtime
// refuses, against PyTorch's padding="same" (which also puts an odd cell at the end): the
// effective kernels 3 and 4 need totals of 2 and 3.
func TestConvSameDilatedTorch(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	x, w := make([]float32, 2*3*6*7), make([]float32, 4*3*2*2)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	for i := range w {
		w[i] = float32(r.NormFloat64())
	}
	args, _ := json.Marshal([][]float32{x, w})
	out := fixture.RunPython(t, `
import sys, json, torch
x, w = (torch.tensor(v, dtype=torch.float64) for v in json.loads(sys.argv[1]))
y = torch.nn.functional.conv2d(x.view(2, 3, 6, 7), w.view(4, 3, 2, 2), padding="same", dilation=(2, 3))
print(json.dumps(y.flatten().tolist()))
`, string(args))
	var want []float64
	if err := json.Unmarshal([]byte(out), &want); err != nil {
		t.Fatal(err)
	}
	n := &graph.Node{Name: "c", OpType: "Conv", Inputs: []string{"x", "w"}, Outputs: []string{"y"}, Attrs: map[string]graph.Attr{
		"auto_pad":  {Type: graph.AttrString, String: "SAME_UPPER"},
		"dilations": {Type: graph.AttrInts, Ints: []int64{2, 3}},
	}}
	k, err := convBuild(n, 11)
	if err != nil {
		t.Fatal(err)
	}
	outs, err := k.Run(&graph.Context{}, []*tensor.Tensor{tensor.From([]int{2, 3, 6, 7}, x), tensor.From([]int{4, 3, 2, 2}, w)})
	if err != nil {
		t.Fatal(err)
	}
	if err := convClose(outs[0], tensor.From([]int{2, 4, 6, 7}, convF32(want)), 1e-5); err != nil {
		t.Error(err)
	}
}

func convF32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// TestConvFloat16: float16 inputs run through float32 and come back as float16.
func TestConvFloat16(t *testing.T) {
	x := make([]uint16, 2*1*4*4)
	for i := range x {
		x[i] = tensor.Float32ToFloat16(float32(i%7) - 3)
	}
	w := []uint16{tensor.Float32ToFloat16(0.5), tensor.Float32ToFloat16(-1), tensor.Float32ToFloat16(2), tensor.Float32ToFloat16(0.25)}
	node := &graph.Node{Name: "c", OpType: "Conv", Inputs: []string{"x", "w"}, Outputs: []string{"y"}}
	k, err := convBuild(node, 11)
	if err != nil {
		t.Fatal(err)
	}
	outs, err := k.Run(&graph.Context{}, []*tensor.Tensor{
		tensor.FromBits(tensor.Float16, []int{2, 1, 4, 4}, x), tensor.FromBits(tensor.Float16, []int{1, 1, 2, 2}, w)})
	if err != nil {
		t.Fatal(err)
	}
	y := outs[0]
	if y.DType() != tensor.Float16 || !tensor.EqualShapes(y.Shape(), []int{2, 1, 3, 3}) {
		t.Fatalf("got %v, want float16[2 1 3 3]", y)
	}
	// The reference is the same convolution in float32, rounded once to float16.
	xf := make([]float32, len(x))
	for i, b := range x {
		xf[i] = tensor.Float16ToFloat32(b)
	}
	wf := []float32{0.5, -1, 2, 0.25}
	want := make([]float32, 18)
	tensor.Conv(want, xf, wf, nil, &tensor.ConvGeom{Batch: 2, InC: 1, OutC: 1, Group: 1, InShape: []int{4, 4}, Kernel: []int{2, 2},
		OutShape: []int{3, 3}, Strides: []int{1, 1}, Dilations: []int{1, 1}, Pads: []int{0, 0}})
	for i, b := range tensor.Data[uint16](y) {
		if b != tensor.Float32ToFloat16(want[i]) {
			t.Fatalf("element %d: got %v, want %v", i, tensor.Float16ToFloat32(b), want[i])
		}
	}
}

// convBuild looks the node's operator up at opset and builds its kernel.
func convBuild(n *graph.Node, opset int) (graph.Kernel, error) {
	def, ok := graph.Lookup("", n.OpType, opset)
	if !ok {
		return nil, fmt.Errorf("%s is not registered at opset %d", n.OpType, opset)
	}
	return def.Build(n, opset)
}

// TestConvErrors: bad attributes fail at build time and bad shapes at run time, naming the
// node or saying what was given and expected, never panicking.
func TestConvErrors(t *testing.T) {
	ints := func(v ...int64) graph.Attr { return graph.Attr{Type: graph.AttrInts, Ints: v} }
	for _, c := range []struct {
		op    string
		attrs map[string]graph.Attr
		want  string
	}{
		{"Conv", map[string]graph.Attr{"strides": ints(0, 1)}, `node "bad" (Conv): attribute "strides"`},
		{"Conv", map[string]graph.Attr{"auto_pad": {Type: graph.AttrString, String: "SAME"}}, `auto_pad "SAME"`},
		{"Conv", map[string]graph.Attr{"group": {Type: graph.AttrInt, Int: 0}}, "group is 0"},
		{"Conv", map[string]graph.Attr{"pads": ints(1, 1, 1)}, "odd number"},
		{"ConvTranspose", map[string]graph.Attr{"kernel_shape": ints(3, 3), "strides": ints(1, 1, 1)}, "disagree"},
		{"MaxPool", map[string]graph.Attr{}, "kernel_shape is required"},
		{"AveragePool", map[string]graph.Attr{"kernel_shape": ints(2, 2), "pads": ints(-1, 0, 0, 0)}, "at least 0"},
	} {
		n := &graph.Node{Name: "bad", OpType: c.op, Inputs: []string{"x", "w"}, Outputs: []string{"y"}, Attrs: c.attrs}
		_, err := convBuild(n, 13)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %v: got error %v, want one containing %q", c.op, c.attrs, err, c.want)
		}
	}
	run := func(op string, attrs map[string]graph.Attr, in ...*tensor.Tensor) error {
		n := &graph.Node{Name: "n", OpType: op, Inputs: []string{"x", "w", "b"}[:len(in)], Outputs: []string{"y"}, Attrs: attrs}
		k, err := convBuild(n, 13)
		if err != nil {
			return err
		}
		_, err = k.Run(&graph.Context{}, in)
		return err
	}
	f := func(shape ...int) *tensor.Tensor { return tensor.New(tensor.Float32, shape...) }
	for _, c := range []struct {
		err  error
		want string
	}{
		{run("Conv", nil, f(1, 3, 5, 5), f(4, 2, 3, 3)), "X has 3 channels but W [4 2 3 3] with group 1 expects 2"},
		{run("Conv", nil, f(1, 3, 5), f(4, 3, 3, 3)), "want rank 3"},
		{run("Conv", nil, f(1, 3, 2, 2), f(4, 3, 3, 3)), "too small for kernel"},
		{run("Conv", nil, f(1, 3, 5, 5), f(4, 3, 3, 3), f(3)), "B has shape [3], want [4]"},
		{run("Conv", map[string]graph.Attr{"kernel_shape": ints(2, 2)}, f(1, 3, 5, 5), f(4, 3, 3, 3)), "kernel_shape [2 2] does not match"},
		{run("Conv", nil, tensor.New(tensor.Int32, 1, 3, 5, 5), tensor.New(tensor.Int32, 4, 3, 3, 3)), "want float32, float16 or bfloat16"},
		{run("ConvTranspose", nil, f(1, 3, 5, 5), f(4, 2, 3, 3)), "X has 3 channels but W [4 2 3 3] expects 4"},
		{run("MaxPool", map[string]graph.Attr{"kernel_shape": ints(2, 2)}, f(1, 3, 5)), "want [N C] and 2 spatial dimensions"},
		{run("MaxPool", map[string]graph.Attr{"kernel_shape": ints(2, 2)}, tensor.New(tensor.Bool, 1, 1, 3, 3)), "want a float, int8 or uint8"},
	} {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("got error %v, want one containing %q", c.err, c.want)
		}
	}
}

// TestPreciseWhenDifferentiated: a forward pass for a backward one (ForwardLeased) computes a
// stride-1 3×3 Conv or ConvTranspose (the convolution of its input with the flipped filters)
// that F(4×4, 3×3) would take by F(2×2, 3×3) (ConvGeom.Precise), nearer to a float64 sum,
// while Run keeps F(4×4, 3×3); for Conv, each bit for bit as tensor.Conv.
func TestPreciseWhenDifferentiated(t *testing.T) {
	const batch, inC, outC, size = 3, 64, 64, 28 // 147 tiles of 4×4: F(4×4, 3×3) for Run
	r := rand.New(rand.NewPCG(5, 6))
	random := func(shape ...int) *tensor.Tensor {
		v := make([]float32, tensor.Size(shape))
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
		return tensor.From(shape, v)
	}
	x := random(batch, inC, size, size)
	for _, c := range []struct {
		op string
		w  *tensor.Tensor
		// tap is the filter value that input channel ic at offset (di, dj) from output (i, j)
		// carries to output channel oc: (i+di-1, j+dj-1) is the input cell.
		tap func(w []float32, oc, ic, di, dj int) float32
	}{
		{"Conv", random(outC, inC, 3, 3), func(w []float32, oc, ic, di, dj int) float32 { return w[(oc*inC+ic)*9+di*3+dj] }},
		{"ConvTranspose", random(inC, outC, 3, 3), func(w []float32, oc, ic, di, dj int) float32 { return w[(ic*outC+oc)*9+(2-di)*3+2-dj] }},
	} {
		t.Run(c.op, func(t *testing.T) {
			fast, precise := runBothForwards(t, c.op, x, c.w)
			if c.op == "Conv" {
				for _, p := range []struct {
					got     []float32
					precise bool
				}{{fast, false}, {precise, true}} {
					want := make([]float32, len(p.got))
					tensor.Conv(want, x.Float32s(), c.w.Float32s(), nil, &tensor.ConvGeom{Batch: batch, InC: inC, OutC: outC, Group: 1,
						InShape: []int{size, size}, Kernel: []int{3, 3}, OutShape: []int{size, size}, Strides: []int{1, 1},
						Dilations: []int{1, 1}, Pads: []int{1, 1}, Precise: p.precise})
					if !equalBits(p.got, want) {
						t.Errorf("the output differs from tensor.Conv with Precise %v", p.precise)
					}
				}
			}
			// A float64 direct sum over a few output channels judges which is nearer.
			var errFast, errPrecise float64
			xs, ws := x.Float32s(), c.w.Float32s()
			for img := range batch {
				for oc := 0; oc < outC; oc += 9 {
					for i := range size {
						for j := range size {
							var sum float64
							for ic := range inC {
								for di := range 3 {
									for dj := range 3 {
										ii, jj := i+di-1, j+dj-1
										if ii >= 0 && ii < size && jj >= 0 && jj < size {
											sum += float64(xs[((img*inC+ic)*size+ii)*size+jj]) * float64(c.tap(ws, oc, ic, di, dj))
										}
									}
								}
							}
							at := ((img*outC+oc)*size+i)*size + j
							errFast = max(errFast, math.Abs(float64(fast[at])-sum))
							errPrecise = max(errPrecise, math.Abs(float64(precise[at])-sum))
						}
					}
				}
			}
			if errPrecise >= errFast {
				t.Errorf("largest difference from a float64 sum: %.3g in ForwardLeased, %.3g in Run", errPrecise, errFast)
			}
			t.Logf("largest difference from a float64 sum: %.3g in ForwardLeased, %.3g in Run", errPrecise, errFast)
		})
	}
}

// runBothForwards plans the one node op(x, w) with pads 1 and returns its output from Run
// and from ForwardLeased.
func runBothForwards(t *testing.T, op string, x, w *tensor.Tensor) (run, leased []float32) {
	t.Helper()
	plan, err := graph.NewPlan(&graph.Graph{
		Inputs:           []graph.ValueInfo{{Name: "x", DType: tensor.Float32}},
		Outputs:          []graph.ValueInfo{{Name: "y", DType: tensor.Float32}},
		Initializers:     map[string]*tensor.Tensor{"w": w},
		InitializerNames: []string{"w"},
		Nodes: []*graph.Node{{Name: "node", OpType: op, Inputs: []string{"x", "w"}, Outputs: []string{"y"},
			Attrs: map[string]graph.Attr{"pads": {Type: graph.AttrInts, Ints: []int64{1, 1, 1, 1}}}}},
		Opsets: map[string]int{"": 17},
	})
	if err != nil {
		t.Fatal(err)
	}
	feeds := map[string]*tensor.Tensor{"x": x}
	out, err := plan.Run(nil, feeds)
	if err != nil {
		t.Fatal(err)
	}
	vals, _, err := plan.ForwardLeased(nil, feeds, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	slot, _ := plan.Slot("y")
	return out["y"].Float32s(), vals[slot].Float32s()
}
