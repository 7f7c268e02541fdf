package graph

import (
	"fmt"
	"math"

	"github.com/onnxtune/onnxtune/tensor"
)

func init() {
	// BatchNormalization: 1 and 6 carry is_test and spatial, 7 dropped is_test (training is
	// asked for by listing the extra outputs), 9 dropped spatial, 14 made training an
	// attribute with running statistics as outputs, 15 widened the types.
	for _, since := range []int{1, 6, 7, 9, 14, 15} {
		Register(OpDef{Type: "BatchNormalization", Since: since, Build: buildBatchNorm})
	}
	for _, since := range []int{1, 6} {
		Register(OpDef{Type: "InstanceNormalization", Since: since, Build: buildInstanceNorm})
	}
	Register(OpDef{Type: "LayerNormalization", Since: 17, Build: buildLayerNorm})
	Register(OpDef{Type: "GroupNormalization", Since: 18, Build: buildGroupNorm})
	Register(OpDef{Type: "GroupNormalization", Since: 21, Build: buildGroupNorm})
	for _, since := range []int{1, 13} {
		Register(OpDef{Type: "LRN", Since: since, Build: buildLRN})
	}
}

// BatchNormalization is ONNX BatchNormalization over X [N, C, D1...] with per-channel scale,
// bias, mean and variance.
//
// In inference it normalises with the given mean and variance. In training (TrainingMode, or
// any run whose Context asks for training) it normalises with the batch mean and biased batch
// variance and, where the node lists them, outputs the running statistics ONNX defines:
// running = input*Momentum + batch*(1-Momentum) (for opsets below 14 these are the mean and
// var outputs, followed by saved_mean, the batch mean, and saved_var, which ONNX Runtime
// fills with the inverse standard deviation 1/sqrt(var + Epsilon)).
type BatchNormalization struct {
	Epsilon  float32
	Momentum float32
	// Spatial false (opsets below 9 only) means one statistic per channel and spatial
	// position: the parameters are [C, D1...] rather than [C].
	Spatial bool
	// TrainingMode is training_mode=1 at opset 14 and later, or for earlier opsets the
	// presence of the optional outputs (and is_test=0 where that attribute exists).
	TrainingMode bool
	// Node is the node the kernel was built for, reported to Context.BatchStats.
	Node *Node
}

var _ Kernel = (*BatchNormalization)(nil)

// InstanceNormalization is ONNX InstanceNormalization: each (image, channel) plane of
// X [N, C, D1...] normalised by its own statistics, then scaled and shifted per channel.
type InstanceNormalization struct{ Epsilon float32 }

var _ Kernel = (*InstanceNormalization)(nil)

// LayerNormalization is ONNX LayerNormalization (opset 17): X normalised over the dimensions
// from Axis on, then scaled and shifted by Scale and the optional B. Its optional outputs
// Mean and InvStdDev have X's leading dimensions and ones after, in float32 (stash_type 1).
type LayerNormalization struct {
	Axis    int
	Epsilon float32
}

var _ Kernel = (*LayerNormalization)(nil)

// GroupNormalization is ONNX GroupNormalization: the channels of each image of X [N, C, D1...]
// split into NumGroups groups, each normalised by its own statistics, then scaled and shifted.
// At opset 21 (as PyTorch's GroupNorm) scale and bias hold one value per channel; opset 18's
// hold one per group, which every channel of the group shares.
type GroupNormalization struct {
	NumGroups  int
	Epsilon    float32
	PerChannel bool // opset 21
}

var _ Kernel = (*GroupNormalization)(nil)

// LRN is ONNX LRN: local response normalisation across channels.
type LRN struct {
	Size              int
	Alpha, Beta, Bias float32
}

var _ Kernel = (*LRN)(nil)

func buildBatchNorm(n *Node, opset int) (Kernel, error) {
	a := n.AttrReader()
	k := &BatchNormalization{
		Epsilon:  a.Float("epsilon", 1e-5),
		Momentum: a.Float("momentum", 0.9),
		Spatial:  true,
		Node:     n,
	}
	extra := false
	for _, o := range n.Outputs[min(1, len(n.Outputs)):] {
		extra = extra || o != ""
	}
	switch {
	case opset >= 14:
		k.TrainingMode = a.Int("training_mode", 0) != 0
		if !k.TrainingMode && extra {
			a.Fail("lists running_mean/running_var outputs but training_mode is 0")
		}
	case opset >= 7:
		k.TrainingMode = extra
	default:
		k.TrainingMode = extra && a.Int("is_test", 0) == 0
	}
	if opset < 9 {
		k.Spatial = a.Int("spatial", 1) != 0
	}
	if len(n.Inputs) != 5 {
		a.Fail("has %d inputs, want X, scale, B, mean and var", len(n.Inputs))
	}
	return k, a.Err()
}

