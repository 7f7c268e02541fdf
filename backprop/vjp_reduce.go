package backprop

import (
	"fmt"
	"math"

	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/tensor"
)

// The VJPs of the reductions of graph/ops_reduce.go: the gradient of a sum is the output's
// gradient copied back along the reduced axes (the adjoint of SumTo is Expand), a mean's is that
// divided by the number of elements each output averaged. The others scale that copy by the
// derivative of their output with respect to each element, from the input and the output
// (reduceValueVJP), as PyTorch's autograd does: amax and amin share the gradient evenly
// among the elements tied for the extreme, prod's gradient is the product of the other
// elements (exact when some are zero), and a norm at zero has gradient zero.

func init() {
	Register("ReduceSum", Rule{VJP: reduceVJP, Inputs: []int{1}, NonDiff: []int{1}})
	Register("ReduceMean", Rule{VJP: reduceVJP, Inputs: []int{1}, NonDiff: []int{1}})
	for _, op := range []string{"ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
		"ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"} {
		Register(op, Rule{VJP: reduceValueVJP, Inputs: []int{0, 1}, Outputs: []int{0}, NonDiff: []int{1}})
	}
}

// reduceCallAxes returns the axes the call reduced over, from the attribute or the kept axes
// input; nil means none (noop_with_empty_axes).
func reduceCallAxes(c *Call, k *graph.Reduce) ([]int, error) {
	var axesIn *tensor.Tensor
	if len(c.In) > 1 {
		axesIn = c.In[1]
		if axesIn == nil && ewPresent(c, 1) {
			return nil, fmt.Errorf("%s: the axes input was not kept", k.Op)
		}
	}
	return k.ReduceAxes(len(c.InShapes[0]), axesIn)
}

// reduceValueVJP is the VJP of the reductions whose derivative depends on the values.
func reduceValueVJP(c *Call, gradOut []*tensor.Tensor) ([]*tensor.Tensor, error) {
	k, err := ewKernelOf[*graph.Reduce](c)
	if err != nil {
		return nil, err
	}
	res := make([]*tensor.Tensor, len(c.InShapes))
	if gradOut[0] == nil || !ewNeed(c, 0) {
		return res, nil
	}
	xShape := c.InShapes[0]
	axes, err := reduceCallAxes(c, k)
	if err != nil {
		return nil, err
	}
	if axes == nil {
		axes = []int{} // noop_with_empty_axes: each element its own reduction
	}
	g, err := ewCompute(gradOut[0])
	if err != nil {
		return nil, err
	}
	x, err := ewCompute(c.In[0])
	if err != nil {
		return nil, err
	}
	y, err := ewCompute(c.Out[0])
	if err != nil {
		return nil, err
	}
	if x == nil || y == nil {
		return nil, fmt.Errorf("%s: the input or the output was not kept", k.Op)
	}
	keep := append([]int(nil), xShape...)
	for _, a := range axes {
		keep[a] = 1
	}
	if tensor.Size(keep) != g.Len() || g.Len() != y.Len() {
		return nil, fmt.Errorf("%s: a gradient of shape %v for an output of %v reduced over %v", k.Op, g.Shape(), xShape, axes)
	}
	bc, err := tensor.NewBroadcast(keep, xShape)
	if err != nil {
		return nil, err
	}
	d := tensor.New(g.DType(), xShape...)
	err = ewFloat(g.DType(), func() {
		reduceValueGrad(k.Op, d.Float32s(), x.Float32s(), y.Float32s(), g.Float32s(), bc, xShape, axes)
	}, func() {
		reduceValueGrad(k.Op, tensor.Data[float64](d), tensor.Data[float64](x), tensor.Data[float64](y), tensor.Data[float64](g), bc, xShape, axes)
	})
	if err != nil {
		return nil, err
	}
	res[0], err = ewFinish(d, xShape, c.InTypes[0])
	return res, err
}

// reduceValueGrad sets dx to the gradient of op's reduction of x (of shape, over axes) into y,
// given y's gradient g; bc expands y-shaped values onto x.
func reduceValueGrad[T tensor.Float](op string, dx, x, y, g []T, bc *tensor.Broadcast, shape, axes []int) {
	expand := func(v []T) []T {
		out := make([]T, len(x))
		tensor.Expand(bc, out, v)
		return out
	}
	// perOutput reduces f(x) over the axes and expands the result back onto x.
	perOutput := func(f func(T) T, prod bool) []T {
		m := make([]T, len(x))
		for i, v := range x {
			m[i] = f(v)
		}
		r := make([]T, len(y))
		if prod {
			tensor.ReduceProd(r, m, shape, axes)
		} else {
			tensor.ReduceSum(r, m, shape, axes)
		}
		return expand(r)
	}
	G, Y := expand(g), expand(y)
	switch op {
	case "ReduceMax", "ReduceMin":
		tie := make([]T, len(x)) // 1 where the element equals its output's extreme
		for i, v := range x {
			if v == Y[i] {
				tie[i] = 1
			}
		}
		n := make([]T, len(y))
		tensor.ReduceSum(n, tie, shape, axes)
		ties := expand(n)
		for i := range dx {
			dx[i] = 0
			if tie[i] != 0 {
				dx[i] = G[i] / ties[i]
			}
		}
	case "ReduceProd":
		zeros := perOutput(func(v T) T {
			if v == 0 {
				return 1
			}
			return 0
		}, false)
		others := perOutput(func(v T) T { // the product of the nonzero elements
			if v == 0 {
				return 1
			}
			return v
		}, true)
		for i, v := range x {
			switch {
			case zeros[i] == 0:
				dx[i] = G[i] * others[i] / v
			case zeros[i] == 1 && v == 0:
				dx[i] = G[i] * others[i]
			default:
				dx[i] = 0
			}
		}
	case "ReduceL1":
		for i, v := range x {
			switch {
			case v > 0:
				dx[i] = G[i]
			case v < 0:
				dx[i] = -G[i]
			default:
				dx[i] = 0
			}
		}
	case "ReduceL2":
		for i, v := range x {
			dx[i] = 0
			if Y[i] != 0 {
				dx[i] = G[i] * v / Y[i]
			}
		}
	case "ReduceLogSum":
		sum := perOutput(func(v T) T { return v }, false)
		for i := range x {
			dx[i] = G[i] / sum[i]
		}
	case "ReduceLogSumExp":
		for i, v := range x {
			dx[i] = G[i] * T(math.Exp(float64(v-Y[i])))
		}
	case "ReduceSumSquare":
		for i, v := range x {
			dx[i] = 2 * G[i] * v
		}
	}
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
	axes, err := reduceCallAxes(c, k)
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
