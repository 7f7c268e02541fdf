package tensor

import (
	"fmt"
	"math"
	"math/bits"

	"github.com/onnxtune/onnxtune/internal/parallel"
)

// The pooling gradients. Every input plane belongs to one output plane, so planes run in
// parallel, each writing only its own part of dx; within a plane the windows overlap and the
// gradient is scattered back window by window.

// MaxPoolGrad overwrites dx (x's shape) with the gradient of MaxPool: each output's gradient
// dy goes to the cell of x that won its window, the first maximum in window order (row-major
// over the window) on a tie, as PyTorch's max_pool backward and MaxPool's Indices output
// choose it. y, the forward result, is optional: with it the winner is the first cell equal
// to the maximum, found by a scan that stops there; without it (or when no cell equals it, as
// for a NaN) each window is scanned for its arg-max. It panics if the slices are too short
// for g.
func MaxPoolGrad[T Float](dx, dy, x, y []T, g *PoolGeom) {
	if err := g.Check(); err != nil {
		panic(err.Error())
	}
	inSize, outSize := Size(g.InShape), Size(g.OutShape)
	if len(dx) < g.Planes*inSize || len(x) < g.Planes*inSize || len(dy) < g.Planes*outSize || y != nil && len(y) < g.Planes*outSize {
		panic(fmt.Sprintf("tensor.MaxPoolGrad: slices too short for %d planes of %v -> %v", g.Planes, g.InShape, g.OutShape))
	}
	if len(g.InShape) > 2 {
		maxPoolGradND(dx, dy, x, g)
		return
	}
	if y == nil {
		// The maxima first, by the forward pass's fast path; then the winners as below.
		y = make([]T, g.Planes*outSize)
		MaxPool(y, nil, x, g, false)
	}
	if tilesBy2x2(g) {
		maxPoolGrad2x2(dx, dy, x, y, g)
		return
	}
	if d32, ok := any(dx).([]float32); ok && windows3x3S2(g) {
		maxPoolGrad3x3S2(d32, any(dy).([]float32), any(x).([]float32), any(y).([]float32), g)
		return
	}
	ws := poolWins(g)
	hw, ww := &ws[0], &ws[1]
	last := len(g.InShape) - 1
	iw := g.InShape[last]
	kw, sw, dw, pw := ww.k, g.Strides[last], g.Dilations[last], g.Pads[last]
	oh, ow := len(hw.n), len(ww.n)
	parallel.For(g.Planes, poolWorkers(g.Planes, outSize*hw.k*kw), func(p int) {
		in := x[p*inSize:][:inSize]
		d := dx[p*inSize:][:inSize]
		clear(d)
		grad := dy[p*outSize:][:outSize]
		at := make([]int, ow) // per output column of the row: the winner's offset, or -1
		for r := range oh {
			rows := hw.taps[r*hw.k : r*hw.k+hw.n[r]]
			ymax := y[p*outSize+r*ow:][:ow]
			for c := range at {
				at[c] = -1
			}
			// The taps in reverse window order, each over the whole output row as the
			// forward pass goes: every cell equal to its column's maximum overwrites the
			// winner, so the last one written is the first in window order, and the loop
			// has no branch to mispredict.
			for i := len(rows) - 1; i >= 0; i-- {
				yy := rows[i]
				row := in[yy*iw:][:iw]
				for t := kw - 1; t >= 0; t-- {
					off := t*dw - pw
					lo, hi := convRowRange(off, sw, iw, ow)
					if lo < hi {
						poolMatchRow(at[lo:hi], row[lo*sw+off:], ymax[lo:hi], sw, yy*iw+off+lo*sw)
					}
				}
			}
			grow := grad[r*ow:][:ow]
			for c, a := range at {
				if a < 0 {
					// No cell equals the maximum: a NaN won. Find it as the forward did.
					cols := ww.taps[c*ww.k : c*ww.k+ww.n[c]]
					var m T
					for _, yy := range rows {
						row := in[yy*iw:][:iw]
						for _, xx := range cols {
							if v := row[xx]; poolBetter(v, m, a) {
								m, a = v, yy*iw+xx
							}
						}
					}
				}
				if a >= 0 {
					d[a] += grow[c]
				}
			}
		}
	})
}

