package graph

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"

	"github.com/onnxtune/onnxtune/tensor"
)

// The tensor family: operators that make, convert or pass on whole tensors (Cast, Constant,
// ConstantOfShape, Range, Identity, Dropout). Like the shape family they are registered at
// every changelog version up to opset 17 and branch on the opset where the meaning changed.

func init() {
	reg := func(op string, build BuildFunc, versions ...int) {
		for _, v := range versions {
			Register(OpDef{Type: op, Since: v, Build: build})
		}
	}
	reg("Cast", buildCast, 1, 6, 9, 13, 19)
	reg("Constant", buildConstant, 1, 9, 11, 12, 13)
	reg("ConstantOfShape", buildConstantOfShape, 9)
	reg("Range", buildRange, 11)
	reg("Identity", buildIdentity, 1, 13, 14, 16)
	reg("Dropout", buildDropout, 1, 6, 7, 10, 12, 13)
}

var (
	_ Kernel = (*Cast)(nil)
	_ Kernel = (*Constant)(nil)
	_ Kernel = (*ConstantOfShape)(nil)
	_ Kernel = Range{}
	_ Kernel = Identity{}
	_ Kernel = (*Dropout)(nil)
)

// tensorONNXTypes maps ONNX's TensorProto.DataType codes, and the names Cast-1 spelled them
// with, to dtypes. Package onnx has the same table, but graph cannot import onnx (onnx imports
// graph); the codes are fixed by the ONNX standard.
var tensorONNXTypes = []struct {
	code int64
	name string
	dt   tensor.DType
}{
	{1, "FLOAT", tensor.Float32}, {2, "UINT8", tensor.Uint8}, {3, "INT8", tensor.Int8},
	{4, "UINT16", tensor.Uint16}, {5, "INT16", tensor.Int16}, {6, "INT32", tensor.Int32},
	{7, "INT64", tensor.Int64}, {8, "STRING", tensor.Undefined}, {9, "BOOL", tensor.Bool},
	{10, "FLOAT16", tensor.Float16}, {11, "DOUBLE", tensor.Float64}, {12, "UINT32", tensor.Uint32},
	{13, "UINT64", tensor.Uint64}, {14, "COMPLEX64", tensor.Undefined},
	{15, "COMPLEX128", tensor.Undefined}, {16, "BFLOAT16", tensor.BFloat16},
	// Opset 19's 8-bit floats (Cast's saturate attribute governs conversions to them) and
	// the 4-bit types of 21 are recognised but not held.
	{17, "FLOAT8E4M3FN", tensor.Undefined}, {18, "FLOAT8E4M3FNUZ", tensor.Undefined},
	{19, "FLOAT8E5M2", tensor.Undefined}, {20, "FLOAT8E5M2FNUZ", tensor.Undefined},
	{21, "UINT4", tensor.Undefined}, {22, "INT4", tensor.Undefined},
}

// Cast converts its input to dtype To (see tensor.CastTensor for the conversion rules).
// Strings are not supported: onnxtune's tensors hold numbers.
type Cast struct {
	To tensor.DType
}

func buildCast(n *Node, opset int) (Kernel, error) {
	if err := shapeArity(n, 1, 1); err != nil {
		return nil, err
	}
	a := n.AttrReader()
	if !a.Has("to") {
		a.Fail("the to attribute is missing")
		return nil, a.Err()
	}
	if opset >= 19 {
		// saturate only changes conversions to the 8-bit floats, which are refused below;
		// it is checked for its values all the same.
		if s := a.Int("saturate", 1); s != 0 && s != 1 {
			a.Fail("saturate is %d, want 0 or 1", s)
		}
	}
	// Cast-1 names the type ("FLOAT"), later versions give its code; accept either at any
	// opset, since exporters of the time were not consistent.
	var code int64
	var name string
	if at, _ := a.Attr("to"); at.Type == AttrString {
		name = strings.ToUpper(at.String)
	} else if code = a.Int("to", 0); a.Err() != nil {
		return nil, a.Err()
	}
	for _, t := range tensorONNXTypes {
		if t.code == code || t.name == name {
			if t.dt == tensor.Undefined {
				return nil, fmt.Errorf("%s: cast to %s is not supported: onnxtune holds no %s tensors", n, t.name, t.name)
			}
			return &Cast{To: t.dt}, nil
		}
	}
	return nil, fmt.Errorf("%s: cast to unknown type %d%s", n, code, name)
}

// Run implements Kernel.
func (k *Cast) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if in[0].DType() == k.To {
		return ctx.one(in[0]) // nothing to convert, and kernels never mutate their inputs
	}
	y, err := tensor.CastTensor(nil, in[0], k.To)
	if err != nil {
		return nil, err
	}
	return ctx.one(y)
}

// Constant outputs the tensor its attributes hold: value, or from opset 12 one of value_float,
// value_floats, value_int and value_ints. Every run returns the same tensor, which kernels
// never mutate.
type Constant struct {
	Value *tensor.Tensor
}

