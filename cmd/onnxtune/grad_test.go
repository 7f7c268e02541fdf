package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
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
		if l.spec == "cross-entropy" { // train's default loss is grad's too
			def := filepath.Join(dir, "default.npz")
			if _, stderr, status := onnxtune("grad", model, "--input", x, "--target", y, "--out", def); status != 0 {
				t.Fatalf("without --loss: status %d: %s", status, stderr)
			}
			if a, b := fileBytes(t, out), fileBytes(t, def); !bytes.Equal(a, b) {
				t.Errorf("without --loss the gradients differ from --loss cross-entropy's")
			}
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
			if rel := fixture.RelDiffTensors(g, ref[k]); rel > 1e-3 {
				t.Errorf("%s: gradient of %q is %.3g relative from PyTorch's", l.spec, name, rel)
			}
		}
		if len(gotKeys)-1 != want {
			t.Errorf("%s: %d gradients written, PyTorch has %d parameters", l.spec, len(gotKeys)-1, want)
		}
	}
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

// TestGradTrainModeTorch: torchvision's resnet18 with random weights and BatchNorm in
// training mode, at batch 8 and 224×224 (where the inference path would take F(4×4, 3×3)),
// whose gradients amplify the forward pass's rounding through the ReLUs it flips and the
// batch statistics: over the parameters, the median of each gradient's largest difference
// from float64 PyTorch's (relative to its largest value) is at most three times float32
// PyTorch's (1.5 times here, on an AMD EPYC). With F(4×4, 3×3) in the forward pass it was
// a thousand times as large.
func TestGradTrainModeTorch(t *testing.T) {
	if testing.Short() {
		t.Skip("model-sized case: runs in the full (non -short) pass")
	}
	dir := t.TempDir()
	fixture.RunPython(t, trainModeGradPy, dir)
	ref, keys, err := data.LoadNPZ(filepath.Join(dir, "ref.npz"))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "grad.npz")
	if _, stderr, status := onnxtune("grad", filepath.Join(dir, "model.onnx"), "--input", filepath.Join(dir, "x.npy"),
		"--target", filepath.Join(dir, "y.npy"), "--out", out); status != 0 {
		t.Fatalf("status %d: %s", status, stderr)
	}
	got, _, err := data.LoadNPZ(out)
	if err != nil {
		t.Fatal(err)
	}
	var ours, torch32 []float64
	for _, k := range keys {
		name, ok := strings.CutPrefix(k, "f64/")
		if !ok {
			continue
		}
		exact := ref[k].ToFloat64s()
		g, ok := got[name]
		if !ok {
			t.Fatalf("no gradient for %q", name)
		}
		ours = append(ours, maxRelToLargest(g.ToFloat64s(), exact))
		torch32 = append(torch32, maxRelToLargest(ref["f32/"+name].ToFloat64s(), exact))
	}
	if len(ours) != 62 { // resnet18's parameters
		t.Fatalf("compared %d gradients, want 62", len(ours))
	}
	slices.Sort(ours)
	slices.Sort(torch32)
	o, p := ours[len(ours)/2], torch32[len(torch32)/2]
	if o > 3*p {
		t.Errorf("median difference from float64 PyTorch %.3g, float32 PyTorch's %.3g", o, p)
	}
	t.Logf("median difference from float64 PyTorch %.3g, float32 PyTorch's %.3g", o, p)
}

// maxRelToLargest is the largest difference between got and want over want's largest
// magnitude.
func maxRelToLargest(got, want []float64) float64 {
	var diff, largest float64
	for i := range want {
		diff = max(diff, math.Abs(got[i]-want[i]))
		largest = max(largest, math.Abs(want[i]))
	}
	return diff / largest
}

// trainModeGradPy writes TestGradTrainModeTorch's model, input, targets and PyTorch's
// gradients in float32 (f32/NAME) and float64 (f64/NAME) to the directory argv[1].
const trainModeGradPy = `
import copy, os, sys
import numpy as np, torch, torchvision
out = sys.argv[1]
torch.manual_seed(0)
torch.set_num_threads(2)
m = torchvision.models.resnet18(num_classes=10).train()
x = torch.randn(8, 3, 224, 224)
y = torch.randint(0, 10, (8,))
np.save(os.path.join(out, "x.npy"), x.numpy())
np.save(os.path.join(out, "y.npy"), y.numpy().astype(np.int64))
torch.onnx.export(copy.deepcopy(m), x, os.path.join(out, "model.onnx"), do_constant_folding=False,
                  training=torch.onnx.TrainingMode.PRESERVE, opset_version=13,
                  input_names=["x"], output_names=["logits"])
ref = {}
for key, model, xx in (("f32", m, x), ("f64", copy.deepcopy(m).double(), x.double())):
    model.zero_grad()
    torch.nn.functional.cross_entropy(model(xx), y).backward()
    for n, p in model.named_parameters():
        ref[key + "/" + n] = p.grad.detach().numpy()
np.savez(os.path.join(out, "ref.npz"), **ref)
`

