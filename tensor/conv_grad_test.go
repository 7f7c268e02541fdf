package tensor_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/onnxtune/onnxtune/tensor"
)

// cgradDepthwise lists depthwise geometries: strides, dilations, asymmetric padding, a
// channel multiplier, 1-D, kernels wider than the input, padding wider than the kernel, and
// sizes that run in parallel. Unit strides without a multiplier take the flipped-kernel
// convolution, the others the direct loops.
func cgradDepthwise() map[string]*tensor.ConvGeom {
	geom := func(batch, c, mult int, in, k, s, d, pb, pe []int) *tensor.ConvGeom {
		out := make([]int, len(in))
		for i := range out {
			out[i] = tensor.ConvOutSize(in[i], k[i], s[i], d[i], pb[i], pe[i], false)
		}
		return &tensor.ConvGeom{Batch: batch, InC: c, OutC: c * mult, Group: c, InShape: in, Kernel: k, OutShape: out,
			Strides: s, Dilations: d, Pads: pb}
	}
	return map[string]*tensor.ConvGeom{
		"3x3-pad1":            geom(2, 3, 1, []int{8, 7}, []int{3, 3}, []int{1, 1}, []int{1, 1}, []int{1, 1}, []int{1, 1}),
		"3x3-stride2-mult2":   geom(2, 3, 2, []int{9, 10}, []int{3, 3}, []int{2, 2}, []int{1, 1}, []int{1, 0}, []int{1, 1}),
		"3x3-dilated-asym":    geom(1, 2, 1, []int{9, 10}, []int{3, 3}, []int{1, 2}, []int{2, 2}, []int{2, 1}, []int{0, 3}),
		"5x5-stride-rows":     geom(2, 4, 1, []int{9, 10}, []int{5, 5}, []int{2, 1}, []int{1, 1}, []int{2, 2}, []int{2, 2}),
		"kernel-past-input":   geom(1, 2, 3, []int{2, 3}, []int{5, 5}, []int{1, 1}, []int{1, 1}, []int{2, 2}, []int{2, 2}),
		"1d-mult2":            geom(2, 3, 2, []int{11}, []int{4}, []int{2}, []int{1}, []int{2}, []int{1}),
		"1d-stride1-asym":     geom(2, 3, 1, []int{11}, []int{4}, []int{1}, []int{1}, []int{2}, []int{1}),
		"dilated-stride1":     geom(1, 2, 1, []int{9, 10}, []int{3, 3}, []int{1, 1}, []int{2, 2}, []int{1, 3}, []int{2, 0}),
		"pad-past-kernel":     geom(1, 2, 1, []int{5, 5}, []int{1, 3}, []int{1, 1}, []int{1, 1}, []int{1, 2}, []int{1, 0}),
		"parallel-3x3-32x32":  geom(2, 16, 1, []int{32, 32}, []int{3, 3}, []int{1, 1}, []int{1, 1}, []int{1, 1}, []int{1, 1}),
		"parallel-3x3s2-mult": geom(2, 8, 2, []int{33, 30}, []int{3, 3}, []int{2, 2}, []int{1, 1}, []int{1, 1}, []int{1, 1}),
	}
}

