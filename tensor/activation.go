package tensor

import (
	"fmt"
	"math"
)

// The activations below follow the ONNX definitions, each as one pass over src into dst
// (which may be src itself), in parallel over contiguous pieces for large tensors. Where
// exp of a large argument could overflow they use the algebraically equal form that cannot
// (Softplus, Softmax). NaN inputs give NaN outputs.

// Relu sets dst = max(src, 0).
func Relu[T Signed](dst, src []T) {
	unary(dst, src, func(d, s []T) {
		s = s[:len(d)]
		i := 0
		if d32, ok := asFloat32(d); ok {
			// min(v, +Inf) is v bit for bit, NaN included, so the clamp kernel serves.
			i = clampFloat32(d32, mustFloat32(s), 0, float32(math.Inf(1)))
		}
		for ; i < len(d); i++ {
			// The builtin compiles without a branch (a data-dependent one mispredicts on
			// half the activations) and keeps NaN.
			d[i] = max(s[i], 0)
		}
	})
}

// asFloat32 returns s itself when T is float32, for the kernels with a float32 fast path.
func asFloat32[T any](s []T) ([]float32, bool) {
	f, ok := any(s).([]float32)
	return f, ok
}

// mustFloat32 is asFloat32 for a second slice of a type already known to be float32.
func mustFloat32[T any](s []T) []float32 { return any(s).([]float32) }

// LeakyRelu sets dst = src where src >= 0 and alpha*src elsewhere, computed as ONNX's
// reference does, max(src, 0) + alpha*min(src, 0): so alpha 0 turns -Inf into NaN there too.
func LeakyRelu[T Float](dst, src []T, alpha T) {
	unary(dst, src, func(d, s []T) {
		s = s[:len(d)]
		for i := range d {
			v := s[i]
			d[i] = max(v, 0) + alpha*min(v, 0) // branch-free, as in Relu
		}
	})
}

// PRelu is LeakyRelu with a slope per element of the broadcast bc of x's and slope's shapes
// (x first): dst = x where x >= 0 and slope*x elsewhere.
func PRelu[T Float](bc *Broadcast, dst, x, slope []T) {
	binary(bc, dst, x, slope, binaryLoops[T, T, T]{preluVV[T], preluVS[T], preluSV[T]})
}

func preluVV[T Float](dst, x, slope []T) {
	x, slope = x[:len(dst)], slope[:len(dst)]
	for i := range dst {
		v := x[i]
		dst[i] = max(v, 0) + slope[i]*min(v, 0)
	}
}

func preluVS[T Float](dst, x []T, slope T) {
	x = x[:len(dst)]
	for i := range dst {
		v := x[i]
		dst[i] = max(v, 0) + slope*min(v, 0)
	}
}

func preluSV[T Float](dst []T, x T, slope []T) {
	slope = slope[:len(dst)]
	pos, neg := max(x, 0), min(x, 0)
	for i := range dst {
		dst[i] = pos + slope[i]*neg
	}
}

// Elu sets dst = src where src >= 0 and alpha*(e**src - 1) elsewhere.
func Elu[T Float](dst, src []T, alpha T) {
	a := float64(alpha)
	unary(dst, src, func(d, s []T) {
		s = s[:len(d)]
		for i := range d {
			v := s[i]
			if v < 0 {
				v = T(a * math.Expm1(float64(v)))
			}
			d[i] = v
		}
	})
}

// Selu sets dst = gamma*src where src > 0 and gamma*alpha*(e**src - 1) elsewhere.
func Selu[T Float](dst, src []T, alpha, gamma T) {
	a, g := float64(alpha), float64(gamma)
	unary(dst, src, func(d, s []T) {
		s = s[:len(d)]
		for i := range d {
			v := float64(s[i])
			if v > 0 {
				d[i] = T(g * v)
			} else {
				d[i] = T(g * a * math.Expm1(v))
			}
		}
	})
}

// Sigmoid sets dst = 1/(1 + e**-src). float32 is computed in float32 (sigmoid32), to a few
// ulp.
func Sigmoid[T Float](dst, src []T) {
	unary(dst, src, func(d, s []T) {
		s = s[:len(d)]
		if d32, ok := asFloat32(d); ok {
			s32 := mustFloat32(s)
			for i := sigmoidFloat32(d32, s32); i < len(d32); i++ {
				d32[i] = sigmoid32(s32[i])
			}
			return
		}
		for i := range d {
			// In float64 e**-x overflows only to +Inf, which gives the right limit 0.
			d[i] = T(1 / (1 + math.Exp(-float64(s[i]))))
		}
	})
}