// Run implements Kernel.
func (k *BatchNormalization) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	for i, t := range in {
		if t == nil {
			return nil, fmt.Errorf("input %d is missing", i)
		}
	}
	x := in[0]
	shape := x.Shape()
	if len(shape) < 2 {
		return nil, fmt.Errorf("X has shape %v, want [N C ...]", shape)
	}
	n, c, spatial := shape[0], shape[1], tensor.Size(shape[2:])
	if !k.Spatial {
		// Per-activation statistics: every (channel, position) pair is its own channel.
		c, spatial = c*spatial, 1
	}
	for i, name := range []string{"scale", "B", "mean", "var"} {
		if in[i+1].Len() != c {
			return nil, fmt.Errorf("%s has shape %v, want %d values for X %v", name, in[i+1].Shape(), c, shape)
		}
	}
	train := k.TrainingMode || ctx != nil && ctx.Training
	if x.DType() == tensor.Float64 {
		args := make([][]float64, 5)
		for i, t := range in {
			if args[i] = tensor.Data[float64](t); args[i] == nil {
				return nil, fmt.Errorf("input %d is %v, want float64 like X", i, t)
			}
		}
		return normBatch(ctx, args, shape, n, c, spatial, k, train, func(v []float64) *tensor.Tensor { return tensor.From([]int{len(v)}, v) })
	}
	args := make([][]float32, 5)
	for i, t := range in {
		v, err := convToFloat32(t)
		if err != nil {
			return nil, fmt.Errorf("input %d: %w", i, err)
		}
		args[i] = v
	}
	// ONNX 15 lets scale, B and the statistics be a different float type than X; each is
	// widened on its own, and the outputs take the type of what they derive from.
	return normBatch(ctx, args, shape, n, c, spatial, k, train, func(v []float32) *tensor.Tensor { return tensor.From([]int{len(v)}, v) },
		func(i int, y *tensor.Tensor) *tensor.Tensor {
			dt := x.DType()
			if i > 0 {
				dt = in[3].DType()
			}
			return convFromFloat32(dt, y.Shape(), y.Float32s())
		})
}

// normBatch computes BatchNormalization's outputs in T. wrap makes a tensor of a result;
// narrow, if given, converts output i to its final dtype.
func normBatch[T float32 | float64](ctx *Context, args [][]T, shape []int, n, c, spatial int, k *BatchNormalization, train bool,
	wrap func([]T) *tensor.Tensor, narrow ...func(int, *tensor.Tensor) *tensor.Tensor) ([]*tensor.Tensor, error) {
	x, scale, bias, mean, variance := args[0], args[1], args[2], args[3], args[4]
	// alloc returns n values for an output that is written in full: float32s from the run's
	// recycled buffers.
	alloc := func(n int) []T {
		var v []T
		if f, ok := any(&v).(*[]float32); ok {
			*f = ctx.floats(n)
		} else {
			v = make([]T, n)
		}
		return v
	}
	y := alloc(len(x)) // every element written by tensor.BatchNorm
	reshape := func(i int, v []T, sh []int) *tensor.Tensor {
		t, _ := wrap(v).Reshape(sh...)
		if len(narrow) > 0 {
			t = narrow[0](i, t)
		}
		return t
	}
	if !train {
		tensor.BatchNorm(y, x, scale, bias, mean, variance, n, c, spatial, float64(k.Epsilon))
		return []*tensor.Tensor{reshape(0, y, shape)}, nil
	}
	bm, bv := alloc(c), alloc(c)
	tensor.BatchNormStats(bm, bv, x, n, c, spatial)
	if ctx != nil && ctx.BatchStats != nil {
		m64, v64 := make([]float64, c), make([]float64, c)
		for i := range c {
			m64[i], v64[i] = float64(bm[i]), float64(bv[i])
		}
		ctx.BatchStats(k.Node, m64, v64, len(x)/c)
	}
	tensor.BatchNorm(y, x, scale, bias, bm, bv, n, c, spatial, float64(k.Epsilon))
	pshape := []int{c}
	if !k.Spatial {
		pshape = shape[1:]
	}
	// Only the outputs the node declares are made (a training-mode node at opset 14 and later
	// has at most three); the statistics no output takes go back to the run as scratch.
	outputs := 5
	if k.Node != nil {
		outputs = len(k.Node.Outputs)
	}
	res := []*tensor.Tensor{reshape(0, y, shape)}
	if outputs > 1 {
		rm, rv := alloc(c), alloc(c)
		mom := T(k.Momentum)
		for i := range c {
			rm[i] = mean[i]*mom + bm[i]*(1-mom)
			rv[i] = variance[i]*mom + bv[i]*(1-mom)
		}
		res = append(res, reshape(1, rm, pshape), reshape(2, rv, pshape))
	}
	if outputs > 3 {
		// saved_var, which only opsets below 14 have, is the inverse standard deviation as
		// ONNX Runtime (and cuDNN, where the output came from) computes it, not the variance.
		inv := alloc(c)
		for i, v := range bv {
			inv[i] = T(1 / math.Sqrt(float64(v)+float64(k.Epsilon)))
		}
		res = append(res, reshape(3, bm, pshape), reshape(4, inv, pshape))
	} else {
		recycleScratch(ctx, bm)
	}
	recycleScratch(ctx, bv)
	return res, nil
}

