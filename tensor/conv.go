package tensor

import (
	"fmt"
	"math/bits"
	"sync"

	"github.com/onnxtune/onnxtune/internal/freelist"
	"github.com/onnxtune/onnxtune/internal/parallel"
)

// ConvGeom is the geometry of an N-d convolution (1-D, 2-D, 3-D, ...) over NCHW-style
// tensors: x is [Batch, InC, InShape...], the weights are [OutC, InC/Group, Kernel...] and
// y is [Batch, OutC, OutShape...]. Pads holds the padding before each spatial dimension; the
// padding after it is implied by OutShape (cells past the input read as zero).
//
// The same geometry describes a transposed convolution read backwards: ConvTranspose's
// output is the x of the convolution whose y is ConvTranspose's input, with the same weights.
type ConvGeom struct {
	Batch, InC, OutC, Group int
	InShape                 []int
	Kernel                  []int
	OutShape                []int
	Strides                 []int
	Dilations               []int
	Pads                    []int
	// Clamp, when not nil, is [lo, hi]: Conv limits each output to it (a Relu or Clip fused
	// into the convolution), on each block of output while the block is still in cache.
	Clamp []float32
	// YImageStride, when not 0, is the distance in y from one image's output to the next,
	// at least OutC*OutSize: Conv then writes one channel range of a wider tensor (its part
	// of a Concat along the channels) and leaves the rest of y alone.
	YImageStride int
	// Residual, when not nil, is laid out as y ([Batch, OutC, OutShape...], YImageStride 0)
	// and added to the output after the bias and before Clamp: a residual Add fused into the
	// convolution, applied to each block of output while it is in cache.
	Residual []float32
	// Precise keeps Conv to the algorithms whose rounding stays near a direct sum's, for an
	// output that a backward pass differentiates: F(2×2, 3×3) rather than F(4×4, 3×3) (see
	// winogradAlgo).
	Precise bool
	// Filters, when not nil, are w prepared once by PackConvFilters: a 1×1 convolution of
	// stride 1 on the GEMM path reads them packed instead of packing w on every call, unless
	// it batches its images into one product (convPacked), Winograd by chunks of tiles reads
	// the transforms they keep, and the direct convolution the layout they keep. w must
	// still hold the same filters.
	Filters *PackedFilters
}

// yImageStride returns the distance in y from one image's output to the next.
func (g *ConvGeom) yImageStride() int {
	if g.YImageStride != 0 {
		return g.YImageStride
	}
	return g.OutC * g.OutSize()
}

// epilogue applies what follows the convolution itself (Residual, then Clamp) to a stretch
// of its output that starts at y[off]. It runs on the convolution's own worker, serially:
// the stretches are small and already spread over the cores, and Clip's own fork-join
// would cost more than the clamp.
func (g *ConvGeom) epilogue(y []float32, off int) {
	if g.Residual != nil {
		g.addBiasEpilogue(y, y, 0, off)
		return
	}
	if g.Clamp != nil {
		clampSerial(y, g.Clamp[0], g.Clamp[1])
	}
}

// addBiasEpilogue sets dst = src + b followed by the epilogue, for a stretch of output that
// starts at y[off], in one pass.
func (g *ConvGeom) addBiasEpilogue(dst, src []float32, b float32, off int) {
	src = src[:len(dst)]
	lo, hi := float32(0), float32(0)
	if g.Clamp != nil {
		lo, hi = g.Clamp[0], g.Clamp[1]
	}
	if g.Residual == nil {
		addScalarClamp(dst, src, b, lo, hi, g.Clamp != nil)
		return
	}
	res := g.Residual[off : off+len(dst)]
	done := addResidualClampFloat32(dst, src, res, b, lo, hi, g.Clamp != nil)
	for i := done; i < len(dst); i++ {
		dst[i] = src[i] + b + res[i]
	}
	if g.Clamp != nil {
		clampSerial(dst[done:], lo, hi)
	}
}

// addScalarClamp sets dst = src + b, then, when clamp is set, limits it to [lo, hi], in one
// vectorised pass where the CPU has one.
func addScalarClamp(dst, src []float32, b, lo, hi float32, clamp bool) {
	src = src[:len(dst)]
	done := addScalarClampFloat32(dst, src, b, lo, hi, clamp)
	for i := done; i < len(dst); i++ {
		dst[i] = src[i] + b
	}
	if clamp {
		clampSerial(dst[done:], lo, hi)
	}
}

// fillFloat32 sets every element of dst to v, by doubling copies (vectorised memmove)
// rather than one store at a time.
func fillFloat32(dst []float32, v float32) {
	if len(dst) == 0 {
		return
	}
	dst[0] = v
	for k := 1; k < len(dst); k *= 2 {
		copy(dst[k:], dst[:k])
	}
}

// InSize returns the number of spatial cells of one input plane.
func (g *ConvGeom) InSize() int { return Size(g.InShape) }

// OutSize returns the number of spatial cells of one output plane.
func (g *ConvGeom) OutSize() int { return Size(g.OutShape) }

// KernelSize returns the number of taps of one kernel plane.
func (g *ConvGeom) KernelSize() int { return Size(g.Kernel) }

// Check reports whether the geometry is self-consistent: every per-dimension slice has one
// entry per spatial dimension, sizes are positive and the channels divide into the groups.
func (g *ConvGeom) Check() error {
	nd := len(g.InShape)
	if nd == 0 {
		return fmt.Errorf("tensor: convolution needs at least one spatial dimension")
	}
	for _, f := range []struct {
		name string
		s    []int
	}{{"kernel", g.Kernel}, {"output shape", g.OutShape}, {"strides", g.Strides}, {"dilations", g.Dilations}, {"pads", g.Pads}} {
		if len(f.s) != nd {
			return fmt.Errorf("tensor: convolution %s %v has %d entries, want %d (one per spatial dimension)", f.name, f.s, len(f.s), nd)
		}
	}
	for i := range nd {
		if g.Kernel[i] <= 0 || g.Strides[i] <= 0 || g.Dilations[i] <= 0 || g.InShape[i] < 0 || g.OutShape[i] < 0 {
			return fmt.Errorf("tensor: convolution with input %v, kernel %v, output %v, strides %v, dilations %v: sizes must be positive",
				g.InShape, g.Kernel, g.OutShape, g.Strides, g.Dilations)
		}
	}
	if g.Group <= 0 || g.InC%g.Group != 0 || g.OutC%g.Group != 0 {
		return fmt.Errorf("tensor: convolution with %d input and %d output channels cannot form %d groups", g.InC, g.OutC, g.Group)
	}
	return nil
}

// ConvOutSize returns the output length of one spatial dimension for input length in, padding
// padBegin+padEnd, a kernel of k taps spaced dilation apart and the given stride; ceil rounds
// the last partial window up as pooling's ceil_mode does, dropping a last window that would
// start inside the end padding (PyTorch's rule). It returns a value below 1 when no window fits.
func ConvOutSize(in, k, stride, dilation, padBegin, padEnd int, ceil bool) int {
	span := in + padBegin + padEnd - (k-1)*dilation - 1
	if span < 0 {
		return 0
	}
	if !ceil {
		return span/stride + 1
	}
	out := (span+stride-1)/stride + 1
	if (out-1)*stride >= in+padBegin {
		out--
	}
	return out
}

// convRowRange returns the range [lo, hi) of output positions o along one dimension for
// which the input position o*stride + off lies in [0, in).
func convRowRange(off, stride, in, out int) (lo, hi int) {
	// o*stride + off >= 0  <=>  o >= ceil(-off/stride)
	if off < 0 {
		lo = (-off + stride - 1) / stride
	}
	// o*stride + off < in  <=>  o <= (in-1-off)/stride
	if in-1-off < 0 {
		return min(lo, out), min(lo, out)
	}
	hi = min(out, (in-1-off)/stride+1)
	lo = min(lo, hi)
	return lo, hi
}