// tilesBy2x2 says whether g is a 2-D max pool whose 2x2 windows tile the input from its
// corner without gaps or overlaps: kernel and strides 2, no dilation, no padding before, every
// window whole (an odd last row or column is left out, never half covered).
func tilesBy2x2(g *PoolGeom) bool {
	if len(g.InShape) != 2 {
		return false
	}
	for i := range 2 {
		if g.Kernel[i] != 2 || g.Strides[i] != 2 || g.Dilations[i] != 1 || g.Pads[i] != 0 || 2*g.OutShape[i] > g.InShape[i] {
			return false
		}
	}
	return true
}

// maxPoolGrad2x2 is MaxPoolGrad for windows that tile the input by 2x2 (tilesBy2x2). Each
// input cell belongs to one window at most, so each window writes its four cells: the
// output's gradient to the first cell in window order equal to the window's maximum, zero
// to the others. The first match is the lowest set bit of the four comparisons, so the
// loop has no branch on where the maximum lies. A window with no cell equal to its maximum
// (a NaN won) takes the arg-max scan of the forward pass.
func maxPoolGrad2x2[T Float](dx, dy, x, y []T, g *PoolGeom) {
	ih, iw := g.InShape[0], g.InShape[1]
	oh, ow := g.OutShape[0], g.OutShape[1]
	inSize, outSize := ih*iw, oh*ow
	parallel.For(g.Planes, poolWorkers(g.Planes, outSize*4), func(p int) {
		in := x[p*inSize:][:inSize]
		d := dx[p*inSize:][:inSize]
		if 2*oh < ih || 2*ow < iw {
			clear(d) // the cells no window covers
		}
		ymax := y[p*outSize:][:outSize]
		grad := dy[p*outSize:][:outSize]
		offsets := [4]int{0, 1, iw, iw + 1} // the window's cells in window order
		for r := range oh {
			base := 2 * r * iw
			x0, x1 := in[base:][:2*ow], in[base+iw:][:2*ow]
			d0, d1 := d[base:][:2*ow], d[base+iw:][:2*ow]
			ys, gs := ymax[r*ow:][:ow], grad[r*ow:][:ow]
			for c := range ow {
				m := ys[c]
				hits := b2u(x0[2*c] == m) | b2u(x0[2*c+1] == m)<<1 | b2u(x1[2*c] == m)<<2 | b2u(x1[2*c+1] == m)<<3
				first := bits.TrailingZeros8(hits)
				d0[2*c], d0[2*c+1], d1[2*c], d1[2*c+1] = 0, 0, 0, 0
				if hits == 0 {
					first = maxPoolArgMax2x2(x0[2*c:], x1[2*c:])
				}
				d[base+2*c+offsets[first]] = gs[c]
			}
		}
	})
}

