package tensor_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/onnxtune/onnxtune/tensor"
)

// pgradGeom is one pooling geometry with explicit begin and end pads; the output size is
// derived as the forward kernels derive it.
type pgradGeom struct {
	name                               string
	shape                              []int // [N C D1 ...]
	kernel, strides, dil, pads, padEnd []int
	ceil                               bool
}

func (c pgradGeom) geom() *tensor.PoolGeom {
	nd := len(c.kernel)
	out := make([]int, nd)
	for i := range out {
		out[i] = tensor.ConvOutSize(c.shape[2+i], c.kernel[i], c.strides[i], c.dil[i], c.pads[i], c.padEnd[i], c.ceil)
	}
	return &tensor.PoolGeom{Planes: c.shape[0] * c.shape[1], InShape: c.shape[2:], Kernel: c.kernel, OutShape: out,
		Strides: c.strides, Dilations: c.dil, Pads: c.pads, PadsEnd: c.padEnd}
}

func pgradGeoms() []pgradGeom {
	return []pgradGeom{
		{"2d-k3s2p1", []int{2, 3, 9, 8}, []int{3, 3}, []int{2, 2}, []int{1, 1}, []int{1, 1}, []int{1, 1}, false},
		{"2d-k3s2p1-ceil", []int{1, 2, 8, 7}, []int{3, 3}, []int{2, 2}, []int{1, 1}, []int{1, 1}, []int{1, 1}, true},
		{"2d-k2s2p1-ceil-5x5", []int{1, 1, 5, 5}, []int{2, 2}, []int{2, 2}, []int{1, 1}, []int{1, 1}, []int{1, 1}, true},
		{"2d-asym-dilated", []int{2, 2, 9, 10}, []int{2, 3}, []int{1, 2}, []int{2, 1}, []int{0, 2}, []int{1, 0}, false},
		{"2d-overlap-stride1", []int{1, 2, 6, 7}, []int{4, 3}, []int{1, 1}, []int{1, 1}, []int{2, 1}, []int{1, 1}, true},
		{"1d", []int{2, 3, 11}, []int{4}, []int{3}, []int{1}, []int{2}, []int{1}, true},
		{"1d-dilated", []int{1, 2, 12}, []int{3}, []int{2}, []int{3}, []int{1}, []int{1}, false},
		{"3d", []int{1, 2, 4, 5, 6}, []int{2, 3, 2}, []int{2, 1, 2}, []int{1, 1, 2}, []int{1, 0, 1}, []int{0, 1, 1}, true},
		// Windows that tile the input, with rows and columns left over.
		{"2d-tiled-k2s2", []int{2, 3, 9, 8}, []int{2, 2}, []int{2, 2}, []int{1, 1}, []int{0, 0}, []int{0, 0}, false},
		{"2d-tiled-k3x2", []int{1, 2, 10, 7}, []int{3, 2}, []int{3, 2}, []int{1, 1}, []int{0, 0}, []int{0, 0}, false},
		{"1d-tiled", []int{2, 2, 11}, []int{2}, []int{2}, []int{1}, []int{0}, []int{0}, false},
		// Big enough to run the planes in parallel.
		{"2d-parallel", []int{2, 8, 40, 40}, []int{3, 3}, []int{2, 2}, []int{1, 1}, []int{1, 1}, []int{1, 1}, false},
	}
}

func pgradRandom(r *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = r.NormFloat64()
	}
	return v
}

