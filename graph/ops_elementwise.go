package graph

import (
	"fmt"

	"github.com/onnxtune/onnxtune/tensor"
)

// The element-wise family: numpy-broadcasting arithmetic and comparison, the variadic folds,
// Where, Expand and the plain unary functions. The numerics live in tensor (Broadcast and the
// generic kernels); this file picks the Go element type for each dtype. Float16 and bfloat16
// tensors are widened to float32, computed there and narrowed back.

func init() {
	// Before opset 7 the second operand broadcast only when asked, through the `broadcast`
	// and `axis` attributes; from 7 on, numpy broadcasting is implicit. Later versions only
	// added element types. Pow 12 lets the exponent's type differ from the base's.
	for _, op := range []string{"Add", "Sub", "Mul", "Div", "Pow", "Equal"} {
		Register(OpDef{Type: op, Since: 1, Build: buildBinary(op, true, false)})
		Register(OpDef{Type: op, Since: 7, Build: buildBinary(op, false, false)})
	}
	Register(OpDef{Type: "Pow", Since: 12, Build: buildBinary("Pow", false, true)})
	// The order comparisons: Less and Greater from opset 1 (legacy broadcasting before 7),
	// LessOrEqual and GreaterOrEqual from 12; later versions only added element types.
	for _, op := range []string{"Less", "Greater"} {
		Register(OpDef{Type: op, Since: 1, Build: buildBinary(op, true, false)})
		Register(OpDef{Type: op, Since: 7, Build: buildBinary(op, false, false)})
	}
	for _, op := range []string{"LessOrEqual", "GreaterOrEqual"} {
		Register(OpDef{Type: op, Since: 12, Build: buildBinary(op, false, false)})
	}
	// The variadic folds broadcast their inputs from opset 8; before, all shapes were equal.
	for _, op := range []string{"Max", "Min", "Sum", "Mean"} {
		Register(OpDef{Type: op, Since: 1, Build: buildVariadic(op, false)})
		Register(OpDef{Type: op, Since: 8, Build: buildVariadic(op, true)})
	}
	Register(OpDef{Type: "Where", Since: 9, Build: buildWhere})
	Register(OpDef{Type: "Expand", Since: 8, Build: buildExpand})
	// Version 6 of these only dropped the `consumed_inputs` attribute, which nothing reads.
	for _, op := range []string{"Sqrt", "Exp", "Log", "Neg", "Abs"} {
		Register(OpDef{Type: op, Since: 1, Build: buildUnary(op)})
	}
	Register(OpDef{Type: "Erf", Since: 9, Build: buildUnary("Erf")})
}

var (
	_ Kernel = (*Binary)(nil)
	_ Kernel = (*Variadic)(nil)
	_ Kernel = Where{}
	_ Kernel = Expand{}
	_ Kernel = (*Unary)(nil)
)

// ewInputs checks that a node has between lo and hi inputs (hi < 0: no limit) and returns
// an error naming the node otherwise.
func ewInputs(n *Node, lo, hi int) error {
	if len(n.Inputs) < lo || hi >= 0 && len(n.Inputs) > hi {
		want := fmt.Sprintf("%d to %d", lo, hi)
		switch {
		case lo == hi:
			want = fmt.Sprint(lo)
		case hi < 0:
			want = fmt.Sprintf("at least %d", lo)
		}
		return fmt.Errorf("%s: has %d inputs, want %s", n, len(n.Inputs), want)
	}
	return nil
}

// ewHalf reports whether dt is a 16-bit float, computed here in float32.
func ewHalf(dt tensor.DType) bool { return dt == tensor.Float16 || dt == tensor.BFloat16 }

// ewWiden returns t converted to float32 if it is a 16-bit float, t itself otherwise.
func ewWiden(t *tensor.Tensor) (*tensor.Tensor, error) {
	if t == nil || !ewHalf(t.DType()) {
		return t, nil
	}
	return tensor.CastTensor(nil, t, tensor.Float32)
}

// ewNarrow converts a float32 result back to the 16-bit dtype dt its inputs had; for any
// other dt it returns t.
func ewNarrow(t *tensor.Tensor, dt tensor.DType) (*tensor.Tensor, error) {
	if !ewHalf(dt) || t.DType() != tensor.Float32 {
		return t, nil
	}
	return tensor.CastTensor(nil, t, dt)
}

