package onnx_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/onnx"
	"github.com/onnxtune/onnxtune/tensor"
)

// tensorGen has Python's onnx write, for every dtype onnxtune supports, one TensorProto with its
// data in the typed field (helper.make_tensor, raw=False) and one in raw_data
// (numpy_helper.from_array), plus the numpy values in ref.npz.
const tensorGen = `
import sys, os, numpy as np, onnx
from onnx import helper, numpy_helper, TensorProto
out = sys.argv[1]
rng = np.random.default_rng(7)
arrays = {
  "float32": rng.standard_normal((2, 3)).astype(np.float32),
  "float64": rng.standard_normal((3,)).astype(np.float64),
  "float16": rng.standard_normal((2, 2)).astype(np.float16),
  "int8": np.array([-128, -1, 0, 127], np.int8),
  "int16": np.array([[-32768, 5], [7, 32767]], np.int16),
  "int32": np.array([-2**31, 3, 2**31 - 1], np.int32),
  "int64": np.array([-2**63, -1, 2**62], np.int64),
  "uint8": np.array([0, 7, 255], np.uint8),
  "uint16": np.array([0, 65535], np.uint16),
  "uint32": np.array([0, 2**32 - 1], np.uint32),
  "uint64": np.array([0, 2**64 - 1], np.uint64),
  "bool": np.array([True, False, True], np.bool_),
  "scalar": np.array(2.5, np.float32),
  "empty": np.zeros((0, 3), np.float32),
}
np.savez(os.path.join(out, "ref.npz"), **arrays)
for name, a in arrays.items():
    raw = numpy_helper.from_array(a, name)
    open(os.path.join(out, name + ".raw.pb"), "wb").write(raw.SerializeToString())
    et = helper.np_dtype_to_tensor_dtype(a.dtype) if hasattr(helper, "np_dtype_to_tensor_dtype") else onnx.mapping.NP_TYPE_TO_TENSOR_TYPE[a.dtype]
    vals = a.flatten().tolist()  # make_tensor stores float16 as bit patterns in int32_data
    typed = helper.make_tensor(name, et, a.shape, vals, raw=False)
    open(os.path.join(out, name + ".typed.pb"), "wb").write(typed.SerializeToString())
`

// tensorCheck reads TensorProtos written by Go and compares them with ref.npz.
const tensorCheck = `
import sys, os, numpy as np, onnx
from onnx import numpy_helper
d = sys.argv[1]
ref = np.load(os.path.join(d, "ref.npz"))
for name in ref.files:
    t = onnx.TensorProto()
    t.ParseFromString(open(os.path.join(d, name + ".go.pb"), "rb").read())
    got = numpy_helper.to_array(t)
    want = ref[name]
    assert got.dtype == want.dtype and got.shape == want.shape and np.array_equal(got, want), (name, got, want)
print("ok")
`

// TestTensorProtoAgainstPython decodes TensorProtos that Python's onnx wrote, in both raw and
// typed form, and has Python decode the ones Go encodes.
func TestTensorProtoAgainstPython(t *testing.T) {
	dir := t.TempDir()
	fixture.RunPython(t, tensorGen, dir)
	ref, names, err := data.LoadNPZ(filepath.Join(dir, "ref.npz"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		want := ref[name]
		for _, form := range []string{"raw", "typed"} {
			tp := readTensorProto(t, filepath.Join(dir, name+"."+form+".pb"))
			got, err := onnx.TensorFromProto(tp)
			if err != nil {
				t.Fatalf("%s %s: %v", name, form, err)
			}
			if got.DType() != want.DType() || !tensor.EqualShapes(got.Shape(), want.Shape()) {
				t.Fatalf("%s %s: got %v, want %v", name, form, got, want)
			}
			for i := 0; i < got.Len(); i++ {
				if got.Float64At(i) != want.Float64At(i) || got.Int64At(i) != want.Int64At(i) {
					t.Fatalf("%s %s: element %d is %v, want %v", name, form, i, got.Float64At(i), want.Float64At(i))
				}
			}
		}
		b, err := proto.Marshal(onnx.TensorToProto(name, want))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".go.pb"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out := fixture.RunPython(t, tensorCheck, dir); strings.TrimSpace(out) != "ok" {
		t.Fatalf("python: %s", out)
	}
}

func readTensorProto(t *testing.T, path string) *onnx.TensorProto {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tp := new(onnx.TensorProto)
	if err := proto.Unmarshal(b, tp); err != nil {
		t.Fatal(err)
	}
	return tp
}

// TestExternalizeInternalize moves a model's weights out to a data file and back: Python's onnx
// and ONNX Runtime must read the externalized copy, and the weights must survive unchanged.
func TestExternalizeInternalize(t *testing.T) {
	src := fixture.Small(t, "tiny_cnn_bn.onnx")
	m, err := onnx.Load(src)
	if err != nil {
		t.Fatal(err)
	}
	orig, err := onnx.Import(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Externalize("weights.bin", 16); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "ext.onnx")
	if err := onnx.Save(m, out); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(out), "weights.bin")); err != nil {
		t.Fatal(err)
	}
	fixture.RunPython(t, `
import sys, onnx
onnx.checker.check_model(sys.argv[1], full_check=True)
m = onnx.load(sys.argv[1], load_external_data=False)
assert any(t.data_location == onnx.TensorProto.EXTERNAL for t in m.graph.initializer)
`, out)
	checkWithORT(t, out, strings.TrimSuffix(src, ".onnx")+".io.npz")

	back, err := onnx.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := back.Internalize(); err != nil {
		t.Fatal(err)
	}
	g, err := onnx.Import(back)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range orig.InitializerNames {
		a, b := orig.Initializers[name].ToFloat64s(), g.Initializers[name].ToFloat64s()
		if fixture.RelDiff(b, a) != 0 {
			t.Fatalf("initializer %q changed on the way out and back", name)
		}
	}
}

// TestSetTensorKeepsLayout writes new values into an external and an inline tensor and reads
// them back after a save, the path fine-tuning takes to export weights.
func TestSetTensorKeepsLayout(t *testing.T) {
	for _, src := range []string{"ext_data/model.onnx", "tiny_cnn_bn.onnx"} {
		m, err := onnx.Load(fixture.Small(t, src))
		if err != nil {
			t.Fatal(err)
		}
		tp := m.Proto.Graph.Initializer[0]
		v, err := m.Tensor(tp)
		if err != nil {
			t.Fatal(err)
		}
		w := v.Clone()
		for i, x := range w.Float32s() {
			w.Float32s()[i] = x*2 + 1
		}
		if err := m.SetTensor(tp, w); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "model.onnx")
		if err := onnx.Save(m, out); err != nil {
			t.Fatal(err)
		}
		back, err := onnx.Load(out)
		if err != nil {
			t.Fatal(err)
		}
		tp2 := back.Proto.Graph.Initializer[0]
		if tp2.GetDataLocation() != tp.GetDataLocation() {
			t.Fatalf("%s: data location changed from %v to %v", src, tp.GetDataLocation(), tp2.GetDataLocation())
		}
		got, err := back.Tensor(tp2)
		if err != nil {
			t.Fatal(err)
		}
		if fixture.RelDiff(got.ToFloat64s(), w.ToFloat64s()) != 0 {
			t.Fatalf("%s: values written are not the values read back", src)
		}
		if err := m.SetTensor(tp, tensor.New(tensor.Float32, 1)); err == nil {
			t.Fatalf("%s: SetTensor accepted a tensor of the wrong size", src)
		}
	}
}