// Im2Col unrolls the windows of c input channels of one image, src = [c, InShape...], into
// col = [c*KernelSize, rows*OutShape[last]]: row (ch*KernelSize + tap) holds, for every output
// position of output rows [row0, row0+rows), the input cell that tap reads there, or zero in
// the padding. An "output row" is one index over all spatial dimensions but the last, so
// rows = Size(OutShape[:n-1]) covers the whole output. With the weights as a matrix
// [OutC/Group, c*KernelSize], a convolution is then one GEMM: y = W·col.
func Im2Col(col, src []float32, c int, g *ConvGeom, row0, rows int) {
	colWalk(col, src, c, g, row0, rows, rows*g.OutShape[len(g.OutShape)-1], false)
}

// Col2Im is the adjoint of Im2Col: it adds every entry of col back onto the input cell it was
// read from, so dst = [c, InShape...] accumulates (the caller zeroes it first when needed).
// With col = Wᵀ·dy this is the gradient of a convolution with respect to its input, and
// therefore also a transposed convolution.
func Col2Im(dst, col []float32, c int, g *ConvGeom, row0, rows int) {
	colWalk(col, dst, c, g, row0, rows, rows*g.OutShape[len(g.OutShape)-1], true)
}

// colWalk is Im2Col (Col2Im when back) into a column matrix whose rows are ld apart, ld at
// least the block's columns: several images' columns can then sit side by side in one
// matrix. 1-D and 2-D convolutions take conv2DWalk's fast paths.
func colWalk(col, img []float32, c int, g *ConvGeom, row0, rows, ld int, back bool) {
	if len(g.InShape) <= 2 {
		conv2DWalk(col, img, c, g, row0, rows, ld, back)
		return
	}
	convWalk(col, img, c, g, row0, rows, ld, back)
}

// conv2DDims returns the geometry of a 1-D or 2-D convolution as 2-D, a 1-D one having
// height 1: input ih×iw, output oh×ow, kernel kh×kw, strides, dilations and begin pads.
func conv2DDims(g *ConvGeom) (ih, iw, oh, ow, kh, kw, sh, sw, dh, dw, ph, pw int) {
	if len(g.InShape) == 1 {
		return 1, g.InShape[0], 1, g.OutShape[0], 1, g.Kernel[0], 1, g.Strides[0], 1, g.Dilations[0], 0, g.Pads[0]
	}
	return g.InShape[0], g.InShape[1], g.OutShape[0], g.OutShape[1], g.Kernel[0], g.Kernel[1],
		g.Strides[0], g.Strides[1], g.Dilations[0], g.Dilations[1], g.Pads[0], g.Pads[1]
}

// conv2DWalk is convWalk for 1-D and 2-D geometries. Its trick is for im2col at stride 1
// when a stride of input rows equals an output row (sh*iw == ow, as in every "same"
// convolution): then a tap's whole block of output rows reads one contiguous run of the
// input, shifted by a constant, so it is one copy followed by zeroing the few cells per row
// that the shift wrapped in from the neighbouring row.
//
// ld is the distance between col's rows, at least rows*ow: more when several images'
// columns share one matrix.
func conv2DWalk(col, img []float32, c int, g *ConvGeom, row0, rows, ld int, back bool) {
	ih, iw, _, ow, kh, kw, sh, sw, dh, dw, ph, pw := conv2DDims(g)
	if sw > 1 && !back {
		conv2DIm2ColStrided(col, img, c, g, row0, rows, ld)
		return
	}
	inSize := ih * iw
	cols := rows * ow
	r1 := row0 + rows
	dense := sw == 1 && sh*iw == ow
	for ch := range c {
		plane := img[ch*inSize : (ch+1)*inSize]
		for i := range kh {
			hoff := i*dh - ph
			hlo, hhi := convRowRange(hoff, sh, ih, r1)
			hlo, hhi = max(hlo, row0), max(hhi, row0)
			for j := range kw {
				dst := col[((ch*kh+i)*kw+j)*ld:][:cols]
				woff := j*dw - pw
				lo, hi := convRowRange(woff, sw, iw, ow)
				// Output rows whose input row is in the padding.
				if !back {
					clear(dst[:(hlo-row0)*ow])
					clear(dst[(hhi-row0)*ow:])
				}
				if hlo >= hhi || lo >= hi {
					if !back {
						clear(dst)
					}
					continue
				}
				if dense && !back {
					// Flat cells [a, b) of the block map to plane[a+shift : b+shift].
					shift := hoff*iw + woff
					a, b := hlo*ow+lo, (hhi-1)*ow+hi
					d := dst[a-row0*ow : b-row0*ow]
					src := plane[a+shift : b+shift]
					copy(d, src)
					if lo > 0 || hi < ow {
						for r := hlo; r < hhi; r++ {
							row := dst[(r-row0)*ow:][:ow]
							clear(row[:lo])
							clear(row[hi:])
						}
					}
					continue
				}
				for r := hlo; r < hhi; r++ {
					seg := dst[(r-row0)*ow:][:ow]
					src := plane[(r*sh+hoff)*iw:][:iw]
					if back {
						if sw == 1 {
							in := src[lo+woff : hi+woff]
							for x, v := range seg[lo:hi] {
								in[x] += v
							}
						} else {
							for x := lo; x < hi; x++ {
								src[x*sw+woff] += seg[x]
							}
						}
						continue
					}
					clear(seg[:lo]) // im2col at stride 1: strided input went to conv2DIm2ColStrided
					copy(seg[lo:hi], src[lo+woff:hi+woff])
					clear(seg[hi:])
				}
			}
		}
	}
}

// conv2DIm2ColStrided is im2col for a horizontal stride sw > 1. Gathering every sw-th cell
// for each of the kh*kw taps costs an indexed load per cell; instead, the input rows the
// block reads are first split into sw phases (cells x ≡ p mod sw side by side), after which
// every tap's run of output columns is one contiguous copy out of one phase.
func conv2DIm2ColStrided(col, img []float32, c int, g *ConvGeom, row0, rows, ld int) {
	ih, iw, _, ow, kh, kw, sh, sw, dh, dw, ph, pw := conv2DDims(g)
	inSize := ih * iw
	cols := rows * ow
	r1 := row0 + rows
	// Input rows [y0, y1) are the only ones the block reads.
	y0 := max(0, row0*sh-ph)
	y1 := min(ih, (r1-1)*sh-ph+(kh-1)*dh+1)
	ny := max(0, y1-y0)
	pwid := (iw + sw - 1) / sw
	buf := convGetCol(c * ny * sw * pwid)
	defer convPutCol(buf)
	phases := *buf
	for ch := range c {
		for y := y0; y < y1; y++ {
			src := img[ch*inSize+y*iw:][:iw]
			dst := phases[(ch*ny+y-y0)*sw*pwid:][:sw*pwid]
			if sw == 2 {
				deinterleave(dst[:pwid], dst[pwid:], src) // the vector form of the loop below
				continue
			}
			for p := range sw {
				d := dst[p*pwid:][:pwid]
				n := (iw - p + sw - 1) / sw
				s := src[p:]
				for x := range d[:n] {
					d[x] = s[x*sw]
				}
			}
		}
	}
	for ch := range c {
		for i := range kh {
			hoff := i*dh - ph
			hlo, hhi := convRowRange(hoff, sh, ih, r1)
			hlo, hhi = max(hlo, row0), max(hhi, row0)
			for j := range kw {
				dst := col[((ch*kh+i)*kw+j)*ld:][:cols]
				woff := j*dw - pw
				lo, hi := convRowRange(woff, sw, iw, ow)
				clear(dst[:(hlo-row0)*ow])
				clear(dst[(hhi-row0)*ow:])
				if hlo >= hhi || lo >= hi {
					clear(dst)
					continue
				}
				// Input column c*sw + woff is cell c+q of phase p.
				p := ((woff % sw) + sw) % sw
				q := (woff - p) / sw
				for r := hlo; r < hhi; r++ {
					y := r*sh + hoff
					phase := phases[((ch*ny+y-y0)*sw+p)*pwid:][:pwid]
					seg := dst[(r-row0)*ow:][:ow]
					clear(seg[:lo])
					copy(seg[lo:hi], phase[lo+q:hi+q])
					clear(seg[hi:])
				}
			}
		}
	}
}