// recycleScratch hands a float32 scratch buffer from the run back to it (Context.recycle).
func recycleScratch[T float32 | float64](ctx *Context, v []T) {
	if f, ok := any(v).([]float32); ok {
		ctx.recycle(f)
	}
}

func buildInstanceNorm(n *Node, opset int) (Kernel, error) {
	a := n.AttrReader()
	k := &InstanceNormalization{Epsilon: a.Float("epsilon", 1e-5)}
	if len(n.Inputs) != 3 {
		a.Fail("has %d inputs, want input, scale and B", len(n.Inputs))
	}
	return k, a.Err()
}

// Run implements Kernel.
func (k *InstanceNormalization) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	for i, t := range in {
		if t == nil {
			return nil, fmt.Errorf("input %d is missing", i)
		}
	}
	x := in[0]
	shape := x.Shape()
	if len(shape) < 3 {
		return nil, fmt.Errorf("input has shape %v, want [N C D1 ...]", shape)
	}
	n, c, spatial := shape[0], shape[1], tensor.Size(shape[2:])
	if in[1].Len() != c || in[2].Len() != c {
		return nil, fmt.Errorf("scale %v and B %v must hold %d values, one per channel of %v", in[1].Shape(), in[2].Shape(), c, shape)
	}
	eps := float64(k.Epsilon)
	if x.DType() == tensor.Float64 {
		s, b := tensor.Data[float64](in[1]), tensor.Data[float64](in[2])
		if s == nil || b == nil {
			return nil, fmt.Errorf("scale is %v and B %v, want float64 like the input", in[1], in[2])
		}
		y := make([]float64, x.Len())
		tensor.InstanceNorm(y, tensor.Data[float64](x), s, b, n, c, spatial, eps)
		return ctx.one(tensor.From(shape, y))
	}
	return convFloat32(ctx, x.DType(), shape, in, func(y []float32, args [][]float32) {
		tensor.InstanceNorm(y, args[0], args[1], args[2], n, c, spatial, eps)
	})
}

func buildGroupNorm(n *Node, opset int) (Kernel, error) {
	a := n.AttrReader()
	k := &GroupNormalization{NumGroups: int(a.Int("num_groups", 0)), Epsilon: a.Float("epsilon", 1e-5), PerChannel: opset >= 21}
	if !a.Has("num_groups") || k.NumGroups < 1 {
		a.Fail("num_groups is %d, want a positive number", k.NumGroups)
	}
	if st := a.Int("stash_type", 1); st != 1 {
		a.Fail("stash_type is %d; only 1 (float32 statistics) is supported", st)
	}
	if len(n.Inputs) != 3 {
		a.Fail("has %d inputs, want X, scale and bias", len(n.Inputs))
	}
	return k, a.Err()
}

