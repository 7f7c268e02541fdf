package tensor

import (
	"fmt"
	"math"
)

// Arange: ONNX Range.

// Arange returns the values start, start+delta, ... up to but excluding limit: ONNX Range,
// with max(ceil((limit-start)/delta), 0) elements of the dtype the three one-element tensors
// share.
func Arange(start, limit, delta *Tensor) (*Tensor, error) {
	dt := start.dtype
	for _, t := range []*Tensor{start, limit, delta} {
		if t.Len() != 1 || t.dtype != dt {
			return nil, fmt.Errorf("tensor: range of %v, %v, %v: want three one-element tensors of one dtype", start, limit, delta)
		}
	}
	switch dt {
	case Float32:
		return layoutArange(dt, start.data.([]float32)[0], limit.data.([]float32)[0], delta.data.([]float32)[0])
	case Float64:
		return layoutArange(dt, start.data.([]float64)[0], limit.data.([]float64)[0], delta.data.([]float64)[0])
	case Int8:
		return layoutArange(dt, start.data.([]int8)[0], limit.data.([]int8)[0], delta.data.([]int8)[0])
	case Int16:
		return layoutArange(dt, start.data.([]int16)[0], limit.data.([]int16)[0], delta.data.([]int16)[0])
	case Int32:
		return layoutArange(dt, start.data.([]int32)[0], limit.data.([]int32)[0], delta.data.([]int32)[0])
	case Int64:
		return layoutArange(dt, start.data.([]int64)[0], limit.data.([]int64)[0], delta.data.([]int64)[0])
	case Uint8:
		return layoutArange(dt, start.data.([]uint8)[0], limit.data.([]uint8)[0], delta.data.([]uint8)[0])
	case Uint16:
		return layoutArange(dt, start.data.([]uint16)[0], limit.data.([]uint16)[0], delta.data.([]uint16)[0])
	case Uint32:
		return layoutArange(dt, start.data.([]uint32)[0], limit.data.([]uint32)[0], delta.data.([]uint32)[0])
	case Uint64:
		return layoutArange(dt, start.data.([]uint64)[0], limit.data.([]uint64)[0], delta.data.([]uint64)[0])
	case Float16, BFloat16:
		// Count and step in float32, which holds every 16-bit value exactly, then round once.
		f := func(t *Tensor) float32 { return float32(t.Float64At(0)) }
		r, err := layoutArange(Float32, f(start), f(limit), f(delta))
		if err != nil {
			return nil, err
		}
		return CastTensor(nil, r, dt)
	}
	return nil, fmt.Errorf("tensor: range of %v values: not a numeric dtype", dt)
}

// layoutArangeMax bounds Range's element count, so that a corrupt model fails with an error
// instead of exhausting memory.
const layoutArangeMax = 1 << 31

func layoutArange[T layoutNumber](dt DType, start, limit, delta T) (*Tensor, error) {
	if delta == 0 {
		return nil, fmt.Errorf("tensor: range from %v to %v: delta is zero", start, limit)
	}
	var n float64
	if isFloat := T(1)/T(2) != 0; isFloat {
		n = math.Ceil((float64(limit) - float64(start)) / float64(delta))
		if math.IsNaN(n) {
			return nil, fmt.Errorf("tensor: range from %v to %v by %v: NaN bound", start, limit, delta)
		}
	} else {
		// Integer types: exact ceiling division in int64, which holds the difference of any
		// two values of the types below 64 bits (uint64 bounds past MaxInt64 are not served).
		diff, d := int64(limit)-int64(start), int64(delta)
		switch {
		case d > 0 && diff > 0:
			n = float64((diff + d - 1) / d)
		case d < 0 && diff < 0:
			n = float64((diff + d + 1) / d)
		}
	}
	n = max(n, 0)
	if n > layoutArangeMax {
		return nil, fmt.Errorf("tensor: range from %v to %v by %v: %g elements, more than %d", start, limit, delta, n, layoutArangeMax)
	}
	out := make([]T, int(n))
	for i := range out {
		out[i] = start + T(i)*delta
	}
	t := From([]int{len(out)}, out)
	t.dtype = dt
	return t, nil
}
