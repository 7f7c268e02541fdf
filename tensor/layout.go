package tensor

import (
	"fmt"

	"github.com/onnxtune/onnxtune/internal/parallel"
)

// This file holds the kernels that move elements without doing arithmetic on them: transpose,
// concatenation and split, slicing, padding, gather and tile. They work on every dtype, since
// models route shapes, indices and masks through the same operators as activations.
//
// Each comes in two forms. The generic form (Transpose, Concat, ...) works on backing slices
// with the destination first and panics on inconsistent arguments, as Gemm does: those are
// programming errors. The *Tensor form (TransposeTensor, ...) checks shapes and dtypes, returns
// errors that say what was given, and allocates the result when dst is nil. In both forms dst
// must not share elements with a source.
//
// Almost all of them reduce to CopyStrided, which copies an n-dimensional box between two
// strided views. It first drops unit dimensions and merges dimensions that are contiguous in
// both views, so that the common cases (a channel concat, a pad of H and W, NCHW<->NHWC) become
// a few long runs moved with copy() or a tiled 2-D transpose, whatever the rank.

// layoutParallelWork is the number of elements below which a copy stays on one goroutine:
// under it, starting goroutines costs more than the copy.
const layoutParallelWork = 1 << 16

// layoutTile is the side of the square tiles a transposing copy walks, so that the rows it
// reads and the rows it writes both stay in L1.
const layoutTile = 32

// layoutParallel runs f over [0, items) split into contiguous chunks, on up to parallel.Procs
// goroutines when work (in elements) is large enough to pay for them.
func layoutParallel(items, work int, f func(lo, hi int)) {
	threads := parallel.Procs()
	chunks := min(threads, items, work/layoutParallelWork)
	if chunks <= 1 {
		f(0, items)
		return
	}
	parallel.For(chunks, chunks, func(c int) { f(items*c/chunks, items*(c+1)/chunks) })
}

// layoutBox is a copy after simplification: the box's shape and the strides of both views.
type layoutBox struct {
	shape, ds, ss []int
}

// layoutSimplify drops unit dimensions and merges each dimension into the one outside it when
// the outer one steps over exactly the inner one in both views.
func layoutSimplify(shape, ds, ss []int) layoutBox {
	var b layoutBox
	for i, n := range shape {
		if n == 1 {
			continue
		}
		if k := len(b.shape) - 1; k >= 0 && b.ds[k] == ds[i]*n && b.ss[k] == ss[i]*n {
			b.shape[k] *= n
			b.ds[k], b.ss[k] = ds[i], ss[i]
			continue
		}
		b.shape = append(b.shape, n)
		b.ds = append(b.ds, ds[i])
		b.ss = append(b.ss, ss[i])
	}
	return b
}

// layoutCheckBox panics unless every element of the box lies inside a slice of length n.
func layoutCheckBox(fn, name string, n, off int, strides, shape []int) {
	lo, hi := off, off
	for i, d := range shape {
		if d == 0 {
			return // an empty box touches nothing
		}
		step := strides[i] * (d - 1)
		if step < 0 {
			lo += step
		} else {
			hi += step
		}
	}
	if lo < 0 || hi >= n {
		panic(fmt.Sprintf("tensor.%s: %s box %v (offset %d, strides %v) reaches [%d, %d], outside its %d elements", fn, name, shape, off, strides, lo, hi, n))
	}
}

// CopyStrided copies the box of the given shape from src, starting at srcOff and stepping by
// srcStrides (in elements, which may be zero or negative), into dst, starting at dstOff and
// stepping by dstStrides. It panics if the strides do not match the shape's rank or the box
// does not fit in either slice. The views must not overlap.
func CopyStrided[T any](dst []T, dstOff int, dstStrides []int, src []T, srcOff int, srcStrides []int, shape []int) {
	if len(dstStrides) != len(shape) || len(srcStrides) != len(shape) {
		panic(fmt.Sprintf("tensor.CopyStrided: shape %v with %d dst and %d src strides", shape, len(dstStrides), len(srcStrides)))
	}
	for _, d := range shape {
		if d < 0 {
			panic(fmt.Sprintf("tensor.CopyStrided: negative dimension in %v", shape))
		}
		if d == 0 {
			return
		}
	}
	layoutCheckBox("CopyStrided", "dst", len(dst), dstOff, dstStrides, shape)
	layoutCheckBox("CopyStrided", "src", len(src), srcOff, srcStrides, shape)
	layoutCopy(dst, dstOff, src, srcOff, layoutSimplify(shape, dstStrides, srcStrides))
}

