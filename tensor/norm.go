package tensor

import (
	"fmt"
	"math"

	"github.com/onnxtune/onnxtune/internal/parallel"
)

// normWorkers returns how many goroutines a normalisation over total elements is worth.
func normWorkers(total int) int { return poolWorkers(1, total) }

// BatchNorm normalises x = [n, c, spatial] per channel with the given statistics:
// y = (x - mean) / sqrt(variance + eps) * scale + bias, all four of length c. It folds the
// statistics into one multiply-add per element. y may alias x.
func BatchNorm[T float32 | float64](y, x, scale, bias, mean, variance []T, n, c, spatial int, eps float64) {
	if len(x) < n*c*spatial || len(y) < n*c*spatial || len(scale) < c || len(bias) < c || len(mean) < c || len(variance) < c {
		panic(fmt.Sprintf("tensor.BatchNorm: slices too short for [%d %d %d]", n, c, spatial))
	}
	parallel.For(n*c, normWorkers(n*c*spatial), func(p int) {
		ch := p % c
		// The channel's coefficients, computed per plane: a square root per plane costs
		// less than the arrays that would hold them for the call.
		inv := 1 / math.Sqrt(float64(variance[ch])+eps)
		a := T(float64(scale[ch]) * inv)
		b := T(float64(bias[ch]) - float64(mean[ch])*float64(scale[ch])*inv)
		affine(y[p*spatial:(p+1)*spatial], x[p*spatial:(p+1)*spatial], a, b)
	})
}

// affine sets dst[i] = src[i]*a + b.
func affine[T float32 | float64](dst, src []T, a, b T) {
	src = src[:len(dst)]
	i := 0
	if d32, ok := any(dst).([]float32); ok {
		i = affineFloat32(d32, any(src).([]float32), float32(a), float32(b))
	}
	for ; i < len(dst); i++ {
		dst[i] = src[i]*a + b
	}
}

// BatchNormStats computes the per-channel mean and biased (divide by count) variance of
// x = [n, c, spatial] into mean and variance (length c), accumulating in float64 with two
// passes so that a large mean does not swamp the variance.
func BatchNormStats[T float32 | float64](mean, variance, x []T, n, c, spatial int) {
	if len(x) < n*c*spatial || len(mean) < c || len(variance) < c {
		panic(fmt.Sprintf("tensor.BatchNormStats: slices too short for [%d %d %d]", n, c, spatial))
	}
	count := float64(n * spatial)
	parallel.For(c, normWorkers(n*c*spatial), func(ch int) {
		var s float64
		for i := range n {
			s += sumF64(x[(i*c+ch)*spatial : (i*c+ch+1)*spatial])
		}
		m := s / count
		var q float64
		for i := range n {
			q += sqDevF64(x[(i*c+ch)*spatial:(i*c+ch+1)*spatial], m)
		}
		if count == 0 {
			m, q = 0, 0
		} else {
			q /= count
		}
		mean[ch], variance[ch] = T(m), T(q)
	})
}

// normMoments returns the mean and biased variance of v in float64, in two passes.
func normMoments[T float32 | float64](v []T) (mean, variance float64) {
	if len(v) == 0 {
		return 0, 0
	}
	mean = sumF64(v) / float64(len(v))
	return mean, sqDevF64(v, mean) / float64(len(v))
}

// sumF64 returns the sum of v in float64 (float32 values on vector lanes where it can).
func sumF64[T float32 | float64](v []T) float64 {
	s, done := 0.0, 0
	if f, ok := any(v).([]float32); ok {
		s, done = sumF64Float32(f)
	}
	for _, x := range v[done:] {
		s += float64(x)
	}
	return s
}

// sqDevF64 returns the sum of (v[i] - m)² in float64.
func sqDevF64[T float32 | float64](v []T, m float64) float64 {
	q, done := 0.0, 0
	if f, ok := any(v).([]float32); ok {
		q, done = sqDevF64Float32(f, m)
	}
	for _, x := range v[done:] {
		d := float64(x) - m
		q += d * d
	}
	return q
}

// InstanceNorm normalises each plane of x = [n, c, spatial] by its own mean and biased
// variance, then scales and shifts it per channel:
// y = (x - mean) / sqrt(variance + eps) * scale[c] + bias[c]. y may alias x.
func InstanceNorm[T float32 | float64](y, x, scale, bias []T, n, c, spatial int, eps float64) {
	if len(x) < n*c*spatial || len(y) < n*c*spatial || len(scale) < c || len(bias) < c {
		panic(fmt.Sprintf("tensor.InstanceNorm: slices too short for [%d %d %d]", n, c, spatial))
	}
	parallel.For(n*c, normWorkers(n*c*spatial), func(p int) {
		src := x[p*spatial : (p+1)*spatial]
		m, v := normMoments(src)
		inv := 1 / math.Sqrt(v+eps)
		a := T(float64(scale[p%c]) * inv)
		b := T(float64(bias[p%c]) - m*float64(scale[p%c])*inv)
		dst := y[p*spatial : (p+1)*spatial]
		for i, v := range src {
			dst[i] = v*a + b
		}
	})
}

