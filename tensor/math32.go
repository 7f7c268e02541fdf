package tensor

import "math"

// Float32 versions of exp, the logistic sigmoid and tanh, for the activations that a network
// applies to every element (Sigmoid in SiLU and squeeze-excitation gates, Exp, Tanh): math's
// float64 functions cost 6-40 ns an element. They follow Cephes' expf and tanhf; against
// math over every 61st float32 the worst relative errors were 8e-8 (exp), 1.8e-7 (sigmoid)
// and 1.3e-7 (tanh), about 1-2 ulp, and the tests hold them under 1e-6. Each is
// written as the exact sequence of float32 operations that the AVX2 kernels in
// math32_amd64.s run eight lanes at a time, so the two agree bit for bit; there is no fused
// multiply-add in either.

// Constants of exp32: x = n*ln2 + r with ln2 split so that n*exp32C1 is exact, and e**r from
// a degree-7 polynomial on |r| <= ln2/2.
const (
	exp32Lo    = -104 // exp rounds to 0 below this
	exp32Hi    = 88.8 // and overflows above this
	exp32Log2e = 1.44269504088896341
	exp32Round = 12582912 // 1.5 * 2**23: adding and subtracting it rounds to an integer
	exp32C1    = 0.693359375
	exp32C2    = -2.12194440e-4
	exp32P0    = 1.9875691500e-4
	exp32P1    = 1.3981999507e-3
	exp32P2    = 8.3334519073e-3
	exp32P3    = 4.1665795894e-2
	exp32P4    = 1.6666665459e-1
	exp32P5    = 5.0000001201e-1
)

// exp32 returns e**x: +Inf above about 88.72, 0 below about -103.97, NaN for NaN.
func exp32(x float32) float32 {
	x = min(max(x, exp32Lo), exp32Hi)
	nf := (x*exp32Log2e + exp32Round) - exp32Round
	r := x - nf*exp32C1
	r -= nf * exp32C2
	z := r * r
	p := ((((exp32P0*r+exp32P1)*r+exp32P2)*r+exp32P3)*r+exp32P4)*r + exp32P5
	y := p*z + r + 1
	// Scaling by 2**n in two halves keeps both factors normal, so that results that
	// overflow or are subnormal come out of one correctly rounded multiply.
	n := int32(nf)
	n1 := n >> 1
	n2 := n - n1
	return y * math.Float32frombits(uint32(n1+127)<<23) * math.Float32frombits(uint32(n2+127)<<23)
}

// sigmoid32 returns 1/(1 + e**-x), as e**x/(1 + e**x) for negative x so that exp never
// overflows and tiny results keep their precision.
func sigmoid32(x float32) float32 {
	e := exp32(math.Float32frombits(math.Float32bits(x) | 1<<31)) // e**-|x|
	num := float32(1)
	if math.Float32bits(x)>>31 != 0 {
		num = e
	}
	return num / (1 + e)
}

// Coefficients of tanh32's odd polynomial for |x| < 0.625.
const (
	tanh32T0 = -5.70498872745e-3
	tanh32T1 = 2.06390887954e-2
	tanh32T2 = -5.37397155531e-2
	tanh32T3 = 1.33314422036e-1
	tanh32T4 = -3.33332819422e-1
)

// tanh32 returns tanh(x): a polynomial near 0, where 1 - 2/(e**2|x| + 1) would cancel, and
// that expression elsewhere, with x's sign put back.
func tanh32(x float32) float32 {
	a := math.Float32frombits(math.Float32bits(x) &^ (1 << 31))
	var y float32
	if a < 0.625 {
		z := a * a
		y = ((((tanh32T0*z+tanh32T1)*z+tanh32T2)*z+tanh32T3)*z+tanh32T4)*z*a + a
	} else {
		y = 1 - 2/(exp32(2*a)+1)
	}
	return math.Float32frombits(math.Float32bits(y) | math.Float32bits(x)&(1<<31))
}
