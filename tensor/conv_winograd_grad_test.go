package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// TestConvWinogradWeightGradMatchesIm2col: the weight gradient by F(2×2, 3×3) and by
// F(4×4, 3×3), by chunks of tiles and by blocks of filters, gives the im2col path's within
// float32 rounding on odd and even sizes, every padding, several images, chunks and blocks
// (a last one short), on one core and two.
func TestConvWinogradWeightGradMatchesIm2col(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, c := range []winogradCase{
		{1, 64, 64, 7, 7, 1, 1, 1, 1},
		{2, 64, 80, 14, 14, 1, 1, 1, 1},
		{3, 72, 64, 9, 12, 0, 0, 0, 0},
		{2, 64, 64, 8, 5, 2, 0, 1, 2},
		{1, 16, 64, 9, 10, 1, 2, 1, 0},
		{1, 16, 64, 6, 7, 0, 3, 2, 1},
		{1, 16, 64, 5, 9, 1, 4, 1, 4},
		{8, 64, 64, 56, 56, 1, 1, 1, 1},
		{8, 256, 256, 14, 14, 1, 1, 1, 1},
		{8, 512, 512, 7, 7, 1, 1, 1, 1},
		{3, 136, 72, 11, 13, 0, 2, 1, 0},
	} {
		name, g := c.String(), c.geom()
		oh, ow := g.OutShape[0], g.OutShape[1]
		x, dy := gemmRandom(r, c.batch*c.inC*c.h*c.w), gemmRandom(r, c.batch*c.outC*oh*ow)
		want := make([]float32, c.outC*c.inC*9)
		convWinogradOff = true
		ConvWeightGrad(want, x, dy, g)
		convWinogradOff = false
		for _, driver := range []struct {
			name string
			grad func(dw, x, dy []float32, g *ConvGeom, procs int)
		}{{"chunks", convWinogradWeightGradChunks}, {"blocks", convWinogradWeightGradBlocks}} {
			for _, alg := range winogradAlgos {
				for _, run := range []struct {
					procs   int
					forceGo bool // the Go loops instead of the vector kernels
				}{{1, false}, {2, false}, {2, true}} {
					got := gemmRandom(r, len(want)) // overwritten
					simdForceGo, winogradForce = run.forceGo, alg
					driver.grad(got, x, dy, g, run.procs)
					simdForceGo, winogradForce = false, nil
					var worst float64
					for i := range want {
						// Each sums Batch*OutH*OutW products of values in [-1, 1]: scale by their size.
						worst = max(worst, math.Abs(float64(got[i]-want[i]))/math.Sqrt(float64(c.batch*oh*ow)))
					}
					if worst > winogradTolerance[alg.m] {
						t.Errorf("%s, F(%d×%[2]d, 3×3) by %s, %+v: Winograd is %.3g (scaled) from im2col", name, alg.m, driver.name, run, worst)
					}
				}
			}
		}
	}
}

