package graph_test

import (
	"testing"

	"github.com/onnxtune/onnxtune/internal/fixture"
)

// reduceORTScript builds one opset-18 model with every reduction in its opset-18 form (the
// axes as an input): a few axes with and without keepdims, no axes input (all axes), and
// empty axes with noop_with_empty_axes. Debian's onnx 1.12 knows opset 17 at most, so the
// model is written without its checker; ONNX Runtime 1.30 is the reference.
const reduceORTScript = `
import sys
import numpy as np
import onnx
from onnx import helper as h, numpy_helper as nh, TensorProto as T

out = sys.argv[1]
rng = np.random.default_rng(18)
x = rng.standard_normal((2, 3, 4)).astype(np.float32)
p = rng.uniform(0.5, 2.0, (2, 3, 4)).astype(np.float32)
nodes, inits, outs = [], [], []

def const(name, v):
    inits.append(nh.from_array(np.array(v, dtype=np.int64), name))
    return name

for op in ["ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
           "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare", "ReduceSum"]:
    src = "p" if op == "ReduceLogSum" else "x"
    variants = [
        ([const(op + "_a1", [1])], {}),
        ([const(op + "_a02", [0, -1])], {"keepdims": 0}),
        ([], {}),
        ([], {"keepdims": 0}),
        ([const(op + "_empty", np.zeros(0, np.int64))], {"noop_with_empty_axes": 1}),
        ([], {"noop_with_empty_axes": 1}),
    ]
    for i, (axes, attrs) in enumerate(variants):
        name = "%s_%d" % (op, i)
        nodes.append(h.make_node(op, [src] + axes, [name], name=name, **attrs))
        outs.append(h.make_tensor_value_info(name, T.FLOAT, None))
graph = h.make_graph(nodes, "reduce18", [h.make_tensor_value_info("x", T.FLOAT, x.shape),
    h.make_tensor_value_info("p", T.FLOAT, p.shape)], outs, inits)
model = h.make_model(graph, opset_imports=[h.make_opsetid("", 18)])
model.ir_version = 8
onnx.save(model, out + "/reduce18.onnx")
np.save(out + "/x.npy", x)
np.save(out + "/p.npy", p)
`

// TestReduce18MatchesORT runs every reduction in its opset-18 form against ONNX Runtime.
func TestReduce18MatchesORT(t *testing.T) {
	dir := t.TempDir()
	fixture.RunPython(t, reduceORTScript, dir)
	matchORT(t, dir, "reduce18.onnx", map[string]string{"x": "x.npy", "p": "p.npy"}, 60, 1e-5)
}