// Binary is an element-wise operator on two inputs with numpy broadcasting: Add, Sub, Mul,
// Div, Pow (the result has the base's type) and the comparisons Equal, Less, LessOrEqual,
// Greater and GreaterOrEqual (the result is bool).
type Binary struct {
	Op string
	// Legacy marks opsets before 7: B broadcasts to A's shape only when Broadcast is set,
	// with B's dimensions lined up with A's from Axis on (from the right when HasAxis is
	// false); otherwise the shapes must be equal.
	Legacy    bool
	Broadcast bool
	Axis      int
	HasAxis   bool
	// MixedTypes allows Pow's exponent to have another type than its base (opset 12).
	MixedTypes bool
}

func buildBinary(op string, legacy, mixed bool) BuildFunc {
	return func(n *Node, opset int) (Kernel, error) {
		if err := ewInputs(n, 2, 2); err != nil {
			return nil, err
		}
		k := &Binary{Op: op, Legacy: legacy, MixedTypes: mixed}
		if legacy {
			a := n.AttrReader()
			k.Broadcast = a.Int("broadcast", 0) != 0
			k.HasAxis = a.Has("axis")
			k.Axis = int(a.Int("axis", 0))
			if err := a.Err(); err != nil {
				return nil, err
			}
		}
		return k, nil
	}
}

// OperandShape returns the shape B is broadcast from: B's own, or under the legacy rule its
// dimensions placed at Axis among 1s, so that numpy broadcasting then does what the old
// attributes asked.
func (k *Binary) OperandShape(a, b []int) ([]int, error) {
	if !k.Legacy {
		return b, nil
	}
	if !k.Broadcast {
		if !tensor.EqualShapes(a, b) {
			return nil, fmt.Errorf("shapes %v and %v differ and the broadcast attribute is 0 (opset < 7 broadcasts only when asked)", a, b)
		}
		return b, nil
	}
	axis := len(a) - len(b)
	if k.HasAxis {
		axis = k.Axis
		if axis < 0 {
			axis += len(a)
		}
	}
	if axis < 0 || axis+len(b) > len(a) {
		return nil, fmt.Errorf("cannot broadcast B %v into A %v at axis %d", b, a, k.Axis)
	}
	s := make([]int, len(a))
	for i := range s {
		s[i] = 1
	}
	copy(s[axis:], b)
	if out, err := tensor.BroadcastShapes(a, s); err != nil || !tensor.EqualShapes(out, a) {
		return nil, fmt.Errorf("cannot broadcast B %v into A %v at axis %d", b, a, axis)
	}
	return s, nil
}

// Run implements Kernel.
func (k *Binary) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	a, b := in[0], in[1]
	if a == nil || b == nil {
		return nil, fmt.Errorf("both inputs are required")
	}
	if a.DType() != b.DType() && !k.MixedTypes {
		return nil, fmt.Errorf("inputs are %v and %v; the dtypes must match", a, b)
	}
	bShape, err := k.OperandShape(a.Shape(), b.Shape())
	if err != nil {
		return nil, err
	}
	bc, err := tensor.NewBroadcast(a.Shape(), bShape)
	if err != nil {
		return nil, err
	}
	dt := a.DType()
	if a, err = ewWiden(a); err != nil {
		return nil, err
	}
	if b, err = ewWiden(b); err != nil {
		return nil, err
	}
	outDT := a.DType()
	if isComparison(k.Op) {
		outDT = tensor.Bool
	}
	out := newOutput(ctx, outDT, bc.Shape())
	if err := ewBinary(k.Op, bc, out, a, b); err != nil {
		return nil, err
	}
	out, err = ewNarrow(out, dt)
	if err != nil {
		return nil, err
	}
	return ctx.one(out)
}

// isComparison reports whether op is a binary operator whose result is bool.
func isComparison(op string) bool {
	switch op {
	case "Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual":
		return true
	}
	return false
}

