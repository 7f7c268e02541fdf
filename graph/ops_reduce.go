package graph

import (
	"fmt"
	"math"

	"github.com/onnxtune/onnxtune/tensor"
)

// The reduction family: ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd, ReduceL1,
// ReduceL2, ReduceLogSum, ReduceLogSumExp and ReduceSumSquare.

// reduceOps are the reductions other than ReduceSum: their axes are an attribute up to
// opset 17 (11 only allowed negative axes, which every version is read with here) and an
// optional second input from 18, together with noop_with_empty_axes. ReduceSum moved to
// that form at 13. Later versions (ReduceMax and ReduceMin 20, for booleans) change no
// float or integer behaviour, so the 18 entry serves them.
var reduceOps = []string{"ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
	"ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"}

func init() {
	for _, op := range reduceOps {
		Register(OpDef{Type: op, Since: 1, Build: buildReduce(op, false)})
		Register(OpDef{Type: op, Since: 18, Build: buildReduce(op, true)})
	}
	Register(OpDef{Type: "ReduceSum", Since: 1, Build: buildReduce("ReduceSum", false)})
	Register(OpDef{Type: "ReduceSum", Since: 13, Build: buildReduce("ReduceSum", true)})
}

var _ Kernel = (*Reduce)(nil)

// Reduce is one of the reductions.
type Reduce struct {
	Op string // the operator, "ReduceSum" to "ReduceSumSquare"
	// Axes are the attribute's axes (negative ones count from the end); nil when the
	// attribute is absent or AxesInput is set.
	Axes []int
	// AxesInput is set when the axes come from the optional second input (ReduceSum 13,
	// the others 18).
	AxesInput bool
	KeepDims  bool
	// NoopWithEmptyAxes makes empty axes mean no reduction instead of all axes.
	NoopWithEmptyAxes bool
}

func buildReduce(op string, axesInput bool) BuildFunc {
	return func(n *Node, opset int) (Kernel, error) {
		hi := 1
		if axesInput {
			hi = 2
		}
		if err := ewInputs(n, 1, hi); err != nil {
			return nil, err
		}
		a := n.AttrReader()
		k := &Reduce{Op: op, AxesInput: axesInput, KeepDims: a.Int("keepdims", 1) != 0}
		if axesInput {
			k.NoopWithEmptyAxes = a.Int("noop_with_empty_axes", 0) != 0
		} else {
			for _, ax := range a.Ints("axes", nil) {
				k.Axes = append(k.Axes, int(ax))
			}
		}
		return k, a.Err()
	}
}

// ReduceAxes returns the axes, each in [0, rank), that an input of the given rank is reduced
// over, given the axes input (nil when absent or for the attribute form). A nil result with
// no error means no reduction at all (noop_with_empty_axes).
func (k *Reduce) ReduceAxes(rank int, axesIn *tensor.Tensor) ([]int, error) {
	axes := k.Axes
	if k.AxesInput && axesIn != nil {
		if axesIn.DType() != tensor.Int64 || axesIn.Rank() > 1 {
			return nil, fmt.Errorf("the axes are %v, want a 1-D int64 tensor", axesIn)
		}
		for _, a := range axesIn.Int64s() {
			axes = append(axes, int(a))
		}
	}
	if len(axes) == 0 {
		if k.NoopWithEmptyAxes {
			return nil, nil
		}
		all := make([]int, rank)
		for i := range all {
			all[i] = i
		}
		return all, nil
	}
	seen := make([]bool, rank)
	out := make([]int, len(axes))
	for i, a := range axes {
		if a < -rank || a >= rank {
			return nil, fmt.Errorf("axis %d is out of range for an input of rank %d", a, rank)
		}
		if a < 0 {
			a += rank
		}
		if seen[a] {
			return nil, fmt.Errorf("axis %d is given twice in %v", a, axes)
		}
		seen[a] = true
		out[i] = a
	}
	return out, nil
}

// OutShape returns the output shape for an input shape reduced over axes.
func (k *Reduce) OutShape(shape, axes []int) []int {
	reduced := make([]bool, len(shape))
	for _, a := range axes {
		reduced[a] = true
	}
	out := []int{}
	for i, d := range shape {
		switch {
		case !reduced[i]:
			out = append(out, d)
		case k.KeepDims:
			out = append(out, 1)
		}
	}
	return out
}

