package tensor

import (
	"fmt"
	"math"
)

// The gradient kernels of the activations: each sets dst to the upstream gradient g times the
// activation's derivative, read from the activation's input x or, where that is cheaper and
// PyTorch does the same, its output y. At the kinks they take PyTorch's one-sided choices:
// Relu has gradient 0 at 0, LeakyRelu and PRelu the slope, Elu alpha, Clip 1 on both bounds,
// HardSigmoid 0 on the bounds of its linear part. dst may alias g.

// The gradients of the piecewise-linear activations pick between two values by the sign of x
// (or y), which for real activations is as good as random: a branch would mispredict on about
// half the elements. posMask32 and posMask64 make the choice a bit mask instead, read from the
// float's bits: all ones where v > 0 (and for a NaN with the sign bit clear), zero elsewhere
// (-0 included). The loops are written per float type, picked once per piece.

func posMask32(v float32) uint32 {
	b := int32(math.Float32bits(v))
	return ^uint32((b | (b - 1)) >> 31) // the sign of b|(b-1) is set exactly when b <= 0
}

func posMask64(v float64) uint64 {
	b := int64(math.Float64bits(v))
	return ^uint64((b | (b - 1)) >> 63)
}

// pick32 returns a where m is all ones and b where it is zero.
func pick32(m uint32, a, b float32) float32 {
	return math.Float32frombits(math.Float32bits(a)&m | math.Float32bits(b)&^m)
}

func pick64(m uint64, a, b float64) float64 {
	return math.Float64frombits(math.Float64bits(a)&m | math.Float64bits(b)&^m)
}

// ReluGrad sets dst = g where the output y > 0 and 0 elsewhere (the derivative at 0 is 0, as
// in PyTorch).
func ReluGrad[T Float](dst, g, y []T) {
	unaryGrad(dst, g, y, func(d, g, y []T) {
		switch d := any(d).(type) {
		case []float32:
			g, y := any(g).([]float32)[:len(d)], any(y).([]float32)[:len(d)]
			for i := reluGradFloat32(d, g, y); i < len(d); i++ {
				d[i] = pick32(posMask32(y[i]), g[i], 0)
			}
		case []float64:
			g, y := any(g).([]float64)[:len(d)], any(y).([]float64)[:len(d)]
			for i := range d {
				d[i] = pick64(posMask64(y[i]), g[i], 0)
			}
		}
	})
}

// LeakyReluGrad sets dst = g where x > 0 and alpha*g elsewhere.
func LeakyReluGrad[T Float](dst, g, x []T, alpha T) {
	unaryGrad(dst, g, x, func(d, g, x []T) {
		switch d := any(d).(type) {
		case []float32:
			g, x, a := any(g).([]float32)[:len(d)], any(x).([]float32)[:len(d)], float32(alpha)
			for i := range d {
				d[i] = g[i] * pick32(posMask32(x[i]), 1, a)
			}
		case []float64:
			g, x, a := any(g).([]float64)[:len(d)], any(x).([]float64)[:len(d)], float64(alpha)
			for i := range d {
				d[i] = g[i] * pick64(posMask64(x[i]), 1, a)
			}
		}
	})
}

// PReluGrad sets dst = g where x > 0 and slope*g elsewhere, over the broadcast bc of x's and
// slope's shapes (x first; x has the output's shape, as dst and g do): PRelu's gradient with
// respect to x.
func PReluGrad[T Float](bc *Broadcast, dst, g, x, slope []T) {
	gradBinary(bc, dst, g, x, slope, func(d, g, x []T, xo, sx int, s []T, so, ss int) {
		switch d := any(d).(type) {
		case []float32:
			g, x, s := any(g).([]float32)[:len(d)], any(x).([]float32), any(s).([]float32)
			for i := range d {
				d[i] = g[i] * pick32(posMask32(x[xo+i*sx]), 1, s[so+i*ss])
			}
		case []float64:
			g, x, s := any(g).([]float64)[:len(d)], any(x).([]float64), any(s).([]float64)
			for i := range d {
				d[i] = g[i] * pick64(posMask64(x[xo+i*sx]), 1, s[so+i*ss])
			}
		}
	})
}

