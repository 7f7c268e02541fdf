package backprop

import (
	"fmt"

	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/tensor"
)

// The normalisation family's gradients (forward kernels in graph/ops_norm.go, numerics in
// tensor/norm_grad.go). BatchNormalization in inference is an affine map per channel; in
// training, and in InstanceNormalization and LayerNormalization always, the gradient also
// flows through the mean and biased variance the forward pass computed, which the VJPs
// recompute from X rather than keep. Running statistics (BatchNormalization's inputs 3 and 4)
// take no gradient, and no gradient flows back from the statistics outputs (BatchNorm's
// running and saved statistics, LayerNorm's Mean and InvStdDev), as in PyTorch. Gradients run
// in float64 where X is float64, else in float32, and come back in each input's dtype.

func init() {
	Register("BatchNormalization", Rule{VJP: normVJP(batchNormGrad[float32], batchNormGrad[float64]), Inputs: []int{0, 1, 3, 4}, NonDiff: []int{3, 4}})
	Register("InstanceNormalization", Rule{VJP: normVJP(instanceNormGrad[float32], instanceNormGrad[float64]), Inputs: []int{0, 1}})
	Register("LayerNormalization", Rule{VJP: normVJP(layerNormGrad[float32], layerNormGrad[float64]), Inputs: []int{0, 1}})
	Register("GroupNormalization", Rule{VJP: normVJP(groupNormGrad[float32], groupNormGrad[float64]), Inputs: []int{0, 1}})
	Register("LRN", Rule{VJP: normVJP(lrnGrad[float32], lrnGrad[float64]), Inputs: []int{0}})
}

// normGrad computes a normalisation's input gradients from its output's gradient.
type normGrad func(c *Call, gy *tensor.Tensor) ([]*tensor.Tensor, error)

// normVJP is the VJP that runs grad32, or grad64 where X is float64, when a gradient reaches
// the output and one of X, the scale and the bias wants one.
func normVJP(grad32, grad64 normGrad) VJPFunc {
	return func(c *Call, gradOut []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if gradOut[0] == nil || !normWants(c, 3) {
			return make([]*tensor.Tensor, len(c.InShapes)), nil
		}
		if c.InTypes[0] == tensor.Float64 {
			return grad64(c, gradOut[0])
		}
		return grad32(c, gradOut[0])
	}
}

// normWants reports whether any of the first n input gradients is wanted.
func normWants(c *Call, n int) bool {
	for j := range min(n, len(c.Need)) {
		if c.Need[j] {
			return true
		}
	}
	return false
}

// normDst returns a destination for input j's gradient of n elements, or nil where that
// gradient is not wanted. It holds zeros.
func normDst[T tensor.Float](c *Call, j, n int) []T {
	if j >= len(c.Need) || !c.Need[j] {
		return nil
	}
	return zerosOf[T](c, n)
}

// normOut is normDst for a kernel that overwrites its destinations: uncleared.
func normOut[T tensor.Float](c *Call, j, n int) []T {
	if j >= len(c.Need) || !c.Need[j] {
		return nil
	}
	return floatsOf[T](c, n)
}

// normResults wraps the destinations that were filled as gradients of inputs 0, 1, ... in
// their inputs' dtypes and shapes.
func normResults[T tensor.Float](c *Call, dsts ...[]T) ([]*tensor.Tensor, error) {
	gin := make([]*tensor.Tensor, len(c.InShapes))
	for j, d := range dsts {
		if d == nil {
			continue
		}
		var err error
		if gin[j], err = narrowedGrad(c.InTypes[j], c.InShapes[j], d); err != nil {
			return nil, err
		}
	}
	return gin, nil
}