// layoutCopy runs a simplified, validated, non-empty box copy.
func layoutCopy[T any](dst []T, do int, src []T, so int, b layoutBox) {
	r := len(b.shape)
	if r == 0 {
		dst[do] = src[so]
		return
	}
	last := r - 1
	if b.ds[last] == 1 && b.ss[last] != 1 {
		for q := range last {
			if b.ss[q] == 1 {
				layoutCopyTiled(dst, do, src, so, b, q)
				return
			}
		}
	}
	n, ds, ss := b.shape[last], b.ds[last], b.ss[last]
	rows := Size(b.shape[:last])
	layoutParallel(rows, rows*n, func(lo, hi int) {
		idx := make([]int, last)
		d, s := layoutSeek(idx, b.shape[:last], b.ds, b.ss, lo)
		d, s = d+do, s+so
		for row := lo; row < hi; row++ {
			switch {
			case ds == 1 && ss == 1:
				copy(dst[d:d+n], src[s:s+n])
			case ds == 1 && ss == 0:
				v := src[s]
				out := dst[d : d+n]
				for i := range out {
					out[i] = v
				}
			default:
				for i := range n {
					dst[d+i*ds] = src[s+i*ss]
				}
			}
			// Advance the odometer over the outer dimensions.
			for k := last - 1; k >= 0; k-- {
				idx[k]++
				d += b.ds[k]
				s += b.ss[k]
				if idx[k] < b.shape[k] {
					break
				}
				idx[k] = 0
				d -= b.ds[k] * b.shape[k]
				s -= b.ss[k] * b.shape[k]
			}
		}
	})
}

// layoutSeek sets idx to the multi-index of flat position pos over shape and returns the
// offsets it has in both views.
func layoutSeek(idx, shape, ds, ss []int, pos int) (d, s int) {
	for k := len(shape) - 1; k >= 0; k-- {
		idx[k] = pos % shape[k]
		pos /= shape[k]
		d += idx[k] * ds[k]
		s += idx[k] * ss[k]
	}
	return d, s
}

// layoutNext advances the multi-index idx over shape by one and returns offset moved along.
func layoutNext(idx, shape, strides []int, offset int) int {
	for k := len(shape) - 1; k >= 0; k-- {
		idx[k]++
		offset += strides[k]
		if idx[k] < shape[k] {
			break
		}
		idx[k] = 0
		offset -= strides[k] * shape[k]
	}
	return offset
}

// layoutCopyTiled handles a box whose innermost dimension is contiguous in dst but dimension q
// is the contiguous one in src (a transpose). It walks layoutTile-square tiles of the (q, last)
// plane so that both the rows it reads and the rows it writes stay in cache, instead of
// striding through src one element per cache line.
func layoutCopyTiled[T any](dst []T, do int, src []T, so int, b layoutBox, q int) {
	last := len(b.shape) - 1
	var other layoutBox
	for k := range last {
		if k != q {
			other.shape = append(other.shape, b.shape[k])
			other.ds = append(other.ds, b.ds[k])
			other.ss = append(other.ss, b.ss[k])
		}
	}
	nq, n := b.shape[q], b.shape[last]
	dq, sl := b.ds[q], b.ss[last]
	blocks := (nq + layoutTile - 1) / layoutTile
	outer := Size(other.shape)
	layoutParallel(outer*blocks, outer*nq*n, func(lo, hi int) {
		idx := make([]int, len(other.shape))
		for item := lo; item < hi; item++ {
			d, s := layoutSeek(idx, other.shape, other.ds, other.ss, item/blocks)
			d, s = d+do, s+so
			x0 := item % blocks * layoutTile
			x1 := min(x0+layoutTile, nq)
			for y0 := 0; y0 < n; y0 += layoutTile {
				y1 := min(y0+layoutTile, n)
				for x := x0; x < x1; x++ {
					out := dst[d+x*dq+y0 : d+x*dq+y1]
					in := s + x + y0*sl
					for i := range out {
						out[i] = src[in+i*sl]
					}
				}
			}
		}
	})
}

// Transpose writes into dst the transpose of src, a row-major array of the given shape, with
// axes permuted by perm: dimension i of the result is dimension perm[i] of src. It panics if
// perm is not a permutation of the axes or a slice does not hold Size(shape) elements.
func Transpose[T any](dst, src []T, shape, perm []int) {
	if err := layoutCheckPerm(shape, perm); err != nil {
		panic("tensor.Transpose: " + err.Error())
	}
	n := Size(shape)
	if len(dst) != n || len(src) != n {
		panic(fmt.Sprintf("tensor.Transpose: shape %v holds %d elements, dst has %d, src %d", shape, n, len(dst), len(src)))
	}
	if n == 0 {
		return
	}
	out, ss := make([]int, len(shape)), make([]int, len(shape))
	in := Strides(shape)
	for i, p := range perm {
		out[i], ss[i] = shape[p], in[p]
	}
	layoutCopy(dst, 0, src, 0, layoutSimplify(out, Strides(out), ss))
}