// maxPoolGrad3x3S2 is MaxPoolGrad for 3×3 windows at stride 2 (windows3x3S2), at any
// padding. For each row of windows it copies the three input rows they cover, padded with
// NaN, which equals no maximum; each window's winner is then the first of its nine cells in
// window order equal to its maximum (maxPoolArgRow3x3S2 finds eight at a time, comparing
// in vector registers), and its gradient is added there (windows overlap). A window with no
// cell equal to its maximum (a NaN won) takes the forward pass's arg-max scan.
func maxPoolGrad3x3S2(dx, dy, x, y []float32, g *PoolGeom) {
	ih, iw := g.InShape[0], g.InShape[1]
	oh, ow := g.OutShape[0], g.OutShape[1]
	ph, pw := g.Pads[0], g.Pads[1]
	inSize, outSize := ih*iw, oh*ow
	slot := max(pw+iw, maxPoolRowCells(ow)) // the row and what the vector kernel reads
	// A window's position k = 3i+j lies i rows and j cells past its first.
	var offset [9]int
	for k := range offset {
		offset[k] = k/3*iw + k%3
	}
	poolChunks(g.Planes, outSize*9, planesFunc(func(p0, p1 int) {
		buf := convGetCol(4 * slot)
		defer convPutCol(buf)
		ring := newPoolRing3(*buf, slot, float32(math.NaN()))
		idx := make([]int32, ow) // each window's winner, 0-8, or 9 for none
		for p := p0; p < p1; p++ {
			in := x[p*inSize:][:inSize]
			d := dx[p*inSize:][:inSize]
			clear(d)
			ring.plane()
			var rows [3][]float32
			for r := range oh {
				top := 2*r - ph
				for i := range rows {
					rows[i] = ring.row(in, top+i, ih, iw, pw)
				}
				ys, gs := y[p*outSize+r*ow:][:ow], dy[p*outSize+r*ow:][:ow]
				for c := maxPoolArgRow3x3S2(idx, rows[0], rows[1], rows[2], ys); c < ow; c++ {
					k, m := int32(9), ys[c]
					for j := 8; j >= 0; j-- {
						if rows[j/3][2*c+j%3] == m {
							k = int32(j)
						}
					}
					idx[c] = k
				}
				first := top*iw - pw // where a window at column 0 would start
				for c, k := range idx {
					at := -1
					if k < 9 {
						at = first + 2*c + offset[k]
					} else {
						// No cell equals the maximum: a NaN won. Find it as the forward did.
						var best float32
						for j := range 9 {
							yy, xx := top+j/3, 2*c-pw+j%3
							if yy >= 0 && yy < ih && xx >= 0 && xx < iw && poolBetter(in[yy*iw+xx], best, at) {
								best, at = in[yy*iw+xx], yy*iw+xx
							}
						}
					}
					if at >= 0 {
						d[at] += gs[c]
					}
				}
			}
		}
	}))
}

// maxPoolArgMax2x2 returns the winner of a 2x2 window (rows a and b from the window's first
// column) in window order as the forward pass picks it, for a window whose maximum no cell
// equals (a NaN): the first NaN.
func maxPoolArgMax2x2[T Float](a, b []T) int {
	var m T
	at := -1
	for i, v := range [4]T{a[0], a[1], b[0], b[1]} {
		if poolBetter(v, m, at) {
			m, at = v, i
		}
	}
	return at
}

// b2u is 1 for true, 0 for false, without a branch.
func b2u(b bool) uint8 {
	var u uint8
	if b {
		u = 1
	}
	return u
}

// poolMatchRow is one tap of MaxPoolGrad over a run of output columns: where the tap's cell
// equals the column's maximum y, it becomes the column's winner at. src[c*sw] is the cell
// column c reads, at offset base + c*sw in the plane.
func poolMatchRow[T Float](at []int, src, y []T, sw, base int) {
	y = y[:len(at)]
	if sw == 1 {
		src = src[:len(at)]
		for c, v := range src {
			a := at[c]
			if v == y[c] {
				a = base + c
			}
			at[c] = a
		}
		return
	}
	for c := range at {
		a := at[c]
		if src[c*sw] == y[c] {
			a = base + c*sw
		}
		at[c] = a
	}
}

// maxPoolGradND is MaxPoolGrad's path for three and more spatial dimensions.
func maxPoolGradND[T Float](dx, dy, x []T, g *PoolGeom) {
	inSize, outSize := Size(g.InShape), Size(g.OutShape)
	ws := poolWinsND(g)
	parallel.For(g.Planes, poolWorkers(g.Planes, outSize*Size(g.Kernel)), func(p int) {
		in := x[p*inSize:][:inSize]
		d := dx[p*inSize:][:inSize]
		clear(d)
		o := make([]int, len(g.InShape))
		t, scratch := make([]int, len(o)), make([]int, len(o))
		for i := range outSize {
			var m T
			at := -1
			poolWindowND(g, ws, o, t, scratch, func(off int, _ []int) {
				if v := in[off]; poolBetter(v, m, at) {
					m, at = v, off
				}
			})
			if at >= 0 {
				d[at] += dy[p*outSize+i]
			}
			poolOdometer(o, g.OutShape)
		}
	})
}

