package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// gemmRef is the float64 reference; it also returns, per element of C, the sum of the
// magnitudes of the terms, which bounds the float32 rounding error of any summation order.
func gemmRef(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) (want, mag []float64) {
	want = make([]float64, m*n)
	mag = make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s, sa float64
			for p := 0; p < k; p++ {
				ai, bi := i*lda+p, p*ldb+j
				if transA {
					ai = p*lda + i
				}
				if transB {
					bi = j*ldb + p
				}
				av, bv := a[ai], b[bi]
				t := float64(alpha) * float64(av) * float64(bv)
				s += t
				sa += math.Abs(t)
			}
			if beta != 0 {
				t := float64(beta) * float64(c[i*ldc+j])
				s += t
				sa += math.Abs(t)
			}
			want[i*n+j], mag[i*n+j] = s, sa
		}
	}
	return want, mag
}

func gemmRandom(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = r.Float32()*2 - 1
	}
	return s
}

// gemmTestArchs returns every kernel usable here, each also with tiny block sizes so that
// small matrices still cross several mc, kc and nc blocks.
func gemmTestArchs() []*gemmArch {
	var archs []*gemmArch
	for _, ar := range gemmArchs {
		tiny := *ar
		tiny.name += "-tinyblocks"
		tiny.mc, tiny.kc, tiny.nc = 2*ar.mr, 5, 2*ar.nr
		archs = append(archs, ar, &tiny)
	}
	return archs
}

type gemmCase struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	pad            int // added to every leading dimension
}

func (tc gemmCase) String() string {
	return fmt.Sprintf("tA=%v,tB=%v,m=%d,n=%d,k=%d,alpha=%g,beta=%g,pad=%d", tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, tc.beta, tc.pad)
}

// gemmCheckCase runs one case through run and compares with the reference. Padding
// between rows of C is filled with a sentinel that must survive, and with beta == 0 C
// starts as NaN, which must not leak.
func gemmCheckCase(t *testing.T, r *rand.Rand, tc gemmCase, run func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)) {
	t.Helper()
	ar, ac := tc.m, tc.k
	if tc.transA {
		ar, ac = tc.k, tc.m
	}
	br, bc := tc.k, tc.n
	if tc.transB {
		br, bc = tc.n, tc.k
	}
	lda, ldb, ldc := ac+tc.pad, bc+tc.pad, tc.n+tc.pad
	a := gemmRandom(r, ar*lda)
	b := gemmRandom(r, br*ldb)
	c := gemmRandom(r, tc.m*ldc)
	const sentinel = 12345
	for i := range c {
		if i%ldc >= tc.n {
			c[i] = sentinel
		} else if tc.beta == 0 {
			c[i] = float32(math.NaN())
		}
	}
	want, mag := gemmRef(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, c, ldc)
	run(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, c, ldc)
	for i := 0; i < tc.m; i++ {
		for j := 0; j < ldc; j++ {
			got := c[i*ldc+j]
			if j >= tc.n {
				if got != sentinel {
					t.Fatalf("%v: C[%d][%d] beyond n was overwritten with %v", tc, i, j, got)
				}
				continue
			}
			w := want[i*tc.n+j]
			tol := 1e-6*float64(tc.k+4)*mag[i*tc.n+j] + 1e-30
			if d := math.Abs(float64(got) - w); !(d <= tol) {
				t.Fatalf("%v: C[%d][%d] = %v, want %v (tolerance %g)", tc, i, j, got, w, tol)
			}
		}
	}
}

var gemmTestDims = []int{1, 3, 7, 17, 33, 65, 129}

// gemmCases enumerates the sizes crossed with the transpositions; alpha, beta and padding
// cycle with the index so that every combination appears without multiplying the count.
func gemmCases(ks []int) []gemmCase {
	alphaBeta := [][2]float32{{1, 0}, {1, 1}, {0.5, 0.5}, {-2, 0}, {1.5, -1}}
	var cases []gemmCase
	idx := 0
	for _, m := range gemmTestDims {
		for _, n := range gemmTestDims {
			for _, k := range ks {
				for tr := 0; tr < 4; tr++ {
					ab := alphaBeta[idx%len(alphaBeta)]
					cases = append(cases, gemmCase{
						transA: tr&1 != 0, transB: tr&2 != 0, m: m, n: n, k: k,
						alpha: ab[0], beta: ab[1], pad: []int{0, 3}[idx/len(alphaBeta)%2],
					})
					idx++
				}
			}
		}
	}
	return cases
}