func buildConstant(n *Node, opset int) (Kernel, error) {
	if err := shapeArity(n, 0, 0); err != nil {
		return nil, err
	}
	a := n.AttrReader()
	var vals []*tensor.Tensor
	for name, at := range n.Attrs {
		switch name {
		case "value":
			if at.Type != AttrTensor || at.Tensor == nil {
				a.Fail("the value attribute is not a tensor")
				continue
			}
			vals = append(vals, at.Tensor)
		case "value_float":
			vals = append(vals, tensor.Scalar(a.Float(name, 0)))
		case "value_floats":
			f := a.Floats(name, nil)
			vals = append(vals, tensor.From([]int{len(f)}, append([]float32(nil), f...)))
		case "value_int":
			vals = append(vals, tensor.Scalar(a.Int(name, 0)))
		case "value_ints":
			v := a.Ints(name, nil)
			vals = append(vals, tensor.From([]int{len(v)}, append([]int64(nil), v...)))
		case "value_string", "value_strings":
			a.Fail("string constants are not supported: onnxtune tensors hold numbers and booleans")
		case "sparse_value":
			a.Fail("sparse constants are not supported")
		}
	}
	if err := a.Err(); err != nil {
		return nil, err
	}
	if len(vals) != 1 {
		return nil, fmt.Errorf("%s: has %d value attributes, want exactly one", n, len(vals))
	}
	return &Constant{Value: vals[0]}, nil
}

// Run implements Kernel.
func (k *Constant) Run(ctx *Context, _ []*tensor.Tensor) ([]*tensor.Tensor, error) {
	return ctx.one(k.Value)
}

// ConstantOfShape outputs a tensor of the shape its input gives (an int64 vector), filled with
// Value, a one-element tensor whose dtype the output takes (float32 0 by default).
type ConstantOfShape struct {
	Value *tensor.Tensor
}

func buildConstantOfShape(n *Node, opset int) (Kernel, error) {
	if err := shapeArity(n, 1, 1); err != nil {
		return nil, err
	}
	k := &ConstantOfShape{Value: tensor.Scalar(float32(0))}
	if at, ok := n.Attrs["value"]; ok {
		if at.Type != AttrTensor || at.Tensor == nil || at.Tensor.Len() != 1 {
			return nil, fmt.Errorf("%s: the value attribute must be a one-element tensor", n)
		}
		k.Value = at.Tensor
	}
	return k, nil
}

// Run implements Kernel.
func (k *ConstantOfShape) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	dims, err := shapeInts(in[0], "shape")
	if err != nil {
		return nil, err
	}
	shape := shapeToInts(dims)
	if _, err := tensor.SizeChecked(shape); err != nil {
		return nil, err
	}
	y := tensor.New(k.Value.DType(), shape...)
	if err := tensor.FillTensor(y, k.Value); err != nil {
		return nil, err
	}
	return ctx.one(y)
}

// Range outputs start, start+delta, ... up to but excluding limit, in the dtype of its three
// scalar inputs (tensor.Arange).
type Range struct{}

func buildRange(n *Node, opset int) (Kernel, error) { return Range{}, shapeArity(n, 3, 3) }

// Run implements Kernel.
func (Range) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	y, err := tensor.Arange(in[0], in[1], in[2])
	if err != nil {
		return nil, err
	}
	return ctx.one(y)
}

// Identity outputs its input, the same tensor: kernels never mutate their inputs, so sharing
// is safe. Sequences and optionals (opsets 14 and 16) are not tensors and are not supported.
type Identity struct{}

func buildIdentity(n *Node, opset int) (Kernel, error) { return Identity{}, shapeArity(n, 1, 1) }

// Run implements Kernel.
func (Identity) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	return ctx.one(in[0])
}

// Dropout zeroes a random fraction Ratio of its input's elements while training and scales the
// rest by 1/(1-Ratio) (inverted dropout); otherwise it passes its input on. The optional
// second output is the mask of kept elements.
//
// When it trains depends on the version: from opset 12 only when the training_mode input is
// true and the run is a training one (Context.Training); before, in every training run unless
// opset 1 and 6's is_test attribute is set. The ratio is the attribute before opset 12 and the
// optional second input from 12 (default 0.5). The mask is bool from opset 10, of the input's
// dtype before.
type Dropout struct {
	Ratio      float32 // the attribute (opsets 1 to 11)
	RatioInput bool    // ratio and training_mode are inputs (opset 12 on)
	IsTest     bool    // opsets 1 and 6
	BoolMask   bool    // opset 10 on
	Mask       bool    // the node asks for the mask output
	// Seed, when HasSeed, makes the masks reproducible: run i of the kernel draws from the
	// stream (Seed, i), so a fresh plan replays the same sequence of masks.
	Seed    int64
	HasSeed bool

	runs *atomic.Uint64 // counts training runs to pick each one's stream; safe for concurrency
}

