package graph_test

import (
	"path/filepath"
	"testing"

	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/tensor"
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
	x, err := data.LoadNPY(filepath.Join(dir, "x.npy"))
	if err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(dir, "scatter18.onnx")
	got := shapeRunModel(t, model, map[string]*tensor.Tensor{"x": x})
	ortDir := filepath.Join(dir, "ort")
	fixture.RunORT(t, model, ortDir, "x="+filepath.Join(dir, "x.npy"))
	for _, name := range []string{"add", "mul", "max", "min"} {
		want, err := data.LoadNPY(filepath.Join(ortDir, name+".npy"))
		if err != nil {
			t.Fatal(err)
		}
		shapeSame(t, name, got[name], want)
	}
}
