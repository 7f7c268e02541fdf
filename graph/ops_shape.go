package graph

import (
	"fmt"
	"math"

	"github.com/onnxtune/onnxtune/tensor"
)

// The shape family: operators that rearrange, select or describe elements without arithmetic.
// They run on every dtype, since models carry shapes, indices and masks through them as well
// as activations; the element moving itself is in tensor/layout.go.
//
// Each operator is registered at every version of the ONNX changelog up to opset 17; the
// builders branch on the opset where a version changed what the node means (attributes that
// became inputs, a new attribute). Negative axes are accepted at every opset: versions before
// 11 did not define them, and accepting them there breaks no model that was valid.

func init() {
	reg := func(op string, build BuildFunc, versions ...int) {
		for _, v := range versions {
			Register(OpDef{Type: op, Since: v, Build: build})
		}
	}
	reg("Flatten", buildFlatten, 1, 9, 11, 13)
	reg("Reshape", buildReshape, 1, 5, 13, 14)
	reg("Transpose", buildTranspose, 1, 13)
	reg("Concat", buildConcat, 1, 4, 11, 13)
	reg("Split", buildSplit, 1, 2, 11, 13, 18)
	reg("Slice", buildSlice, 1, 10, 11, 13)
	reg("Pad", buildPad, 1, 2, 11, 13, 18, 19)
	reg("Squeeze", buildSqueeze, 1, 11, 13)
	reg("Unsqueeze", buildUnsqueeze, 1, 11, 13)
	reg("Shape", buildShape, 1, 13, 15)
	reg("Gather", buildGather, 1, 11, 13)
	reg("Tile", buildTile, 1, 6, 13)
}

var (
	_ Kernel = (*Flatten)(nil)
	_ Kernel = (*Reshape)(nil)
	_ Kernel = (*Transpose)(nil)
	_ Kernel = (*Concat)(nil)
	_ Kernel = (*Split)(nil)
	_ Kernel = (*Slice)(nil)
	_ Kernel = (*Pad)(nil)
	_ Kernel = (*Squeeze)(nil)
	_ Kernel = (*Unsqueeze)(nil)
	_ Kernel = (*Shape)(nil)
	_ Kernel = (*Gather)(nil)
	_ Kernel = (*Tile)(nil)
)

// shapeArity checks at load time that the node has between least and most inputs and that the
// first least of them are given, so that Run can index in[] without checking.
func shapeArity(n *Node, least, most int) error {
	if len(n.Inputs) < least || len(n.Inputs) > most {
		if least == most {
			return fmt.Errorf("%s: has %d inputs, want %d", n, len(n.Inputs), least)
		}
		return fmt.Errorf("%s: has %d inputs, want %d to %d", n, len(n.Inputs), least, most)
	}
	for i := range least {
		if n.Inputs[i] == "" {
			return fmt.Errorf("%s: required input %d is empty", n, i)
		}
	}
	return nil
}

// shapeInts reads an int64 (or int32) tensor of rank 0 or 1, the form ONNX gives shapes, axes,
// pads and repeats in.
func shapeInts(t *tensor.Tensor, what string) ([]int64, error) {
	if t.DType() != tensor.Int64 && t.DType() != tensor.Int32 {
		return nil, fmt.Errorf("%s must be int64, got %v", what, t)
	}
	if t.Rank() > 1 {
		return nil, fmt.Errorf("%s must be 1-D, got %v", what, t)
	}
	return t.ToInt64s(), nil
}

// shapeAxis resolves an axis in [-rank, rank) to [0, rank).
func shapeAxis(axis int64, rank int, what string) (int, error) {
	if axis < -int64(rank) || axis >= int64(rank) {
		return 0, fmt.Errorf("%s %d is out of range for rank %d", what, axis, rank)
	}
	if axis < 0 {
		axis += int64(rank)
	}
	return int(axis), nil
}

