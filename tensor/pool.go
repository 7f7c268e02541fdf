package tensor

import (
	"fmt"

	"github.com/onnxtune/onnxtune/internal/parallel"
)

// PoolGeom is the geometry of an N-d pooling window slid over Planes independent planes (batch
// times channels) of shape InShape, giving planes of shape OutShape. Pads and PadsEnd hold the
// padding before and after each spatial dimension: padded cells never win a max and, for an
// average, count in the divisor only with count_include_pad (and then only up to PadsEnd, not
// the cells a ceil-mode window reaches past it).
type PoolGeom struct {
	Planes    int
	InShape   []int
	Kernel    []int
	OutShape  []int
	Strides   []int
	Dilations []int
	Pads      []int
	PadsEnd   []int
}

// Check reports whether every per-dimension slice has one entry per spatial dimension and the
// sizes are positive.
func (g *PoolGeom) Check() error {
	nd := len(g.InShape)
	if nd == 0 {
		return fmt.Errorf("tensor: pooling needs at least one spatial dimension")
	}
	for _, s := range [][]int{g.Kernel, g.OutShape, g.Strides, g.Dilations, g.Pads, g.PadsEnd} {
		if len(s) != nd {
			return fmt.Errorf("tensor: pooling over %d spatial dimensions with kernel %v, output %v, strides %v, dilations %v, pads %v+%v",
				nd, g.Kernel, g.OutShape, g.Strides, g.Dilations, g.Pads, g.PadsEnd)
		}
	}
	for i := range nd {
		if g.Kernel[i] <= 0 || g.Strides[i] <= 0 || g.Dilations[i] <= 0 || g.InShape[i] < 0 || g.OutShape[i] < 0 {
			return fmt.Errorf("tensor: pooling with input %v, kernel %v, output %v, strides %v, dilations %v: sizes must be positive",
				g.InShape, g.Kernel, g.OutShape, g.Strides, g.Dilations)
		}
	}
	return nil
}

// PoolElem is the element types pooling runs on directly (float16 goes through float32).
type PoolElem interface {
	float32 | float64 | int8 | uint8 | int16 | uint16 | int32 | int64 | uint32 | uint64
}

// poolWin is one spatial dimension of a pool, flattened into the offsets each output position
// reads: for output position o, taps[o*k : o*k+n[o]] are the valid input positions, and
// [lo, hi) are the output positions whose every tap is inside the input.
type poolWin struct {
	k      int
	taps   []int
	n      []int
	lo, hi int
	// incl is, per output position, how many taps fall inside the padded input (for
	// count_include_pad).
	incl []int
}

func newPoolWin(in, out, k, stride, dil, padBegin, padEnd int) poolWin {
	w := poolWin{k: k, taps: make([]int, out*k), n: make([]int, out), incl: make([]int, out)}
	w.lo, w.hi = 0, out
	for t := range k {
		lo, hi := convRowRange(t*dil-padBegin, stride, in, out)
		w.lo, w.hi = max(w.lo, lo), min(w.hi, hi)
	}
	if w.lo > w.hi {
		w.lo = w.hi
	}
	for o := range out {
		for t := range k {
			p := o*stride - padBegin + t*dil
			if p >= 0 && p < in {
				w.taps[o*k+w.n[o]] = p
				w.n[o]++
			}
			if p >= -padBegin && p < in+padEnd {
				w.incl[o]++
			}
		}
	}
	return w
}

// poolWins builds the per-dimension windows of g, treating a 1-D pool as 2-D with height 1.
// counts returns, per output position, the number of cells an average divides by: the taps
// inside the input, or with countIncludePad those inside the padded input.
func (w *poolWin) counts(countIncludePad bool) []int {
	if countIncludePad {
		return w.incl
	}
	return w.n
}

func poolWins(g *PoolGeom) []poolWin {
	nd := len(g.InShape)
	ws := make([]poolWin, 0, max(nd, 2))
	if nd == 1 {
		ws = append(ws, newPoolWin(1, 1, 1, 1, 1, 0, 0))
	}
	for d := range nd {
		ws = append(ws, newPoolWin(g.InShape[d], g.OutShape[d], g.Kernel[d], g.Strides[d], g.Dilations[d], g.Pads[d], g.PadsEnd[d]))
	}
	return ws
}

// poolWorkers returns how many goroutines a pool over planes of the given work is worth.
func poolWorkers(planes, workPerPlane int) int {
	if planes*workPerPlane < 1<<16 {
		return 1
	}
	return parallel.Procs()
}

// poolBetter reports whether v replaces the running maximum m (at < 0: none yet). A NaN wins
// over any number, as in PyTorch, so that both of MaxPool's paths propagate it.
func poolBetter[T PoolElem](v, m T, at int) bool {
	return at < 0 || v > m || v != v && m == m
}

