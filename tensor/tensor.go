package tensor

import (
	"fmt"
	"math"
	"slices"
)

// Tensor is a dense, row-major n-dimensional array. A rank-0 tensor (empty shape) is a scalar
// holding one element. Tensors produced by Reshape share their elements with the original.
type Tensor struct {
	dtype DType
	shape []int
	data  any    // []float32, []float64, []uint16 (Float16, BFloat16, Uint16), []int8, ..., []bool
	dims  [4]int // shape's storage when it has at most four dimensions: one allocation fewer
}

// header returns a tensor of dtype dt holding data, with a copy of shape.
func header(dt DType, shape []int, data any) *Tensor {
	t := &Tensor{dtype: dt, data: data}
	if len(shape) <= len(t.dims) {
		t.shape = t.dims[:len(shape):len(shape)]
		copy(t.shape, shape)
	} else {
		t.shape = cloneInts(shape)
	}
	return t
}

// New returns a zero-filled tensor of the given dtype and shape. It panics for Undefined or an
// unknown dtype, or a negative dimension: both are programming errors, not input errors.
func New(dt DType, shape ...int) *Tensor {
	n := mustSize(shape)
	var data any
	switch dt {
	case Float32:
		data = make([]float32, n)
	case Float64:
		data = make([]float64, n)
	case Float16, BFloat16, Uint16:
		data = make([]uint16, n)
	case Int8:
		data = make([]int8, n)
	case Int16:
		data = make([]int16, n)
	case Int32:
		data = make([]int32, n)
	case Int64:
		data = make([]int64, n)
	case Uint8:
		data = make([]uint8, n)
	case Uint32:
		data = make([]uint32, n)
	case Uint64:
		data = make([]uint64, n)
	case Bool:
		data = make([]bool, n)
	default:
		panic(fmt.Sprintf("tensor: New with dtype %v", dt))
	}
	return header(dt, shape, data)
}

// From wraps data (not copied) as a tensor of the given shape, with the dtype that matches T
// (Uint16 for []uint16; use FromBits for float16 and bfloat16). It panics if len(data) does not
// equal the number of elements the shape holds.
func From[T Elem](shape []int, data []T) *Tensor {
	if n := mustSize(shape); n != len(data) {
		// The copy keeps shape from escaping through the message, so that a caller's shape
		// literal stays on its stack.
		panic(fmt.Sprintf("tensor: From: shape %v holds %d elements, data has %d", slices.Clone(shape), n, len(data)))
	}
	return header(dtypeOf[T](), shape, data)
}

// FromBits wraps raw 16-bit patterns as a Float16, BFloat16 or Uint16 tensor.
func FromBits(dt DType, shape []int, bits []uint16) *Tensor {
	if dt != Float16 && dt != BFloat16 && dt != Uint16 {
		panic(fmt.Sprintf("tensor: FromBits with dtype %v", dt))
	}
	t := From(shape, bits)
	t.dtype = dt
	return t
}

// Scalar returns a rank-0 tensor holding v.
func Scalar[T Elem](v T) *Tensor { return From(nil, []T{v}) }

// DType returns the element type.
func (t *Tensor) DType() DType { return t.dtype }

// Shape returns the dimensions. The slice belongs to the tensor: do not modify it.
func (t *Tensor) Shape() []int { return t.shape }

// Rank returns the number of dimensions.
func (t *Tensor) Rank() int { return len(t.shape) }

// Len returns the number of elements.
func (t *Tensor) Len() int { return Size(t.shape) }

// Data returns the backing slice as an any ([]float32 for Float32, and so on).
func (t *Tensor) Data() any { return t.data }

// Float32s returns the elements of a Float32 tensor, or nil for any other dtype.
func (t *Tensor) Float32s() []float32 { s, _ := t.data.([]float32); return s }

// Int64s returns the elements of an Int64 tensor, or nil for any other dtype.
func (t *Tensor) Int64s() []int64 { s, _ := t.data.([]int64); return s }

// Data returns the backing slice of t as []T, or nil if t does not store T.
func Data[T Elem](t *Tensor) []T { s, _ := t.data.([]T); return s }

