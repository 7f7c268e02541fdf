package tensor

// gemmPackA packs rows [i0, i0+mc) and columns [p0, p0+kc) of op(A) into dst as panels of mr
// rows, each panel laid out column after column (kc groups of mr values). Rows past mc are
// zero so that the micro-kernel can always run full tiles.
func gemmPackA(dst []float32, mr int, transA bool, a []float32, lda, i0, mc, p0, kc int) {
	for ir := 0; ir < mc; ir += mr {
		panel := dst[ir*kc : (ir+mr)*kc]
		rows := min(mr, mc-ir)
		if transA {
			// op(A) is stored column-major: each k step is a contiguous run of rows.
			gemmPackCopy(panel, mr, a, lda, p0, kc, i0+ir, rows)
		} else {
			gemmPackInterleave(panel, mr, a, lda, i0+ir, rows, p0, kc)
		}
	}
}

// gemmPackB packs rows [p0, p0+kc) and columns [j0, j0+nc) of op(B) into dst as panels of nr
// columns, each panel laid out row after row (kc groups of nr values). Columns past nc are
// zero.
func gemmPackB(dst []float32, nr int, transB bool, b []float32, ldb, p0, kc, j0, nc int) {
	if !transB {
		gemmPackRows(dst, nr, b, ldb, p0, kc, j0, nc)
		return
	}
	for jr := 0; jr < nc; jr += nr {
		// op(B) is stored row-major as n×k: each panel column is a contiguous row of B.
		gemmPackInterleave(dst[jr*kc:(jr+nr)*kc], nr, b, ldb, j0+jr, min(nr, nc-jr), p0, kc)
	}
}

// gemmPackCopy sets dst[p*w+j] = src[(p0+p)*ld+c0+j] for p < kc, j < cols, and zero for
// cols <= j < w: each step copies a contiguous run of the source row.
func gemmPackCopy(dst []float32, w int, src []float32, ld, p0, kc, c0, cols int) {
	dst = dst[:kc*w]
	if w == 8 && cols == 8 {
		// Element-wise moves: an array or slice copy would be a memmove call per step.
		for p := 0; p < kc; p++ {
			d, v := (*[8]float32)(dst[p*8:]), (*[8]float32)(src[(p0+p)*ld+c0:])
			d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7] = v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]
		}
		return
	}
	for p := 0; p < kc; p++ {
		s := (p0+p)*ld + c0
		d := dst[p*w : p*w+w]
		copy(d, src[s:s+cols])
		clear(d[cols:])
	}
}

// gemmPackInterleave sets dst[p*w+i] = src[(r0+i)*ld+p0+p] for i < rows, p < kc, and zero for
// rows <= i < w: it transposes rows of the source into the panel's columns.
func gemmPackInterleave(dst []float32, w int, src []float32, ld, r0, rows, p0, kc int) {
	dst = dst[:kc*w]
	// Eight source rows at a time: eight independent read streams, and each step writes
	// eight adjacent values of the panel.
	i := 0
	for ; i+8 <= rows; i += 8 {
		s := (r0+i)*ld + p0
		s0 := src[s : s+kc]
		s1 := src[s+ld : s+ld+kc]
		s2 := src[s+2*ld : s+2*ld+kc]
		s3 := src[s+3*ld : s+3*ld+kc]
		s4 := src[s+4*ld : s+4*ld+kc]
		s5 := src[s+5*ld : s+5*ld+kc]
		s6 := src[s+6*ld : s+6*ld+kc]
		s7 := src[s+7*ld : s+7*ld+kc]
		for p := gemmInterleave8(dst[i:], w, src[s:], ld, kc); p < kc; p++ {
			d := (*[8]float32)(dst[p*w+i:])
			d[0], d[1], d[2], d[3] = s0[p], s1[p], s2[p], s3[p]
			d[4], d[5], d[6], d[7] = s4[p], s5[p], s6[p], s7[p]
		}
	}
	for ; i+4 <= rows; i += 4 {
		s := (r0+i)*ld + p0
		s0 := src[s : s+kc]
		s1 := src[s+ld : s+ld+kc]
		s2 := src[s+2*ld : s+2*ld+kc]
		s3 := src[s+3*ld : s+3*ld+kc]
		for p := range s0 {
			d := (*[4]float32)(dst[p*w+i:])
			d[0], d[1], d[2], d[3] = s0[p], s1[p], s2[p], s3[p]
		}
	}
	for ; i < rows; i++ {
		s := (r0+i)*ld + p0
		for p, v := range src[s : s+kc] {
			dst[p*w+i] = v
		}
	}
	if rows < w {
		for p := 0; p < kc; p++ {
			clear(dst[p*w+rows : p*w+w])
		}
	}
}

// gemmPackRows is gemmPackB for an untransposed B. It walks B row by row, so the reads are
// long sequential runs that the hardware prefetcher follows, instead of kc short reads a
// whole row of B apart (which, for ldb a multiple of 1024, all land in one L1 set).
func gemmPackRows(dst []float32, nr int, b []float32, ldb, p0, kc, j0, nc int) {
	gemmPackRowsInto(dst, kc*nr, nr, b[p0*ldb:], ldb, kc, j0, nc)
}

// gemmPackRowsInto writes columns [j0, j0+nc) of the first rows rows of the matrix b (leading
// dimension ldb) into panels of nr columns, panel q starting at dst[q*stride], row p of it at
// dst[q*stride+p*nr], zero past column j0+nc. It is how a gemmBPacker writes the rows it built.
func gemmPackRowsInto(dst []float32, stride, nr int, b []float32, ldb, rows, j0, nc int) {
	full := nc / nr * nr
	for p := 0; p < rows; p++ {
		src := b[p*ldb+j0 : p*ldb+j0+nc]
		gemmCopyPanels(dst[p*nr:], stride, src[:full], nr)
		if full < nc {
			d := dst[full/nr*stride+p*nr : full/nr*stride+p*nr+nr]
			copy(d, src[full:])
			clear(d[nc-full:])
		}
	}
}
