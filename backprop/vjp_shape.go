package backprop

import (
	"fmt"

	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/tensor"
)

// The shape family's gradients (forward kernels in graph/ops_shape.go). These operators move
// elements without arithmetic, so each gradient moves the output gradient back: a reshape for
// the operators that only relabel the shape, the inverse permutation for Transpose, a split
// for Concat and a concatenation for Split, and for the operators that may copy an element to
// several places (Pad's reflect and edge modes, Gather, Tile) a scatter-add (tensor/
// layout_grad.go). Shapes, axes, indices, pads and repeats are not differentiable; the VJPs
// read the small tensors that hold them, never the data input.

func init() {
	Register("Flatten", Rule{VJP: reshapeVJP})
	Register("Reshape", Rule{VJP: reshapeVJP, NonDiff: []int{1}})
	Register("Squeeze", Rule{VJP: reshapeVJP, NonDiff: []int{1}})
	Register("Unsqueeze", Rule{VJP: reshapeVJP, NonDiff: []int{1}})
	Register("Transpose", Rule{VJP: transposeVJP})
	Register("Concat", Rule{VJP: concatVJP})
	Register("Split", Rule{VJP: splitVJP, Inputs: []int{1}, NonDiff: []int{1}})
	Register("Slice", Rule{VJP: sliceVJP, Inputs: []int{1, 2, 3, 4}, NonDiff: []int{1, 2, 3, 4}})
	Register("Pad", Rule{VJP: padVJP, Inputs: []int{1, 3}, NonDiff: []int{1, 2, 3}})
	Register("Gather", Rule{VJP: gatherVJP, Inputs: []int{1}, NonDiff: []int{1}})
	Register("Tile", Rule{VJP: tileVJP, Inputs: []int{1, 2}, NonDiff: []int{1, 2}})
	NotDifferentiable("Shape")
}

// reshapeVJP serves the operators whose output is their input with another shape (Flatten,
// Reshape, Squeeze, Unsqueeze): the gradient is the output's, viewed with the input's shape.
func reshapeVJP(c *Call, gradOut []*tensor.Tensor) ([]*tensor.Tensor, error) {
	gin := make([]*tensor.Tensor, len(c.InShapes))
	if !c.Need[0] || gradOut[0] == nil {
		return gin, nil
	}
	g, err := gradOut[0].Reshape(c.InShapes[0]...)
	if err != nil {
		return nil, err
	}
	gin[0] = g
	return gin, nil
}

// transposeVJP transposes the gradient back by the inverse permutation.
func transposeVJP(c *Call, gradOut []*tensor.Tensor) ([]*tensor.Tensor, error) {
	gin := make([]*tensor.Tensor, 1)
	if !c.Need[0] || gradOut[0] == nil {
		return gin, nil
	}
	var inv []int // nil: the reversal, its own inverse
	if perm := c.Kernel.(*graph.Transpose).Perm; perm != nil {
		inv = make([]int, len(perm))
		for i, p := range perm {
			if p < 0 || p >= len(perm) {
				return nil, fmt.Errorf("perm %v is not a permutation", perm)
			}
			inv[p] = i
		}
	}
	g, err := tensor.TransposeTensor(nil, gradOut[0], inv)
	if err != nil {
		return nil, err
	}
	gin[0] = g
	return gin, nil
}

// concatVJP cuts each wanted input's part out of the gradient.
func concatVJP(c *Call, gradOut []*tensor.Tensor) ([]*tensor.Tensor, error) {
	gin := make([]*tensor.Tensor, len(c.InShapes))
	g := gradOut[0]
	if g == nil {
		return gin, nil
	}
	r := g.Rank()
	axis, err := shapeGradAxis(c.Kernel.(*graph.Concat).Axis, r)
	if err != nil {
		return nil, err
	}
	first, steps := make([]int, r), make([]int, r)
	for i := range steps {
		steps[i] = 1
	}
	for j, shape := range c.InShapes {
		if c.Need[j] {
			if gin[j], err = tensor.SliceTensor(nil, g, first, shape, steps); err != nil {
				return nil, err
			}
		}
		first[axis] += shape[axis]
	}
	return gin, nil
}

// splitVJP writes the gradient of each output back at its place along the axis; outputs no
// gradient reached (unused or omitted pieces) leave zeros.
func splitVJP(c *Call, gradOut []*tensor.Tensor) ([]*tensor.Tensor, error) {
	gin := make([]*tensor.Tensor, len(c.InShapes))
	if !c.Need[0] {
		return gin, nil
	}
	k := c.Kernel.(*graph.Split)
	shape := c.InShapes[0]
	axis, err := shapeGradAxis(k.Axis, len(shape))
	if err != nil {
		return nil, err
	}
	var split *tensor.Tensor
	if len(c.In) > 1 {
		split = c.In[1]
	}
	sizes, err := k.PieceSizes(shape[axis], split)
	if err != nil {
		return nil, err
	}
	if len(gradOut) > len(sizes) {
		return nil, fmt.Errorf("%d outputs for %d split sizes", len(gradOut), len(sizes))
	}
	var g *tensor.Tensor
	first, counts, steps := make([]int, len(shape)), append([]int(nil), shape...), make([]int, len(shape))
	for i := range steps {
		steps[i] = 1
	}
	for o, size := range sizes {
		if o < len(gradOut) && gradOut[o] != nil {
			counts[axis] = size
			if g, err = tensor.UnsliceTensor(g, gradOut[o], shape, first, counts, steps); err != nil {
				return nil, err
			}
		}
		first[axis] += size
	}
	if g == nil {
		g = tensor.New(c.InTypes[0], shape...)
	}
	gin[0] = g
	return gin, nil
}

