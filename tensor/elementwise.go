package tensor

import (
	"fmt"
	"math"
)

// Number is the set of element types arithmetic is defined on.
type Number interface {
	float32 | float64 | int8 | int16 | int32 | int64 | uint8 | uint16 | uint32 | uint64
}

// Float is the set of floating-point element types computed natively; float16 and bfloat16
// tensors are computed in float32 by the callers.
type Float interface{ float32 | float64 }

// Signed is the set of element types that have a negation.
type Signed interface {
	float32 | float64 | int8 | int16 | int32 | int64
}

// Every kernel here is generic over its element type. Go compiles one body per distinct
// underlying basic type, so the float32 instantiation is as tight as a hand-written float32
// loop: no dictionary lookups or interface calls per element. What a binary operation does is
// spelt out in three loop shapes (both operands varying; the second fixed; the first fixed),
// and Broadcast hands each loop whole runs of a shape, so broadcasting costs index arithmetic
// per run, not per element.

// binaryLoops is one binary operation in its three loop shapes. In vs and sv the scalar
// operand is fixed for the whole run.
type binaryLoops[A, B, R any] struct {
	vv func(dst []R, a []A, b []B)
	vs func(dst []R, a []A, b B)
	sv func(dst []R, a A, b []B)
}

// binary runs l over the broadcast of a and b (operands 0 and 1 of bc) into dst.
func binary[A, B, R any](bc *Broadcast, dst []R, a []A, b []B, l binaryLoops[A, B, R]) {
	bc.check(len(dst), len(a), len(b))
	sa, sb := bc.innerStride(0), bc.innerStride(1)
	switch {
	case sa == sb: // both varying, or a single element each
		bc.each(func(o int, off []int, n int) { l.vv(dst[o:o+n], a[off[0]:off[0]+n], b[off[1]:off[1]+n]) })
	case sa == 1:
		bc.each(func(o int, off []int, n int) { l.vs(dst[o:o+n], a[off[0]:off[0]+n], b[off[1]]) })
	default:
		bc.each(func(o int, off []int, n int) { l.sv(dst[o:o+n], a[off[0]], b[off[1]:off[1]+n]) })
	}
}

// swapped turns the vs loop of a commutative operation into its sv loop.
func swapped[T, R any](vs func(dst []R, a []T, b T)) func(dst []R, a T, b []T) {
	return func(dst []R, a T, b []T) { vs(dst, b, a) }
}

// Add sets dst = a + b over the broadcast bc of a's and b's shapes. Like every broadcasting
// kernel here it panics, as for an index out of range, if a slice's length does not fit bc.
func Add[T Number](bc *Broadcast, dst, a, b []T) {
	binary(bc, dst, a, b, binaryLoops[T, T, T]{addVV[T], addVS[T], swapped(addVS[T])})
}

func addVV[T Number](dst, a, b []T) {
	a, b = a[:len(dst)], b[:len(dst)]
	i := 0
	if d32, ok := any(dst).([]float32); ok {
		i = addFloat32(d32, any(a).([]float32), any(b).([]float32))
	}
	for ; i < len(dst); i++ {
		dst[i] = a[i] + b[i]
	}
}

// AddSame sets dst = a + b for slices of one length (it panics on others), on vector lanes
// and, when they are long, every core.
func AddSame(dst, a, b []float32) {
	if len(a) != len(dst) || len(b) != len(dst) {
		panic(fmt.Sprintf("tensor.AddSame: lengths %d, %d and %d", len(dst), len(a), len(b)))
	}
	ewSplit(len(dst), func(lo, hi int) { addVV(dst[lo:hi], a[lo:hi], b[lo:hi]) })
}

func addVS[T Number](dst, a []T, b T) {
	a = a[:len(dst)]
	for i := range dst {
		dst[i] = a[i] + b
	}
}

// Sub sets dst = a - b over the broadcast bc.
func Sub[T Number](bc *Broadcast, dst, a, b []T) {
	binary(bc, dst, a, b, binaryLoops[T, T, T]{subVV[T], subVS[T], subSV[T]})
}

func subVV[T Number](dst, a, b []T) {
	a, b = a[:len(dst)], b[:len(dst)]
	for i := range dst {
		dst[i] = a[i] - b[i]
	}
}

