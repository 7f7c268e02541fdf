package backprop_test

import (
	"testing"

	"github.com/onnxtune/onnxtune/backprop"
	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/tensor"
)

// A test-only operator y = x*x whose registered VJP is wrong by a factor of 1.1, to prove that
// Check catches a subtly wrong gradient, in float32 as well as in float64.
func init() {
	graph.Register(graph.OpDef{Type: "OnnxtuneTestSquare", Since: 1, Build: func(*graph.Node, int) (graph.Kernel, error) {
		return graph.KernelFunc(func(_ *graph.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
			x := in[0].ToFloat64s()
			for i := range x {
				x[i] *= x[i]
			}
			return []*tensor.Tensor{tensor.FromFloat64s(in[0].DType(), in[0].Shape(), x)}, nil
		}), nil
	}})
	backprop.Register("OnnxtuneTestSquare", backprop.Rule{Inputs: []int{0}, VJP: func(c *backprop.Call, g []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x, dy := c.In[0].ToFloat64s(), g[0].ToFloat64s()
		for i := range x {
			x[i] = 1.1 * 2 * x[i] * dy[i] // the deliberate 10% error
		}
		return []*tensor.Tensor{tensor.FromFloat64s(c.InTypes[0], c.InShapes[0], x)}, nil
	}})
}

func TestCheckCatchesWrongVJP(t *testing.T) {
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
		w := tensor.FromFloat64s(dt, []int{6}, []float64{0.3, -1.2, 0.7, 2.5, -0.4, 1.1})
		g := &graph.Graph{
			Outputs:          []graph.ValueInfo{{Name: "y", DType: dt}},
			Initializers:     map[string]*tensor.Tensor{"w": w},
			InitializerNames: []string{"w"},
			Nodes:            []*graph.Node{{OpType: "OnnxtuneTestSquare", Inputs: []string{"w"}, Outputs: []string{"y"}}},
			Opsets:           map[string]int{"": 13},
		}
		plan, err := graph.NewPlan(g)
		if err != nil {
			t.Fatal(err)
		}
		res, err := backprop.Check(plan, nil, []string{"w"}, backprop.CheckOptions{Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		if rel := res[0].RelErr; rel < 0.09 || rel > 0.11 {
			t.Errorf("%v: Check reports %.4f relative error for a gradient 10%% off", dt, rel)
		}
	}
}
