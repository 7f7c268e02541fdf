package main

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/onnx"
	"github.com/onnxtune/onnxtune/tensor"
)

// checkGradCLI runs `onnxtune grad` on model with the input and targets that gen.py recorded
// (NAME.io.npz, NAME.grad.npz) and compares the loss and every gradient with PyTorch autograd.
func checkGradCLI(t *testing.T, model string) {
	t.Helper()
	base := strings.TrimSuffix(model, ".onnx")
	io, _, err := data.LoadNPZ(base + ".io.npz")
	if err != nil {
		t.Fatal(err)
	}
	ref, keys, err := data.LoadNPZ(base + ".grad.npz")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	x := filepath.Join(dir, "x.npy")
	if err := data.SaveNPY(x, io["x"]); err != nil {
		t.Fatal(err)
	}
	for _, l := range []struct{ spec, key string }{{"cross-entropy", "ce"}, {"mse", "mse"}} {
		target, ok := ref["target_"+l.key]
		if !ok {
			continue
		}
		y := filepath.Join(dir, "target_"+l.key+".npy")
		if err := data.SaveNPY(y, target); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, l.key+".npz")
		if _, stderr, status := onnxtune("grad", model, "--input", x, "--target", y, "--loss", l.spec, "--out", out); status != 0 {
			t.Fatalf("%s: status %d: %s", l.spec, status, stderr)
		}
		got, gotKeys, err := data.LoadNPZ(out)
		if err != nil {
			t.Fatal(err)
		}
		lw, lg := ref["loss_"+l.key].Float64At(0), got["loss"].Float64At(0)
		if math.Abs(lg-lw) > 1e-5*math.Abs(lw) {
			t.Errorf("%s: loss %.8g, PyTorch %.8g", l.spec, lg, lw)
		}
		want := 0
		for _, k := range keys {
			name, ok := strings.CutPrefix(k, l.key+"/")
			if !ok {
				continue
			}
			want++
			g, ok := got[name]
			if !ok {
				t.Errorf("%s: no gradient for parameter %q (got keys %v)", l.spec, name, gotKeys)
				continue
			}
			if rel := relNorm(g, ref[k]); rel > 1e-3 {
				t.Errorf("%s: gradient of %q is %.3g relative from PyTorch's", l.spec, name, rel)
			}
		}
		if len(gotKeys)-1 != want {
			t.Errorf("%s: %d gradients written, PyTorch has %d parameters", l.spec, len(gotKeys)-1, want)
		}
	}
}

// relNorm is |got - want| / |want| in the 2-norm; equal zero tensors give 0.
func relNorm(got, want *tensor.Tensor) float64 {
	if !tensor.EqualShapes(got.Shape(), want.Shape()) {
		return math.Inf(1)
	}
	var d, n float64
	for i := 0; i < got.Len(); i++ {
		g, w := got.Float64At(i), want.Float64At(i)
		d += (g - w) * (g - w)
		n += w * w
	}
	if n == 0 {
		return math.Sqrt(d)
	}
	return math.Sqrt(d / n)
}

// TestGradFixtures: every committed fixture whose parameters keep their names.
func TestGradFixtures(t *testing.T) {
	for _, name := range []string{"tiny_cnn_bn", "resblock", "mixed_ops", "two_heads", "shared_weight"} {
		t.Run(name, func(t *testing.T) { checkGradCLI(t, fixture.Small(t, name+".onnx")) })
	}
}

// TestGradTorchvision: resnet18, mobilenet_v2, squeezenet1_1 exported with BatchNorm kept, at
// 2x3x64x64.
func TestGradTorchvision(t *testing.T) {
	if testing.Short() {
		t.Skip("model-sized case: runs in the full (non -short) pass")
	}
	for _, name := range []string{"resnet18", "mobilenet_v2", "squeezenet1_1"} {
		t.Run(name, func(t *testing.T) {
			checkGradCLI(t, fixture.Large(t, name, "--preserve-bn", "--size", "64", "--grads"))
		})
	}
}