// ewBinary computes out = a op b over bc, for inputs of one dtype (Pow: any two numeric
// dtypes) that ewWiden has seen. out may be a itself.
func ewBinary(op string, bc *tensor.Broadcast, out, a, b *tensor.Tensor) error {
	switch x := a.Data().(type) {
	case []float32:
		return ewBinaryT(op, bc, out, x, b)
	case []float64:
		return ewBinaryT(op, bc, out, x, b)
	case []int8:
		return ewBinaryT(op, bc, out, x, b)
	case []int16:
		return ewBinaryT(op, bc, out, x, b)
	case []int32:
		return ewBinaryT(op, bc, out, x, b)
	case []int64:
		return ewBinaryT(op, bc, out, x, b)
	case []uint8:
		return ewBinaryT(op, bc, out, x, b)
	case []uint16:
		return ewBinaryT(op, bc, out, x, b)
	case []uint32:
		return ewBinaryT(op, bc, out, x, b)
	case []uint64:
		return ewBinaryT(op, bc, out, x, b)
	case []bool:
		if op == "Equal" {
			tensor.Equal(bc, tensor.Data[bool](out), x, tensor.Data[bool](b))
			return nil
		}
	}
	return fmt.Errorf("%s is not defined on %v", op, a.DType())
}

func ewBinaryT[T tensor.Number](op string, bc *tensor.Broadcast, out *tensor.Tensor, x []T, b *tensor.Tensor) error {
	if op == "Pow" {
		return ewPow(bc, tensor.Data[T](out), x, b)
	}
	y, d := tensor.Data[T](b), tensor.Data[T](out)
	switch op {
	case "Add":
		tensor.Add(bc, d, x, y)
	case "Sub":
		tensor.Sub(bc, d, x, y)
	case "Mul":
		tensor.Mul(bc, d, x, y)
	case "Div":
		if b.DType().IsInteger() && tensor.HasZero(y) {
			return fmt.Errorf("integer division by zero: the divisor %v holds a 0", b)
		}
		tensor.Div(bc, d, x, y)
	case "Max":
		tensor.Max(bc, d, x, y)
	case "Min":
		tensor.Min(bc, d, x, y)
	case "Equal":
		tensor.Equal(bc, tensor.Data[bool](out), x, y)
	case "Less":
		tensor.Less(bc, tensor.Data[bool](out), x, y)
	case "LessOrEqual":
		tensor.LessOrEqual(bc, tensor.Data[bool](out), x, y)
	case "Greater":
		tensor.Greater(bc, tensor.Data[bool](out), x, y)
	case "GreaterOrEqual":
		tensor.GreaterOrEqual(bc, tensor.Data[bool](out), x, y)
	default:
		return fmt.Errorf("unknown element-wise operator %s", op)
	}
	return nil
}

// ewPow picks the exponent's element type.
func ewPow[T tensor.Number](bc *tensor.Broadcast, d, x []T, b *tensor.Tensor) error {
	switch y := b.Data().(type) {
	case []float32:
		tensor.Pow(bc, d, x, y)
	case []float64:
		tensor.Pow(bc, d, x, y)
	case []int8:
		tensor.Pow(bc, d, x, y)
	case []int16:
		tensor.Pow(bc, d, x, y)
	case []int32:
		tensor.Pow(bc, d, x, y)
	case []int64:
		tensor.Pow(bc, d, x, y)
	case []uint8:
		tensor.Pow(bc, d, x, y)
	case []uint16:
		tensor.Pow(bc, d, x, y)
	case []uint32:
		tensor.Pow(bc, d, x, y)
	case []uint64:
		tensor.Pow(bc, d, x, y)
	default:
		return fmt.Errorf("the exponent %v is not numeric", b)
	}
	return nil
}

// Variadic folds any number of inputs with an element-wise operator: Max, Min, Sum and Mean
// (Sum divided by the count).
type Variadic struct {
	Op string
	// Broadcast is set from opset 8; before, every input must have the same shape.
	Broadcast bool
}

func buildVariadic(op string, broadcast bool) BuildFunc {
	return func(n *Node, opset int) (Kernel, error) {
		if err := ewInputs(n, 1, -1); err != nil {
			return nil, err
		}
		return &Variadic{Op: op, Broadcast: broadcast}, nil
	}
}

