package tensor

import (
	"fmt"
	"math"

	"github.com/onnxtune/onnxtune/internal/parallel"
)

// The normalisation gradients. Each takes the destinations first, any of which may be nil
// when that gradient is not wanted (and then costs nothing), and recomputes the statistics
// it needs from x rather than trusting a stored copy, so that float64 runs stay exact.
//
// With x̂ = (x - mean)·inv over a group of M values normalised together, inv =
// 1/sqrt(var + eps) and the biased variance, the gradient through the statistics is
//
//	dx = scale·inv·(g - mean(g) - x̂·mean(g·x̂))
//
// which is what PyTorch's batch_norm (train), instance_norm and layer_norm backward compute.

// BatchNormGrad computes BatchNormalization's gradients over x = [n, c, spatial] for the
// upstream gradient g: dx (x's shape), dscale and dbias (length c). mean and variance are the
// statistics the forward pass normalised with: the running ones in inference, after which
// the map is affine per channel and dx = g·scale·inv; or, with batchStats, x's own biased
// batch statistics (BatchNormStats), through which dx then also flows. Sums accumulate in
// float64. Each destination is overwritten; a nil one is skipped. x may be nil when only dx
// and dbias are wanted in inference, and scale when dx is not wanted.
func BatchNormGrad[T Float](dx, dscale, dbias, g, x, scale, mean, variance []T, n, c, spatial int, eps float64, batchStats bool) {
	total := n * c * spatial
	withX := dscale != nil || batchStats // x is read only for these
	if len(g) < total || withX && len(x) < total || dx != nil && len(dx) < total ||
		dscale != nil && len(dscale) < c || dbias != nil && len(dbias) < c || len(mean) < c || len(variance) < c ||
		dx != nil && len(scale) < c {
		panic(fmt.Sprintf("tensor.BatchNormGrad: slices too short for [%d %d %d]", n, c, spatial))
	}
	sums := dscale != nil || dbias != nil || dx != nil && batchStats
	count := float64(n * spatial)
	// In inference the map is affine and dx = g·k needs no sums: it is written in the pass
	// that sums g (and g·x).
	affineDx := dx != nil && (!batchStats || count == 0)
	parallel.For(c, normWorkers(total), func(ch int) {
		inv := 1 / math.Sqrt(float64(variance[ch])+eps)
		m := float64(mean[ch])
		var k float64
		if dx != nil {
			k = float64(scale[ch]) * inv
		}
		var sg, sgx float64 // sum of g, sum of g·(x - mean)
		if sums {
			for i := range n {
				p := (i*c + ch) * spatial
				var xs, d []T
				if withX {
					xs = x[p : p+spatial]
				}
				if affineDx {
					d = dx[p : p+spatial]
				}
				a, b := normSums(g[p:p+spatial], xs, d, m, T(k), withX)
				sg += a
				sgx += b
			}
			if dbias != nil {
				dbias[ch] = T(sg)
			}
			if dscale != nil {
				dscale[ch] = T(sgx * inv)
			}
		}
		if dx == nil || affineDx && sums { // done, or written with the sums
			return
		}
		if affineDx {
			kt := T(k)
			for i := range n {
				p := (i*c + ch) * spatial
				d, gg := dx[p:p+spatial], g[p:p+spatial]
				for j, v := range gg {
					d[j] = v * kt
				}
			}
			return
		}
		// dx = k·(g - sg/M - (x - m)·inv²·sgx/M) = a·g + b·x + off
		b := -k * inv * inv * sgx / count
		a, bt, off := T(k), T(b), T(-k*sg/count-b*m)
		for i := range n {
			p := (i*c + ch) * spatial
			d, gg, xx := dx[p:p+spatial], g[p:p+spatial], x[p:p+spatial]
			xx = xx[:len(gg)]
			j := 0
			if d32, ok := any(d).([]float32); ok {
				j = bnInputGradFloat32(d32, any(gg).([]float32), any(xx).([]float32), float32(a), float32(bt), float32(off))
			}
			for ; j < len(gg); j++ {
				d[j] = a*gg[j] + bt*xx[j] + off
			}
		}
	})
}

// normSums returns the sums of g and, if withX, of g·(x - m), in float64; if dx is not nil
// it also writes dx = g·k.
func normSums[T Float](g, x, dx []T, m float64, k T, withX bool) (sg, sgx float64) {
	if !withX {
		for j := range dx {
			dx[j] = g[j] * k
		}
		return sumF64(g), 0
	}
	x = x[:len(g)]
	done := 0
	if gf, ok := any(g).([]float32); ok {
		sg, sgx, done = gradSumsF64Float32(gf, any(x).([]float32), any(dx).([]float32), m, float32(k))
	}
	for j := done; j < len(g); j++ {
		gv := float64(g[j])
		sg += gv
		sgx += gv * (float64(x[j]) - m)
		if dx != nil {
			dx[j] = g[j] * k
		}
	}
	return sg, sgx
}