func subVS[T Number](dst, a []T, b T) {
	a = a[:len(dst)]
	for i := range dst {
		dst[i] = a[i] - b
	}
}

func subSV[T Number](dst []T, a T, b []T) {
	b = b[:len(dst)]
	for i := range dst {
		dst[i] = a - b[i]
	}
}

// Mul sets dst = a * b over the broadcast bc.
func Mul[T Number](bc *Broadcast, dst, a, b []T) {
	binary(bc, dst, a, b, binaryLoops[T, T, T]{mulVV[T], mulVS[T], swapped(mulVS[T])})
}

func mulVV[T Number](dst, a, b []T) {
	a, b = a[:len(dst)], b[:len(dst)]
	for i := range dst {
		dst[i] = a[i] * b[i]
	}
}

func mulVS[T Number](dst, a []T, b T) {
	a = a[:len(dst)]
	for i := range dst {
		dst[i] = a[i] * b
	}
}

// Div sets dst = a / b over the broadcast bc. Integer division truncates toward zero, as ONNX
// Runtime's does; for integer T a zero divisor panics, as in Go, so callers that take
// divisors from outside check for zeros first (HasZero).
func Div[T Number](bc *Broadcast, dst, a, b []T) {
	binary(bc, dst, a, b, binaryLoops[T, T, T]{divVV[T], divVS[T], divSV[T]})
}

func divVV[T Number](dst, a, b []T) {
	a, b = a[:len(dst)], b[:len(dst)]
	for i := range dst {
		dst[i] = a[i] / b[i]
	}
}

func divVS[T Number](dst, a []T, b T) {
	a = a[:len(dst)]
	for i := range dst {
		dst[i] = a[i] / b
	}
}

func divSV[T Number](dst []T, a T, b []T) {
	b = b[:len(dst)]
	for i := range dst {
		dst[i] = a / b[i]
	}
}

// HasZero reports whether s holds a zero, for callers about to divide integers by it.
func HasZero[T Number](s []T) bool {
	for _, v := range s {
		if v == 0 {
			return true
		}
	}
	return false
}

// Max sets dst to the element-wise maximum of a and b over the broadcast bc. A NaN in either
// operand gives NaN, as numpy.maximum and torch.maximum do.
func Max[T Number](bc *Broadcast, dst, a, b []T) {
	binary(bc, dst, a, b, binaryLoops[T, T, T]{maxVV[T], maxVS[T], swapped(maxVS[T])})
}

// The builtin max and min propagate NaN, as numpy does, and compile without branches.

func maxVV[T Number](dst, a, b []T) {
	a, b = a[:len(dst)], b[:len(dst)]
	for i := range dst {
		dst[i] = max(a[i], b[i])
	}
}

func maxVS[T Number](dst, a []T, b T) {
	a = a[:len(dst)]
	for i := range dst {
		dst[i] = max(a[i], b)
	}
}

// Min sets dst to the element-wise minimum of a and b over the broadcast bc, NaN winning.
func Min[T Number](bc *Broadcast, dst, a, b []T) {
	binary(bc, dst, a, b, binaryLoops[T, T, T]{minVV[T], minVS[T], swapped(minVS[T])})
}

func minVV[T Number](dst, a, b []T) {
	a, b = a[:len(dst)], b[:len(dst)]
	for i := range dst {
		dst[i] = min(a[i], b[i])
	}
}

func minVS[T Number](dst, a []T, b T) {
	a = a[:len(dst)]
	for i := range dst {
		dst[i] = min(a[i], b)
	}
}

// Pow sets dst = a ** b over the broadcast bc. The exponent may have another type than the
// base, as ONNX Pow allows from opset 12; the result has the base's type. Integer powers of
// integers are exact (by repeated squaring, wrapping on overflow as Go's integers do); all else
// goes through math.Pow in float64 and is converted back.
func Pow[T, U Number](bc *Broadcast, dst, a []T, b []U) {
	if isInteger[T]() && isInteger[U]() {
		binary(bc, dst, a, b, binaryLoops[T, U, T]{ipowVV[T, U], ipowVS[T, U], ipowSV[T, U]})
		return
	}
	binary(bc, dst, a, b, binaryLoops[T, U, T]{powVV[T, U], powVS[T, U], powSV[T, U]})
}

