package train_test

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/onnx"
	"github.com/onnxtune/onnxtune/tensor"
	"github.com/onnxtune/onnxtune/train"
)

// headCheckPy checks a model with a new head the way Python's onnx sees it: onnx.checker with
// full_check, strict shape inference (which fails if the declared output shape contradicts
// the one inferred from the new weights), and the declared first output shape. It also
// prints nn.Linear(fan_in, k)'s init bounds as torch's own init code computes them:
// kaiming_uniform_(a=sqrt(5)) for the weight, 1/sqrt(fan_in) for the bias.
const headCheckPy = `
import sys, json, math, onnx, torch
m = onnx.load(sys.argv[1])
onnx.checker.check_model(m, full_check=True)
onnx.shape_inference.infer_shapes(m, check_type=True, strict_mode=True)
fan_in, k = int(sys.argv[2]), int(sys.argv[3])
w = torch.empty(k, fan_in)
fan = torch.nn.init._calculate_correct_fan(w, "fan_in")
gain = torch.nn.init.calculate_gain("leaky_relu", math.sqrt(5))
wb = math.sqrt(3.0) * gain / math.sqrt(fan)
fi, _ = torch.nn.init._calculate_fan_in_and_fan_out(w)
out = [d.dim_param or d.dim_value for d in m.graph.output[0].type.tensor_type.shape.dim]
print(json.dumps({"weight_bound": wb, "bias_bound": 1 / math.sqrt(fi), "output": out}))
`

type headCase struct {
	path       string
	op         string
	weight     string // "" to skip the name check (a folded, numbered initializer)
	bias       string
	in, oldK   int
	transposed bool
}

func TestReplaceHead(t *testing.T) {
	td := func(name string) string { return filepath.Join("testdata", name) }
	cases := []headCase{
		{fixture.Small(t, "tiny_cnn_bn.onnx"), "Gemm", "fc.weight", "fc.bias", 16, 10, true},
		{fixture.Small(t, "resblock.onnx"), "Gemm", "fc.weight", "fc.bias", 16, 10, true},
		{fixture.Small(t, "two_heads.onnx"), "Gemm", "cls.weight", "cls.bias", 16, 5, true},
		{fixture.Small(t, "meta.onnx"), "Gemm", "fc.weight", "fc.bias", 4, 3, true},
		{fixture.Small(t, "ext_data/model.onnx"), "Gemm", "fc.weight", "fc.bias", 16, 10, true},
		{td("head_matmul.onnx"), "MatMul", "", "fc.bias", 4, 5, false},
		{td("head_transpose.onnx"), "MatMul", "fc.weight", "", 4, 5, true},
		{td("head_shared.onnx"), "Gemm", "fc.weight", "conv.bias_head", 5, 5, true},
	}
	if !testing.Short() {
		cases = append(cases,
			headCase{fixture.Large(t, "resnet18", "--preserve-bn", "--size", "64"), "Gemm", "fc.weight", "fc.bias", 512, 1000, true},
			headCase{fixture.Large(t, "mobilenet_v2", "--preserve-bn", "--size", "64"), "Gemm", "classifier.1.weight", "classifier.1.bias", 1280, 1000, true},
		)
	}
	for _, c := range cases {
		name := strings.TrimSuffix(filepath.Base(c.path), ".onnx")
		if name == "model" {
			name = "ext_data"
		}
		t.Run(name, func(t *testing.T) { testReplaceHead(t, c, 3) })
	}
}