func layoutCheckPerm(shape, perm []int) error {
	if len(perm) != len(shape) {
		return fmt.Errorf("perm %v has %d entries for a rank-%d shape %v", perm, len(perm), len(shape), shape)
	}
	seen := make([]bool, len(perm))
	for _, p := range perm {
		if p < 0 || p >= len(perm) || seen[p] {
			return fmt.Errorf("perm %v is not a permutation of 0..%d", perm, len(perm)-1)
		}
		seen[p] = true
	}
	return nil
}

// Concat writes into dst the concatenation along axis of the row-major arrays srcs, whose
// shapes are given by shapes (equal except along axis). It panics on inconsistent shapes.
func Concat[T any](dst []T, srcs [][]T, shapes [][]int, axis int) {
	out, err := layoutConcatShape(shapes, axis)
	if err != nil {
		panic("tensor.Concat: " + err.Error())
	}
	if len(srcs) != len(shapes) || len(dst) != Size(out) {
		panic(fmt.Sprintf("tensor.Concat: %d srcs for %d shapes, dst has %d elements for %v", len(srcs), len(shapes), len(dst), out))
	}
	outStr := Strides(out)
	at := 0
	for i, s := range srcs {
		CopyStrided(dst, at*outStr[axis], outStr, s, 0, Strides(shapes[i]), shapes[i])
		at += shapes[i][axis]
	}
}

// layoutConcatShape checks that shapes agree except along axis and returns their concatenation.
func layoutConcatShape(shapes [][]int, axis int) ([]int, error) {
	if len(shapes) == 0 {
		return nil, fmt.Errorf("nothing to concatenate")
	}
	r := len(shapes[0])
	if axis < 0 || axis >= r {
		return nil, fmt.Errorf("axis %d is out of range for rank %d", axis, r)
	}
	out := append([]int(nil), shapes[0]...)
	for _, s := range shapes[1:] {
		if len(s) != r {
			return nil, fmt.Errorf("cannot concatenate shapes %s: ranks differ", shapesString(shapes))
		}
		for k := range s {
			if k != axis && s[k] != out[k] {
				return nil, fmt.Errorf("cannot concatenate shapes %s along axis %d: dimension %d differs", shapesString(shapes), axis, k)
			}
		}
		out[axis] += s[axis]
	}
	return out, nil
}

// Split is the inverse of Concat: it cuts src, a row-major array of the given shape, along
// axis into consecutive pieces of sizes[i] entries, written to dsts[i]. It panics if the sizes
// do not add up to shape[axis] or a dst has the wrong length.
func Split[T any](dsts [][]T, src []T, shape []int, axis int, sizes []int) {
	if axis < 0 || axis >= len(shape) || len(dsts) != len(sizes) || len(src) != Size(shape) {
		panic(fmt.Sprintf("tensor.Split: %d dsts, %d sizes, axis %d, shape %v, src of %d", len(dsts), len(sizes), axis, shape, len(src)))
	}
	total := 0
	for _, s := range sizes {
		total += s
	}
	if total != shape[axis] {
		panic(fmt.Sprintf("tensor.Split: sizes %v do not add up to dimension %d of %v", sizes, axis, shape))
	}
	ss := Strides(shape)
	part := append([]int(nil), shape...)
	at := 0
	for i, d := range dsts {
		part[axis] = sizes[i]
		if len(d) != Size(part) {
			panic(fmt.Sprintf("tensor.Split: dst %d has %d elements, piece %v needs %d", i, len(d), part, Size(part)))
		}
		CopyStrided(d, 0, Strides(part), src, at*ss[axis], ss, part)
		at += sizes[i]
	}
}

// SliceRange applies ONNX Slice's rules to one axis of size dim: negative start and end count
// from the end; then for a positive step start and end are clamped to [0, dim], for a
// negative one start to [0, dim-1] and end to [-1, dim-1]. It returns the first index taken and
// how many are taken (never negative). step must not be zero.
func SliceRange(dim int, start, end, step int64) (first, count int) {
	d := int64(dim)
	if start < 0 {
		start += d
	}
	if end < 0 {
		end += d
	}
	var n int64
	if step > 0 {
		start = min(max(start, 0), d)
		end = min(max(end, 0), d)
		if end > start {
			n = (end - start + step - 1) / step
		}
	} else {
		start = min(max(start, 0), d-1)
		end = min(max(end, -1), d-1)
		if start > end {
			n = (start - end - step - 1) / -step
		}
	}
	return int(start), int(n)
}

