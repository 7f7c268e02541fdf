package tensor

import (
	"fmt"

	"github.com/onnxtune/onnxtune/internal/parallel"
)

// This file holds the adjoints of the layout kernels in layout.go, the numerics of their
// gradients: given the gradient of an operation's result, the gradient of its source. A kernel
// that moves each source element to at most one place (slice, constant pad, split) has a copy
// for its adjoint; one that copies a source element to several places (reflect and edge pads,
// gather with repeated indices, tile) has a scatter-add, since every copy contributes.
//
// As in layout.go the generic forms take backing slices, destination first, and panic on
// inconsistent arguments; the *Tensor forms check them, return errors and allocate dst when it
// is nil. The scatter-adds accumulate each destination element in a fixed order, so results do
// not depend on the number of goroutines.

// Unslice writes src, a row-major array of shape counts, into the elements of dst (row-major,
// of the given shape) that Slice(_, dst, shape, starts, counts, steps) reads, and leaves the
// other elements of dst as they are. On a zeroed dst it is the adjoint of Slice: the gradient of
// a slice's source. It panics if an index falls outside dst or src does not hold Size(counts)
// elements.
func Unslice[T any](dst, src []T, shape, starts, counts, steps []int) {
	r := len(shape)
	if len(starts) != r || len(counts) != r || len(steps) != r || len(dst) != Size(shape) || len(src) != Size(counts) {
		panic(fmt.Sprintf("tensor.Unslice: shape %v, starts %v, counts %v, steps %v, dst of %d, src of %d", shape, starts, counts, steps, len(dst), len(src)))
	}
	ds, off := layoutSliceStrides(shape, starts, steps)
	CopyStrided(dst, off, ds, src, 0, Strides(counts), counts)
}

// layoutSliceStrides returns the strides, in a row-major array of the given shape, of the box
// that starts at starts and steps by steps, and the offset of its first element.
func layoutSliceStrides(shape, starts, steps []int) (strides []int, off int) {
	in := Strides(shape)
	strides = make([]int, len(shape))
	for i := range shape {
		strides[i] = in[i] * steps[i]
		off += starts[i] * in[i]
	}
	return strides, off
}

// UnsliceTensor writes src into the elements of dst, a tensor of the given shape, that
// SliceTensor(_, dst, starts, counts, steps) would return, leaving the others as they are; src
// must have shape counts and dst's dtype. When dst is nil it writes into a new zero tensor:
// the gradient of the slice's source for the gradient src of its result. It returns dst.
func UnsliceTensor(dst, src *Tensor, shape, starts, counts, steps []int) (*Tensor, error) {
	r := len(shape)
	if len(starts) != r || len(counts) != r || len(steps) != r {
		return nil, fmt.Errorf("tensor: unslice into %s: starts %v, counts %v, steps %v must each have %d entries", ShapeString(shape), starts, counts, steps, r)
	}
	if !EqualShapes(src.shape, counts) {
		return nil, fmt.Errorf("tensor: unslice of %v: the slice has shape %s", src, ShapeString(counts))
	}
	empty := false
	for i, n := range shape {
		if counts[i] < 0 || steps[i] == 0 {
			return nil, fmt.Errorf("tensor: unslice into %s: count %d, step %d on axis %d", ShapeString(shape), counts[i], steps[i], i)
		}
		if counts[i] == 0 {
			empty = true
			continue
		}
		if last := starts[i] + (counts[i]-1)*steps[i]; starts[i] < 0 || starts[i] >= n || last < 0 || last >= n {
			return nil, fmt.Errorf("tensor: unslice into %s: axis %d from %d by %d, %d times, leaves [0, %d)", ShapeString(shape), i, starts[i], steps[i], counts[i], n)
		}
	}
	dst, err := layoutDst("unslice", dst, src.dtype, shape)
	if err != nil || empty {
		return dst, err
	}
	ds, off := layoutSliceStrides(shape, starts, steps)
	layoutFor(src.data).copyStrided(dst.data, off, src.data, 0, layoutSimplify(counts, ds, Strides(counts)))
	return dst, nil
}

