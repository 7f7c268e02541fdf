package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// TestConvWinogradMatchesIm2col: F(2×2, 3×3) and F(4×4, 3×3), by chunks of tiles and by
// blocks of output channels, give the im2col path's outputs within float32 rounding on odd
// and even sizes, every padding, several images, with a bias, a fused residual and clamp,
// and into a channel range of a wider output; on one core and two.
func TestConvWinogradMatchesIm2col(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	random := func(n int) []float32 { return gemmRandom(r, n) }
	for _, c := range []struct {
		winogradCase
		epilogue bool
		yStride  int // extra channels of room per image
	}{
		{winogradCase{1, 64, 64, 7, 7, 1, 1, 1, 1}, false, 0},
		{winogradCase{2, 64, 80, 14, 14, 1, 1, 1, 1}, true, 0},
		{winogradCase{3, 72, 64, 9, 12, 0, 0, 0, 0}, false, 0},
		{winogradCase{2, 64, 64, 8, 5, 2, 0, 1, 2}, true, 0},
		{winogradCase{1, 16, 64, 9, 10, 1, 2, 1, 0}, false, 0},
		{winogradCase{1, 16, 64, 6, 7, 0, 3, 2, 1}, true, 0},
		{winogradCase{1, 16, 64, 5, 9, 1, 4, 1, 4}, false, 0},
		{winogradCase{1, 96, 64, 28, 28, 1, 1, 1, 1}, false, 16},
		{winogradCase{8, 64, 64, 56, 56, 1, 1, 1, 1}, true, 0},
		{winogradCase{8, 512, 512, 7, 7, 1, 1, 1, 1}, true, 0},
		{winogradCase{2, 256, 72, 9, 11, 0, 2, 1, 0}, false, 8},
	} {
		name, g := c.String(), c.geom()
		oh, ow := g.OutShape[0], g.OutShape[1]
		ys := (c.outC + c.yStride) * oh * ow
		if c.yStride > 0 {
			g.YImageStride = ys
		}
		if c.epilogue {
			g.Residual = random(c.batch * c.outC * oh * ow)
			g.Clamp = []float32{0, 6}
		}
		x, w, bias := random(c.batch*c.inC*c.h*c.w), random(c.outC*c.inC*9), random(c.outC)
		want := make([]float32, c.batch*ys)
		convWinogradOff = true
		Conv(want, x, w, bias, g)
		convWinogradOff = false
		for _, driver := range winogradDrivers {
			for _, alg := range winogradAlgos {
				for _, run := range []struct {
					procs   int
					forceGo bool // the Go loops instead of the vector kernels
				}{{1, false}, {2, false}, {2, true}} {
					got := make([]float32, len(want))
					simdForceGo, winogradForce = run.forceGo, alg
					driver.conv(got, x, w, bias, g, run.procs, false)
					simdForceGo, winogradForce = false, nil
					var worst float64
					for i := range want {
						// The sums run over 9*InC products of values in [-1, 1]: scale by their size.
						worst = max(worst, math.Abs(float64(got[i]-want[i]))/math.Sqrt(9*float64(c.inC)))
					}
					if worst > winogradTolerance[alg.m] {
						t.Errorf("%s, F(%d×%[2]d, 3×3) by %s, %+v: Winograd is %.3g (scaled) from im2col", name, alg.m, driver.name, run, worst)
					}
				}
			}
		}
	}
}

// winogradAlgos are the algorithms convWinogradWith can take.
var winogradAlgos = []*winogradAlgo{winograd2, winograd4}

// winogradDrivers are the ways convWinogradWith can run them.
var winogradDrivers = []struct {
	name string
	conv func(y, x, w, bias []float32, g *ConvGeom, procs int, flipped bool)
}{{"chunks", convWinogradChunks}, {"blocks", convWinogradBlocks}}

// winogradTolerance is how far (scaled by the square root of the sum's length) each
// F(m×m, 3×3) may be from the im2col path on values in [-1, 1]. Against a float64 sum,
// F(2×2, 3×3)'s error on these sums is about 1.7 times im2col's (2.3e-5 against 1.3e-5 rms
// on 256 channels of 14×14), and the two paths differ by 1e-6 at most. F(4×4, 3×3)'s
// transforms scale values by up to 25 (Bᵀ) and 1/24 (G) and round more: up to 1.4e-5 here
// (512 channels), about 2e-5 of the outputs' own size.
var winogradTolerance = map[int]float64{2: 2e-6, 4: 3e-5}

