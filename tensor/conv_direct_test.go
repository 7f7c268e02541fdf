package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// directCase is a 2-D convolution for the direct path's tests: pads are begin and end per
// dimension, the output shape follows ONNX's floor rounding.
type directCase struct {
	batch, inC, outC, h, w int
	kernel, strides, dil   [2]int
	pads                   [4]int // top, left, bottom, right
}

func (c directCase) String() string {
	return fmt.Sprintf("%dx%dx%dx%d-to-%d-k%v-s%v-d%v-p%v", c.batch, c.inC, c.h, c.w, c.outC, c.kernel, c.strides, c.dil, c.pads)
}

func (c directCase) geom() *ConvGeom {
	out := func(in, k, s, d, pb, pe int) int { return (in+pb+pe-d*(k-1)-1)/s + 1 }
	return &ConvGeom{Batch: c.batch, InC: c.inC, OutC: c.outC, Group: 1,
		InShape: []int{c.h, c.w}, Kernel: c.kernel[:], Strides: c.strides[:], Dilations: c.dil[:], Pads: c.pads[:2],
		OutShape: []int{
			out(c.h, c.kernel[0], c.strides[0], c.dil[0], c.pads[0], c.pads[2]),
			out(c.w, c.kernel[1], c.strides[1], c.dil[1], c.pads[1], c.pads[3]),
		}}
}

// directNaive is g's convolution in float64, straight from the definition, with its bias,
// residual and clamp, and for each output the sum of its terms' magnitudes.
func directNaive(x, w, bias []float32, g *ConvGeom) (want, mag []float64) {
	oh, ow := g.OutShape[0], g.OutShape[1]
	ih, iw := g.InShape[0], g.InShape[1]
	kh, kw := g.Kernel[0], g.Kernel[1]
	want = make([]float64, g.Batch*g.OutC*oh*ow)
	mag = make([]float64, len(want))
	for n := range g.Batch {
		for o := range g.OutC {
			for r := range oh {
				for c := range ow {
					var s, m float64
					if bias != nil {
						s, m = float64(bias[o]), math.Abs(float64(bias[o]))
					}
					for i := range g.InC {
						for a := range kh {
							y := r*g.Strides[0] - g.Pads[0] + a*g.Dilations[0]
							for b := range kw {
								xx := c*g.Strides[1] - g.Pads[1] + b*g.Dilations[1]
								if y < 0 || y >= ih || xx < 0 || xx >= iw {
									continue
								}
								t := float64(x[((n*g.InC+i)*ih+y)*iw+xx]) * float64(w[((o*g.InC+i)*kh+a)*kw+b])
								s, m = s+t, m+math.Abs(t)
							}
						}
					}
					at := ((n*g.OutC+o)*oh+r)*ow + c
					if g.Residual != nil {
						s += float64(g.Residual[at])
						m += math.Abs(float64(g.Residual[at]))
					}
					if g.Clamp != nil {
						s = min(max(s, float64(g.Clamp[0])), float64(g.Clamp[1]))
					}
					want[at], mag[at] = s, m
				}
			}
		}
	}
	return want, mag
}

