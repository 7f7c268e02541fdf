package tensor

import "fmt"

// gemmPackedB is a k×n matrix B packed once into the micro-kernel's panels, block by block
// in the order gemmBlockedFrom packs them (blocks of nc columns, each in blocks of kc rows),
// for many products A·B that share it: gemmBlockedFrom packs B again for every call, which
// costs as much as the product when A has few rows.
type gemmPackedB struct {
	ar     *gemmArch
	k, n   int
	panels []float32
}

// gemmPackedLen is the length of the panels of a packed k×n B.
func gemmPackedLen(ar *gemmArch, k, n int) int { return gemmRoundUp(n, ar.nr) * k }

// packGemmB packs op(B) (k×n; B is n×k when transB) into panels, of gemmPackedLen(ar, k, n)
// floats.
func packGemmB(ar *gemmArch, panels []float32, transB bool, b []float32, ldb, k, n int) gemmPackedB {
	off := 0
	for jc := 0; jc < n; jc += ar.nc {
		nc := min(ar.nc, n-jc)
		for pc := 0; pc < k; pc += ar.kc {
			kc := min(ar.kc, k-pc)
			size := gemmRoundUp(nc, ar.nr) * kc
			gemmPackB(panels[off:off+size], ar.nr, transB, b, ldb, pc, kc, jc, nc)
			off += size
		}
	}
	return gemmPackedB{ar: ar, k: k, n: n, panels: panels[:off]}
}

// mul sets C = A·B on the calling goroutine, for A m×k (lda apart) and C m×n (ldc apart,
// overwritten).
func (p gemmPackedB) mul(m int, a []float32, lda int, c []float32, ldc int) {
	ar := p.ar
	gemmCheckMat("A", m, p.k, a, lda)
	gemmCheckMat("C", m, p.n, c, ldc)
	if m == 0 || p.n == 0 {
		return
	}
	if p.k == 0 {
		gemmScaleC(m, p.n, 0, c, ldc)
		return
	}
	buf, ok := gemmBufs.Get()
	if !ok {
		buf = new(gemmBuf)
	}
	defer gemmBufs.Put(buf)
	buf.a = gemmGrow(buf.a, gemmRoundUp(min(m, ar.mc), ar.mr)*min(p.k, ar.kc), ar.mc*ar.kc)
	off := 0
	for jc := 0; jc < p.n; jc += ar.nc {
		nc := min(ar.nc, p.n-jc)
		for pc := 0; pc < p.k; pc += ar.kc {
			kc := min(ar.kc, p.k-pc)
			size := gemmRoundUp(nc, ar.nr) * kc
			pb := p.panels[off : off+size]
			off += size
			beta, loadC := float32(0), false
			if pc > 0 {
				beta, loadC = 1, true
			}
			for ic := 0; ic < m; ic += ar.mc {
				mc := min(ar.mc, m-ic)
				gemmPackA(buf.a, ar.mr, false, a, lda, ic, mc, pc, kc)
				gemmMacro(ar, mc, nc, kc, buf.a, ar.mr*kc, pb, nil, 0, c[ic*ldc+jc:], ldc, 1, beta, loadC, buf, gemmEpilogue{})
			}
		}
	}
}

// mulPanels is mul for an A already in the micro-kernel's panels: rows [r·mr, r·mr+mr) of A
// at a[r*panelStride:], k steps of mr values one after another (zero in the rows past m of
// the last panel), so that nothing is packed.
func (p gemmPackedB) mulPanels(m int, a []float32, panelStride int, c []float32, ldc int) {
	ar := p.ar
	panels := (m + ar.mr - 1) / ar.mr
	if panelStride < ar.mr*p.k || m > 0 && len(a) < (panels-1)*panelStride+ar.mr*p.k {
		panic(fmt.Sprintf("tensor.gemmPackedB.mulPanels: %d values with panels %d apart for %d rows of %d", len(a), panelStride, m, p.k))
	}
	gemmCheckMat("C", m, p.n, c, ldc)
	if m == 0 || p.n == 0 {
		return
	}
	if p.k == 0 {
		gemmScaleC(m, p.n, 0, c, ldc)
		return
	}
	buf, ok := gemmBufs.Get()
	if !ok {
		buf = new(gemmBuf)
	}
	defer gemmBufs.Put(buf)
	off := 0
	for jc := 0; jc < p.n; jc += ar.nc {
		nc := min(ar.nc, p.n-jc)
		for pc := 0; pc < p.k; pc += ar.kc {
			kc := min(ar.kc, p.k-pc)
			size := gemmRoundUp(nc, ar.nr) * kc
			pb := p.panels[off : off+size]
			off += size
			beta, loadC := float32(0), false
			if pc > 0 {
				beta, loadC = 1, true
			}
			gemmMacro(ar, m, nc, kc, a[pc*ar.mr:], panelStride, pb, nil, 0, c[jc:], ldc, 1, beta, loadC, buf, gemmEpilogue{})
		}
	}
}

// packGemmA packs the m×k matrix A (rows lda apart) once into ar's panels, as gemmA.panels
// holds them, zero in the rows past m of the last panel.
func packGemmA(ar *gemmArch, a []float32, lda, m, k int) []float32 {
	mr := ar.mr
	panels := make([]float32, gemmRoundUp(m, mr)*k)
	for i0 := 0; i0 < m; i0 += mr {
		gemmPackInterleave(panels[i0*k:(i0+mr)*k], mr, a, lda, i0, min(mr, m-i0), 0, k)
	}
	return panels
}

// gemmWithPanels is gemmWith for an A (m×k, rows k apart) that packGemmA also packed into
// panels for the kernel in use: the blocked algorithm reads them instead of packing A again.
func gemmWithPanels(threads, m, n, k int, a, panels, b []float32, ldb int, c []float32, ldc int, ep gemmEpilogue) {
	ar := gemmCurrent()
	if int64(m)*int64(n)*int64(k) < gemmSmallWork {
		gemmWith(threads, m, n, k, a, k, b, ldb, c, ldc, ep) // plain loops, which pack nothing
		return
	}
	gemmCheck(false, false, m, n, k, a, k, b, ldb, c, ldc)
	ep.checkRows("tensor.gemmWithPanels", m)
	if len(panels) < gemmRoundUp(m, ar.mr)*k {
		panic(fmt.Sprintf("tensor.gemmWithPanels: %d packed values for %d rows of %d", len(panels), m, k))
	}
	gemmThreads(ar, threads, gemmA{a: a, ld: k, panels: panels}, false, m, n, k, 1, b, ldb, 0, c, ldc, ep)
}
