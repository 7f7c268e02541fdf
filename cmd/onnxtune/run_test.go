package main

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

// ioFixture loads NAME.io.npz and writes its x as x.npy in a temp dir.
func ioFixture(t *testing.T, name string) (map[string]*tensor.Tensor, string) {
	t.Helper()
	ref, _, err := data.LoadNPZ(fixture.Small(t, name+".io.npz"))
	if err != nil {
		t.Fatal(err)
	}
	x := filepath.Join(t.TempDir(), "x.npy")
	if err := data.SaveNPY(x, ref["x"]); err != nil {
		t.Fatal(err)
	}
	return ref, x
}

// TestRunCLI runs fixtures through `onnxtune run` as a user would and compares the files it
// writes with PyTorch's outputs.
func TestRunCLI(t *testing.T) {
	ref, x := ioFixture(t, "tiny_cnn")
	out := filepath.Join(t.TempDir(), "y.npy")
	if _, stderr, status := onnxtune("run", fixture.Small(t, "tiny_cnn.onnx"), "--input", x, "--out", out); status != 0 {
		t.Fatalf("status %d: %s", status, stderr)
	}
	y, err := data.LoadNPY(out)
	if err != nil {
		t.Fatal(err)
	}
	if rel := fixture.RelDiffTensors(y, ref["logits"]); rel > 1e-4 {
		t.Errorf("logits differ from PyTorch by %.3g", rel)
	}

	ref, x = ioFixture(t, "two_heads")
	npz := filepath.Join(t.TempDir(), "y.npz")
	if _, stderr, status := onnxtune("run", "--out", npz, fixture.Small(t, "two_heads.onnx"), "--input", "x="+x); status != 0 {
		t.Fatalf("status %d: %s", status, stderr)
	}
	outs, keys, err := data.LoadNPZ(npz)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(keys, ",") != "logits,box" {
		t.Fatalf("npz keys %v, want logits,box", keys)
	}
	for _, k := range keys {
		if rel := fixture.RelDiffTensors(outs[k], ref[k]); rel > 1e-4 {
			t.Errorf("%s differs from PyTorch by %.3g", k, rel)
		}
	}
}

// TestRunErrors: wrong shapes and dtypes name the input and both shapes; unsupported operators
// are all named before anything runs; no output file is left behind.
func TestRunErrors(t *testing.T) {
	dir := t.TempDir()
	model := fixture.Small(t, "tiny_cnn.onnx")
	wrongShape := filepath.Join(dir, "shape.npy")
	data.SaveNPY(wrongShape, tensor.New(tensor.Float32, 2, 3, 28, 28))
	wrongType := filepath.Join(dir, "type.npy")
	data.SaveNPY(wrongType, tensor.New(tensor.Float64, 2, 1, 28, 28))

	// A model with two operators no engine has.
	m, err := onnx.Load(model)
	if err != nil {
		t.Fatal(err)
	}
	m.Proto.Graph.Node[1].OpType = proto.String("FancyRelu")
	m.Proto.Graph.Node[3].OpType = proto.String("FancyConv")
	bogus := filepath.Join(dir, "bogus.onnx")
	if err := onnx.Save(m, bogus); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "y.npy")
	cases := []struct {
		args   []string
		status int
		want   []string
	}{
		{[]string{"run", model, "--input", wrongShape, "--out", out}, 1, []string{`input "x"`, "float32[2 3 28 28]", "float32[batch 1 28 28]"}},
		{[]string{"run", model, "--input", wrongType, "--out", out}, 1, []string{`input "x"`, "float64[2 1 28 28]", "float32[batch 1 28 28]"}},
		{[]string{"run", bogus, "--input", wrongType, "--out", out}, 1, []string{"FancyRelu", "FancyConv", m.Proto.Graph.Node[1].GetName(), m.Proto.Graph.Node[3].GetName()}},
		{[]string{"run", model, "--input", "nope=" + wrongShape, "--out", out}, 1, []string{`no input "nope"`}},
		{[]string{"run", model, "--out", out}, 2, []string{"missing --input"}}, // the model has an input
		{[]string{"run", model, "--input", wrongShape, "--out", filepath.Join(dir, "y.txt")}, 2, []string{".npy or .npz"}},
		{[]string{"run", model, "--input", filepath.Join(dir, "missing.npy")}, 1, []string{"missing.npy"}},
	}
	for _, c := range cases {
		_, stderr, status := onnxtune(c.args...)
		if status != c.status || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: status %d, stderr %q; want status %d and one line", c.args, status, stderr, c.status)
		}
		for _, w := range c.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%v: stderr %q does not mention %q", c.args, stderr, w)
			}
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a failed run left %s behind", out)
	}
}

// TestRunWithoutInputs: a model of constants runs with no --input, giving what the ONNX
// conformance suite's test_constant expects.
func TestRunWithoutInputs(t *testing.T) {
	dir := "/usr/include/onnx/backend/test/data/node/test_constant"
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("the ONNX conformance suite is missing (%v): install it with scripts/setup.sh (apt-get install libonnx-testdata)", err)
	}
	out := filepath.Join(t.TempDir(), "y.npy")
	if _, stderr, status := onnxtune("run", filepath.Join(dir, "model.onnx"), "--out", out); status != 0 {
		t.Fatalf("status %d: %s", status, stderr)
	}
	got, err := data.LoadNPY(out)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "test_data_set_0", "output_0.pb"))
	if err != nil {
		t.Fatal(err)
	}
	tp := new(onnx.TensorProto)
	if err := proto.Unmarshal(b, tp); err != nil {
		t.Fatal(err)
	}
	want, err := onnx.TensorFromProto(tp)
	if err != nil {
		t.Fatal(err)
	}
	if !tensor.EqualShapes(got.Shape(), want.Shape()) || fixture.RelDiffTensors(got, want) != 0 {
		t.Errorf("got %v, the suite expects %v", got, want)
	}
}