// BenchmarkConvWinogradWeightGrad times the weight gradient of resnet18's 3×3 stride-1
// layers at batch 8 by im2col and by F(2×2, 3×3): go test ./tensor -run '^$' -bench
// ConvWinogradWeightGrad -cpu 2.
func BenchmarkConvWinogradWeightGrad(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct{ batch, ic, ch, size int }{
		{8, 64, 64, 56}, {8, 128, 128, 28}, {8, 256, 256, 14}, {8, 512, 512, 7},
		{16, 512, 512, 7}, {4, 256, 256, 14}, {2, 128, 128, 28}, {16, 128, 128, 28}, {8, 128, 128, 56},
		// squeezenet1_1's expand3x3 layers, and the Fashion-MNIST CNN's second layer
		{8, 16, 64, 55}, {8, 32, 128, 27}, {8, 48, 192, 13}, {8, 64, 256, 13},
		{64, 32, 64, 14},
	} {
		g := sameConv3x3(c.batch, c.ic, c.ch, c.size)
		x, dy := gemmRandom(r, c.batch*c.ic*c.size*c.size), gemmRandom(r, c.batch*c.ch*c.size*c.size)
		dw := make([]float32, c.ch*c.ic*9)
		for _, path := range []string{"im2col", "F2", "F4"} {
			b.Run(fmt.Sprintf("%dx%d-%dx%d/%s", c.batch, c.ic, c.ch, c.size, path), func(b *testing.B) {
				grad := func() { convWinogradWeightGrad(dw, x, dy, g, runtime.GOMAXPROCS(0)) }
				switch path {
				case "F2", "F4":
					winogradForce = map[string]*winogradAlgo{"F2": winograd2, "F4": winograd4}[path]
					defer func() { winogradForce = nil }()
				case "im2col":
					convWinogradOff = true
					defer func() { convWinogradOff = false }()
					grad = func() { ConvWeightGrad(dw, x, dy, g) }
				}
				grad()
				b.ResetTimer()
				for range b.N {
					grad()
				}
				flops := 2 * float64(len(dw)) * float64(c.batch*c.size*c.size)
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// TestUseWinogradWeightGrad: which 3×3 layers' weight gradients take F(2×2, 3×3), as
// BenchmarkConvWinogradWeightGrad measured them.
func TestUseWinogradWeightGrad(t *testing.T) {
	for _, c := range []struct {
		batch, ic, oc, size int
		want                bool
	}{
		{8, 64, 64, 56, true}, {8, 128, 128, 28, true}, {8, 256, 256, 14, true}, {8, 512, 512, 7, true},
		{64, 32, 64, 14, true}, {8, 32, 128, 27, true}, {8, 16, 64, 55, false}, {8, 64, 256, 13, false},
		{2, 128, 128, 28, true}, {1, 64, 64, 56, false}, {2, 64, 64, 56, true}, {1, 512, 512, 7, false},
		{1, 256, 256, 14, false}, {4, 256, 256, 14, true},
	} {
		g := sameConv3x3(c.batch, c.ic, c.oc, c.size)
		if got := g.useWinogradWeightGrad(); got != c.want {
			t.Errorf("%+v: useWinogradWeightGrad %v", c, got)
		}
	}
}

// TestWinogradWeightGradAlgo: which weight gradients useWinogradWeightGrad takes run by
// blocks of filters, and which run F(4×4, 3×3), as BenchmarkConvWinogradWeightGrad
// measured them.
func TestWinogradWeightGradAlgo(t *testing.T) {
	for _, c := range []struct {
		batch, ic, oc, size int
		blocks              bool
		want                int // the side of an output tile
	}{
		{8, 64, 64, 56, false, 4}, {8, 128, 128, 28, true, 4}, {6, 128, 128, 28, true, 4}, {64, 32, 64, 14, false, 2},
		{32, 256, 256, 14, true, 4}, {48, 256, 256, 14, false, 2}, {16, 128, 128, 28, false, 4},
		{8, 512, 512, 7, true, 4}, {16, 512, 512, 7, true, 4}, {8, 256, 256, 14, true, 4},
	} {
		g := sameConv3x3(c.batch, c.ic, c.oc, c.size)
		if !g.useWinogradWeightGrad() {
			t.Fatalf("%+v: no Winograd weight gradient", c)
		}
		if got := g.winogradGradByBlocks(); got != c.blocks {
			t.Errorf("%+v: by blocks %v", c, got)
		}
		if got := g.winogradWeightGradAlgo().m; got != c.want {
			t.Errorf("%+v: F(%d×%[2]d, 3×3)", c, got)
		}
	}
}

// TestConvWinogradInputGradMatchesIm2col: the input gradient by F(2×2, 3×3) and F(4×4,
// 3×3), by chunks and by blocks, on the filters' transforms with G⊗G's columns reversed
// (winogradFlippedKron) gives what the im2col path gives on the flipped copy, within float32
// rounding, for every padding up to 2 and several images, on one core and two.
func TestConvWinogradInputGradMatchesIm2col(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, c := range []winogradCase{
		{1, 64, 64, 24, 24, 1, 1, 1, 1},
		{3, 64, 80, 14, 14, 1, 1, 1, 1},
		{3, 72, 32, 15, 12, 0, 0, 0, 0},
		{4, 64, 64, 8, 15, 2, 0, 1, 2},
		{4, 96, 16, 13, 11, 1, 2, 0, 1},
		{8, 512, 512, 7, 7, 1, 1, 1, 1},
		{6, 72, 264, 9, 10, 1, 0, 2, 1},
	} {
		name, g := c.String(), c.geom()
		oh, ow := g.OutShape[0], g.OutShape[1]
		tg, ok := g.inputGradGeom()
		if !ok || !tg.useWinograd() {
			t.Fatalf("%s: the input gradient would not take Winograd", name)
		}
		dy, w := gemmRandom(r, c.batch*c.outC*oh*ow), gemmRandom(r, c.outC*c.inC*9)
		want := make([]float32, c.batch*c.inC*c.h*c.w)
		convWinogradOff = true
		ConvInputGrad(want, dy, w, g)
		convWinogradOff = false
		for _, driver := range winogradDrivers {
			for _, alg := range winogradAlgos {
				for _, procs := range []int{1, 2} {
					got := gemmRandom(r, len(want)) // overwritten
					winogradForce = alg
					driver.conv(got, dy, w, nil, tg, procs, true)
					winogradForce = nil
					var worst float64
					for i := range want {
						worst = max(worst, math.Abs(float64(got[i]-want[i]))/math.Sqrt(9*float64(c.outC)))
					}
					if worst > winogradTolerance[alg.m] {
						t.Errorf("%s, F(%d×%[2]d, 3×3) by %s on %d cores: Winograd's input gradient is %.3g (scaled) from im2col's", name, alg.m, driver.name, procs, worst)
					}
				}
			}
		}
		got := gemmRandom(r, len(want))
		ConvInputGrad(got, dy, w, g) // through the dispatch
		for i := range want {
			if d := math.Abs(float64(got[i]-want[i])) / math.Sqrt(9*float64(c.outC)); d > winogradTolerance[4] {
				t.Fatalf("%s: ConvInputGrad is %.3g (scaled) from im2col at %d", name, d, i)
			}
		}
	}
}

// BenchmarkConvInputGrad3x3 times the input gradient of resnet18's 3×3 stride-1 layers at
// batch 8 by each Winograd algorithm: go test ./tensor -run '^$' -bench ConvInputGrad3x3 -cpu 2.
func BenchmarkConvInputGrad3x3(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct{ batch, ch, size int }{{8, 64, 56}, {8, 128, 28}, {8, 256, 14}, {8, 512, 7}} {
		g := sameConv3x3(c.batch, c.ch, c.ch, c.size)
		dy, w := gemmRandom(r, c.batch*c.ch*c.size*c.size), gemmRandom(r, c.ch*c.ch*9)
		dx := make([]float32, len(dy))
		for _, alg := range winogradAlgos {
			b.Run(fmt.Sprintf("%dx%d-%d/F%d", c.batch, c.ch, c.size, alg.m), func(b *testing.B) {
				winogradForce = alg
				defer func() { winogradForce = nil }()
				ConvInputGrad(dx, dy, w, g)
				b.ResetTimer()
				for range b.N {
					ConvInputGrad(dx, dy, w, g)
				}
			})
		}
	}
}

// BenchmarkConvWeightGradLarge times ConvWeightGrad on resnet18's layers whose gradients
// ConvWeightGrad takes over the whole batch (convWeightGradWholeBatch) at batch 8, both ways:
// go test ./tensor -run '^$' -bench ConvWeightGradLarge -cpu 2.
func BenchmarkConvWeightGradLarge(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct{ batch, ic, oc, size, stride int }{
		{8, 256, 256, 14, 1}, {8, 512, 512, 7, 1}, {8, 256, 512, 14, 2}, {8, 128, 256, 28, 2}, {8, 64, 128, 56, 2},
	} {
		out := (c.size+2-3)/c.stride + 1
		g := &ConvGeom{Batch: c.batch, InC: c.ic, OutC: c.oc, Group: 1, InShape: []int{c.size, c.size},
			Kernel: []int{3, 3}, OutShape: []int{out, out}, Strides: []int{c.stride, c.stride}, Dilations: []int{1, 1},
			Pads: []int{1, 1}}
		x, dy := gemmRandom(r, c.batch*c.ic*c.size*c.size), gemmRandom(r, c.batch*c.oc*out*out)
		dw := make([]float32, c.oc*c.ic*9)
		for _, path := range []string{"per-image", "whole-batch"} {
			b.Run(fmt.Sprintf("%dx%d-%dx%d-s%d/%s", c.batch, c.ic, c.oc, c.size, c.stride, path), func(b *testing.B) {
				convWinogradOff = true
				convWholeBatchOff = path == "per-image"
				defer func() { convWinogradOff, convWholeBatchOff = false, false }()
				ConvWeightGrad(dw, x, dy, g)
				b.ResetTimer()
				for range b.N {
					ConvWeightGrad(dw, x, dy, g)
				}
			})
		}
	}
}

// TestConvWeightGradOverBatch: the weight gradient as one product over the batch gives what
// the image-by-image sums give within float32 rounding, in 2-D (strided, padded) and 1-D,
// on one core and two; and wholeBatchWeightGrad takes the layers it was measured to pay on.
func TestConvWeightGradOverBatch(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, g := range []*ConvGeom{
		{Batch: 3, InC: 40, OutC: 96, Group: 1, InShape: []int{7, 6}, Kernel: []int{3, 3}, OutShape: []int{4, 3},
			Strides: []int{2, 2}, Dilations: []int{1, 1}, Pads: []int{1, 1}},
		{Batch: 2, InC: 24, OutC: 16, Group: 1, InShape: []int{9}, Kernel: []int{5}, OutShape: []int{3},
			Strides: []int{3}, Dilations: []int{1}, Pads: []int{2}},
	} {
		x, dy := gemmRandom(r, g.Batch*g.InC*g.InSize()), gemmRandom(r, g.Batch*g.OutC*g.OutSize())
		want := make([]float32, g.OutC*g.InC*g.KernelSize())
		convWholeBatchOff = true
		ConvWeightGrad(want, x, dy, g)
		convWholeBatchOff = false
		for _, procs := range []int{1, 2} {
			old := runtime.GOMAXPROCS(procs)
			got := gemmRandom(r, len(want)) // overwritten
			convWeightGradOverBatch(got, x, dy, g)
			runtime.GOMAXPROCS(old)
			for i := range want {
				if d := math.Abs(float64(got[i] - want[i])); d > 1e-5 {
					t.Fatalf("%v, %d cores: dw[%d] = %g over the batch, %g image by image", g.InShape, procs, i, got[i], want[i])
				}
			}
		}
	}
	for _, c := range []struct {
		ic, oc, size, stride int
		want                 bool
	}{{512, 512, 7, 1, true}, {256, 512, 14, 2, true}, {256, 256, 14, 1, false}, {128, 256, 28, 2, false}, {32, 64, 7, 1, false}} {
		out := (c.size+2-3)/c.stride + 1
		g := &ConvGeom{Batch: 8, InC: c.ic, OutC: c.oc, Group: 1, InShape: []int{c.size, c.size}, Kernel: []int{3, 3},
			OutShape: []int{out, out}, Strides: []int{c.stride, c.stride}, Dilations: []int{1, 1}, Pads: []int{1, 1}}
		if got := g.wholeBatchWeightGrad(); got != c.want {
			t.Errorf("%+v: wholeBatchWeightGrad %v", c, got)
		}
	}
}
