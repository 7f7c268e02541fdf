package onnx_test

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/onnx"
	"github.com/onnxtune/onnxtune/tensor"
)

// TestExportUnedited: exporting the graph a model imports to is the model again, proto for
// proto (doc strings, value_info, metadata and external data layout included), and saving it
// writes the same external data files; base is left alone.
func TestExportUnedited(t *testing.T) {
	for _, path := range roundTripModels(t) {
		name := modelName(path)
		t.Run(name, func(t *testing.T) {
			m, err := onnx.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			g, err := onnx.Import(m)
			if err != nil {
				t.Fatal(err)
			}
			e, err := onnx.Export(m, g)
			if err != nil {
				t.Fatal(err)
			}
			want := parseRaw(t, path)
			if !proto.Equal(e.Proto, want) {
				t.Fatalf("exported model differs from %s", path)
			}
			if !proto.Equal(m.Proto, want) {
				t.Fatalf("Export changed the base model")
			}
			out := filepath.Join(t.TempDir(), filepath.Base(path))
			if err := onnx.Save(e, out); err != nil {
				t.Fatal(err)
			}
			compareExternalFiles(t, want, filepath.Dir(path), filepath.Dir(out))
		})
	}
}

// TestExportEdits edits the model with external data the way the features after the first
// export do, and removes and adds nodes and initializers: uint8 pixels scaled to [0, 1] before
// the input, a softmax output after the logits, and the Gemm classifier rewritten as MatMul +
// Add with a new transposed weight. Everything else keeps its proto and external data;
// ONNX Runtime runs the saved result and agrees with the engine on the unedited model.
func TestExportEdits(t *testing.T) {
	path := fixture.Small(t, "ext_data/model.onnx")
	m, err := onnx.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	orig := proto.Clone(m.Proto).(*onnx.ModelProto)
	g, err := onnx.Import(m)
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.New(tensor.Uint8, 2, 1, 28, 28)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range x.Len() {
		tensor.Data[uint8](x)[i] = uint8(rng.IntN(256))
	}
	ref := runGraph(t, g, "x", scaled(x))

	nm := g.Namer()
	pixels, xf, scale, probs := nm.Fresh("pixels"), nm.Fresh("x_float"), nm.Fresh("scale"), nm.Fresh("probs")
	if err := g.AddInitializer(scale, tensor.Scalar(float32(255))); err != nil {
		t.Fatal(err)
	}
	err = g.PrependInput("x", graph.ValueInfo{Name: pixels, DType: tensor.Uint8, Shape: g.Inputs[0].Shape},
		&graph.Node{Name: "/pre/Cast", OpType: "Cast", Inputs: []string{pixels}, Outputs: []string{xf},
			Attrs: map[string]graph.Attr{"to": {Type: graph.AttrInt, Int: int64(onnx.TensorProto_FLOAT)}}},
		&graph.Node{Name: "/pre/Div", OpType: "Div", Inputs: []string{xf, scale}, Outputs: []string{"x"}})
	if err != nil {
		t.Fatal(err)
	}
	err = g.AddOutput(graph.ValueInfo{Name: probs, DType: tensor.Float32, Shape: g.Outputs[0].Shape},
		&graph.Node{Name: "/post/Softmax", OpType: "Softmax", Inputs: []string{"logits"}, Outputs: []string{probs},
			Attrs: map[string]graph.Attr{"axis": {Type: graph.AttrInt, Int: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	gemm := slices.IndexFunc(g.Nodes, func(n *graph.Node) bool { return n.OpType == "Gemm" })
	w := g.Initializers["fc.weight"]
	wt := tensor.New(tensor.Float32, w.Shape()[1], w.Shape()[0])
	for i := range w.Shape()[0] {
		for j := range w.Shape()[1] {
			wt.Float32s()[j*w.Shape()[0]+i] = w.Float32s()[i*w.Shape()[1]+j]
		}
	}
	delete(g.Initializers, "fc.weight")
	g.InitializerNames = slices.DeleteFunc(g.InitializerNames, func(s string) bool { return s == "fc.weight" })
	wName, mm := nm.Fresh("fc.weight_t"), nm.Fresh("/fc/MatMul_output_0")
	if err := g.AddInitializer(wName, wt); err != nil {
		t.Fatal(err)
	}
	flat := g.Nodes[gemm].Inputs[0]
	g.Nodes = slices.Replace(g.Nodes, gemm, gemm+1,
		&graph.Node{Name: "/fc/MatMul", OpType: "MatMul", Inputs: []string{flat, wName}, Outputs: []string{mm}},
		&graph.Node{Name: "/fc/Add", OpType: "Add", Inputs: []string{mm, "fc.bias"}, Outputs: []string{"logits"}})

	e, err := onnx.Export(m, g)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(m.Proto, orig) {
		t.Fatal("Export changed the base model")
	}
	gp, op := e.Proto.GetGraph(), orig.GetGraph()
	if got := names(gp.GetInput()); !slices.Equal(got, []string{"pixels"}) || gp.Input[0].GetType().GetTensorType().GetElemType() != int32(onnx.TensorProto_UINT8) {
		t.Errorf("inputs: got %v, want pixels of uint8", got)
	}
	if got := names(gp.GetOutput()); !slices.Equal(got, []string{"logits", "probs"}) || !proto.Equal(gp.Output[0], op.Output[0]) {
		t.Errorf("outputs: got %v, want logits (as it was) and probs", got)
	}
	kept := map[string]*onnx.NodeProto{}
	for _, n := range gp.GetNode() {
		kept[n.GetName()] = n
	}
	for _, n := range op.GetNode() {
		if n.GetOpType() == "Gemm" {
			if kept[n.GetName()] != nil {
				t.Errorf("the Gemm %q is still there", n.GetName())
			}
		} else if !proto.Equal(kept[n.GetName()], n) {
			t.Errorf("node %q changed", n.GetName())
		}
	}
	inits := map[string]*onnx.TensorProto{}
	for _, tp := range gp.GetInitializer() {
		inits[tp.GetName()] = tp
	}
	for _, tp := range op.GetInitializer() {
		if tp.GetName() == "fc.weight" {
			if inits["fc.weight"] != nil {
				t.Errorf("fc.weight is still there")
			}
		} else if !proto.Equal(inits[tp.GetName()], tp) {
			t.Errorf("initializer %q changed", tp.GetName())
		}
	}
	if tp := inits[wName]; tp == nil || tp.GetDataLocation() == onnx.TensorProto_EXTERNAL {
		t.Errorf("new initializer %q: got %v, want it inline", wName, tp)
	}

	dir := t.TempDir()
	out := filepath.Join(dir, "model.onnx")
	if err := onnx.Save(e, out); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "model.onnx.data")); err != nil {
		t.Errorf("external data beside the export: %v", err)
	}
	fixture.RunPython(t, "import sys, onnx\nonnx.checker.check_model(sys.argv[1], full_check=True)\n", out)
	back, err := onnx.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	bg, err := onnx.Import(back)
	if err != nil {
		t.Fatal(err)
	}
	got := runGraph(t, bg, "pixels", x)
	xPath := filepath.Join(dir, "pixels.npy")
	if err := data.SaveNPY(xPath, x); err != nil {
		t.Fatal(err)
	}
	fixture.RunORT(t, out, dir, "pixels="+xPath)
	for _, c := range []struct {
		name string
		want *tensor.Tensor
	}{{"logits", ref["logits"]}, {"probs", softmax(ref["logits"])}} {
		ort, err := data.LoadNPY(filepath.Join(dir, c.name+".npy"))
		if err != nil {
			t.Fatal(err)
		}
		if d := fixture.RelDiffTensors(ort, c.want); !(d <= 1e-5) {
			t.Errorf("%s: onnxruntime on the export is %.3g off the unedited model", c.name, d)
		}
		if d := fixture.RelDiffTensors(got[c.name], ort); !(d <= 1e-5) {
			t.Errorf("%s: the engine on the export is %.3g off onnxruntime", c.name, d)
		}
	}
}

func names(vs []*onnx.ValueInfoProto) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.GetName())
	}
	return out
}

func runGraph(t *testing.T, g *graph.Graph, input string, x *tensor.Tensor) map[string]*tensor.Tensor {
	t.Helper()
	p, err := graph.NewPlan(g)
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Run(nil, map[string]*tensor.Tensor{input: x})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// scaled is x / 255 in float32, the preprocessing the edit prepends.
func scaled(x *tensor.Tensor) *tensor.Tensor {
	out := tensor.New(tensor.Float32, x.Shape()...)
	for i, v := range tensor.Data[uint8](x) {
		out.Float32s()[i] = float32(v) / 255
	}
	return out
}

// softmax over the last axis of a [batch, classes] tensor, in float64.
func softmax(logits *tensor.Tensor) *tensor.Tensor {
	rows, k := logits.Shape()[0], logits.Shape()[1]
	v := logits.ToFloat64s()
	out := make([]float64, len(v))
	for r := range rows {
		row := v[r*k : (r+1)*k]
		top := slices.Max(row)
		var sum float64
		for i, z := range row {
			out[r*k+i] = math.Exp(z - top)
			sum += out[r*k+i]
		}
		for i := range row {
			out[r*k+i] /= sum
		}
	}
	return tensor.FromFloat64s(tensor.Float32, []int{rows, k}, out)
}
