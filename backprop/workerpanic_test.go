package backprop_test

import (
	"strings"
	"testing"

	"github.com/onnxtune/onnxtune/backprop"
	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/internal/parallel"
	"github.com/onnxtune/onnxtune/tensor"
)

// panicky is an operator, registered for this test only, whose forward kernel (attribute
// forward=1) or VJP panics in one worker of a parallel loop: the bug a kernel could have.
type panicky struct{ forward bool }

func (k *panicky) Run(_ *graph.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if k.forward {
		parallel.For(8, 4, func(i int) {
			if i == 5 {
				panic("index out of range [5] in a worker")
			}
		})
	}
	return []*tensor.Tensor{in[0].Clone()}, nil
}

func init() {
	graph.Register(graph.OpDef{Type: "OnnxtuneTestPanicky", Since: 1, Build: func(n *graph.Node, _ int) (graph.Kernel, error) {
		return &panicky{forward: n.AttrReader().Int("forward", 0) == 1}, nil
	}})
	backprop.Register("OnnxtuneTestPanicky", backprop.Rule{VJP: func(c *backprop.Call, g []*tensor.Tensor) ([]*tensor.Tensor, error) {
		parallel.For(8, 4, func(i int) {
			if i == 6 {
				panic("nil map write in a worker")
			}
		})
		return []*tensor.Tensor{g[0]}, nil
	}})
}

// TestWorkerPanicBecomesError: a panic in a worker of a parallel kernel reaches the caller
// of Run, and of Backward, as an error naming the node, not as a crash.
func TestWorkerPanicBecomesError(t *testing.T) {
	for _, forward := range []int64{1, 0} {
		g := &graph.Graph{
			Inputs:           []graph.ValueInfo{{Name: "x", DType: tensor.Float32}},
			Outputs:          []graph.ValueInfo{{Name: "y"}},
			Initializers:     map[string]*tensor.Tensor{"w": tensor.From([]int{2}, []float32{1, 2})},
			InitializerNames: []string{"w"},
			Opsets:           map[string]int{"": 13},
			Nodes: []*graph.Node{
				{Name: "scale", OpType: "Mul", Inputs: []string{"x", "w"}, Outputs: []string{"s"}},
				{Name: "the_bug", OpType: "OnnxtuneTestPanicky", Inputs: []string{"s"}, Outputs: []string{"y"},
					Attrs: map[string]graph.Attr{"forward": {Type: graph.AttrInt, Int: forward}}},
			},
		}
		plan, err := graph.NewPlan(g)
		if err != nil {
			t.Fatal(err)
		}
		x := map[string]*tensor.Tensor{"x": tensor.From([]int{2}, []float32{3, 4})}
		prog, err := backprop.NewProgram(plan, []string{"w"})
		if err != nil {
			t.Fatal(err)
		}
		tape, err := prog.Forward(nil, x)
		if forward == 1 {
			if err == nil || !strings.Contains(err.Error(), `"the_bug"`) || !strings.Contains(err.Error(), "index out of range [5] in a worker") {
				t.Errorf("forward: got %v, want an error naming node the_bug and the panic", err)
			}
			if _, err := plan.Run(nil, x); err == nil || !strings.Contains(err.Error(), `"the_bug"`) {
				t.Errorf("Run: got %v, want an error naming node the_bug", err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		_, err = tape.Backward(map[string]*tensor.Tensor{"y": tensor.From([]int{2}, []float32{1, 1})})
		if err == nil || !strings.Contains(err.Error(), `"the_bug"`) || !strings.Contains(err.Error(), "nil map write in a worker") {
			t.Errorf("backward: got %v, want an error naming node the_bug and the panic", err)
		}
	}
}
