package tensor_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/onnxtune/onnxtune/tensor"
)

// The reference for each gradient kernel is the forward kernel it differentiates: central
// differences of tensor's own function, in float64, element by element (an element-wise
// function has a diagonal Jacobian, so one perturbation of the whole input gives every partial
// derivative at once). The tensors are long enough to be split over goroutines.

const gkLen = 40000 // above the element count at which the kernels go parallel

// gkUnary is one element-wise function and its gradient kernel.
type gkUnary struct {
	name string
	f    func(dst, src []float64)
	// grad64 and grad32 compute dst from g and the value the kernel reads: the input x, or
	// the output y when fromOut is set.
	grad64  func(dst, g, v []float64)
	grad32  func(dst, g, v []float32)
	fromOut bool
	lo, hi  float64 // the input range, away from kinks
	kinkAt  []float64
}

func gkUnaries() []gkUnary {
	const alpha, gamma = 0.3, 1.2
	return []gkUnary{
		{name: "Sqrt", f: tensor.Sqrt[float64], grad64: tensor.SqrtGrad[float64], grad32: tensor.SqrtGrad[float32], fromOut: true, lo: 0.1, hi: 4},
		{name: "Exp", f: tensor.Exp[float64], grad64: tensor.MulGrad[float64], grad32: tensor.MulGrad[float32], fromOut: true, lo: -3, hi: 3},
		{name: "Log", f: tensor.Log[float64], grad64: tensor.LogGrad[float64], grad32: tensor.LogGrad[float32], lo: 0.1, hi: 4},
		{name: "Abs", f: tensor.Abs[float64], grad64: tensor.AbsGrad[float64], grad32: tensor.AbsGrad[float32], lo: -3, hi: 3, kinkAt: []float64{0}},
		{name: "Erf", f: tensor.Erf[float64], grad64: tensor.ErfGrad[float64], grad32: tensor.ErfGrad[float32], lo: -3, hi: 3},
		{name: "Relu", f: tensor.Relu[float64], grad64: tensor.ReluGrad[float64], grad32: tensor.ReluGrad[float32], fromOut: true, lo: -3, hi: 3, kinkAt: []float64{0}},
		{name: "LeakyRelu",
			f:      func(d, s []float64) { tensor.LeakyRelu(d, s, alpha) },
			grad64: func(d, g, x []float64) { tensor.LeakyReluGrad(d, g, x, alpha) },
			grad32: func(d, g, x []float32) { tensor.LeakyReluGrad(d, g, x, alpha) },
			lo:     -3, hi: 3, kinkAt: []float64{0}},
		{name: "Elu",
			f:      func(d, s []float64) { tensor.Elu(d, s, alpha) },
			grad64: func(d, g, x []float64) { tensor.EluGrad(d, g, x, alpha) },
			grad32: func(d, g, x []float32) { tensor.EluGrad(d, g, x, alpha) },
			lo:     -3, hi: 3, kinkAt: []float64{0}},
		{name: "Selu",
			f:      func(d, s []float64) { tensor.Selu(d, s, alpha, gamma) },
			grad64: func(d, g, x []float64) { tensor.SeluGrad(d, g, x, alpha, gamma) },
			grad32: func(d, g, x []float32) { tensor.SeluGrad(d, g, x, alpha, gamma) },
			lo:     -3, hi: 3, kinkAt: []float64{0}},
		{name: "Sigmoid", f: tensor.Sigmoid[float64], grad64: tensor.SigmoidGrad[float64], grad32: tensor.SigmoidGrad[float32], fromOut: true, lo: -6, hi: 6},
		{name: "Tanh", f: tensor.Tanh[float64], grad64: tensor.TanhGrad[float64], grad32: tensor.TanhGrad[float32], fromOut: true, lo: -3, hi: 3},
		{name: "HardSigmoid",
			f:      func(d, s []float64) { tensor.HardSigmoid(d, s, 0.2, 0.5) },
			grad64: func(d, g, x []float64) { tensor.HardSigmoidGrad(d, g, x, 0.2, 0.5) },
			grad32: func(d, g, x []float32) { tensor.HardSigmoidGrad(d, g, x, 0.2, 0.5) },
			lo:     -4, hi: 4, kinkAt: []float64{-2.5, 2.5}},
		{name: "HardSwish", f: tensor.HardSwish[float64], grad64: tensor.HardSwishGrad[float64], grad32: tensor.HardSwishGrad[float32], lo: -5, hi: 5, kinkAt: []float64{-3, 3}},
		{name: "Gelu",
			f:      func(d, s []float64) { tensor.Gelu(d, s, false) },
			grad64: func(d, g, x []float64) { tensor.GeluGrad(d, g, x, false) },
			grad32: func(d, g, x []float32) { tensor.GeluGrad(d, g, x, false) },
			lo:     -5, hi: 5},
		{name: "Gelu/tanh",
			f:      func(d, s []float64) { tensor.Gelu(d, s, true) },
			grad64: func(d, g, x []float64) { tensor.GeluGrad(d, g, x, true) },
			grad32: func(d, g, x []float32) { tensor.GeluGrad(d, g, x, true) },
			lo:     -5, hi: 5},
		{name: "Softplus", f: tensor.Softplus[float64], grad64: tensor.SoftplusGrad[float64], grad32: tensor.SoftplusGrad[float32], lo: -30, hi: 30},
		{name: "Clip",
			f:      func(d, s []float64) { tensor.Clip(d, s, -1, 0.5) },
			grad64: func(d, g, x []float64) { tensor.ClipGrad(d, g, x, -1, 0.5) },
			grad32: func(d, g, x []float32) { tensor.ClipGrad(d, g, x, -1, 0.5) },
			lo:     -2, hi: 2, kinkAt: []float64{-1, 0.5}},
	}
}

