package backprop_test

import (
	"testing"

	"github.com/onnxtune/onnxtune/tensor"
)

func TestLossVJP(t *testing.T) {
	r := egRng(6)
	u := func(shape ...int) *tensor.Tensor { return egUniform(r, -2, 2, shape...) }
	w := func(c int) *tensor.Tensor { return egUniform(r, 0.2, 2, c) }
	cases := []egCase{
		{name: "SCE/mean", op: "SoftmaxCrossEntropyLoss", in: []*tensor.Tensor{u(3, 5), egI64([]int{3}, 4, 0, 2)}, wrt: []int{0},
			torch: "F.cross_entropy(x[0], x[1])"},
		{name: "SCE/sum-weight", op: "SoftmaxCrossEntropyLoss", attrs: egAttrs("reduction", egString("sum")),
			in: []*tensor.Tensor{u(3, 5), egI64([]int{3}, 1, 1, 3), w(5)}, wrt: []int{0}, init: []int{0},
			torch: "F.cross_entropy(x[0], x[1], weight=x[2], reduction='sum')"},
		{name: "SCE/none-spatial", op: "SoftmaxCrossEntropyLoss", attrs: egAttrs("reduction", egString("none")),
			in: []*tensor.Tensor{u(2, 4, 3), egI64([]int{2, 3}, 0, 3, 1, 2, 2, 0)}, wrt: []int{0},
			torch: "F.cross_entropy(x[0], x[1], reduction='none')"},
		{name: "SCE/mean-weight-ignore", op: "SoftmaxCrossEntropyLoss", attrs: egAttrs("ignore_index", egInt(1)),
			in: []*tensor.Tensor{u(2, 4, 3), egI64([]int{2, 3}, 0, 1, 3, 1, 2, 0), w(4)}, wrt: []int{0},
			torch: "F.cross_entropy(x[0], x[1], weight=x[2], ignore_index=1)"},
		{name: "SCE/negative-ignore", op: "SoftmaxCrossEntropyLoss", attrs: egAttrs("ignore_index", egInt(-1), "reduction", egString("none")),
			in: []*tensor.Tensor{u(4, 3), egI64([]int{4}, 2, -1, 0, 1), w(3)}, wrt: []int{0},
			torch: "F.cross_entropy(x[0], x[1], weight=x[2], ignore_index=-1, reduction='none')"},
		{name: "SCE/log-prob-output", op: "SoftmaxCrossEntropyLoss", outputs: 2,
			in: []*tensor.Tensor{u(2, 4, 3), egI64([]int{2, 3}, 0, 3, 1, 2, 2, 0), w(4)}, wrt: []int{0},
			torch: "(F.cross_entropy(x[0], x[1], weight=x[2]), F.log_softmax(x[0], 1))"},
		{name: "SCE/all-ignored", op: "SoftmaxCrossEntropyLoss", attrs: egAttrs("ignore_index", egInt(2)),
			in: []*tensor.Tensor{u(2, 3), egI64([]int{2}, 2, 2)}, wrt: []int{0}, noFD: true,
			torch: "F.cross_entropy(x[0], x[1], ignore_index=2)"},
		{name: "NLL/mean", op: "NegativeLogLikelihoodLoss", in: []*tensor.Tensor{u(3, 5), egI64([]int{3}, 4, 0, 2)}, wrt: []int{0},
			torch: "F.nll_loss(x[0], x[1])"},
		{name: "NLL/sum-weight", op: "NegativeLogLikelihoodLoss", opset: 12, attrs: egAttrs("reduction", egString("sum")),
			in: []*tensor.Tensor{u(3, 5), egI64([]int{3}, 1, 1, 3), w(5)}, wrt: []int{0},
			torch: "F.nll_loss(x[0], x[1], weight=x[2], reduction='sum')"},
		{name: "NLL/none-spatial", op: "NegativeLogLikelihoodLoss", attrs: egAttrs("reduction", egString("none")),
			in: []*tensor.Tensor{u(2, 4, 3), egI64([]int{2, 3}, 0, 3, 1, 2, 2, 0)}, wrt: []int{0}, init: []int{0},
			torch: "F.nll_loss(x[0], x[1], reduction='none')"},
		{name: "NLL/mean-weight-ignore", op: "NegativeLogLikelihoodLoss", attrs: egAttrs("ignore_index", egInt(3)),
			in: []*tensor.Tensor{u(2, 4, 3), egI64([]int{2, 3}, 0, 3, 3, 1, 2, 0), w(4)}, wrt: []int{0},
			torch: "F.nll_loss(x[0], x[1], weight=x[2], ignore_index=3)"},
	}
	egRun(t, cases)
}
