package graph_test

import (
	"math"
	"strings"
	"testing"

	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/tensor"
)

// linearGraph is logits = x * W^T + b, x float32 [batch, 3], W [2, 3], as PyTorch exports a
// Linear layer.
func linearGraph() *graph.Graph {
	batch := graph.Dim{Size: -1, Param: "batch"}
	return &graph.Graph{
		Name:    "linear",
		Inputs:  []graph.ValueInfo{{Name: "x", DType: tensor.Float32, Shape: []graph.Dim{batch, {Size: 3}}}},
		Outputs: []graph.ValueInfo{{Name: "logits", DType: tensor.Float32, Shape: []graph.Dim{batch, {Size: 2}}}},
		Initializers: map[string]*tensor.Tensor{
			"W": tensor.From([]int{2, 3}, []float32{1, 2, 3, -1, 0, 1}),
			"b": tensor.From([]int{2}, []float32{0.5, -0.5}),
		},
		InitializerNames: []string{"W", "b"},
		Nodes: []*graph.Node{{Name: "/fc/Gemm", OpType: "Gemm", Inputs: []string{"x", "W", "b"}, Outputs: []string{"logits"},
			Attrs: map[string]graph.Attr{"transB": {Type: graph.AttrInt, Int: 1}}}},
		Opsets: map[string]int{"": 17},
	}
}

