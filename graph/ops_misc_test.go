package graph_test

import (
	"testing"

	"github.com/onnxtune/onnxtune/internal/fixture"
)

// scatterND18Script writes ScatterND with opset 18's max and min reductions (and add and mul),
// indices repeating so that the reduction decides (without one, repeats are undefined).
const scatterND18Script = `
import sys
import numpy as np
import onnx
from onnx import helper as h, numpy_helper as nh, TensorProto as T

out = sys.argv[1]
rng = np.random.default_rng(18)
x = rng.standard_normal((4, 3, 2)).astype(np.float32)
idx = nh.from_array(np.array([[1], [3], [1], [0]], dtype=np.int64), "idx")
upd = nh.from_array(rng.standard_normal((4, 3, 2)).astype(np.float32), "upd")
nodes = [h.make_node("ScatterND", ["x", "idx", "upd"], [r], reduction=r) for r in ["add", "mul", "max", "min"]]
outs = [h.make_tensor_value_info(r, T.FLOAT, None) for r in ["add", "mul", "max", "min"]]
graph = h.make_graph(nodes, "scatter18", [h.make_tensor_value_info("x", T.FLOAT, x.shape)], outs, [idx, upd])
model = h.make_model(graph, opset_imports=[h.make_opsetid("", 18)])
model.ir_version = 8
onnx.save(model, out + "/scatter18.onnx")
np.save(out + "/x.npy", x)
`

// TestScatterND18MatchesORT compares ScatterND's reductions at opset 18 with ONNX Runtime.
func TestScatterND18MatchesORT(t *testing.T) {
	dir := t.TempDir()
	fixture.RunPython(t, scatterND18Script, dir)
	matchORT(t, dir, "scatter18.onnx", map[string]string{"x": "x.npy"}, 4, 0)
}

// col2ImScript writes Col2Im (opset 18) over a few geometries: strides, dilations, symmetric
// and asymmetric pads, blocks overlapping and not.
const col2ImScript = `
import sys, json
import numpy as np
import onnx
from onnx import helper as h, numpy_helper as nh, TensorProto as T

out = sys.argv[1]
rng = np.random.default_rng(18)
cases = [
    ("plain", 2, 3, (5, 6), (2, 3), {}),
    ("strided_dilated", 1, 2, (9, 8), (3, 2), {"strides": [2, 1], "dilations": [1, 2]}),
    ("padded", 2, 1, (4, 5), (3, 3), {"pads": [1, 1, 1, 1]}),
    ("asymmetric", 1, 2, (6, 7), (2, 2), {"pads": [0, 1, 2, 0], "strides": [2, 3]}),
]
meta = []
for name, n, c, img, blk, attrs in cases:
    pads = attrs.get("pads", [0, 0, 0, 0])
    st = attrs.get("strides", [1, 1])
    dl = attrs.get("dilations", [1, 1])
    L = 1
    for d in range(2):
        L *= (img[d] + pads[d] + pads[d + 2] - dl[d] * (blk[d] - 1) - 1) // st[d] + 1
    x = rng.standard_normal((n, c * blk[0] * blk[1], L)).astype(np.float32)
    node = h.make_node("Col2Im", ["x", "image", "block"], ["y"], **attrs)
    graph = h.make_graph([node], name, [h.make_tensor_value_info("x", T.FLOAT, x.shape)],
        [h.make_tensor_value_info("y", T.FLOAT, None)],
        [nh.from_array(np.array(img, np.int64), "image"), nh.from_array(np.array(blk, np.int64), "block")])
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.save(model, "%s/%s.onnx" % (out, name))
    np.save("%s/%s.npy" % (out, name), x)
    meta.append(name)
print(json.dumps(meta))
`

// TestCol2ImMatchesORT compares Col2Im with ONNX Runtime.
func TestCol2ImMatchesORT(t *testing.T) {
	dir := t.TempDir()
	fixture.RunPython(t, col2ImScript, dir)
	for _, name := range []string{"plain", "strided_dilated", "padded", "asymmetric"} {
		matchORT(t, dir, name+".onnx", map[string]string{"x": name + ".npy"}, 1, 1e-6)
	}
}

// scatterElements18Script writes ScatterElements at opset 18 with each reduction (no repeated
// targets for "none", where they are undefined), a negative axis and negative indices.
const scatterElements18Script = `
import sys
import numpy as np
import onnx
from onnx import helper as h, numpy_helper as nh, TensorProto as T

out = sys.argv[1]
rng = np.random.default_rng(11)
x = rng.standard_normal((3, 4, 2)).astype(np.float32)
upd = nh.from_array(rng.standard_normal((3, 3, 2)).astype(np.float32), "upd")
rep = nh.from_array(np.array([[[0, 1], [3, -1], [0, 1]]] * 3, dtype=np.int64), "rep")      # repeats along axis 1
uniq = nh.from_array(np.array([[[2, 0], [-1, 3], [1, 1]]] * 3, dtype=np.int32), "uniq")    # distinct targets
nodes = [h.make_node("ScatterElements", ["x", "uniq", "upd"], ["none"], axis=-2)]
nodes += [h.make_node("ScatterElements", ["x", "rep", "upd"], [r], axis=1, reduction=r) for r in ["add", "mul", "max", "min"]]
names = ["none", "add", "mul", "max", "min"]
graph = h.make_graph(nodes, "scatter_elements18", [h.make_tensor_value_info("x", T.FLOAT, x.shape)],
    [h.make_tensor_value_info(n, T.FLOAT, None) for n in names], [upd, rep, uniq])
model = h.make_model(graph, opset_imports=[h.make_opsetid("", 18)])
model.ir_version = 8
onnx.save(model, out + "/scatter_elements18.onnx")
np.save(out + "/x.npy", x)
`

// TestScatterElements18MatchesORT compares ScatterElements' reductions with ONNX Runtime.
func TestScatterElements18MatchesORT(t *testing.T) {
	dir := t.TempDir()
	fixture.RunPython(t, scatterElements18Script, dir)
	matchORT(t, dir, "scatter_elements18.onnx", map[string]string{"x": "x.npy"}, 5, 0)
}