// convWalk visits, for every channel, kernel tap and output row, the contiguous run of the
// last dimension that the tap reads, and copies it into col (im2col) or adds col onto it
// (col2im). Working a run at a time keeps the index arithmetic out of the inner loop, which
// for stride 1 is a plain copy or add.
func convWalk(col, img []float32, c int, g *ConvGeom, row0, rows, ld int, back bool) {
	nd := len(g.InShape)
	last := nd - 1
	ow, iw := g.OutShape[last], g.InShape[last]
	sw, dw, pw := g.Strides[last], g.Dilations[last], g.Pads[last]
	inSize, ks := g.InSize(), g.KernelSize()
	cols := rows * ow
	tap := make([]int, nd)  // kernel index, odometer over Kernel
	orow := make([]int, nd) // output index of the leading dims, odometer over OutShape[:last]
	istr := Strides(g.InShape)
	for ch := range c {
		plane := img[ch*inSize : (ch+1)*inSize]
		clear(tap)
		for t := range ks {
			dst := col[(ch*ks+t)*ld:][:cols]
			woff := tap[last]*dw - pw
			lo, hi := convRowRange(woff, sw, iw, ow)
			if lo == hi {
				lo, hi = 0, 0 // keeps the slice expressions below in range
				woff = 0
			}
			// Decompose row0 into the leading output indices.
			r := row0
			for d := last - 1; d >= 0; d-- {
				orow[d] = r % g.OutShape[d]
				r /= g.OutShape[d]
			}
			for r := range rows {
				seg := dst[r*ow : (r+1)*ow]
				base, ok := 0, true
				for d := range last {
					i := orow[d]*g.Strides[d] + tap[d]*g.Dilations[d] - g.Pads[d]
					if i < 0 || i >= g.InShape[d] {
						ok = false
						break
					}
					base += i * istr[d]
				}
				switch {
				case back && ok:
					src := plane[base:]
					if sw == 1 {
						in := src[lo+woff : hi+woff]
						for j, v := range seg[lo:hi] {
							in[j] += v
						}
					} else {
						for j := lo; j < hi; j++ {
							src[j*sw+woff] += seg[j]
						}
					}
				case back:
				case !ok:
					clear(seg)
				default:
					clear(seg[:lo])
					src := plane[base:]
					if sw == 1 {
						copy(seg[lo:hi], src[lo+woff:hi+woff])
					} else {
						for j := lo; j < hi; j++ {
							seg[j] = src[j*sw+woff]
						}
					}
					clear(seg[hi:])
				}
				for d := last - 1; d >= 0; d-- {
					orow[d]++
					if orow[d] < g.OutShape[d] {
						break
					}
					orow[d] = 0
				}
			}
			for d := last; d >= 0; d-- {
				tap[d]++
				if tap[d] < g.Kernel[d] {
					break
				}
				tap[d] = 0
			}
		}
	}
}

// convOutRows returns the number of output rows (all spatial dims but the last).
func (g *ConvGeom) convOutRows() int { return Size(g.OutShape[:len(g.OutShape)-1]) }

// pointwise reports whether the convolution is a plain matrix product: a 1×…×1 kernel, stride
// 1 and no padding, so that the input planes already are the im2col matrix.
func (g *ConvGeom) pointwise() bool {
	for i := range g.InShape {
		if g.Kernel[i] != 1 || g.Strides[i] != 1 || g.Pads[i] != 0 || g.OutShape[i] != g.InShape[i] {
			return false
		}
	}
	return true
}

// convColTarget is the number of output positions one im2col block aims for: enough columns
// that re-packing the weights for each block costs little next to the GEMM, few enough that
// the block stays in cache while the GEMM sweeps it.
const convColTarget = 512

// convColPools recycle scratch buffers (im2col matrices, GEMM outputs, padded rows) across
// calls and goroutines, one list per power-of-two capacity: with a single list, a small
// buffer handed out for a large request would be dropped for a fresh one, so every run
// of a model with layers of many sizes would allocate (and page-fault) anew.
var convColPools [48]freelist.List[*[]float32]

// convGetCol returns a pooled buffer of n float32s of unspecified value; give it back with
// convPutCol.
func convGetCol(n int) *[]float32 {
	class := bits.Len(uint(max(n, 1) - 1))
	p, ok := convColPools[class].Get()
	if !ok {
		v := make([]float32, 1<<class)
		p = &v
	}
	*p = (*p)[:n]
	return p
}

// convPutCol gives back a buffer from convGetCol.
func convPutCol(p *[]float32) {
	convColPools[bits.Len(uint(cap(*p)-1))].Put(p)
}

// Conv computes the convolution y = x ⊛ w + bias for the geometry g: x is
// [Batch, InC, InShape...], w is [OutC, InC/Group, Kernel...], bias is [OutC] or nil, and y
// ([Batch, OutC, OutShape...]) is overwritten.
//
// Each (image, group, block of output rows) becomes one im2col into a pooled buffer followed
// by a GEMM; the blocks run in parallel with a serial GEMM each when there are enough of them,
// otherwise one after another with the GEMM itself parallel. A pointwise convolution skips
// im2col, and a depthwise one (one input channel per group) uses a direct loop instead of
// many tiny GEMMs. It panics if the slices are too short for g: a programming error.
func Conv(y, x, w, bias []float32, g *ConvGeom) {
	if err := g.Check(); err != nil {
		panic(err.Error())
	}
	inSize, outSize, ks := g.InSize(), g.OutSize(), g.KernelSize()
	cg, mg := g.InC/g.Group, g.OutC/g.Group
	ys := g.yImageStride()
	if ys < g.OutC*outSize {
		panic(fmt.Sprintf("tensor.Conv: output image stride %d is below the %d outputs of an image", ys, g.OutC*outSize))
	}
	if g.Residual != nil && (ys != g.OutC*outSize || len(g.Residual) < g.Batch*ys) {
		panic(fmt.Sprintf("tensor.Conv: a residual of %d values for an output of %d images of %d, %d apart", len(g.Residual), g.Batch, g.OutC*outSize, ys))
	}
	if g.Batch == 0 || g.OutC == 0 || outSize == 0 {
		return
	}
	if len(x) < g.Batch*g.InC*inSize || len(w) < g.OutC*cg*ks || len(y) < (g.Batch-1)*ys+g.OutC*outSize || bias != nil && len(bias) < g.OutC {
		panic(fmt.Sprintf("tensor.Conv: slices too short for the geometry (x %d, w %d, y %d)", len(x), len(w), len(y)))
	}
	procs := parallel.Procs()
	if cg == 1 && len(g.InShape) <= 2 {
		convDepthwise(y, x, w, bias, g, procs)
		return
	}
	if cg == 0 || ks == 0 {
		convFillBias(y, bias, g)
		return
	}
	if g.winogradForward() && !convWinogradOff {
		convWinograd(y, x, w, bias, g, procs)
		return
	}
	if g.convWideFits() {
		convWide(y, x, w, bias, g, procs)
		return
	}
	if kept := g.Filters.holds(g, w); g.convDirectFits(kept) {
		if kept {
			convDirect(y, x, g.Filters.directLayout(g, w), bias, g, procs)
			return
		}
		buf := convGetCol(directFiltersLen(g.OutC, cg*ks))
		packDirectFilters(*buf, w, g.OutC, cg*ks)
		convDirect(y, x, *buf, bias, g, procs)
		convPutCol(buf)
		return
	}
	ops := convOperands{y: y, x: x, w: w, bias: bias, g: g, inSize: inSize, outSize: outSize, ys: ys, cg: cg, mg: mg, k: cg * ks}
	if outSize < convColTarget && g.Batch > 1 {
		convPacked(ops, procs)
		return
	}
	rows := g.convOutRows()
	ow := g.OutShape[len(g.OutShape)-1]
	rowsPer := rows
	point := g.pointwise()
	if !point {
		rowsPer = min(rows, max(1, convColTarget/max(ow, 1)))
	}
	blocks := (rows + rowsPer - 1) / rowsPer
	tasks := g.Batch * g.Group * blocks
	threads, workers := convSchedule(tasks, procs, float64(tasks)*float64(mg)*float64(ops.k)*float64(rowsPer*ow))
	parallel.ForEachIn(&convRowsBodies, tasks, workers, convRows{
		convOperands: ops,
		rows:         rows, rowsPer: rowsPer, blocks: blocks, ow: ow,
		threads: threads, workers: workers, procs: procs,
		point: point,
	})
}