// HardSigmoid sets dst = max(0, min(1, alpha*src + beta)). ONNX's defaults are alpha 0.2 and
// beta 0.5; PyTorch's Hardsigmoid exports alpha 1/6.
func HardSigmoid[T Float](dst, src []T, alpha, beta T) {
	unary(dst, src, func(d, s []T) {
		s = s[:len(d)]
		i := 0
		if d32, ok := asFloat32(d); ok {
			i = hardSigmoidFloat32(d32, mustFloat32(s), float32(alpha), float32(beta))
		}
		for ; i < len(d); i++ {
			d[i] = clamp01(alpha*s[i] + beta)
		}
	})
}

// clamp01 keeps NaN, as the builtins do.
func clamp01[T Float](v T) T { return min(max(v, 0), 1) }

// HardSwish sets dst = src * max(0, min(1, src/6 + 1/2)), PyTorch's Hardswish.
func HardSwish[T Float](dst, src []T) {
	unary(dst, src, func(d, s []T) {
		s = s[:len(d)]
		i := 0
		if d32, ok := asFloat32(d); ok {
			i = hardSwishFloat32(d32, mustFloat32(s))
		}
		for ; i < len(d); i++ {
			v := s[i]
			d[i] = v * clamp01(v/6+0.5)
		}
	})
}

// Tanh sets dst = tanh(src). float32 is computed in float32 (tanh32), to a few ulp.
func Tanh[T Float](dst, src []T) {
	unary(dst, src, func(d, s []T) {
		s = s[:len(d)]
		if d32, ok := asFloat32(d); ok {
			s32 := mustFloat32(s)
			for i := tanhFloat32(d32, s32); i < len(d32); i++ {
				d32[i] = tanh32(s32[i])
			}
			return
		}
		for i := range d {
			d[i] = T(math.Tanh(float64(s[i])))
		}
	})
}

// Softplus sets dst = log(1 + e**src), as max(src, 0) + log1p(e**-|src|) so that large
// inputs neither overflow nor lose the small term.
func Softplus[T Float](dst, src []T) {
	unary(dst, src, func(d, s []T) {
		s = s[:len(d)]
		for i := range d {
			v := float64(s[i])
			d[i] = T(max(v, 0) + math.Log1p(math.Exp(-math.Abs(v))))
		}
	})
}

// Gelu sets dst = src·Φ(src), Φ the standard normal CDF, 0.5·(1 + erf(x/√2)); with tanh
// set, the approximation 0.5·(1 + tanh(√(2/π)·(x + 0.044715·x³))) of ONNX's
// approximate="tanh" (PyTorch's gelu(approximate='tanh')).
func Gelu[T Float](dst, src []T, tanh bool) {
	unary(dst, src, func(d, s []T) {
		s = s[:len(d)]
		for i := range d {
			x := float64(s[i])
			d[i] = T(x * geluCDF(x, tanh))
		}
	})
}

// geluCDF is Φ(x) or its tanh approximation.
func geluCDF(x float64, tanh bool) float64 {
	if tanh {
		return 0.5 * (1 + math.Tanh(geluTanhScale*(x+geluTanhCubic*x*x*x)))
	}
	return 0.5 * (1 + math.Erf(x/math.Sqrt2))
}

const (
	geluTanhScale = 0.7978845608028654 // √(2/π)
	geluTanhCubic = 0.044715
)

// Clip sets dst to src limited to [lo, hi]. NaN stays NaN. As in ONNX Runtime, lo > hi gives hi
// everywhere.
func Clip[T Number](dst, src []T, lo, hi T) {
	unary(dst, src, func(d, s []T) {
		s = s[:len(d)]
		i := 0
		if d32, ok := asFloat32(d); ok {
			i = clampFloat32(d32, mustFloat32(s), float32(lo), float32(hi))
		}
		for ; i < len(d); i++ {
			d[i] = min(max(s[i], lo), hi)
		}
	})
}