func cgradRandom(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

func cgradClose(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	for i := range want {
		if d := math.Abs(float64(got[i]) - float64(want[i])); !(d <= tol*(1+math.Abs(float64(want[i])))) {
			t.Fatalf("%s: element %d: got %v, want %v", what, i, got[i], want[i])
		}
	}
}

// TestDepthwiseConvGrads: the direct depthwise gradients agree with the GEMM-based
// ConvInputGrad and ConvWeightGrad (tested against the naive convolution in conv_test.go).
func TestDepthwiseConvGrads(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for name, g := range cgradDepthwise() {
		t.Run(name, func(t *testing.T) {
			if !g.Depthwise() {
				t.Fatal("Depthwise() is false")
			}
			x := cgradRandom(r, g.Batch*g.InC*g.InSize())
			w := cgradRandom(r, g.OutC*g.KernelSize())
			dy := cgradRandom(r, g.Batch*g.OutC*g.OutSize())
			want, got := make([]float32, len(x)), cgradRandom(r, len(x))
			tensor.ConvInputGrad(want, dy, w, g)
			tensor.DepthwiseConvInputGrad(got, dy, w, g)
			cgradClose(t, "input gradient", got, want, 1e-5)
			want, got = make([]float32, len(w)), cgradRandom(r, len(w))
			tensor.ConvWeightGrad(want, x, dy, g)
			tensor.DepthwiseConvWeightGrad(got, x, dy, g)
			cgradClose(t, "weight gradient", got, want, 1e-4)
		})
	}
	grouped := &tensor.ConvGeom{Batch: 1, InC: 4, OutC: 4, Group: 2, InShape: []int{3, 3}, Kernel: []int{1, 1},
		OutShape: []int{3, 3}, Strides: []int{1, 1}, Dilations: []int{1, 1}, Pads: []int{0, 0}}
	if grouped.Depthwise() {
		t.Error("two channels per group: Depthwise() is true")
	}
}

// TestConvBiasGrad: the bias gradient is dy summed over the batch and the positions.
func TestConvBiasGrad(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, s := range [][3]int{{2, 3, 5}, {1, 1, 1}, {4, 64, 300}} {
		batch, c, spatial := s[0], s[1], s[2]
		dy := cgradRandom(r, batch*c*spatial)
		db := make([]float32, c)
		tensor.ConvBiasGrad(db, dy, batch, c, spatial)
		for ch := range c {
			var want float64
			for n := range batch {
				for _, v := range dy[(n*c+ch)*spatial : (n*c+ch+1)*spatial] {
					want += float64(v)
				}
			}
			if math.Abs(float64(db[ch])-want) > 1e-5*(1+math.Abs(want)) {
				t.Fatalf("%v: db[%d] = %v, want %v", s, ch, db[ch], want)
			}
		}
	}
}

// BenchmarkDepthwiseConvGrad measures the direct depthwise gradients on mobilenet_v2 layer
// shapes at batch 8, beside the GEMM-per-channel path they replace.
func BenchmarkDepthwiseConvGrad(b *testing.B) {
	for _, c := range []struct {
		name           string
		ch, size, s, k int
	}{
		{"3x3-32-112", 32, 112, 1, 3},
		{"3x3s2-96-112", 96, 112, 2, 3},
		{"3x3-576-14", 576, 14, 1, 3},
	} {
		p := c.k / 2
		out := tensor.ConvOutSize(c.size, c.k, c.s, 1, p, p, false)
		g := &tensor.ConvGeom{Batch: 8, InC: c.ch, OutC: c.ch, Group: c.ch, InShape: []int{c.size, c.size}, Kernel: []int{c.k, c.k},
			OutShape: []int{out, out}, Strides: []int{c.s, c.s}, Dilations: []int{1, 1}, Pads: []int{p, p}}
		r := rand.New(rand.NewPCG(1, 2))
		x := cgradRandom(r, 8*c.ch*c.size*c.size)
		dx := make([]float32, len(x))
		dy := cgradRandom(r, 8*c.ch*out*out)
		w := cgradRandom(r, c.ch*c.k*c.k)
		for _, f := range []struct {
			name string
			run  func()
		}{
			{"input-direct", func() { tensor.DepthwiseConvInputGrad(dx, dy, w, g) }},
			{"input-gemm", func() { tensor.ConvInputGrad(dx, dy, w, g) }},
			{"weight-direct", func() { tensor.DepthwiseConvWeightGrad(w, x, dy, g) }},
			{"weight-gemm", func() { tensor.ConvWeightGrad(w, x, dy, g) }},
		} {
			b.Run(c.name+"/"+f.name, func(b *testing.B) {
				for range b.N {
					f.run()
				}
			})
		}
	}
}
