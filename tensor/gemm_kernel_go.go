package tensor

// gemmKernGo4x4 is the portable micro-kernel: a 4×4 tile of C lives in 16 scalar variables
// across the whole k loop, so each loaded value of A and B is used four times.
func gemmKernGo4x4(kc int, a, b []float32, ldb int, c []float32, ldc int, alpha, beta float32, loadC bool, _ gemmEpilogue) {
	a = a[:kc*4]
	var c00, c01, c02, c03 float32
	var c10, c11, c12, c13 float32
	var c20, c21, c22, c23 float32
	var c30, c31, c32, c33 float32
	for p := 0; p < kc; p++ {
		ap := (*[4]float32)(a[p*4:])
		bp := (*[4]float32)(b[p*ldb:])
		a0, a1, a2, a3 := ap[0], ap[1], ap[2], ap[3]
		b0, b1, b2, b3 := bp[0], bp[1], bp[2], bp[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
	}
	gemmStoreRow4(c[0*ldc:], c00, c01, c02, c03, alpha, beta, loadC)
	gemmStoreRow4(c[1*ldc:], c10, c11, c12, c13, alpha, beta, loadC)
	gemmStoreRow4(c[2*ldc:], c20, c21, c22, c23, alpha, beta, loadC)
	gemmStoreRow4(c[3*ldc:], c30, c31, c32, c33, alpha, beta, loadC)
}

func gemmStoreRow4(c []float32, v0, v1, v2, v3, alpha, beta float32, loadC bool) {
	r := (*[4]float32)(c)
	if loadC {
		r[0] = alpha*v0 + beta*r[0]
		r[1] = alpha*v1 + beta*r[1]
		r[2] = alpha*v2 + beta*r[2]
		r[3] = alpha*v3 + beta*r[3]
		return
	}
	r[0], r[1], r[2], r[3] = alpha*v0, alpha*v1, alpha*v2, alpha*v3
}
