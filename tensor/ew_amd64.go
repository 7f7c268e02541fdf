//go:build amd64 && !purego

package tensor

// Assembly for the float32 element-wise loops that a CNN runs over every activation
// (ew_amd64.s, math32_amd64.s); the depthwise convolution's kernels (conv_amd64.s) share the
// CPU check below. Each element-wise wrapper handles the whole multiple of 8 (the vector
// width) at the start of its slices and returns how many elements it did, leaving the tail
// to the Go loop; it returns 0 when the CPU lacks AVX2 and FMA, or when a test has set
// simdForceGo to cover the Go loops on every machine.

//go:noescape
func clampAVX2(dst, src *float32, n int, lo, hi float32)

//go:noescape
func hardSigmoidAVX2(dst, src *float32, n int, alpha, beta float32)

//go:noescape
func hardSwishAVX2(dst, src *float32, n int)

//go:noescape
func maxAVX2(dst, a, b *float32, n int)

//go:noescape
func addAVX2(dst, a, b *float32, n int)

//go:noescape
func adamAVX2(p, grad, m, v *float32, n int, c *AdamCoeffs)

//go:noescape
func reluGradAVX2(dst, grad, y *float32, n int)

//go:noescape
func bnInputGradAVX2(dst, grad, x *float32, n int, a, b, off float32)

//go:noescape
func affineAVX2(dst, src *float32, n int, a, b float32)

//go:noescape
func addScalarClampAVX2(dst, src *float32, n int, b, lo, hi float32, clamp bool)

//go:noescape
func sumF64AVX2(x *float32, n int) float64

//go:noescape
func sqDevF64AVX2(x *float32, n int, m float64) float64

//go:noescape
func gradSumsF64AVX2(grad, x, dst *float32, n int, m float64, k float32) (sg, sgx float64)

//go:noescape
func dotAVX2(x, y *float32, n int) float32

//go:noescape
func addResidualClampAVX2(dst, src, res *float32, n int, b, lo, hi float32, clamp bool)

var (
	// simdAVX2 reports AVX2 and FMA with the OS saving the YMM registers. (gemmAsmArchs makes
	// the same check for its own kernels, at an initialisation order of its own.)
	simdAVX2 = simdDetectAVX2()

	// simdForceGo makes the wrappers decline, so that tests can cover the Go loops.
	simdForceGo bool
)

func simdDetectAVX2() bool {
	maxID, _, _, _ := gemmCPUID(0, 0)
	if maxID < 7 {
		return false
	}
	_, _, ecx1, _ := gemmCPUID(1, 0)
	_, ebx7, _, _ := gemmCPUID(7, 0)
	const (
		fma     = 1 << 12 // CPUID.1:ECX
		osxsave = 1 << 27 // CPUID.1:ECX
		avx     = 1 << 28 // CPUID.1:ECX
		avx2    = 1 << 5  // CPUID.7.0:EBX
	)
	if ecx1&(fma|osxsave|avx) != fma|osxsave|avx || ebx7&avx2 == 0 {
		return false
	}
	xcr0, _ := gemmXGETBV()
	return xcr0&0x6 == 0x6
}

// simdLen returns the number of leading elements of an n-element loop the assembly should
// take: a multiple of 8, or 0 when it should take none.
func simdLen(n int) int {
	if !simdAVX2 || simdForceGo {
		return 0
	}
	return n &^ 7
}

// simdBlock is the most elements one call into an element-wise kernel takes. The Go runtime
// cannot preempt a goroutine inside assembly, so a garbage collection that has to stop the
// world, or scan the goroutine's stack, would wait for a call over a whole activation
// (milliseconds, with page faults) with its own worker spinning; between calls of 16 KiB it
// can step in.
const simdBlock = 4 << 10

// simdEach calls kern(i, size) for the blocks of the first n elements, [i, i+size), each of
// at most simdBlock elements, and returns n.
func simdEach(n int, kern func(i, size int)) int {
	for i := 0; i < n; i += simdBlock {
		kern(i, min(simdBlock, n-i))
	}
	return n
}

// simdUnaryLoop calls kern over the first n elements of dst and src in blocks of simdBlock.
func simdUnaryLoop(kern func(dst, src *float32, n int), dst, src []float32, n int) {
	_, _ = dst[n-1], src[n-1]
	for i := 0; i < n; i += simdBlock {
		kern(&dst[i], &src[i], min(simdBlock, n-i))
	}
}

func clampFloat32(dst, src []float32, lo, hi float32) int {
	n := simdLen(len(dst))
	if n == 0 {
		return 0
	}
	_ = src[n-1]
	return simdEach(n, func(i, size int) { clampAVX2(&dst[i], &src[i], size, lo, hi) })
}

func addFloat32(dst, a, b []float32) int {
	n := simdLen(min(len(dst), len(a), len(b)))
	if n == 0 {
		return 0
	}
	_, _, _ = dst[n-1], a[n-1], b[n-1]
	return simdEach(n, func(i, size int) { addAVX2(&dst[i], &a[i], &b[i], size) })
}

func maxFloat32(dst, a, b []float32) int {
	n := simdLen(min(len(dst), len(a), len(b)))
	if n == 0 {
		return 0
	}
	_, _, _ = dst[n-1], a[n-1], b[n-1]
	return simdEach(n, func(i, size int) { maxAVX2(&dst[i], &a[i], &b[i], size) })
}

