package backprop

import (
	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/tensor"
)

// The tensor family's gradients (forward kernels in graph/ops_tensor.go): Identity passes the
// gradient on, Cast converts it back to the input's dtype, Dropout masks and scales it, and
// the operators that make tensors from nothing differentiable carry none.

func init() {
	Register("Identity", Rule{VJP: identityVJP})
	// A Cast to an integer or bool type passes no gradient; the walk treats those as NoGrad
	// before looking here, so this rule only sees float-to-float casts.
	Register("Cast", Rule{VJP: castVJP})
	// Dropout reads its mask output when the node has one, else its result, which is
	// non-zero exactly where a non-zero input element was kept (see dropoutVJP).
	Register("Dropout", Rule{VJP: dropoutVJP, Inputs: []int{1, 2}, Outputs: []int{0, 1}, NonDiff: []int{1, 2}})
	NotDifferentiable("Constant", "ConstantOfShape", "Range")
}

// identityVJP passes the gradient on unchanged.
func identityVJP(c *Call, gradOut []*tensor.Tensor) ([]*tensor.Tensor, error) {
	return []*tensor.Tensor{gradOut[0]}, nil
}

// castVJP casts the gradient back to the input's floating-point dtype, as autograd does for
// Tensor.to.
func castVJP(c *Call, gradOut []*tensor.Tensor) ([]*tensor.Tensor, error) {
	g, dt := gradOut[0], c.InTypes[0]
	if !c.Need[0] || g == nil || !dt.IsFloat() {
		return []*tensor.Tensor{nil}, nil
	}
	if g.DType() == dt {
		return []*tensor.Tensor{g}, nil
	}
	back, err := tensor.CastTensor(nil, g, dt)
	if err != nil {
		return nil, err
	}
	return []*tensor.Tensor{back}, nil
}

// dropoutVJP is the identity where the forward pass was not a training one, and otherwise
// multiplies the gradient by the mask and 1/(1-ratio).
//
// The mask is the node's second output when the model asks for it. When it does not (the
// usual export), the kernel keeps the mask to itself, and the result stands in for it: an
// element of the result is non-zero exactly where its input was non-zero and kept. Where the
// input was exactly zero the result cannot tell, and the element counts as dropped; after a
// Relu, the common case, those inputs get no gradient anyway.
func dropoutVJP(c *Call, gradOut []*tensor.Tensor) ([]*tensor.Tensor, error) {
	gin := make([]*tensor.Tensor, len(c.Need))
	g := gradOut[0]
	if !c.Need[0] || g == nil {
		return gin, nil
	}
	k := c.Kernel.(*graph.Dropout)
	ratio, training := k.Ratio, c.Ctx != nil && c.Ctx.Training && !k.IsTest
	if k.RatioInput {
		if len(c.In) > 1 && c.In[1] != nil {
			ratio = float32(c.In[1].Float64At(0))
		}
		training = training && len(c.In) > 2 && c.In[2] != nil && c.In[2].Float64At(0) != 0
	}
	if !training || ratio == 0 {
		gin[0] = g
		return gin, nil
	}
	mask := c.Out[0]
	if len(c.Out) > 1 && c.Out[1] != nil {
		mask = c.Out[1]
	}
	var err error
	if gin[0], err = tensor.DropoutGradTensor(nil, g, mask, ratio); err != nil {
		return nil, err
	}
	return gin, nil
}