// PadGrad sets dst, a row-major array of the given shape, to the gradient of the source of
// Pad(_, _, shape, begins, ends, mode, _) for src, the gradient of its result: in PadConstant
// mode the part of src the input was copied to (cropped cells get zero), in the other modes
// that part plus every padded cell added back onto the cell it copies. It panics
// on inconsistent arguments, as Pad does.
func PadGrad[T Number](dst, src []T, shape, begins, ends []int, mode PadMode) {
	srcAt, dstAt, keep, out, err := layoutPadGeometry(shape, begins, ends)
	if err != nil {
		panic("tensor.PadGrad: " + err.Error())
	}
	if len(dst) != Size(shape) || len(src) != Size(out) {
		panic(fmt.Sprintf("tensor.PadGrad: shape %v padded to %v, dst has %d elements, src %d", shape, out, len(dst), len(src)))
	}
	if mode > PadWrap {
		panic(fmt.Sprintf("tensor.PadGrad: unknown mode %v", mode))
	}
	if mode != PadConstant {
		for i := range shape {
			if keep[i] == 0 && out[i] > 0 {
				panic(fmt.Sprintf("tensor.PadGrad: %v mode cannot fill axis %d of %v: nothing of it is kept", mode, i, shape))
			}
		}
	}
	clear(dst)
	layoutPadGrad(dst, src, shape, srcAt, dstAt, keep, out, mode)
}

// layoutPadGrad runs a validated PadGrad into a zeroed dst.
func layoutPadGrad[T Number](dst, src []T, shape, srcAt, dstAt, keep, out []int, mode PadMode) {
	if len(dst) == 0 || len(src) == 0 {
		return
	}
	if mode == PadConstant {
		ds, ss := make([]int, len(shape)), make([]int, len(shape))
		inStr, outStr := Strides(shape), Strides(out)
		do, so := 0, 0
		for i := range shape {
			ds[i], ss[i] = inStr[i], outStr[i]
			do += srcAt[i] * inStr[i]
			so += dstAt[i] * outStr[i]
		}
		CopyStrided(dst, do, ds, src, so, ss, keep)
		return
	}
	// Pad's result at (p0, p1, ...) is its source at (m0(p0), m1(p1), ...), one map per axis
	// (layoutPadSource), so the adjoint folds one axis at a time: every cell along the axis
	// is added onto the cell it maps to. Axes without pads map one to one and are skipped.
	var axes []int
	for a := range shape {
		if out[a] != shape[a] || dstAt[a] != srcAt[a] {
			axes = append(axes, a)
		}
	}
	if len(axes) == 0 {
		copy(dst, src)
		return
	}
	cur, curShape := src, append([]int(nil), out...)
	for i, a := range axes {
		to := make([]int, curShape[a])
		for p := range to {
			to[p] = srcAt[a] + layoutPadSource(p-dstAt[a], keep[a], mode)
		}
		curShape[a] = shape[a]
		next := dst
		if i < len(axes)-1 {
			next = make([]T, Size(curShape))
		}
		layoutFoldAxis(next, cur, Size(curShape[:a]), len(to), shape[a], Size(curShape[a+1:]), to)
		cur = next
	}
}

// layoutFoldAxis adds, for each of outer blocks, row p of src (rows of inner elements, n of
// them per block) onto row to[p] of dst (m rows per block), skipping rows mapped to -1. dst
// must start zeroed. The work is split over blocks and, when there are few, over each row's
// elements too, so that no two goroutines write one element.
func layoutFoldAxis[T Number](dst, src []T, outer, n, m, inner int, to []int) {
	cuts := layoutCuts(outer, inner, outer*n*inner)
	layoutParallel(outer*cuts, outer*n*inner, func(lo, hi int) {
		for item := lo; item < hi; item++ {
			o, c := item/cuts, item%cuts
			if inner == 1 { // the last axis: single elements, not worth slicing
				d, s := dst[o*m:(o+1)*m], src[o*n:(o+1)*n]
				for p, q := range to {
					if q >= 0 {
						d[q] += s[p]
					}
				}
				continue
			}
			i0, i1 := inner*c/cuts, inner*(c+1)/cuts
			for p, q := range to {
				if q < 0 {
					continue
				}
				d := dst[(o*m+q)*inner+i0 : (o*m+q)*inner+i1]
				s := src[(o*n+p)*inner+i0 : (o*n+p)*inner+i1]
				for i, v := range s {
					d[i] += v
				}
			}
		}
	})
}

// layoutCuts says into how many pieces to cut rows of inner elements so that outer blocks of
// them give every goroutine a share of work elements: none when the blocks alone suffice.
func layoutCuts(outer, inner, work int) int {
	threads := parallel.Procs()
	if outer >= threads || work < 2*layoutParallelWork {
		return 1
	}
	const minRun = 1 << 10 // shorter runs cost more in bookkeeping than they save
	return max(1, min((threads+outer-1)/outer, inner/minRun))
}