// winogradCase is a 3×3 stride-1 convolution of batch images of inC channels, h×w, to outC
// channels, padded by padT, padL, padB and padR.
type winogradCase struct{ batch, inC, outC, h, w, padT, padL, padB, padR int }

func (c winogradCase) String() string {
	return fmt.Sprintf("%dx%dx%dx%d-to-%d-pads%d%d%d%d", c.batch, c.inC, c.h, c.w, c.outC, c.padT, c.padL, c.padB, c.padR)
}

// sameConv3x3 is a 3×3 stride-1 convolution of batch images of ic channels, size×size, to
// oc channels of the same size (padded by 1).
func sameConv3x3(batch, ic, oc, size int) *ConvGeom {
	return winogradCase{batch, ic, oc, size, size, 1, 1, 1, 1}.geom()
}

func (c winogradCase) geom() *ConvGeom {
	return &ConvGeom{Batch: c.batch, InC: c.inC, OutC: c.outC, Group: 1, InShape: []int{c.h, c.w},
		Kernel: []int{3, 3}, OutShape: []int{c.h + c.padT + c.padB - 2, c.w + c.padL + c.padR - 2},
		Strides: []int{1, 1}, Dilations: []int{1, 1}, Pads: []int{c.padT, c.padL}}
}

// TestUseWinograd: which of resnet18's and squeezenet1_1's 3×3 layers take F(2×2, 3×3), as
// BenchmarkConvWinograd measured them, and that few channels keep im2col.
func TestUseWinograd(t *testing.T) {
	for _, c := range []struct {
		batch, ic, oc, size int
		want                bool
	}{
		{8, 64, 64, 56, true}, {8, 128, 128, 28, true}, {8, 256, 256, 14, true}, {8, 512, 512, 7, true},
		{1, 64, 64, 56, true}, {1, 128, 128, 28, true}, {1, 256, 256, 14, false}, {1, 512, 512, 7, false},
		{8, 16, 64, 55, true}, {8, 64, 256, 13, true}, {1, 32, 128, 27, true}, {1, 64, 256, 13, false},
		{8, 3, 64, 224, false}, {8, 64, 8, 56, false}, {64, 16, 32, 14, false},
	} {
		g := sameConv3x3(c.batch, c.ic, c.oc, c.size)
		if got := g.useWinograd(); got != c.want {
			t.Errorf("%+v: useWinograd %v", c, got)
		}
		g.Strides = []int{2, 2}
		if g.useWinograd() {
			t.Errorf("%+v at stride 2: useWinograd", c)
		}
	}
}

// TestWinogradForward: which 3×3 layers Conv computes by Winograd, as BenchmarkConvWinograd
// measured them against im2col (see winogradForward); the gradients keep useWinograd's.
func TestWinogradForward(t *testing.T) {
	for _, c := range []struct {
		batch, ic, oc, size int
		want                bool
	}{
		{8, 64, 64, 56, true}, {8, 128, 128, 28, true}, {8, 256, 256, 14, true}, {8, 512, 512, 7, false},
		{1, 64, 64, 56, true}, {1, 128, 128, 28, true}, {8, 16, 64, 55, false}, {1, 32, 128, 27, false},
		{8, 48, 192, 13, false}, {8, 64, 256, 13, false}, {12, 32, 64, 14, false}, {64, 32, 64, 14, false},
	} {
		g := sameConv3x3(c.batch, c.ic, c.oc, c.size)
		if got := g.winogradForward(); got != c.want {
			t.Errorf("%+v: winogradForward %v", c, got)
		}
	}
}

// TestWinogradByBlocks: which 3×3 layers convWinogradWith takes by blocks of output
// channels, as BenchmarkConvWinograd and BenchmarkConvInputGrad3x3 measured them.
func TestWinogradByBlocks(t *testing.T) {
	for _, c := range []struct {
		batch, ic, oc, size int
		want                bool
	}{
		{8, 512, 512, 7, true}, {32, 512, 512, 7, true}, {33, 512, 512, 7, false}, {8, 256, 256, 14, true},
		{16, 256, 256, 14, false}, {8, 128, 128, 28, false}, {1, 256, 256, 14, false}, {8, 64, 256, 13, false},
	} {
		g := sameConv3x3(c.batch, c.ic, c.oc, c.size)
		if got := g.winogradByBlocks(); got != c.want {
			t.Errorf("%+v: by blocks %v", c, got)
		}
	}
}

