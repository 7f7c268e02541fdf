package backprop

import (
	"fmt"

	"github.com/onnxtune/onnxtune/tensor"
)

// The dtype round trip of the VJPs that compute in one float type whatever their operands'.

// widened returns the elements of a floating-point tensor as []T: the tensor's own slice
// when it holds T (never to be written), else a converted copy, float16 and bfloat16 widening
// exactly to float32. The VJPs that compute in float32 or float64 (convolution, pooling,
// normalisation) read their operands through it.
func widened[T tensor.Float](t *tensor.Tensor) ([]T, error) {
	if t == nil {
		return nil, fmt.Errorf("a value the gradient needs was not kept")
	}
	if v := tensor.Data[T](t); v != nil {
		return v, nil
	}
	if !t.DType().IsFloat() {
		return nil, fmt.Errorf("got %v, want a floating-point tensor", t)
	}
	var z T
	dt := tensor.Float32
	if _, ok := any(z).(float64); ok {
		dt = tensor.Float64
	}
	w, err := tensor.CastTensor(nil, t, dt)
	if err != nil {
		return nil, err
	}
	return tensor.Data[T](w), nil
}

// narrowedGrad wraps a gradient computed in T as a tensor of the input's dtype and shape,
// narrowing it when the input is float16 or bfloat16: the counterpart of widened.
func narrowedGrad[T tensor.Float](dt tensor.DType, shape []int, v []T) (*tensor.Tensor, error) {
	t := tensor.From(append([]int(nil), shape...), v)
	if t.DType() == dt {
		return t, nil
	}
	return tensor.CastTensor(nil, t, dt)
}