// Run implements Kernel.
func (k *Variadic) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	shapes := make([][]int, len(in))
	for i, t := range in {
		if t == nil {
			return nil, fmt.Errorf("input %d is missing", i)
		}
		if t.DType() != in[0].DType() {
			return nil, fmt.Errorf("input %d is %v but input 0 is %v; the dtypes must match", i, t, in[0])
		}
		if !k.Broadcast && !tensor.EqualShapes(t.Shape(), in[0].Shape()) {
			return nil, fmt.Errorf("input %d is %v but input 0 is %v; before opset 8 the shapes must match", i, t, in[0])
		}
		shapes[i] = t.Shape()
	}
	dt := in[0].DType()
	if k.Op == "Mean" && !dt.IsFloat() {
		return nil, fmt.Errorf("Mean of %v inputs; it takes floating-point ones", dt)
	}
	shape, err := tensor.BroadcastShapes(shapes...)
	if err != nil {
		return nil, err
	}
	first, err := ewWiden(in[0])
	if err != nil {
		return nil, err
	}
	out := tensor.New(first.DType(), shape...)
	bc, err := tensor.NewBroadcast(first.Shape(), shape)
	if err != nil {
		return nil, err
	}
	ewExpand(bc, out, first)
	op := k.Op
	if op == "Sum" || op == "Mean" {
		op = "Add"
	}
	for _, t := range in[1:] {
		if t, err = ewWiden(t); err != nil {
			return nil, err
		}
		bc, err := tensor.NewBroadcast(shape, t.Shape())
		if err != nil {
			return nil, err
		}
		if err := ewBinary(op, bc, out, out, t); err != nil {
			return nil, err
		}
	}
	if k.Op == "Mean" && len(in) > 1 {
		switch d := out.Data().(type) {
		case []float32:
			tensor.Scale(d, d, 1/float32(len(in)))
		case []float64:
			tensor.Scale(d, d, 1/float64(len(in)))
		}
	}
	if out, err = ewNarrow(out, dt); err != nil {
		return nil, err
	}
	return ctx.one(out)
}

// Where picks, element by element, from X where the condition holds and from Y elsewhere,
// the three inputs broadcasting together.
type Where struct{}

func buildWhere(n *Node, opset int) (Kernel, error) {
	if err := ewInputs(n, 3, 3); err != nil {
		return nil, err
	}
	return Where{}, nil
}

// Run implements Kernel.
func (Where) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	c, x, y := in[0], in[1], in[2]
	if c == nil || x == nil || y == nil {
		return nil, fmt.Errorf("all three inputs are required")
	}
	if c.DType() != tensor.Bool {
		return nil, fmt.Errorf("the condition is %v, want bool", c)
	}
	if x.DType() != y.DType() {
		return nil, fmt.Errorf("X is %v and Y is %v; the dtypes must match", x, y)
	}
	bc, err := tensor.NewBroadcast(c.Shape(), x.Shape(), y.Shape())
	if err != nil {
		return nil, err
	}
	out := tensor.New(x.DType(), bc.Shape()...)
	cond := tensor.Data[bool](c)
	switch d := out.Data().(type) {
	case []float32:
		tensor.Where(bc, d, cond, x.Float32s(), tensor.Data[float32](y))
	case []float64:
		tensor.Where(bc, d, cond, tensor.Data[float64](x), tensor.Data[float64](y))
	case []uint16: // uint16 and both 16-bit floats: the bits are copied as they are
		tensor.Where(bc, d, cond, tensor.Data[uint16](x), tensor.Data[uint16](y))
	case []int8:
		tensor.Where(bc, d, cond, tensor.Data[int8](x), tensor.Data[int8](y))
	case []int16:
		tensor.Where(bc, d, cond, tensor.Data[int16](x), tensor.Data[int16](y))
	case []int32:
		tensor.Where(bc, d, cond, tensor.Data[int32](x), tensor.Data[int32](y))
	case []int64:
		tensor.Where(bc, d, cond, tensor.Data[int64](x), tensor.Data[int64](y))
	case []uint8:
		tensor.Where(bc, d, cond, tensor.Data[uint8](x), tensor.Data[uint8](y))
	case []uint32:
		tensor.Where(bc, d, cond, tensor.Data[uint32](x), tensor.Data[uint32](y))
	case []uint64:
		tensor.Where(bc, d, cond, tensor.Data[uint64](x), tensor.Data[uint64](y))
	case []bool:
		tensor.Where(bc, d, cond, tensor.Data[bool](x), tensor.Data[bool](y))
	default:
		return nil, fmt.Errorf("where of %v is not supported", x)
	}
	return ctx.one(out)
}