// InstanceNormGrad computes InstanceNormalization's gradients over x = [n, c, spatial], each
// plane normalised by its own statistics: dx (x's shape), dscale and dbias (length c, summed
// over the planes of each channel). A nil destination is skipped.
func InstanceNormGrad[T Float](dx, dscale, dbias, g, x, scale []T, n, c, spatial int, eps float64) {
	total := n * c * spatial
	if len(g) < total || len(x) < total || dx != nil && (len(dx) < total || len(scale) < c) ||
		dscale != nil && len(dscale) < c || dbias != nil && len(dbias) < c {
		panic(fmt.Sprintf("tensor.InstanceNormGrad: slices too short for [%d %d %d]", n, c, spatial))
	}
	// Per plane: the sum of g and the sum of g·x̂.
	sg, sgx := make([]float64, n*c), make([]float64, n*c)
	parallel.For(n*c, normWorkers(total), func(p int) {
		xs, gs := x[p*spatial:(p+1)*spatial], g[p*spatial:(p+1)*spatial]
		m, v := normMoments(xs)
		inv := 1 / math.Sqrt(v+eps)
		a, b := normSums(gs, xs, nil, m, 0, true)
		sg[p], sgx[p] = a, b*inv
		if dx == nil || spatial == 0 {
			return
		}
		k := float64(scale[p%c]) * inv
		cnt := float64(spatial)
		// dx = k·(g - sg/M - x̂·sgx'/M) with sgx' the sum of g·x̂
		bx := -k * inv * sgx[p] / cnt
		at, bt, off := T(k), T(bx), T(-k*a/cnt-bx*m)
		d := dx[p*spatial : (p+1)*spatial]
		xs = xs[:len(gs)]
		for j, v := range gs {
			d[j] = at*v + bt*xs[j] + off
		}
	})
	for ch := range c {
		var a, b float64
		for i := range n {
			a += sg[i*c+ch]
			b += sgx[i*c+ch]
		}
		if dbias != nil {
			dbias[ch] = T(a)
		}
		if dscale != nil {
			dscale[ch] = T(b)
		}
	}
}

// GroupNormGrad computes GroupNorm's gradients over x = [n, c, spatial]: dx (x's shape),
// dscale and dbias (length c, per channel, summed over the images). A nil destination is
// skipped; scale is needed for dx only.
func GroupNormGrad[T Float](dx, dscale, dbias, g, x, scale []T, n, c, groups, spatial int, eps float64) {
	total := n * c * spatial
	if groups < 1 || c%groups != 0 || len(g) < total || len(x) < total || dx != nil && (len(dx) < total || len(scale) < c) ||
		dscale != nil && len(dscale) < c || dbias != nil && len(dbias) < c {
		panic(fmt.Sprintf("tensor.GroupNormGrad: %d groups, or slices too short, for [%d %d %d]", groups, n, c, spatial))
	}
	cg := c / groups
	block := cg * spatial
	// Per image and channel: the sum of g and the sum of g·x̂.
	sg, sgx := make([]float64, n*c), make([]float64, n*c)
	parallel.For(n*groups, normWorkers(total), func(p int) {
		xs, gs := x[p*block:(p+1)*block], g[p*block:(p+1)*block]
		m, v := normMoments(xs)
		inv := 1 / math.Sqrt(v+eps)
		first := p/groups*c + p%groups*cg // this block's first (image, channel)
		var sa, sb float64                // the sums of dx̂ and dx̂·x̂ over the block
		for j := range cg {
			a, b := normSums(gs[j*spatial:(j+1)*spatial], xs[j*spatial:(j+1)*spatial], nil, m, 0, true)
			sg[first+j], sgx[first+j] = a, b*inv
			if dx != nil {
				sc := float64(scale[first%c+j])
				sa += sc * a
				sb += sc * b * inv
			}
		}
		if dx == nil || block == 0 {
			return
		}
		cnt := float64(block)
		// dx = inv·(scale·g - sa/M - x̂·sb/M), x̂ = (x - m)·inv
		bx := -inv * inv * sb / cnt
		for j := range cg {
			k := float64(scale[first%c+j]) * inv
			at, bt, off := T(k), T(bx), T(-inv*sa/cnt-bx*m)
			d := dx[p*block+j*spatial:][:spatial]
			xr := xs[j*spatial:][:spatial]
			for i, v := range gs[j*spatial:][:spatial] {
				d[i] = at*v + bt*xr[i] + off
			}
		}
	})
	for ch := range c {
		var a, b float64
		for i := range n {
			a += sg[i*c+ch]
			b += sgx[i*c+ch]
		}
		if dbias != nil {
			dbias[ch] = T(a)
		}
		if dscale != nil {
			dscale[ch] = T(b)
		}
	}
}