// twoOutputModel writes a model with outputs y = Relu(x) and z = w * x, so that a loss on y
// reaches no initializer while w is trainable through z.
func twoOutputModel(t *testing.T, path string) {
	t.Helper()
	vi := func(name string) *onnx.ValueInfoProto {
		elem := int32(onnx.TensorProto_FLOAT)
		return &onnx.ValueInfoProto{Name: proto.String(name), Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{
			TensorType: &onnx.TypeProto_Tensor{ElemType: &elem, Shape: &onnx.TensorShapeProto{Dim: []*onnx.TensorShapeProto_Dimension{
				{Value: &onnx.TensorShapeProto_Dimension_DimValue{DimValue: 2}},
				{Value: &onnx.TensorShapeProto_Dimension_DimValue{DimValue: 3}},
			}}}}}}
	}
	node := func(op string, in []string, out string) *onnx.NodeProto {
		return &onnx.NodeProto{OpType: proto.String(op), Name: proto.String(out), Input: in, Output: []string{out}}
	}
	m := &onnx.Model{Proto: &onnx.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnx.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(13)}},
		Graph: &onnx.GraphProto{
			Name:        proto.String("two_outputs"),
			Input:       []*onnx.ValueInfoProto{vi("x")},
			Output:      []*onnx.ValueInfoProto{vi("y"), vi("z")},
			Initializer: []*onnx.TensorProto{onnx.TensorToProto("w", tensor.From([]int{2, 3}, []float32{1, 2, 3, 4, 5, 6}))},
			Node:        []*onnx.NodeProto{node("Relu", []string{"x"}, "y"), node("Mul", []string{"w", "x"}, "z")},
		},
	}}
	if err := onnx.Save(m, path); err != nil {
		t.Fatal(err)
	}
}

// TestGradErrors: a loss that reaches no trainable initializer, and targets that do not fit
// the output, fail with one line saying which.
func TestGradErrors(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "two.onnx")
	twoOutputModel(t, model)
	x := filepath.Join(dir, "x.npy")
	data.SaveNPY(x, tensor.New(tensor.Float32, 2, 3))
	y23 := filepath.Join(dir, "y23.npy")
	data.SaveNPY(y23, tensor.New(tensor.Float32, 2, 3))
	y3 := filepath.Join(dir, "y3.npy")
	data.SaveNPY(y3, tensor.New(tensor.Int64, 3))
	yf := filepath.Join(dir, "yf.npy")
	data.SaveNPY(yf, tensor.New(tensor.Float32, 2))
	_, xin := ioFixture(t, "tiny_cnn_bn")
	tiny := fixture.Small(t, "tiny_cnn_bn.onnx")
	out := filepath.Join(dir, "g.npz")
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"grad", model, "--input", x, "--target", y23, "--loss", "mse", "--output", "y", "--out", out}, []string{`output "y"`, "cannot reach any trainable initializer"}},
		{[]string{"grad", tiny, "--input", xin, "--target", y3, "--loss", "cross-entropy", "--out", out}, []string{"target shape [3]", "output shape [2 10]", "want [2]"}},
		{[]string{"grad", tiny, "--input", xin, "--target", yf, "--loss", "cross-entropy", "--out", out}, []string{"class indices", "float32[2]"}},
		{[]string{"grad", tiny, "--input", xin, "--target", y3, "--loss", "mse", "--out", out}, []string{"target shape [3]", "output shape [2 10]"}},
		{[]string{"grad", model, "--input", x, "--target", y23, "--loss", "mse", "--output", "nope", "--out", out}, []string{`no output "nope"`}},
	}
	for _, c := range cases {
		_, stderr, status := onnxtune(c.args...)
		if status != 1 || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: status %d, stderr %q; want status 1 and one line", c.args[1:], status, stderr)
		}
		for _, w := range c.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%v: stderr %q does not say %q", c.args[1:], stderr, w)
			}
		}
	}
	// The same model differentiates fine through z.
	if _, stderr, status := onnxtune("grad", model, "--input", x, "--target", y23, "--loss", "mse", "--output", "z", "--out", out); status != 0 {
		t.Errorf("loss on z: status %d: %s", status, stderr)
	}
}

// TestGradcheckCLI: the fixtures' gradients pass the finite-difference check at their real
// shapes, and the report names nodes.
func TestGradcheckCLI(t *testing.T) {
	for _, name := range []string{"resblock", "mixed_ops"} {
		out, stderr, status := onnxtune("gradcheck", fixture.Small(t, name+".onnx"), "--batch", "2")
		if status != 0 || !strings.Contains(out, "(Conv)") || !strings.Contains(out, "ok:") {
			t.Errorf("%s: status %d, stdout %q, stderr %q", name, status, out, stderr)
		}
	}
}