func TestGemmBlocked(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, ar := range gemmTestArchs() {
		t.Run(ar.name, func(t *testing.T) {
			cases := gemmCases([]int{1, 7, 40})
			// A few deeper products cross the default kc boundary as well.
			for tr := 0; tr < 4; tr++ {
				cases = append(cases, gemmCase{transA: tr&1 != 0, transB: tr&2 != 0, m: 17, n: 65, k: 300, alpha: 1, beta: 0.5, pad: 1},
					gemmCase{transA: tr&1 != 0, transB: tr&2 != 0, m: 9, n: 33, k: 600, alpha: -1, beta: 0})
			}
			for _, tc := range cases {
				gemmCheckCase(t, r, tc, func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
					gemmBlockedFrom(ar, gemmA{trans: transA, a: a, ld: lda}, m, n, k, alpha, gemmB{trans: transB, b: b, ld: ldb}, beta, c, ldc, gemmEpilogue{})
				})
			}
		})
	}
}

// TestGemmPackedB: products by a B packed once (gemmPackedB) give C = A·B, with A packed by
// the product or already in panels, for B as stored and transposed, on every kernel and on tiny blocks that cross several kc and nc blocks.
func TestGemmPackedB(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, ar := range gemmTestArchs() {
		t.Run(ar.name, func(t *testing.T) {
			for _, tc := range []gemmCase{
				{m: 17, n: 65, k: 300, alpha: 1, pad: 1}, {transB: true, m: 9, n: 33, k: 600, alpha: 1},
				{transB: true, m: 1, n: 7, k: 5, alpha: 1, pad: 2}, {m: 40, n: 1, k: 1, alpha: 1},
			} {
				gemmCheckCase(t, r, tc, func(_, transB bool, m, n, k int, _ float32, a []float32, lda int, b []float32, ldb int, _ float32, c []float32, ldc int) {
					pb := packGemmB(ar, make([]float32, gemmPackedLen(ar, k, n)), transB, b, ldb, k, n)
					pb.mul(m, a, lda, c, ldc)
					// A in panels of mr rows, k steps of mr values each, the last one padded:
					// mulPanels gives the same C bit for bit.
					mr := ar.mr
					stride := k*mr + 3
					pa := make([]float32, (m+mr-1)/mr*stride)
					for i := range m {
						for p := range k {
							pa[i/mr*stride+p*mr+i%mr] = a[i*lda+p]
						}
					}
					want := slices.Clone(c)
					pb.mulPanels(m, pa, stride, c, ldc)
					if !slices.Equal(c, want) {
						t.Errorf("%s %v: mulPanels differs from mul", ar.name, tc)
					}
				})
			}
		})
	}
}

func TestGemmParallel(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, ar := range gemmTestArchs() {
		for _, threads := range []int{2, 3} {
			t.Run(fmt.Sprintf("%s/threads=%d", ar.name, threads), func(t *testing.T) {
				for _, tc := range gemmCases([]int{17}) {
					gemmCheckCase(t, r, tc, func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
						gemmParallel(ar, threads, gemmA{trans: transA, a: a, ld: lda}, transB, m, n, k, alpha, b, ldb, beta, c, ldc, gemmEpilogue{})
					})
				}
			})
		}
	}
}

func TestGemmSmall(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, tc := range gemmCases([]int{1, 7, 33}) {
		gemmCheckCase(t, r, tc, gemmSmall)
	}
}