func testReplaceHead(t *testing.T, c headCase, k int) {
	m, err := onnx.Load(c.path)
	if err != nil {
		t.Fatal(err)
	}
	before := initializers(t, m)
	info, m := replaceHead(t, m, k, 42)
	if info.OpType != c.op || (c.weight != "" && info.Weight != c.weight) || info.Bias != c.bias ||
		info.InFeatures != c.in || info.OldClasses != c.oldK || info.Classes != k || info.Output != "logits" {
		t.Fatalf("info: got %+v, want %s weight %q bias %q in %d classes %d -> %d on logits", info, c.op, c.weight, c.bias, c.in, c.oldK, k)
	}
	after := initializers(t, m)

	// Everything but the head is untouched, bit for bit, proto and all.
	for name, b := range before {
		if name == info.Weight || (name == info.Bias && c.bias != "conv.bias_head") {
			continue
		}
		a, ok := after[name]
		if !ok {
			t.Errorf("initializer %q: gone", name)
			continue
		}
		if !proto.Equal(a.proto, b.proto) || !sameBits(a.value, b.value) {
			t.Errorf("initializer %q: changed", name)
		}
	}
	if len(after) != len(before)+btoi(c.bias == "conv.bias_head") {
		t.Errorf("initializers: got %d, want %d", len(after), len(before))
	}

	wantW := []int{c.in, k}
	if c.transposed {
		wantW = []int{k, c.in}
	}
	w := after[info.Weight].value
	if !slices.Equal(w.Shape(), wantW) || w.DType() != tensor.Float32 {
		t.Fatalf("weight %q: got %v, want float32%v", info.Weight, w, wantW)
	}

	dir := t.TempDir()
	out := filepath.Join(dir, "head.onnx")
	if err := onnx.Save(m, out); err != nil {
		t.Fatal(err)
	}
	var ref struct {
		WeightBound float64 `json:"weight_bound"`
		BiasBound   float64 `json:"bias_bound"`
		Output      []any   `json:"output"`
	}
	if err := json.Unmarshal([]byte(fixture.RunPython(t, headCheckPy, out, itoa(c.in), itoa(k))), &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.Output) != 2 || ref.Output[0] != "batch" || ref.Output[1] != float64(k) {
		t.Errorf("declared output shape (python onnx): got %v, want [batch %d]", ref.Output, k)
	}
	checkUniform(t, "weight", w, ref.WeightBound)
	if c.bias != "" {
		b := after[info.Bias].value
		if b.Len() != k {
			t.Fatalf("bias %q: got %v, want %d values", info.Bias, b, k)
		}
		checkUniform(t, "bias", b, ref.BiasBound)
	}

	// The saved model runs in the engine and in ONNX Runtime, which agree.
	saved, err := onnx.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	g, err := onnx.Import(saved)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := graph.NewPlan(g)
	if err != nil {
		t.Fatal(err)
	}
	x := randomInput(g, 2)
	got, err := plan.Run(nil, map[string]*tensor.Tensor{g.Inputs[0].Name: x})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got["logits"].Shape(), []int{2, k}) {
		t.Fatalf("engine output: got %v, want [2 %d]", got["logits"], k)
	}
	xPath := filepath.Join(dir, "x.npy")
	if err := data.SaveNPY(xPath, x); err != nil {
		t.Fatal(err)
	}
	fixture.RunORT(t, out, dir, g.Inputs[0].Name+"="+xPath)
	want, err := data.LoadNPY(filepath.Join(dir, "logits.npy"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(want.Shape(), []int{2, k}) {
		t.Fatalf("onnxruntime output: %v, want [2 %d]", want, k)
	}
	gv, wv := got["logits"].ToFloat64s(), want.ToFloat64s()
	for i := range gv {
		if math.Abs(gv[i]-wv[i]) > 1e-5+1e-4*math.Abs(wv[i]) {
			t.Fatalf("logits[%d]: got %g, want %g (onnxruntime)", i, gv[i], wv[i])
		}
	}
}

// checkUniform holds fresh values to nn.Linear's init: inside (-bound, bound), and for
// tensors large enough to tell, spread over the interval as a uniform draw is.
func checkUniform(t *testing.T, what string, v *tensor.Tensor, bound float64) {
	t.Helper()
	vals := v.ToFloat64s()
	var maxAbs, sum, sumSq float64
	for _, x := range vals {
		if !(math.Abs(x) <= float64(float32(bound))) {
			t.Fatalf("%s: %g outside [-%g, %g] (torch's bound)", what, x, bound, bound)
		}
		maxAbs = max(maxAbs, math.Abs(x))
		sum += x
		sumSq += x * x
	}
	n := float64(len(vals))
	if len(vals) >= 1000 {
		// Uniform(-b, b): mean 0, variance b^2/3; tolerances of about 5 standard errors.
		if maxAbs < 0.99*bound {
			t.Errorf("%s: max |value| %g, want close to the bound %g", what, maxAbs, bound)
		}
		if mean := sum / n; math.Abs(mean) > 5*bound/math.Sqrt(3*n) {
			t.Errorf("%s: mean %g, want about 0", what, mean)
		}
		if variance := sumSq / n; math.Abs(variance/(bound*bound/3)-1) > 5*math.Sqrt(0.8/n) {
			t.Errorf("%s: variance %g, want about %g", what, variance, bound*bound/3)
		}
	}
}

// replaceHead gives m's graph a k-way head and returns the exported model.
func replaceHead(t *testing.T, m *onnx.Model, k int, seed uint64) (*train.HeadInfo, *onnx.Model) {
	t.Helper()
	g, err := onnx.Import(m)
	if err != nil {
		t.Fatal(err)
	}
	info, err := train.ReplaceHead(g, k, seed)
	if err != nil {
		t.Fatal(err)
	}
	e, err := onnx.Export(m, g)
	if err != nil {
		t.Fatal(err)
	}
	return info, e
}

type initValue struct {
	proto *onnx.TensorProto
	value *tensor.Tensor
}

func initializers(t *testing.T, m *onnx.Model) map[string]initValue {
	t.Helper()
	out := map[string]initValue{}
	for _, p := range m.Proto.GetGraph().GetInitializer() {
		v, err := m.Tensor(p)
		if err != nil {
			t.Fatal(err)
		}
		out[p.GetName()] = initValue{proto.Clone(p).(*onnx.TensorProto), v}
	}
	return out
}

func sameBits(a, b *tensor.Tensor) bool {
	if a.DType() != b.DType() || !slices.Equal(a.Shape(), b.Shape()) {
		return false
	}
	x, y := a.ToFloat64s(), b.ToFloat64s()
	for i := range x {
		if math.Float64bits(x[i]) != math.Float64bits(y[i]) {
			return false
		}
	}
	return true
}

// randomInput is a seeded float32 input of the model's first input shape with batch n.
func randomInput(g *graph.Graph, n int) *tensor.Tensor {
	shape := []int{n}
	for _, d := range g.Inputs[0].Shape[1:] {
		shape = append(shape, d.Size)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	v := make([]float32, tensor.Size(shape))
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return tensor.From(shape, v)
}

func TestReplaceHeadValueInfo(t *testing.T) {
	for _, c := range []struct {
		path   string
		values []string
	}{
		{filepath.Join("testdata", "head_matmul.onnx"), []string{"/fc/MatMul_output_0", "/fc/Add_output_0"}},
	} {
		m, err := onnx.Load(c.path)
		if err != nil {
			t.Fatal(err)
		}
		_, m = replaceHead(t, m, 7, 1)
		for _, vi := range m.Proto.GetGraph().GetValueInfo() {
			dims := vi.GetType().GetTensorType().GetShape().GetDim()
			last := dims[len(dims)-1].GetDimValue()
			if slices.Contains(c.values, vi.GetName()) && last != 7 {
				t.Errorf("%s: value_info %q: last dim %d, want 7", c.path, vi.GetName(), last)
			}
			if !slices.Contains(c.values, vi.GetName()) && last == 7 {
				t.Errorf("%s: value_info %q off the head's path changed", c.path, vi.GetName())
			}
		}
	}
}

func TestReplaceHeadSeed(t *testing.T) {
	head := func(seed uint64) []float64 {
		m, err := onnx.Load(fixture.Small(t, "tiny_cnn_bn.onnx"))
		if err != nil {
			t.Fatal(err)
		}
		info, m := replaceHead(t, m, 4, seed)
		vals := initializers(t, m)
		return append(vals[info.Weight].value.ToFloat64s(), vals[info.Bias].value.ToFloat64s()...)
	}
	a, b, c := head(5), head(5), head(6)
	if !slices.Equal(a, b) {
		t.Errorf("seed 5 twice: different heads")
	}
	if slices.Equal(a, c) {
		t.Errorf("seeds 5 and 6: the same head")
	}
}

func TestReplaceHeadErrors(t *testing.T) {
	for _, c := range []struct {
		path string
		k    int
		want string
	}{
		{filepath.Join("testdata", "head_conv.onnx"), 3, `train: new head: no classifier found: output "logits" comes through Flatten from node "/ReduceMean" (ReduceMean); want a Gemm`},
		{filepath.Join("testdata", "head_reshape.onnx"), 3, `train: new head: node "/Reshape" (Reshape) after the classifier reshapes to the fixed shape [-1 5], which spells out the 5 classes`},
		{fixture.Small(t, "tiny_cnn.onnx"), 0, "train: new head: 0 classes; want at least 1"},
	} {
		m, err := onnx.Load(c.path)
		if err != nil {
			t.Fatal(err)
		}
		g, err := onnx.Import(m)
		if err != nil {
			t.Fatal(err)
		}
		_, err = train.ReplaceHead(g, c.k, 1)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s: got error %v, want %q", c.path, err, c.want)
		}
		e, err := onnx.Export(m, g)
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(e.Proto, m.Proto) {
			t.Errorf("%s: a failed ReplaceHead changed the model", c.path)
		}
	}
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestReplaceHeadExternalData keeps a same-sized head in the external data file, where a
// saved and reloaded model finds the new values; a head of another size moves inline.
func TestReplaceHeadExternalData(t *testing.T) {
	for _, k := range []int{10, 3} {
		m, err := onnx.Load(fixture.Small(t, "ext_data/model.onnx"))
		if err != nil {
			t.Fatal(err)
		}
		info, m := replaceHead(t, m, k, 9)
		want := initializers(t, m)[info.Weight]
		external := want.proto.GetDataLocation() == onnx.TensorProto_EXTERNAL
		if external != (k == 10) {
			t.Errorf("k=%d: weight stored externally: %v, want %v", k, external, k == 10)
		}
		out := filepath.Join(t.TempDir(), "model.onnx")
		if err := onnx.Save(m, out); err != nil {
			t.Fatal(err)
		}
		back, err := onnx.Load(out)
		if err != nil {
			t.Fatal(err)
		}
		if got := initializers(t, back)[info.Weight]; !sameBits(got.value, want.value) {
			t.Errorf("k=%d: the reloaded weight differs from the new one", k)
		}
	}
}