// isInteger reports whether T is an integer type: only there does 1/2 truncate to 0.
func isInteger[T Number]() bool {
	var one T = 1
	return one/2 == 0
}

func powVV[T, U Number](dst, a []T, b []U) {
	a, b = a[:len(dst)], b[:len(dst)]
	for i := range dst {
		dst[i] = T(math.Pow(float64(a[i]), float64(b[i])))
	}
}

func powVS[T, U Number](dst, a []T, b U) {
	a = a[:len(dst)]
	switch float64(b) {
	case 1:
		copy(dst, a)
		return
	case 2: // the square of variance and norm computations: one multiply, rounded as math.Pow's
		for i := range dst {
			dst[i] = a[i] * a[i]
		}
		return
	}
	e := float64(b)
	for i := range dst {
		dst[i] = T(math.Pow(float64(a[i]), e))
	}
}

func powSV[T, U Number](dst []T, a T, b []U) {
	b = b[:len(dst)]
	x := float64(a)
	for i := range dst {
		dst[i] = T(math.Pow(x, float64(b[i])))
	}
}

// ipow raises an integer to an integer power. A negative exponent has no integer answer but
// for bases 1 and -1; math.Pow's, truncated, gives those and 0 otherwise.
func ipow[T Number](x T, e int64) T {
	if e < 0 {
		return T(math.Pow(float64(x), float64(e)))
	}
	r := T(1)
	for ; e > 0; e >>= 1 {
		if e&1 != 0 {
			r *= x
		}
		x *= x
	}
	return r
}

func ipowVV[T, U Number](dst, a []T, b []U) {
	a, b = a[:len(dst)], b[:len(dst)]
	for i := range dst {
		dst[i] = ipow(a[i], int64(b[i]))
	}
}

func ipowVS[T, U Number](dst, a []T, b U) {
	a, e := a[:len(dst)], int64(b)
	for i := range dst {
		dst[i] = ipow(a[i], e)
	}
}

func ipowSV[T, U Number](dst []T, a T, b []U) {
	b = b[:len(dst)]
	for i := range dst {
		dst[i] = ipow(a, int64(b[i]))
	}
}

// Equal sets dst = (a == b) over the broadcast bc. Floats compare as IEEE 754 says: NaN equals
// nothing, -0 equals +0.
func Equal[T comparable](bc *Broadcast, dst []bool, a, b []T) {
	binary(bc, dst, a, b, binaryLoops[T, T, bool]{eqVV[T], eqVS[T], swapped(eqVS[T])})
}

func eqVV[T comparable](dst []bool, a, b []T) {
	a, b = a[:len(dst)], b[:len(dst)]
	for i := range dst {
		dst[i] = a[i] == b[i]
	}
}

func eqVS[T comparable](dst []bool, a []T, b T) {
	a = a[:len(dst)]
	for i := range dst {
		dst[i] = a[i] == b
	}
}

// Less, LessOrEqual, Greater and GreaterOrEqual set dst to a < b, a <= b, a > b and a >= b
// over the broadcast bc of a's and b's shapes (NaN compares false).
func Less[T Number](bc *Broadcast, dst []bool, a, b []T) {
	binary(bc, dst, a, b, binaryLoops[T, T, bool]{cmpVV(lt[T]), cmpVS(lt[T]), swapped(cmpVS(gt[T]))})
}

// LessOrEqual: see Less.
func LessOrEqual[T Number](bc *Broadcast, dst []bool, a, b []T) {
	binary(bc, dst, a, b, binaryLoops[T, T, bool]{cmpVV(le[T]), cmpVS(le[T]), swapped(cmpVS(ge[T]))})
}

// Greater: see Less.
func Greater[T Number](bc *Broadcast, dst []bool, a, b []T) {
	binary(bc, dst, a, b, binaryLoops[T, T, bool]{cmpVV(gt[T]), cmpVS(gt[T]), swapped(cmpVS(lt[T]))})
}

// GreaterOrEqual: see Less.
func GreaterOrEqual[T Number](bc *Broadcast, dst []bool, a, b []T) {
	binary(bc, dst, a, b, binaryLoops[T, T, bool]{cmpVV(ge[T]), cmpVS(ge[T]), swapped(cmpVS(le[T]))})
}