// MaxPool writes the maximum of each window of src into dst; a NaN in a window propagates. If indices is not nil it also
// receives, for each output, the flat index of the winning cell in the whole input tensor
// (plane offset included), row-major, or column-major over the spatial dimensions when
// colMajor is set (ONNX's storage_order 1). The first maximum in window order wins ties.
// It panics if the slices are too short for g.
func MaxPool[T PoolElem](dst []T, indices []int64, src []T, g *PoolGeom, colMajor bool) {
	if err := g.Check(); err != nil {
		panic(err.Error())
	}
	inSize, outSize := Size(g.InShape), Size(g.OutShape)
	if len(src) < g.Planes*inSize || len(dst) < g.Planes*outSize || indices != nil && len(indices) < g.Planes*outSize {
		panic(fmt.Sprintf("tensor.MaxPool: slices too short for %d planes of %v -> %v", g.Planes, g.InShape, g.OutShape))
	}
	if len(g.InShape) > 2 {
		maxPoolND(dst, indices, src, g, colMajor)
		return
	}
	if d32, ok := any(dst).([]float32); ok && indices == nil {
		maxPoolSeparable(d32, any(src).([]float32), g)
		return
	}
	ws := poolWins(g)
	hw, ww := &ws[0], &ws[1]
	ih, iw := 1, g.InShape[0]
	if len(g.InShape) == 2 {
		ih, iw = g.InShape[0], g.InShape[1]
	}
	oh, ow := hw.n, ww.n
	lowest := lowestOf[T]()
	kw, sw, dw, pw := ww.k, 1, 1, 0
	if len(g.InShape) == 2 {
		sw, dw, pw = g.Strides[1], g.Dilations[1], g.Pads[1]
	} else {
		sw, dw, pw = g.Strides[0], g.Dilations[0], g.Pads[0]
	}
	if indices == nil {
		parallel.For(g.Planes, poolWorkers(g.Planes, outSize*hw.k*kw), func(p int) {
			in := src[p*inSize:][:inSize]
			out := dst[p*outSize:][:outSize]
			for r := range len(oh) {
				orow := out[r*len(ow):][:len(ow)]
				for c := range orow {
					orow[c] = lowest
				}
				poolRowTaps(orow, in, hw.taps[r*hw.k:r*hw.k+hw.n[r]], iw, kw, sw, dw, pw, func(acc, src []T, stride int) {
					if stride == 1 {
						src = src[:len(acc)]
						for c, v := range src {
							acc[c] = max(acc[c], v)
						}
						return
					}
					for c := range acc {
						acc[c] = max(acc[c], src[c*stride])
					}
				})
			}
		})
		return
	}
	parallel.For(g.Planes, poolWorkers(g.Planes, outSize*hw.k*kw), func(p int) {
		in := src[p*inSize:][:inSize]
		out := dst[p*outSize:][:outSize]
		for r := range len(oh) {
			rows := hw.taps[r*hw.k : r*hw.k+hw.n[r]]
			orow := out[r*len(ow):][:len(ow)]
			for c := range orow {
				m, at := lowest, -1
				if c >= ww.lo && c < ww.hi {
					// Every tap of this window is inside the row: no per-tap checks.
					base := c*sw - pw
					for _, y := range rows {
						row := in[y*iw:][:iw]
						for t := range kw {
							x := base + t*dw
							if v := row[x]; poolBetter(v, m, at) {
								m, at = v, y*iw+x
							}
						}
					}
				} else {
					cols := ww.taps[c*kw : c*kw+ww.n[c]]
					for _, y := range rows {
						row := in[y*iw:][:iw]
						for _, x := range cols {
							if v := row[x]; poolBetter(v, m, at) {
								m, at = v, y*iw+x
							}
						}
					}
				}
				orow[c] = m
				if indices != nil {
					idx := int64(-1)
					if at >= 0 {
						y, x := at/iw, at%iw
						if colMajor {
							idx = int64(p*inSize + x*ih + y)
						} else {
							idx = int64(p*inSize + at)
						}
					}
					indices[p*outSize+r*len(ow)+c] = idx
				}
			}
		}
	})
}

// poolOdometer advances idx over shape, last dimension fastest; it reports false after the
// last index.
func poolOdometer(idx, shape []int) bool {
	for d := len(idx) - 1; d >= 0; d-- {
		idx[d]++
		if idx[d] < shape[d] {
			return true
		}
		idx[d] = 0
	}
	return false
}

