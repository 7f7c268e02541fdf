package backprop_test

import (
	"testing"

	"github.com/onnxtune/onnxtune/tensor"
)

func TestReduceVJP(t *testing.T) {
	r := egRng(3)
	x := func() *tensor.Tensor { return egUniform(r, -1, 1, 2, 3, 4) }
	cases := []egCase{
		{name: "ReduceSum/13-axes-input", op: "ReduceSum", attrs: egAttrs("keepdims", egInt(0)),
			in: []*tensor.Tensor{x(), egI64([]int{2}, 0, -1)}, wrt: []int{0}, torch: "x[0].sum(dim=(0, -1))"},
		{name: "ReduceSum/13-keepdims", op: "ReduceSum", in: []*tensor.Tensor{x(), egI64([]int{2}, 0, 2)}, wrt: []int{0}, torch: "x[0].sum(dim=(0, 2), keepdim=True)"},
		{name: "ReduceSum/13-all", op: "ReduceSum", attrs: egAttrs("keepdims", egInt(0)), in: []*tensor.Tensor{x()}, wrt: []int{0}, init: []int{0}, torch: "x[0].sum()"},
		{name: "ReduceSum/13-empty-axes", op: "ReduceSum", in: []*tensor.Tensor{x(), egI64([]int{0})}, wrt: []int{0}, torch: "x[0].sum(dim=(0, 1, 2), keepdim=True)"},
		{name: "ReduceSum/13-noop", op: "ReduceSum", attrs: egAttrs("noop_with_empty_axes", egInt(1)), in: []*tensor.Tensor{x()}, wrt: []int{0}, torch: "x[0] * 1"},
		{name: "ReduceSum/11-attr", op: "ReduceSum", opset: 11, attrs: egAttrs("axes", egInts(1)), in: []*tensor.Tensor{x()}, wrt: []int{0}, torch: "x[0].sum(1, keepdim=True)"},
		{name: "ReduceMean/axis", op: "ReduceMean", attrs: egAttrs("axes", egInts(-2), "keepdims", egInt(0)), in: []*tensor.Tensor{x()}, wrt: []int{0}, torch: "x[0].mean(-2)"},
		{name: "ReduceMean/spatial", op: "ReduceMean", opset: 11, attrs: egAttrs("axes", egInts(2, 3)),
			in: []*tensor.Tensor{egUniform(r, -1, 1, 2, 3, 2, 2)}, wrt: []int{0}, torch: "x[0].mean((2, 3), keepdim=True)"},
		{name: "ReduceMean/all", op: "ReduceMean", in: []*tensor.Tensor{x()}, wrt: []int{0}, torch: "x[0].mean(dim=(0, 1, 2), keepdim=True)"},
	}
	egRun(t, cases)
}