// shapeAxes resolves a list of distinct axes against rank.
func shapeAxes(axes []int64, rank int) ([]int, error) {
	out := make([]int, len(axes))
	seen := make([]bool, rank)
	for i, a := range axes {
		ax, err := shapeAxis(a, rank, "axis")
		if err != nil {
			return nil, err
		}
		if seen[ax] {
			return nil, fmt.Errorf("axis %d appears twice in %v", ax, axes)
		}
		seen[ax] = true
		out[i] = ax
	}
	return out, nil
}

func shapeToInts(v []int64) []int {
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out
}

// Flatten reshapes its input to 2-D: the dimensions before Axis multiplied into the first, the
// rest into the second. The result shares the input's elements.
type Flatten struct {
	Axis int // in [-rank, rank]
}

func buildFlatten(n *Node, opset int) (Kernel, error) {
	if err := shapeArity(n, 1, 1); err != nil {
		return nil, err
	}
	a := n.AttrReader()
	k := &Flatten{Axis: int(a.Int("axis", 1))}
	return k, a.Err()
}

// Run implements Kernel.
func (k *Flatten) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	x := in[0]
	r := x.Rank()
	axis := k.Axis
	if axis < -r || axis > r {
		return nil, fmt.Errorf("axis %d is out of range for input %v (want -%d to %d)", axis, x, r, r)
	}
	if axis < 0 {
		axis += r
	}
	y, err := ctx.reshaped(x, tensor.Size(x.Shape()[:axis]), tensor.Size(x.Shape()[axis:]))
	if err != nil {
		return nil, err
	}
	return ctx.one(y)
}

// Reshape gives its input a new shape, sharing its elements. In the requested shape -1 stands
// for the one dimension inferred from the element count, and 0 copies the input's dimension at
// the same position unless AllowZero is set (opset 14), when it means an empty dimension.
type Reshape struct {
	Shape     []int64 // opset 1's shape attribute; nil from opset 5, where it is the second input
	AllowZero bool
}

func buildReshape(n *Node, opset int) (Kernel, error) {
	a := n.AttrReader()
	k := &Reshape{AllowZero: a.Int("allowzero", 0) != 0}
	if opset < 5 {
		if err := shapeArity(n, 1, 1); err != nil {
			return nil, err
		}
		if k.Shape = a.Ints("shape", nil); k.Shape == nil && a.Err() == nil {
			a.Fail("the shape attribute is missing")
		}
	} else if err := shapeArity(n, 2, 2); err != nil {
		return nil, err
	}
	return k, a.Err()
}

// Run implements Kernel.
func (k *Reshape) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	x, spec := in[0], k.Shape
	if spec == nil {
		var err error
		if spec, err = shapeInts(in[1], "shape"); err != nil {
			return nil, err
		}
	}
	shape, err := shapeResolve(x.Shape(), spec, k.AllowZero)
	if err != nil {
		return nil, err
	}
	y, err := x.Reshape(shape...)
	if err != nil {
		return nil, err
	}
	return ctx.one(y)
}

// ReshapeShape resolves ONNX Reshape's requested shape spec against the input shape in: -1
// is inferred from the element count, 0 copies in's dimension at that position (or, with
// allowZero, means 0).
func shapeResolve(in []int, spec []int64, allowZero bool) ([]int, error) {
	out := make([]int, len(spec))
	infer := -1
	for i, d := range spec {
		switch {
		case d == -1:
			if infer >= 0 {
				return nil, fmt.Errorf("shape %v has more than one -1", spec)
			}
			infer = i
		case d == 0 && !allowZero:
			if i >= len(in) {
				return nil, fmt.Errorf("shape %v copies dimension %d (0) of input shape %v, which has none", spec, i, in)
			}
			out[i] = in[i]
		case d < 0:
			return nil, fmt.Errorf("shape %v has invalid dimension %d", spec, d)
		default:
			out[i] = int(d)
		}
	}
	total := tensor.Size(in)
	if infer >= 0 {
		out[infer] = 1
		known, err := tensor.SizeChecked(out)
		if err != nil {
			return nil, err
		}
		if known == 0 || total%known != 0 {
			return nil, fmt.Errorf("cannot reshape input %v (%d elements) to %v: the -1 has no whole size", in, total, spec)
		}
		out[infer] = total / known
	}
	if n, err := tensor.SizeChecked(out); err != nil || n != total {
		return nil, fmt.Errorf("cannot reshape input %v (%d elements) to %v (resolved to %v)", in, total, spec, out)
	}
	return out, nil
}

