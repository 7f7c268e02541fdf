package tensor

import "github.com/onnxtune/onnxtune/internal/parallel"

// The float32 MaxPool of CNN inference (no indices, 1-D or 2-D) runs separably: for each
// output row, the rows its windows cover are first reduced to one row of column maxima, then
// each output takes the maximum over its column taps of that row. Both passes are vector max
// over contiguous runs: a horizontal stride s is handled by splitting the reduced row into s
// phases (cells x ≡ q mod s side by side), after which a tap reads one contiguous run of one
// phase. A k×k window then costs about 2k vector max per output row instead of k² scalar ones.

// maxPoolSeparable is MaxPool for float32 without indices, for g of rank 1 or 2.
func maxPoolSeparable(dst, src []float32, g *PoolGeom) {
	if maxPool3x3S2(dst, src, g) {
		return
	}
	ws := poolWins(g)
	hw, ww := &ws[0], &ws[1]
	d := len(g.InShape) - 1
	ih, iw := 1, g.InShape[d]
	if d == 1 {
		ih = g.InShape[0]
	}
	oh, ow := len(hw.n), len(ww.n)
	kw, sw, dw, pw := g.Kernel[d], g.Strides[d], g.Dilations[d], g.Pads[d]
	inSize, outSize := ih*iw, oh*ow
	// The reduced row, padded: cell x of the input row sits at pw+x, and every window reads
	// cells [o*sw, o*sw + (kw-1)*dw] of it. The padding holds -Inf and is never written.
	width := max(pw+iw, (ow-1)*sw+(kw-1)*dw+1)
	phaseLen := (width + sw - 1) / sw
	scratch := width
	if sw > 1 {
		scratch += sw * phaseLen
	}
	lowest := lowestOf[float32]()
	poolChunks(g.Planes, outSize*hw.k*kw, planesFunc(func(p0, p1 int) {
		buf := convGetCol(scratch)
		defer convPutCol(buf)
		padded := (*buf)[:width]
		for i := range padded {
			padded[i] = lowest
		}
		cols := padded[pw : pw+iw]
		phases := (*buf)[width:]
		for p := p0; p < p1; p++ {
			in := src[p*inSize:][:inSize]
			out := dst[p*outSize:][:outSize]
			for r := range oh {
				rows := hw.taps[r*hw.k : r*hw.k+hw.n[r]]
				if len(rows) == 0 {
					for i := range cols {
						cols[i] = lowest
					}
				} else {
					copy(cols, in[rows[0]*iw:][:iw])
					for _, y := range rows[1:] {
						maxInto(cols, cols, in[y*iw:][:iw])
					}
				}
				orow := out[r*ow:][:ow]
				if sw == 1 {
					copy(orow, padded[:ow])
					for t := 1; t < kw; t++ {
						maxInto(orow, orow, padded[t*dw:][:ow])
					}
					continue
				}
				splitPhases(phases, padded, sw, phaseLen)
				for t := range kw {
					off := t * dw
					tap := phases[(off%sw)*phaseLen+off/sw:][:ow]
					if t == 0 {
						copy(orow, tap)
					} else {
						maxInto(orow, orow, tap)
					}
				}
			}
		}
	}))
}

// maxInto sets dst[i] = max(a[i], b[i]) (Go's max: a NaN propagates) over len(dst) elements.
func maxInto(dst, a, b []float32) {
	a, b = a[:len(dst)], b[:len(dst)]
	i := maxFloat32(dst, a, b)
	for ; i < len(dst); i++ {
		dst[i] = max(a[i], b[i])
	}
}

// splitPhases writes row's cells x ≡ q (mod s) to phases[q*n:], in order, for q < s; cells
// past the end of row are left as they were.
func splitPhases(phases, row []float32, s, n int) {
	if s == 2 {
		even, odd := phases[:n], phases[n:2*n]
		done := deinterleaveFloat32(even, odd, row)
		for j := done; j < n; j++ {
			if 2*j < len(row) {
				even[j] = row[2*j]
			}
			if 2*j+1 < len(row) {
				odd[j] = row[2*j+1]
			}
		}
		return
	}
	for x, v := range row {
		phases[(x%s)*n+x/s] = v
	}
}

// maxPoolRowCells is how many cells of each input row the 3×3 stride-2 row kernel reads for
// n outputs: whole vectors of 8 outputs, 17 cells past the first of the last.
func maxPoolRowCells(n int) int { return 2*((n+7)&^7) + 2 }