// PReluSlopeGrad sets dst = x*g where x <= 0 and 0 elsewhere: PRelu's gradient with respect to
// its slope, before SumTo brings it down to the slope's shape.
func PReluSlopeGrad[T Float](dst, g, x []T) {
	unaryGrad(dst, g, x, func(d, g, x []T) {
		switch d := any(d).(type) {
		case []float32:
			g, x := any(g).([]float32)[:len(d)], any(x).([]float32)[:len(d)]
			for i := range d {
				d[i] = pick32(posMask32(x[i]), 0, x[i]*g[i])
			}
		case []float64:
			g, x := any(g).([]float64)[:len(d)], any(x).([]float64)[:len(d)]
			for i := range d {
				d[i] = pick64(posMask64(x[i]), 0, x[i]*g[i])
			}
		}
	})
}

// EluGrad sets dst = g where x > 0 and g*alpha*e**x elsewhere.
func EluGrad[T Float](dst, g, x []T, alpha T) {
	SeluGrad(dst, g, x, alpha, 1)
}

// SeluGrad sets dst = gamma*g where x > 0 and g*gamma*alpha*e**x elsewhere.
func SeluGrad[T Float](dst, g, x []T, alpha, gamma T) {
	ga := float64(gamma) * float64(alpha)
	unaryGrad(dst, g, x, func(d, g, x []T) {
		g, x = g[:len(d)], x[:len(d)]
		for i := range d {
			if v := x[i]; v > 0 {
				d[i] = gamma * g[i]
			} else {
				d[i] = T(float64(g[i]) * ga * math.Exp(float64(v)))
			}
		}
	})
}

// SigmoidGrad sets dst = g * (1 - y) * y from the output y.
func SigmoidGrad[T Float](dst, g, y []T) {
	unaryGrad(dst, g, y, func(d, g, y []T) {
		g, y = g[:len(d)], y[:len(d)]
		for i := range d {
			d[i] = g[i] * (1 - y[i]) * y[i]
		}
	})
}

// TanhGrad sets dst = g * (1 - y²) from the output y.
func TanhGrad[T Float](dst, g, y []T) {
	unaryGrad(dst, g, y, func(d, g, y []T) {
		g, y = g[:len(d)], y[:len(d)]
		for i := range d {
			d[i] = g[i] * (1 - y[i]*y[i])
		}
	})
}

// HardSigmoidGrad sets dst = alpha*g where 0 < alpha*x + beta < 1 and 0 elsewhere.
func HardSigmoidGrad[T Float](dst, g, x []T, alpha, beta T) {
	unaryGrad(dst, g, x, func(d, g, x []T) {
		g, x = g[:len(d)], x[:len(d)]
		for i := range d {
			if v := alpha*x[i] + beta; v > 0 && v < 1 {
				d[i] = alpha * g[i]
			} else {
				d[i] = 0
			}
		}
	})
}

// HardSwishGrad sets dst = 0 where x < -3, g*(x/3 + 1/2) where -3 <= x < 3 and g from 3 on.
// PyTorch's hardswish_backward is not consistent at 3 itself: its vectorised loop, which every
// tensor of more than a few elements takes, gives g there; its scalar tail loop 1.5*g. This
// follows the vectorised loop.
func HardSwishGrad[T Float](dst, g, x []T) {
	unaryGrad(dst, g, x, func(d, g, x []T) {
		g, x = g[:len(d)], x[:len(d)]
		for i := range d {
			switch v := x[i]; {
			case v < -3:
				d[i] = 0
			case v < 3:
				d[i] = g[i] * (v/3 + 0.5)
			default:
				d[i] = g[i]
			}
		}
	})
}