// Transpose permutes the input's axes: output dimension i is input dimension Perm[i].
type Transpose struct {
	Perm []int // nil reverses the axes
}

func buildTranspose(n *Node, opset int) (Kernel, error) {
	if err := shapeArity(n, 1, 1); err != nil {
		return nil, err
	}
	a := n.AttrReader()
	k := &Transpose{}
	if p := a.Ints("perm", nil); p != nil {
		k.Perm = shapeToInts(p)
	}
	return k, a.Err()
}

// Run implements Kernel.
func (k *Transpose) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	y, err := tensor.TransposeTensor(nil, in[0], k.Perm)
	if err != nil {
		return nil, err
	}
	return ctx.one(y)
}

// Concat joins its inputs along Axis.
type Concat struct {
	Axis int
}

func buildConcat(n *Node, opset int) (Kernel, error) {
	if len(n.Inputs) == 0 {
		return nil, fmt.Errorf("%s: has no inputs", n)
	}
	for i, name := range n.Inputs {
		if name == "" {
			return nil, fmt.Errorf("%s: input %d is empty", n, i)
		}
	}
	a := n.AttrReader()
	if opset >= 4 && !a.Has("axis") {
		a.Fail("the axis attribute is missing")
	}
	k := &Concat{Axis: int(a.Int("axis", 1))} // opset 1 defaults to 1
	return k, a.Err()
}

// Run implements Kernel.
func (k *Concat) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	y, err := tensor.ConcatTensors(nil, in, k.Axis)
	if err != nil {
		return nil, err
	}
	return ctx.one(y)
}

// Split cuts its input along Axis into one piece per output: of the sizes given by the split
// attribute (opsets 1 to 12) or second input (opsets 1 and 13 on), or equal ones; from opset
// 18 num_outputs may say so instead, the last piece then being smaller when the axis does
// not divide evenly.
type Split struct {
	Axis       int
	Sizes      []int64 // the split attribute; nil when absent
	Outputs    int
	NumOutputs int // the num_outputs attribute (opset 18); 0 when absent
}

func buildSplit(n *Node, opset int) (Kernel, error) {
	most := 2
	if opset >= 2 && opset < 13 {
		most = 1
	}
	if err := shapeArity(n, 1, most); err != nil {
		return nil, err
	}
	a := n.AttrReader()
	k := &Split{Axis: int(a.Int("axis", 0)), Outputs: len(n.Outputs)}
	if opset < 13 {
		k.Sizes = a.Ints("split", nil)
	} else if a.Has("split") {
		a.Fail("split is an input from opset 13, not an attribute")
	}
	if k.Sizes != nil && len(k.Sizes) != k.Outputs {
		a.Fail("split %v has %d sizes for %d outputs", k.Sizes, len(k.Sizes), k.Outputs)
	}
	if opset >= 18 && a.Has("num_outputs") {
		k.NumOutputs = int(a.Int("num_outputs", 0))
		switch {
		case k.NumOutputs != k.Outputs:
			a.Fail("num_outputs is %d, but the node has %d outputs", k.NumOutputs, k.Outputs)
		case len(n.Inputs) > 1 && n.Inputs[1] != "":
			a.Fail("both the split input and num_outputs are given")
		}
	}
	return k, a.Err()
}

