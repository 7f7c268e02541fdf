package tensor

import "github.com/onnxtune/onnxtune/internal/parallel"

// A fully connected layer with few rows of input (a classifier at batch 1 to 4) is
// C = A·Bᵀ with B the [outputs, inputs] weight matrix. Packing B for the micro-kernel then
// copies every weight to use it m times; reading each row of B once, for m dot products
// against the rows of A that stay in L1, streams the weights at memory speed instead:
// mobilenet_v2's 1280-to-1000 classifier at batch 1 took 207 µs packed and 47 µs so, and
// 4×1000×512 100 against 64 µs; at 8 rows packing wins (88 against 169 µs). Products too
// small to pack take this path too, where it beats gemmSmall's strided reads of B.

// gemmDotMaxRows is the most rows of A for which gemmDots beats packing.
const gemmDotMaxRows = 4

// gemmDotGrain is the least number of B rows (times k) worth a goroutine.
const gemmDotGrain = 64 << 10

// gemmDots computes C = alpha*A·Bᵀ + beta*C for an untransposed A (m×k) and B stored n×k,
// one dot product per element of C, over up to threads goroutines split along n.
func gemmDots(threads, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	parts := max(1, min(threads, n*k/gemmDotGrain))
	if parts == 1 {
		gemmDotColumns(0, n, m, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	parallel.ForEachIn(&gemmDotBodies, parts, parts, gemmDotParts{parts: parts, m: m, n: n, k: k, alpha: alpha, beta: beta, a: a, b: b, c: c, lda: lda, ldb: ldb, ldc: ldc})
}

// gemmDotParts is gemmDots' loop over parts of the columns.
type gemmDotParts struct {
	parts, m, n, k int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int
}

var gemmDotBodies parallel.Bodies[gemmDotParts]

// Run computes part p.
func (d *gemmDotParts) Run(p int) {
	gemmDotColumns(d.n*p/d.parts, d.n*(p+1)/d.parts, d.m, d.k, d.alpha, d.a, d.lda, d.b, d.ldb, d.beta, d.c, d.ldc)
}

// gemmDotColumns computes columns [j0, j1) of gemmDots's C.
func gemmDotColumns(j0, j1, m, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for j := j0; j < j1; j++ {
		brow := b[j*ldb : j*ldb+k]
		for i := range m {
			v := alpha * dotFloat32(a[i*lda:i*lda+k], brow)
			if beta != 0 {
				v += beta * c[i*ldc+j]
			}
			c[i*ldc+j] = v
		}
	}
}

// dotFloat32 returns the sum of x[i]*y[i] over x, with y at least as long.
func dotFloat32(x, y []float32) float32 {
	s, i := dotSIMD(x, y)
	y = y[:len(x)]
	// Four independent sums, so that the loop is not one long chain of dependent adds.
	var s0, s1, s2, s3 float32
	for ; i+4 <= len(x); i += 4 {
		s0 += x[i] * y[i]
		s1 += x[i+1] * y[i+1]
		s2 += x[i+2] * y[i+2]
		s3 += x[i+3] * y[i+3]
	}
	for ; i < len(x); i++ {
		s0 += x[i] * y[i]
	}
	return s + (s0 + s1) + (s2 + s3)
}