// maxPool3x3S2 is the 3×3 stride-2 MaxPool of CNN stems (resnet18, squeezenet1_1) with the
// vector row kernel, which takes a row's columns at stride 2 inside its registers; the
// separable passes above made six calls per output row and split every row into phases,
// and on rows of 55 outputs the calls cost more than the maxima. Each output row is one
// call over three input rows, read in place when the windows need no column padding and
// otherwise from a ring of padded copies. It reports false, doing nothing, for other
// geometries or where the kernel does not run.
func maxPool3x3S2(dst, src []float32, g *PoolGeom) bool {
	if !windows3x3S2(g) || !dwRowsSIMD() {
		return false
	}
	body := maxPool3x3S2Bodies.Get()
	*body = maxPool3x3S2Planes{dst: dst, src: src, g: g}
	poolChunks(g.Planes, g.OutShape[0]*g.OutShape[1]*9, body)
	maxPool3x3S2Bodies.Put(body)
	return true
}

// maxPool3x3S2Planes is maxPool3x3S2's loop body.
type maxPool3x3S2Planes struct {
	dst, src []float32
	g        *PoolGeom
}

var maxPool3x3S2Bodies parallel.Bodies[maxPool3x3S2Planes]

func (m *maxPool3x3S2Planes) planes(p0, p1 int) {
	src, dst, g := m.src, m.dst, m.g
	ih, iw := g.InShape[0], g.InShape[1]
	oh, ow := g.OutShape[0], g.OutShape[1]
	ph, pw := g.Pads[0], g.Pads[1]
	inSize, outSize := ih*iw, oh*ow
	cells := maxPoolRowCells(ow)
	// In place: no padding on the left, every window inside the row.
	direct := pw == 0 && 2*(ow-1)+2 < iw
	slot := max(pw+iw, cells)
	buf := convGetCol(4 * slot)
	defer convPutCol(buf)
	ring := newPoolRing3(*buf, slot, lowestOf[float32]())
	for p := p0; p < p1; p++ {
		in := src[p*inSize:][:inSize]
		out := dst[p*outSize:][:outSize]
		ring.plane()
		var rows [3][]float32
		for r := range oh {
			for i := range 3 {
				y := 2*r - ph + i
				if direct && y >= 0 && y < ih && len(src)-(p*inSize+y*iw) >= cells {
					rows[i] = src[p*inSize+y*iw:]
				} else {
					rows[i] = ring.row(in, y, ih, iw, pw)
				}
			}
			maxPoolRow3x3S2(out[r*ow:(r+1)*ow], rows[0], rows[1], rows[2])
		}
	}
}

// windows3x3S2 says whether g is a 2-D max pool of 3×3 windows at stride 2 without
// dilation (resnet's stem, squeezenet's), which maxPool3x3S2 and maxPoolGrad3x3S2 take.
func windows3x3S2(g *PoolGeom) bool {
	return len(g.InShape) == 2 && g.Kernel[0] == 3 && g.Kernel[1] == 3 && g.Strides[0] == 2 && g.Strides[1] == 2 &&
		g.Dilations[0] == 1 && g.Dilations[1] == 1
}

// poolRing3 holds padded copies of the input rows that a row of 3×3, stride-2 windows reads,
// for the pooling kernels that go down a plane one row of windows at a time: input row y
// lives in slot y%3 from cell pw on and is copied in when a row of windows first needs it,
// so each input row is copied once per plane; a row outside the input reads as padding.
type poolRing3 struct {
	slots  []float32 // three slots of slot cells
	pad    []float32 // a row of padding alone
	slot   int
	loaded [3]int // the input row in each slot, -1 for none
}

// newPoolRing3 lays a ring out on buf (4*slot cells), every cell fill until a row is copied
// over it: cells outside a copied row stay fill for good.
func newPoolRing3(buf []float32, slot int, fill float32) poolRing3 {
	buf = buf[:4*slot]
	for i := range buf {
		buf[i] = fill
	}
	return poolRing3{slots: buf[:3*slot], pad: buf[3*slot:], slot: slot}
}

// plane forgets the rows of the plane before.
func (r *poolRing3) plane() { r.loaded = [3]int{-1, -1, -1} }

// row returns input row y (of ih rows of iw cells in plane) padded: pw cells of fill, the
// row, then fill to the slot's end.
func (r *poolRing3) row(plane []float32, y, ih, iw, pw int) []float32 {
	if y < 0 || y >= ih {
		return r.pad
	}
	k := y % 3
	row := r.slots[k*r.slot : (k+1)*r.slot]
	if r.loaded[k] != y {
		r.loaded[k] = y
		copy(row[pw:pw+iw], plane[y*iw:(y+1)*iw])
	}
	return row
}
