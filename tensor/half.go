package tensor

import (
	"math"

	"github.com/x448/float16"
)

// Float16ToFloat32 decodes an IEEE 754 half-precision bit pattern.
func Float16ToFloat32(bits uint16) float32 { return float16.Frombits(bits).Float32() }

// Float32ToFloat16 encodes f as half precision, rounding to nearest even.
func Float32ToFloat16(f float32) uint16 { return float16.Fromfloat32(f).Bits() }

// BFloat16ToFloat32 decodes a bfloat16 bit pattern: the top half of a float32.
func BFloat16ToFloat32(bits uint16) float32 { return math.Float32frombits(uint32(bits) << 16) }

// Float32ToBFloat16 encodes f as bfloat16, rounding to nearest even as ONNX Runtime and
// PyTorch do (NaN stays a quiet NaN).
func Float32ToBFloat16(f float32) uint16 {
	u := math.Float32bits(f)
	if f != f {
		return uint16(u>>16) | 0x40
	}
	// Adding 0x7fff plus the lowest kept bit rounds half-way cases to the even neighbour.
	u += 0x7fff + (u>>16)&1
	return uint16(u >> 16)
}
