package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestGemmEpilogue: a product with an epilogue (a bias per row, a clamp, both, neither)
// gives bit for bit what the product followed by Go's own loop gives (v + bias[i], then
// min(max(v, lo), hi)), NaN rows and signed zeros included, on every kernel (the AVX-512 one
// in registers, the others in Go after each tile), with block sizes that split k, edge tiles,
// the small-product path, and one and three goroutines.
func TestGemmEpilogue(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, ar := range gemmTestArchs() {
		for _, sh := range []struct{ m, n, k int }{{37, 70, 300}, {16, 64, 9}, {3, 5, 7}, {9, 40, 0}} {
			a, b := gemmRandom(r, sh.m*sh.k), gemmRandom(r, sh.k*sh.n)
			if sh.k > 0 {
				a[2*sh.k] = float32(math.NaN()) // row 2 is NaN throughout
				for j := range sh.k {
					a[1*sh.k+j] = 0 // row 1 is zero: its bias is the result
				}
			}
			bias := gemmRandom(r, sh.m)
			bias[1] = float32(math.Copysign(0, -1))
			for _, ep := range []gemmEpilogue{
				{}, {bias: bias}, {clamp: true, lo: 0, hi: 6}, {bias: bias, clamp: true, lo: -0.25, hi: 0.5},
				{bias: bias, clamp: true, lo: 0, hi: float32(math.Inf(1))},
			} {
				for _, threads := range []int{1, 3} {
					name := fmt.Sprintf("%s/%dx%dx%d/bias=%v,clamp=%v/threads=%d", ar.name, sh.m, sh.n, sh.k, ep.bias != nil, ep.clamp, threads)
					want := make([]float32, sh.m*sh.n)
					gemm(ar, threads, false, false, sh.m, sh.n, sh.k, 1, a, sh.k, b, sh.n, 0, want, sh.n, gemmEpilogue{})
					for i := range sh.m {
						for j := range sh.n {
							v := want[i*sh.n+j]
							if ep.bias != nil {
								v += ep.bias[i]
							}
							if ep.clamp {
								v = min(max(v, ep.lo), ep.hi)
							}
							want[i*sh.n+j] = v
						}
					}
					got := gemmRandom(r, sh.m*sh.n) // overwritten
					gemm(ar, threads, false, false, sh.m, sh.n, sh.k, 1, a, sh.k, b, sh.n, 0, got, sh.n, ep)
					for i := range want {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("%s: C[%d][%d] = %g with the epilogue, %g after the product", name, i/sh.n, i%sh.n, got[i], want[i])
						}
					}
				}
			}
		}
	}
}