// Expand broadcasts its input to the broadcast of its shape and the requested one (so a
// requested 1 keeps the input's dimension).
type Expand struct{}

func buildExpand(n *Node, opset int) (Kernel, error) {
	if err := ewInputs(n, 2, 2); err != nil {
		return nil, err
	}
	return Expand{}, nil
}

// Run implements Kernel.
func (Expand) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	x, s := in[0], in[1]
	if x == nil || s == nil {
		return nil, fmt.Errorf("both inputs are required")
	}
	if s.Rank() != 1 || s.DType() != tensor.Int64 {
		return nil, fmt.Errorf("the shape is %v, want a 1-D int64 tensor", s)
	}
	shape := make([]int, s.Len())
	for i, d := range s.Int64s() {
		if d < 0 {
			return nil, fmt.Errorf("the shape %v has a negative dimension", s.Int64s())
		}
		shape[i] = int(d)
	}
	bc, err := tensor.NewBroadcast(x.Shape(), shape)
	if err != nil {
		return nil, err
	}
	out := tensor.New(x.DType(), bc.Shape()...)
	ewExpand(bc, out, x)
	return ctx.one(out)
}

// ewExpand copies x, operand 0 of bc, into out of the broadcast shape; the dtypes match.
func ewExpand(bc *tensor.Broadcast, out, x *tensor.Tensor) {
	switch d := out.Data().(type) {
	case []float32:
		tensor.Expand(bc, d, x.Float32s())
	case []float64:
		tensor.Expand(bc, d, tensor.Data[float64](x))
	case []uint16:
		tensor.Expand(bc, d, tensor.Data[uint16](x))
	case []int8:
		tensor.Expand(bc, d, tensor.Data[int8](x))
	case []int16:
		tensor.Expand(bc, d, tensor.Data[int16](x))
	case []int32:
		tensor.Expand(bc, d, tensor.Data[int32](x))
	case []int64:
		tensor.Expand(bc, d, tensor.Data[int64](x))
	case []uint8:
		tensor.Expand(bc, d, tensor.Data[uint8](x))
	case []uint32:
		tensor.Expand(bc, d, tensor.Data[uint32](x))
	case []uint64:
		tensor.Expand(bc, d, tensor.Data[uint64](x))
	case []bool:
		tensor.Expand(bc, d, tensor.Data[bool](x))
	}
}

// Unary is an element-wise function without attributes: Sqrt, Exp, Log, Neg, Abs, Erf, and the
// activations Relu, Sigmoid, Tanh, Softplus and HardSwish. Neg, Abs and Relu also take
// integers.
type Unary struct {
	Op string

	f32 func(dst, src []float32)
	f64 func(dst, src []float64)
}

func buildUnary(op string) BuildFunc {
	return func(n *Node, opset int) (Kernel, error) {
		if err := ewInputs(n, 1, 1); err != nil {
			return nil, err
		}
		k := &Unary{Op: op}
		switch op {
		case "Sqrt":
			k.f32, k.f64 = tensor.Sqrt[float32], tensor.Sqrt[float64]
		case "Exp":
			k.f32, k.f64 = tensor.Exp[float32], tensor.Exp[float64]
		case "Log":
			k.f32, k.f64 = tensor.Log[float32], tensor.Log[float64]
		case "Neg":
			k.f32, k.f64 = tensor.Neg[float32], tensor.Neg[float64]
		case "Abs":
			k.f32, k.f64 = tensor.Abs[float32], tensor.Abs[float64]
		case "Erf":
			k.f32, k.f64 = tensor.Erf[float32], tensor.Erf[float64]
		case "Relu":
			k.f32, k.f64 = tensor.Relu[float32], tensor.Relu[float64]
		case "Sigmoid":
			k.f32, k.f64 = tensor.Sigmoid[float32], tensor.Sigmoid[float64]
		case "Tanh":
			k.f32, k.f64 = tensor.Tanh[float32], tensor.Tanh[float64]
		case "Softplus":
			k.f32, k.f64 = tensor.Softplus[float32], tensor.Softplus[float64]
		case "HardSwish":
			k.f32, k.f64 = tensor.HardSwish[float32], tensor.HardSwish[float64]
		default:
			return nil, fmt.Errorf("%s: no unary kernel for %s", n, op)
		}
		return k, nil
	}
}