// convOperands is what the loops of a convolution by GEMMs read: its slices and geometry,
// and from the geometry the sizes of an input and an output plane, the distance between
// output images, the input and output channels of a group and the length of a filter.
type convOperands struct {
	y, x, w, bias                  []float32
	g                              *ConvGeom
	inSize, outSize, ys, cg, mg, k int
}

// convRows is the loop of Conv over (image, group, block of output rows) that im2col and a
// GEMM compute, or a GEMM alone for a pointwise convolution.
type convRows struct {
	convOperands
	rows, rowsPer, blocks, ow int
	threads, workers, procs   int
	point                     bool
}

var convRowsBodies parallel.Bodies[convRows]

// Run computes task t.
func (c *convRows) Run(t int) {
	g, x, w, y := c.g, c.x, c.w, c.y
	cg, mg, k, inSize, outSize := c.cg, c.mg, c.k, c.inSize, c.outSize
	blk := t % c.blocks
	grp := (t / c.blocks) % g.Group
	img := t / (c.blocks * g.Group)
	r0 := blk * c.rowsPer
	nr := min(c.rowsPer, c.rows-r0)
	n := nr * c.ow
	xg := x[(img*g.InC+grp*cg)*inSize:]
	yoff := img*c.ys + grp*mg*outSize + r0*c.ow
	yg := y[yoff:]
	wg := w[grp*mg*k:]
	gb := groupBias(c.bias, grp, mg)
	ep := g.kernelEpilogue(gb)
	switch {
	case !c.point && g.intoPanels(c.threads, mg, n, k):
		pn := newConvPanels(g, xg, 0, 1, r0, nr, cg)
		gemmSerialPackB(mg, n, k, wg, k, pn, yg, outSize, ep)
		pn.release()
	case c.point:
		if panels := g.Filters.group(g, grp); panels != nil {
			gemmWithPanels(c.threads, mg, n, k, wg, panels, xg[r0*c.ow:], inSize, yg, outSize, ep)
		} else {
			gemmWith(c.threads, mg, n, k, wg, k, xg[r0*c.ow:], inSize, yg, outSize, ep)
		}
	default:
		buf := convGetCol(k * n)
		col := *buf
		if procs := c.procs; c.workers == 1 && procs > 1 && k*n >= convIm2ColSplit {
			// A lone task (batch 1, small planes): its GEMM runs on every core, and so
			// should its im2col, one range of input channels per core.
			parallel.ForEachIn(&im2colPartsBodies, procs, procs, im2colParts{col: col, x: xg, g: g, channels: cg, parts: procs, r0: r0, nr: nr})
		} else {
			Im2Col(col, xg, cg, g, r0, nr)
		}
		gemmWith(c.threads, mg, n, k, wg, k, col, n, yg, outSize, ep)
		convPutCol(buf)
	}
	if g.Residual != nil {
		g.finishRows(yg, gb, mg, n, outSize, yoff)
	}
}

// intoPanels reports whether an im2col goes straight into the panels of the m×n×k product
// that reads it (convPanels), rather than into a matrix that the GEMM packs again: when that
// GEMM runs on the calling goroutine alone (threads == 1), for a 1-D or 2-D geometry, and is
// large enough that the GEMM would pack it (below gemmSmallWork it runs plain loops, whose
// sums round otherwise: a batch split over the cores gives the bits of its parts run alone).
func (g *ConvGeom) intoPanels(threads, m, n, k int) bool {
	return threads == 1 && len(g.InShape) <= 2 && int64(m)*int64(n)*int64(k) >= gemmSmallWork
}

// im2colParts is Im2Col of rows [r0, r0+nr) split over parts ranges of input channels.
type im2colParts struct {
	col, x                  []float32
	g                       *ConvGeom
	channels, parts, r0, nr int
}

var im2colPartsBodies parallel.Bodies[im2colParts]

// Run fills range part.
func (p *im2colParts) Run(part int) {
	c0, c1 := p.channels*part/p.parts, p.channels*(part+1)/p.parts
	n, ks, inSize := p.nr*p.g.OutShape[len(p.g.OutShape)-1], p.g.KernelSize(), p.g.InSize()
	Im2Col(p.col[c0*ks*n:], p.x[c0*inSize:], c1-c0, p.g, p.r0, p.nr)
}

// groupBias is group grp's mg values of bias, or nil without a bias.
func groupBias(bias []float32, grp, mg int) []float32 {
	if bias == nil {
		return nil
	}
	return bias[grp*mg : (grp+1)*mg]
}

// kernelEpilogue is what the GEMM's kernels apply to a group's output as they store it (its
// bias, then Clamp; see gemmEpilogue): all of the epilogue, unless there is a residual to
// add, which a pass after the product does (finishRows, addBiasEpilogue) with the rest.
func (g *ConvGeom) kernelEpilogue(groupBias []float32) gemmEpilogue {
	if g.Residual != nil {
		return gemmEpilogue{}
	}
	ep := gemmEpilogue{bias: groupBias}
	if g.Clamp != nil {
		ep.clamp, ep.lo, ep.hi = true, g.Clamp[0], g.Clamp[1]
	}
	return ep
}

// convIm2ColSplit is the im2col size (in cells) from which a lone task splits it over the
// cores.
const convIm2ColSplit = 1 << 16

// finishRows adds the bias (when not nil, one value per row) and applies the epilogue to
// rows rows of n outputs, stride apart, from y on, each in one pass while it is in cache;
// y starts at off in the convolution's output.
func (g *ConvGeom) finishRows(y, bias []float32, rows, n, stride, off int) {
	if bias == nil {
		g.epilogueRows(y, rows, n, stride, off)
		return
	}
	for m := range rows {
		row := y[m*stride : m*stride+n]
		g.addBiasEpilogue(row, row, bias[m], off+m*stride)
	}
}

// epilogueRows applies the epilogue to rows rows of n outputs, stride apart, from y on; y
// starts at off in the convolution's output.
func (g *ConvGeom) epilogueRows(y []float32, rows, n, stride, off int) {
	if g.Clamp == nil && g.Residual == nil {
		return
	}
	for m := range rows {
		g.epilogue(y[m*stride:m*stride+n], off+m*stride)
	}
}

// convSchedule picks how to run tasks independent GEMM tasks of the given total work
// (m*n*k): on workers goroutines, each GEMM on threads of its own. Serial GEMMs on parallel
// workers avoid a fork-join per GEMM, but with fewer tasks than cores, or little work, the
// GEMM's own parallelism (or none) does better.
func convSchedule(tasks, procs int, work float64) (threads, workers int) {
	if tasks >= procs && work > 1<<20 {
		return 1, procs
	}
	return procs, 1
}

// convPacked handles outputs too small to fill a GEMM on their own (the 14×14 and 7×7 layers
// of a ResNet): the im2col columns of several images sit side by side in one matrix, so one
// GEMM covers them all, and the product is then scattered back to each image's planes. The
// pack size aims at convColTarget columns, adjusted so that the packs divide evenly over
// the cores.
func convPacked(ops convOperands, procs int) {
	g, outSize := ops.g, ops.outSize
	per := min(g.Batch, (convColTarget+outSize-1)/outSize)
	packs := (g.Batch + per - 1) / per
	if r := packs % procs; r != 0 && packs+procs-r <= g.Batch {
		packs += procs - r
	}
	per = (g.Batch + packs - 1) / packs
	packs = (g.Batch + per - 1) / per
	tasks := packs * g.Group
	threads, workers := convSchedule(tasks, procs, float64(g.Batch)*float64(g.OutC)*float64(ops.k)*float64(outSize))
	parallel.ForEachIn(&convPackBodies, tasks, workers, convPack{convOperands: ops, per: per, rows: g.convOutRows(), threads: threads, workers: workers})
}

// convPack is convPacked's loop over (pack of images, group).
type convPack struct {
	convOperands
	per, rows, threads, workers int
}