// Slice writes into dst the elements of src, a row-major array of the given shape, taken along
// each axis i at starts[i], starts[i]+steps[i], ... (counts[i] of them; steps may be negative).
// It panics if an index falls outside src or dst does not hold Size(counts) elements.
func Slice[T any](dst, src []T, shape, starts, counts, steps []int) {
	r := len(shape)
	if len(starts) != r || len(counts) != r || len(steps) != r || len(src) != Size(shape) || len(dst) != Size(counts) {
		panic(fmt.Sprintf("tensor.Slice: shape %v, starts %v, counts %v, steps %v, src of %d, dst of %d", shape, starts, counts, steps, len(src), len(dst)))
	}
	in := Strides(shape)
	ss := make([]int, r)
	off := 0
	for i := range shape {
		ss[i] = in[i] * steps[i]
		off += starts[i] * in[i]
	}
	CopyStrided(dst, 0, Strides(counts), src, off, ss, counts)
}

// PadMode says what Pad writes into the cells it adds.
type PadMode uint8

// The padding modes of ONNX Pad.
const (
	PadConstant PadMode = iota // a constant value
	PadReflect                 // the input mirrored about its first and last cell, which are not repeated
	PadEdge                    // copies of the first and last cell
	PadWrap                    // the input repeated, as if its ends were joined (opset 19)
)

// ParsePadMode maps ONNX's mode names ("constant", "reflect", "edge", "wrap") to a PadMode.
func ParsePadMode(s string) (PadMode, error) {
	switch s {
	case "constant":
		return PadConstant, nil
	case "reflect":
		return PadReflect, nil
	case "edge":
		return PadEdge, nil
	case "wrap":
		return PadWrap, nil
	}
	return 0, fmt.Errorf("tensor: unknown pad mode %q (want constant, reflect, edge or wrap)", s)
}

// String returns the ONNX name of the mode.
func (m PadMode) String() string {
	switch m {
	case PadConstant:
		return "constant"
	case PadReflect:
		return "reflect"
	case PadEdge:
		return "edge"
	case PadWrap:
		return "wrap"
	}
	return fmt.Sprintf("PadMode(%d)", uint8(m))
}

// layoutPadGeometry returns, per axis, where the kept part of the input starts in src and in
// dst, how long it is, and the output shape. A negative pad crops.
func layoutPadGeometry(shape, begins, ends []int) (srcAt, dstAt, keep, out []int, err error) {
	r := len(shape)
	if len(begins) != r || len(ends) != r {
		return nil, nil, nil, nil, fmt.Errorf("pads %v, %v do not match the rank of shape %v", begins, ends, shape)
	}
	srcAt, dstAt, keep, out = make([]int, r), make([]int, r), make([]int, r), make([]int, r)
	for i, n := range shape {
		out[i] = n + begins[i] + ends[i]
		if out[i] < 0 {
			return nil, nil, nil, nil, fmt.Errorf("pads %d and %d on axis %d of shape %v leave a negative size", begins[i], ends[i], i, shape)
		}
		srcAt[i], dstAt[i] = max(-begins[i], 0), max(begins[i], 0)
		keep[i] = max(n-srcAt[i]-max(-ends[i], 0), 0)
	}
	return srcAt, dstAt, keep, out, nil
}

// Pad writes into dst src, a row-major array of the given shape, with begins[i] cells added
// before and ends[i] after it along axis i (a negative count removes cells instead). The added
// cells hold value in PadConstant mode, and otherwise mirror (PadReflect, repeatedly when a
// pad is wider than the input, as numpy.pad does), repeat (PadEdge) or cycle through (PadWrap)
// the kept cells. It panics on inconsistent arguments, or in the modes other than
// PadConstant when an axis that gets cells added keeps none to copy them from.
func Pad[T any](dst, src []T, shape, begins, ends []int, mode PadMode, value T) {
	srcAt, dstAt, keep, out, err := layoutPadGeometry(shape, begins, ends)
	if err != nil {
		panic("tensor.Pad: " + err.Error())
	}
	if len(src) != Size(shape) || len(dst) != Size(out) {
		panic(fmt.Sprintf("tensor.Pad: shape %v padded to %v, src has %d elements, dst %d", shape, out, len(src), len(dst)))
	}
	if mode != PadConstant {
		for i := range shape {
			if keep[i] == 0 && out[i] > 0 {
				panic(fmt.Sprintf("tensor.Pad: %v mode cannot fill axis %d of %v: nothing of it is kept", mode, i, shape))
			}
		}
	}
	if len(dst) == 0 {
		return
	}
	outStr, inStr := Strides(out), Strides(shape)
	do, so := 0, 0
	for i := range shape {
		do += dstAt[i] * outStr[i]
		so += srcAt[i] * inStr[i]
	}
	CopyStrided(dst, do, outStr, src, so, inStr, keep)
	// Fill the added cells axis by axis from the innermost out. When axis a is filled, the
	// axes inside it are already complete, so each added cell along a is a contiguous block
	// of outStr[a] elements, copied from a kept block of the same row (or set to value); the axes
	// outside a only range over their kept part, which the outer axes' own pass extends.
	for a := len(shape) - 1; a >= 0; a-- {
		before, after := dstAt[a], out[a]-dstAt[a]-keep[a]
		if before == 0 && after == 0 {
			continue
		}
		outerShape := keep[:a]
		rows := Size(outerShape)
		block := outStr[a]
		layoutParallel(rows, rows*(before+after)*block, func(lo, hi int) {
			idx := make([]int, a)
			base, _ := layoutSeek(idx, outerShape, outStr, outStr, lo)
			for k := range a {
				base += dstAt[k] * outStr[k]
			}
			for row := lo; row < hi; row++ {
				if row > lo {
					base = layoutNext(idx, outerShape, outStr, base)
				}
				for p := 0; p < before; p++ {
					layoutPadCell(dst, base, block, p, before, keep[a], mode, value)
				}
				for p := before + keep[a]; p < out[a]; p++ {
					layoutPadCell(dst, base, block, p, before, keep[a], mode, value)
				}
			}
		})
	}
}

