package backprop

import (
	"fmt"

	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/tensor"
)

// The pooling family's gradients (forward kernels in graph/ops_pool.go, numerics in
// tensor/pool_grad.go). A max passes its gradient to the cell that won (the first maximum in
// window order on a tie, as PyTorch does); an average spreads it over its window divided by
// the forward pass's own count. The pools run in float64 where the forward kernels do, and in
// float32 for float16 and bfloat16. MaxPool's Indices output carries no gradient.

func init() {
	// MaxPool reads its result as well as X: the winner of a window is the first cell equal
	// to the maximum, which a scan finds sooner than it finds the arg-max.
	Register("MaxPool", Rule{VJP: maxPoolVJP, Inputs: []int{0}, Outputs: []int{0}})
	Register("AveragePool", Rule{VJP: averagePoolVJP})
	Register("GlobalAveragePool", Rule{VJP: globalAveragePoolVJP})
	Register("GlobalMaxPool", Rule{VJP: globalMaxPoolVJP, Inputs: []int{0}})
}

// poolFloat64 reports whether a pool's gradient runs in float64: where X is float64.
func poolFloat64(c *Call) bool { return c.InTypes[0] == tensor.Float64 }

func maxPoolVJP(c *Call, gradOut []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if !c.Need[0] || gradOut[0] == nil {
		return make([]*tensor.Tensor, len(c.InShapes)), nil
	}
	g, _, err := c.Kernel.(*graph.MaxPool).Geometry(c.InShapes[0])
	if err != nil {
		return nil, err
	}
	if poolFloat64(c) {
		return maxPoolGrad[float64](c, gradOut[0], g)
	}
	return maxPoolGrad[float32](c, gradOut[0], g)
}

func maxPoolGrad[T tensor.Float](c *Call, gy *tensor.Tensor, g *tensor.PoolGeom) ([]*tensor.Tensor, error) {
	dy, err := widened[T](gy)
	if err != nil {
		return nil, err
	}
	x, err := widened[T](c.In[0])
	if err != nil {
		return nil, err
	}
	var y []T
	if c.Out[0] != nil {
		if y, err = widened[T](c.Out[0]); err != nil {
			return nil, err
		}
	}
	dx := floatsOf[T](c, tensor.Size(c.InShapes[0])) // MaxPoolGrad overwrites it
	tensor.MaxPoolGrad(dx, dy, x, y, g)
	return poolResult(c, dx)
}

func averagePoolVJP(c *Call, gradOut []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if !c.Need[0] || gradOut[0] == nil {
		return make([]*tensor.Tensor, len(c.InShapes)), nil
	}
	k := c.Kernel.(*graph.AveragePool)
	g, _, err := k.Geometry(c.InShapes[0])
	if err != nil {
		return nil, err
	}
	if poolFloat64(c) {
		return averagePoolGrad[float64](c, gradOut[0], g, k.CountIncludePad)
	}
	return averagePoolGrad[float32](c, gradOut[0], g, k.CountIncludePad)
}

func averagePoolGrad[T tensor.Float](c *Call, gy *tensor.Tensor, g *tensor.PoolGeom, includePad bool) ([]*tensor.Tensor, error) {
	dy, err := widened[T](gy)
	if err != nil {
		return nil, err
	}
	dx := make([]T, tensor.Size(c.InShapes[0]))
	tensor.AveragePoolGrad(dx, dy, g, includePad)
	return poolResult(c, dx)
}

// poolPlanes returns the number of planes and the cells per plane of X [N, C, D1...].
func poolPlanes(x []int) (planes, n int, err error) {
	if len(x) < 2 {
		return 0, 0, fmt.Errorf("X has shape %v, want [N C D1 ...]", x)
	}
	return x[0] * x[1], tensor.Size(x[2:]), nil
}

func globalAveragePoolVJP(c *Call, gradOut []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if !c.Need[0] || gradOut[0] == nil {
		return make([]*tensor.Tensor, len(c.InShapes)), nil
	}
	planes, n, err := poolPlanes(c.InShapes[0])
	if err != nil {
		return nil, err
	}
	if poolFloat64(c) {
		return globalPoolGrad[float64](c, gradOut[0], planes, n, false)
	}
	return globalPoolGrad[float32](c, gradOut[0], planes, n, false)
}

func globalMaxPoolVJP(c *Call, gradOut []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if !c.Need[0] || gradOut[0] == nil {
		return make([]*tensor.Tensor, len(c.InShapes)), nil
	}
	planes, n, err := poolPlanes(c.InShapes[0])
	if err != nil {
		return nil, err
	}
	if poolFloat64(c) {
		return globalPoolGrad[float64](c, gradOut[0], planes, n, true)
	}
	return globalPoolGrad[float32](c, gradOut[0], planes, n, true)
}

// globalPoolGrad is the gradient of GlobalMaxPool (max) or GlobalAveragePool.
func globalPoolGrad[T tensor.Float](c *Call, gy *tensor.Tensor, planes, n int, isMax bool) ([]*tensor.Tensor, error) {
	dy, err := widened[T](gy)
	if err != nil {
		return nil, err
	}
	dx := floatsOf[T](c, tensor.Size(c.InShapes[0])) // both global gradients overwrite it
	if !isMax {
		tensor.GlobalAveragePoolGrad(dx, dy, planes, n)
		return poolResult(c, dx)
	}
	x, err := widened[T](c.In[0])
	if err != nil {
		return nil, err
	}
	tensor.GlobalMaxPoolGrad(dx, dy, x, planes, n)
	return poolResult(c, dx)
}

// poolResult returns the gradient list of a pool: dx, in X's dtype, as the only entry.
func poolResult[T tensor.Float](c *Call, dx []T) ([]*tensor.Tensor, error) {
	gin := make([]*tensor.Tensor, len(c.InShapes))
	var err error
	gin[0], err = narrowedGrad(c.InTypes[0], c.InShapes[0], dx)
	return gin, err
}