// AveragePoolGrad overwrites dx (x's shape) with the gradient of AveragePool: each output's
// gradient, divided by the same count the forward pass divided its sum by (window cells
// inside the input, or with countIncludePad inside the padded input), is added to every cell
// of its window. It panics if the slices are too short for g.
func AveragePoolGrad[T Float](dx, dy []T, g *PoolGeom, countIncludePad bool) {
	if err := g.Check(); err != nil {
		panic(err.Error())
	}
	inSize, outSize := Size(g.InShape), Size(g.OutShape)
	if len(dx) < g.Planes*inSize || len(dy) < g.Planes*outSize {
		panic(fmt.Sprintf("tensor.AveragePoolGrad: slices too short for %d planes of %v -> %v", g.Planes, g.InShape, g.OutShape))
	}
	if len(g.InShape) > 2 {
		ws := poolWinsND(g)
		parallel.For(g.Planes, poolWorkers(g.Planes, outSize*Size(g.Kernel)), func(p int) {
			d := dx[p*inSize:][:inSize]
			clear(d)
			o := make([]int, len(g.InShape))
			t, at := make([]int, len(o)), make([]int, len(o))
			for i := range outSize {
				n := 0
				poolWindowND(g, ws, o, t, at, func(int, []int) { n++ })
				if countIncludePad {
					n = 1
					for k := range o {
						n *= ws[k].incl[o[k]]
					}
				}
				v := poolDiv(dy[p*outSize+i], n)
				poolWindowND(g, ws, o, t, at, func(off int, _ []int) { d[off] += v })
				poolOdometer(o, g.OutShape)
			}
		})
		return
	}
	ws := poolWins(g)
	hw, ww := &ws[0], &ws[1]
	last := len(g.InShape) - 1
	iw := g.InShape[last]
	kw, sw, dw, pw := ww.k, g.Strides[last], g.Dilations[last], g.Pads[last]
	oh, ow := len(hw.n), len(ww.n)
	rowCounts, colCount := hw.counts(countIncludePad), ww.counts(countIncludePad)
	parallel.For(g.Planes, poolWorkers(g.Planes, outSize*hw.k*kw), func(p int) {
		d := dx[p*inSize:][:inSize]
		clear(d)
		share := make([]T, ow) // one output row's gradient, divided by its counts
		for r := range oh {
			rows := hw.taps[r*hw.k : r*hw.k+hw.n[r]]
			rowCount := rowCounts[r]
			for c, v := range dy[p*outSize+r*ow:][:ow] {
				share[c] = poolDiv(v, rowCount*colCount[c])
			}
			for _, y := range rows {
				row := d[y*iw:][:iw]
				for t := range kw {
					off := t*dw - pw
					lo, hi := convRowRange(off, sw, iw, ow)
					if lo >= hi {
						continue
					}
					src := share[lo:hi]
					if sw == 1 {
						dst := row[lo+off : hi+off]
						src = src[:len(dst)]
						for c, v := range src {
							dst[c] += v
						}
						continue
					}
					for c, v := range src {
						row[(lo+c)*sw+off] += v
					}
				}
			}
		}
	})
}

// GlobalAveragePoolGrad sets each of the planes of size n in dx to its gradient dy[p]/n.
func GlobalAveragePoolGrad[T Float](dx, dy []T, planes, n int) {
	if len(dx) < planes*n || len(dy) < planes {
		panic(fmt.Sprintf("tensor.GlobalAveragePoolGrad: slices too short for %d planes of %d", planes, n))
	}
	parallel.For(planes, poolWorkers(planes, n), func(p int) {
		v := poolDiv(dy[p], n)
		d := dx[p*n : (p+1)*n]
		for i := range d {
			d[i] = v
		}
	})
}

// GlobalMaxPoolGrad overwrites dx with the gradient of GlobalMaxPool over the planes of size
// n of x: dy[p] goes to the first maximum of plane p (the first NaN, if it has one, as the
// forward pass propagates it), zero elsewhere.
func GlobalMaxPoolGrad[T Float](dx, dy, x []T, planes, n int) {
	if len(dx) < planes*n || len(x) < planes*n || len(dy) < planes {
		panic(fmt.Sprintf("tensor.GlobalMaxPoolGrad: slices too short for %d planes of %d", planes, n))
	}
	parallel.For(planes, poolWorkers(planes, n), func(p int) {
		d := dx[p*n : (p+1)*n]
		clear(d)
		var m T
		at := -1
		for i, v := range x[p*n : (p+1)*n] {
			if poolBetter(v, m, at) {
				m, at = v, i
			}
		}
		if at >= 0 {
			d[at] = dy[p]
		}
	})
}