// PadGradTensor returns the gradient of the source of PadTensor(_, src, begins, ends, mode, _)
// where src has the given shape, for grad, the gradient of the padded result (see PadGrad),
// written into dst, or a new tensor if dst is nil. In PadConstant mode any dtype is accepted
// (only copies are involved); the other modes add, in float32 and float64 and, for float16 and
// bfloat16, in float32 with one rounding at the end.
func PadGradTensor(dst, grad *Tensor, shape, begins, ends []int, mode PadMode) (*Tensor, error) {
	srcAt, dstAt, keep, out, err := layoutPadGeometry(shape, begins, ends)
	if err != nil {
		return nil, fmt.Errorf("tensor: pad gradient for %s: %w", ShapeString(shape), err)
	}
	if !EqualShapes(grad.shape, out) {
		return nil, fmt.Errorf("tensor: pad gradient for %s: got %v, the padded shape is %s", ShapeString(shape), grad, ShapeString(out))
	}
	if mode > PadWrap {
		return nil, fmt.Errorf("tensor: pad gradient for %s: unknown mode %v", ShapeString(shape), mode)
	}
	if mode != PadConstant {
		for i := range keep {
			if keep[i] == 0 && out[i] > 0 {
				return nil, fmt.Errorf("tensor: %v pad gradient for %s: axis %d has no cells left to copy from", mode, ShapeString(shape), i)
			}
		}
	}
	fresh := dst == nil
	dst, err = layoutDst("pad gradient", dst, grad.dtype, shape)
	if err != nil {
		return nil, err
	}
	if !fresh {
		layoutZero(dst)
	}
	if mode == PadConstant {
		if dst.Len() > 0 && grad.Len() > 0 {
			inStr, outStr := Strides(shape), Strides(out)
			do, so := 0, 0
			for i := range shape {
				do += srcAt[i] * inStr[i]
				so += dstAt[i] * outStr[i]
			}
			layoutFor(grad.data).copyStrided(dst.data, do, grad.data, so, layoutSimplify(keep, inStr, outStr))
		}
		return dst, nil
	}
	err = layoutGradFloat("pad gradient", dst, grad, func(d, s any) {
		switch d := d.(type) {
		case []float32:
			layoutPadGrad(d, s.([]float32), shape, srcAt, dstAt, keep, out, mode)
		case []float64:
			layoutPadGrad(d, s.([]float64), shape, srcAt, dstAt, keep, out, mode)
		}
	})
	return dst, err
}

// GatherGrad sets dst, for each of outer blocks of axisDim rows of inner elements, to the sum
// of the rows of src (outer blocks of len(indices) rows) gathered from each row: the gradient
// of Gather's source for src, the gradient of its result. Rows named by several indices get
// the sum of their gradients, rows named by none zero. It panics if an index is outside
// [0, axisDim) or a slice has the wrong length.
func GatherGrad[T Number](dst, src []T, outer, axisDim, inner int, indices []int) {
	if outer < 0 || axisDim < 0 || inner < 0 || len(dst) != outer*axisDim*inner || len(src) != outer*len(indices)*inner {
		panic(fmt.Sprintf("tensor.GatherGrad: outer %d, axis %d, inner %d, %d indices, dst of %d, src of %d", outer, axisDim, inner, len(indices), len(dst), len(src)))
	}
	for _, ix := range indices {
		if ix < 0 || ix >= axisDim {
			panic(fmt.Sprintf("tensor.GatherGrad: index %d is outside [0, %d)", ix, axisDim))
		}
	}
	clear(dst)
	layoutFoldAxis(dst, src, outer, len(indices), axisDim, inner, indices)
}