// TestReduceValueVJP covers the reductions whose gradient depends on the values, in both the
// attribute form (opset 13) and the axes-input form of opset 18, against PyTorch's autograd.
func TestReduceValueVJP(t *testing.T) {
	r := egRng(4)
	x := func() *tensor.Tensor { return egUniform(r, -1, 1, 2, 3, 4) }
	pos := func() *tensor.Tensor { return egUniform(r, 0.5, 2, 2, 3, 4) }
	axes := func(a ...int64) *tensor.Tensor { return egI64([]int{len(a)}, a...) }
	// Ties for the extremes and zeros for the product, where finite differences do not apply.
	ties := tensor.From([]int{2, 3}, []float32{1, 3, 3, 2, 2, -1})
	zeros := tensor.From([]int{2, 4}, []float32{0, 2, 3, 0.5, 0, 0, 1, 2})
	cases := []egCase{
		{name: "ReduceMax/13", op: "ReduceMax", attrs: egAttrs("axes", egInts(1)), in: []*tensor.Tensor{x()}, wrt: []int{0}, torch: "x[0].amax(dim=1, keepdim=True)"},
		{name: "ReduceMax/18", op: "ReduceMax", opset: 18, attrs: egAttrs("keepdims", egInt(0)), in: []*tensor.Tensor{x(), axes(0, 2)}, wrt: []int{0}, torch: "x[0].amax(dim=(0, 2))"},
		{name: "ReduceMax/ties", op: "ReduceMax", attrs: egAttrs("axes", egInts(1)), in: []*tensor.Tensor{ties}, wrt: []int{0}, noFD: true, torch: "x[0].amax(dim=1, keepdim=True)"},
		{name: "ReduceMin/18-all", op: "ReduceMin", opset: 18, in: []*tensor.Tensor{x()}, wrt: []int{0}, init: []int{0}, torch: "x[0].amin(dim=(0, 1, 2), keepdim=True)"},
		{name: "ReduceMin/ties", op: "ReduceMin", opset: 18, in: []*tensor.Tensor{ties, axes(-1)}, wrt: []int{0}, noFD: true, torch: "x[0].amin(dim=-1, keepdim=True)"},
		{name: "ReduceProd/13", op: "ReduceProd", attrs: egAttrs("axes", egInts(2), "keepdims", egInt(0)), in: []*tensor.Tensor{x()}, wrt: []int{0}, torch: "x[0].prod(2)"},
		{name: "ReduceProd/18", op: "ReduceProd", opset: 18, in: []*tensor.Tensor{x(), axes(0, 1)}, wrt: []int{0}, torch: "x[0].prod(1, keepdim=True).prod(0, keepdim=True)"},
		{name: "ReduceProd/zeros", op: "ReduceProd", opset: 18, in: []*tensor.Tensor{zeros, axes(1)}, wrt: []int{0}, noFD: true, torch: "x[0].prod(1, keepdim=True)"},
		{name: "ReduceL1/13", op: "ReduceL1", attrs: egAttrs("axes", egInts(0, 2)), in: []*tensor.Tensor{x()}, wrt: []int{0}, torch: "x[0].abs().sum(dim=(0, 2), keepdim=True)"},
		{name: "ReduceL1/18", op: "ReduceL1", opset: 18, attrs: egAttrs("keepdims", egInt(0)), in: []*tensor.Tensor{x(), axes(1)}, wrt: []int{0}, torch: "x[0].abs().sum(1)"},
		{name: "ReduceL2/13", op: "ReduceL2", attrs: egAttrs("axes", egInts(-1)), in: []*tensor.Tensor{x()}, wrt: []int{0}, torch: "torch.linalg.vector_norm(x[0], dim=-1, keepdim=True)"},
		{name: "ReduceL2/18", op: "ReduceL2", opset: 18, in: []*tensor.Tensor{x(), axes(0, 1)}, wrt: []int{0}, torch: "torch.linalg.vector_norm(x[0], dim=(0, 1), keepdim=True)"},
		{name: "ReduceLogSum/13", op: "ReduceLogSum", attrs: egAttrs("axes", egInts(1)), in: []*tensor.Tensor{pos()}, wrt: []int{0}, torch: "x[0].sum(1, keepdim=True).log()"},
		{name: "ReduceLogSum/18", op: "ReduceLogSum", opset: 18, attrs: egAttrs("keepdims", egInt(0)), in: []*tensor.Tensor{pos(), axes(2, 0)}, wrt: []int{0}, torch: "x[0].sum((2, 0)).log()"},
		{name: "ReduceLogSumExp/13", op: "ReduceLogSumExp", attrs: egAttrs("axes", egInts(2)), in: []*tensor.Tensor{x()}, wrt: []int{0}, torch: "x[0].logsumexp(2, keepdim=True)"},
		{name: "ReduceLogSumExp/18", op: "ReduceLogSumExp", opset: 18, in: []*tensor.Tensor{x(), axes(0, 1)}, wrt: []int{0}, torch: "x[0].logsumexp((0, 1), keepdim=True)"},
		{name: "ReduceSumSquare/13", op: "ReduceSumSquare", attrs: egAttrs("axes", egInts(1), "keepdims", egInt(0)), in: []*tensor.Tensor{x()}, wrt: []int{0}, torch: "(x[0] ** 2).sum(1)"},
		{name: "ReduceSumSquare/18-noop", op: "ReduceSumSquare", opset: 18, attrs: egAttrs("noop_with_empty_axes", egInt(1)), in: []*tensor.Tensor{x()}, wrt: []int{0}, torch: "x[0] ** 2"},
		{name: "ReduceSumSquare/18-empty-axes", op: "ReduceSumSquare", opset: 18, in: []*tensor.Tensor{x(), axes()}, wrt: []int{0}, torch: "(x[0] ** 2).sum(dim=(0, 1, 2), keepdim=True)"},
	}
	egRun(t, cases)
}