// PieceSizes returns the size of each piece along an axis of size dim, given the split input
// (nil when absent).
func (k *Split) PieceSizes(dim int, split *tensor.Tensor) ([]int, error) {
	spec := k.Sizes
	if split != nil {
		var err error
		if spec, err = shapeInts(split, "split"); err != nil {
			return nil, err
		}
		if len(spec) != k.Outputs {
			return nil, fmt.Errorf("split %v has %d sizes for %d outputs", spec, len(spec), k.Outputs)
		}
	}
	if spec != nil {
		return shapeToInts(spec), nil
	}
	if k.Outputs == 0 {
		return nil, fmt.Errorf("a split into no outputs")
	}
	sizes := make([]int, k.Outputs)
	if k.NumOutputs > 0 {
		// ceil(dim/n) each, what is left for the last.
		each := (dim + k.Outputs - 1) / k.Outputs
		last := dim - each*(k.Outputs-1)
		if last < 0 {
			return nil, fmt.Errorf("an axis of size %d does not split into %d pieces of %d and a smaller last one", dim, k.Outputs, each)
		}
		for i := range sizes {
			sizes[i] = each
		}
		sizes[len(sizes)-1] = last
		return sizes, nil
	}
	if dim%k.Outputs != 0 {
		return nil, fmt.Errorf("an axis of size %d does not split into %d equal parts", dim, k.Outputs)
	}
	for i := range sizes {
		sizes[i] = dim / k.Outputs
	}
	return sizes, nil
}

// Run implements Kernel.
func (k *Split) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	x := in[0]
	axis, err := shapeAxis(int64(k.Axis), x.Rank(), "axis")
	if err != nil {
		return nil, fmt.Errorf("input %v: %w", x, err)
	}
	var split *tensor.Tensor
	if len(in) > 1 {
		split = in[1]
	}
	sizes, err := k.PieceSizes(x.Shape()[axis], split)
	if err != nil {
		return nil, fmt.Errorf("input %v: %w", x, err)
	}
	return tensor.SplitTensor(x, axis, sizes)
}

// Slice takes, along some axes, the elements from a start up to an end by a step (which may
// be negative), with ONNX's clamping of out-of-range starts and ends (tensor.SliceRange).
// Before opset 10 starts, ends and axes are attributes; from 10 they and the steps are inputs.
type Slice struct {
	Starts, Ends, Axes []int64 // the opset-1 attributes; nil from opset 10
	FromInputs         bool
}

func buildSlice(n *Node, opset int) (Kernel, error) {
	a := n.AttrReader()
	k := &Slice{FromInputs: opset >= 10}
	if k.FromInputs {
		if err := shapeArity(n, 3, 5); err != nil {
			return nil, err
		}
		return k, nil
	}
	if err := shapeArity(n, 1, 1); err != nil {
		return nil, err
	}
	k.Starts, k.Ends, k.Axes = a.Ints("starts", nil), a.Ints("ends", nil), a.Ints("axes", nil)
	if a.Err() == nil && (k.Starts == nil || k.Ends == nil) {
		a.Fail("the starts and ends attributes are required")
	}
	return k, a.Err()
}

