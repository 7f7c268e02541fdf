package backprop

import (
	"fmt"

	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/loss"
	"github.com/onnxtune/onnxtune/tensor"
)

// The VJPs of the ONNX loss operators (graph/ops_loss.go). Like their forward kernels they run
// through package loss, in float64: the gradient formulas live there, beside the losses, for
// the training library to share.

func init() {
	for _, op := range []string{"NegativeLogLikelihoodLoss", "SoftmaxCrossEntropyLoss"} {
		// The targets are class indices and the class weights constants of the loss.
		Register(op, Rule{VJP: lossVJP, Inputs: []int{0, 1, 2}, NonDiff: []int{1, 2}})
	}
}

// lossVJP differentiates with respect to the scores (log-probabilities for NLL), from the
// gradient of the loss and, for SoftmaxCrossEntropyLoss, of its optional log_prob output.
func lossVJP(c *Call, gradOut []*tensor.Tensor) ([]*tensor.Tensor, error) {
	k, err := ewKernelOf[*graph.LossOp](c)
	if err != nil {
		return nil, err
	}
	res := make([]*tensor.Tensor, len(c.InShapes))
	if !ewNeed(c, 0) {
		return res, nil
	}
	x, target := c.In[0], c.In[1]
	if x == nil || target == nil {
		return nil, fmt.Errorf("the forward inputs were not kept")
	}
	if !x.DType().IsFloat() {
		return nil, fmt.Errorf("input must be floating point, got %v", x.DType())
	}
	p := loss.NLLInput{LogProb: x.ToFloat64s(), Shape: x.Shape(), Target: target.ToInt64s(), IgnoreIndex: k.IgnoreIndex}
	if len(c.In) > 2 && c.In[2] != nil {
		p.Weight = c.In[2].ToFloat64s()
	}
	if k.Softmax {
		p.LogProb = loss.LogSoftmax(p.LogProb, x.Shape())
	}
	var dx []float64
	if g := gradOut[0]; g != nil {
		gl := g.ToFloat64s()
		if k.Softmax {
			dx, err = loss.SoftmaxCrossEntropyGrad(nil, p, k.Reduction, gl)
		} else {
			dx, err = loss.NLLGrad(nil, p, k.Reduction, gl)
		}
		if err != nil {
			return nil, err
		}
	}
	if k.Softmax && len(gradOut) > 1 && gradOut[1] != nil {
		dlp, err := loss.LogSoftmaxGrad(nil, gradOut[1].ToFloat64s(), p.LogProb, x.Shape())
		if err != nil {
			return nil, err
		}
		if dx == nil {
			dx = dlp
		} else {
			for i, v := range dlp {
				dx[i] += v
			}
		}
	}
	if dx == nil {
		return res, nil
	}
	res[0] = tensor.FromFloat64s(x.DType(), x.Shape(), dx)
	return res, nil
}