// TestConvDirect runs the direct convolution's driver and kernels against the definition in
// float64 (checkConvEpilogues): every number of 16-channel blocks and a ragged last one,
// several runs of 64 channels and of taps, strides, dilations, asymmetric and wide padding,
// kernels other than 3×3, a 1×1 kernel of stride 2 and of stride 1, a last tile of fewer
// than six pixels and an output of fewer than six, and several images (with tiles that run
// from one image into the next, and over three images of two pixels).
func TestConvDirect(t *testing.T) {
	if !convDirectSIMD() {
		t.Skip("the direct convolution's kernels need AVX-512; its tests run where they exist")
	}
	r := rand.New(rand.NewPCG(21, 22))
	cases := []directCase{
		{1, 16, 64, 13, 13, [2]int{3, 3}, [2]int{1, 1}, [2]int{1, 1}, [4]int{1, 1, 1, 1}},
		{1, 8, 16, 9, 11, [2]int{3, 3}, [2]int{1, 1}, [2]int{1, 1}, [4]int{1, 1, 1, 1}},
		{1, 8, 32, 10, 7, [2]int{3, 3}, [2]int{2, 1}, [2]int{1, 1}, [4]int{1, 0, 0, 2}},
		{1, 8, 48, 12, 12, [2]int{3, 3}, [2]int{2, 2}, [2]int{1, 1}, [4]int{1, 1, 1, 1}},
		{1, 8, 24, 11, 10, [2]int{3, 3}, [2]int{1, 1}, [2]int{2, 2}, [4]int{2, 2, 2, 2}},
		{1, 32, 70, 8, 9, [2]int{3, 3}, [2]int{1, 1}, [2]int{1, 1}, [4]int{1, 1, 1, 1}},
		{1, 40, 130, 6, 6, [2]int{3, 3}, [2]int{1, 1}, [2]int{1, 1}, [4]int{1, 1, 1, 1}},
		{1, 3, 16, 20, 19, [2]int{5, 5}, [2]int{2, 2}, [2]int{1, 1}, [4]int{2, 1, 2, 3}},
		{1, 2, 40, 17, 16, [2]int{7, 7}, [2]int{2, 2}, [2]int{1, 1}, [4]int{3, 3, 3, 3}},
		{1, 80, 32, 9, 9, [2]int{1, 1}, [2]int{2, 2}, [2]int{1, 1}, [4]int{0, 0, 0, 0}},
		{1, 72, 40, 9, 8, [2]int{1, 1}, [2]int{1, 1}, [2]int{1, 1}, [4]int{0, 0, 0, 0}},
		{1, 16, 20, 2, 2, [2]int{3, 3}, [2]int{1, 1}, [2]int{1, 1}, [4]int{1, 1, 1, 1}},
		{1, 100, 16, 3, 5, [2]int{3, 3}, [2]int{1, 1}, [2]int{1, 1}, [4]int{0, 0, 0, 0}},
		{3, 16, 40, 7, 8, [2]int{3, 3}, [2]int{1, 1}, [2]int{1, 1}, [4]int{1, 1, 1, 1}},
		{4, 40, 70, 7, 7, [2]int{3, 3}, [2]int{1, 1}, [2]int{1, 1}, [4]int{1, 1, 1, 1}},
		{3, 16, 20, 2, 2, [2]int{3, 3}, [2]int{1, 1}, [2]int{1, 1}, [4]int{1, 1, 1, 1}},
		{5, 72, 24, 1, 2, [2]int{1, 1}, [2]int{1, 1}, [2]int{1, 1}, [4]int{0, 0, 0, 0}},
	}
	for _, c := range cases {
		g := c.geom()
		k := c.inC * g.KernelSize()
		x := gemmRandom(r, c.batch*c.inC*c.h*c.w)
		w := gemmRandom(r, c.outC*k)
		packed := make([]float32, directFiltersLen(c.outC, k))
		packDirectFilters(packed, w, c.outC, k)
		checkConvEpilogues(t, r, c, x, w, func(y, x, bias []float32, g *ConvGeom, procs int) {
			convDirect(y, x, packed, bias, g, procs)
		})
	}
}

// checkConvEpilogues runs conv, a convolution path, on case c with input x and filters w
// against the definition in float64: with each epilogue (none, bias and Relu, bias and a
// clip, a fused residual and Relu), on one core and two, into an output of c's channels and,
// but with a residual, into a Concat's wider output, whose other channels it must not write.
func checkConvEpilogues(t *testing.T, r *rand.Rand, c directCase, x, w []float32, conv func(y, x, bias []float32, g *ConvGeom, procs int)) {
	t.Helper()
	g := c.geom()
	outSize := g.OutSize()
	inf := float32(math.Inf(1))
	for _, ep := range []struct {
		name     string
		bias     bool
		clamp    []float32
		residual bool
	}{{"none", false, nil, false}, {"bias-relu", true, []float32{0, inf}, false}, {"bias-clip", true, []float32{-0.5, 0.5}, false},
		{"residual-relu", true, []float32{0, inf}, true}} {
		var bias []float32
		if ep.bias {
			bias = gemmRandom(r, c.outC)
		}
		eg := *g
		eg.Clamp = ep.clamp
		if ep.residual {
			eg.Residual = gemmRandom(r, c.batch*c.outC*outSize)
		}
		want, mag := directNaive(x, w, bias, &eg)
		for _, procs := range []int{1, 2} {
			for _, concat := range []bool{false, true} {
				if concat && ep.residual {
					continue // a fused residual writes the whole output
				}
				cg := eg
				stride := c.outC * outSize
				if concat {
					stride = (c.outC + 5) * outSize
					cg.YImageStride = stride
				}
				y := make([]float32, (c.batch-1)*stride+c.outC*outSize)
				for i := range y {
					y[i] = float32(math.NaN())
				}
				conv(y, x, bias, &cg, procs)
				for n := range c.batch {
					for i := range c.outC * outSize {
						got, at := float64(y[n*stride+i]), n*c.outC*outSize+i
						if d := math.Abs(got - want[at]); !(d <= 2e-6*mag[at]+1e-30) {
							t.Fatalf("%v, %s, %d cores, concat %v: image %d, output %d: %v, want %v", c, ep.name, procs, concat, n, i, got, want[at])
						}
					}
					for i := c.outC * outSize; i < stride && n < c.batch-1; i++ {
						if v := y[n*stride+i]; v == v {
							t.Fatalf("%v, %s: wrote %v past its channels, at %d of image %d", c, ep.name, v, i, n)
						}
					}
				}
			}
		}
	}
}