var convPackBodies parallel.Bodies[convPack]

// Run computes task t.
func (c *convPack) Run(t int) {
	g, x, w, y := c.g, c.x, c.w, c.y
	inSize, outSize, cg, mg, k := c.inSize, c.outSize, c.cg, c.mg, c.k
	grp, pack := t%g.Group, t/g.Group
	i0 := pack * c.per
	i1 := min(g.Batch, i0+c.per)
	n := (i1 - i0) * outSize
	out := convGetCol(mg * n)
	gb := groupBias(c.bias, grp, mg)
	ep := g.kernelEpilogue(gb)
	if g.intoPanels(c.threads, mg, n, k) {
		pn := newConvPanels(g, x[(i0*g.InC+grp*cg)*inSize:], g.InC*inSize, i1-i0, 0, c.rows, cg)
		gemmSerialPackB(mg, n, k, w[grp*mg*k:], k, pn, *out, n, ep)
		pn.release()
	} else {
		col := convGetCol(k * n)
		for img := i0; img < i1; img++ {
			xg := x[(img*g.InC+grp*cg)*inSize:]
			colWalk((*col)[(img-i0)*outSize:], xg, cg, g, 0, c.rows, n, false)
		}
		gemmWith(c.threads, mg, n, k, w[grp*mg*k:], k, *col, n, *out, n, ep)
		convPutCol(col)
	}
	// Each image's planes go back to it; with a residual, the bias and the rest of the
	// epilogue are applied on the way.
	for img := i0; img < i1; img++ {
		for m := range mg {
			src := (*out)[m*n+(img-i0)*outSize:][:outSize]
			off := img*c.ys + (grp*mg+m)*outSize
			dst := y[off:][:outSize]
			if g.Residual == nil {
				copy(dst, src)
				continue
			}
			b := float32(0)
			if gb != nil {
				b = gb[m]
			}
			g.addBiasEpilogue(dst, src, b, off)
		}
	}
	convPutCol(out)
}

func convFillBias(y, bias []float32, g *ConvGeom) {
	outSize, ys := g.OutSize(), g.yImageStride()
	for i := range g.Batch * g.OutC {
		off := i/g.OutC*ys + i%g.OutC*outSize
		row := y[off:][:outSize]
		b := float32(0)
		if bias != nil {
			b = bias[i%g.OutC]
		}
		fillFloat32(row, b)
		g.epilogue(row, off)
	}
}

// convDepthwise handles one input channel per group for 1-D and 2-D geometries: each output
// plane is a weighted sum of shifted copies of one input plane, computed directly rather than
// as many tiny GEMMs.
func convDepthwise(y, x, w, bias []float32, g *ConvGeom, procs int) {
	ih, iw, oh, ow, kh, kw, sh, sw, dh, dw, ph, pw := conv2DDims(g)
	mult := g.OutC / g.Group // output channels per input channel
	planes := g.Batch * g.OutC
	workers := 1
	if planes*oh*ow*kh*kw > 1<<16 {
		workers = procs
	}
	var vec *dwVector
	if kh <= dwMaxKernel && dh == 1 && dw == 1 && (sw == 1 || sw == 2) && dwRowsSIMD() {
		vec = dwVectorFor(dwShape{ih, iw, oh, ow, kh, kw, sh, sw, ph, pw})
	}
	// The planes go out a few chunks per worker, so that the vector kernels' scratch is set
	// up once per chunk rather than once per plane.
	chunks := planes
	if vec != nil {
		chunks = min(planes, 8*workers)
	}
	parallel.ForEachIn(&dwChunkBodies, chunks, workers, dwChunk{y: y, x: x, w: w, bias: bias, g: g, vec: vec, planes: planes, chunks: chunks, mult: mult})
}

// dwChunk is convDepthwise's loop over chunks of output planes.
type dwChunk struct {
	y, x, w, bias        []float32
	g                    *ConvGeom
	vec                  *dwVector
	planes, chunks, mult int
}

var dwChunkBodies parallel.Bodies[dwChunk]

// Run computes chunk c.
func (d *dwChunk) Run(c int) {
	g, vec, x, y, w, bias := d.g, d.vec, d.x, d.y, d.w, d.bias
	ih, iw, oh, ow, kh, kw, sh, sw, dh, dw, ph, pw := conv2DDims(g)
	var scratch *[]float32
	if vec != nil {
		scratch = convGetCol(vec.scratch)
		clear(*scratch)
		defer convPutCol(scratch)
	}
	p1 := d.planes * (c + 1) / d.chunks
	for p := d.planes * c / d.chunks; p < p1; p++ {
		img, oc := p/g.OutC, p%g.OutC
		if vec != nil && vec.group > 1 && d.mult == 1 {
			// A run of an image's planes, whose inputs and outputs lie one after another.
			n := min(vec.group, p1-p, g.OutC-oc)
			off := img*g.yImageStride() + oc*oh*ow
			out := y[off:][:n*oh*ow]
			bs := dwZeroBias[:n]
			if bias != nil {
				bs = bias[oc : oc+n]
			}
			vec.planes(out, x[(img*g.InC+oc)*ih*iw:][:n*ih*iw], w[oc*9:][:n*9], bs, *scratch)
			g.epilogue(out, off)
			p += n - 1
			continue
		}
		in := x[(img*g.InC+oc/d.mult)*ih*iw:][:ih*iw]
		off := img*g.yImageStride() + oc*oh*ow
		out := y[off:][:oh*ow]
		b := float32(0)
		if bias != nil {
			b = bias[oc]
		}
		wk := w[oc*kh*kw:][:kh*kw]
		switch {
		case vec != nil:
			vec.plane(out, in, wk, b, *scratch)
		case kh == 3 && kw == 3:
			convDepthwise3x3(out, in, wk, b, ih, iw, oh, ow, sh, sw, dh, dw, ph, pw)
		default:
			convDepthwisePlane(out, in, wk, b, ih, iw, oh, ow, kh, kw, sh, sw, dh, dw, ph, pw)
		}
		g.epilogue(out, off)
	}
}

// dwShape is the geometry of a depthwise plane that a dwVector is built for.
type dwShape struct{ ih, iw, oh, ow, kh, kw, sh, sw, ph, pw int }

// dwVectors keeps the dwVector built for each shape, which never changes: a plan's runs
// convolve the same shapes every time, and building one allocates its masks and taps.
var dwVectors struct {
	mu   sync.Mutex
	kept map[dwShape]*dwVector
}

// dwVectorsMax bounds dwVectors: past it, the cache starts again.
const dwVectorsMax = 256

// dwVectorFor returns the dwVector of shape s.
func dwVectorFor(s dwShape) *dwVector {
	dwVectors.mu.Lock()
	defer dwVectors.mu.Unlock()
	if v := dwVectors.kept[s]; v != nil {
		return v
	}
	if dwVectors.kept == nil || len(dwVectors.kept) >= dwVectorsMax {
		dwVectors.kept = map[dwShape]*dwVector{}
	}
	v := newDWVector(s.ih, s.iw, s.oh, s.ow, s.kh, s.kw, s.sh, s.sw, s.ph, s.pw)
	dwVectors.kept[s] = v
	return v
}

// convDepthwisePlane computes one output plane for any kernel: one tap at a time over the
// whole plane, an axpy per row at stride 1, with the valid column range worked out per tap.
func convDepthwisePlane(out, in, wk []float32, b float32, ih, iw, oh, ow, kh, kw, sh, sw, dh, dw, ph, pw int) {
	for i := range out {
		out[i] = b
	}
	for i := range kh {
		hoff := i*dh - ph
		hlo, hhi := convRowRange(hoff, sh, ih, oh)
		for j := range kw {
			wv := wk[i*kw+j]
			woff := j*dw - pw
			lo, hi := convRowRange(woff, sw, iw, ow)
			if lo >= hi {
				continue
			}
			for r := hlo; r < hhi; r++ {
				src := in[(r*sh+hoff)*iw:][:iw]
				dst := out[r*ow:][:ow]
				if sw == 1 {
					s := src[lo+woff : hi+woff]
					d := dst[lo:hi]
					for c := range d {
						d[c] += wv * s[c]
					}
					continue
				}
				for c := lo; c < hi; c++ {
					dst[c] += wv * src[c*sw+woff]
				}
			}
		}
	}
}

