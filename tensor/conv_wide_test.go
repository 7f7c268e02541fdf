package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestConvWide runs the row-wise convolution against the definition in float64: the stems
// of squeezenet1_1 (3×3, stride 2, no padding), mobilenet_v2 (padding 1) and resnet18 (7×7,
// padding 3, 147 taps), 8 input channels (called directly past convWideFits' bound),
// stride 1, dilation,
// asymmetric padding, a stride of 3 along rows of 12 pixels, rows of exactly 16 pixels and
// of 17, channels that do not fill the kernel's 8 (5 and 20), several images, one core and
// two, images in chunks of one (past convWideChunk), each epilogue (bias, clamps, a fused
// residual) and a Concat's wider output.
func TestConvWide(t *testing.T) {
	if !convDirectSIMD() {
		t.Skip("the row-wise convolution's kernel needs AVX-512; its tests run where they exist")
	}
	r := rand.New(rand.NewPCG(31, 32))
	inf := float32(math.Inf(1))
	cases := []directCase{
		{1, 3, 64, 41, 37, [2]int{3, 3}, [2]int{2, 2}, [2]int{1, 1}, [4]int{0, 0, 0, 0}},
		{2, 3, 32, 34, 34, [2]int{3, 3}, [2]int{2, 2}, [2]int{1, 1}, [4]int{1, 1, 1, 1}},
		{1, 3, 64, 40, 40, [2]int{7, 7}, [2]int{2, 2}, [2]int{1, 1}, [4]int{3, 3, 3, 3}},
		{3, 2, 20, 18, 16, [2]int{3, 3}, [2]int{1, 1}, [2]int{1, 1}, [4]int{1, 1, 1, 1}},
		{1, 4, 5, 19, 21, [2]int{3, 3}, [2]int{1, 1}, [2]int{2, 2}, [4]int{2, 0, 1, 3}},
		{2, 1, 16, 20, 35, [2]int{5, 3}, [2]int{1, 3}, [2]int{1, 2}, [4]int{2, 1, 2, 4}},
		{1, 8, 24, 17, 18, [2]int{3, 3}, [2]int{1, 1}, [2]int{1, 1}, [4]int{1, 1, 1, 1}},
		{2, 3, 12, 160, 150, [2]int{3, 3}, [2]int{1, 1}, [2]int{1, 1}, [4]int{1, 1, 1, 1}},
	}
	for _, c := range cases {
		g := c.geom()
		k := c.inC * g.KernelSize()
		if l := newConvWideLayout(g); c.h == 160 && 4*l.imageLen(c.inC) <= convWideChunk {
			t.Fatalf("%v: %d bytes laid out, within a chunk", c, 4*l.imageLen(c.inC))
		}
		if fits := g.convWideFits(); fits != (c.inC <= convWideMaxInC && g.OutShape[1] >= convWideMinWidth) {
			t.Fatalf("%v: convWideFits %v for %d taps", c, fits, k)
		}
		x := gemmRandom(r, c.batch*c.inC*c.h*c.w)
		w := gemmRandom(r, c.outC*k)
		outSize := g.OutSize()
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
						stride = (c.outC + 3) * outSize
						cg.YImageStride = stride
					}
					y := make([]float32, (c.batch-1)*stride+c.outC*outSize)
					for i := range y {
						y[i] = float32(math.NaN())
					}
					convWide(y, x, w, bias, &cg, procs)
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
}

// TestConvWideFits: the row-wise convolution takes stems (few input channels) on rows of 16
// pixels or more, and leaves narrower rows, more input channels and grouped convolutions to
// the other paths.
func TestConvWideFits(t *testing.T) {
	if !convDirectSIMD() {
		t.Skip("the row-wise convolution's kernel needs AVX-512; its tests run where they exist")
	}
	stem := directCase{1, 3, 64, 224, 224, [2]int{3, 3}, [2]int{2, 2}, [2]int{1, 1}, [4]int{0, 0, 0, 0}}.geom()
	resnet := directCase{1, 3, 64, 224, 224, [2]int{7, 7}, [2]int{2, 2}, [2]int{1, 1}, [4]int{3, 3, 3, 3}}.geom()
	if !stem.convWideFits() || !resnet.convWideFits() {
		t.Errorf("squeezenet1_1's or resnet18's stem does not take the row-wise convolution")
	}
	narrow := directCase{1, 3, 64, 20, 20, [2]int{3, 3}, [2]int{2, 2}, [2]int{1, 1}, [4]int{1, 1, 1, 1}}.geom()
	grouped := directCase{1, 4, 8, 40, 40, [2]int{3, 3}, [2]int{1, 1}, [2]int{1, 1}, [4]int{1, 1, 1, 1}}.geom()
	grouped.Group = 2
	deep := directCase{1, 16, 64, 55, 55, [2]int{3, 3}, [2]int{1, 1}, [2]int{1, 1}, [4]int{1, 1, 1, 1}}.geom()
	for name, g := range map[string]*ConvGeom{"a 10-pixel row": narrow, "two groups": grouped, "16 input channels": deep} {
		if g.convWideFits() {
			t.Errorf("%s takes the row-wise convolution", name)
		}
	}
}