func adamFloat32(p, g, m, v []float32, c *AdamCoeffs) int {
	n := simdLen(min(len(p), len(g), len(m), len(v)))
	if n == 0 {
		return 0
	}
	_, _, _, _ = p[n-1], g[n-1], m[n-1], v[n-1]
	return simdEach(n, func(i, size int) { adamAVX2(&p[i], &g[i], &m[i], &v[i], size, c) })
}

func reluGradFloat32(dst, g, y []float32) int {
	n := simdLen(len(dst))
	if n == 0 {
		return 0
	}
	_, _ = g[n-1], y[n-1]
	return simdEach(n, func(i, size int) { reluGradAVX2(&dst[i], &g[i], &y[i], size) })
}

func bnInputGradFloat32(dst, g, x []float32, a, b, off float32) int {
	n := simdLen(len(dst))
	if n == 0 {
		return 0
	}
	_, _ = g[n-1], x[n-1]
	return simdEach(n, func(i, size int) { bnInputGradAVX2(&dst[i], &g[i], &x[i], size, a, b, off) })
}

func affineFloat32(dst, src []float32, a, b float32) int {
	n := simdLen(len(dst))
	if n == 0 {
		return 0
	}
	_ = src[n-1]
	return simdEach(n, func(i, size int) { affineAVX2(&dst[i], &src[i], size, a, b) })
}

func addScalarClampFloat32(dst, src []float32, b, lo, hi float32, clamp bool) int {
	n := simdLen(len(dst))
	if n == 0 {
		return 0
	}
	_ = src[n-1]
	return simdEach(n, func(i, size int) { addScalarClampAVX2(&dst[i], &src[i], size, b, lo, hi, clamp) })
}

func addResidualClampFloat32(dst, src, res []float32, b, lo, hi float32, clamp bool) int {
	n := simdLen(len(dst))
	if n == 0 {
		return 0
	}
	_, _ = src[n-1], res[n-1]
	return simdEach(n, func(i, size int) { addResidualClampAVX2(&dst[i], &src[i], &res[i], size, b, lo, hi, clamp) })
}

func hardSigmoidFloat32(dst, src []float32, alpha, beta float32) int {
	n := simdLen(len(dst))
	if n == 0 {
		return 0
	}
	_ = src[n-1]
	return simdEach(n, func(i, size int) { hardSigmoidAVX2(&dst[i], &src[i], size, alpha, beta) })
}

func hardSwishFloat32(dst, src []float32) int {
	n := simdLen(len(dst))
	if n > 0 {
		simdUnaryLoop(hardSwishAVX2, dst, src, n)
	}
	return n
}

//go:noescape
func expAVX2(dst, src *float32, n int)

//go:noescape
func sigmoidAVX2(dst, src *float32, n int)

//go:noescape
func tanhAVX2(dst, src *float32, n int)

func expFloat32(dst, src []float32) int {
	n := simdLen(len(dst))
	if n > 0 {
		simdUnaryLoop(expAVX2, dst, src, n)
	}
	return n
}

func sigmoidFloat32(dst, src []float32) int {
	n := simdLen(len(dst))
	if n > 0 {
		simdUnaryLoop(sigmoidAVX2, dst, src, n)
	}
	return n
}

func tanhFloat32(dst, src []float32) int {
	n := simdLen(len(dst))
	if n > 0 {
		simdUnaryLoop(tanhAVX2, dst, src, n)
	}
	return n
}

// sumF64Float32 adds the leading elements of x, widened to float64, that the assembly takes;
// it returns the sum and how many it took.
func sumF64Float32(x []float32) (float64, int) {
	n := simdLen(len(x))
	s := 0.0
	simdEach(n, func(i, size int) { s += sumF64AVX2(&x[i], size) })
	return s, n
}

// sqDevF64Float32 is sumF64Float32 for the squares of x[i] - m.
func sqDevF64Float32(x []float32, m float64) (float64, int) {
	n := simdLen(len(x))
	s := 0.0
	simdEach(n, func(i, size int) { s += sqDevF64AVX2(&x[i], size, m) })
	return s, n
}

// gradSumsF64Float32 is sumF64Float32 for the sums of g[i] and of g[i]·(x[i] - m), writing
// dst[i] = g[i]*k on the way unless dst is nil.
func gradSumsF64Float32(g, x, dst []float32, m float64, k float32) (sg, sgx float64, done int) {
	n := simdLen(len(g))
	if n > 0 {
		_ = x[n-1]
		if dst != nil {
			_ = dst[n-1]
		}
	}
	simdEach(n, func(i, size int) {
		var d *float32
		if dst != nil {
			d = &dst[i]
		}
		a, b := gradSumsF64AVX2(&g[i], &x[i], d, size, m, k)
		sg, sgx = sg+a, sgx+b
	})
	return sg, sgx, n
}

// dotSIMD returns the sum of x[i]*y[i] over the first multiple of 8 of x's elements and
// how many it took; y is at least as long as x.
func dotSIMD(x, y []float32) (float32, int) {
	n := simdLen(len(x))
	if n == 0 {
		return 0, 0
	}
	_ = y[n-1]
	return dotAVX2(&x[0], &y[0], n), n
}