// poolWindowND calls visit with the flat row-major offset (within one plane) and coordinates
// of every valid tap of the window at output position o.
// t and at are scratch of one entry per dimension.
func poolWindowND(g *PoolGeom, ws []poolWin, o, t, at []int, visit func(off int, at []int)) {
	nd := len(g.InShape)
	clear(t)
	for d := range nd {
		if ws[d].n[o[d]] == 0 {
			return
		}
	}
	for {
		off := 0
		for d := range nd {
			at[d] = ws[d].taps[o[d]*ws[d].k+t[d]]
			off = off*g.InShape[d] + at[d]
		}
		visit(off, at)
		// Advance over the valid taps only.
		d := nd - 1
		for ; d >= 0; d-- {
			t[d]++
			if t[d] < ws[d].n[o[d]] {
				break
			}
			t[d] = 0
		}
		if d < 0 {
			return
		}
	}
}

func poolWinsND(g *PoolGeom) []poolWin {
	ws := make([]poolWin, len(g.InShape))
	for d := range ws {
		ws[d] = newPoolWin(g.InShape[d], g.OutShape[d], g.Kernel[d], g.Strides[d], g.Dilations[d], g.Pads[d], g.PadsEnd[d])
	}
	return ws
}

// maxPoolND is the general path for three and more spatial dimensions.
func maxPoolND[T PoolElem](dst []T, indices []int64, src []T, g *PoolGeom, colMajor bool) {
	inSize, outSize := Size(g.InShape), Size(g.OutShape)
	ws := poolWinsND(g)
	lowest := lowestOf[T]()
	parallel.For(g.Planes, poolWorkers(g.Planes, outSize*Size(g.Kernel)), func(p int) {
		in := src[p*inSize:][:inSize]
		o := make([]int, len(g.InShape))
		best := make([]int, len(g.InShape))
		t, scratch := make([]int, len(o)), make([]int, len(o))
		for i := range outSize {
			m, at := lowest, -1
			poolWindowND(g, ws, o, t, scratch, func(off int, c []int) {
				if v := in[off]; poolBetter(v, m, at) {
					m, at = v, off
					copy(best, c)
				}
			})
			dst[p*outSize+i] = m
			if indices != nil {
				idx := int64(-1)
				if at >= 0 {
					if colMajor {
						at = 0
						for d := len(best) - 1; d >= 0; d-- {
							at = at*g.InShape[d] + best[d]
						}
					}
					idx = int64(p*inSize + at)
				}
				indices[p*outSize+i] = idx
			}
			poolOdometer(o, g.OutShape)
		}
	})
}

// AveragePool writes the mean of each window of src into dst. Without countIncludePad the
// divisor is the number of window cells inside the input; with it, the number inside the
// padded input (input plus Pads and PadsEnd), which is what ONNX and PyTorch divide by. It
// panics if the slices are too short for g.
func AveragePool[T float32 | float64](dst, src []T, g *PoolGeom, countIncludePad bool) {
	if err := g.Check(); err != nil {
		panic(err.Error())
	}
	inSize, outSize := Size(g.InShape), Size(g.OutShape)
	if len(src) < g.Planes*inSize || len(dst) < g.Planes*outSize {
		panic(fmt.Sprintf("tensor.AveragePool: slices too short for %d planes of %v -> %v", g.Planes, g.InShape, g.OutShape))
	}
	if len(g.InShape) > 2 {
		ws := poolWinsND(g)
		parallel.For(g.Planes, poolWorkers(g.Planes, outSize*Size(g.Kernel)), func(p int) {
			in := src[p*inSize:][:inSize]
			o := make([]int, len(g.InShape))
			t, at := make([]int, len(o)), make([]int, len(o))
			for i := range outSize {
				var s T
				n := 0
				poolWindowND(g, ws, o, t, at, func(off int, _ []int) { s += in[off]; n++ })
				if countIncludePad {
					n = 1
					for d := range o {
						n *= ws[d].incl[o[d]]
					}
				}
				dst[p*outSize+i] = poolDiv(s, n)
				poolOdometer(o, g.OutShape)
			}
		})
		return
	}
	ws := poolWins(g)
	hw, ww := &ws[0], &ws[1]
	iw := g.InShape[len(g.InShape)-1]
	last := len(g.InShape) - 1
	kw, sw, dw, pw := ww.k, g.Strides[last], g.Dilations[last], g.Pads[last]
	oh, ow := len(hw.n), len(ww.n)
	rowCounts, colCount := hw.counts(countIncludePad), ww.counts(countIncludePad)
	parallel.For(g.Planes, poolWorkers(g.Planes, outSize*hw.k*kw), func(p int) {
		in := src[p*inSize:][:inSize]
		out := dst[p*outSize:][:outSize]
		for r := range oh {
			rows := hw.taps[r*hw.k : r*hw.k+hw.n[r]]
			orow := out[r*ow:][:ow]
			clear(orow)
			poolRowTaps(orow, in, rows, iw, kw, sw, dw, pw, func(acc, src []T, stride int) {
				if stride == 1 {
					src = src[:len(acc)]
					for c, v := range src {
						acc[c] += v
					}
					return
				}
				for c := range acc {
					acc[c] += src[c*stride]
				}
			})
			rowCount := rowCounts[r]
			for c := range orow {
				orow[c] = poolDiv(orow[c], rowCount*colCount[c])
			}
		}
	})
}