// GeluGrad sets dst = g·(Φ(x) + x·φ(x)), φ the standard normal density, the derivative of
// Gelu; with tanh set, the derivative of the tanh approximation.
func GeluGrad[T Float](dst, g, x []T, tanh bool) {
	unaryGrad(dst, g, x, func(d, g, x []T) {
		g, x = g[:len(d)], x[:len(d)]
		for i := range d {
			v := float64(x[i])
			var dy float64
			if tanh {
				t := math.Tanh(geluTanhScale * (v + geluTanhCubic*v*v*v))
				dy = 0.5*(1+t) + 0.5*v*(1-t*t)*geluTanhScale*(1+3*geluTanhCubic*v*v)
			} else {
				dy = geluCDF(v, false) + v*math.Exp(-0.5*v*v)/math.Sqrt(2*math.Pi)
			}
			d[i] = T(float64(g[i]) * dy)
		}
	})
}

// SoftplusGrad sets dst = g * sigmoid(x), the derivative of log(1 + e**x).
func SoftplusGrad[T Float](dst, g, x []T) {
	unaryGrad(dst, g, x, func(d, g, x []T) {
		g, x = g[:len(d)], x[:len(d)]
		for i := range d {
			d[i] = T(float64(g[i]) / (1 + math.Exp(-float64(x[i]))))
		}
	})
}

// ClipGrad sets dst = g where lo <= x <= hi and 0 elsewhere (NaN included): torch.clamp passes
// the gradient on the bounds themselves.
func ClipGrad[T Float](dst, g, x []T, lo, hi T) {
	unaryGrad(dst, g, x, func(d, g, x []T) {
		g, x = g[:len(d)], x[:len(d)]
		for i := range d {
			if v := x[i]; v >= lo && v <= hi {
				d[i] = g[i]
			} else {
				d[i] = 0
			}
		}
	})
}

// SoftmaxGrad sets dst = y * (g - sum(g * y)), the sum running along each line of the
// [outer, n, inner] view that Softmax normalised, y being Softmax's output. The sums are
// accumulated in float64. dst may be g.
func SoftmaxGrad[T Float](dst, g, y []T, outer, n, inner int) {
	softmaxGrad(dst, g, y, outer, n, inner, false)
}

// LogSoftmaxGrad sets dst = g - exp(y) * sum(g) along each line, y being LogSoftmax's output.
func LogSoftmaxGrad[T Float](dst, g, y []T, outer, n, inner int) {
	softmaxGrad(dst, g, y, outer, n, inner, true)
}

func softmaxGrad[T Float](dst, g, y []T, outer, n, inner int, log bool) {
	if outer < 0 || n < 0 || inner < 0 || len(y) != outer*n*inner || len(dst) != len(y) || len(g) != len(y) {
		panic(fmt.Sprintf("tensor: softmax gradient over [%d %d %d] with %d, %d and %d elements", outer, n, inner, len(dst), len(g), len(y)))
	}
	if len(y) == 0 {
		return
	}
	block := n * inner
	chunks := ewChunks(len(y), outer)
	ewParallel(chunks, func(c int) {
		lo, hi := outer*c/chunks, outer*(c+1)/chunks
		sum := make([]float64, inner)
		for r := lo; r < hi; r++ {
			d, gg, yy := dst[r*block:(r+1)*block], g[r*block:(r+1)*block], y[r*block:(r+1)*block]
			// Walk the block row by row, so that memory is read contiguously even when the
			// lines are inner elements apart.
			clear(sum)
			for a := 0; a < n; a++ {
				gr, yr := gg[a*inner:(a+1)*inner], yy[a*inner:(a+1)*inner]
				if log {
					for j, v := range gr {
						sum[j] += float64(v)
					}
				} else {
					for j, v := range gr {
						sum[j] += float64(v) * float64(yr[j])
					}
				}
			}
			for a := 0; a < n; a++ {
				dr, gr, yr := d[a*inner:(a+1)*inner], gg[a*inner:(a+1)*inner], yy[a*inner:(a+1)*inner]
				if log {
					for j := range dr {
						dr[j] = T(float64(gr[j]) - math.Exp(float64(yr[j]))*sum[j])
					}
				} else {
					for j := range dr {
						dr[j] = T(float64(yr[j]) * (float64(gr[j]) - sum[j]))
					}
				}
			}
		}
	})
}