// GatherGradTensor returns the gradient of the source of GatherTensor(_, src, axis, indices),
// where src has the given shape, for grad, the gradient of the gathered result (see
// GatherGrad), written into dst, or a new tensor if dst is nil. It adds in float32 and float64
// and, for float16 and bfloat16, in float32 with one rounding at the end.
func GatherGradTensor(dst, grad *Tensor, shape []int, axis int, indices *Tensor) (*Tensor, error) {
	r := len(shape)
	if axis < -r || axis >= r {
		return nil, fmt.Errorf("tensor: gather gradient for %s: axis %d is out of range for rank %d", ShapeString(shape), axis, r)
	}
	if axis < 0 {
		axis += r
	}
	if indices.dtype != Int32 && indices.dtype != Int64 {
		return nil, fmt.Errorf("tensor: gather gradient for %s: indices are %v, want int32 or int64", ShapeString(shape), indices)
	}
	n := shape[axis]
	var idx []int
	var err error
	if i32, ok := indices.data.([]int32); ok {
		idx, err = layoutIndices(i32, n)
	} else {
		idx, err = layoutIndices(indices.data.([]int64), n)
	}
	if err != nil {
		return nil, fmt.Errorf("tensor: gather gradient for %s along axis %d: %w", ShapeString(shape), axis, err)
	}
	out := append(append(append([]int(nil), shape[:axis]...), indices.shape...), shape[axis+1:]...)
	if !EqualShapes(grad.shape, out) {
		return nil, fmt.Errorf("tensor: gather gradient for %s: got %v, the gathered shape is %s", ShapeString(shape), grad, ShapeString(out))
	}
	fresh := dst == nil
	if dst, err = layoutDst("gather gradient", dst, grad.dtype, shape); err != nil {
		return nil, err
	}
	if !fresh {
		layoutZero(dst)
	}
	outer, inner := Size(shape[:axis]), Size(shape[axis+1:])
	err = layoutGradFloat("gather gradient", dst, grad, func(d, s any) {
		switch d := d.(type) {
		case []float32:
			layoutFoldAxis(d, s.([]float32), outer, len(idx), n, inner, idx)
		case []float64:
			layoutFoldAxis(d, s.([]float64), outer, len(idx), n, inner, idx)
		}
	})
	return dst, err
}

// TileGrad sets dst, a row-major array of the given shape, to the sum over the tiles of src,
// the row-major result of Tile(_, _, shape, repeats): the gradient of Tile's source for the
// gradient of its result. Floats are accumulated in float64. It panics on a negative repeat or
// a slice of the wrong length.
func TileGrad[T Number](dst, src []T, shape, repeats []int) {
	r := len(shape)
	if len(repeats) != r || len(dst) != Size(shape) {
		panic(fmt.Sprintf("tensor.TileGrad: shape %v, repeats %v, dst of %d", shape, repeats, len(dst)))
	}
	tiled := make([]int, 2*r) // the result seen as [repeats[0], shape[0], repeats[1], ...]
	kept := make([]int, 2*r)
	for i, n := range shape {
		if repeats[i] < 0 {
			panic(fmt.Sprintf("tensor.TileGrad: negative repeat in %v", repeats))
		}
		tiled[2*i], tiled[2*i+1] = repeats[i], n
		kept[2*i], kept[2*i+1] = 1, n
	}
	if len(src) != Size(tiled) {
		panic(fmt.Sprintf("tensor.TileGrad: src has %d elements, %v tiled %v times has %d", len(src), shape, repeats, Size(tiled)))
	}
	if len(dst) == 0 {
		return
	}
	if len(src) == 0 {
		clear(dst) // no tiles: nothing reached the source
		return
	}
	SumTo(dst, kept, src, tiled)
}

// TileGradTensor returns the gradient of the source of TileTensor(_, src, repeats), where src
// has the given shape, for grad, the gradient of the tiled result (see TileGrad), written into
// dst, or a new tensor if dst is nil. It adds in float64 for float32 and float64 tensors and,
// for float16 and bfloat16, through float32.
func TileGradTensor(dst, grad *Tensor, shape, repeats []int) (*Tensor, error) {
	r := len(shape)
	if len(repeats) != r {
		return nil, fmt.Errorf("tensor: tile gradient for %s: %d repeats %v for rank %d", ShapeString(shape), len(repeats), repeats, r)
	}
	out := make([]int, r)
	for i, n := range shape {
		if repeats[i] < 0 {
			return nil, fmt.Errorf("tensor: tile gradient for %s: negative repeat in %v", ShapeString(shape), repeats)
		}
		out[i] = n * repeats[i]
	}
	if !EqualShapes(grad.shape, out) {
		return nil, fmt.Errorf("tensor: tile gradient for %s: got %v, the tiled shape is %s", ShapeString(shape), grad, ShapeString(out))
	}
	dst, err := layoutDst("tile gradient", dst, grad.dtype, shape)
	if err != nil {
		return nil, err
	}
	err = layoutGradFloat("tile gradient", dst, grad, func(d, s any) {
		switch d := d.(type) {
		case []float32:
			TileGrad(d, s.([]float32), shape, repeats)
		case []float64:
			TileGrad(d, s.([]float64), shape, repeats)
		}
	})
	return dst, err
}