func batchNormGrad[T tensor.Float](c *Call, gy *tensor.Tensor) ([]*tensor.Tensor, error) {
	k := c.Kernel.(*graph.BatchNormalization)
	shape := c.InShapes[0]
	if len(shape) < 2 {
		return nil, fmt.Errorf("X has shape %v, want [N C ...]", shape)
	}
	n, ch, spatial := shape[0], shape[1], tensor.Size(shape[2:])
	if !k.Spatial {
		ch, spatial = ch*spatial, 1
	}
	// The forward kernel's own choice between batch and running statistics.
	train := k.TrainingMode || c.Ctx != nil && c.Ctx.Training
	g, err := widened[T](gy)
	if err != nil {
		return nil, err
	}
	var x, scale, mean, variance []T
	if c.Need[1] || train {
		if x, err = widened[T](c.In[0]); err != nil {
			return nil, err
		}
	}
	if c.Need[0] {
		if scale, err = widened[T](c.In[1]); err != nil {
			return nil, err
		}
	}
	if train {
		mean, variance = make([]T, ch), make([]T, ch)
		tensor.BatchNormStats(mean, variance, x, n, ch, spatial)
	} else {
		if mean, err = widened[T](c.In[3]); err != nil {
			return nil, err
		}
		if variance, err = widened[T](c.In[4]); err != nil {
			return nil, err
		}
	}
	for _, p := range []struct {
		name string
		v    []T
	}{{"scale", scale}, {"mean", mean}, {"var", variance}} {
		if p.v != nil && len(p.v) != ch {
			return nil, fmt.Errorf("%s has %d values, want %d for X %v", p.name, len(p.v), ch, shape)
		}
	}
	// BatchNormGrad overwrites its destinations: no need to clear them.
	dx, ds, db := normOut[T](c, 0, len(g)), normOut[T](c, 1, ch), normOut[T](c, 2, ch)
	tensor.BatchNormGrad(dx, ds, db, g, x, scale, mean, variance, n, ch, spatial, float64(k.Epsilon), train)
	return normResults(c, dx, ds, db)
}

func instanceNormGrad[T tensor.Float](c *Call, gy *tensor.Tensor) ([]*tensor.Tensor, error) {
	k := c.Kernel.(*graph.InstanceNormalization)
	shape := c.InShapes[0]
	if len(shape) < 3 {
		return nil, fmt.Errorf("input has shape %v, want [N C D1 ...]", shape)
	}
	n, ch, spatial := shape[0], shape[1], tensor.Size(shape[2:])
	g, err := widened[T](gy)
	if err != nil {
		return nil, err
	}
	x, err := widened[T](c.In[0])
	if err != nil {
		return nil, err
	}
	var scale []T
	if c.Need[0] {
		if scale, err = widened[T](c.In[1]); err != nil {
			return nil, err
		}
		if len(scale) != ch {
			return nil, fmt.Errorf("scale has %d values, want %d for X %v", len(scale), ch, shape)
		}
	}
	dx, ds, db := normDst[T](c, 0, len(g)), normDst[T](c, 1, ch), normDst[T](c, 2, ch)
	tensor.InstanceNormGrad(dx, ds, db, g, x, scale, n, ch, spatial, float64(k.Epsilon))
	return normResults(c, dx, ds, db)
}

// groupNormGrad computes the gradients per channel; at opset 18, whose scale and bias hold
// one value per group, each group's channels then add theirs up.
func groupNormGrad[T tensor.Float](c *Call, gy *tensor.Tensor) ([]*tensor.Tensor, error) {
	k := c.Kernel.(*graph.GroupNormalization)
	shape := c.InShapes[0]
	params := tensor.Size(c.InShapes[1])
	n, ch, spatial, err := k.Geometry(shape, params)
	if err != nil {
		return nil, err
	}
	g, err := widened[T](gy)
	if err != nil {
		return nil, err
	}
	x, err := widened[T](c.In[0])
	if err != nil {
		return nil, err
	}
	var scale []T
	if c.Need[0] {
		if c.In[1] == nil {
			return nil, fmt.Errorf("the scale was not kept")
		}
		perChannel := k.ChannelValues(c.In[1].ToFloat64s(), ch)
		scale = make([]T, ch)
		for i, v := range perChannel {
			scale[i] = T(v)
		}
	}
	dx := normDst[T](c, 0, len(g))
	var ds, db []T
	if c.Need[1] {
		ds = make([]T, ch)
	}
	if len(c.Need) > 2 && c.Need[2] {
		db = make([]T, ch)
	}
	tensor.GroupNormGrad(dx, ds, db, g, x, scale, n, ch, k.NumGroups, spatial, float64(k.Epsilon))
	perGroup := func(v []T) []T {
		if v == nil || k.PerChannel {
			return v
		}
		out := make([]T, k.NumGroups)
		for i, d := range v {
			out[i/(ch/k.NumGroups)] += d
		}
		return out
	}
	return normResults(c, dx, perGroup(ds), perGroup(db))
}

