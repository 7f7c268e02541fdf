package tensor_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/onnxtune/onnxtune/tensor"
)

// ngradRandom returns n normal values times scale plus shift.
func ngradRandom(r *rand.Rand, n int, scale, shift float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = r.NormFloat64()*scale + shift
	}
	return v
}

// ngradNumeric returns the central-difference gradient of <g, f()> with respect to v, which
// f reads: each element is nudged in place and restored.
func ngradNumeric(v, g []float64, f func() []float64) []float64 {
	out := make([]float64, len(v))
	for i := range v {
		x := v[i]
		h := 1e-6 * math.Max(1, math.Abs(x))
		v[i] = x + h
		p := f()
		v[i] = x - h
		m := f()
		v[i] = x
		var s float64
		for j := range g {
			s += g[j] * (p[j] - m[j])
		}
		out[i] = s / (2 * h)
	}
	return out
}

func ngradClose(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d values, want %d", what, len(got), len(want))
	}
	var diff, norm float64
	for i := range want {
		diff += (got[i] - want[i]) * (got[i] - want[i])
		norm += want[i] * want[i]
	}
	if rel := math.Sqrt(diff) / math.Max(math.Sqrt(norm), 1e-12); !(rel <= tol) {
		t.Errorf("%s: relative error %.3g (got %v, want %v)", what, rel, got, want)
	}
}

// TestBatchNormGrad checks the three gradients against central differences of BatchNorm, with
// the running statistics (inference) and with x's own batch statistics (training), and that
// a nil destination leaves the others unchanged.
func TestBatchNormGrad(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const n, c, spatial, eps = 3, 4, 5, 1e-3
	x := ngradRandom(r, n*c*spatial, 1.5, 0.5)
	scale, bias := ngradRandom(r, c, 0.5, 1), ngradRandom(r, c, 0.5, 0)
	mean, variance := ngradRandom(r, c, 0.3, 0.2), ngradRandom(r, c, 0.1, 0.8)
	g := ngradRandom(r, len(x), 1, 0)
	for _, train := range []bool{false, true} {
		t.Run(fmt.Sprintf("train=%v", train), func(t *testing.T) {
			fwd := func() []float64 {
				m, v := mean, variance
				if train {
					m, v = make([]float64, c), make([]float64, c)
					tensor.BatchNormStats(m, v, x, n, c, spatial)
				}
				y := make([]float64, len(x))
				tensor.BatchNorm(y, x, scale, bias, m, v, n, c, spatial, eps)
				return y
			}
			m, v := mean, variance
			if train {
				m, v = make([]float64, c), make([]float64, c)
				tensor.BatchNormStats(m, v, x, n, c, spatial)
			}
			dx, ds, db := nanFilled(len(x)), nanFilled(c), nanFilled(c) // BatchNormGrad overwrites them
			tensor.BatchNormGrad(dx, ds, db, g, x, scale, m, v, n, c, spatial, eps, train)
			ngradClose(t, "dx", dx, ngradNumeric(x, g, fwd), 1e-7)
			ngradClose(t, "dscale", ds, ngradNumeric(scale, g, fwd), 1e-7)
			ngradClose(t, "dbias", db, ngradNumeric(bias, g, fwd), 1e-7)
			// Each gradient alone; in inference dx needs neither x nor the others.
			xIn := x
			if !train {
				xIn = nil
			}
			only := make([]float64, len(x))
			tensor.BatchNormGrad(only, nil, nil, g, xIn, scale, m, v, n, c, spatial, eps, train)
			ngradClose(t, "dx alone", only, dx, 1e-15)
			only = make([]float64, c)
			tensor.BatchNormGrad(nil, only, nil, g, x, nil, m, v, n, c, spatial, eps, train)
			ngradClose(t, "dscale alone", only, ds, 1e-15)
		})
	}
}

// nanFilled returns n NaNs: a destination whose every element a kernel must write.
func nanFilled(n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = math.NaN()
	}
	return v
}

// TestInstanceNormGrad checks InstanceNormGrad against central differences of InstanceNorm.
func TestInstanceNormGrad(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const n, c, spatial, eps = 2, 3, 7, 1e-3
	x := ngradRandom(r, n*c*spatial, 2, -0.5)
	scale, bias := ngradRandom(r, c, 0.5, 1), ngradRandom(r, c, 0.5, 0)
	g := ngradRandom(r, len(x), 1, 0)
	fwd := func() []float64 {
		y := make([]float64, len(x))
		tensor.InstanceNorm(y, x, scale, bias, n, c, spatial, eps)
		return y
	}
	dx, ds, db := make([]float64, len(x)), make([]float64, c), make([]float64, c)
	tensor.InstanceNormGrad(dx, ds, db, g, x, scale, n, c, spatial, eps)
	ngradClose(t, "dx", dx, ngradNumeric(x, g, fwd), 1e-7)
	ngradClose(t, "dscale", ds, ngradNumeric(scale, g, fwd), 1e-7)
	ngradClose(t, "dbias", db, ngradNumeric(bias, g, fwd), 1e-7)
}

