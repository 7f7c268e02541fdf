package tensor

import (
	"fmt"
	"math"
)

// The gradient kernels of the element-wise operators. Each sets dst to the upstream gradient
// g (of the operator's output shape) times one partial derivative of the operator, over the
// output shape: a caller whose operand was broadcast then sums dst down to the operand's shape
// with SumTo. The derivatives are PyTorch autograd's, including its choices at the points where
// the function has none (Abs at 0, Pow at a zero base or exponent, ties of maximum).

// gradBinary hands fn the pieces of the output of bc, the broadcast of two operands a and b,
// with dst and g (both of the output shape) cut to the piece; ao and bo are the operands'
// offsets at the piece's start and sa, sb their steps along it (1, or 0 where broadcast).
func gradBinary[T any](bc *Broadcast, dst, g, a, b []T, fn func(d, g, a []T, ao, sa int, b []T, bo, sb int)) {
	bc.check(len(dst), len(a), len(b))
	if len(g) != len(dst) {
		panic(fmt.Sprintf("tensor: gradient of %d elements for an output of %d", len(g), len(dst)))
	}
	sa, sb := bc.innerStride(0), bc.innerStride(1)
	bc.each(func(o int, off []int, n int) {
		fn(dst[o:o+n], g[o:o+n], a, off[0], sa, b, off[1], sb)
	})
}

// DivGradB sets dst = -g * a / b² over the broadcast bc of a's and b's shapes: the gradient of
// a / b with respect to b, computed as PyTorch does, -g * ((a / b) / b).
func DivGradB[T Float](bc *Broadcast, dst, g, a, b []T) {
	gradBinary(bc, dst, g, a, b, func(d, g, a []T, ao, sa int, b []T, bo, sb int) {
		g = g[:len(d)]
		for i := range d {
			y := b[bo+i*sb]
			d[i] = -g[i] * (a[ao+i*sa] / y / y)
		}
	})
}

// PowGradBase sets dst = g * b * a**(b-1) over the broadcast bc of a's and b's shapes: the
// gradient of a**b with respect to the base a. Where b is 0 it is 0, as in PyTorch, even at
// a = 0 where the formula gives NaN. The power is computed in float64.
func PowGradBase[T Float](bc *Broadcast, dst, g, a, b []T) {
	gradBinary(bc, dst, g, a, b, func(d, g, a []T, ao, sa int, b []T, bo, sb int) {
		g = g[:len(d)]
		for i := range d {
			e := float64(b[bo+i*sb])
			if e == 0 {
				d[i] = 0
				continue
			}
			d[i] = T(float64(g[i]) * e * math.Pow(float64(a[ao+i*sa]), e-1))
		}
	})
}

// PowGradExp sets dst = g * a**b * log(a) over the broadcast bc of a's and b's shapes: the
// gradient of a**b with respect to the exponent b. Where a is 0 and b >= 0 it is 0, as in
// PyTorch (the limit of a**b log a); a negative base gives NaN.
func PowGradExp[T Float](bc *Broadcast, dst, g, a, b []T) {
	gradBinary(bc, dst, g, a, b, func(d, g, a []T, ao, sa int, b []T, bo, sb int) {
		g = g[:len(d)]
		for i := range d {
			x, e := float64(a[ao+i*sa]), float64(b[bo+i*sb])
			if x == 0 && e >= 0 {
				d[i] = 0
				continue
			}
			d[i] = T(float64(g[i]) * math.Pow(x, e) * math.Log(x))
		}
	})
}

// CountEqual adds 1 to cnt wherever x equals y, over the broadcast bc of y's shape (the output
// of a Max or Min) and x's (one of its operands), y first: cnt, of y's shape, ends up counting
// the operands that attain the extremum, the ties the gradient is shared among.
func CountEqual[T Float](bc *Broadcast, cnt, y, x []T) {
	bc.check(len(cnt), len(y), len(x))
	sx := bc.innerStride(1)
	bc.each(func(o int, off []int, n int) {
		c, yy := cnt[o:o+n], y[o:o+n]
		xo := off[1]
		for i := range c {
			if x[xo+i*sx] == yy[i] {
				c[i]++
			}
		}
	})
}