func pgradDot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// TestAveragePoolGradAdjoint: AveragePool is linear, so its gradient is its adjoint,
// <dy, pool(x)> = <grad(dy), x> for all x and dy; with one-hot x the identity checks every
// element of the gradient, the divisor of each edge window included.
func TestAveragePoolGradAdjoint(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, c := range pgradGeoms() {
		for _, include := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/include=%v", c.name, include), func(t *testing.T) {
				g := c.geom()
				n, m := tensor.Size(c.shape), g.Planes*tensor.Size(g.OutShape)
				dy := pgradRandom(r, m)
				dx := pgradRandom(r, n) // garbage AveragePoolGrad must overwrite
				tensor.AveragePoolGrad(dx, dy, g, include)
				x := make([]float64, n)
				y := make([]float64, m)
				step := 1
				if n > 2000 {
					step = 97 // a sample of the cells on the large case
				}
				for i := 0; i < n; i += step {
					clear(x)
					x[i] = 1
					tensor.AveragePool(y, x, g, include)
					if got, want := dx[i], pgradDot(dy, y); math.Abs(got-want) > 1e-12*(1+math.Abs(want)) {
						t.Fatalf("dx[%d] = %v, want <dy, pool(e_%d)> = %v", i, got, i, want)
					}
				}
				// float32 agrees with float64.
				dy32, dx32 := make([]float32, m), make([]float32, n)
				for i, v := range dy {
					dy32[i] = float32(v)
				}
				tensor.AveragePoolGrad(dx32, dy32, g, include)
				for i := range dx {
					if math.Abs(float64(dx32[i])-dx[i]) > 1e-5*(1+math.Abs(dx[i])) {
						t.Fatalf("float32 dx[%d] = %v, float64 %v", i, dx32[i], dx[i])
					}
				}
			})
		}
	}
}

// TestMaxPoolGradIndices: MaxPoolGrad sends each output's gradient to the cell MaxPool's
// Indices name (the first maximum in window order), with or without the forward result, on
// inputs full of ties.
func TestMaxPoolGradIndices(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, c := range pgradGeoms() {
		for _, ties := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/ties=%v", c.name, ties), func(t *testing.T) {
				g := c.geom()
				n, m := tensor.Size(c.shape), g.Planes*tensor.Size(g.OutShape)
				x := pgradRandom(r, n)
				if ties {
					for i := range x {
						x[i] = math.Floor(math.Abs(x[i]) * 1.5)
					}
				}
				y, idx := make([]float64, m), make([]int64, m)
				tensor.MaxPool(y, idx, x, g, false)
				dy := pgradRandom(r, m)
				want := make([]float64, n)
				for o, i := range idx {
					if i >= 0 {
						want[i] += dy[o]
					}
				}
				for _, withY := range []bool{false, true} {
					dx := pgradRandom(r, n)
					var yy []float64
					if withY {
						yy = y
					}
					tensor.MaxPoolGrad(dx, dy, x, yy, g)
					for i := range want {
						if dx[i] != want[i] {
							t.Fatalf("with y %v: dx[%d] = %v, want %v", withY, i, dx[i], want[i])
						}
					}
				}
			})
		}
	}
}

// TestMaxPoolGradNaN: a NaN wins its window in the forward pass and takes the gradient.
func TestMaxPoolGradNaN(t *testing.T) {
	g := &tensor.PoolGeom{Planes: 1, InShape: []int{1, 4}, Kernel: []int{1, 2}, OutShape: []int{1, 2},
		Strides: []int{1, 2}, Dilations: []int{1, 1}, Pads: []int{0, 0}, PadsEnd: []int{0, 0}}
	x := []float32{1, float32(math.NaN()), 3, 2}
	y := make([]float32, 2)
	tensor.MaxPool(y, nil, x, g, false)
	dx := make([]float32, 4)
	tensor.MaxPoolGrad(dx, []float32{5, 7}, x, y, g)
	if want := []float32{0, 5, 7, 0}; fmt.Sprint(dx) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", dx, want)
	}
	// A window of two rows: its first NaN wins, another one after it not.
	g2 := &tensor.PoolGeom{Planes: 1, InShape: []int{2, 2}, Kernel: []int{2, 2}, OutShape: []int{1, 1},
		Strides: []int{2, 2}, Dilations: []int{1, 1}, Pads: []int{0, 0}, PadsEnd: []int{0, 0}}
	nan := float32(math.NaN())
	x2 := []float32{1, nan, 9, nan}
	y2 := make([]float32, 1)
	tensor.MaxPool(y2, nil, x2, g2, false)
	dx2 := make([]float32, 4)
	tensor.MaxPoolGrad(dx2, []float32{5}, x2, y2, g2)
	if want := []float32{0, 5, 0, 0}; fmt.Sprint(dx2) != fmt.Sprint(want) {
		t.Errorf("two rows: got %v, want %v", dx2, want)
	}
}

