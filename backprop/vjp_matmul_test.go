package backprop_test

import (
	"testing"

	"github.com/onnxtune/onnxtune/backprop"
	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/tensor"
)

// The products run in float32 only, so their finite differences are float32 ones.
func TestGemmVJP(t *testing.T) {
	r := egRng(4)
	u := func(shape ...int) *tensor.Tensor { return egUniform(r, -1, 1, shape...) }
	const m, k, n = 3, 4, 5
	cases := []egCase{
		{name: "Gemm/plain", op: "Gemm", in: []*tensor.Tensor{u(m, k), u(k, n), u(m, n)}, wrt: []int{0, 1, 2}, torch: "x[0] @ x[1] + x[2]"},
		{name: "Gemm/transA", op: "Gemm", attrs: egAttrs("transA", egInt(1), "alpha", egFloat(0.5), "beta", egFloat(2)),
			in: []*tensor.Tensor{u(k, m), u(k, n), u(n)}, wrt: []int{0, 1, 2}, torch: "0.5 * (x[0].t() @ x[1]) + 2 * x[2]"},
		{name: "Gemm/transB", op: "Gemm", attrs: egAttrs("transB", egInt(1), "alpha", egFloat(-1.5)),
			in: []*tensor.Tensor{u(m, k), u(n, k), u(m, 1)}, wrt: []int{0, 1, 2}, init: []int{1, 2}, torch: "-1.5 * (x[0] @ x[1].t()) + x[2]"},
		{name: "Gemm/transAB", op: "Gemm", attrs: egAttrs("transA", egInt(1), "transB", egInt(1), "beta", egFloat(0.25)),
			in: []*tensor.Tensor{u(k, m), u(n, k), u()}, wrt: []int{0, 1, 2}, torch: "x[0].t() @ x[1].t() + 0.25 * x[2]"},
		{name: "Gemm/no-C", op: "Gemm", attrs: egAttrs("transB", egInt(1)), opset: 11, in: []*tensor.Tensor{u(m, k), u(n, k)}, wrt: []int{0, 1}, torch: "x[0] @ x[1].t()"},
		{name: "Gemm/beta0", op: "Gemm", attrs: egAttrs("beta", egFloat(0)), in: []*tensor.Tensor{u(m, k), u(k, n), u(1, n)}, wrt: []int{0, 1, 2}, torch: "x[0] @ x[1] + 0 * x[2]"},
		{name: "Gemm/linear", op: "Gemm", attrs: egAttrs("transB", egInt(1)), in: []*tensor.Tensor{u(8, 33), u(17, 33), u(17)}, wrt: []int{0, 1, 2}, torch: "F.linear(x[0], x[1], x[2])"},
	}
	for i := range cases {
		cases[i].f32Only = true
	}
	egRun(t, cases)
}

func TestMatMulVJP(t *testing.T) {
	r := egRng(5)
	u := func(shape ...int) *tensor.Tensor { return egUniform(r, -1, 1, shape...) }
	cases := []egCase{
		{name: "MatMul/2d", op: "MatMul", in: []*tensor.Tensor{u(3, 4), u(4, 5)}, wrt: []int{0, 1}, torch: "x[0] @ x[1]"},
		{name: "MatMul/stack-shared-B", op: "MatMul", in: []*tensor.Tensor{u(2, 3, 4), u(4, 5)}, wrt: []int{0, 1}, torch: "x[0] @ x[1]"},
		{name: "MatMul/shared-A", op: "MatMul", in: []*tensor.Tensor{u(3, 4), u(2, 4, 5)}, wrt: []int{0, 1}, init: []int{0}, torch: "x[0] @ x[1]"},
		{name: "MatMul/batched", op: "MatMul", in: []*tensor.Tensor{u(2, 3, 3, 4), u(2, 3, 4, 2)}, wrt: []int{0, 1}, torch: "x[0] @ x[1]"},
		{name: "MatMul/broadcast-both", op: "MatMul", in: []*tensor.Tensor{u(2, 1, 3, 4), u(3, 4, 2)}, wrt: []int{0, 1}, torch: "x[0] @ x[1]"},
		{name: "MatMul/vector-A", op: "MatMul", in: []*tensor.Tensor{u(4), u(2, 4, 5)}, wrt: []int{0, 1}, torch: "x[0] @ x[1]"},
		{name: "MatMul/vector-B", op: "MatMul", in: []*tensor.Tensor{u(2, 3, 4), u(4)}, wrt: []int{0, 1}, torch: "x[0] @ x[1]"},
		{name: "MatMul/dot", op: "MatMul", in: []*tensor.Tensor{u(4), u(4)}, wrt: []int{0, 1}, torch: "x[0] @ x[1]"},
		{name: "MatMul/large-stack", op: "MatMul", in: []*tensor.Tensor{u(4, 16, 40), u(40, 24)}, wrt: []int{0, 1}, samples: 64, torch: "x[0] @ x[1]"},
	}
	for i := range cases {
		cases[i].f32Only = true
	}
	egRun(t, cases)
}

// TestFrozenOperand: when only one operand's gradient is wanted, the VJP reads only the value
// that gradient needs and returns nothing for the other.
func TestFrozenOperand(t *testing.T) {
	r := egRng(10)
	for _, c := range []struct {
		op    string
		attrs map[string]graph.Attr
		a, b  *tensor.Tensor
	}{
		{"MatMul", nil, egUniform(r, -1, 1, 2, 3, 4), egUniform(r, -1, 1, 4, 5)},
		{"Gemm", egAttrs("transB", egInt(1)), egUniform(r, -1, 1, 3, 4), egUniform(r, -1, 1, 5, 4)},
	} {
		n := &graph.Node{Name: c.op, OpType: c.op, Inputs: []string{"a", "b"}, Outputs: []string{"y"}, Attrs: c.attrs}
		def, _ := graph.Lookup("", c.op, 13)
		k, err := def.Build(n, 13)
		if err != nil {
			t.Fatal(err)
		}
		y, err := k.Run(nil, []*tensor.Tensor{c.a, c.b})
		if err != nil {
			t.Fatal(err)
		}
		rule, _ := backprop.Lookup(c.op)
		for j := range 2 {
			call := &backprop.Call{Node: n, Kernel: k, In: []*tensor.Tensor{c.a, c.b}, Out: []*tensor.Tensor{nil},
				InShapes: [][]int{c.a.Shape(), c.b.Shape()}, InTypes: []tensor.DType{tensor.Float32, tensor.Float32}, Need: []bool{j == 0, j == 1}}
			call.In[j] = nil // the operand differentiated is not read
			g, err := rule.VJP(call, []*tensor.Tensor{egUniform(r, -1, 1, y[0].Shape()...)})
			if err != nil {
				t.Fatalf("%s, gradient of input %d alone: %v", c.op, j, err)
			}
			if g[j] == nil || g[1-j] != nil {
				t.Errorf("%s, gradient of input %d alone: got %v", c.op, j, g)
			}
		}
	}
}
