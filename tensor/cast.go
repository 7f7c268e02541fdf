package tensor

import (
	"fmt"
	"math"
)

// CastTensor and its per-dtype loops: ONNX Cast.

// CastTensor returns src converted to dtype to, written into dst, or a new tensor if dst is
// nil. Conversions follow C and numpy: floats become integers by truncation toward zero (NaN
// and out-of-range values give whatever the hardware gives), bool becomes 0 or 1 and a value
// becomes true when it is non-zero (NaN included), and float16 and bfloat16 round to nearest
// even from every source type, float64 included (no double rounding through float32).
func CastTensor(dst, src *Tensor, to DType) (*Tensor, error) {
	if to.Size() == 0 {
		return nil, fmt.Errorf("tensor: cast of %v to %v: not a dtype a tensor holds", src, to)
	}
	dst, err := layoutDst("cast", dst, to, src.shape)
	if err != nil {
		return nil, err
	}
	if src.dtype == to {
		copyData(dst.data, src.data)
		return dst, nil
	}
	switch s := src.data.(type) {
	case []float32:
		castFrom(dst, s)
	case []float64:
		castFrom(dst, s)
	case []int8:
		castFrom(dst, s)
	case []int16:
		castFrom(dst, s)
	case []int32:
		castFrom(dst, s)
	case []int64:
		castFrom(dst, s)
	case []uint8:
		castFrom(dst, s)
	case []uint32:
		castFrom(dst, s)
	case []uint64:
		castFrom(dst, s)
	case []uint16:
		decode := Float16ToFloat32
		switch src.dtype {
		case Uint16:
			castFrom(dst, s)
			return dst, nil
		case BFloat16:
			decode = BFloat16ToFloat32
		}
		f := make([]float32, len(s))
		for i, b := range s {
			f[i] = decode(b)
		}
		castFrom(dst, f) // exact: float32 holds every float16 and bfloat16 value
	case []bool:
		u := make([]uint8, len(s))
		for i, b := range s {
			if b {
				u[i] = 1
			}
		}
		castFrom(dst, u)
	default:
		return nil, fmt.Errorf("tensor: cast of %v: unsupported source dtype", src)
	}
	return dst, nil
}

func castFrom[S layoutNumber](dst *Tensor, src []S) {
	switch d := dst.data.(type) {
	case []float32:
		castSlice(d, src)
	case []float64:
		castSlice(d, src)
	case []int8:
		castSlice(d, src)
	case []int16:
		castSlice(d, src)
	case []int32:
		castSlice(d, src)
	case []int64:
		castSlice(d, src)
	case []uint8:
		castSlice(d, src)
	case []uint32:
		castSlice(d, src)
	case []uint64:
		castSlice(d, src)
	case []uint16:
		switch dst.dtype {
		case Float16:
			for i, v := range src {
				d[i] = layoutToHalf(float64(v), Float32ToFloat16)
			}
		case BFloat16:
			for i, v := range src {
				d[i] = layoutToHalf(float64(v), Float32ToBFloat16)
			}
		default:
			castSlice(d, src)
		}
	case []bool:
		for i, v := range src {
			d[i] = v != 0
		}
	}
}

func castSlice[D, S layoutNumber](dst []D, src []S) {
	for i, v := range src {
		dst[i] = D(v)
	}
}

// layoutToHalf rounds x to a 16-bit float through encode, a float32 encoder that rounds to
// nearest even. Rounding x to float32 first could round twice (a value just above a half-way
// point of the 16-bit format landing exactly on it); rounding to float32 "to odd" instead
// (truncate, then set the last bit when inexact) keeps the information the second rounding
// needs, since float32 carries more than two extra bits over float16 and bfloat16.
func layoutToHalf(x float64, encode func(float32) uint16) uint16 {
	f := float32(x)
	if float64(f) != x && !math.IsNaN(x) && !math.IsInf(float64(f), 0) {
		b := math.Float32bits(f)
		if math.Abs(float64(f)) > math.Abs(x) {
			b-- // rounded away from zero: step the magnitude back
		}
		f = math.Float32frombits(b | 1)
	}
	return encode(f)
}