// TestLayerNormGrad checks LayerNormGrad against central differences of LayerNorm, and on a
// size that splits the rows over goroutines, against the same rows one at a time.
func TestLayerNormGrad(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const rows, cols, eps = 4, 6, 1e-2
	x := ngradRandom(r, rows*cols, 1, 0.3)
	scale, bias := ngradRandom(r, cols, 0.5, 1), ngradRandom(r, cols, 0.5, 0)
	g := ngradRandom(r, len(x), 1, 0)
	fwd := func() []float64 {
		y := make([]float64, len(x))
		tensor.LayerNorm(y, nil, nil, x, scale, bias, rows, cols, eps)
		return y
	}
	dx, ds, db := make([]float64, len(x)), make([]float64, cols), make([]float64, cols)
	tensor.LayerNormGrad(dx, ds, db, g, x, scale, rows, cols, eps)
	ngradClose(t, "dx", dx, ngradNumeric(x, g, fwd), 1e-7)
	ngradClose(t, "dscale", ds, ngradNumeric(scale, g, fwd), 1e-7)
	ngradClose(t, "dbias", db, ngradNumeric(bias, g, fwd), 1e-7)

	const bigRows, bigCols = 600, 128
	bx, bs, bg := ngradRandom(r, bigRows*bigCols, 1, 0), ngradRandom(r, bigCols, 0.5, 1), ngradRandom(r, bigRows*bigCols, 1, 0)
	dx, ds, db = make([]float64, len(bx)), make([]float64, bigCols), make([]float64, bigCols)
	tensor.LayerNormGrad(dx, ds, db, bg, bx, bs, bigRows, bigCols, 1e-5)
	wantDx, wantDs, wantDb := make([]float64, len(bx)), make([]float64, bigCols), make([]float64, bigCols)
	rs, rb := make([]float64, bigCols), make([]float64, bigCols)
	for i := range bigRows {
		sl := func(v []float64) []float64 { return v[i*bigCols : (i+1)*bigCols] }
		tensor.LayerNormGrad(sl(wantDx), rs, rb, sl(bg), sl(bx), bs, 1, bigCols, 1e-5)
		for j := range bigCols {
			wantDs[j] += rs[j]
			wantDb[j] += rb[j]
		}
	}
	ngradClose(t, "parallel dx", dx, wantDx, 1e-12)
	ngradClose(t, "parallel dscale", ds, wantDs, 1e-12)
	ngradClose(t, "parallel dbias", db, wantDb, 1e-12)
}

// TestLRNGrad checks LRNGrad against central differences of LRN for odd and even windows.
func TestLRNGrad(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	const n, c, spatial = 2, 6, 3
	for _, size := range []int{1, 3, 4, 5, 8} {
		t.Run(fmt.Sprint("size", size), func(t *testing.T) {
			x := ngradRandom(r, n*c*spatial, 1, 0)
			g := ngradRandom(r, len(x), 1, 0)
			fwd := func() []float64 {
				y := make([]float64, len(x))
				tensor.LRN(y, x, n, c, spatial, size, 0.4, 0.75, 1.5)
				return y
			}
			dx := make([]float64, len(x))
			tensor.LRNGrad(dx, g, x, n, c, spatial, size, 0.4, 0.75, 1.5)
			ngradClose(t, "dx", dx, ngradNumeric(x, g, fwd), 1e-7)
		})
	}
}

// BenchmarkBatchNormGrad measures the training-mode gradient on resnet18's first
// BatchNormalization at batch 8 (64x112x112), beside the forward pass.
func BenchmarkBatchNormGrad(b *testing.B) {
	const n, c, spatial = 8, 64, 112 * 112
	r := rand.New(rand.NewPCG(1, 2))
	x, g, dx := make([]float32, n*c*spatial), make([]float32, n*c*spatial), make([]float32, n*c*spatial)
	for i := range x {
		x[i], g[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
	}
	scale, bias, m, v := make([]float32, c), make([]float32, c), make([]float32, c), make([]float32, c)
	for i := range scale {
		scale[i] = 1
	}
	ds, db := make([]float32, c), make([]float32, c)
	b.Run("forward-train", func(b *testing.B) {
		for range b.N {
			tensor.BatchNormStats(m, v, x, n, c, spatial)
			tensor.BatchNorm(dx, x, scale, bias, m, v, n, c, spatial, 1e-5)
		}
	})
	b.Run("backward-train", func(b *testing.B) {
		for range b.N {
			tensor.BatchNormStats(m, v, x, n, c, spatial)
			tensor.BatchNormGrad(dx, ds, db, g, x, scale, m, v, n, c, spatial, 1e-5, true)
		}
	})
}
