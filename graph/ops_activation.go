package graph

import (
	"fmt"
	"math"

	"github.com/onnxtune/onnxtune/tensor"
)

// The activation family: the pointwise non-linearities, Clip, and Softmax and LogSoftmax.
// Attributes are parsed here once; the numerics are tensor's.

func init() {
	// Each of these changed in opset 6 only by dropping `consumed_inputs`, and later only in
	// the element types it lists.
	for _, op := range []string{"Relu", "Sigmoid", "Tanh", "Softplus"} {
		Register(OpDef{Type: op, Since: 1, Build: buildUnary(op)})
	}
	Register(OpDef{Type: "HardSwish", Since: 14, Build: buildUnary("HardSwish")})
	Register(OpDef{Type: "Gelu", Since: 20, Build: buildGelu})
	Register(OpDef{Type: "LeakyRelu", Since: 1, Build: buildLeakyRelu})
	Register(OpDef{Type: "Elu", Since: 1, Build: buildElu})
	Register(OpDef{Type: "Selu", Since: 1, Build: buildSelu})
	Register(OpDef{Type: "HardSigmoid", Since: 1, Build: buildHardSigmoid})
	// PRelu 7 switched the slope to numpy (unidirectional) broadcasting.
	Register(OpDef{Type: "PRelu", Since: 1, Build: buildPRelu(true)})
	Register(OpDef{Type: "PRelu", Since: 7, Build: buildPRelu(false)})
	// Clip 1 and 6 read the bounds from attributes (6 gave them defaults of ±FLT_MAX, the same
	// as none); 11 made them optional inputs; 12 added the integer types.
	Register(OpDef{Type: "Clip", Since: 1, Build: buildClipAttrs})
	Register(OpDef{Type: "Clip", Since: 6, Build: buildClipAttrs})
	Register(OpDef{Type: "Clip", Since: 11, Build: buildClipInputs(false)})
	Register(OpDef{Type: "Clip", Since: 12, Build: buildClipInputs(true)})
	// Softmax and LogSoftmax before 13 flatten the input to a matrix at `axis` (default 1) and
	// normalise its rows; from 13 they normalise along the one axis `axis` (default -1).
	for _, op := range []string{"Softmax", "LogSoftmax"} {
		Register(OpDef{Type: op, Since: 1, Build: buildSoftmax(op, true)})
		Register(OpDef{Type: op, Since: 13, Build: buildSoftmax(op, false)})
	}
}

var (
	_ Kernel = (*LeakyRelu)(nil)
	_ Kernel = (*Elu)(nil)
	_ Kernel = (*Gelu)(nil)
	_ Kernel = (*Selu)(nil)
	_ Kernel = (*HardSigmoid)(nil)
	_ Kernel = (*PRelu)(nil)
	_ Kernel = (*Clip)(nil)
	_ Kernel = (*Softmax)(nil)
)

// LeakyRelu is x for x >= 0 and Alpha*x below.
type LeakyRelu struct{ Alpha float32 }

func buildLeakyRelu(n *Node, opset int) (Kernel, error) {
	if err := ewInputs(n, 1, 1); err != nil {
		return nil, err
	}
	a := n.AttrReader()
	k := &LeakyRelu{Alpha: a.Float("alpha", 0.01)}
	return k, a.Err()
}

// Run implements Kernel.
func (k *LeakyRelu) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	return ewFloatUnary(ctx, in[0],
		func(d, s []float32) { tensor.LeakyRelu(d, s, k.Alpha) },
		func(d, s []float64) { tensor.LeakyRelu(d, s, float64(k.Alpha)) })
}

// Elu is x for x >= 0 and Alpha*(exp(x)-1) below.
type Elu struct{ Alpha float32 }

func buildElu(n *Node, opset int) (Kernel, error) {
	if err := ewInputs(n, 1, 1); err != nil {
		return nil, err
	}
	a := n.AttrReader()
	k := &Elu{Alpha: a.Float("alpha", 1)}
	return k, a.Err()
}

// Run implements Kernel.
func (k *Elu) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	return ewFloatUnary(ctx, in[0],
		func(d, s []float32) { tensor.Elu(d, s, k.Alpha) },
		func(d, s []float64) { tensor.Elu(d, s, float64(k.Alpha)) })
}

