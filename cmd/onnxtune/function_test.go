package main

import (
	"path/filepath"
	"testing"

	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/onnx"
	"github.com/onnxtune/onnxtune/tensor"
)

// functionModelScript writes a CNN whose blocks are model-local functions (built with onnx
// 1.12's helper): local.ConvAct (Conv, then LeakyRelu whose alpha refers to the call's
// attribute) and local.ConvActPool, which calls ConvAct and pools; and the same network
// with the bodies written out as plain nodes over the same initializers. Also data to train
// on and an input to run.
const functionModelScript = `
import sys
import numpy as np
import onnx
from onnx import helper as h, numpy_helper as nh, TensorProto as T

out = sys.argv[1]
rng = np.random.default_rng(5)
FLOAT = onnx.AttributeProto.FLOAT

def ref(name):
    a = onnx.AttributeProto()
    a.name, a.ref_attr_name, a.type = name, name, FLOAT
    return a

def conv_act(x, w, b, y, alpha=None, name=None):
    c = y + "_conv"
    conv = h.make_node("Conv", [x, w, b], [c], pads=[1, 1, 1, 1], name=(name + "_conv") if name else None)
    act = h.make_node("LeakyRelu", [c], [y], name=(name + "_act") if name else None)
    if alpha is None:
        act.attribute.append(ref("alpha"))
    else:
        act.attribute.append(h.make_attribute("alpha", alpha))
    return [conv, act]

fn = h.make_function("local", "ConvAct", ["X", "W", "B"], ["Y"], conv_act("X", "W", "B", "Y"),
                     [h.make_opsetid("", 17)], attributes=["alpha"])
call = h.make_node("ConvAct", ["X", "W", "B"], ["Z"], domain="local")
call.attribute.append(ref("alpha"))
fn2 = h.make_function("local", "ConvActPool", ["X", "W", "B"], ["F"],
                      [call, h.make_node("GlobalAveragePool", ["Z"], ["P"]), h.make_node("Flatten", ["P"], ["F"])],
                      [h.make_opsetid("", 17), h.make_opsetid("local", 1)], attributes=["alpha"])

inits = [nh.from_array((rng.standard_normal(s) * 0.3).astype(np.float32), n) for n, s in
         [("w1", (4, 3, 3, 3)), ("b1", (4,)), ("w2", (6, 4, 3, 3)), ("b2", (6,)), ("w3", (5, 6)), ("b3", (5,))]]
x_info = h.make_tensor_value_info("x", T.FLOAT, ["batch", 3, 8, 8])
y_info = h.make_tensor_value_info("logits", T.FLOAT, ["batch", 5])
gemm = h.make_node("Gemm", ["f", "w3", "b3"], ["logits"], transB=1, name="head")

calls = [h.make_node("ConvAct", ["x", "w1", "b1"], ["h"], domain="local", name="block1", alpha=0.1),
         h.make_node("ConvActPool", ["h", "w2", "b2"], ["f"], domain="local", name="block2", alpha=0.2), gemm]
m = h.make_model(h.make_graph(calls, "functions", [x_info], [y_info], inits),
                 opset_imports=[h.make_opsetid("", 17), h.make_opsetid("local", 1)], functions=[fn, fn2])
m.ir_version = 8
onnx.checker.check_model(m)
onnx.save(m, out + "/functions.onnx")

flat = conv_act("x", "w1", "b1", "h", 0.1, "b1") + conv_act("h", "w2", "b2", "z", 0.2, "b2") + [
    h.make_node("GlobalAveragePool", ["z"], ["p"]), h.make_node("Flatten", ["p"], ["f"]), gemm]
m = h.make_model(h.make_graph(flat, "flat", [x_info], [y_info], inits), opset_imports=[h.make_opsetid("", 17)])
m.ir_version = 8
onnx.save(m, out + "/flat.onnx")

np.save(out + "/x.npy", rng.standard_normal((2, 3, 8, 8)).astype(np.float32))
np.savez(out + "/d.npz", x=rng.standard_normal((12, 3, 8, 8)).astype(np.float32), y=rng.integers(0, 5, 12))
`

// TestModelLocalFunctions: a model built of model-local functions (one calling another, with
// attribute references) runs as its written-out twin does, ONNX Runtime agreeing; trains to
// the same weights; and exports with its functions kept, which onnx's checker accepts and ONNX
// Runtime runs.
func TestModelLocalFunctions(t *testing.T) {
	dir := t.TempDir()
	fixture.RunPython(t, functionModelScript, dir)
	fn, flat := filepath.Join(dir, "functions.onnx"), filepath.Join(dir, "flat.onnx")
	x := "x=" + filepath.Join(dir, "x.npy")
	runEngine := func(model, name string) *tensor.Tensor {
		t.Helper()
		out := filepath.Join(dir, name+".npy")
		if _, errOut, status := onnxtune("run", model, "--input", x, "--out", out); status != 0 {
			t.Fatalf("run %s: exit %d: %s", model, status, errOut)
		}
		y, err := data.LoadNPY(out)
		if err != nil {
			t.Fatal(err)
		}
		return y
	}
	runORT := func(model, name string) *tensor.Tensor {
		t.Helper()
		fixture.RunORT(t, model, filepath.Join(dir, name), x)
		y, err := data.LoadNPY(filepath.Join(dir, name, "logits.npy"))
		if err != nil {
			t.Fatal(err)
		}
		return y
	}
	got, want := runEngine(fn, "fn"), runEngine(flat, "flat")
	if rel := fixture.RelDiffTensors(got, want); rel != 0 {
		t.Errorf("the function model's logits are %.3g relative from the written-out model's", rel)
	}
	if rel := fixture.RelDiffTensors(got, runORT(fn, "ort_fn")); rel > 1e-5 {
		t.Errorf("the function model's logits are %.3g relative from ONNX Runtime's", rel)
	}

	npz := filepath.Join(dir, "d.npz")
	train := func(model, out string) {
		t.Helper()
		if _, errOut, status := onnxtune("train", model, "--data", npz, "--epochs", "2", "--batch-size", "4", "--seed", "3", "--out", out); status != 0 {
			t.Fatalf("train %s: exit %d: %s", model, status, errOut)
		}
	}
	tunedFn, tunedFlat := filepath.Join(dir, "tuned_fn.onnx"), filepath.Join(dir, "tuned_flat.onnx")
	train(fn, tunedFn)
	train(flat, tunedFlat)
	got, want = runEngine(tunedFn, "tuned_fn"), runEngine(tunedFlat, "tuned_flat")
	if rel := fixture.RelDiffTensors(got, want); rel > 1e-6 {
		t.Errorf("after training, the function model's logits are %.3g relative from the written-out model's", rel)
	}
	if rel := fixture.RelDiffTensors(got, runORT(tunedFn, "ort_tuned")); rel > 1e-5 {
		t.Errorf("ONNX Runtime's logits on the tuned function model are %.3g relative from the engine's", rel)
	}
	// onnx 1.12's checker knows opset 17: the export must pass it, functions and all.
	fixture.RunPython(t, "import sys, onnx; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)", tunedFn)
	m, err := onnx.Load(tunedFn)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range m.Proto.GetFunctions() {
		names = append(names, f.GetDomain()+"."+f.GetName())
	}
	if len(names) != 2 || names[0] != "local.ConvAct" || names[1] != "local.ConvActPool" {
		t.Errorf("the export's functions are %v, want local.ConvAct and local.ConvActPool", names)
	}
}
