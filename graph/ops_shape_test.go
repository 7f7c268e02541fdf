package graph_test

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/tensor"
)

// shapeExportScript exports one module at several opsets with torch.onnx.export and records
// PyTorch's outputs. The module exercises the shape family the way exporters use it: pads of
// every mode (negative ones included), dynamic reshapes (Shape -> Gather -> Unsqueeze ->
// Concat -> Reshape, since the batch axis is dynamic), chunk and split, slices with negative
// bounds and steps, index_select, repeat, squeeze/unsqueeze, flatten, arange and casts; at
// opset 9 it gets the attribute forms (Slice-1, Pad-2, Split-2, Squeeze-1), at 13 and 17 the
// input forms.
const shapeExportScript = `
import sys, torch, numpy as np
import torch.nn.functional as F

class M(torch.nn.Module):
    def __init__(self, opset):
        super().__init__()
        self.opset = opset
    def forward(self, x, idx):
        outs = [
            F.pad(x, (1, 2, 2, 0), mode="reflect"),
            F.pad(x, (2, 1, 0, 3), mode="replicate"),
            F.pad(x, (1, 1, 1, 1), value=0.5),
            F.pad(x, (-1, 2, 1, -2)),
            x.permute(0, 2, 3, 1).reshape(x.shape[0], -1),
            torch.cat(torch.chunk(x, 3, dim=1)[::-1], dim=1),
            torch.cat(torch.split(x, [1, 3, 2], dim=3)[::-1], dim=3),
            x[:, 1:, 2:-1, -4:],
            torch.index_select(x, 2, idx),
            x[:, :, idx[0]],
            x.repeat(1, 2, 1, 3),
            x.unsqueeze(1).squeeze(1).flatten(1),
            x.unsqueeze(-1).transpose(1, 4).squeeze(),
            x.to(torch.int32).to(torch.float32),
            x.new_zeros(x.shape[2:]) + x.shape[1],
        ]
        if self.opset >= 10:
            outs.append(x.flip(-1)[:, ::2, 1::3])
        if self.opset >= 11:
            outs.append(torch.arange(x.shape[-1], dtype=torch.float32) * 2)
        return tuple(outs)

out = sys.argv[1]
torch.manual_seed(0)
x = torch.randn(2, 3, 5, 6) * 3
idx = torch.tensor([4, 0, 2, 2])
ref = {"x": x.numpy(), "idx": idx.numpy()}
for opset in [9, 11, 13, 17]:
    m = M(opset).eval()
    ys = m(x, idx)
    names = ["y%d" % i for i in range(len(ys))]
    torch.onnx.export(m, (x, idx), "%s/shape_op%d.onnx" % (out, opset), opset_version=opset,
        input_names=["x", "idx"], output_names=names, dynamic_axes={"x": {0: "n"}})
    for n, y in zip(names, ys):
        ref["op%d_%s" % (opset, n)] = y.detach().numpy()
np.savez("%s/shape.io.npz" % out, **ref)
`

// TestShapeOpsMatchPyTorchExport runs the exported module at opsets 9, 11, 13 and 17 and
// compares every output with PyTorch's exactly: none of these operators does arithmetic that
// could round differently.
func TestShapeOpsMatchPyTorchExport(t *testing.T) {
	dir := t.TempDir()
	fixture.RunPython(t, shapeExportScript, dir)
	ref, _, err := data.LoadNPZ(filepath.Join(dir, "shape.io.npz"))
	if err != nil {
		t.Fatal(err)
	}
	for _, opset := range []int{9, 11, 13, 17} {
		t.Run(fmt.Sprint("opset", opset), func(t *testing.T) {
			got := shapeRunModel(t, filepath.Join(dir, fmt.Sprintf("shape_op%d.onnx", opset)),
				map[string]*tensor.Tensor{"x": ref["x"], "idx": ref["idx"]})
			for name, y := range got {
				want := ref[fmt.Sprintf("op%d_%s", opset, name)]
				if want == nil {
					t.Fatalf("no reference for output %s", name)
				}
				shapeSame(t, name, y, want)
			}
		})
	}
}