// Run implements Kernel.
func (k *Unary) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	x := in[0]
	if x == nil {
		return nil, fmt.Errorf("the input is required")
	}
	if x.DType().IsInteger() {
		return ewIntUnary(ctx, k.Op, x)
	}
	return ewFloatUnary(ctx, x, k.f32, k.f64)
}

// ewFloatUnary applies a float kernel, f32 or f64 by x's dtype, into a new tensor; 16-bit
// floats go through float32. The kernel must write every element of dst: a float32 one comes
// from newOutput, unzeroed.
func ewFloatUnary(ctx *Context, x *tensor.Tensor, f32 func(dst, src []float32), f64 func(dst, src []float64)) ([]*tensor.Tensor, error) {
	if x == nil {
		return nil, fmt.Errorf("the input is required")
	}
	switch x.DType() {
	case tensor.Float32:
		out := newOutput(ctx, tensor.Float32, x.Shape())
		f32(out.Float32s(), x.Float32s())
		return ctx.one(out)
	case tensor.Float64:
		out := tensor.New(tensor.Float64, x.Shape()...)
		f64(tensor.Data[float64](out), tensor.Data[float64](x))
		return ctx.one(out)
	case tensor.Float16, tensor.BFloat16:
		w, err := ewWiden(x)
		if err != nil {
			return nil, err
		}
		f32(w.Float32s(), w.Float32s()) // w is a fresh copy: compute in place
		out, err := ewNarrow(w, x.DType())
		if err != nil {
			return nil, err
		}
		return ctx.one(out)
	}
	return nil, fmt.Errorf("got %v, want a floating-point tensor", x)
}

// ewIntUnary runs the unary operators that are defined on integers.
func ewIntUnary(ctx *Context, op string, x *tensor.Tensor) ([]*tensor.Tensor, error) {
	out := tensor.New(x.DType(), x.Shape()...)
	ok := true
	switch d := out.Data().(type) {
	case []int8:
		ok = ewSignedUnary(op, d, tensor.Data[int8](x))
	case []int16:
		ok = ewSignedUnary(op, d, tensor.Data[int16](x))
	case []int32:
		ok = ewSignedUnary(op, d, tensor.Data[int32](x))
	case []int64:
		ok = ewSignedUnary(op, d, tensor.Data[int64](x))
	case []uint8:
		ok = ewUnsignedUnary(op, d, tensor.Data[uint8](x))
	case []uint16:
		ok = ewUnsignedUnary(op, d, tensor.Data[uint16](x))
	case []uint32:
		ok = ewUnsignedUnary(op, d, tensor.Data[uint32](x))
	case []uint64:
		ok = ewUnsignedUnary(op, d, tensor.Data[uint64](x))
	default:
		ok = false
	}
	if !ok {
		return nil, fmt.Errorf("%s is not defined on %v", op, x)
	}
	return ctx.one(out)
}

func ewSignedUnary[T int8 | int16 | int32 | int64](op string, d, s []T) bool {
	switch op {
	case "Neg":
		tensor.Neg(d, s)
	case "Abs":
		tensor.Abs(d, s)
	case "Relu":
		tensor.Relu(d, s)
	default:
		return false
	}
	return true
}

// ewUnsignedUnary: Abs and Relu of an unsigned integer are the integer itself.
func ewUnsignedUnary[T uint8 | uint16 | uint32 | uint64](op string, d, s []T) bool {
	if op != "Abs" && op != "Relu" {
		return false
	}
	copy(d, s)
	return true
}

// newOutput returns a tensor for a kernel to overwrite every element of. A float32 one is
// not zeroed first: make zeroes a large slice on the allocating goroutine alone, before the
// kernel writes it again on every core, and on MobileNetV2 at batch 8 that zeroing took a
// fifth of the run. Other dtypes come from tensor.New.
func newOutput(ctx *Context, dt tensor.DType, shape []int) *tensor.Tensor {
	if dt != tensor.Float32 {
		return tensor.New(dt, shape...)
	}
	return ctx.tensor(shape, ctx.floats(tensor.Size(shape)))
}
