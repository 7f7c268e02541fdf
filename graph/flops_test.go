package graph_test

import (
	"testing"

	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/tensor"
)

// flopsGraph is x [batch 4 8 8] -> grouped strided Conv -> ConvTranspose -> Flatten -> MatMul
// -> Transpose -> Gemm(transA) -> Relu: every counted op, with a batch that only running
// reveals and one Gemm operand whose layout only transA explains.
func flopsGraph() *graph.Graph {
	batch := graph.Dim{Size: -1, Param: "batch"}
	w := func(shape ...int) *tensor.Tensor { return tensor.New(tensor.Float32, shape...) }
	node := func(op string, attrs map[string]graph.Attr, out string, in ...string) *graph.Node {
		return &graph.Node{Name: "/" + op, OpType: op, Inputs: in, Outputs: []string{out}, Attrs: attrs}
	}
	return &graph.Graph{
		Inputs:  []graph.ValueInfo{{Name: "x", DType: tensor.Float32, Shape: []graph.Dim{batch, {Size: 4}, {Size: 8}, {Size: 8}}}},
		Outputs: []graph.ValueInfo{{Name: "y", DType: tensor.Float32, Shape: []graph.Dim{batch, {Size: 7}}}},
		Initializers: map[string]*tensor.Tensor{
			"W1": w(6, 2, 3, 3), "W2": w(6, 3, 2, 2), "W3": w(192, 5), "W4": w(5, 7),
		},
		InitializerNames: []string{"W1", "W2", "W3", "W4"},
		Nodes: []*graph.Node{
			node("Conv", map[string]graph.Attr{"group": intAttr(2), "strides": ints(2, 2), "pads": ints(1, 1, 1, 1)}, "c", "x", "W1"),
			node("ConvTranspose", map[string]graph.Attr{"strides": ints(2, 2)}, "t", "c", "W2"),
			node("Flatten", nil, "f", "t"),
			node("MatMul", nil, "m", "f", "W3"),
			node("Transpose", nil, "mT", "m"),
			node("Gemm", map[string]graph.Attr{"transA": intAttr(1)}, "g", "mT", "W4"),
			node("Relu", nil, "y", "g"),
		},
		Opsets: map[string]int{"": 17},
	}
}

// TestCountFLOPs counts the graph at batch 3 against products worked out by hand.
func TestCountFLOPs(t *testing.T) {
	p, err := graph.NewPlan(flopsGraph())
	if err != nil {
		t.Fatal(err)
	}
	const batch = 3
	out, flops, err := p.CountFLOPs(nil, map[string]*tensor.Tensor{"x": tensor.New(tensor.Float32, batch, 4, 8, 8)})
	if err != nil {
		t.Fatal(err)
	}
	if got := out["y"].Shape(); !tensor.EqualShapes(got, []int{batch, 7}) {
		t.Fatalf("output shape: got %v, want [%d 7]", got, batch)
	}
	want := int64(batch) * (2*6*4*4*(2*3*3) + // Conv: [6 4 4] outputs, each over 4/2 channels of 3x3
		2*6*4*4*(3*2*2) + // ConvTranspose: [6 4 4] inputs, each spread over 3 channels of 2x2
		2*5*192 + // MatMul [192] x [192 5]
		2*7*5) // Gemm [5] x [5 7]; Relu and the rest count nothing
	if flops != want {
		t.Errorf("FLOPs at batch %d: got %d, want %d", batch, flops, want)
	}
}

// TestNodeFLOPsIgnores: other ops, other domains and missing operands count nothing.
func TestNodeFLOPsIgnores(t *testing.T) {
	x := tensor.New(tensor.Float32, 2, 3)
	w := tensor.New(tensor.Float32, 3, 4)
	y := tensor.New(tensor.Float32, 2, 4)
	for _, c := range []struct {
		name    string
		n       *graph.Node
		in, out []*tensor.Tensor
	}{
		{"Add", &graph.Node{OpType: "Add"}, []*tensor.Tensor{y, y}, []*tensor.Tensor{y}},
		{"custom domain", &graph.Node{OpType: "MatMul", Domain: "com.example"}, []*tensor.Tensor{x, w}, []*tensor.Tensor{y}},
		{"omitted operand", &graph.Node{OpType: "MatMul"}, []*tensor.Tensor{x, nil}, []*tensor.Tensor{y}},
		{"no output", &graph.Node{OpType: "MatMul"}, []*tensor.Tensor{x, w}, []*tensor.Tensor{nil}},
	} {
		if got := graph.NodeFLOPs(c.n, c.in, c.out); got != 0 {
			t.Errorf("%s: got %d FLOPs, want 0", c.name, got)
		}
	}
	if got, want := graph.NodeFLOPs(&graph.Node{OpType: "MatMul"}, []*tensor.Tensor{x, w}, []*tensor.Tensor{y}), int64(2*2*4*3); got != want {
		t.Errorf("MatMul [2 3] x [3 4]: got %d FLOPs, want %d", got, want)
	}
}