// Run implements Kernel.
func (k *Reduce) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	x := in[0]
	if x == nil {
		return nil, fmt.Errorf("the input is required")
	}
	var axesIn *tensor.Tensor
	if len(in) > 1 {
		axesIn = in[1]
	}
	axes, err := k.ReduceAxes(x.Rank(), axesIn)
	if err != nil {
		return nil, err
	}
	if axes == nil {
		// noop_with_empty_axes: a reduction over no axis, each element its own group (which
		// still squares for ReduceSumSquare, as ONNX's reference does).
		axes = []int{}
	}
	dt := x.DType()
	if x, err = ewWiden(x); err != nil {
		return nil, err
	}
	out := tensor.New(x.DType(), k.OutShape(x.Shape(), axes)...)
	switch d := out.Data().(type) {
	case []float32:
		err = reduceFloat(k.Op, d, x.Float32s(), x.Shape(), axes)
	case []float64:
		err = reduceFloat(k.Op, d, tensor.Data[float64](x), x.Shape(), axes)
	case []int8:
		err = reduceInteger(k.Op, d, tensor.Data[int8](x), x.Shape(), axes)
	case []int16:
		err = reduceInteger(k.Op, d, tensor.Data[int16](x), x.Shape(), axes)
	case []int32:
		err = reduceInteger(k.Op, d, tensor.Data[int32](x), x.Shape(), axes)
	case []int64:
		err = reduceInteger(k.Op, d, tensor.Data[int64](x), x.Shape(), axes)
	case []uint8:
		err = reduceInteger(k.Op, d, tensor.Data[uint8](x), x.Shape(), axes)
	case []uint16:
		err = reduceInteger(k.Op, d, tensor.Data[uint16](x), x.Shape(), axes)
	case []uint32:
		err = reduceInteger(k.Op, d, tensor.Data[uint32](x), x.Shape(), axes)
	case []uint64:
		err = reduceInteger(k.Op, d, tensor.Data[uint64](x), x.Shape(), axes)
	default:
		err = fmt.Errorf("%s of %v is not supported", k.Op, x)
	}
	if err != nil {
		return nil, err
	}
	if out, err = ewNarrow(out, dt); err != nil {
		return nil, err
	}
	return ctx.one(out)
}

// reduceInteger runs the reductions defined on integers: sums, means (truncating), extremes
// and products wrap or truncate as the type does; ReduceL2, ReduceLogSum and
// ReduceLogSumExp take floats only here.
func reduceInteger[T tensor.Number](op string, d, s []T, shape, axes []int) error {
	switch op {
	case "ReduceSum":
		tensor.ReduceSum(d, s, shape, axes)
	case "ReduceMean":
		tensor.ReduceMean(d, s, shape, axes)
	case "ReduceMax":
		tensor.ReduceMax(d, s, shape, axes)
	case "ReduceMin":
		tensor.ReduceMin(d, s, shape, axes)
	case "ReduceProd":
		tensor.ReduceProd(d, s, shape, axes)
	case "ReduceL1":
		tensor.ReduceSum(d, reduceMapped(s, func(v T) T {
			if v < 0 {
				return -v
			}
			return v
		}), shape, axes)
	case "ReduceSumSquare":
		tensor.ReduceSum(d, reduceMapped(s, func(v T) T { return v * v }), shape, axes)
	default:
		return fmt.Errorf("%s of integers is not supported", op)
	}
	return nil
}

// reduceFloat runs every reduction on floats. ReduceLogSumExp subtracts each output's
// maximum before exponentiating, so that large inputs do not overflow.
func reduceFloat[T tensor.Float](op string, d, s []T, shape, axes []int) error {
	switch op {
	case "ReduceL1":
		tensor.ReduceSum(d, reduceMapped(s, func(v T) T { return T(math.Abs(float64(v))) }), shape, axes)
	case "ReduceL2":
		tensor.ReduceSum(d, reduceMapped(s, func(v T) T { return v * v }), shape, axes)
		for i, v := range d {
			d[i] = T(math.Sqrt(float64(v)))
		}
	case "ReduceLogSum":
		tensor.ReduceSum(d, s, shape, axes)
		for i, v := range d {
			d[i] = T(math.Log(float64(v)))
		}
	case "ReduceLogSumExp":
		m := make([]T, len(d))
		tensor.ReduceMax(m, s, shape, axes)
		bc, err := tensor.NewBroadcast(reduceKeepShape(shape, axes), shape)
		if err != nil {
			return err
		}
		mx := make([]T, len(s)) // each element's output maximum, finite (0 where it is not)
		fin := reduceMapped(m, func(v T) T {
			if math.IsInf(float64(v), 0) || v != v {
				return 0
			}
			return v
		})
		tensor.Expand(bc, mx, fin)
		e := make([]T, len(s))
		for i, v := range s {
			e[i] = T(math.Exp(float64(v - mx[i])))
		}
		tensor.ReduceSum(d, e, shape, axes)
		for i, v := range d {
			d[i] = T(math.Log(float64(v))) + fin[i]
		}
	default:
		return reduceInteger(op, d, s, shape, axes)
	}
	return nil
}

// reduceKeepShape is shape with the reduced axes set to 1 (the keepdims output).
func reduceKeepShape(shape, axes []int) []int {
	keep := append([]int(nil), shape...)
	for _, a := range axes {
		keep[a] = 1
	}
	return keep
}

// reduceMapped returns f applied to every element of s.
func reduceMapped[T tensor.Number](s []T, f func(T) T) []T {
	out := make([]T, len(s))
	for i, v := range s {
		out[i] = f(v)
	}
	return out
}