// TestKeptDirectFilters: a convolution of one image whose filters were prepared once
// (PackConvFilters) takes the direct path with their kept layout, giving the bits of the
// layout made on the call, and reads that kept layout.
func TestKeptDirectFilters(t *testing.T) {
	if !convDirectSIMD() {
		t.Skip("the direct convolution's kernels need AVX-512; its tests run where they exist")
	}
	r := rand.New(rand.NewPCG(23, 24))
	g := directCase{1, 24, 48, 40, 40, [2]int{3, 3}, [2]int{1, 1}, [2]int{1, 1}, [4]int{1, 1, 1, 1}}.geom()
	if !g.convDirectFits(true) || !g.convDirectFits(false) {
		t.Fatalf("%+v would not take the direct path", g)
	}
	k := g.InC * g.KernelSize()
	x, w, bias := gemmRandom(r, g.InC*g.InSize()), gemmRandom(r, g.OutC*k), gemmRandom(r, g.OutC)
	want := make([]float32, g.OutC*g.OutSize())
	Conv(want, x, w, bias, g)
	f, kept := convKeepsBits(t, "direct", want, x, w, bias, g)
	if f.direct.packed == nil {
		t.Fatal("no layout kept")
	}
	clear(f.direct.packed)
	got := make([]float32, len(want))
	Conv(got, x, w, nil, &kept)
	for i := range got {
		if got[i] != 0 {
			t.Fatalf("zeroed kept layout, yet output %d is %v", i, got[i])
		}
	}
}

// TestConvDirectKeptTaps: filters of more than convDirectMaxTaps taps take the direct path
// only with their layout kept, on an image's output of one group of tiles (resnet18's
// 512-channel 7×7 layers, at batch 1 and 4), and both paths give the definition's sums.
func TestConvDirectKeptTaps(t *testing.T) {
	if !convDirectSIMD() {
		t.Skip("the direct convolution's kernels need AVX-512; its tests run where they exist")
	}
	r := rand.New(rand.NewPCG(25, 26))
	for _, c := range []directCase{
		{1, 160, 32, 7, 7, [2]int{3, 3}, [2]int{1, 1}, [2]int{1, 1}, [4]int{1, 1, 1, 1}},
		{1, 130, 80, 14, 14, [2]int{3, 3}, [2]int{2, 2}, [2]int{1, 1}, [4]int{1, 1, 1, 1}},
		{4, 160, 72, 7, 7, [2]int{3, 3}, [2]int{1, 1}, [2]int{1, 1}, [4]int{1, 1, 1, 1}},
	} {
		g := c.geom()
		if !g.convDirectFits(true) || g.convDirectFits(false) {
			t.Fatalf("%v: direct with a kept layout %v, without %v; want only with", c, g.convDirectFits(true), g.convDirectFits(false))
		}
		k := c.inC * g.KernelSize()
		x, w, bias := gemmRandom(r, c.batch*c.inC*c.h*c.w), gemmRandom(r, c.outC*k), gemmRandom(r, c.outC)
		want, mag := directNaive(x, w, bias, g)
		f, err := PackConvFilters(w, c.outC, c.inC, 1, g.Kernel)
		if err != nil {
			t.Fatal(err)
		}
		for _, filters := range []*PackedFilters{nil, f} {
			fg := *g
			fg.Filters = filters
			got := make([]float32, len(want))
			Conv(got, x, w, bias, &fg)
			for i := range want {
				if d := math.Abs(float64(got[i]) - want[i]); !(d <= 2e-6*mag[i]) {
					t.Fatalf("%v, kept %v: output %d: %v, want %v", c, filters != nil, i, got[i], want[i])
				}
			}
		}
		if f.direct.packed == nil {
			t.Errorf("%v: the kept layout was not used", c)
		}
	}
}
