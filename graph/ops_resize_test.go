package graph_test

import (
	"testing"

	"github.com/onnxtune/onnxtune/internal/fixture"
)

// resize1819Script writes Resize in the forms of opsets 18 and 19, which Debian's onnx 1.12
// conformance suite lacks: axes, keep_aspect_ratio_policy, half_pixel_symmetric and antialias,
// over nearest, linear and cubic.
const resize1819Script = `
import sys
import numpy as np
import onnx
from onnx import helper as h, numpy_helper as nh, TensorProto as T

out = sys.argv[1]
x = np.random.default_rng(19).standard_normal((1, 2, 5, 7)).astype(np.float32)
nodes, inits, outs = [], [], []

def const(name, v, dt):
    inits.append(nh.from_array(np.array(v, dtype=dt), name))
    return name

def resize(name, scales=None, sizes=None, **attrs):
    ins = ["x", ""]
    ins.append(const(name + "_scales", scales, np.float32) if scales is not None else "")
    if sizes is not None:
        ins.append(const(name + "_sizes", sizes, np.int64))
    nodes.append(h.make_node("Resize", ins, [name], **attrs))
    outs.append(h.make_tensor_value_info(name, T.FLOAT, None))

resize("axes_scales", scales=[1.6, 0.5], axes=[2, 3], mode="linear")
resize("axes_sizes_neg", sizes=[9], axes=[-1], mode="cubic")
resize("not_larger", sizes=[8, 8], axes=[2, 3], mode="linear", keep_aspect_ratio_policy="not_larger")
resize("not_smaller", sizes=[8, 8], axes=[2, 3], mode="nearest", keep_aspect_ratio_policy="not_smaller")
resize("symmetric", scales=[1, 1, 1.7, 0.6], mode="linear", coordinate_transformation_mode="half_pixel_symmetric")
resize("symmetric_nearest", scales=[1, 1, 0.7, 1.3], mode="nearest", coordinate_transformation_mode="half_pixel_symmetric")
resize("pytorch_half_pixel", sizes=[1, 2, 1, 4], mode="linear", coordinate_transformation_mode="pytorch_half_pixel")
resize("antialias_linear", scales=[1, 1, 0.6, 0.3], mode="linear", antialias=1)
resize("antialias_cubic", sizes=[1, 2, 3, 2], mode="cubic", antialias=1)
resize("antialias_cubic_exclude", sizes=[2, 3], axes=[2, 3], mode="cubic", antialias=1, exclude_outside=1)
resize("antialias_up", scales=[1, 1, 1.5, 2], mode="linear", antialias=1)
graph = h.make_graph(nodes, "resize19", [h.make_tensor_value_info("x", T.FLOAT, x.shape)], outs, inits)
model = h.make_model(graph, opset_imports=[h.make_opsetid("", 19)])
model.ir_version = 9
onnx.save(model, out + "/resize19.onnx")
np.save(out + "/x.npy", x)
`

// TestResize1819MatchesORT compares Resize's opset-18 and 19 forms with ONNX Runtime.
func TestResize1819MatchesORT(t *testing.T) {
	dir := t.TempDir()
	fixture.RunPython(t, resize1819Script, dir)
	matchORT(t, dir, "resize19.onnx", map[string]string{"x": "x.npy"}, 11, 1e-6)
}