// clampSerial limits every element of y to [lo, hi] in place on the calling goroutine, as
// Clip does, for kernels that clamp blocks of their own output inside their workers.
func clampSerial(y []float32, lo, hi float32) {
	i := clampFloat32(y, y, lo, hi)
	for ; i < len(y); i++ {
		y[i] = min(max(y[i], lo), hi)
	}
}

// Softmax sets dst to the softmax of src along an axis: src is viewed as [outer, n, inner]
// and every one of its outer*inner lines of n elements (inner elements apart) is normalised
// to exp(x - max) / sum(exp(x - max)). Subtracting the line's maximum keeps exp from
// overflowing; the sum is accumulated in float64. dst may be src.
func Softmax[T Float](dst, src []T, outer, n, inner int) {
	softmax(dst, src, outer, n, inner, false)
}

// LogSoftmax is Softmax's logarithm, computed as x - max - log(sum(exp(x - max))) rather than
// as the log of Softmax, which would lose every probability that underflows to 0.
func LogSoftmax[T Float](dst, src []T, outer, n, inner int) {
	softmax(dst, src, outer, n, inner, true)
}

func softmax[T Float](dst, src []T, outer, n, inner int, log bool) {
	if outer < 0 || n < 0 || inner < 0 || len(src) != outer*n*inner || len(dst) != len(src) {
		panic(fmt.Sprintf("tensor: softmax over [%d %d %d] with %d and %d elements", outer, n, inner, len(src), len(dst)))
	}
	if len(src) == 0 {
		return
	}
	block := n * inner
	chunks := ewChunks(len(src), outer)
	ewParallel(chunks, func(c int) {
		lo, hi := outer*c/chunks, outer*(c+1)/chunks
		if inner == 1 {
			for r := lo; r < hi; r++ {
				softmaxRow(dst[r*n:(r+1)*n], src[r*n:(r+1)*n], log)
			}
			return
		}
		m := make([]T, inner)
		sum := make([]float64, inner)
		for r := lo; r < hi; r++ {
			softmaxStrided(dst[r*block:(r+1)*block], src[r*block:(r+1)*block], n, m, sum, log)
		}
	})
}

// softmaxRow normalises one contiguous line.
func softmaxRow[T Float](d, s []T, log bool) {
	s = s[:len(d)]
	m := s[0]
	for _, v := range s[1:] {
		if v > m {
			m = v
		}
	}
	mf := float64(m)
	sum := 0.0
	if log {
		for _, v := range s {
			sum += math.Exp(float64(v) - mf)
		}
		ls := mf + math.Log(sum)
		for i, v := range s {
			d[i] = T(float64(v) - ls)
		}
		return
	}
	for i, v := range s {
		e := math.Exp(float64(v) - mf)
		d[i] = T(e)
		sum += e
	}
	inv := 1 / sum
	for i := range d {
		d[i] = T(float64(d[i]) * inv)
	}
}

// softmaxStrided normalises the inner lines of one [n, inner] block at once, walking the
// block row by row so that memory is read contiguously; m and sum are per-line scratch.
func softmaxStrided[T Float](d, s []T, n int, m []T, sum []float64, log bool) {
	inner := len(m)
	copy(m, s[:inner])
	for a := 1; a < n; a++ {
		row := s[a*inner : (a+1)*inner]
		for j, v := range row {
			if v > m[j] {
				m[j] = v
			}
		}
	}
	clear(sum)
	for a := 0; a < n; a++ {
		row := s[a*inner : (a+1)*inner]
		out := d[a*inner : (a+1)*inner]
		for j, v := range row {
			e := math.Exp(float64(v) - float64(m[j]))
			sum[j] += e
			if !log {
				out[j] = T(e)
			}
		}
	}
	for j := range sum {
		if log {
			sum[j] = float64(m[j]) + math.Log(sum[j])
		} else {
			sum[j] = 1 / sum[j]
		}
	}
	for a := 0; a < n; a++ {
		row := s[a*inner : (a+1)*inner]
		out := d[a*inner : (a+1)*inner]
		for j := range out {
			if log {
				out[j] = T(float64(row[j]) - sum[j])
			} else {
				out[j] = T(float64(out[j]) * sum[j])
			}
		}
	}
}