// SelectGrad sets dst = g / cnt where x equals y and 0 elsewhere, over the broadcast bc of y's
// shape and x's (as for CountEqual): the gradient of an element-wise Max or Min with respect
// to operand x, cnt being the number of operands tied at the extremum. With two operands this
// is torch.maximum's rule: the whole gradient to the larger one, half to each on a tie.
func SelectGrad[T Float](bc *Broadcast, dst, g, y, x, cnt []T) {
	bc.check(len(dst), len(y), len(x))
	if len(g) != len(dst) || len(cnt) != len(dst) {
		panic(fmt.Sprintf("tensor: select gradient: %d, %d and %d elements for an output of %d", len(g), len(cnt), len(y), len(dst)))
	}
	sx := bc.innerStride(1)
	bc.each(func(o int, off []int, n int) {
		d, gg, yy, c := dst[o:o+n], g[o:o+n], y[o:o+n], cnt[o:o+n]
		xo := off[1]
		for i := range d {
			if x[xo+i*sx] == yy[i] {
				d[i] = gg[i] / c[i]
			} else {
				d[i] = 0
			}
		}
	})
}

// unaryGrad runs f over contiguous pieces of dst, g and v (all of one length), in parallel
// when they are long.
func unaryGrad[T any](dst, g, v []T, f func(d, g, v []T)) {
	if len(g) != len(dst) || len(v) != len(dst) {
		panic(fmt.Sprintf("tensor: element-wise gradient: dst has %d elements, the gradient %d and the value %d", len(dst), len(g), len(v)))
	}
	ewSplit(len(dst), func(lo, hi int) { f(dst[lo:hi], g[lo:hi], v[lo:hi]) })
}

// MulGrad sets dst = g * v element by element: the gradient of Exp from its output, and of a
// product with respect to one factor when neither is broadcast.
func MulGrad[T Float](dst, g, v []T) {
	unaryGrad(dst, g, v, func(d, g, v []T) { mulVV(d, g, v) })
}

// SqrtGrad sets dst = g / (2 y), from Sqrt's output y.
func SqrtGrad[T Float](dst, g, y []T) {
	unaryGrad(dst, g, y, func(d, g, y []T) {
		g, y = g[:len(d)], y[:len(d)]
		for i := range d {
			d[i] = g[i] / (2 * y[i])
		}
	})
}

// LogGrad sets dst = g / x, from Log's input x.
func LogGrad[T Float](dst, g, x []T) {
	unaryGrad(dst, g, x, func(d, g, x []T) { divVV(d, g, x) })
}

// AbsGrad sets dst = g * sign(x): 0 at x = 0, as PyTorch's sgn.
func AbsGrad[T Float](dst, g, x []T) {
	unaryGrad(dst, g, x, func(d, g, x []T) {
		g, x = g[:len(d)], x[:len(d)]
		for i := range d {
			switch v := x[i]; {
			case v > 0:
				d[i] = g[i]
			case v < 0:
				d[i] = -g[i]
			case v == 0:
				d[i] = 0
			default: // NaN
				d[i] = g[i] * v
			}
		}
	})
}

// ErfGrad sets dst = g * 2/sqrt(pi) * exp(-x²), from Erf's input x.
func ErfGrad[T Float](dst, g, x []T) {
	unaryGrad(dst, g, x, func(d, g, x []T) {
		g, x = g[:len(d)], x[:len(d)]
		const k = 2 / math.SqrtPi
		for i := range d {
			v := float64(x[i])
			d[i] = T(float64(g[i]) * k * math.Exp(-v*v))
		}
	})
}