// Geometry checks X's shape and the length of scale and bias, and returns N, C and the size
// of the spatial dimensions.
func (k *GroupNormalization) Geometry(shape []int, params int) (n, c, spatial int, err error) {
	if len(shape) < 2 {
		return 0, 0, 0, fmt.Errorf("X has shape %v, want [N C D1 ...]", shape)
	}
	n, c, spatial = shape[0], shape[1], tensor.Size(shape[2:])
	if c%k.NumGroups != 0 {
		return 0, 0, 0, fmt.Errorf("%d channels of X %v do not split into %d groups", c, shape, k.NumGroups)
	}
	want := k.NumGroups
	if k.PerChannel {
		want = c
	}
	if params != want {
		return 0, 0, 0, fmt.Errorf("scale and bias hold %d values, want %d for X %v and %d groups", params, want, shape, k.NumGroups)
	}
	return n, c, spatial, nil
}

// ChannelValues returns v (scale or bias) with one value per channel: as given at opset 21, each
// group's value repeated over its channels at 18.
func (k *GroupNormalization) ChannelValues(v []float64, c int) []float64 {
	if k.PerChannel {
		return v
	}
	out := make([]float64, c)
	for ch := range out {
		out[ch] = v[ch/(c/k.NumGroups)]
	}
	return out
}

// Run implements Kernel.
func (k *GroupNormalization) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(in) != 3 || in[0] == nil || in[1] == nil || in[2] == nil {
		return nil, fmt.Errorf("needs X, scale and bias")
	}
	x := in[0]
	shape := x.Shape()
	if in[1].Len() != in[2].Len() {
		return nil, fmt.Errorf("scale %v and bias %v differ in length", in[1].Shape(), in[2].Shape())
	}
	n, c, spatial, err := k.Geometry(shape, in[1].Len())
	if err != nil {
		return nil, err
	}
	eps := float64(k.Epsilon)
	scale, bias := k.ChannelValues(in[1].ToFloat64s(), c), k.ChannelValues(in[2].ToFloat64s(), c)
	if x.DType() == tensor.Float64 {
		y := make([]float64, x.Len())
		tensor.GroupNorm(y, tensor.Data[float64](x), scale, bias, n, c, k.NumGroups, spatial, eps)
		return ctx.one(tensor.From(shape, y))
	}
	s32, b32 := make([]float32, c), make([]float32, c)
	for i := range c {
		s32[i], b32[i] = float32(scale[i]), float32(bias[i])
	}
	return convFloat32(ctx, x.DType(), shape, in[:1], func(y []float32, args [][]float32) {
		tensor.GroupNorm(y, args[0], s32, b32, n, c, k.NumGroups, spatial, eps)
	})
}

func buildLayerNorm(n *Node, opset int) (Kernel, error) {
	a := n.AttrReader()
	k := &LayerNormalization{Axis: int(a.Int("axis", -1)), Epsilon: a.Float("epsilon", 1e-5)}
	if st := a.Int("stash_type", 1); st != 1 {
		a.Fail("stash_type is %d; only 1 (float32 statistics) is supported", st)
	}
	if len(n.Inputs) < 2 {
		a.Fail("has %d inputs, want X, Scale and an optional B", len(n.Inputs))
	}
	return k, a.Err()
}

// Run implements Kernel.
func (k *LayerNormalization) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(in) < 2 || in[0] == nil || in[1] == nil {
		return nil, fmt.Errorf("needs X and Scale")
	}
	x := in[0]
	shape := x.Shape()
	axis := k.Axis
	if axis < 0 {
		axis += len(shape)
	}
	if axis < 0 || axis >= len(shape) {
		return nil, fmt.Errorf("axis %d is out of range for X %v", k.Axis, shape)
	}
	rows, cols := tensor.Size(shape[:axis]), tensor.Size(shape[axis:])
	inner := shape[axis:]
	var b *tensor.Tensor
	if len(in) > 2 {
		b = in[2]
	}
	statShape := append([]int(nil), shape[:axis]...)
	for range inner {
		statShape = append(statShape, 1)
	}
	mean, inv := make([]float32, rows), make([]float32, rows)
	stats := []*tensor.Tensor{tensor.From(statShape, mean), tensor.From(statShape, inv)}
	if x.DType() == tensor.Float64 {
		s, err := normExpand[float64](in[1], inner)
		if err != nil {
			return nil, fmt.Errorf("Scale: %w", err)
		}
		var bv []float64
		if b != nil {
			if bv, err = normExpand[float64](b, inner); err != nil {
				return nil, fmt.Errorf("B: %w", err)
			}
		}
		y, m64, i64 := make([]float64, x.Len()), make([]float64, rows), make([]float64, rows)
		tensor.LayerNorm(y, m64, i64, tensor.Data[float64](x), s, bv, rows, cols, float64(k.Epsilon))
		for i := range rows {
			mean[i], inv[i] = float32(m64[i]), float32(i64[i])
		}
		return append([]*tensor.Tensor{tensor.From(shape, y)}, stats...), nil
	}
	var bad error // set by the computation, which cannot return it
	outs, err := convFloat32(ctx, x.DType(), shape, []*tensor.Tensor{x, in[1], b}, func(y []float32, args [][]float32) {
		s, e := normBroadcast(args[1], in[1].Shape(), inner)
		if e != nil {
			bad = fmt.Errorf("Scale: %w", e)
			return
		}
		var bv []float32
		if args[2] != nil {
			if bv, e = normBroadcast(args[2], b.Shape(), inner); e != nil {
				bad = fmt.Errorf("B: %w", e)
				return
			}
		}
		tensor.LayerNorm(y, mean, inv, args[0], s, bv, rows, cols, float64(k.Epsilon))
	})
	if err == nil {
		err = bad
	}
	if err != nil {
		return nil, err
	}
	return append(outs, stats...), nil
}