// Gelu is x·Φ(x) (opset 20), Φ the standard normal CDF or, with Tanh (approximate="tanh"),
// its tanh approximation.
type Gelu struct{ Tanh bool }

func buildGelu(n *Node, opset int) (Kernel, error) {
	if err := ewInputs(n, 1, 1); err != nil {
		return nil, err
	}
	a := n.AttrReader()
	k := &Gelu{}
	switch approx := a.String("approximate", "none"); approx {
	case "none":
	case "tanh":
		k.Tanh = true
	default:
		a.Fail("approximate is %q, want \"none\" or \"tanh\"", approx)
	}
	return k, a.Err()
}

// Run implements Kernel.
func (k *Gelu) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	return ewFloatUnary(ctx, in[0],
		func(d, s []float32) { tensor.Gelu(d, s, k.Tanh) },
		func(d, s []float64) { tensor.Gelu(d, s, k.Tanh) })
}

// Selu is Gamma*x for x > 0 and Gamma*Alpha*(exp(x)-1) elsewhere.
type Selu struct{ Alpha, Gamma float32 }

func buildSelu(n *Node, opset int) (Kernel, error) {
	if err := ewInputs(n, 1, 1); err != nil {
		return nil, err
	}
	a := n.AttrReader()
	// The defaults are the float32 values of the constants from the SELU paper, as ONNX
	// writes them.
	k := &Selu{Alpha: a.Float("alpha", 1.67326319217681884765625), Gamma: a.Float("gamma", 1.05070102214813232421875)}
	return k, a.Err()
}

// Run implements Kernel.
func (k *Selu) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	return ewFloatUnary(ctx, in[0],
		func(d, s []float32) { tensor.Selu(d, s, k.Alpha, k.Gamma) },
		func(d, s []float64) { tensor.Selu(d, s, float64(k.Alpha), float64(k.Gamma)) })
}

// HardSigmoid is max(0, min(1, Alpha*x + Beta)).
type HardSigmoid struct{ Alpha, Beta float32 }

func buildHardSigmoid(n *Node, opset int) (Kernel, error) {
	if err := ewInputs(n, 1, 1); err != nil {
		return nil, err
	}
	a := n.AttrReader()
	k := &HardSigmoid{Alpha: a.Float("alpha", 0.2), Beta: a.Float("beta", 0.5)}
	return k, a.Err()
}

// Run implements Kernel.
func (k *HardSigmoid) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	return ewFloatUnary(ctx, in[0],
		func(d, s []float32) { tensor.HardSigmoid(d, s, k.Alpha, k.Beta) },
		func(d, s []float64) { tensor.HardSigmoid(d, s, float64(k.Alpha), float64(k.Beta)) })
}

// PRelu is LeakyRelu with a slope tensor that broadcasts to the input's shape.
type PRelu struct {
	// Legacy marks opsets before 7, where a 1-D slope as long as the input's dimension 1
	// holds one slope per channel (as PyTorch's exporter wrote nn.PReLU), not per element of
	// the last dimension as numpy broadcasting would read it.
	Legacy bool
}

func buildPRelu(legacy bool) BuildFunc {
	return func(n *Node, opset int) (Kernel, error) {
		if err := ewInputs(n, 2, 2); err != nil {
			return nil, err
		}
		return &PRelu{Legacy: legacy}, nil
	}
}

// SlopeShape returns the shape the slope broadcasts from onto x's shape, or an error if it
// does not broadcast to exactly x's shape.
func (k *PRelu) SlopeShape(x, slope []int) ([]int, error) {
	s := slope
	if k.Legacy && len(slope) == 1 && len(x) >= 2 && slope[0] == x[1] && slope[0] != 1 {
		s = make([]int, len(x)-1)
		for i := range s {
			s[i] = 1
		}
		s[0] = slope[0]
	}
	if out, err := tensor.BroadcastShapes(x, s); err != nil || !tensor.EqualShapes(out, x) {
		return nil, fmt.Errorf("the slope %v does not broadcast to the input %v", slope, x)
	}
	return s, nil
}

