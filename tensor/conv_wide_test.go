package tensor

import (
	"math/rand/v2"
	"testing"
)

// TestConvWide runs the row-wise convolution against the definition in float64
// (checkConvEpilogues): the stems of squeezenet1_1 (3×3, stride 2, no padding),
// mobilenet_v2 (padding 1) and resnet18 (7×7, padding 3, 147 taps), 8 input channels
// (called directly past convWideFits' bound), stride 1, dilation, asymmetric padding, a
// stride of 3 along rows of 12 pixels, rows of exactly 16 pixels and of 17, channels that do
// not fill the kernel's 8 (5 and 20), several images, and images in chunks of one (past
// convWideChunk).
func TestConvWide(t *testing.T) {
	if !convDirectSIMD() {
		t.Skip("the row-wise convolution's kernel needs AVX-512; its tests run where they exist")
	}
	r := rand.New(rand.NewPCG(31, 32))
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
			t.Fatalf("%v: convWideFits %v", c, fits)
		}
		x := gemmRandom(r, c.batch*c.inC*c.h*c.w)
		w := gemmRandom(r, c.outC*k)
		checkConvEpilogues(t, r, c, x, w, func(y, x, bias []float32, g *ConvGeom, procs int) {
			convWide(y, x, w, bias, g, procs)
		})
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