// GroupNorm normalises each group of channels of each image of x = [n, c, spatial] (groups
// groups of c/groups channels) by the group's own mean and biased variance, then scales and
// shifts it per channel: y = (x - mean) / sqrt(variance + eps) * scale[ch] + bias[ch], as
// PyTorch's group_norm and ONNX's GroupNormalization-21. y may alias x.
func GroupNorm[T float32 | float64](y, x, scale, bias []T, n, c, groups, spatial int, eps float64) {
	if groups < 1 || c%groups != 0 || len(x) < n*c*spatial || len(y) < n*c*spatial || len(scale) < c || len(bias) < c {
		panic(fmt.Sprintf("tensor.GroupNorm: %d groups, or slices too short, for [%d %d %d]", groups, n, c, spatial))
	}
	cg := c / groups
	block := cg * spatial
	parallel.For(n*groups, normWorkers(n*c*spatial), func(p int) {
		src := x[p*block : (p+1)*block]
		m, v := normMoments(src)
		inv := 1 / math.Sqrt(v+eps)
		for j := range cg {
			ch := p%groups*cg + j
			a := float64(scale[ch]) * inv
			affine(y[p*block+j*spatial:][:spatial], src[j*spatial:][:spatial], T(a), T(float64(bias[ch])-m*a))
		}
	})
}

// LayerNorm normalises each of the rows of x = [rows, cols] by its own mean and biased
// variance, then applies the per-column scale and bias (length cols; bias may be nil):
// y = (x - mean) * invStdDev * scale + bias with invStdDev = 1/sqrt(variance + eps). If mean
// and invStdDev are not nil they receive each row's statistics (what the gradient needs).
// y may alias x.
func LayerNorm[T float32 | float64](y, mean, invStdDev, x, scale, bias []T, rows, cols int, eps float64) {
	if len(x) < rows*cols || len(y) < rows*cols || len(scale) < cols || bias != nil && len(bias) < cols ||
		mean != nil && len(mean) < rows || invStdDev != nil && len(invStdDev) < rows {
		panic(fmt.Sprintf("tensor.LayerNorm: slices too short for [%d %d]", rows, cols))
	}
	parallel.For(rows, normWorkers(rows*cols), func(r int) {
		src := x[r*cols : (r+1)*cols]
		m, v := normMoments(src)
		inv := 1 / math.Sqrt(v+eps)
		if mean != nil {
			mean[r] = T(m)
		}
		if invStdDev != nil {
			invStdDev[r] = T(inv)
		}
		mt, it := T(m), T(inv)
		dst := y[r*cols : (r+1)*cols]
		if bias == nil {
			for i, v := range src {
				dst[i] = (v - mt) * it * scale[i]
			}
			return
		}
		for i, v := range src {
			dst[i] = (v-mt)*it*scale[i] + bias[i]
		}
	})
}

// LRN is local response normalisation across channels of x = [n, c, spatial]:
// y = x / (bias + alpha/size * sum of x² over the channels [ch - (size-1)/2, ch + size/2])^beta,
// the window clipped to the existing channels, as ONNX defines it.
func LRN[T float32 | float64](y, x []T, n, c, spatial, size int, alpha, beta, bias float64) {
	if len(x) < n*c*spatial || len(y) < n*c*spatial {
		panic(fmt.Sprintf("tensor.LRN: slices too short for [%d %d %d]", n, c, spatial))
	}
	before, after := (size-1)/2, size/2 // floor and ceil of (size-1)/2
	scale := alpha / float64(size)
	parallel.For(n*c, normWorkers(n*c*spatial*size), func(p int) {
		img, ch := p/c, p%c
		lo, hi := max(0, ch-before), min(c-1, ch+after)
		sq := make([]float64, spatial)
		for k := lo; k <= hi; k++ {
			for i, v := range x[(img*c+k)*spatial : (img*c+k+1)*spatial] {
				sq[i] += float64(v) * float64(v)
			}
		}
		dst := y[p*spatial : (p+1)*spatial]
		for i, v := range x[p*spatial : (p+1)*spatial] {
			dst[i] = T(float64(v) / math.Pow(bias+scale*sq[i], beta))
		}
	})
}