// LayerNormGrad computes LayerNormalization's gradients over x = [rows, cols], each row
// normalised by its own statistics and scaled per column: dx (x's shape), dscale and dbias
// (length cols, summed over the rows). A nil destination is skipped. Rows run in parallel
// chunks with private float64 accumulators for the column sums.
func LayerNormGrad[T Float](dx, dscale, dbias, g, x, scale []T, rows, cols int, eps float64) {
	total := rows * cols
	if len(g) < total || len(x) < total || dx != nil && (len(dx) < total || len(scale) < cols) ||
		dscale != nil && len(dscale) < cols || dbias != nil && len(dbias) < cols {
		panic(fmt.Sprintf("tensor.LayerNormGrad: slices too short for [%d %d]", rows, cols))
	}
	chunks := min(normWorkers(total), max(rows, 1))
	var accS, accB [][]float64
	if dscale != nil {
		accS = make([][]float64, chunks)
	}
	if dbias != nil {
		accB = make([][]float64, chunks)
	}
	parallel.For(chunks, chunks, func(ci int) {
		var as, ab []float64
		if accS != nil {
			as = make([]float64, cols)
			accS[ci] = as
		}
		if accB != nil {
			ab = make([]float64, cols)
			accB[ci] = ab
		}
		gs := make([]float64, cols) // g·scale
		for r := rows * ci / chunks; r < rows*(ci+1)/chunks; r++ {
			xs, gr := x[r*cols:(r+1)*cols], g[r*cols:(r+1)*cols]
			m, v := normMoments(xs)
			inv := 1 / math.Sqrt(v+eps)
			for j, gv := range gr {
				xh := (float64(xs[j]) - m) * inv
				if as != nil {
					as[j] += float64(gv) * xh
				}
				if ab != nil {
					ab[j] += float64(gv)
				}
			}
			if dx == nil || cols == 0 {
				continue
			}
			var sg, sgx float64 // sums of g·scale and g·scale·x̂
			for j, gv := range gr {
				gs[j] = float64(gv) * float64(scale[j])
				sg += gs[j]
				sgx += gs[j] * (float64(xs[j]) - m) * inv
			}
			n := float64(cols)
			d := dx[r*cols : (r+1)*cols]
			for j := range d {
				xh := (float64(xs[j]) - m) * inv
				d[j] = T(inv * (gs[j] - sg/n - xh*sgx/n))
			}
		}
	})
	for _, part := range []struct {
		dst []T
		acc [][]float64
	}{{dscale, accS}, {dbias, accB}} {
		if part.dst == nil {
			continue
		}
		for j := range cols {
			var s float64
			for _, a := range part.acc {
				s += a[j]
			}
			part.dst[j] = T(s)
		}
	}
}

// LRNGrad overwrites dx with the gradient of LRN (same window and constants as LRN) over
// x = [n, c, spatial]. With D = bias + alpha/size·(sum of x² over the window) and
// y = x·D^-beta, the input gradient is
//
//	dx_j = g_j·D_j^-beta - 2·alpha·beta/size · x_j · sum over the windows i holding j of g_i·x_i·D_i^(-beta-1).
func LRNGrad[T Float](dx, g, x []T, n, c, spatial, size int, alpha, beta, bias float64) {
	total := n * c * spatial
	if len(dx) < total || len(g) < total || len(x) < total {
		panic(fmt.Sprintf("tensor.LRNGrad: slices too short for [%d %d %d]", n, c, spatial))
	}
	before, after := (size-1)/2, size/2
	scale := alpha / float64(size)
	// pass 1: per cell, D^-beta and t = g·x·D^(-beta-1)
	pw, t := make([]float64, total), make([]float64, total)
	workers := normWorkers(total * size)
	parallel.For(n*c, workers, func(p int) {
		img, ch := p/c, p%c
		lo, hi := max(0, ch-before), min(c-1, ch+after)
		d := pw[p*spatial : (p+1)*spatial]
		clear(d)
		for k := lo; k <= hi; k++ {
			for i, v := range x[(img*c+k)*spatial : (img*c+k+1)*spatial] {
				d[i] += float64(v) * float64(v)
			}
		}
		tt := t[p*spatial : (p+1)*spatial]
		xs, gs := x[p*spatial:(p+1)*spatial], g[p*spatial:(p+1)*spatial]
		for i := range d {
			den := bias + scale*d[i]
			d[i] = math.Pow(den, -beta)
			tt[i] = float64(gs[i]) * float64(xs[i]) * d[i] / den
		}
	})
	// pass 2: channel j lies in the windows of channels [j - after, j + before]
	k2 := 2 * scale * beta
	parallel.For(n*c, workers, func(p int) {
		img, ch := p/c, p%c
		lo, hi := max(0, ch-after), min(c-1, ch+before)
		d := dx[p*spatial : (p+1)*spatial]
		xs, gs, ps := x[p*spatial:(p+1)*spatial], g[p*spatial:(p+1)*spatial], pw[p*spatial:(p+1)*spatial]
		s := make([]float64, spatial)
		for k := lo; k <= hi; k++ {
			for i, v := range t[(img*c+k)*spatial : (img*c+k+1)*spatial] {
				s[i] += v
			}
		}
		for i := range d {
			d[i] = T(float64(gs[i])*ps[i] - k2*float64(xs[i])*s[i])
		}
	})
}