// DropoutGrad sets dst to the gradient of inverted dropout's input for grad, the gradient of
// its result: grad times scale (1/(1-ratio)) where keep is true, zero where the element was
// dropped. It panics if the slices' lengths differ.
func DropoutGrad[T Float](dst, grad []T, keep []bool, scale T) {
	if len(dst) != len(grad) || len(keep) != len(grad) {
		panic(fmt.Sprintf("tensor.DropoutGrad: dst of %d, grad of %d, keep of %d", len(dst), len(grad), len(keep)))
	}
	ewSplit(len(dst), func(lo, hi int) {
		d, g, k := dst[lo:hi], grad[lo:hi], keep[lo:hi]
		for i, v := range g {
			if k[i] {
				d[i] = v * scale
			} else {
				d[i] = 0
			}
		}
	})
}

// DropoutGradTensor returns the gradient of the input of inverted dropout with the given ratio
// for grad, the gradient of its result, written into dst, or a new tensor if dst is nil. mask
// has grad's shape and says which elements were kept: a bool tensor, or one of any numeric
// dtype whose non-zero elements were kept (ONNX's pre-opset-10 mask, or dropout's own result,
// which is non-zero exactly where a non-zero input was kept). The scale 1/(1-ratio) is
// computed in the gradient's precision as the forward kernel computes it; a ratio of 1 drops
// everything and gives zeros.
func DropoutGradTensor(dst, grad, mask *Tensor, ratio float32) (*Tensor, error) {
	if !EqualShapes(grad.shape, mask.shape) {
		return nil, fmt.Errorf("tensor: dropout gradient: gradient %v and mask %v differ in shape", grad, mask)
	}
	if ratio < 0 || ratio > 1 {
		return nil, fmt.Errorf("tensor: dropout gradient: ratio %v is outside [0, 1]", ratio)
	}
	dst, err := layoutDst("dropout gradient", dst, grad.dtype, grad.shape)
	if err != nil {
		return nil, err
	}
	if ratio == 1 {
		layoutZero(dst)
		return dst, nil
	}
	keep, ok := mask.data.([]bool)
	if !ok {
		m, err := CastTensor(nil, mask, Bool)
		if err != nil {
			return nil, fmt.Errorf("tensor: dropout gradient: %w", err)
		}
		keep = m.data.([]bool)
	}
	err = layoutGradFloat("dropout gradient", dst, grad, func(d, s any) {
		switch d := d.(type) {
		case []float32:
			DropoutGrad(d, s.([]float32), keep, 1/(1-ratio))
		case []float64:
			DropoutGrad(d, s.([]float64), keep, 1/(1-float64(ratio)))
		}
	})
	return dst, err
}

// layoutGradFloat runs f on the backing slices of dst and grad, which share a dtype: directly
// for float32 and float64, through float32 copies for float16 and bfloat16 (rounding once, at
// the end; f's dst is then a zeroed float32 buffer, so a zeroed dst stays a zeroed dst). It
// fails for non-float dtypes, which carry no gradients.
func layoutGradFloat(fn string, dst, grad *Tensor, f func(dst, src any)) error {
	if dst.dtype != grad.dtype {
		return fmt.Errorf("tensor: %s: dst is %v, the gradient %v", fn, dst, grad)
	}
	switch grad.dtype {
	case Float32, Float64:
		f(dst.data, grad.data)
		return nil
	case Float16, BFloat16:
		g, err := CastTensor(nil, grad, Float32)
		if err != nil {
			return err
		}
		d := New(Float32, dst.shape...)
		f(d.data, g.data)
		_, err = CastTensor(dst, d, dst.dtype)
		return err
	}
	return fmt.Errorf("tensor: %s: %v is not a floating-point gradient", fn, grad)
}

// layoutZero sets every element of t to zero.
func layoutZero(t *Tensor) {
	switch d := t.data.(type) {
	case []float32:
		clear(d)
	case []float64:
		clear(d)
	case []uint16:
		clear(d)
	case []int8:
		clear(d)
	case []int16:
		clear(d)
	case []int32:
		clear(d)
	case []int64:
		clear(d)
	case []uint8:
		clear(d)
	case []uint32:
		clear(d)
	case []uint64:
		clear(d)
	case []bool:
		clear(d)
	}
}
