package graph

import (
	"fmt"

	"github.com/onnxtune/onnxtune/loss"
	"github.com/onnxtune/onnxtune/tensor"
)

func init() {
	for _, since := range []int{12, 13} {
		Register(OpDef{Type: "NegativeLogLikelihoodLoss", Since: since, Build: buildLossOp(false)})
		Register(OpDef{Type: "SoftmaxCrossEntropyLoss", Since: since, Build: buildLossOp(true)})
	}
}

// LossOp is ONNX's NegativeLogLikelihoodLoss, or SoftmaxCrossEntropyLoss when Softmax is set
// (the same loss on log_softmax of the scores, with log_prob as an optional second output).
// Both run through package loss, the code that training uses.
type LossOp struct {
	Softmax     bool
	Reduction   loss.Reduction
	IgnoreIndex *int64
}

func buildLossOp(softmax bool) BuildFunc {
	return func(n *Node, opset int) (Kernel, error) {
		a := n.AttrReader()
		op := &LossOp{Softmax: softmax}
		r, err := loss.ParseReduction(a.String("reduction", "mean"))
		if err != nil {
			a.Fail("%v", err)
		}
		op.Reduction = r
		if a.Has("ignore_index") {
			v := a.Int("ignore_index", 0)
			op.IgnoreIndex = &v
		}
		return op, a.Err()
	}
}

// Run implements Kernel.
func (op *LossOp) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	x, target := in[0], in[1]
	if !x.DType().IsFloat() {
		return nil, fmt.Errorf("input must be floating point, got %v", x.DType())
	}
	if x.Rank() < 2 {
		return nil, fmt.Errorf("input must be [N, C, ...], got shape %v", x.Shape())
	}
	if target.DType() != tensor.Int64 && target.DType() != tensor.Int32 {
		return nil, fmt.Errorf("target must hold int32 or int64 class indices, got %v", target.DType())
	}
	want := append([]int{x.Shape()[0]}, x.Shape()[2:]...)
	if !tensor.EqualShapes(target.Shape(), want) {
		return nil, fmt.Errorf("target shape %v does not fit input shape %v (want %v)", target.Shape(), x.Shape(), want)
	}
	p := loss.NLLInput{LogProb: x.ToFloat64s(), Shape: x.Shape(), Target: target.ToInt64s(), IgnoreIndex: op.IgnoreIndex}
	if len(in) > 2 && in[2] != nil {
		p.Weight = in[2].ToFloat64s()
	}
	if op.Softmax {
		p.LogProb = loss.LogSoftmax(p.LogProb, x.Shape())
	}
	l, err := loss.NLL(p, op.Reduction)
	if err != nil {
		return nil, err
	}
	shape := []int{}
	if op.Reduction == loss.None {
		shape = want
	}
	out := []*tensor.Tensor{tensor.FromFloat64s(x.DType(), shape, l)}
	if op.Softmax {
		out = append(out, tensor.FromFloat64s(x.DType(), x.Shape(), p.LogProb))
	}
	return out, nil
}
