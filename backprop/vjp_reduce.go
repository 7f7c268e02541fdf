package backprop

import (
	"fmt"

	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/tensor"
)

// The VJPs of the reductions of graph/ops_reduce.go: the gradient of a sum is the output's
// gradient copied back along the reduced axes (the adjoint of SumTo is Expand), a mean's is that
// divided by the number of elements each output averaged.

func init() {
	Register("ReduceSum", Rule{VJP: reduceVJP, Inputs: []int{1}, NonDiff: []int{1}})
	Register("ReduceMean", Rule{VJP: reduceVJP, Inputs: []int{1}, NonDiff: []int{1}})
}

func reduceVJP(c *Call, gradOut []*tensor.Tensor) ([]*tensor.Tensor, error) {
	k, err := ewKernelOf[*graph.Reduce](c)
	if err != nil {
		return nil, err
	}
	res := make([]*tensor.Tensor, len(c.InShapes))
	if gradOut[0] == nil || !ewNeed(c, 0) {
		return res, nil
	}
	xShape := c.InShapes[0]
	var axesIn *tensor.Tensor
	if len(c.In) > 1 {
		axesIn = c.In[1]
		if axesIn == nil && ewPresent(c, 1) {
			return nil, fmt.Errorf("%s: the axes input was not kept", k.Op)
		}
	}
	axes, err := k.ReduceAxes(len(xShape), axesIn)
	if err != nil {
		return nil, err
	}
	if axes == nil && k.NoopWithEmptyAxes {
		res[0] = gradOut[0] // the identity
		return res, nil
	}
	g, err := ewCompute(gradOut[0])
	if err != nil {
		return nil, err
	}
	// The gradient has the output's shape; with the reduced axes put back as 1s (keepdims) it
	// broadcasts onto the input's.
	keep := append([]int(nil), xShape...)
	count := 1
	for _, a := range axes {
		keep[a] = 1
		count *= xShape[a]
	}
	if tensor.Size(keep) != g.Len() {
		return nil, fmt.Errorf("%s: a gradient of shape %v for an output of %v reduced over %v", k.Op, g.Shape(), xShape, axes)
	}
	bc, err := tensor.NewBroadcast(keep, xShape)
	if err != nil {
		return nil, err
	}
	d := tensor.New(g.DType(), xShape...)
	err = ewFloat(g.DType(), func() {
		tensor.Expand(bc, d.Float32s(), g.Float32s())
	}, func() {
		tensor.Expand(bc, tensor.Data[float64](d), tensor.Data[float64](g))
	})
	if err != nil {
		return nil, err
	}
	if k.Op == "ReduceMean" && count > 1 {
		if d, err = ewScaled(d, true, 1/float64(count)); err != nil {
			return nil, err
		}
	}
	res[0], err = ewFinish(d, xShape, c.InTypes[0])
	return res, err
}