// TestGemmPublic goes through the exported entry points, with and without the forced
// pure-Go kernel, on sizes that take each of the direct, serial and parallel paths.
func TestGemmPublic(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	defer func(old bool) { gemmForceGo = old }(gemmForceGo)
	for _, forceGo := range []bool{false, true} {
		gemmForceGo = forceGo
		for _, sz := range [][3]int{{0, 5, 5}, {5, 0, 5}, {5, 5, 0}, {2, 3, 4}, {20, 30, 40}, {65, 129, 70}, {130, 33, 200}, {8, 300, 96}} {
			for tr := 0; tr < 4; tr++ {
				for _, ab := range [][2]float32{{1, 0}, {0, 0.5}, {0.5, 1}} {
					tc := gemmCase{transA: tr&1 != 0, transB: tr&2 != 0, m: sz[0], n: sz[1], k: sz[2], alpha: ab[0], beta: ab[1], pad: tr}
					gemmCheckCase(t, r, tc, Gemm)
					gemmCheckCase(t, r, tc, GemmSerial)
				}
			}
		}
	}
}

// TestGemmDots covers the dot-product path of the few-row products A·Bᵀ, in assembly and
// in Go, on one goroutine and on several.
func TestGemmDots(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	defer func(old bool) { simdForceGo = old }(simdForceGo)
	for _, forceGo := range []bool{false, true} {
		simdForceGo = forceGo
		for _, threads := range []int{1, 2, 3} {
			var cases []gemmCase
			for _, tc := range gemmCases([]int{1, 7, 40}) {
				if tc.transB && !tc.transA && tc.m <= gemmDotMaxRows {
					cases = append(cases, tc)
				}
			}
			// Enough of B for the split over goroutines to happen.
			cases = append(cases, gemmCase{transB: true, m: 1, n: 1000, k: 333, alpha: 1, beta: 0, pad: 5},
				gemmCase{transB: true, m: 4, n: 257, k: 1280, alpha: 0.5, beta: -1})
			for _, tc := range cases {
				gemmCheckCase(t, r, tc, func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
					gemmDots(threads, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
				})
			}
		}
	}
}

func TestGemmPanics(t *testing.T) {
	a, b, c := make([]float32, 12), make([]float32, 12), make([]float32, 9)
	for _, tc := range []struct {
		name string
		f    func()
		msg  string
	}{
		{"short A", func() { Gemm(false, false, 3, 3, 4, 1, a[:11], 4, b, 3, 0, c, 3) }, "A has 11 elements"},
		{"short B transposed", func() { Gemm(false, true, 3, 3, 4, 1, a, 4, b[:10], 4, 0, c, 3) }, "B has 10 elements"},
		{"short C", func() { Gemm(false, false, 3, 3, 4, 1, a, 4, b, 3, 0, c[:8], 3) }, "C has 8 elements"},
		{"small lda", func() { Gemm(false, false, 3, 3, 4, 1, a, 3, b, 3, 0, c, 3) }, "leading dimension of A"},
		{"small ldc", func() { GemmSerial(false, false, 3, 3, 4, 1, a, 4, b, 3, 0, c, 2) }, "leading dimension of C"},
		{"negative", func() { Gemm(false, false, -1, 3, 4, 1, a, 4, b, 3, 0, c, 3) }, "negative dimension"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if s, _ := r.(string); !strings.Contains(s, tc.msg) {
					t.Fatalf("panic %v, want one mentioning %q", r, tc.msg)
				}
			}()
			tc.f()
		})
	}
}

func TestGemmNoAllocs(t *testing.T) {
	if gemmRaceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	const m, n, k = 128, 300, 100
	a, b, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
	for _, f := range []struct {
		name string
		gemm func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)
	}{{"GemmSerial", GemmSerial}, {"Gemm", Gemm}} {
		// Less than one on average: a garbage collection may empty the pool once.
		if allocs := testing.AllocsPerRun(20, func() { f.gemm(false, true, m, n, k, 1, a, k, b, k, 0, c, n) }); allocs >= 1 {
			t.Errorf("%s allocates %v times per call in steady state", f.name, allocs)
		}
		if allocs := testing.AllocsPerRun(20, func() { f.gemm(false, true, 1, n, k, 1, a, k, b, k, 0, c, n) }); allocs >= 1 {
			t.Errorf("%s allocates %v times per call in steady state for one row of A", f.name, allocs)
		}
	}
}

type gemmBenchShape struct {
	name           string
	transA, transB bool
	m, n, k        int
}

