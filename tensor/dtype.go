package tensor

import "fmt"

// DType is the element type of a Tensor. The values are onnxtune's own; the onnx package maps
// them to and from TensorProto.DataType.
type DType uint8

// The element types a Tensor can hold. Float16 and BFloat16 are stored as their raw 16-bit
// patterns ([]uint16); the others as the Go slice of the same name.
const (
	Undefined DType = iota
	Float32
	Float64
	Float16
	BFloat16
	Int8
	Int16
	Int32
	Int64
	Uint8
	Uint16
	Uint32
	Uint64
	Bool
)

var dtypeNames = [...]string{
	Undefined: "undefined",
	Float32:   "float32",
	Float64:   "float64",
	Float16:   "float16",
	BFloat16:  "bfloat16",
	Int8:      "int8",
	Int16:     "int16",
	Int32:     "int32",
	Int64:     "int64",
	Uint8:     "uint8",
	Uint16:    "uint16",
	Uint32:    "uint32",
	Uint64:    "uint64",
	Bool:      "bool",
}

// String returns numpy's name for the dtype ("float32", "int64", "bool", ...).
func (d DType) String() string {
	if int(d) < len(dtypeNames) {
		return dtypeNames[d]
	}
	return fmt.Sprintf("dtype(%d)", uint8(d))
}

// ParseDType is the inverse of DType.String.
func ParseDType(s string) (DType, error) {
	for i, n := range dtypeNames {
		if n == s && DType(i) != Undefined {
			return DType(i), nil
		}
	}
	return Undefined, fmt.Errorf("tensor: unknown dtype %q", s)
}

// Size returns the number of bytes one element occupies.
func (d DType) Size() int {
	switch d {
	case Float64, Int64, Uint64:
		return 8
	case Float32, Int32, Uint32:
		return 4
	case Float16, BFloat16, Int16, Uint16:
		return 2
	case Int8, Uint8, Bool:
		return 1
	}
	return 0
}

// IsFloat reports whether d is a floating-point type (the types gradients flow through).
func (d DType) IsFloat() bool {
	return d == Float32 || d == Float64 || d == Float16 || d == BFloat16
}

// IsInteger reports whether d is a signed or unsigned integer type.
func (d DType) IsInteger() bool {
	switch d {
	case Int8, Int16, Int32, Int64, Uint8, Uint16, Uint32, Uint64:
		return true
	}
	return false
}

// Elem is the set of Go element types a Tensor stores directly. uint16 backs Uint16, Float16
// and BFloat16 alike, so the dtype of a tensor built from []uint16 must be given explicitly.
type Elem interface {
	float32 | float64 | int8 | int16 | int32 | int64 | uint8 | uint16 | uint32 | uint64 | bool
}

// dtypeOf returns the natural dtype of a Go element type.
func dtypeOf[T Elem]() DType {
	var z T
	switch any(z).(type) {
	case float32:
		return Float32
	case float64:
		return Float64
	case int8:
		return Int8
	case int16:
		return Int16
	case int32:
		return Int32
	case int64:
		return Int64
	case uint8:
		return Uint8
	case uint16:
		return Uint16
	case uint32:
		return Uint32
	case uint64:
		return Uint64
	case bool:
		return Bool
	}
	return Undefined
}