// Run implements Kernel.
func (k *Slice) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	x := in[0]
	starts, ends, axes := k.Starts, k.Ends, k.Axes
	var steps []int64
	if k.FromInputs {
		var err error
		if starts, err = shapeInts(in[1], "starts"); err != nil {
			return nil, err
		}
		if ends, err = shapeInts(in[2], "ends"); err != nil {
			return nil, err
		}
		if len(in) > 3 && in[3] != nil {
			if axes, err = shapeInts(in[3], "axes"); err != nil {
				return nil, err
			}
		}
		if len(in) > 4 && in[4] != nil {
			if steps, err = shapeInts(in[4], "steps"); err != nil {
				return nil, err
			}
		}
	}
	if len(ends) != len(starts) || (axes != nil && len(axes) != len(starts)) || (steps != nil && len(steps) != len(starts)) {
		return nil, fmt.Errorf("starts %v, ends %v, axes %v and steps %v must have the same length", starts, ends, axes, steps)
	}
	r := x.Rank()
	if axes == nil {
		if len(starts) > r {
			return nil, fmt.Errorf("%d starts for input %v", len(starts), x)
		}
		axes = make([]int64, len(starts))
		for i := range axes {
			axes[i] = int64(i)
		}
	}
	ax, err := shapeAxes(axes, r)
	if err != nil {
		return nil, fmt.Errorf("input %v: %w", x, err)
	}
	first, counts, step := make([]int, r), append([]int(nil), x.Shape()...), make([]int, r)
	for i := range step {
		step[i] = 1
	}
	for i, a := range ax {
		s := int64(1)
		if steps != nil {
			s = steps[i]
		}
		if s == 0 {
			return nil, fmt.Errorf("step on axis %d is zero", a)
		}
		first[a], counts[a] = tensor.SliceRange(x.Shape()[a], starts[i], ends[i], s)
		step[a] = int(s)
	}
	y, err := tensor.SliceTensor(nil, x, first, counts, step)
	if err != nil {
		return nil, err
	}
	return ctx.one(y)
}

// Pad adds cells around its input (removes them, for negative pads): a constant value, the
// input mirrored (reflect) or its edge cells repeated (edge). Pads lists the counts before each
// axis, then after each. Before opset 11 pads and value are attributes ("paddings" at opset 1),
// from 11 they are inputs.
type Pad struct {
	Mode       tensor.PadMode
	Pads       []int64 // the attribute forms; nil from opset 11
	Value      float32
	FromInputs bool
}

func buildPad(n *Node, opset int) (Kernel, error) {
	a := n.AttrReader()
	k := &Pad{FromInputs: opset >= 11}
	mode, err := tensor.ParsePadMode(a.String("mode", "constant"))
	if err != nil {
		a.Fail("%v", err)
	}
	k.Mode = mode
	if mode == tensor.PadWrap && opset < 19 {
		a.Fail("mode \"wrap\" needs opset 19")
	}
	if k.FromInputs {
		most := 3
		if opset >= 18 {
			most = 4 // the axes the pads apply to
		}
		if err := shapeArity(n, 2, most); err != nil {
			return nil, err
		}
		return k, a.Err()
	}
	if err := shapeArity(n, 1, 1); err != nil {
		return nil, err
	}
	name := "pads"
	if opset < 2 {
		name = "paddings"
	}
	if k.Pads = a.Ints(name, nil); k.Pads == nil && a.Err() == nil {
		a.Fail("the %s attribute is missing", name)
	}
	k.Value = a.Float("value", 0)
	return k, a.Err()
}

// Amounts returns the padding before and after each dimension of an input of the given
// shape: from the attribute, or from the pads input (in[1]) over every axis or, from opset
// 18, over the axes input (in[3]), the others unpadded.
func (k *Pad) Amounts(shape []int, in []*tensor.Tensor) (begins, ends []int, err error) {
	r := len(shape)
	pads := k.Pads
	axes := make([]int, r)
	for i := range axes {
		axes[i] = i
	}
	if k.FromInputs {
		if pads, err = shapeInts(in[1], "pads"); err != nil {
			return nil, nil, err
		}
		if len(in) > 3 && in[3] != nil {
			given, err := shapeInts(in[3], "axes")
			if err != nil {
				return nil, nil, err
			}
			axes = axes[:0]
			seen := make([]bool, r)
			for _, a := range given {
				ax, err := shapeAxis(a, r, "axes")
				if err != nil {
					return nil, nil, err
				}
				if seen[ax] {
					return nil, nil, fmt.Errorf("axis %d is given twice in axes %v", a, given)
				}
				seen[ax] = true
				axes = append(axes, ax)
			}
		}
	}
	if len(pads) != 2*len(axes) {
		return nil, nil, fmt.Errorf("pads %v must have %d entries for an input of shape %v", pads, 2*len(axes), shape)
	}
	begins, ends = make([]int, r), make([]int, r)
	for i, ax := range axes {
		begins[ax], ends[ax] = int(pads[i]), int(pads[len(axes)+i])
	}
	return begins, ends, nil
}