// Run implements Kernel.
func (k *PRelu) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	x, slope := in[0], in[1]
	if x == nil || slope == nil {
		return nil, fmt.Errorf("both inputs are required")
	}
	if x.DType() != slope.DType() {
		return nil, fmt.Errorf("X is %v and the slope %v; the dtypes must match", x, slope)
	}
	s, err := k.SlopeShape(x.Shape(), slope.Shape())
	if err != nil {
		return nil, err
	}
	bc, err := tensor.NewBroadcast(x.Shape(), s)
	if err != nil {
		return nil, err
	}
	dt := x.DType()
	if x, err = ewWiden(x); err != nil {
		return nil, err
	}
	if slope, err = ewWiden(slope); err != nil {
		return nil, err
	}
	out := newOutput(ctx, x.DType(), x.Shape())
	switch d := out.Data().(type) {
	case []float32:
		tensor.PRelu(bc, d, x.Float32s(), slope.Float32s())
	case []float64:
		tensor.PRelu(bc, d, tensor.Data[float64](x), tensor.Data[float64](slope))
	default:
		return nil, fmt.Errorf("got %v, want a floating-point tensor", x)
	}
	if out, err = ewNarrow(out, dt); err != nil {
		return nil, err
	}
	return ctx.one(out)
}

// Clip limits its input to [min, max].
type Clip struct {
	// Min and Max are the bounds of the attribute form, before opset 11.
	Min, Max float32
	// FromInputs is set from opset 11: the bounds are the optional inputs 1 and 2, one
	// element each, of the input's dtype; a missing one does not bound.
	FromInputs bool
	// Integers allows integer inputs (opset 12).
	Integers bool
}

func buildClipAttrs(n *Node, opset int) (Kernel, error) {
	if err := ewInputs(n, 1, 1); err != nil {
		return nil, err
	}
	a := n.AttrReader()
	k := &Clip{Min: a.Float("min", -math.MaxFloat32), Max: a.Float("max", math.MaxFloat32)}
	return k, a.Err()
}

func buildClipInputs(integers bool) BuildFunc {
	return func(n *Node, opset int) (Kernel, error) {
		if err := ewInputs(n, 1, 3); err != nil {
			return nil, err
		}
		return &Clip{FromInputs: true, Integers: integers}, nil
	}
}

// Run implements Kernel.
func (k *Clip) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	x := in[0]
	if x == nil {
		return nil, fmt.Errorf("the input is required")
	}
	if !k.FromInputs {
		return ewFloatUnary(ctx, x,
			func(d, s []float32) { tensor.Clip(d, s, k.Min, k.Max) },
			func(d, s []float64) { tensor.Clip(d, s, float64(k.Min), float64(k.Max)) })
	}
	if x.DType().IsInteger() && !k.Integers {
		return nil, fmt.Errorf("got %v; Clip takes integers from opset 12", x)
	}
	bounds := [2]*tensor.Tensor{}
	for i := range bounds {
		if len(in) <= i+1 || in[i+1] == nil {
			continue
		}
		b := in[i+1]
		if b.DType() != x.DType() || b.Len() != 1 {
			return nil, fmt.Errorf("bound %d is %v, want one %v element", i+1, b, x.DType())
		}
		bounds[i] = b
	}
	dt := x.DType()
	var err error
	if x, err = ewWiden(x); err != nil {
		return nil, err
	}
	for i := range bounds {
		if bounds[i], err = ewWiden(bounds[i]); err != nil {
			return nil, err
		}
	}
	out := newOutput(ctx, x.DType(), x.Shape())
	lo, hi := bounds[0], bounds[1]
	switch d := out.Data().(type) {
	case []float32:
		ewClip(d, x.Float32s(), lo, hi)
	case []float64:
		ewClip(d, tensor.Data[float64](x), lo, hi)
	case []int8:
		ewClip(d, tensor.Data[int8](x), lo, hi)
	case []int16:
		ewClip(d, tensor.Data[int16](x), lo, hi)
	case []int32:
		ewClip(d, tensor.Data[int32](x), lo, hi)
	case []int64:
		ewClip(d, tensor.Data[int64](x), lo, hi)
	case []uint8:
		ewClip(d, tensor.Data[uint8](x), lo, hi)
	case []uint16:
		ewClip(d, tensor.Data[uint16](x), lo, hi)
	case []uint32:
		ewClip(d, tensor.Data[uint32](x), lo, hi)
	case []uint64:
		ewClip(d, tensor.Data[uint64](x), lo, hi)
	default:
		return nil, fmt.Errorf("Clip of %v is not supported", x)
	}
	if out, err = ewNarrow(out, dt); err != nil {
		return nil, err
	}
	return ctx.one(out)
}

