package train_test

import (
	"math"
	"slices"
	"testing"

	"github.com/onnxtune/onnxtune/backprop"
	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/tensor"
	"github.com/onnxtune/onnxtune/train"
)

// TestCutAtEmbeddingNormalizeOpsets: --normalize's ReduceL2 takes its axes as an attribute
// before opset 18 and as an input from 18; in both forms the cut model's rows are the
// classifier's input divided by its L2 norm, and its only parameter is the layer before the
// cut (the eps and axes are constants, never trained). The classifier's input here is named
// as the normalisation's own values would be: they take other names.
func TestCutAtEmbeddingNormalizeOpsets(t *testing.T) {
	for _, opset := range []int{13, 17, 18, 21} {
		g := &graph.Graph{
			Inputs:  []graph.ValueInfo{{Name: "x", DType: tensor.Float32}},
			Outputs: []graph.ValueInfo{{Name: "logits", DType: tensor.Float32}},
			Initializers: map[string]*tensor.Tensor{
				"w1": tensor.From([]int{3, 2}, []float32{1, -2, 0.5, 3, -1, 4}),
				"w2": tensor.From([]int{2, 4}, []float32{1, 2, 3, 4, 5, 6, 7, 8}),
			},
			InitializerNames: []string{"w1", "w2"},
			Nodes: []*graph.Node{
				{Name: "hidden", OpType: "MatMul", Inputs: []string{"x", "w1"}, Outputs: []string{"embedding_norm"}, Attrs: map[string]graph.Attr{}},
				{Name: "classifier", OpType: "MatMul", Inputs: []string{"embedding_norm", "w2"}, Outputs: []string{"logits"}, Attrs: map[string]graph.Attr{}},
			},
			Opsets: map[string]int{"": opset},
		}
		at, err := train.CutAtEmbedding(g, "auto", true)
		if err != nil {
			t.Fatalf("opset %d: %v", opset, err)
		}
		if at != "embedding_norm" {
			t.Errorf("opset %d: cut at %q, want the classifier's input", opset, at)
		}
		if got := backprop.Trainable(g); !slices.Equal(got, []string{"w1"}) {
			t.Errorf("opset %d: parameters %v, want [w1]", opset, got)
		}
		plan, err := graph.NewPlan(g)
		if err != nil {
			t.Fatalf("opset %d: %v", opset, err)
		}
		// x rows [1 0 2] and [0 0 0]: h = [-1 6] and [0 0] (the eps keeps a zero row zero).
		x := tensor.From([]int{2, 3}, []float32{1, 0, 2, 0, 0, 0})
		out, err := plan.Run(nil, map[string]*tensor.Tensor{"x": x})
		if err != nil {
			t.Fatalf("opset %d: %v", opset, err)
		}
		n := math.Sqrt(37)
		want := []float64{-1 / n, 6 / n, 0, 0}
		got := out[train.EmbeddingOutput].ToFloat64s()
		for i := range want {
			if math.Abs(got[i]-want[i]) > 1e-6 {
				t.Errorf("opset %d: embedding %v, want %v", opset, got, want)
				break
			}
		}
	}
}