// dwVector is how the vector kernels run an undilated depthwise convolution at horizontal
// stride 1 or 2. They load every tap of eight outputs as one unit-stride vector, so each
// input plane is first laid out with its zero padding in place:
//
//   - flat (3×3 at stride 1 only): a "same" plane small enough to stay in cache is copied
//     whole, with a row of zeros (and one cell) before and after it, and computed as one
//     flat loop over all its cells; only the column taps wrap around the ends of the rows,
//     and two lane masks, one per side, clear those.
//   - planeS2 (3×3 at stride 2 with a padding of 1, "same", even width): the plane is split
//     once into its even cells and its odd cells, each a plane of half rows after a row of
//     zeros, and one call computes the whole output plane from them: tap j of output c of
//     row r is odd[c-1], even[c] or odd[c] of half rows 2r-1, 2r and 2r+1, with a lane mask
//     for the padding at odd[-1]. Row by row through the ring below, mobilenet_v2's 144
//     planes of 56×56 at batch 4 took 1.27 ms to ONNX Runtime's 0.35 ms (at batch 8 on two
//     cores), the cost of a call, a split and the ring's bookkeeping for each row of 28
//     outputs; small planes, computed at stride 1 and subsampled, did four times the
//     multiply-adds.
//   - otherwise each input row is copied once into a ring of kh slots as the output rows
//     sweep down the plane: at stride 1 with its padding around it, at stride 2 split into
//     its even and odd padded cells (tap j of output c is even[c+j/2] for even j and
//     odd[c+j/2] for odd j; for 3×3, even[c], odd[c], even[c+1]). Rows in the vertical
//     padding read a slot of zeros. 3×3 rows have kernels of their own that keep the nine
//     weights in registers; other sizes go through one that walks the taps.
//
// Only the data cells of the scratch are rewritten from plane to plane, so its zero borders
// are cleared once per chunk of planes.
type dwVector struct {
	ih, iw, oh, ow, kh, kw, sh, sw, ph, pw int

	flat         bool
	maskL, maskR []uint32 // flat: all ones but in columns 0 and iw-1 respectively
	group        int      // flat: planes per call of planes, 1 for large planes
	stride       int      // flat: the cells of a plane's layout in the scratch

	planeS2 bool
	split   int // planeS2: the cells of each half of the layout (dwSplitPlane)

	even, slot int   // rows: the even half (stride 2) and the whole of one slot
	taps       []int // rows, not 3×3: the byte offset of each tap within a slot
	scratch    int   // cells of scratch one plane needs
}

// dwFlatMax is the largest plane (in cells) the flat layout takes at stride 1: its copy
// then stays in L2, and the ring's per-row calls cost the most on small planes (144×56×56
// at batch 8: 1.96-2.46 ms in the ring, 1.36-1.62 ms flat). mobilenet_v2's 32 planes of
// 112×112 (a 50 KB copy each) took 1.1 ms at batch 4 flat against 1.44 ms in the ring,
// alternated in one process.
const dwFlatMax = 128 * 128

// dwSplitPlane is the cells of each half of planeS2's layout for ih input rows of 2*ow
// cells: a zero cell, a zero row (input row -1), the ih rows of ow cells and, past them,
// zeros for the vectors of the last row to read (input row ih, which a plane of odd height
// has in its padding, and the lanes past its end).
func dwSplitPlane(ih, ow int) int { return 1 + (ih+1)*ow + (ow+7)&^7 }

// dwFlatGroup and dwFlatGroupCells bound the planes one call of the flat kernel computes
// (dwVector.planes), and the scratch they take. Each plane otherwise costs a copy, a call
// of the kernel and one of the epilogue: on mobilenet_v2's 960 planes of 7×7 at batch 1,
// 0.09 ms a layer against ONNX Runtime's 0.026.
const (
	dwFlatGroup      = 32
	dwFlatGroupCells = 16 << 10
)

// dwZeroBias is the bias of planes without one.
var dwZeroBias [dwFlatGroup]float32

// dwMaxKernel bounds the kernel height the ring takes (the slots' addresses go in an array
// on the stack); taller kernels take the Go loops.
const dwMaxKernel = 16

func newDWVector(ih, iw, oh, ow, kh, kw, sh, sw, ph, pw int) *dwVector {
	v := &dwVector{ih: ih, iw: iw, oh: oh, ow: ow, kh: kh, kw: kw, sh: sh, sw: sw, ph: ph, pw: pw}
	n := ih * iw
	pad1 := kh == 3 && kw == 3 && ph == 1 && pw == 1
	if pad1 && sh == 2 && sw == 2 && oh == (ih+1)/2 && iw%2 == 0 && ow == iw/2 {
		v.planeS2 = true
		v.split = dwSplitPlane(ih, ow)
		v.scratch = 2 * v.split
		return v
	}
	if pad1 && sh == 1 && sw == 1 && oh == ih && ow == iw && n <= dwFlatMax {
		v.flat = true
		lanes := (n + 7) &^ 7
		v.maskL, v.maskR = make([]uint32, lanes), make([]uint32, lanes)
		for o := range n {
			if c := o % iw; c != 0 {
				v.maskL[o] = ^uint32(0)
			}
			if c := o % iw; c != iw-1 {
				v.maskR[o] = ^uint32(0)
			}
		}
		v.stride = lanes + 2*iw + 2
		v.group = max(1, min(dwFlatGroup, dwFlatGroupCells/v.stride))
		v.scratch = v.group * v.stride
		return v
	}
	// The kernels compute whole vectors of 8 outputs, so a row holds the cells that many
	// outputs read: kw-1 past the last at stride 1, kw/2 even cells past it at stride 2.
	lanes := (ow + 7) &^ 7
	if sw == 1 {
		v.even = lanes + kw - 1
	} else {
		v.even = lanes + kw/2
	}
	v.slot = v.even * sw
	v.taps = make([]int, kw)
	for j := range v.taps {
		v.taps[j] = 4 * j
		if sw == 2 {
			v.taps[j] = 4 * (j/2 + j%2*v.even)
		}
	}
	v.scratch = (kh + 1) * v.slot
	return v
}

// planes computes len(bias) ≤ v.group flat output planes, one after another in out, from as
// many input planes in in, with the filters w (nine values a plane); scratch is as plane's.
func (v *dwVector) planes(out, in, w, bias []float32, scratch []float32) {
	n := v.ih * v.iw
	for q := range bias {
		copy(scratch[q*v.stride+v.iw+1:], in[q*n:(q+1)*n])
	}
	dwFlatPlanes(out, scratch, v.maskL, v.maskR, n, v.iw, v.stride, w, bias)
}

// plane computes one output plane; scratch holds v.scratch cells, zero but for what earlier
// calls with the same v wrote.
func (v *dwVector) plane(out, in, wk []float32, b float32, scratch []float32) {
	if v.flat {
		bias := [1]float32{b}
		v.planes(out, in, wk, bias[:], scratch)
		return
	}
	if v.planeS2 {
		// With an even width, the plane's even cells are each row's even cells, row after
		// row, and so are its odd ones: one split of the whole plane lays out the data rows.
		even, odd := scratch[:v.split], scratch[v.split:2*v.split]
		data := 1 + v.ow // input row -1 stays zero, and so does the cell before it
		deinterleave(even[data:][:v.ih*v.ow], odd[data:][:v.ih*v.ow], in)
		dwPlaneS2(out, even, odd, v.oh, v.ow, (*[9]float32)(wk), b)
		return
	}
	kh := v.kh
	ring, zero := scratch[:kh*v.slot], scratch[kh*v.slot:(kh+1)*v.slot]
	var loaded [dwMaxKernel]int
	for i := range loaded {
		loaded[i] = -1
	}
	var rows [dwMaxKernel][]float32
	for r := range v.oh {
		// Input rows top..top+kh-1 are consecutive, so y mod kh gives each its own slot.
		top := r*v.sh - v.ph
		for i := range kh {
			y := top + i
			if y < 0 || y >= v.ih {
				rows[i] = zero
				continue
			}
			k := y % kh
			rows[i] = ring[k*v.slot : (k+1)*v.slot]
			if loaded[k] != y {
				loaded[k] = y
				v.fill(rows[i], in[y*v.iw:(y+1)*v.iw])
			}
		}
		dst := out[r*v.ow : (r+1)*v.ow]
		switch e := v.even; {
		case kh != 3 || v.kw != 3:
			dwRow(dst, rows[:kh], v.taps, wk, b)
		case v.sw == 1:
			dwRowS1(dst, rows[0], rows[1], rows[2], (*[9]float32)(wk), b)
		default:
			dwRowS2(dst, rows[0][:e], rows[1][:e], rows[2][:e], rows[0][e:], rows[1][e:], rows[2][e:], (*[9]float32)(wk), b)
		}
	}
}