func layerNormGrad[T tensor.Float](c *Call, gy *tensor.Tensor) ([]*tensor.Tensor, error) {
	k := c.Kernel.(*graph.LayerNormalization)
	shape := c.InShapes[0]
	axis := k.Axis
	if axis < 0 {
		axis += len(shape)
	}
	if axis < 0 || axis >= len(shape) {
		return nil, fmt.Errorf("axis %d is out of range for X %v", k.Axis, shape)
	}
	rows, cols := tensor.Size(shape[:axis]), tensor.Size(shape[axis:])
	inner := shape[axis:]
	g, err := widened[T](gy)
	if err != nil {
		return nil, err
	}
	x, err := widened[T](c.In[0])
	if err != nil {
		return nil, err
	}
	var scale []T
	if c.Need[0] {
		s, err := widened[T](c.In[1])
		if err != nil {
			return nil, err
		}
		if scale, err = normExpandTo(s, c.InShapes[1], inner); err != nil {
			return nil, fmt.Errorf("Scale: %w", err)
		}
	}
	// Scale and B may broadcast to the normalised shape: their gradients are computed over
	// all of it, then summed down to their own shapes.
	dx, ds := normDst[T](c, 0, len(g)), normDst[T](c, 1, cols)
	var db []T
	hasB := len(c.InShapes) > 2 && c.InShapes[2] != nil
	if hasB {
		db = normDst[T](c, 2, cols)
	}
	tensor.LayerNormGrad(dx, ds, db, g, x, scale, rows, cols, float64(k.Epsilon))
	if ds, err = normSumTo(ds, inner, c.InShapes[1]); err != nil {
		return nil, fmt.Errorf("Scale: %w", err)
	}
	if hasB {
		if db, err = normSumTo(db, inner, c.InShapes[2]); err != nil {
			return nil, fmt.Errorf("B: %w", err)
		}
	}
	return normResults(c, dx, ds, db)
}

// normBroadcastable reports whether from broadcasts to exactly shape.
func normBroadcastable(from, shape []int) bool {
	b, err := tensor.NewBroadcast(from, shape)
	return err == nil && tensor.EqualShapes(b.Shape(), shape)
}

// normExpandTo returns v, of shape from, broadcast to shape (v itself when that is only a
// matter of leading ones).
func normExpandTo[T tensor.Float](v []T, from, shape []int) ([]T, error) {
	if !normBroadcastable(from, shape) {
		return nil, fmt.Errorf("shape %v does not broadcast to the normalised shape %v", from, shape)
	}
	if len(v) == tensor.Size(shape) {
		return v, nil
	}
	b, _ := tensor.NewBroadcast(from, shape)
	out := make([]T, tensor.Size(shape))
	tensor.Expand(b, out, v)
	return out, nil
}

// normSumTo sums v, of shape from, down to shape to (v itself when the sizes already agree);
// nil stays nil.
func normSumTo[T tensor.Float](v []T, from, to []int) ([]T, error) {
	if v == nil {
		return nil, nil
	}
	if !normBroadcastable(to, from) {
		return nil, fmt.Errorf("shape %v does not broadcast to the normalised shape %v", to, from)
	}
	if len(v) == tensor.Size(to) {
		return v, nil
	}
	out := make([]T, tensor.Size(to))
	tensor.SumTo(out, to, v, from)
	return out, nil
}

func lrnGrad[T tensor.Float](c *Call, gy *tensor.Tensor) ([]*tensor.Tensor, error) {
	k := c.Kernel.(*graph.LRN)
	shape := c.InShapes[0]
	if len(shape) < 2 {
		return nil, fmt.Errorf("X has shape %v, want [N C ...]", shape)
	}
	g, err := widened[T](gy)
	if err != nil {
		return nil, err
	}
	x, err := widened[T](c.In[0])
	if err != nil {
		return nil, err
	}
	dx := make([]T, len(x))
	tensor.LRNGrad(dx, g, x, shape[0], shape[1], tensor.Size(shape[2:]), k.Size, float64(k.Alpha), float64(k.Beta), float64(k.Bias))
	return normResults(c, dx)
}