// layoutPadCell fills the block of cell p along an axis whose kept cells are [before,
// before+keep), in a row that starts at base.
func layoutPadCell[T any](dst []T, base, block, p, before, keep int, mode PadMode, value T) {
	cell := dst[base+p*block : base+(p+1)*block]
	if mode == PadConstant {
		for i := range cell {
			cell[i] = value
		}
		return
	}
	from := base + (before+layoutPadSource(p-before, keep, mode))*block
	copy(cell, dst[from:from+block])
}

// layoutPadSource maps a position i along an axis, relative to the first of n kept cells
// (negative before them, >= n after), to the kept cell it copies.
func layoutPadSource(i, n int, mode PadMode) int {
	if mode == PadWrap {
		return ((i % n) + n) % n
	}
	if mode == PadEdge || n == 1 {
		return min(max(i, 0), n-1)
	}
	period := 2 * (n - 1)
	if i < 0 {
		i = -i
	}
	i %= period
	if i >= n {
		i = period - i
	}
	return i
}

// Gather writes into dst, for each of outer leading blocks of src (each axisDim rows of inner
// elements), the rows named by indices: dst holds outer × len(indices) × inner elements. It
// panics if an index is outside [0, axisDim) or a slice has the wrong length.
func Gather[T any](dst, src []T, outer, axisDim, inner int, indices []int) {
	if outer < 0 || axisDim < 0 || inner < 0 || len(src) != outer*axisDim*inner || len(dst) != outer*len(indices)*inner {
		panic(fmt.Sprintf("tensor.Gather: outer %d, axis %d, inner %d, %d indices, src of %d, dst of %d", outer, axisDim, inner, len(indices), len(src), len(dst)))
	}
	for _, ix := range indices {
		if ix < 0 || ix >= axisDim {
			panic(fmt.Sprintf("tensor.Gather: index %d is outside [0, %d)", ix, axisDim))
		}
	}
	m := len(indices)
	layoutParallel(outer*m, len(dst), func(lo, hi int) {
		for row := lo; row < hi; row++ {
			o, j := row/m, row%m
			from := (o*axisDim + indices[j]) * inner
			if inner == 1 {
				dst[row] = src[from]
				continue
			}
			copy(dst[row*inner:(row+1)*inner], src[from:from+inner])
		}
	})
}

// Tile writes into dst src, a row-major array of the given shape, repeated repeats[i] times
// along each axis i. It panics on a negative repeat or a dst of the wrong length.
func Tile[T any](dst, src []T, shape, repeats []int) {
	r := len(shape)
	if len(repeats) != r || len(src) != Size(shape) {
		panic(fmt.Sprintf("tensor.Tile: shape %v, repeats %v, src of %d", shape, repeats, len(src)))
	}
	out := make([]int, r)
	for i, n := range shape {
		if repeats[i] < 0 {
			panic(fmt.Sprintf("tensor.Tile: negative repeat in %v", repeats))
		}
		out[i] = n * repeats[i]
	}
	if len(dst) != Size(out) {
		panic(fmt.Sprintf("tensor.Tile: dst has %d elements, %v tiled %v times needs %d", len(dst), shape, repeats, Size(out)))
	}
	// Copy the box [repeats[0], shape[0], repeats[1], shape[1], ...]: the repeat axes step
	// through dst by whole tiles and through src not at all.
	outStr, inStr := Strides(out), Strides(shape)
	box, ds, ss := make([]int, 2*r), make([]int, 2*r), make([]int, 2*r)
	for i := range shape {
		box[2*i], ds[2*i], ss[2*i] = repeats[i], shape[i]*outStr[i], 0
		box[2*i+1], ds[2*i+1], ss[2*i+1] = shape[i], outStr[i], inStr[i]
	}
	CopyStrided(dst, 0, ds, src, 0, ss, box)
}