// fill lays the input row src out in the slot buf: input cell x is cell x+pw of the padded
// row, and at stride 2 the padded row's even cells go to buf[:even], its odd ones after.
// Cells past the slot are never read and are dropped.
func (v *dwVector) fill(buf, src []float32) {
	pw := v.pw
	if v.sw == 1 {
		copy(buf[min(pw, len(buf)):], src)
		return
	}
	e, o := buf[:v.even], buf[v.even:]
	if pw&1 == 0 {
		deinterleave(e[min(pw/2, len(e)):], o[min(pw/2, len(o)):], src)
	} else {
		deinterleave(o[min(pw/2, len(o)):], e[min(pw/2+1, len(e)):], src)
	}
}

// deinterleave sets a[m] = src[2m] and b[m] = src[2m+1] for as many m as fit.
func deinterleave(a, b, src []float32) {
	m := deinterleaveFloat32(a, b, src)
	for i := m; i < len(a) && 2*i < len(src); i++ {
		a[i] = src[2*i]
	}
	for i := m; i < len(b) && 2*i+1 < len(src); i++ {
		b[i] = src[2*i+1]
	}
}

// convDepthwise3x3 computes one output plane of a 3×3 depthwise convolution a row at a time,
// all nine taps per output cell, so each output is written once instead of nine times.
// Columns whose taps all fall inside the input take an unrolled loop, the border columns
// check each column of taps, and rows in the padding read a row of zeros. (Copying the
// plane into a zero-bordered buffer to remove the border case measured slower, even on
// 7×7 planes.)
func convDepthwise3x3(out, in, wk []float32, b float32, ih, iw, oh, ow, sh, sw, dh, dw, ph, pw int) {
	lo, hi := 0, ow // the interior columns
	for j := range 3 {
		l, h := convRowRange(j*dw-pw, sw, iw, ow)
		lo, hi = max(lo, l), min(hi, h)
	}
	hi = max(lo, hi)
	var zeroBuf [256]float32
	zero := zeroBuf[:]
	if iw > len(zero) {
		zero = make([]float32, iw)
	}
	zero = zero[:iw]
	row := func(r int) []float32 {
		if r < 0 || r >= ih {
			return zero
		}
		return in[r*iw : (r+1)*iw]
	}
	w0, w1, w2, w3, w4, w5, w6, w7, w8 := wk[0], wk[1], wk[2], wk[3], wk[4], wk[5], wk[6], wk[7], wk[8]
	for r := range oh {
		top := r*sh - ph
		r0, r1, r2 := row(top), row(top+dh), row(top+2*dh)
		dst := out[r*ow : (r+1)*ow]
		edge := func(c int) {
			s := b
			x := c*sw - pw
			if x >= 0 && x < iw {
				s += w0*r0[x] + w3*r1[x] + w6*r2[x]
			}
			if x += dw; x >= 0 && x < iw {
				s += w1*r0[x] + w4*r1[x] + w7*r2[x]
			}
			if x += dw; x >= 0 && x < iw {
				s += w2*r0[x] + w5*r1[x] + w8*r2[x]
			}
			dst[c] = s
		}
		for c := 0; c < lo; c++ {
			edge(c)
		}
		for c := hi; c < ow; c++ {
			edge(c)
		}
		if lo >= hi {
			continue
		}
		// Re-slicing the rows to the span the interior reads lets the compiler drop most
		// bounds checks.
		first := lo*sw - pw
		span := (hi-1-lo)*sw + 2*dw + 1
		a, bb, cc := r0[first:first+span], r1[first:first+span], r2[first:first+span]
		d := dst[lo:hi]
		if sw == 1 && dw == 1 {
			for i := range d {
				a3, b3, c3 := a[i:i+3], bb[i:i+3], cc[i:i+3]
				d[i] = b + w0*a3[0] + w1*a3[1] + w2*a3[2] + w3*b3[0] + w4*b3[1] + w5*b3[2] + w6*c3[0] + w7*c3[1] + w8*c3[2]
			}
			continue
		}
		for i := range d {
			x := i * sw
			d[i] = b + w0*a[x] + w1*a[x+dw] + w2*a[x+2*dw] + w3*bb[x] + w4*bb[x+dw] + w5*bb[x+2*dw] +
				w6*cc[x] + w7*cc[x+dw] + w8*cc[x+2*dw]
		}
	}
}

// ConvInputGrad computes dx = ∂(x ⊛ w)/∂x applied to dy for the geometry g: dy is
// [Batch, OutC, OutShape...], w is [OutC, InC/Group, Kernel...] and dx ([Batch, InC,
// InShape...]) is overwritten. This is also the transposed convolution of dy with w (ONNX
// ConvTranspose without its bias). With unit strides and a kernel wider than 1x1 it is a
// convolution of dy with w flipped (convInputGradByConv); a pointwise one is Wᵀ·dy; the
// others, per image and group, col = Wᵀ·dy, then Col2Im.
func ConvInputGrad(dx, dy, w []float32, g *ConvGeom) {
	if err := g.Check(); err != nil {
		panic(err.Error())
	}
	inSize, outSize, ks := g.InSize(), g.OutSize(), g.KernelSize()
	cg, mg := g.InC/g.Group, g.OutC/g.Group
	if len(dx) < g.Batch*g.InC*inSize || len(w) < g.OutC*cg*ks || len(dy) < g.Batch*g.OutC*outSize {
		panic(fmt.Sprintf("tensor.ConvInputGrad: slices too short for the geometry (dx %d, w %d, dy %d)", len(dx), len(w), len(dy)))
	}
	if outSize == 0 || mg == 0 || g.Batch == 0 {
		clear(dx[:g.Batch*g.InC*inSize])
		return
	}
	if !g.pointwise() {
		if tg, ok := g.inputGradGeom(); ok {
			convInputGradByConv(dx, dy, w, g, tg)
			return
		}
	}
	clear(dx[:g.Batch*g.InC*inSize])
	procs := parallel.Procs()
	tasks := g.Batch * g.Group
	k := cg * ks
	threads, workers := convSchedule(tasks, procs, float64(tasks)*float64(mg)*float64(k)*float64(outSize))
	ar := gemmCurrent()
	point := g.pointwise()
	rows := g.convOutRows()
	parallel.For(tasks, workers, func(t int) {
		img, grp := t/g.Group, t%g.Group
		dxg := dx[(img*g.InC+grp*cg)*inSize:]
		dyg := dy[(img*g.OutC+grp*mg)*outSize:]
		wg := w[grp*mg*k:]
		if point {
			gemm(ar, threads, true, false, k, outSize, mg, 1, wg, k, dyg, outSize, 0, dxg, inSize, gemmEpilogue{})
			return
		}
		buf := convGetCol(k * outSize)
		gemm(ar, threads, true, false, k, outSize, mg, 1, wg, k, dyg, outSize, 0, *buf, outSize, gemmEpilogue{})
		Col2Im(dxg, *buf, cg, g, 0, rows)
		convPutCol(buf)
	})
}

