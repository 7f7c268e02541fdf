package backprop_test

import (
	"testing"

	"github.com/onnxtune/onnxtune/tensor"
)

// TestScatterVJP compares the scatters' gradients, to data and to updates, with PyTorch's
// (torch.scatter, scatter_add, and index_put for ScatterND) and with finite differences.
func TestScatterVJP(t *testing.T) {
	r := egRng(16)
	data := func() *tensor.Tensor { return egUniform(r, -1, 1, 3, 4) }
	// Distinct targets along axis 1 for "none"; repeats for "add".
	uniq := egI64([]int{3, 2}, 2, 0, -1, 1, 0, 3)
	rep := egI64([]int{3, 2}, 1, 1, 0, -1, 3, 3)
	cases := []egCase{
		{name: "ScatterElements/none", op: "ScatterElements", opset: 18, attrs: egAttrs("axis", egInt(1)),
			in: []*tensor.Tensor{data(), uniq, egUniform(r, -1, 1, 3, 2)}, wrt: []int{0, 2},
			torch: "torch.scatter(x[0], 1, (x[1] % 4), x[2])"},
		{name: "ScatterElements/add", op: "ScatterElements", opset: 16, attrs: egAttrs("axis", egInt(-1), "reduction", egString("add")),
			in: []*tensor.Tensor{data(), rep, egUniform(r, -1, 1, 3, 2)}, wrt: []int{0, 2},
			torch: "torch.scatter_add(x[0], 1, (x[1] % 4), x[2])"},
		{name: "ScatterND/none", op: "ScatterND", opset: 13,
			in: []*tensor.Tensor{data(), egI64([]int{2, 1}, 2, 0), egUniform(r, -1, 1, 2, 4)}, wrt: []int{0, 2},
			torch: "x[0].index_put((x[1][:, 0],), x[2])"},
	}
	egRun(t, cases)
}