// TestGradModernOpsets: the torchvision families of graph's opset 18-21 tests, BatchNorm
// kept, at the first and the last of those opsets.
func TestGradModernOpsets(t *testing.T) {
	if testing.Short() {
		t.Skip("model-sized case: runs in the full (non -short) pass")
	}
	for _, name := range []string{"resnet18", "mobilenet_v2", "squeezenet1_1", "shufflenet_v2_x0_5", "efficientnet_b0", "convnext_tiny"} {
		for _, opset := range []string{"18", "21"} {
			t.Run(name+"/opset"+opset, func(t *testing.T) {
				checkGradCLI(t, fixture.Large(t, name, "--opset", opset, "--preserve-bn", "--size", "64", "--grads"))
			})
		}
	}
}

// twoOutputModel writes a model with outputs y = Relu(x) and z = w * x, so that a loss on y
// reaches no initializer while w is trainable through z.
func twoOutputModel(t *testing.T, path string) {
	t.Helper()
	m := &onnx.Model{Proto: &onnx.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnx.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(13)}},
		Graph: &onnx.GraphProto{
			Name:        proto.String("two_outputs"),
			Input:       []*onnx.ValueInfoProto{floatValue("x", 2, 3)},
			Output:      []*onnx.ValueInfoProto{floatValue("y", 2, 3), floatValue("z", 2, 3)},
			Initializer: []*onnx.TensorProto{onnx.TensorToProto("w", tensor.From([]int{2, 3}, []float32{1, 2, 3, 4, 5, 6}))},
			Node:        []*onnx.NodeProto{nodeProto("Relu", []string{"x"}, "y"), nodeProto("Mul", []string{"w", "x"}, "z")},
		},
	}}
	if err := onnx.Save(m, path); err != nil {
		t.Fatal(err)
	}
}

// floatValue declares a float32 graph input or output of a fixed shape, for models built in
// tests.
func floatValue(name string, dims ...int64) *onnx.ValueInfoProto {
	elem := int32(onnx.TensorProto_FLOAT)
	shape := &onnx.TensorShapeProto{}
	for _, d := range dims {
		shape.Dim = append(shape.Dim, &onnx.TensorShapeProto_Dimension{Value: &onnx.TensorShapeProto_Dimension_DimValue{DimValue: d}})
	}
	return &onnx.ValueInfoProto{Name: proto.String(name), Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{
		TensorType: &onnx.TypeProto_Tensor{ElemType: &elem, Shape: shape}}}}
}