func buildDropout(n *Node, opset int) (Kernel, error) {
	most := 1
	if opset >= 12 {
		most = 3
	}
	if err := shapeArity(n, 1, most); err != nil {
		return nil, err
	}
	a := n.AttrReader()
	k := &Dropout{
		Ratio:      0.5,
		RatioInput: opset >= 12,
		BoolMask:   opset >= 10,
		Mask:       len(n.Outputs) > 1 && n.Outputs[1] != "",
		runs:       new(atomic.Uint64),
	}
	if opset < 12 {
		k.Ratio = a.Float("ratio", 0.5)
	}
	if opset < 7 {
		k.IsTest = a.Int("is_test", 0) != 0
	}
	if a.Has("seed") {
		k.Seed, k.HasSeed = a.Int("seed", 0), true
	}
	if err := a.Err(); err != nil {
		return nil, err
	}
	if k.Ratio < 0 || k.Ratio > 1 {
		return nil, fmt.Errorf("%s: ratio %v is outside [0, 1]", n, k.Ratio)
	}
	return k, nil
}

// Run implements Kernel.
func (k *Dropout) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	x := in[0]
	ratio, training := k.Ratio, ctx != nil && ctx.Training && !k.IsTest
	if k.RatioInput {
		if len(in) > 1 && in[1] != nil {
			r := in[1]
			if r.Len() != 1 || !r.DType().IsFloat() {
				return nil, fmt.Errorf("ratio must be a floating-point scalar, got %v", r)
			}
			ratio = float32(r.Float64At(0))
		}
		if ratio < 0 || ratio > 1 {
			return nil, fmt.Errorf("ratio %v is outside [0, 1]", ratio)
		}
		mode := len(in) > 2 && in[2] != nil
		if mode {
			t := in[2]
			if t.Len() != 1 || t.DType() != tensor.Bool {
				return nil, fmt.Errorf("training_mode must be a bool scalar, got %v", t)
			}
			mode = tensor.Data[bool](t)[0]
		}
		training = training && mode
	}
	if !training || ratio == 0 {
		if !k.Mask {
			return ctx.one(x)
		}
		mask, err := k.mask(x, nil)
		if err != nil {
			return nil, err
		}
		return []*tensor.Tensor{x, mask}, nil
	}
	if !x.DType().IsFloat() {
		return nil, fmt.Errorf("training dropout needs floating-point input, got %v", x)
	}
	var rng *rand.Rand
	if k.HasSeed {
		var run uint64
		if k.runs != nil { // nil in a Dropout made as a literal rather than built
			run = k.runs.Add(1) - 1
		}
		rng = rand.New(rand.NewPCG(uint64(k.Seed), run))
	} else {
		rng = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	keep := make([]bool, x.Len())
	if ratio < 1 {
		for i := range keep {
			keep[i] = rng.Float32() >= ratio
		}
	}
	y, err := tensorDropout(x, keep, ratio)
	if err != nil {
		return nil, err
	}
	if !k.Mask {
		return ctx.one(y)
	}
	mask, err := k.mask(x, keep)
	if err != nil {
		return nil, err
	}
	return []*tensor.Tensor{y, mask}, nil
}

// mask returns the mask output for x and keep (nil: all kept), bool or of x's dtype.
func (k *Dropout) mask(x *tensor.Tensor, keep []bool) (*tensor.Tensor, error) {
	if keep == nil {
		keep = make([]bool, x.Len())
		for i := range keep {
			keep[i] = true
		}
	}
	m := tensor.From(x.Shape(), keep)
	if k.BoolMask {
		return m, nil
	}
	return tensor.CastTensor(nil, m, x.DType())
}

// tensorDropout returns x with the elements not kept zeroed and the kept ones scaled by
// 1/(1-ratio), computed in float32 or float64 (16-bit floats through float32).
func tensorDropout(x *tensor.Tensor, keep []bool, ratio float32) (*tensor.Tensor, error) {
	switch x.DType() {
	case tensor.Float32:
		y := tensor.New(tensor.Float32, x.Shape()...)
		tensorDropoutApply(tensor.Data[float32](y), tensor.Data[float32](x), keep, ratio)
		return y, nil
	case tensor.Float64:
		y := tensor.New(tensor.Float64, x.Shape()...)
		tensorDropoutApply(tensor.Data[float64](y), tensor.Data[float64](x), keep, ratio)
		return y, nil
	}
	f, err := tensor.CastTensor(nil, x, tensor.Float32)
	if err != nil {
		return nil, err
	}
	if f, err = tensorDropout(f, keep, ratio); err != nil {
		return nil, err
	}
	return tensor.CastTensor(nil, f, x.DType())
}

func tensorDropoutApply[T float32 | float64](dst, src []T, keep []bool, ratio float32) {
	if ratio >= 1 {
		return // everything dropped; dst is already zero
	}
	scale := 1 / (1 - T(ratio))
	for i, v := range src {
		if keep[i] {
			dst[i] = v * scale
		}
	}
}

// SkipRuns advances each seeded Dropout of p as if p had made n more training runs, so that
// a run resumed within an epoch draws the masks the uninterrupted one drew there. Dropouts
// inside subgraphs (If and Loop bodies) are not reached.
func (p *Plan) SkipRuns(n int) {
	for _, st := range p.steps {
		if d, ok := st.kernel.(*Dropout); ok && d.HasSeed && d.runs != nil {
			d.runs.Add(uint64(n))
		}
	}
}
