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