// normExpand returns the elements of t (of element type T) broadcast to shape.
func normExpand[T float32 | float64](t *tensor.Tensor, shape []int) ([]T, error) {
	v := tensor.Data[T](t)
	if v == nil {
		return nil, fmt.Errorf("got %v, want %v", t, tensor.Float64)
	}
	return normBroadcast(v, t.Shape(), shape)
}

// normBroadcast broadcasts v of shape from to shape (numpy rules, v may have fewer
// dimensions); it returns v itself when no copy is needed.
func normBroadcast[T any](v []T, from, shape []int) ([]T, error) {
	n := tensor.Size(shape)
	if len(v) == n && len(from) <= len(shape) {
		same := true
		for i := range from {
			if from[len(from)-1-i] != shape[len(shape)-1-i] {
				same = false
			}
		}
		if same {
			return v, nil
		}
	}
	b, err := tensor.BroadcastShapes(from, shape)
	if err != nil || !tensor.EqualShapes(b, shape) {
		return nil, fmt.Errorf("shape %v does not broadcast to the normalised shape %v", from, shape)
	}
	out := make([]T, n)
	fs := tensor.Strides(from)
	idx := make([]int, len(shape))
	off := len(shape) - len(from)
	for i := range out {
		src := 0
		for d := range from {
			if from[d] != 1 {
				src += idx[off+d] * fs[d]
			}
		}
		out[i] = v[src]
		normNext(idx, shape)
	}
	return out, nil
}

// normNext advances a row-major index over shape.
func normNext(idx, shape []int) {
	for d := len(idx) - 1; d >= 0; d-- {
		idx[d]++
		if idx[d] < shape[d] {
			return
		}
		idx[d] = 0
	}
}

func buildLRN(n *Node, opset int) (Kernel, error) {
	a := n.AttrReader()
	k := &LRN{
		Size:  int(a.Int("size", 0)),
		Alpha: a.Float("alpha", 1e-4),
		Beta:  a.Float("beta", 0.75),
		Bias:  a.Float("bias", 1),
	}
	if k.Size < 1 {
		a.Fail("size is %d, want a positive odd number of channels", k.Size)
	}
	return k, a.Err()
}

// Run implements Kernel.
func (k *LRN) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	x, err := poolInput(in)
	if err != nil {
		return nil, err
	}
	shape := x.Shape()
	if len(shape) < 2 {
		return nil, fmt.Errorf("X has shape %v, want [N C ...]", shape)
	}
	n, c, spatial := shape[0], shape[1], tensor.Size(shape[2:])
	alpha, beta, bias := float64(k.Alpha), float64(k.Beta), float64(k.Bias)
	if x.DType() == tensor.Float64 {
		y := make([]float64, x.Len())
		tensor.LRN(y, tensor.Data[float64](x), n, c, spatial, k.Size, alpha, beta, bias)
		return ctx.one(tensor.From(shape, y))
	}
	return convFloat32(ctx, x.DType(), shape, in[:1], func(y []float32, args [][]float32) {
		tensor.LRN(y, args[0], n, c, spatial, k.Size, alpha, beta, bias)
	})
}