// TestGlobalPoolGrads checks the global pools' gradients: the mean spreads dy/n over the
// plane, the max sends dy to the first maximum.
func TestGlobalPoolGrads(t *testing.T) {
	x := []float32{1, 3, 3, 0, -1, -2, -1, -5}
	dy := []float32{2, -4}
	dx := make([]float32, 8)
	tensor.GlobalMaxPoolGrad(dx, dy, x, 2, 4)
	if want := []float32{0, 2, 0, 0, -4, 0, 0, 0}; fmt.Sprint(dx) != fmt.Sprint(want) {
		t.Errorf("GlobalMaxPoolGrad: got %v, want %v", dx, want)
	}
	tensor.GlobalAveragePoolGrad(dx, dy, 2, 4)
	if want := []float32{0.5, 0.5, 0.5, 0.5, -1, -1, -1, -1}; fmt.Sprint(dx) != fmt.Sprint(want) {
		t.Errorf("GlobalAveragePoolGrad: got %v, want %v", dx, want)
	}
}

// BenchmarkMaxPoolGrad sets MaxPool's backward pass beside its forward pass on resnet18's
// stem pool at batch 8 (3x3, stride 2, pad 1 over 64x112x112).
func BenchmarkMaxPoolGrad(b *testing.B) {
	g := &tensor.PoolGeom{Planes: 8 * 64, InShape: []int{112, 112}, Kernel: []int{3, 3}, OutShape: []int{56, 56},
		Strides: []int{2, 2}, Dilations: []int{1, 1}, Pads: []int{1, 1}, PadsEnd: []int{1, 1}}
	r := rand.New(rand.NewPCG(1, 2))
	n, m := 8*64*112*112, 8*64*56*56
	x, dx := make([]float32, n), make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	y, dy := make([]float32, m), make([]float32, m)
	for i := range dy {
		dy[i] = float32(r.NormFloat64())
	}
	tensor.MaxPool(y, nil, x, g, false)
	b.Run("forward", func(b *testing.B) {
		for range b.N {
			tensor.MaxPool(y, nil, x, g, false)
		}
	})
	b.Run("backward-with-y", func(b *testing.B) {
		for range b.N {
			tensor.MaxPoolGrad(dx, dy, x, y, g)
		}
	})
	b.Run("backward-argmax", func(b *testing.B) {
		for range b.N {
			tensor.MaxPoolGrad(dx, dy, x, nil, g)
		}
	})
	b.Run("average-backward", func(b *testing.B) {
		for range b.N {
			tensor.AveragePoolGrad(dx, dy, g, false)
		}
	})
	// The Fashion-MNIST CNN's first pool at batch 64: 2x2 windows that tile 32 planes of
	// 28x28.
	g2 := &tensor.PoolGeom{Planes: 64 * 32, InShape: []int{28, 28}, Kernel: []int{2, 2}, OutShape: []int{14, 14},
		Strides: []int{2, 2}, Dilations: []int{1, 1}, Pads: []int{0, 0}, PadsEnd: []int{0, 0}}
	x2, dx2 := x[:64*32*28*28], dx[:64*32*28*28]
	y2, dy2 := y[:64*32*14*14], dy[:64*32*14*14]
	tensor.MaxPool(y2, nil, x2, g2, false)
	b.Run("backward-2x2-tiled", func(b *testing.B) {
		for range b.N {
			tensor.MaxPoolGrad(dx2, dy2, x2, y2, g2)
		}
	})
}