func lt[T Number](a, b T) bool { return a < b }
func le[T Number](a, b T) bool { return a <= b }
func gt[T Number](a, b T) bool { return a > b }
func ge[T Number](a, b T) bool { return a >= b }

func cmpVV[T Number](f func(a, b T) bool) func(dst []bool, a, b []T) {
	return func(dst []bool, a, b []T) {
		a, b = a[:len(dst)], b[:len(dst)]
		for i := range dst {
			dst[i] = f(a[i], b[i])
		}
	}
}

func cmpVS[T Number](f func(a, b T) bool) func(dst []bool, a []T, b T) {
	return func(dst []bool, a []T, b T) {
		a = a[:len(dst)]
		for i := range dst {
			dst[i] = f(a[i], b)
		}
	}
}

// Where sets dst to x where cond holds and to y elsewhere, over the broadcast bc of the three
// shapes (cond, x, y in that order).
func Where[T any](bc *Broadcast, dst []T, cond []bool, x, y []T) {
	bc.check(len(dst), len(cond), len(x), len(y))
	sc, sx, sy := bc.innerStride(0), bc.innerStride(1), bc.innerStride(2)
	bc.each(func(o int, off []int, n int) {
		d := dst[o : o+n]
		c, xo, yo := off[0], off[1], off[2]
		for i := range d {
			if cond[c+i*sc] {
				d[i] = x[xo+i*sx]
			} else {
				d[i] = y[yo+i*sy]
			}
		}
	})
}

// unary applies f to src piecewise into dst, in parallel over contiguous pieces when the
// tensor is large.
func unary[T, R any](dst []R, src []T, f func(dst []R, src []T)) {
	if len(dst) != len(src) {
		panic(fmt.Sprintf("tensor: element-wise: dst has %d elements, src %d", len(dst), len(src)))
	}
	ewSplit(len(dst), func(lo, hi int) { f(dst[lo:hi], src[lo:hi]) })
}

// Neg sets dst = -src. dst and src may be the same slice, as for every unary kernel here.
func Neg[T Signed](dst, src []T) {
	unary(dst, src, func(d, s []T) {
		s = s[:len(d)]
		for i := range d {
			d[i] = -s[i]
		}
	})
}

// Abs sets dst = |src| (the absolute value of an unsigned integer is itself).
func Abs[T Signed](dst, src []T) {
	unary(dst, src, func(d, s []T) {
		s = s[:len(d)]
		for i := range d {
			v := s[i]
			d[i] = max(v, -v)
		}
	})
}

// Sqrt sets dst = sqrt(src), NaN for negative elements.
func Sqrt[T Float](dst, src []T) {
	unary(dst, src, func(d, s []T) {
		s = s[:len(d)]
		for i := range d {
			d[i] = T(math.Sqrt(float64(s[i])))
		}
	})
}

// Exp sets dst = e**src. float32 is computed in float32 (exp32), to about an ulp.
func Exp[T Float](dst, src []T) {
	unary(dst, src, func(d, s []T) {
		s = s[:len(d)]
		if d32, ok := asFloat32(d); ok {
			s32 := mustFloat32(s)
			for i := expFloat32(d32, s32); i < len(d32); i++ {
				d32[i] = exp32(s32[i])
			}
			return
		}
		for i := range d {
			d[i] = T(math.Exp(float64(s[i])))
		}
	})
}

// Log sets dst to the natural logarithm of src: -Inf at 0, NaN below.
func Log[T Float](dst, src []T) {
	unary(dst, src, func(d, s []T) {
		s = s[:len(d)]
		for i := range d {
			d[i] = T(math.Log(float64(s[i])))
		}
	})
}

// Erf sets dst to the error function of src, computed in float64.
func Erf[T Float](dst, src []T) {
	unary(dst, src, func(d, s []T) {
		s = s[:len(d)]
		for i := range d {
			d[i] = T(math.Erf(float64(s[i])))
		}
	})
}

// Scale sets dst = src * k, for means and their gradients.
func Scale[T Number](dst, src []T, k T) {
	unary(dst, src, func(d, s []T) { mulVS(d, s, k) })
}