// gkRandom returns n values in [lo, hi) at least 1e-3 from every kink.
func gkRandom(r *rand.Rand, n int, lo, hi float64, kinks []float64) []float64 {
	out := make([]float64, n)
	for i := range out {
	again:
		v := lo + (hi-lo)*r.Float64()
		for _, k := range kinks {
			if math.Abs(v-k) < 1e-3 {
				goto again
			}
		}
		out[i] = v
	}
	return out
}

func gkTo32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

func TestUnaryGradFiniteDifferences(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, u := range gkUnaries() {
		t.Run(u.name, func(t *testing.T) {
			x := gkRandom(r, gkLen, u.lo, u.hi, u.kinkAt)
			g := gkRandom(r, gkLen, -1, 1, nil)
			y := make([]float64, gkLen)
			u.f(y, x)
			v := x
			if u.fromOut {
				v = y
			}
			got := make([]float64, gkLen)
			u.grad64(got, g, v)
			// Central differences with one step for all elements.
			const h = 1e-6
			xp, xm, yp, ym := make([]float64, gkLen), make([]float64, gkLen), make([]float64, gkLen), make([]float64, gkLen)
			for i, xi := range x {
				xp[i], xm[i] = xi+h, xi-h
			}
			u.f(yp, xp)
			u.f(ym, xm)
			for i := range x {
				want := g[i] * (yp[i] - ym[i]) / (xp[i] - xm[i])
				if !(math.Abs(got[i]-want) <= 1e-6*math.Max(1, math.Abs(want))) {
					t.Fatalf("at x = %v: got %v, want %v (central differences of %s)", x[i], got[i], want, u.name)
				}
			}
			// The float32 kernel agrees with the float64 one to float32 precision.
			got32 := make([]float32, gkLen)
			u.grad32(got32, gkTo32(g), gkTo32(v))
			for i := range got32 {
				if !(math.Abs(float64(got32[i])-got[i]) <= 1e-5*math.Max(1, math.Abs(got[i]))) {
					t.Fatalf("float32 at x = %v: got %v, the float64 kernel %v", x[i], got32[i], got[i])
				}
			}
		})
	}
}

