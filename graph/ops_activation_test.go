package graph_test

import (
	"testing"

	"github.com/onnxtune/onnxtune/internal/fixture"
)

// geluORTScript builds an opset-20 model with Gelu in both forms.
const geluORTScript = `
import sys
import numpy as np
import onnx
from onnx import helper as h, TensorProto as T

out = sys.argv[1]
x = (np.random.default_rng(20).standard_normal((3, 50)) * 3).astype(np.float32)
nodes = [h.make_node("Gelu", ["x"], ["erf"]), h.make_node("Gelu", ["x"], ["tanh"], approximate="tanh")]
outs = [h.make_tensor_value_info(n, T.FLOAT, None) for n in ["erf", "tanh"]]
graph = h.make_graph(nodes, "gelu20", [h.make_tensor_value_info("x", T.FLOAT, x.shape)], outs)
model = h.make_model(graph, opset_imports=[h.make_opsetid("", 20)])
model.ir_version = 9
onnx.save(model, out + "/gelu20.onnx")
np.save(out + "/x.npy", x)
`

// TestGeluMatchesORT compares Gelu (opset 20), exact and tanh-approximated, with ONNX Runtime.
func TestGeluMatchesORT(t *testing.T) {
	dir := t.TempDir()
	fixture.RunPython(t, geluORTScript, dir)
	matchORT(t, dir, "gelu20.onnx", map[string]string{"x": "x.npy"}, 2, 1e-6)
}