// Run implements Kernel.
func (k *Pad) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	x := in[0]
	var value *tensor.Tensor
	if k.FromInputs {
		if len(in) > 2 && in[2] != nil {
			if in[2].Len() != 1 {
				return nil, fmt.Errorf("constant_value must be a scalar, got %v", in[2])
			}
			value = in[2]
		}
	} else if k.Value != 0 {
		value = tensor.Scalar(k.Value)
	}
	begins, ends, err := k.Amounts(x.Shape(), in)
	if err != nil {
		return nil, fmt.Errorf("input %v: %w", x, err)
	}
	y, err := tensor.PadTensor(nil, x, begins, ends, k.Mode, value)
	if err != nil {
		return nil, err
	}
	return ctx.one(y)
}

// Squeeze removes dimensions of size 1: those at Axes, or every one when no axes are given.
// Before opset 13 the axes are an attribute; from 13 an optional input.
type Squeeze struct {
	Axes       []int64 // the attribute form
	FromInputs bool
}

func buildSqueeze(n *Node, opset int) (Kernel, error) {
	k := &Squeeze{FromInputs: opset >= 13}
	most := 1
	if k.FromInputs {
		most = 2
	}
	if err := shapeArity(n, 1, most); err != nil {
		return nil, err
	}
	a := n.AttrReader()
	if !k.FromInputs {
		k.Axes = a.Ints("axes", nil)
	}
	return k, a.Err()
}

// Run implements Kernel.
func (k *Squeeze) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	x, axes := in[0], k.Axes
	if len(in) > 1 && in[1] != nil {
		var err error
		if axes, err = shapeInts(in[1], "axes"); err != nil {
			return nil, err
		}
	}
	ax, err := shapeAxes(axes, x.Rank())
	if err != nil {
		return nil, fmt.Errorf("input %v: %w", x, err)
	}
	drop := make([]bool, x.Rank())
	for _, a := range ax {
		if x.Shape()[a] != 1 {
			return nil, fmt.Errorf("cannot squeeze axis %d of input %v: its size is not 1", a, x)
		}
		drop[a] = true
	}
	out := []int{}
	for i, d := range x.Shape() {
		if !drop[i] && (len(ax) > 0 || d != 1) {
			out = append(out, d)
		}
	}
	y, err := x.Reshape(out...)
	if err != nil {
		return nil, err
	}
	return ctx.one(y)
}

// Unsqueeze inserts dimensions of size 1 at Axes, positions in the output. Before opset 13
// the axes are an attribute; from 13 an input.
type Unsqueeze struct {
	Axes       []int64 // the attribute form
	FromInputs bool
}

func buildUnsqueeze(n *Node, opset int) (Kernel, error) {
	k := &Unsqueeze{FromInputs: opset >= 13}
	a := n.AttrReader()
	if k.FromInputs {
		return k, shapeArity(n, 2, 2)
	}
	if err := shapeArity(n, 1, 1); err != nil {
		return nil, err
	}
	if k.Axes = a.Ints("axes", nil); k.Axes == nil && a.Err() == nil {
		a.Fail("the axes attribute is missing")
	}
	return k, a.Err()
}