// sliceVJP writes the gradient into a zero tensor of the input's shape at the elements the
// slice took (with negative steps too: each element is taken at most once).
func sliceVJP(c *Call, gradOut []*tensor.Tensor) ([]*tensor.Tensor, error) {
	gin := make([]*tensor.Tensor, len(c.InShapes))
	if !c.Need[0] || gradOut[0] == nil {
		return gin, nil
	}
	first, counts, steps, err := sliceBox(c.Kernel.(*graph.Slice), c.In, c.InShapes[0])
	if err != nil {
		return nil, err
	}
	if gin[0], err = tensor.UnsliceTensor(nil, gradOut[0], c.InShapes[0], first, counts, steps); err != nil {
		return nil, err
	}
	return gin, nil
}

// sliceBox repeats the forward kernel's reading of starts, ends, axes and steps (attributes
// before opset 10, inputs 1 to 4 from it) into the box it copied from an input of the given
// shape: first index, count and step per axis.
func sliceBox(k *graph.Slice, in []*tensor.Tensor, shape []int) (first, counts, steps []int, err error) {
	starts, ends, axes := k.Starts, k.Ends, k.Axes
	var stepv []int64
	if k.FromInputs {
		read := func(j int) []int64 {
			if j < len(in) && in[j] != nil {
				return in[j].ToInt64s()
			}
			return nil
		}
		starts, ends, axes, stepv = read(1), read(2), read(3), read(4)
	}
	r := len(shape)
	if len(ends) != len(starts) || (axes != nil && len(axes) != len(starts)) || (stepv != nil && len(stepv) != len(starts)) || len(starts) > r {
		return nil, nil, nil, fmt.Errorf("starts %v, ends %v, axes %v and steps %v do not fit an input of shape %v", starts, ends, axes, stepv, shape)
	}
	first, counts, steps = make([]int, r), append([]int(nil), shape...), make([]int, r)
	for i := range steps {
		steps[i] = 1
	}
	for i := range starts {
		a := i
		if axes != nil {
			if a, err = shapeGradAxis(int(axes[i]), r); err != nil {
				return nil, nil, nil, err
			}
		}
		s := int64(1)
		if stepv != nil {
			s = stepv[i]
		}
		if s == 0 {
			return nil, nil, nil, fmt.Errorf("step on axis %d is zero", a)
		}
		first[a], counts[a] = tensor.SliceRange(shape[a], starts[i], ends[i], s)
		steps[a] = int(s)
	}
	return first, counts, steps, nil
}

// padVJP takes the gradient of the input's cells back out of the padded gradient and, in
// reflect and edge mode, adds the gradient of every padded cell onto the cell it copies.
func padVJP(c *Call, gradOut []*tensor.Tensor) ([]*tensor.Tensor, error) {
	gin := make([]*tensor.Tensor, len(c.InShapes))
	if !c.Need[0] || gradOut[0] == nil {
		return gin, nil
	}
	k := c.Kernel.(*graph.Pad)
	shape := c.InShapes[0]
	begins, ends, err := k.Amounts(shape, c.In)
	if err != nil {
		return nil, err
	}
	g, err := tensor.PadGradTensor(nil, gradOut[0], shape, begins, ends, k.Mode)
	if err != nil {
		return nil, err
	}
	gin[0] = g
	return gin, nil
}

// gatherVJP adds each gathered row's gradient onto the row it came from; rows gathered
// several times collect the sum.
func gatherVJP(c *Call, gradOut []*tensor.Tensor) ([]*tensor.Tensor, error) {
	gin := make([]*tensor.Tensor, len(c.InShapes))
	if !c.Need[0] || gradOut[0] == nil {
		return gin, nil
	}
	g, err := tensor.GatherGradTensor(nil, gradOut[0], c.InShapes[0], c.Kernel.(*graph.Gather).Axis, c.In[1])
	if err != nil {
		return nil, err
	}
	gin[0] = g
	return gin, nil
}

// tileVJP sums the gradient over the tiles.
func tileVJP(c *Call, gradOut []*tensor.Tensor) ([]*tensor.Tensor, error) {
	gin := make([]*tensor.Tensor, len(c.InShapes))
	if !c.Need[0] || gradOut[0] == nil {
		return gin, nil
	}
	shape := c.InShapes[0]
	reps := c.In[1].ToInt64s()
	repeats := make([]int, len(shape))
	if c.Kernel.(*graph.Tile).AxisInput {
		// Opset 1: a single count for the axis the third input names.
		ax := c.In[2].ToInt64s()
		if len(reps) != 1 || len(ax) != 1 {
			return nil, fmt.Errorf("tiles %v and axis %v must be scalars", reps, ax)
		}
		a, err := shapeGradAxis(int(ax[0]), len(shape))
		if err != nil {
			return nil, err
		}
		for i := range repeats {
			repeats[i] = 1
		}
		repeats[a] = int(reps[0])
	} else {
		if len(reps) != len(shape) {
			return nil, fmt.Errorf("repeats %v must have one entry per axis of an input of shape %v", reps, shape)
		}
		for i, n := range reps {
			repeats[i] = int(n)
		}
	}
	g, err := tensor.TileGradTensor(nil, gradOut[0], shape, repeats)
	if err != nil {
		return nil, err
	}
	gin[0] = g
	return gin, nil
}

// shapeGradAxis resolves an axis in [-rank, rank) to [0, rank).
func shapeGradAxis(axis, rank int) (int, error) {
	if axis < -rank || axis >= rank {
		return 0, fmt.Errorf("axis %d is out of range for rank %d", axis, rank)
	}
	if axis < 0 {
		axis += rank
	}
	return axis, nil
}