func shapeRunModel(t *testing.T, path string, feeds map[string]*tensor.Tensor) map[string]*tensor.Tensor {
	t.Helper()
	got, err := planFile(t, path).Run(nil, feeds)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// shapeSame requires equal shapes and elements (NaN equal to NaN); dtypes may differ where
// numpy saved a wider one.
func shapeSame(t *testing.T, name string, got, want *tensor.Tensor) {
	t.Helper()
	if !tensor.EqualShapes(got.Shape(), want.Shape()) {
		t.Errorf("%s: got shape %v, want %v", name, got.Shape(), want.Shape())
		return
	}
	for i := range got.Len() {
		g, w := got.Float64At(i), want.Float64At(i)
		if g != w && !(math.IsNaN(g) && math.IsNaN(w)) {
			t.Errorf("%s: element %d: got %v, want %v", name, i, g, w)
			return
		}
	}
}

// shapeORTScript builds one opset-15 model whose nodes probe the corners of the spec that the
// conformance suite leaves out, for ONNX Runtime to act as the reference: Slice clamping with
// negative steps and starts or ends far outside the axis (where ONNX's rules differ from
// Python's), Pad with negative pads in every mode and an omitted constant_value, Gather with
// int32 and negative indices, Squeeze of every unit axis, Unsqueeze with negative axes,
// Reshape with allowzero, Split with a split input, Tile, Shape with start and end, Cast from
// float to integers and bool, and Range on int64.
const shapeORTScript = `
import sys, numpy as np, onnx
from onnx import helper as h, TensorProto as T, numpy_helper as nh

out = sys.argv[1]
I64MAX, I64MIN = 2**63 - 1, -2**63
inits, nodes, outs = [], [], []
def const(name, v, dt=np.int64):
    inits.append(nh.from_array(np.array(v, dtype=dt), name))
    return name
def node(op, ins, n_out=1, **attrs):
    name = "o%d" % len(outs)
    names = [name] if n_out == 1 else ["%s_%d" % (name, i) for i in range(n_out)]
    nodes.append(h.make_node(op, ins, names, name=name, **attrs))
    for n in names:
        outs.append(h.make_empty_tensor_value_info(n))
    return names

x = (np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6) - 50) / 7
cases = [
    ([-100], [-200], [1], [-1]), ([-100], [I64MIN], [0], [-1]), ([100], [-100], [2], [-2]),
    ([I64MAX], [I64MIN], [-1], [-3]), ([-1, 1], [-100, 100], [2, 0], [-1, 2]),
    ([3], [1], [0], [1]), ([1], [-1], [-2], [1]),
]
for i, (s, e, a, st) in enumerate(cases):
    node("Slice", ["x", const("s%d" % i, s), const("e%d" % i, e), const("a%d" % i, a), const("st%d" % i, st)])
node("Slice", ["x", const("s_noax", [1, -2]), const("e_noax", [3, 100])])
for mode in ["constant", "reflect", "edge"]:
    node("Pad", ["x", const("p_" + mode, [1, -1, 2, -1, 2, -3])], mode=mode)
node("Pad", ["x", const("p_cv", [0, 2, 1, 1, 0, 0]), const("cv", -1.5, np.float32)])
node("Pad", ["x", const("p_empty", [1, 0, 1, 0, 0, 0]), ""])
node("Gather", ["x", const("gi32", [[-1, 0], [2, -3]], np.int32)], axis=1)
node("Gather", ["x", const("gi64", [5, -6, 0])], axis=-1)
node("Gather", ["x", const("gscalar", -4)], axis=0)
one = node("Reshape", ["x", const("r1", [4, 1, 5, 1, 6])])[0]
node("Squeeze", [one])
node("Squeeze", [one, const("sq", [-2])])
node("Unsqueeze", ["x", const("usq", [-1, 0, 3])])
node("Reshape", ["x", const("rz", [0, -1])])
node("Reshape", ["x", const("rz2", [2, 0, 0, -1])])
z = node("Slice", ["x", const("zs", [0]), const("ze", [0]), const("za", [0])])[0]
node("Reshape", [z, const("rallow", [0, 3, 10])], allowzero=1)
node("Split", ["x", const("spl", [1, 3, 2])], n_out=3, axis=-1)
node("Split", ["x"], n_out=2, axis=0)
node("Tile", ["x", const("reps", [2, 1, 3])])
node("Shape", ["x"], start=-2)
node("Shape", ["x"], start=1, end=-1)
node("Shape", ["x"], start=-10, end=10)
for dt in [T.INT32, T.INT8, T.BOOL, T.FLOAT16, T.DOUBLE]:  # not UINT8: negative values are undefined in C
    node("Cast", ["x"], to=dt)
node("Range", [const("rs", 10), const("rl", -7), const("rd", -3)])
node("ConstantOfShape", [const("cs", [2, 3])], value=nh.from_array(np.array([7], dtype=np.int32)))
node("ConstantOfShape", [const("cs0", [0, 3])])
graph = h.make_graph(nodes, "shape_corners", [h.make_tensor_value_info("x", T.FLOAT, x.shape)], outs, inits)
model = h.make_model(graph, opset_imports=[h.make_opsetid("", 15)])
model.ir_version = 8
onnx.save(model, out + "/corners.onnx")
np.save(out + "/x.npy", x)
`

// TestShapeOpsMatchORT compares the corner cases of shapeORTScript with ONNX Runtime.
func TestShapeOpsMatchORT(t *testing.T) {
	dir := t.TempDir()
	fixture.RunPython(t, shapeORTScript, dir)
	x, err := data.LoadNPY(filepath.Join(dir, "x.npy"))
	if err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(dir, "corners.onnx")
	got := shapeRunModel(t, model, map[string]*tensor.Tensor{"x": x})
	ortDir := filepath.Join(dir, "ort")
	res := fixture.RunORT(t, model, ortDir, "x="+filepath.Join(dir, "x.npy"))
	if len(res.Outputs) != len(got) {
		t.Fatalf("ONNX Runtime gave %d outputs, the engine %d", len(res.Outputs), len(got))
	}
	for name, y := range got {
		want, err := data.LoadNPY(filepath.Join(ortDir, name+".npy"))
		if err != nil {
			t.Fatal(err)
		}
		if ortType := res.Outputs[name].Type; ortType != y.DType().String() {
			t.Errorf("%s: got dtype %v, ONNX Runtime's is %s", name, y.DType(), ortType)
		}
		shapeSame(t, name, y, want)
	}
}

// shape18ORTScript probes the opset-18 forms of Split (num_outputs, with an uneven last
// piece) and Pad (an axes input, negative axes among them), and Pad 19's wrap mode, in an
// opset-19 model.
const shape18ORTScript = `
import sys
import numpy as np
import onnx
from onnx import helper as h, numpy_helper as nh, TensorProto as T

out = sys.argv[1]
x = np.random.default_rng(7).standard_normal((2, 3, 5)).astype(np.float32)
nodes, inits, outs = [], [], []

def const(name, v, dt=np.int64):
    inits.append(nh.from_array(np.array(v, dtype=dt), name))
    return name

def node(op, inputs, n_out=1, **attrs):
    names = ["%s_%d_%d" % (op, len(nodes), i) for i in range(n_out)]
    nodes.append(h.make_node(op, inputs, names, **attrs))
    outs.extend(h.make_tensor_value_info(n, T.FLOAT, None) for n in names)

node("Split", ["x"], n_out=3, axis=-1, num_outputs=3)
node("Split", ["x"], n_out=2, axis=1, num_outputs=2)
node("Split", ["x"], n_out=5, axis=2, num_outputs=5)
node("Split", ["x", const("sp", [1, 4])], n_out=2, axis=2)
node("Pad", ["x", const("p1", [1, 2]), "", const("ax1", [-1])])
node("Pad", ["x", const("p2", [0, 1, 2, 1]), const("cv", -2.0, np.float32), const("ax2", [2, 0])], mode="constant")
node("Pad", ["x", const("p3", [1, 0, 2, 1]), "", const("ax3", [1, -1])], mode="reflect")
node("Pad", ["x", const("p4", [2, 3]), "", const("ax4", [2])], mode="edge")
node("Pad", ["x", const("p5", [1, 2, 0, 3]), "", const("ax5", [-1, 1])], mode="wrap")  # ORT 1.30 fills zeros where a wrap pad is wider than the axis; numpy (tensor's tests) repeats
node("Pad", ["x", const("p6", [0, 1, 2, 1, 0, 3])], mode="wrap")
graph = h.make_graph(nodes, "shape18", [h.make_tensor_value_info("x", T.FLOAT, x.shape)], outs, inits)
model = h.make_model(graph, opset_imports=[h.make_opsetid("", 19)])
model.ir_version = 9
onnx.save(model, out + "/shape18.onnx")
np.save(out + "/x.npy", x)
`

// TestShape18MatchesORT compares Split's num_outputs, Pad's axes input and Pad's wrap mode
// with ONNX Runtime.
func TestShape18MatchesORT(t *testing.T) {
	dir := t.TempDir()
	fixture.RunPython(t, shape18ORTScript, dir)
	matchORT(t, dir, "shape18.onnx", map[string]string{"x": "x.npy"}, 18, 0)
}