// layoutMover runs the generic kernels on a backing slice held as an any: one type switch, in
// layoutFor, serves every *Tensor function.
type layoutMover interface {
	copyStrided(dst any, do int, src any, so int, b layoutBox)
	pad(dst, src any, shape, begins, ends []int, mode PadMode, value any)
	gather(dst, src any, outer, axisDim, inner int, indices []int)
	fill(dst, value any)
}

type layoutOf[T any] struct{}

func (layoutOf[T]) copyStrided(dst any, do int, src any, so int, b layoutBox) {
	layoutCopy(dst.([]T), do, src.([]T), so, b)
}

func (layoutOf[T]) pad(dst, src any, shape, begins, ends []int, mode PadMode, value any) {
	Pad(dst.([]T), src.([]T), shape, begins, ends, mode, value.([]T)[0])
}

func (layoutOf[T]) gather(dst, src any, outer, axisDim, inner int, indices []int) {
	Gather(dst.([]T), src.([]T), outer, axisDim, inner, indices)
}

func (layoutOf[T]) fill(dst, value any) {
	d, v := dst.([]T), value.([]T)[0]
	for i := range d {
		d[i] = v
	}
}

func layoutFor(data any) layoutMover {
	switch data.(type) {
	case []float32:
		return layoutOf[float32]{}
	case []float64:
		return layoutOf[float64]{}
	case []uint16:
		return layoutOf[uint16]{}
	case []int8:
		return layoutOf[int8]{}
	case []int16:
		return layoutOf[int16]{}
	case []int32:
		return layoutOf[int32]{}
	case []int64:
		return layoutOf[int64]{}
	case []uint8:
		return layoutOf[uint8]{}
	case []uint32:
		return layoutOf[uint32]{}
	case []uint64:
		return layoutOf[uint64]{}
	case []bool:
		return layoutOf[bool]{}
	}
	panic(fmt.Sprintf("tensor: no element mover for %T", data))
}

// layoutDst returns dst after checking it has the given dtype and shape, or a new tensor when
// dst is nil.
func layoutDst(fn string, dst *Tensor, dt DType, shape []int) (*Tensor, error) {
	if _, err := SizeChecked(shape); err != nil {
		return nil, fmt.Errorf("tensor: %s: %w", fn, err)
	}
	if dst == nil {
		return New(dt, shape...), nil
	}
	if dst.dtype != dt || !EqualShapes(dst.shape, shape) {
		return nil, fmt.Errorf("tensor: %s: dst is %v, the result is %v%s", fn, dst, dt, ShapeString(shape))
	}
	return dst, nil
}

// TransposeTensor returns src with its axes permuted by perm (dimension i of the result is
// dimension perm[i] of src; nil reverses them), written into dst, or a new tensor if dst is nil.
func TransposeTensor(dst, src *Tensor, perm []int) (*Tensor, error) {
	r := src.Rank()
	if perm == nil {
		perm = make([]int, r)
		for i := range perm {
			perm[i] = r - 1 - i
		}
	}
	if err := layoutCheckPerm(src.shape, perm); err != nil {
		return nil, fmt.Errorf("tensor: transpose of %v: %w", src, err)
	}
	out, ss := make([]int, r), make([]int, r)
	in := Strides(src.shape)
	for i, p := range perm {
		out[i], ss[i] = src.shape[p], in[p]
	}
	dst, err := layoutDst("transpose", dst, src.dtype, out)
	if err != nil || dst.Len() == 0 {
		return dst, err
	}
	layoutFor(src.data).copyStrided(dst.data, 0, src.data, 0, layoutSimplify(out, Strides(out), ss))
	return dst, nil
}

// ConcatTensors returns the concatenation of srcs along axis (negative counts from the end),
// written into dst, or a new tensor if dst is nil. The srcs must share dtype and rank and agree
// on every other dimension.
func ConcatTensors(dst *Tensor, srcs []*Tensor, axis int) (*Tensor, error) {
	if len(srcs) == 0 {
		return nil, fmt.Errorf("tensor: concat of no tensors")
	}
	shapes := make([][]int, len(srcs))
	for i, s := range srcs {
		if s.dtype != srcs[0].dtype {
			return nil, fmt.Errorf("tensor: concat of %v and %v: dtypes differ", srcs[0], s)
		}
		shapes[i] = s.shape
	}
	r := srcs[0].Rank()
	if axis < -r || axis >= r {
		return nil, fmt.Errorf("tensor: concat of %s: axis %d is out of range for rank %d", shapesString(shapes), axis, r)
	}
	if axis < 0 {
		axis += r
	}
	out, err := layoutConcatShape(shapes, axis)
	if err != nil {
		return nil, fmt.Errorf("tensor: concat: %w", err)
	}
	dst, err = layoutDst("concat", dst, srcs[0].dtype, out)
	if err != nil {
		return nil, err
	}
	mv := layoutFor(dst.data)
	outStr := Strides(out)
	at := 0
	for _, s := range srcs {
		if s.Len() > 0 {
			mv.copyStrided(dst.data, at*outStr[axis], s.data, 0, layoutSimplify(s.shape, outStr, Strides(s.shape)))
		}
		at += s.shape[axis]
	}
	return dst, nil
}