// nodeProto is a node of the default domain named after its one output.
func nodeProto(op string, in []string, out string) *onnx.NodeProto {
	return &onnx.NodeProto{OpType: proto.String(op), Name: proto.String(out), Input: in, Output: []string{out}}
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
		{[]string{"grad", tiny, "--input", xin, "--target", y3, "--loss", "cross-entropy", "--out", out}, []string{`term "cross-entropy"`, "target shape [3]", "output shape [2 10]", "want [2]"}},
		{[]string{"grad", tiny, "--input", xin, "--target", yf, "--loss", "cross-entropy", "--out", out}, []string{"class indices", "float32[2]"}},
		{[]string{"grad", tiny, "--input", xin, "--target", y3, "--loss", "0.5*mse", "--out", out}, []string{`term "0.5*mse"`, "target shape [3] does not fit output shape [2 10]"}},
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

// twoHeadsCase is one expression over testdata/models/two_heads.onnx that
// loss/testdata/gen_regression.py computed in PyTorch.
type twoHeadsCase struct {
	Case         string            `json:"case"`
	Spec         string            `json:"spec"`
	ClassWeights []float64         `json:"class_weights"`
	Targets      map[string]string `json:"targets"` // graph output -> key of its target
}

// TestGradExpression: `onnxtune grad` with loss expressions over both outputs of two_heads
// (--target OUTPUT=Y.npy, class weights, label smoothing, l2) and with two terms on one output
// (one unnamed --target), against PyTorch's loss and parameter gradients.
func TestGradExpression(t *testing.T) {
	ref, _, err := data.LoadNPZ(filepath.Join(fixture.Root(t), "loss", "testdata", "regression.npz"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []twoHeadsCase
	if err := json.Unmarshal(tensor.Data[uint8](ref["two_heads"]), &cases); err != nil {
		t.Fatal(err)
	}
	model := fixture.Small(t, "two_heads.onnx")
	_, x := ioFixture(t, "two_heads")
	dir := t.TempDir()
	for _, c := range cases {
		args := []string{"grad", model, "--input", x, "--loss", c.Spec, "--out", filepath.Join(dir, c.Case+".npz")}
		for output, key := range c.Targets {
			y := filepath.Join(dir, c.Case+"_"+key+".npy")
			if err := data.SaveNPY(y, ref["two_heads/target_"+key]); err != nil {
				t.Fatal(err)
			}
			if len(c.Targets) == 1 {
				args = append(args, "--target", y)
			} else {
				args = append(args, "--target", output+"="+y)
			}
		}
		if c.ClassWeights != nil {
			w := make([]string, len(c.ClassWeights))
			for i, v := range c.ClassWeights {
				w[i] = strconv.FormatFloat(v, 'g', -1, 64)
			}
			args = append(args, "--class-weights", strings.Join(w, ","))
		}
		if _, stderr, status := onnxtune(args...); status != 0 {
			t.Errorf("%s: status %d: %s", c.Spec, status, stderr)
			continue
		}
		got, _, err := data.LoadNPZ(filepath.Join(dir, c.Case+".npz"))
		if err != nil {
			t.Fatal(err)
		}
		lw, lg := ref["two_heads/"+c.Case+"/loss"].Float64At(0), got["loss"].Float64At(0)
		if math.Abs(lg-lw) > 1e-5*math.Abs(lw) {
			t.Errorf("%s: loss %.8g, PyTorch %.8g", c.Spec, lg, lw)
		}
		n := 0
		for k, want := range ref {
			name, ok := strings.CutPrefix(k, "two_heads/"+c.Case+"/grad/")
			if !ok {
				continue
			}
			n++
			if rel := fixture.RelDiffTensors(got[name], want); rel > 1e-4 { // float32 model, float64 reference
				t.Errorf("%s: gradient of %q is %.3g relative from PyTorch's", c.Spec, name, rel)
			}
		}
		if n != len(got)-1 || n == 0 {
			t.Errorf("%s: %d gradients written, PyTorch has %d parameters", c.Spec, len(got)-1, n)
		}
	}
}

// TestGradTargetErrors: targets that do not match the outputs the expression reads, and bad
// expressions and class weights, fail with one line that says which.
func TestGradTargetErrors(t *testing.T) {
	model := fixture.Small(t, "two_heads.onnx")
	_, x := ioFixture(t, "two_heads")
	dir := t.TempDir()
	yl := filepath.Join(dir, "yl.npy")
	data.SaveNPY(yl, tensor.From([]int{2}, []int64{1, 3}))
	yb := filepath.Join(dir, "yb.npy")
	data.SaveNPY(yb, tensor.New(tensor.Float32, 2, 4))
	out := filepath.Join(dir, "g.npz")
	two := "cross-entropy@logits + 0.5*huber@box"
	cases := []struct {
		status int
		args   []string
		want   []string
	}{
		{1, []string{"--target", "logits=" + yl, "--loss", two}, []string{`term "0.5*huber@box" on output "box": no target was given for it`}},
		{2, []string{"--target", yl, "--loss", two}, []string{"the loss reads outputs logits, box: give --target OUTPUT=Y.npy for each"}},
		{2, []string{"--target", yl, "--target", yb, "--loss", two}, []string{"a second target without OUTPUT=", "logits, box"}},
		{2, []string{"--target", "logits=" + yl, "--target", "box=" + yb, "--target", yb, "--loss", two}, []string{"already has a named target"}},
		{2, []string{"--target", "box=" + yb, "--loss", "cross-entropy"}, []string{`no term of --loss reads output "box"`, "it reads logits"}},
		{2, []string{"--target", "logits=" + yl, "--target", "logits=" + yl, "--loss", "cross-entropy"}, []string{`output "logits" given twice`}},
		{1, []string{"--target", yl, "--loss", "cross-entropy@bx"}, []string{`term "cross-entropy@bx"`, `no output "bx"`, "logits, box"}},
		{2, []string{"--target", yl, "--loss", "cross-entropy + 0.3*focl(gamma=2)"}, []string{"--loss", `term "0.3*focl(gamma=2)"`, `unknown loss "focl"`}},
		{2, []string{"--target", yl, "--loss", "huber(delt=2)"}, []string{`term "huber(delt=2)"`, "its options: delta, reduction"}},
		{2, []string{"--target", yl, "--loss", "1e-4*l2@box"}, []string{"not an output"}},
		{2, []string{"--target", yl, "--loss", "cross-entropy", "--class-weights", "1,x,2"}, []string{`--class-weights 1,x,2: "x" is not a number`}},
		{2, []string{"--target", yb, "--loss", "huber@box", "--class-weights", "1,2"}, []string{"no term", "takes them"}},
		{1, []string{"--target", yl, "--loss", "cross-entropy", "--class-weights", "1,2"}, []string{"2 class weights for 5 classes"}},
		{1, []string{"--target", yl, "--loss", "1e-3*l2"}, []string{"no term on a model output"}},
	}
	for _, c := range cases {
		args := append([]string{"grad", model, "--input", x, "--out", out}, c.args...)
		_, stderr, status := onnxtune(args...)
		if status != c.status || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: status %d, stderr %q; want status %d and one line", c.args, status, stderr, c.status)
		}
		for _, w := range c.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%v: stderr %q does not say %q", c.args, stderr, w)
			}
		}
	}
}

func fileBytes(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