// gemmBenchShapes are resnet18's GEMMs at batch 8: convolutions as im2col products
// (output channels × output pixels of the batch × input channels·kh·kw), the classifier,
// and two of the transposed products that training runs.
var gemmBenchShapes = []gemmBenchShape{
	{"square_1024", false, false, 1024, 1024, 1024}, // issue 11's SGEMM bar
	{"conv1_64x100352x147", false, false, 64, 112 * 112 * 8, 147},
	{"conv2_64x25088x576", false, false, 64, 56 * 56 * 8, 576},
	{"conv3_128x6272x1152", false, false, 128, 28 * 28 * 8, 1152},
	{"conv4_256x1568x2304", false, false, 256, 14 * 14 * 8, 2304},
	{"conv5_512x392x4608", false, false, 512, 7 * 7 * 8, 4608},
	{"fc_8x1000x512_tB", false, true, 8, 1000, 512},
	{"fc_8x1000x512", false, false, 8, 1000, 512},
	{"dW_256x2304x1568_tB", false, true, 256, 2304, 1568},
	{"dX_2304x1568x256_tA", true, false, 2304, 1568, 256},
}

func gemmBench(b *testing.B, sh gemmBenchShape, f func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)) {
	r := rand.New(rand.NewPCG(9, 10))
	lda, ldb := sh.k, sh.n
	if sh.transA {
		lda = sh.m
	}
	if sh.transB {
		ldb = sh.k
	}
	a := gemmRandom(r, sh.m*sh.k)
	bb := gemmRandom(r, sh.k*sh.n)
	c := make([]float32, sh.m*sh.n)
	f(sh.transA, sh.transB, sh.m, sh.n, sh.k, 1, a, lda, bb, ldb, 0, c, sh.n)
	b.ResetTimer()
	// A plain b.N loop rather than b.Loop: with b.Loop the probe run, which executes
	// under the default GOMAXPROCS, is reported as the first -cpu result.
	for range b.N {
		f(sh.transA, sh.transB, sh.m, sh.n, sh.k, 1, a, lda, bb, ldb, 0, c, sh.n)
	}
	b.ReportMetric(2*float64(sh.m)*float64(sh.n)*float64(sh.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkGemm measures Gemm on resnet18's shapes; run with -cpu 1,2 to see the scaling.
func BenchmarkGemm(b *testing.B) {
	for _, sh := range gemmBenchShapes {
		b.Run(sh.name, func(b *testing.B) { gemmBench(b, sh, Gemm) })
	}
}

// BenchmarkGemmArch measures each available micro-kernel through the parallel driver.
func BenchmarkGemmArch(b *testing.B) {
	for _, ar := range gemmArchs {
		for _, sh := range gemmBenchShapes {
			b.Run(ar.name+"/"+sh.name, func(b *testing.B) {
				gemmBench(b, sh, func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, bb []float32, ldb int, beta float32, c []float32, ldc int) {
					gemm(ar, runtime.GOMAXPROCS(0), transA, transB, m, n, k, alpha, a, lda, bb, ldb, beta, c, ldc, gemmEpilogue{})
				})
			})
		}
	}
}

// BenchmarkGemmGonum is the baseline: gonum's pure-Go Sgemm on the same shapes.
func BenchmarkGemmGonum(b *testing.B) {
	impl := gonum.Implementation{}
	tr := func(t bool) blas.Transpose {
		if t {
			return blas.Trans
		}
		return blas.NoTrans
	}
	for _, sh := range gemmBenchShapes {
		b.Run(sh.name, func(b *testing.B) {
			gemmBench(b, sh, func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, bb []float32, ldb int, beta float32, c []float32, ldc int) {
				impl.Sgemm(tr(transA), tr(transB), m, n, k, alpha, a, lda, bb, ldb, beta, c, ldc)
			})
		})
	}
}

// TestGemmArchsBlockInPanels: every kernel's cache blocks hold whole micro-panels, which the
// drivers rely on (a block of A packed once, gemmA.panels, is read from its first row's
// panel).
func TestGemmArchsBlockInPanels(t *testing.T) {
	for _, ar := range gemmArchs {
		if ar.mc%ar.mr != 0 || ar.nc%ar.nr != 0 {
			t.Errorf("%s: mc %d, nc %d for %d×%d tiles", ar.name, ar.mc, ar.nc, ar.mr, ar.nr)
		}
	}
}