// SplitTensor cuts src along axis (negative counts from the end) into consecutive pieces of
// sizes[i] entries, which must add up to the axis's size, and returns them as new tensors.
func SplitTensor(src *Tensor, axis int, sizes []int) ([]*Tensor, error) {
	r := src.Rank()
	if axis < -r || axis >= r {
		return nil, fmt.Errorf("tensor: split of %v: axis %d is out of range for rank %d", src, axis, r)
	}
	if axis < 0 {
		axis += r
	}
	total := 0
	for _, s := range sizes {
		if s < 0 {
			return nil, fmt.Errorf("tensor: split of %v: negative size in %v", src, sizes)
		}
		total += s
	}
	if total != src.shape[axis] {
		return nil, fmt.Errorf("tensor: split of %v along axis %d: sizes %v add up to %d, not %d", src, axis, sizes, total, src.shape[axis])
	}
	mv := layoutFor(src.data)
	ss := Strides(src.shape)
	outs := make([]*Tensor, len(sizes))
	at := 0
	for i, n := range sizes {
		part := append([]int(nil), src.shape...)
		part[axis] = n
		outs[i] = New(src.dtype, part...)
		if outs[i].Len() > 0 {
			mv.copyStrided(outs[i].data, 0, src.data, at*ss[axis], layoutSimplify(part, Strides(part), ss))
		}
		at += n
	}
	return outs, nil
}

// SliceTensor returns the elements of src taken along each axis i at starts[i],
// starts[i]+steps[i], ... (counts[i] of them; steps may be negative but not zero), written into
// dst, or a new tensor if dst is nil. SliceRange turns ONNX's start, end and step into these.
func SliceTensor(dst, src *Tensor, starts, counts, steps []int) (*Tensor, error) {
	r := src.Rank()
	if len(starts) != r || len(counts) != r || len(steps) != r {
		return nil, fmt.Errorf("tensor: slice of %v: starts %v, counts %v, steps %v must each have %d entries", src, starts, counts, steps, r)
	}
	in := Strides(src.shape)
	ss := make([]int, r)
	off := 0
	empty := false
	for i, n := range src.shape {
		if counts[i] < 0 || steps[i] == 0 {
			return nil, fmt.Errorf("tensor: slice of %v: count %d, step %d on axis %d", src, counts[i], steps[i], i)
		}
		if counts[i] == 0 {
			empty = true
			continue
		}
		if last := starts[i] + (counts[i]-1)*steps[i]; starts[i] < 0 || starts[i] >= n || last < 0 || last >= n {
			return nil, fmt.Errorf("tensor: slice of %v: axis %d from %d by %d, %d times, leaves [0, %d)", src, i, starts[i], steps[i], counts[i], n)
		}
		ss[i] = in[i] * steps[i]
		off += starts[i] * in[i]
	}
	dst, err := layoutDst("slice", dst, src.dtype, counts)
	if err != nil || empty {
		return dst, err
	}
	layoutFor(src.data).copyStrided(dst.data, 0, src.data, off, layoutSimplify(counts, Strides(counts), ss))
	return dst, nil
}

// PadTensor returns src with begins[i] cells added before and ends[i] after it along each axis
// i (negative counts crop), written into dst, or a new tensor if dst is nil. In PadConstant mode
// the added cells hold value, a one-element tensor converted to src's dtype (nil means zero);
// see Pad for the other modes.
func PadTensor(dst, src *Tensor, begins, ends []int, mode PadMode, value *Tensor) (*Tensor, error) {
	_, _, keep, out, err := layoutPadGeometry(src.shape, begins, ends)
	if err != nil {
		return nil, fmt.Errorf("tensor: pad of %v: %w", src, err)
	}
	if mode > PadWrap {
		return nil, fmt.Errorf("tensor: pad of %v: unknown mode %v", src, mode)
	}
	if mode != PadConstant {
		for i := range keep {
			if keep[i] == 0 && out[i] > 0 {
				return nil, fmt.Errorf("tensor: %v pad of %v to %s: axis %d has no cells left to copy from", mode, src, ShapeString(out), i)
			}
		}
	}
	v := New(src.dtype)
	if value != nil {
		if value.Len() != 1 {
			return nil, fmt.Errorf("tensor: pad of %v: the constant value %v must have one element", src, value)
		}
		if v, err = CastTensor(v, value.scalarView(), src.dtype); err != nil {
			return nil, err
		}
	}
	dst, err = layoutDst("pad", dst, src.dtype, out)
	if err != nil {
		return nil, err
	}
	layoutFor(src.data).pad(dst.data, src.data, src.shape, begins, ends, mode, v.data)
	return dst, nil
}

