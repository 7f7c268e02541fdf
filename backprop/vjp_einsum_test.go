package backprop_test

import (
	"fmt"
	"testing"

	"github.com/onnxtune/onnxtune/backprop"
	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/tensor"
)

// TestEinsumVJP checks the gradient of every operand against float64 finite differences and
// PyTorch's autograd, over the equation forms: batched products as maxvit_t's attention has
// them, transposed operands, outer and inner products, transposes and sums of one operand,
// diagonals, subscripts summed out of one operand alone, ellipsis and size-1 broadcasting,
// and three operands.
func TestEinsumVJP(t *testing.T) {
	r := egRng(12)
	u := func(shape ...int) *tensor.Tensor { return egUniform(r, -1, 1, shape...) }
	cases := []struct {
		eq string
		in []*tensor.Tensor
	}{
		{"bij,bjk->bik", []*tensor.Tensor{u(2, 3, 4), u(2, 4, 5)}},
		{"B G H I D, B G H J D -> B G H I J", []*tensor.Tensor{u(1, 2, 2, 5, 4), u(1, 2, 2, 6, 4)}},
		{"B G H I J, B G H J D -> B G H I D", []*tensor.Tensor{u(1, 2, 2, 5, 6), u(1, 2, 2, 6, 4)}},
		{"ki,jk->ji", []*tensor.Tensor{u(4, 3), u(5, 4)}},
		{"i,j->ij", []*tensor.Tensor{u(3), u(4)}},
		{"i,i", []*tensor.Tensor{u(5), u(5)}},
		{"ij->ji", []*tensor.Tensor{u(3, 4)}},
		{"ij->", []*tensor.Tensor{u(3, 4)}},
		{"ba", []*tensor.Tensor{u(3, 4)}},
		{"ii->i", []*tensor.Tensor{u(4, 4)}},
		{"bii->bi", []*tensor.Tensor{u(2, 3, 3)}},
		{"ii,ij->j", []*tensor.Tensor{u(3, 3), u(3, 4)}},
		{"ij,jk->k", []*tensor.Tensor{u(3, 4), u(4, 5)}},
		{"...ij,...jk->...ik", []*tensor.Tensor{u(2, 1, 3, 4), u(5, 4, 2)}},
		{"...ij,jk", []*tensor.Tensor{u(2, 3, 4), u(4, 5)}},
		{"...ij->ij", []*tensor.Tensor{u(2, 3, 4)}},
		{"ij,ij->ij", []*tensor.Tensor{u(3, 1), u(3, 4)}},
		{",ij->ij", []*tensor.Tensor{u(), u(3, 4)}},
		{"ij,jk,kl->il", []*tensor.Tensor{u(2, 3), u(3, 4), u(4, 5)}},
		{"bn,anm,bm->ba", []*tensor.Tensor{u(2, 3), u(4, 3, 5), u(2, 5)}},
	}
	var egs []egCase
	for _, c := range cases {
		wrt := make([]int, len(c.in))
		for j := range wrt {
			wrt[j] = j
		}
		egs = append(egs, egCase{name: "Einsum/" + c.eq, op: "Einsum", attrs: egAttrs("equation", egString(c.eq)),
			in: c.in, wrt: wrt, torch: fmt.Sprintf("torch.einsum(%q, *x)", c.eq)})
	}
	// One operand an initializer, so both kinds of value are differentiated.
	egs[0].init = []int{1}
	egRun(t, egs)
}

// TestEinsumNeed: the VJP computes only the gradients the walk asks for.
func TestEinsumNeed(t *testing.T) {
	r := egRng(13)
	a, b, c := egUniform(r, -1, 1, 2, 3), egUniform(r, -1, 1, 3, 4), egUniform(r, -1, 1, 4, 5)
	n := &graph.Node{Name: "e", OpType: "Einsum", Inputs: []string{"a", "b", "c"}, Outputs: []string{"y"},
		Attrs: egAttrs("equation", egString("ij,jk,kl->il"))}
	def, _ := graph.Lookup("", "Einsum", 13)
	k, err := def.Build(n, 13)
	if err != nil {
		t.Fatal(err)
	}
	y, err := k.Run(nil, []*tensor.Tensor{a, b, c})
	if err != nil {
		t.Fatal(err)
	}
	rule, ok := backprop.Lookup("Einsum")
	if !ok || !rule.AllInputs {
		t.Fatalf("Einsum: rule %+v, %v; want one that keeps every input", rule, ok)
	}
	g := egUniform(r, -1, 1, y[0].Shape()...)
	for j := range 3 {
		need := make([]bool, 3)
		need[j] = true
		call := &backprop.Call{Node: n, Kernel: k, In: []*tensor.Tensor{a, b, c}, Out: []*tensor.Tensor{nil},
			InShapes: [][]int{a.Shape(), b.Shape(), c.Shape()}, InTypes: []tensor.DType{tensor.Float32, tensor.Float32, tensor.Float32}, Need: need}
		res, err := rule.VJP(call, []*tensor.Tensor{g})
		if err != nil {
			t.Fatal(err)
		}
		for i, d := range res {
			if (d != nil) != need[i] {
				t.Errorf("need %v: gradient %d is %v", need, i, d)
			}
		}
	}
	call := &backprop.Call{Node: n, Kernel: k, In: []*tensor.Tensor{a, b, c}, InShapes: [][]int{a.Shape(), b.Shape(), c.Shape()},
		InTypes: []tensor.DType{tensor.Float32, tensor.Float32, tensor.Float32}, Need: []bool{true, true, true}}
	res, err := rule.VJP(call, []*tensor.Tensor{nil})
	if err != nil || len(res) != 3 || res[0] != nil || res[1] != nil || res[2] != nil {
		t.Errorf("no output gradient: got %v, %v; want three nil gradients", res, err)
	}
}
