//go:build amd64 && !purego

package tensor

//go:noescape
func dw3x3S1AVX2(dst, r0, r1, r2 *float32, n int, w *[9]float32, bias float32)

//go:noescape
func dw3x3S2AVX2(dst, e0, e1, e2, o0, o1, o2 *float32, n int, w *[9]float32, bias float32)

// dwRowsSIMD reports whether the vector kernels of the depthwise convolution run here.
func dwRowsSIMD() bool { return simdAVX2 && !simdForceGo }

// dwRowS1 computes the output row dst of a 3×3 depthwise convolution at stride 1 from three
// padded input rows (see conv_amd64.s), each at least (len(dst)+7)&^7 + 2 cells long.
func dwRowS1(dst, r0, r1, r2 []float32, w *[9]float32, bias float32) {
	n := len(dst)
	if n == 0 {
		return
	}
	last := (n+7)&^7 + 1
	_, _, _ = r0[last], r1[last], r2[last]
	dw3x3S1AVX2(&dst[0], &r0[0], &r1[0], &r2[0], n, w, bias)
}

// dwRowS2 computes the output row dst of a 3×3 depthwise convolution at stride 2 from the
// even (e) and odd (o) cells of three padded input rows, each e at least (len(dst)+7)&^7 + 1
// cells long and each o one cell shorter.
func dwRowS2(dst, e0, e1, e2, o0, o1, o2 []float32, w *[9]float32, bias float32) {
	n := len(dst)
	if n == 0 {
		return
	}
	last := (n + 7) &^ 7
	_, _, _ = e0[last], e1[last], e2[last]
	_, _, _ = o0[last-1], o1[last-1], o2[last-1]
	dw3x3S2AVX2(&dst[0], &e0[0], &e1[0], &e2[0], &o0[0], &o1[0], &o2[0], n, w, bias)
}

//go:noescape
func dw3x3S2PlaneAVX2(dst, e, o *float32, oh, ow int, w *[9]float32, bias float32)

// dwPlaneS2 computes the whole oh×ow output plane dst of a 3×3 depthwise convolution at
// stride 2 with a padding of 1 from the split rows in e and o (see dwVector.planeS2), ow
// cells each from e[1] and o[1] on.
func dwPlaneS2(dst, e, o []float32, oh, ow int, w *[9]float32, bias float32) {
	if oh == 0 || ow == 0 {
		return
	}
	last := 1 + 2*oh*ow + (ow+7)&^7 - 1 // the last cell the last output row reads
	_, _, _ = e[last], o[last], dst[oh*ow-1]
	dw3x3S2PlaneAVX2(&dst[0], &e[1], &o[1], oh, ow, w, bias)
}

//go:noescape
func dw3x3FlatPlanesAVX2(dst, f *float32, maskL, maskR *uint32, n, iw, planes, stride int, w, bias *float32)

// dwFlatPlanes computes len(bias) whole "same" stride-1 planes of a 3×3 depthwise
// convolution, n outputs each: plane p laid out in f from cell p*stride on with iw+1 zeros
// before it (see dwVector), its outputs dst[p*n:(p+1)*n], its filter w[9p:9p+9].
func dwFlatPlanes(dst, f []float32, maskL, maskR []uint32, n, iw, stride int, w, bias []float32) {
	planes := len(bias)
	if planes == 0 || n == 0 {
		return
	}
	lanes := (n + 7) &^ 7
	if stride < lanes+2*iw+2 {
		panic("tensor: dwFlatPlanes: planes laid out closer than the cells a plane reads")
	}
	_, _, _ = f[(planes-1)*stride+lanes+2*iw+1], maskL[lanes-1], maskR[lanes-1]
	_, _ = dst[planes*n-1], w[9*planes-1]
	dw3x3FlatPlanesAVX2(&dst[0], &f[0], &maskL[0], &maskR[0], n, iw, planes, stride, &w[0], &bias[0])
}

//go:noescape
func deinterleaveAVX2(even, odd, src *float32, n int)

// deinterleaveFloat32 splits the leading pairs of src into a (even cells) and b (odd cells)
// and returns how many pairs it did, a multiple of 8.
func deinterleaveFloat32(a, b, src []float32) int {
	n := simdLen(min(len(a), len(b), len(src)/2))
	if n > 0 {
		_, _, _ = a[n-1], b[n-1], src[2*n-1]
		deinterleaveAVX2(&a[0], &b[0], &src[0], n)
	}
	return n
}

//go:noescape
func dwRowAVX2(dst *float32, rows **float32, taps *int, w *float32, kh, kw, n int, bias float32)

// dwRow computes the output row dst of a depthwise convolution with len(rows) × len(taps)
// weights w from laid-out input rows: tap j of row i for output c is the cell at byte offset
// taps[j] + 4c of rows[i] (see dwVector).
func dwRow(dst []float32, rows [][]float32, taps []int, w []float32, bias float32) {
	n, kh, kw := len(dst), len(rows), len(taps)
	if n == 0 || kh == 0 || kw == 0 {
		return
	}
	_ = w[kh*kw-1]
	// The last cell a tap reads: the vectors cover n rounded up to 8 outputs.
	last := (n+7)&^7 - 1
	for _, t := range taps {
		if t < 0 || t%4 != 0 {
			panic("tensor: dwRow: tap offsets must be whole cells")
		}
		last = max(last, t/4+(n+7)&^7-1)
	}
	var ptrs [dwMaxKernel]*float32
	for i, r := range rows {
		_ = r[last]
		ptrs[i] = &r[0]
	}
	dwRowAVX2(&dst[0], &ptrs[0], &taps[0], &w[0], kh, kw, n, bias)
}

//go:noescape
func maxPool3x3S2AVX2(dst, r0, r1, r2 *float32, n int)

// maxPoolRow3x3S2 sets dst[c] to the max of ri[2c+j] over i, j < 3 and reports whether the
// vector kernel ran; each ri must hold maxPoolRowCells(len(dst)) cells.
func maxPoolRow3x3S2(dst, r0, r1, r2 []float32) bool {
	n := len(dst)
	if !dwRowsSIMD() || n == 0 {
		return false
	}
	last := maxPoolRowCells(n) - 1
	_, _, _ = r0[last], r1[last], r2[last]
	maxPool3x3S2AVX2(&dst[0], &r0[0], &r1[0], &r2[0], n)
	return true
}

//go:noescape
func maxPoolArg3x3S2AVX2(idx *int32, r0, r1, r2, y *float32, n int)

// maxPoolArgRow3x3S2 sets idx[c], for the leading whole vectors of outputs c, to the first
// position k = 3i+j of a 3×3 window at stride 2 whose cell ri[2c+j] equals y[c], or 9 where
// none does, and returns how many outputs it did (a multiple of 8; none without AVX2).
// Each ri must hold 2*len(y)+2 cells.
func maxPoolArgRow3x3S2(idx []int32, r0, r1, r2, y []float32) int {
	n := simdLen(min(len(idx), len(y)))
	if n > 0 {
		_, _, _, _, _ = idx[n-1], y[n-1], r0[2*n+1], r1[2*n+1], r2[2*n+1]
		maxPoolArg3x3S2AVX2(&idx[0], &r0[0], &r1[0], &r2[0], &y[0], n)
	}
	return n
}
