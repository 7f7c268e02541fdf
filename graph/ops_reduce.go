package graph

import (
	"fmt"

	"github.com/onnxtune/onnxtune/tensor"
)

// The reduction family: ReduceSum and ReduceMean.

func init() {
	// ReduceMean reads its axes from an attribute up to opset 17 (11 only allowed negative
	// axes, which every version is read with here). ReduceSum moved them to an optional
	// second input at 13, together with noop_with_empty_axes.
	Register(OpDef{Type: "ReduceMean", Since: 1, Build: buildReduce("ReduceMean", false)})
	Register(OpDef{Type: "ReduceSum", Since: 1, Build: buildReduce("ReduceSum", false)})
	Register(OpDef{Type: "ReduceSum", Since: 13, Build: buildReduce("ReduceSum", true)})
}

var _ Kernel = (*Reduce)(nil)

// Reduce is ReduceSum or ReduceMean.
type Reduce struct {
	Op string // "ReduceSum" or "ReduceMean"
	// Axes are the attribute's axes (negative ones count from the end); nil when the
	// attribute is absent or AxesInput is set.
	Axes []int
	// AxesInput is set when the axes come from the optional second input (ReduceSum 13).
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
func (k *Reduce) Run(_ *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
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
	if axes == nil && k.NoopWithEmptyAxes {
		return one(x.Clone())
	}
	dt := x.DType()
	if x, err = ewWiden(x); err != nil {
		return nil, err
	}
	out := tensor.New(x.DType(), k.OutShape(x.Shape(), axes)...)
	mean := k.Op == "ReduceMean"
	switch d := out.Data().(type) {
	case []float32:
		ewReduce(mean, d, x.Float32s(), x.Shape(), axes)
	case []float64:
		ewReduce(mean, d, tensor.Data[float64](x), x.Shape(), axes)
	case []int8:
		ewReduce(mean, d, tensor.Data[int8](x), x.Shape(), axes)
	case []int16:
		ewReduce(mean, d, tensor.Data[int16](x), x.Shape(), axes)
	case []int32:
		ewReduce(mean, d, tensor.Data[int32](x), x.Shape(), axes)
	case []int64:
		ewReduce(mean, d, tensor.Data[int64](x), x.Shape(), axes)
	case []uint8:
		ewReduce(mean, d, tensor.Data[uint8](x), x.Shape(), axes)
	case []uint16:
		ewReduce(mean, d, tensor.Data[uint16](x), x.Shape(), axes)
	case []uint32:
		ewReduce(mean, d, tensor.Data[uint32](x), x.Shape(), axes)
	case []uint64:
		ewReduce(mean, d, tensor.Data[uint64](x), x.Shape(), axes)
	default:
		return nil, fmt.Errorf("%s of %v is not supported", k.Op, x)
	}
	if out, err = ewNarrow(out, dt); err != nil {
		return nil, err
	}
	return one(out)
}

func ewReduce[T tensor.Number](mean bool, d, s []T, shape, axes []int) {
	if mean {
		tensor.ReduceMean(d, s, shape, axes)
	} else {
		tensor.ReduceSum(d, s, shape, axes)
	}
}