// Run implements Kernel.
func (k *Unsqueeze) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	x, axes := in[0], k.Axes
	if k.FromInputs {
		var err error
		if axes, err = shapeInts(in[1], "axes"); err != nil {
			return nil, err
		}
	}
	r := x.Rank() + len(axes)
	ax, err := shapeAxes(axes, r)
	if err != nil {
		return nil, fmt.Errorf("input %v: %w", x, err)
	}
	inserted := make([]bool, r)
	for _, a := range ax {
		inserted[a] = true
	}
	out := make([]int, r)
	j := 0
	for i := range out {
		out[i] = 1
		if !inserted[i] {
			out[i] = x.Shape()[j]
			j++
		}
	}
	y, err := x.Reshape(out...)
	if err != nil {
		return nil, err
	}
	return ctx.one(y)
}

// Shape returns the input's dimensions as an int64 vector: those from Start to End (opset
// 15; negative values count from the end, and both are clamped to [0, rank]).
type Shape struct {
	Start, End int // End is math.MaxInt for "to the last dimension"
}

func buildShape(n *Node, opset int) (Kernel, error) {
	if err := shapeArity(n, 1, 1); err != nil {
		return nil, err
	}
	a := n.AttrReader()
	k := &Shape{End: math.MaxInt}
	if opset >= 15 {
		k.Start = int(a.Int("start", 0))
		if a.Has("end") {
			k.End = int(a.Int("end", 0))
		}
	}
	return k, a.Err()
}

// Run implements Kernel.
func (k *Shape) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	shape := in[0].Shape()
	r := len(shape)
	clamp := func(i int) int {
		if i < 0 {
			i += r
		}
		return min(max(i, 0), r)
	}
	start, end := clamp(k.Start), clamp(k.End)
	dims := []int64{}
	for i := start; i < end; i++ {
		dims = append(dims, int64(shape[i]))
	}
	return ctx.one(tensor.From([]int{len(dims)}, dims))
}

// Gather takes entries of the input along Axis at the given indices (int32 or int64; negative
// ones count from the end): the output's shape is the input's with that axis replaced by the
// indices' shape.
type Gather struct {
	Axis int
}

func buildGather(n *Node, opset int) (Kernel, error) {
	if err := shapeArity(n, 2, 2); err != nil {
		return nil, err
	}
	a := n.AttrReader()
	k := &Gather{Axis: int(a.Int("axis", 0))}
	return k, a.Err()
}

// Run implements Kernel.
func (k *Gather) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	y, err := tensor.GatherTensor(nil, in[0], k.Axis, in[1])
	if err != nil {
		return nil, err
	}
	return ctx.one(y)
}

// Tile repeats the input along each axis. From opset 6 the second input gives one repeat count
// per axis; at opset 1 it is a scalar count for the single axis that a third input names.
type Tile struct {
	AxisInput bool // opset 1's (tiles, axis) form
}

func buildTile(n *Node, opset int) (Kernel, error) {
	if opset < 6 {
		return &Tile{AxisInput: true}, shapeArity(n, 3, 3)
	}
	return &Tile{}, shapeArity(n, 2, 2)
}

// Run implements Kernel.
func (k *Tile) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	x := in[0]
	reps, err := shapeInts(in[1], "repeats")
	if err != nil {
		return nil, err
	}
	repeats := make([]int, x.Rank())
	if k.AxisInput {
		ax, err := shapeInts(in[2], "axis")
		if err != nil {
			return nil, err
		}
		if len(reps) != 1 || len(ax) != 1 {
			return nil, fmt.Errorf("tiles %v and axis %v must be scalars", reps, ax)
		}
		a, err := shapeAxis(ax[0], x.Rank(), "axis")
		if err != nil {
			return nil, err
		}
		for i := range repeats {
			repeats[i] = 1
		}
		repeats[a] = int(reps[0])
	} else {
		if len(reps) != x.Rank() {
			return nil, fmt.Errorf("repeats %v must have one entry per axis of input %v", reps, x)
		}
		repeats = shapeToInts(reps)
	}
	y, err := tensor.TileTensor(nil, x, repeats)
	if err != nil {
		return nil, err
	}
	return ctx.one(y)
}