// ewClip clips src into d between the one-element tensors lo and hi, of src's type; a nil
// bound is the type's extreme.
func ewClip[T tensor.Number](d, src []T, lo, hi *tensor.Tensor) {
	l, h := ewLimits[T]()
	if lo != nil {
		l = tensor.Data[T](lo)[0]
	}
	if hi != nil {
		h = tensor.Data[T](hi)[0]
	}
	tensor.Clip(d, src, l, h)
}

// ewLimits returns the least and greatest values of T (the infinities for floats).
func ewLimits[T tensor.Number]() (lo, hi T) {
	var v [2]any
	switch any(lo).(type) {
	case float32:
		v = [2]any{float32(math.Inf(-1)), float32(math.Inf(1))}
	case float64:
		v = [2]any{math.Inf(-1), math.Inf(1)}
	case int8:
		v = [2]any{int8(math.MinInt8), int8(math.MaxInt8)}
	case int16:
		v = [2]any{int16(math.MinInt16), int16(math.MaxInt16)}
	case int32:
		v = [2]any{int32(math.MinInt32), int32(math.MaxInt32)}
	case int64:
		v = [2]any{int64(math.MinInt64), int64(math.MaxInt64)}
	case uint8:
		v = [2]any{uint8(0), uint8(math.MaxUint8)}
	case uint16:
		v = [2]any{uint16(0), uint16(math.MaxUint16)}
	case uint32:
		v = [2]any{uint32(0), uint32(math.MaxUint32)}
	case uint64:
		v = [2]any{uint64(0), uint64(math.MaxUint64)}
	}
	return v[0].(T), v[1].(T)
}

// Softmax is Softmax, or LogSoftmax when Log is set.
type Softmax struct {
	Axis int // as the attribute gives it: negative counts from the end
	Log  bool
	// Coerce2D is set before opset 13: the input is seen as a matrix of the dimensions
	// before Axis by those from Axis on, and each row is normalised.
	Coerce2D bool
}

func buildSoftmax(op string, coerce bool) BuildFunc {
	return func(n *Node, opset int) (Kernel, error) {
		if err := ewInputs(n, 1, 1); err != nil {
			return nil, err
		}
		def := int64(-1)
		if coerce {
			def = 1
		}
		a := n.AttrReader()
		k := &Softmax{Axis: int(a.Int("axis", def)), Log: op == "LogSoftmax", Coerce2D: coerce}
		return k, a.Err()
	}
}

// Dims returns the [outer, n, inner] view of an input of the given shape that the
// normalisation runs along n of.
func (k *Softmax) Dims(shape []int) (outer, n, inner int, err error) {
	r := len(shape)
	axis := k.Axis
	if axis < 0 {
		axis += r
	}
	top := r - 1
	if k.Coerce2D {
		top = r // axis r makes every row one element long
	}
	if axis < 0 || axis > top {
		return 0, 0, 0, fmt.Errorf("axis %d is out of range for an input of rank %d", k.Axis, r)
	}
	outer = tensor.Size(shape[:axis])
	if k.Coerce2D {
		return outer, tensor.Size(shape[axis:]), 1, nil
	}
	return outer, shape[axis], tensor.Size(shape[axis+1:]), nil
}

// Run implements Kernel.
func (k *Softmax) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	x := in[0]
	if x == nil {
		return nil, fmt.Errorf("the input is required")
	}
	outer, n, inner, err := k.Dims(x.Shape())
	if err != nil {
		return nil, err
	}
	if k.Log {
		return ewFloatUnary(ctx, x,
			func(d, s []float32) { tensor.LogSoftmax(d, s, outer, n, inner) },
			func(d, s []float64) { tensor.LogSoftmax(d, s, outer, n, inner) })
	}
	return ewFloatUnary(ctx, x,
		func(d, s []float32) { tensor.Softmax(d, s, outer, n, inner) },
		func(d, s []float64) { tensor.Softmax(d, s, outer, n, inner) })
}