// Reshape returns a tensor with a new shape that shares t's elements. It returns an error if
// the element counts differ.
func (t *Tensor) Reshape(shape ...int) (*Tensor, error) {
	n, err := SizeChecked(shape)
	if err != nil {
		return nil, err
	}
	if n != t.Len() {
		return nil, fmt.Errorf("tensor: cannot reshape %v (%d elements) to %v (%d elements)", t.shape, t.Len(), slices.Clone(shape), n)
	}
	return header(t.dtype, shape, t.data), nil
}

// Clone returns a deep copy.
func (t *Tensor) Clone() *Tensor {
	c := New(t.dtype, t.shape...)
	copyData(c.data, t.data)
	return c
}

// String gives dtype and shape, for error messages: "float32[2 3 224 224]".
func (t *Tensor) String() string { return t.dtype.String() + ShapeString(t.shape) }

func copyData(dst, src any) {
	switch d := dst.(type) {
	case []float32:
		copy(d, src.([]float32))
	case []float64:
		copy(d, src.([]float64))
	case []uint16:
		copy(d, src.([]uint16))
	case []int8:
		copy(d, src.([]int8))
	case []int16:
		copy(d, src.([]int16))
	case []int32:
		copy(d, src.([]int32))
	case []int64:
		copy(d, src.([]int64))
	case []uint8:
		copy(d, src.([]uint8))
	case []uint32:
		copy(d, src.([]uint32))
	case []uint64:
		copy(d, src.([]uint64))
	case []bool:
		copy(d, src.([]bool))
	}
}

// Float64At returns element i converted to float64 (float16 and bfloat16 decoded, bool as 0/1).
// It is meant for tests, printing and shape arithmetic, not for hot loops.
func (t *Tensor) Float64At(i int) float64 {
	switch d := t.data.(type) {
	case []float32:
		return float64(d[i])
	case []float64:
		return d[i]
	case []uint16:
		switch t.dtype {
		case Float16:
			return float64(Float16ToFloat32(d[i]))
		case BFloat16:
			return float64(BFloat16ToFloat32(d[i]))
		}
		return float64(d[i])
	case []int8:
		return float64(d[i])
	case []int16:
		return float64(d[i])
	case []int32:
		return float64(d[i])
	case []int64:
		return float64(d[i])
	case []uint8:
		return float64(d[i])
	case []uint32:
		return float64(d[i])
	case []uint64:
		return float64(d[i])
	case []bool:
		if d[i] {
			return 1
		}
		return 0
	}
	return math.NaN()
}

// Int64At returns element i of an integer or bool tensor as int64 (floats are truncated).
func (t *Tensor) Int64At(i int) int64 {
	switch d := t.data.(type) {
	case []int64:
		return d[i]
	case []int32:
		return int64(d[i])
	case []int8:
		return int64(d[i])
	case []int16:
		return int64(d[i])
	case []uint8:
		return int64(d[i])
	case []uint32:
		return int64(d[i])
	case []uint64:
		return int64(d[i])
	case []uint16:
		if t.dtype == Uint16 {
			return int64(d[i])
		}
	}
	return int64(t.Float64At(i))
}

// ToInt64s returns the elements converted to int64 (a copy, even for Int64 tensors).
func (t *Tensor) ToInt64s() []int64 {
	out := make([]int64, t.Len())
	for i := range out {
		out[i] = t.Int64At(i)
	}
	return out
}

// ToFloat64s returns the elements converted to float64.
func (t *Tensor) ToFloat64s() []float64 {
	out := make([]float64, t.Len())
	for i := range out {
		out[i] = t.Float64At(i)
	}
	return out
}

// FromFloat64s builds a tensor of the floating-point dtype dt from float64 values, rounding
// to the dtype's precision (nearest even for float16 and bfloat16).
func FromFloat64s(dt DType, shape []int, v []float64) *Tensor {
	t := New(dt, shape...)
	switch d := t.data.(type) {
	case []float32:
		for i, x := range v {
			d[i] = float32(x)
		}
	case []float64:
		copy(d, v)
	case []uint16:
		for i, x := range v {
			if dt == BFloat16 {
				d[i] = Float32ToBFloat16(float32(x))
			} else {
				d[i] = Float32ToFloat16(float32(x))
			}
		}
	}
	return t
}