// inputGradGeom returns, for a convolution with unit strides, the geometry of the
// convolution that computes its input gradient: dy convolved with the kernel flipped in
// every dimension and its input and output channels swapped within each group, padded at
// the start by dilation*(kernel-1) less the forward pad. dx[i] sums w[t]·dy[i+pad-t·dilation]
// over the taps t, which is that convolution's output at i (Precise as g is: a ConvTranspose
// in a forward pass that a backward pass differentiates). ok is false where a stride is not
// 1 or the forward pad exceeds dilation*(kernel-1) (a negative pad).
func (g *ConvGeom) inputGradGeom() (tg *ConvGeom, ok bool) {
	pads := make([]int, len(g.Pads))
	for i, p := range g.Pads {
		pads[i] = g.Dilations[i]*(g.Kernel[i]-1) - p
		if g.Strides[i] != 1 || pads[i] < 0 {
			return nil, false
		}
	}
	return &ConvGeom{Batch: g.Batch, InC: g.OutC, OutC: g.InC, Group: g.Group,
		InShape: g.OutShape, Kernel: g.Kernel, OutShape: g.InShape,
		Strides: g.Strides, Dilations: g.Dilations, Pads: pads, Precise: g.Precise}, true
}

// convInputGradByConv computes ConvInputGrad as the convolution tg (inputGradGeom's) of
// dy with the flipped, transposed kernel: no column matrix to scatter back, and Conv's
// im2col-free packing and kernels.
func convInputGradByConv(dx, dy, w []float32, g, tg *ConvGeom) {
	if tg.useWinograd() && !convWinogradOff {
		// Winograd transforms the flipped filters as it does the filters, G⊗G reordered.
		convWinogradWith(dx, dy, w, nil, tg, parallel.Procs(), true)
		return
	}
	ks := g.KernelSize()
	cg, mg := g.InC/g.Group, g.OutC/g.Group
	buf := convGetCol(g.OutC * cg * ks)
	wt := *buf
	// wt[grp][c][o][ks-1-t] = w[grp][o][c][t], one input channel (grp*cg+c), a contiguous
	// stretch of wt, per task: reversing the flat tap index flips every spatial dimension.
	workers := 1
	if len(wt) >= 1<<16 {
		workers = parallel.Procs()
	}
	parallel.For(g.InC, workers, func(ic int) {
		grp, c := ic/cg, ic%cg
		dst := wt[ic*mg*ks:][:mg*ks]
		for o := range mg {
			src := w[((grp*mg+o)*cg+c)*ks:][:ks]
			for t, v := range src {
				dst[o*ks+ks-1-t] = v
			}
		}
	})
	Conv(dx, dy, wt, nil, tg)
	convPutCol(buf)
}

// ConvWeightGrad computes dw = ∂(x ⊛ w)/∂w applied to dy for the geometry g, overwriting dw
// ([OutC, InC/Group, Kernel...]): per image and group, dw_g += dy_g·colᵀ. Images run in
// parallel into private accumulators that are summed at the end. The 3×3 stride-1 layers
// that useWinogradWeightGrad picks are summed in Winograd's transformed domain instead.
func ConvWeightGrad(dw, x, dy []float32, g *ConvGeom) {
	if err := g.Check(); err != nil {
		panic(err.Error())
	}
	inSize, outSize, ks := g.InSize(), g.OutSize(), g.KernelSize()
	cg, mg := g.InC/g.Group, g.OutC/g.Group
	k := cg * ks
	nw := g.OutC * k
	if len(dw) < nw || len(x) < g.Batch*g.InC*inSize || len(dy) < g.Batch*g.OutC*outSize {
		panic(fmt.Sprintf("tensor.ConvWeightGrad: slices too short for the geometry (dw %d, x %d, dy %d)", len(dw), len(x), len(dy)))
	}
	if outSize == 0 || g.Batch == 0 {
		clear(dw[:nw])
		return
	}
	procs := parallel.Procs()
	if g.useWinogradWeightGrad() && !convWinogradOff {
		convWinogradWeightGrad(dw[:nw], x, dy, g, procs)
		return
	}
	if g.wholeBatchWeightGrad() && !convWholeBatchOff {
		convWeightGradOverBatch(dw[:nw], x, dy, g)
		return
	}
	workers := min(procs, g.Batch)
	if float64(g.Batch)*float64(nw)*float64(outSize) < 1<<20 {
		workers = 1
	}
	gemm := Gemm
	if workers > 1 {
		gemm = GemmSerial
	}
	point := g.pointwise()
	rows := g.convOutRows()
	// Worker 0 accumulates into dw, the others into scratch; each worker's first image
	// writes its sums (beta 0), so neither needs clearing first.
	acc := make([]*[]float32, workers)
	for i := 1; i < workers; i++ {
		acc[i] = convGetCol(nw)
	}
	parallel.For(workers, workers, func(wi int) {
		sum := dw[:nw]
		if wi > 0 {
			sum = *acc[wi]
		}
		for img := wi; img < g.Batch; img += workers {
			beta := float32(1)
			if img == wi {
				beta = 0
			}
			for grp := range g.Group {
				xg := x[(img*g.InC+grp*cg)*inSize:]
				dyg := dy[(img*g.OutC+grp*mg)*outSize:]
				dwg := sum[grp*mg*k:]
				if point {
					gemm(false, true, mg, k, outSize, 1, dyg, outSize, xg, inSize, beta, dwg, k)
					continue
				}
				buf := convGetCol(k * outSize)
				Im2Col(*buf, xg, cg, g, 0, rows)
				gemm(false, true, mg, k, outSize, 1, dyg, outSize, *buf, outSize, beta, dwg, k)
				convPutCol(buf)
			}
		}
	})
	for _, buf := range acc[1:] {
		addVV(dw[:nw], dw[:nw], *buf)
		convPutCol(buf)
	}
}

// wholeBatchWeightGrad reports whether ConvWeightGrad takes g's gradient as one product over
// the whole batch (convWeightGradOverBatch) rather than image by image. Summed image by
// image, a gradient larger than the core's cache (1 MB, 256K values) is read and written again
// for each image, 8·OutC·InC·KernelSize bytes, where the whole batch's im2col matrix is
// written and read once, 8·InC·KernelSize·OutSize bytes per image: the first is the larger
// when OutC exceeds OutSize. Measured at batch 8 (BenchmarkConvWeightGradLarge, 2 cores),
// image by image against the whole batch: resnet18's 512 channels at 7×7 12.6 -> 11.3 ms,
// 256 to 512 at stride 2 (7×7 out) 6.3 -> 5.6 ms; but 256 at 14×14 (196 outputs) 10.5 ->
// 13.7 ms and 128 to 256 at stride 2 (14×14 out) 5.6 -> 7.4 ms: hence twice OutSize.
func (g *ConvGeom) wholeBatchWeightGrad() bool {
	nw := g.OutC * g.InC * g.KernelSize()
	return g.Batch > 1 && g.Group == 1 && nw >= 1<<18 && g.OutC >= 2*g.OutSize()
}

// convWholeBatchOff makes ConvWeightGrad sum image by image at every size, for tests.
var convWholeBatchOff bool

// convWeightGradOverBatch is ConvWeightGrad (one group) as a single product dw = dY·colᵀ,
// the images' outputs side by side along its depth: dY [OutC × Batch·OutSize] gathers dy's
// rows, col [InC·KernelSize × Batch·OutSize] every image's im2col. The product is split
// over the cores by Gemm; the gradient is written once.
func convWeightGradOverBatch(dw, x, dy []float32, g *ConvGeom) {
	inSize, outSize := g.InSize(), g.OutSize()
	k := g.InC * g.KernelSize()
	depth := g.Batch * outSize
	cbuf, dbuf := convGetCol(k*depth), convGetCol(g.OutC*depth)
	col, dys := *cbuf, *dbuf
	rows := g.convOutRows()
	parallel.For(g.Batch, parallel.Procs(), func(img int) {
		colWalk(col[img*outSize:], x[img*g.InC*inSize:], g.InC, g, 0, rows, depth, false)
		for o := range g.OutC {
			copy(dys[o*depth+img*outSize:][:outSize], dy[(img*g.OutC+o)*outSize:])
		}
	})
	Gemm(false, true, g.OutC, k, depth, 1, dys, depth, col, depth, 0, dw, k)
	convPutCol(cbuf)
	convPutCol(dbuf)
}
