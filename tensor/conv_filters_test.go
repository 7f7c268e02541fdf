package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestPackedFilters: a 1×1 convolution that reads its filters packed once (ConvGeom.Filters)
// gives the same bits as one that packs them on every call, with every epilogue, for the
// assembly and the Go kernels, at batch 1 and where the batch is packed into one product
// (which packs the filters itself), in groups, and below the size that packs at all; and the
// packed filters are what it reads.
func TestPackedFilters(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	inf := float32(math.Inf(1))
	for _, forceGo := range []bool{false, true} {
		for _, c := range []struct{ batch, inC, outC, groups, size int }{
			{1, 16, 40, 1, 20}, {1, 96, 24, 1, 14}, {1, 320, 1280, 1, 7}, {1, 40, 20, 2, 17},
			{2, 40, 20, 2, 17}, {1, 12, 10, 1, 3},
		} {
			t.Run(fmt.Sprintf("go=%v/%+v", forceGo, c), func(t *testing.T) {
				gemmForceGo = forceGo
				defer func() { gemmForceGo = false }()
				g := &ConvGeom{Batch: c.batch, InC: c.inC, OutC: c.outC, Group: c.groups, InShape: []int{c.size, c.size},
					Kernel: []int{1, 1}, OutShape: []int{c.size, c.size}, Strides: []int{1, 1}, Dilations: []int{1, 1}, Pads: []int{0, 0}}
				x := gemmRandom(r, c.batch*c.inC*c.size*c.size)
				w := gemmRandom(r, c.outC*c.inC/c.groups)
				bias := gemmRandom(r, c.outC)
				res := gemmRandom(r, c.batch*c.outC*c.size*c.size)
				filters, err := PackConvFilters(w, c.outC, c.inC, c.groups, []int{1, 1})
				if err != nil {
					t.Fatal(err)
				}
				for _, clamp := range [][]float32{nil, {0, inf}} {
					for _, residual := range [][]float32{nil, res} {
						want, got := make([]float32, len(res)), make([]float32, len(res))
						plain := *g
						plain.Clamp, plain.Residual = clamp, residual
						Conv(want, x, w, bias, &plain)
						packed := plain
						packed.Filters = filters
						Conv(got, x, w, bias, &packed)
						for i := range want {
							if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
								t.Fatalf("clamp %v, residual %v: element %d: %v with packed filters, %v without", clamp, residual != nil, i, got[i], want[i])
							}
						}
					}
				}
				// Zeroed packed filters change the output exactly where they are read: at
				// batch 1 with a product large enough to pack, unless the direct
				// convolution takes it (which reads its own layout, not the panels).
				read := c.batch == 1 && c.outC*c.inC/c.groups*c.size*c.size >= gemmSmallWork && !g.convDirectFits(false)
				zeroed := &PackedFilters{ar: filters.ar, outC: c.outC, inC: c.inC, groups: c.groups}
				for _, p := range filters.panels {
					zeroed.panels = append(zeroed.panels, make([]float32, len(p)))
				}
				want, got := make([]float32, len(res)), make([]float32, len(res))
				Conv(want, x, w, nil, g)
				zg := *g
				zg.Filters = zeroed
				Conv(got, x, w, nil, &zg)
				changed := false
				for i := range want {
					changed = changed || got[i] != want[i]
				}
				if changed != read {
					t.Errorf("zeroed packed filters changed the output: %v, want %v", changed, read)
				}
			})
		}
	}
	if _, err := PackConvFilters(make([]float32, 10), 4, 6, 2, []int{1, 1}); err == nil {
		t.Errorf("10 values for 4 filters of 6 channels in 2 groups: no error")
	}
}

// TestKeptWinogradFilters: a 3×3 convolution that Winograd computes by chunks of tiles, given
// its filters prepared once (ConvGeom.Filters), gives the same bits as one that transforms
// them on every call, on its first call and its second, under both algorithms; what it reads
// on the second is the kept transforms; and filters of more than a 1×1 kernel in groups, or
// of other than two dimensions, prepare nothing.
func TestKeptWinogradFilters(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, alg := range winogradAlgos {
		g := sameConv3x3(1, 64, 64, 28)
		if !g.winogradForward() || g.winogradByBlocks() {
			t.Fatalf("%v: not Winograd by chunks", g)
		}
		x, w, bias := gemmRandom(r, 64*28*28), gemmRandom(r, 64*64*9), gemmRandom(r, 64)
		want := make([]float32, 64*28*28)
		winogradForce = alg
		Conv(want, x, w, bias, g)
		f, kept := convKeepsBits(t, fmt.Sprintf("F(%d×%[1]d, 3×3)", alg.m), want, x, w, bias, g)
		u := f.transforms[0].u
		if alg == winograd4 {
			u = f.transforms[1].u
		}
		if u == nil {
			t.Fatalf("F(%d×%[1]d, 3×3): no transforms kept", alg.m)
		}
		clear(u)
		got := make([]float32, len(want))
		Conv(got, x, w, nil, &kept)
		for i := range got {
			if got[i] != 0 {
				t.Fatalf("F(%d×%[1]d, 3×3): zeroed kept transforms, yet output %d is %v", alg.m, i, got[i])
			}
		}
		winogradForce = nil
	}
	for _, c := range []struct {
		groups int
		kernel []int
	}{{2, []int{3, 3}}, {2, []int{5, 5}}, {1, []int{3, 3, 3}}, {1, []int{3}}} {
		w := make([]float32, 8*8/c.groups*Size(c.kernel))
		if f, err := PackConvFilters(w, 8, 8, c.groups, c.kernel); f != nil || err != nil {
			t.Errorf("%d groups, kernel %v: prepared %v (%v), want nothing", c.groups, c.kernel, f, err)
		}
	}
}

// convKeepsBits prepares g's filters w once (PackConvFilters) and checks that Conv with them
// gives want, Conv's output without them, bit for bit on a first call (which makes what it
// keeps) and a second (which reads it); it returns the filters and g with them.
func convKeepsBits(t *testing.T, what string, want, x, w, bias []float32, g *ConvGeom) (*PackedFilters, ConvGeom) {
	t.Helper()
	f, err := PackConvFilters(w, g.OutC, g.InC, g.Group, g.Kernel)
	if err != nil {
		t.Fatal(err)
	}
	kept := *g
	kept.Filters = f
	for call := range 2 {
		got := make([]float32, len(want))
		Conv(got, x, w, bias, &kept)
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%s, call %d: element %d: %v with the filters prepared once, %v without", what, call, i, got[i], want[i])
			}
		}
	}
	return f, kept
}
