package graph_test

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/tensor"
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
	x, err := data.LoadNPY(filepath.Join(dir, "x.npy"))
	if err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(dir, "gelu20.onnx")
	got := shapeRunModel(t, model, map[string]*tensor.Tensor{"x": x})
	ortDir := filepath.Join(dir, "ort")
	fixture.RunORT(t, model, ortDir, "x="+filepath.Join(dir, "x.npy"))
	for _, name := range []string{"erf", "tanh"} {
		want, err := data.LoadNPY(filepath.Join(ortDir, name+".npy"))
		if err != nil {
			t.Fatal(err)
		}
		y := got[name]
		if y == nil || !tensor.EqualShapes(y.Shape(), want.Shape()) {
			t.Fatalf("%s: got %v, ONNX Runtime's shape %v", name, y, want.Shape())
		}
		for i := range y.Len() {
			if g, w := y.Float64At(i), want.Float64At(i); math.Abs(g-w) > 1e-6*(1+math.Abs(w)) {
				t.Errorf("%s: element %d: got %v, ONNX Runtime %v", name, i, g, w)
				break
			}
		}
	}
}