func run(t *testing.T, g *graph.Graph, inputs map[string]*tensor.Tensor) map[string]*tensor.Tensor {
	t.Helper()
	p, err := graph.NewPlan(g)
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Run(nil, inputs)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestNamerFresh(t *testing.T) {
	g := linearGraph()
	g.ValueInfo = []graph.ValueInfo{{Name: "hidden"}}
	n := g.Namer()
	for _, c := range []struct{ base, want string }{
		{"probs", "probs"}, {"probs", "probs_1"}, {"logits", "logits_1"}, {"W", "W_1"},
		{"x", "x_1"}, {"/fc/Gemm", "/fc/Gemm_1"}, {"hidden", "hidden_1"}, {"", "_1"},
	} {
		if got := n.Fresh(c.base); got != c.want {
			t.Errorf("Fresh(%q): got %q, want %q", c.base, got, c.want)
		}
	}
}

// TestAddOutput appends a Softmax after the logits as a second output; the logits stay.
func TestAddOutput(t *testing.T) {
	g := linearGraph()
	probs := g.Namer().Fresh("probs")
	err := g.AddOutput(graph.ValueInfo{Name: probs, DType: tensor.Float32},
		&graph.Node{Name: "/Softmax", OpType: "Softmax", Inputs: []string{"logits"}, Outputs: []string{probs},
			Attrs: map[string]graph.Attr{"axis": {Type: graph.AttrInt, Int: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Outputs) != 2 || g.Outputs[0].Name != "logits" || g.Outputs[1].Name != "probs" {
		t.Fatalf("outputs: got %v, want logits and probs", g.Outputs)
	}
	out := run(t, g, map[string]*tensor.Tensor{"x": tensor.From([]int{1, 3}, []float32{1, 1, 1})})
	// logits = [6.5, -0.5]
	if got := out["logits"].Float32s(); got[0] != 6.5 || got[1] != -0.5 {
		t.Errorf("logits: got %v, want [6.5 -0.5]", got)
	}
	p := out["probs"].Float32s()
	if want := 1 / (1 + math.Exp(-7)); math.Abs(float64(p[0])-want) > 1e-6 || math.Abs(float64(p[0]+p[1])-1) > 1e-6 {
		t.Errorf("probs: got %v, want [%g %g]", p, want, 1-want)
	}
}

// TestPrependInput feeds the model uint8 pixels, scaled to [0, 1] before the old input.
func TestPrependInput(t *testing.T) {
	g := linearGraph()
	nm := g.Namer()
	pixels, cast, scale := nm.Fresh("pixels"), nm.Fresh("x_float"), nm.Fresh("scale")
	if err := g.AddInitializer(scale, tensor.Scalar(float32(255))); err != nil {
		t.Fatal(err)
	}
	in := graph.ValueInfo{Name: pixels, DType: tensor.Uint8, Shape: g.Inputs[0].Shape}
	err := g.PrependInput("x", in,
		&graph.Node{OpType: "Cast", Inputs: []string{pixels}, Outputs: []string{cast},
			Attrs: map[string]graph.Attr{"to": {Type: graph.AttrInt, Int: 1}}},
		&graph.Node{OpType: "Div", Inputs: []string{cast, scale}, Outputs: []string{"x"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Inputs) != 1 || g.Inputs[0].Name != "pixels" || g.Inputs[0].DType != tensor.Uint8 {
		t.Fatalf("inputs: got %v, want pixels uint8", g.Inputs)
	}
	out := run(t, g, map[string]*tensor.Tensor{"pixels": tensor.From([]int{1, 3}, []uint8{255, 0, 51})})
	// x = [1, 0, 0.2]: logits = [1 + 0.6 + 0.5, -1 + 0.2 - 0.5]
	got, want := out["logits"].Float32s(), []float64{2.1, -1.3}
	for i := range want {
		if math.Abs(float64(got[i])-want[i]) > 1e-6 {
			t.Errorf("logits: got %v, want %v", got, want)
		}
	}
}

func TestEditErrors(t *testing.T) {
	relu := func(in, out string) *graph.Node {
		return &graph.Node{OpType: "Relu", Inputs: []string{in}, Outputs: []string{out}}
	}
	for _, c := range []struct {
		name string
		edit func(g *graph.Graph) error
		want string
	}{
		{"output of nothing", func(g *graph.Graph) error { return g.AddOutput(graph.ValueInfo{Name: "y"}, relu("logits", "z")) }, `new output "y" is computed by no node`},
		{"unknown input", func(g *graph.Graph) error { return g.AddOutput(graph.ValueInfo{Name: "y"}, relu("nope", "y")) }, `input "nope" is not defined`},
		{"redefined", func(g *graph.Graph) error { return g.AddOutput(graph.ValueInfo{Name: "W"}, relu("logits", "W")) }, `output "W" is already defined`},
		{"twice", func(g *graph.Graph) error { return g.AddOutput(graph.ValueInfo{Name: "logits"}) }, `already a graph output`},
		{"not an input", func(g *graph.Graph) error {
			return g.PrependInput("logits", graph.ValueInfo{Name: "u"}, relu("u", "logits"))
		}, `"logits" is not a graph input`},
		{"old name", func(g *graph.Graph) error { return g.PrependInput("x", graph.ValueInfo{Name: "x"}, relu("x", "x")) }, `new input "x"`},
		{"no producer", func(g *graph.Graph) error { return g.PrependInput("x", graph.ValueInfo{Name: "u"}, relu("u", "v")) }, `no new node computes "x"`},
		{"reads the graph", func(g *graph.Graph) error {
			return g.PrependInput("x", graph.ValueInfo{Name: "u"}, relu("logits", "x"))
		}, `input "logits" is not defined`},
		{"clobbers", func(g *graph.Graph) error {
			return g.PrependInput("x", graph.ValueInfo{Name: "u"}, relu("u", "logits"), relu("logits", "x"))
		}, `output "logits" is already defined`},
		{"initializer twice", func(g *graph.Graph) error { return g.AddInitializer("b", tensor.Scalar(float32(1))) }, `initializer "b"`},
	} {
		g := linearGraph()
		err := c.edit(g)
		if err == nil || !strings.HasPrefix(err.Error(), "graph: ") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error with %q", c.name, err, c.want)
		}
		if len(g.Nodes) != 1 || len(g.Outputs) != 1 || g.Inputs[0].Name != "x" || len(g.Initializers) != 2 {
			t.Errorf("%s: a failed edit changed the graph", c.name)
		}
	}
}