// poolRowTaps feeds one output row of a 2-D pool: for each valid input row of its windows
// and each column tap, it calls op(acc, src, stride) on the output columns where that tap
// is inside the input, with src starting at the input cell the first of them reads. Going
// tap by tap over whole rows keeps each inner loop free of per-window bookkeeping and lets
// the iterations for different outputs overlap, where a window-at-a-time loop would wait on
// one long dependency chain per output.
func poolRowTaps[T PoolElem](acc, in []T, rows []int, iw, kw, sw, dw, pw int, op func(acc, src []T, stride int)) {
	ow := len(acc)
	for _, y := range rows {
		row := in[y*iw:][:iw]
		for t := range kw {
			off := t*dw - pw
			lo, hi := convRowRange(off, sw, iw, ow)
			if lo >= hi {
				continue
			}
			op(acc[lo:hi], row[lo*sw+off:], sw)
		}
	}
}

// poolDiv divides a window sum by its cell count; an empty window (only possible with odd
// explicit pads) averages to zero rather than NaN.
func poolDiv[T float32 | float64](s T, n int) T {
	if n == 0 {
		return 0
	}
	return s / T(n)
}

// poolChunks calls body.planes(p0, p1) for consecutive ranges of the planes, a few ranges
// per worker: a plane (13×13 at the end of squeezenet1_1) is too little work to be handed
// out alone, and a range shares whatever scratch body sets up.
func poolChunks(planes, workPerPlane int, body planeRanges) {
	workers := poolWorkers(planes, workPerPlane)
	if workers <= 1 {
		body.planes(0, planes)
		return
	}
	loop := poolChunkLoops.Get()
	*loop = poolChunkLoop{body: body, planes: planes, chunks: min(planes, 8*workers)}
	parallel.ForEach(loop.chunks, workers, loop)
	poolChunkLoops.Put(loop)
}

// planeRanges is a loop body over ranges of planes, for poolChunks.
type planeRanges interface{ planes(p0, p1 int) }

// planesFunc makes a closure a planeRanges.
type planesFunc func(p0, p1 int)

func (f planesFunc) planes(p0, p1 int) { f(p0, p1) }

// poolChunkLoop is poolChunks' loop over its chunks.
type poolChunkLoop struct {
	body           planeRanges
	planes, chunks int
}

var poolChunkLoops parallel.Bodies[poolChunkLoop]

func (l *poolChunkLoop) Run(c int) { l.body.planes(l.planes*c/l.chunks, l.planes*(c+1)/l.chunks) }

// GlobalAveragePool writes the mean of each of the planes of size n in src into dst.
func GlobalAveragePool[T float32 | float64](dst, src []T, planes, n int) {
	if d, ok := any(dst).([]float32); ok { // a plan's case: without an allocation
		body := meanPlaneBodies.Get()
		*body = meanPlanes[float32]{dst: d, src: any(src).([]float32), n: n}
		poolChunks(planes, n, body)
		meanPlaneBodies.Put(body)
		return
	}
	poolChunks(planes, n, &meanPlanes[T]{dst: dst, src: src, n: n})
}

// meanPlanes is GlobalAveragePool's body.
type meanPlanes[T float32 | float64] struct {
	dst, src []T
	n        int
}

var meanPlaneBodies parallel.Bodies[meanPlanes[float32]]

func (m *meanPlanes[T]) planes(p0, p1 int) {
	n := m.n
	for p := p0; p < p1; p++ {
		s := sumF64(m.src[p*n : (p+1)*n])
		if n > 0 {
			s /= float64(n)
		}
		m.dst[p] = T(s)
	}
}

// GlobalMaxPool writes the maximum of each of the planes of size n in src into dst (the
// lowest value of T for an empty plane); a NaN propagates.
func GlobalMaxPool[T PoolElem](dst, src []T, planes, n int) {
	lowest := lowestOf[T]()
	poolChunks(planes, n, planesFunc(func(p0, p1 int) {
		for p := p0; p < p1; p++ {
			m := lowest
			for _, v := range src[p*n : (p+1)*n] {
				m = max(m, v) // the builtin propagates NaN
			}
			dst[p] = m
		}
	}))
}