// TestUnaryGradKinks pins the one-sided choices at the kinks to PyTorch's (see the backprop
// tests for the comparison with PyTorch itself).
func TestUnaryGradKinks(t *testing.T) {
	byName := map[string]gkUnary{}
	for _, u := range gkUnaries() {
		byName[u.name] = u
	}
	for _, c := range []struct {
		name string
		x    float64
		want float64 // the derivative
	}{
		{"Abs", 0, 0}, {"Relu", 0, 0}, {"LeakyRelu", 0, 0.3}, {"Elu", 0, 0.3}, {"Selu", 0, 0.3 * 1.2},
		{"HardSigmoid", -2.5, 0}, {"HardSigmoid", 2.5, 0}, {"HardSwish", -3, -0.5}, {"HardSwish", 3, 1},
		{"Clip", -1, 1}, {"Clip", 0.5, 1},
	} {
		u := byName[c.name]
		v := []float64{c.x}
		if u.fromOut {
			u.f(v, v)
		}
		got := []float64{0}
		u.grad64(got, []float64{1}, v)
		if !(math.Abs(got[0]-c.want) <= 1e-12) {
			t.Errorf("%s'(%v): got %v, want %v", c.name, c.x, got[0], c.want)
		}
	}
}

// TestSoftmaxGrad checks SoftmaxGrad and LogSoftmaxGrad against directional central
// differences of Softmax and LogSoftmax over views with and without an inner stride.
func TestSoftmaxGrad(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, dims := range [][3]int{{3, 5, 1}, {2, 4, 3}, {400, 10, 1}, {20, 10, 20}} {
		for _, log := range []bool{false, true} {
			fwd, grad := tensor.Softmax[float64], tensor.SoftmaxGrad[float64]
			grad32 := tensor.SoftmaxGrad[float32]
			if log {
				fwd, grad, grad32 = tensor.LogSoftmax[float64], tensor.LogSoftmaxGrad[float64], tensor.LogSoftmaxGrad[float32]
			}
			t.Run(fmt.Sprintf("%v/log=%v", dims, log), func(t *testing.T) {
				outer, n, inner := dims[0], dims[1], dims[2]
				size := outer * n * inner
				x := gkRandom(r, size, -3, 3, nil)
				g := gkRandom(r, size, -1, 1, nil)
				y := make([]float64, size)
				fwd(y, x, outer, n, inner)
				got := make([]float64, size)
				grad(got, g, y, outer, n, inner)
				// <got, v> is the derivative of sum(g * f(x)) along v.
				loss := func(x []float64) float64 {
					y := make([]float64, size)
					fwd(y, x, outer, n, inner)
					var s float64
					for i := range y {
						s += g[i] * y[i]
					}
					return s
				}
				for trial := 0; trial < 3; trial++ {
					v := gkRandom(r, size, -1, 1, nil)
					const h = 1e-5
					xp, xm := make([]float64, size), make([]float64, size)
					var dot float64
					for i := range x {
						xp[i], xm[i] = x[i]+h*v[i], x[i]-h*v[i]
						dot += got[i] * v[i]
					}
					fd := (loss(xp) - loss(xm)) / (2 * h)
					if !(math.Abs(dot-fd) <= 1e-6*math.Max(1, math.Abs(fd))) {
						t.Fatalf("directional derivative: got %v, central differences %v", dot, fd)
					}
				}
				got32 := make([]float32, size)
				grad32(got32, gkTo32(g), gkTo32(y), outer, n, inner)
				for i := range got32 {
					if !(math.Abs(float64(got32[i])-got[i]) <= 1e-5*math.Max(1, math.Abs(got[i]))) {
						t.Fatalf("float32 [%d]: got %v, the float64 kernel %v", i, got32[i], got[i])
					}
				}
			})
		}
	}
}