// scalarView returns a one-element tensor as a rank-0 one sharing its element.
func (t *Tensor) scalarView() *Tensor { return &Tensor{dtype: t.dtype, shape: []int{}, data: t.data} }

// GatherTensor returns the entries of src along axis (negative counts from the end) named by
// indices, an Int32 or Int64 tensor whose negative values count from the end, written into dst,
// or a new tensor if dst is nil. The result's shape is src's with the axis replaced by the
// indices' shape.
func GatherTensor(dst, src *Tensor, axis int, indices *Tensor) (*Tensor, error) {
	r := src.Rank()
	if axis < -r || axis >= r {
		return nil, fmt.Errorf("tensor: gather from %v: axis %d is out of range for rank %d", src, axis, r)
	}
	if axis < 0 {
		axis += r
	}
	if indices.dtype != Int32 && indices.dtype != Int64 {
		return nil, fmt.Errorf("tensor: gather from %v: indices are %v, want int32 or int64", src, indices)
	}
	n := src.shape[axis]
	var idx []int
	var err error
	if i32, ok := indices.data.([]int32); ok {
		idx, err = layoutIndices(i32, n)
	} else {
		idx, err = layoutIndices(indices.data.([]int64), n)
	}
	if err != nil {
		return nil, fmt.Errorf("tensor: gather from %v along axis %d: %w", src, axis, err)
	}
	out := append(append(append([]int(nil), src.shape[:axis]...), indices.shape...), src.shape[axis+1:]...)
	if dst, err = layoutDst("gather", dst, src.dtype, out); err != nil {
		return nil, err
	}
	layoutFor(src.data).gather(dst.data, src.data, Size(src.shape[:axis]), n, Size(src.shape[axis+1:]), idx)
	return dst, nil
}

// layoutIndices resolves indices into an axis of size n, negative ones counting from the end.
func layoutIndices[T int32 | int64](indices []T, n int) ([]int, error) {
	idx := make([]int, len(indices))
	for i, v := range indices {
		ix := int(v)
		if ix < -n || ix >= n {
			return nil, fmt.Errorf("index %d is out of range for size %d", ix, n)
		}
		if ix < 0 {
			ix += n
		}
		idx[i] = ix
	}
	return idx, nil
}

// TileTensor returns src repeated repeats[i] times along each axis i, written into dst, or a
// new tensor if dst is nil.
func TileTensor(dst, src *Tensor, repeats []int) (*Tensor, error) {
	r := src.Rank()
	if len(repeats) != r {
		return nil, fmt.Errorf("tensor: tile of %v: %d repeats %v for rank %d", src, len(repeats), repeats, r)
	}
	out := make([]int, r)
	for i, n := range src.shape {
		if repeats[i] < 0 {
			return nil, fmt.Errorf("tensor: tile of %v: negative repeat in %v", src, repeats)
		}
		out[i] = n * repeats[i]
	}
	dst, err := layoutDst("tile", dst, src.dtype, out)
	if err != nil || dst.Len() == 0 {
		return dst, err
	}
	outStr, inStr := Strides(out), Strides(src.shape)
	box, ds, ss := make([]int, 2*r), make([]int, 2*r), make([]int, 2*r)
	for i, n := range src.shape {
		box[2*i], ds[2*i] = repeats[i], n*outStr[i]
		box[2*i+1], ds[2*i+1], ss[2*i+1] = n, outStr[i], inStr[i]
	}
	layoutFor(src.data).copyStrided(dst.data, 0, src.data, 0, layoutSimplify(box, ds, ss))
	return dst, nil
}

// FillTensor sets every element of dst to value, a one-element tensor of any dtype converted
// to dst's.
func FillTensor(dst, value *Tensor) error {
	if value.Len() != 1 {
		return fmt.Errorf("tensor: fill of %v: the value %v must have one element", dst, value)
	}
	v, err := CastTensor(nil, value.scalarView(), dst.dtype)
	if err != nil {
		return err
	}
	layoutFor(dst.data).fill(dst.data, v.data)
	return nil
}

// layoutNumber is the set of Go types that numeric dtypes are stored as.
type layoutNumber interface {
	float32 | float64 | int8 | int16 | int32 | int64 | uint8 | uint16 | uint32 | uint64
}