// TestWinogradAlgo: which of the layers useWinograd takes run F(4×4, 3×3), as
// BenchmarkConvWinograd measured them.
func TestWinogradAlgo(t *testing.T) {
	for _, c := range []struct {
		batch, ic, oc, size int
		want                int // the side of an output tile
	}{
		{8, 64, 64, 56, 4}, {8, 128, 128, 28, 4}, {8, 256, 256, 14, 4}, {8, 512, 512, 7, 4},
		{1, 64, 64, 56, 4}, {1, 128, 128, 28, 2}, {1, 256, 256, 14, 2},
		{8, 16, 64, 55, 4}, {8, 32, 128, 27, 4}, {8, 48, 192, 13, 2}, {8, 64, 256, 13, 4},
		{1, 16, 64, 55, 2}, {1, 32, 128, 27, 2}, {1, 64, 256, 13, 2},
		{64, 32, 64, 14, 2}, {12, 32, 64, 14, 2}, {1000, 32, 64, 14, 2}, // Fashion-MNIST's
	} {
		g := sameConv3x3(c.batch, c.ic, c.oc, c.size)
		if got := g.winogradAlgo().m; got != c.want {
			t.Errorf("%+v: F(%d×%[2]d, 3×3)", c, got)
		}
		g.Precise = true
		if got := g.winogradAlgo().m; got != 2 {
			t.Errorf("%+v, Precise: F(%d×%[2]d, 3×3), want F(2×2, 3×3)", c, got)
		}
	}
}

// BenchmarkConvWinograd times resnet18's 3×3 stride-1 layers at batch 8 and 1 by im2col,
// F(2×2, 3×3) and F(4×4, 3×3): go test ./tensor -run '^$' -bench ConvWinograd -cpu 2.
func BenchmarkConvWinograd(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct{ batch, ic, ch, size int }{
		{8, 64, 64, 56}, {8, 128, 128, 28}, {8, 256, 256, 14}, {8, 512, 512, 7},
		{1, 64, 64, 56}, {1, 128, 128, 28}, {1, 256, 256, 14}, {1, 512, 512, 7},
		// squeezenet1_1's expand3x3 layers
		{8, 16, 64, 55}, {8, 32, 128, 27}, {8, 48, 192, 13}, {8, 64, 256, 13},
		{1, 16, 64, 55}, {1, 32, 128, 27}, {1, 48, 192, 13}, {1, 64, 256, 13},
		// the Fashion-MNIST CNN's second layer, at batch 64, 12 and 1000
		{64, 32, 64, 14}, {12, 32, 64, 14}, {1000, 32, 64, 14},
	} {
		g := sameConv3x3(c.batch, c.ic, c.ch, c.size)
		g.Clamp = []float32{0, float32(math.Inf(1))}
		x, w, bias := gemmRandom(r, c.batch*c.ic*c.size*c.size), gemmRandom(r, c.ch*c.ic*9), gemmRandom(r, c.ch)
		y := make([]float32, c.batch*c.ch*c.size*c.size)
		for _, path := range []string{"im2col", "F2", "F4"} {
			b.Run(fmt.Sprintf("%dx%d-%dx%d/%s", c.batch, c.ic, c.ch, c.size, path), func(b *testing.B) {
				conv := func() { convWinograd(y, x, w, bias, g, runtime.GOMAXPROCS(0)) }
				switch path {
				case "F2", "F4":
					winogradForce = map[string]*winogradAlgo{"F2": winograd2, "F4": winograd4}[path]
					defer func() { winogradForce = nil }()
				case "im2col":
					convWinogradOff = true
					defer func() { convWinogradOff = false }()
					conv = func() { Conv(y, x, w, bias, g) }
				}
				conv()
				b.ResetTimer()
				for range b.N {
					conv()
				}
				flops := 2 * float64(len(y)) * float64(c.ic*9)
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