// TestPReluGrad checks both PRelu gradients, over a per-channel broadcast, against central
// differences of tensor.PRelu.
func TestPReluGrad(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	xShape, sShape := []int{8, 50, 100}, []int{50, 1}
	n, ns := tensor.Size(xShape), tensor.Size(sShape)
	x := gkRandom(r, n, -2, 2, []float64{0})
	slope := gkRandom(r, ns, 0, 0.5, nil)
	g := gkRandom(r, n, -1, 1, nil)
	bc, err := tensor.NewBroadcast(xShape, sShape)
	if err != nil {
		t.Fatal(err)
	}
	dx := make([]float64, n)
	tensor.PReluGrad(bc, dx, g, x, slope)
	dsFull := make([]float64, n)
	tensor.PReluSlopeGrad(dsFull, g, x)
	ds := make([]float64, ns)
	tensor.SumTo(ds, sShape, dsFull, xShape)

	const h = 1e-6
	yp, ym := make([]float64, n), make([]float64, n)
	xp, xm := make([]float64, n), make([]float64, n)
	for i := range x {
		xp[i], xm[i] = x[i]+h, x[i]-h
	}
	tensor.PRelu(bc, yp, xp, slope)
	tensor.PRelu(bc, ym, xm, slope)
	for i := range x {
		want := g[i] * (yp[i] - ym[i]) / (2 * h)
		if !(math.Abs(dx[i]-want) <= 1e-6) {
			t.Fatalf("dX[%d]: got %v, want %v", i, dx[i], want)
		}
	}
	// The slope's gradient: perturb one slope at a time, the loss summing g*y.
	loss := func(s []float64) float64 {
		y := make([]float64, n)
		tensor.PRelu(bc, y, x, s)
		var l float64
		for i := range y {
			l += g[i] * y[i]
		}
		return l
	}
	for j := 0; j < ns; j += 7 {
		sp, sm := append([]float64(nil), slope...), append([]float64(nil), slope...)
		sp[j] += h
		sm[j] -= h
		want := (loss(sp) - loss(sm)) / (2 * h)
		if !(math.Abs(ds[j]-want) <= 1e-6*math.Max(1, math.Abs(want))) {
			t.Fatalf("dSlope[%d]: got %v, want %v", j, ds[j], want)
		}
	}
}

// BenchmarkGradKernels measures the backward kernels on the shapes of ResNet-18 at batch 8,
// as BenchmarkElementwise does the forward ones.
func BenchmarkGradKernels(b *testing.B) {
	act := []int{8, 64, 56, 56}
	n := tensor.Size(act)
	r := rand.New(rand.NewPCG(1, 1))
	x, g := gkTo32(gkRandom(r, n, -1, 1, nil)), gkTo32(gkRandom(r, n, -1, 1, nil))
	scale := gkTo32(gkRandom(r, 64, 0.5, 1, nil))
	dst := make([]float32, n)
	bench := func(name string, elems int, f func()) {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(elems) * 4)
			for b.Loop() {
				f()
			}
		})
	}
	bench("relu-8x64x56x56", n, func() { tensor.ReluGrad(dst, g, x) })
	bench("sigmoid-8x64x56x56", n, func() { tensor.SigmoidGrad(dst, g, x) })
	bench("hardswish-8x64x56x56", n, func() { tensor.HardSwishGrad(dst, g, x) })
	perChannel, _ := tensor.NewBroadcast(act, []int{64, 1, 1})
	bench("div-by-channel-8x64x56x56", n, func() { tensor.DivGradB(perChannel, dst, g, x, scale) })
	bench("softmax-8x1000", 8000, func() { tensor.SoftmaxGrad(dst[:8000], g[:8000], x[:8000], 8, 1000, 1) })
}
