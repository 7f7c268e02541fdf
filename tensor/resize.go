package tensor

import "fmt"

// ResizeAxis is a 1-D interpolation along one axis, which a resize applies axis after axis:
// output o of Out is Fill where Outside[o] is set (tf_crop_and_resize's extrapolation), else
// the sum over k < Taps of W[o·Taps+k] times input Idx[o·Taps+k] (each in [0, In)).
type ResizeAxis struct {
	In, Out, Taps int
	Idx           []int
	W             []float64
	Outside       []bool // nil: none
	Fill          float64
}

// Identity reports whether r copies its input unchanged.
func (r *ResizeAxis) Identity() bool {
	if r.In != r.Out || r.Outside != nil {
		return false
	}
	for o := range r.Out {
		for k := range r.Taps {
			i, w := r.Idx[o*r.Taps+k], r.W[o*r.Taps+k]
			if w != 0 && (i != o || w != 1) {
				return false
			}
		}
	}
	return true
}

// resizeBlocks splits shape around axis: outer blocks, each of the axis's cells, each a run of
// inner contiguous elements.
func resizeBlocks(shape []int, axis int) (outer, inner int) {
	return Size(shape[:axis]), Size(shape[axis+1:])
}

// ResizeApply interpolates src, of the given shape (with r.In at axis), along axis into dst
// (with r.Out there).
func ResizeApply[T Float](dst, src []T, shape []int, axis int, r *ResizeAxis) {
	outer, inner := resizeBlocks(shape, axis)
	if shape[axis] != r.In || len(src) < outer*r.In*inner || len(dst) < outer*r.Out*inner {
		panic(fmt.Sprintf("tensor.ResizeApply: %v along axis %d for %d -> %d", shape, axis, r.In, r.Out))
	}
	for b := range outer {
		s := src[b*r.In*inner:]
		d := dst[b*r.Out*inner:]
		for o := range r.Out {
			row := d[o*inner : (o+1)*inner]
			if r.Outside != nil && r.Outside[o] {
				for j := range row {
					row[j] = T(r.Fill)
				}
				continue
			}
			clear(row)
			for k := range r.Taps {
				w := T(r.W[o*r.Taps+k])
				if w == 0 {
					continue
				}
				in := s[r.Idx[o*r.Taps+k]*inner:][:inner]
				for j, v := range in {
					row[j] += w * v
				}
			}
		}
	}
}

// ResizeApplyGrad adds to dsrc (with r.In at axis of shape) the gradient of ResizeApply's
// input given its output's gradient g (with r.Out there): the transposed interpolation.
func ResizeApplyGrad[T Float](dsrc, g []T, shape []int, axis int, r *ResizeAxis) {
	outer, inner := resizeBlocks(shape, axis)
	if shape[axis] != r.In || len(dsrc) < outer*r.In*inner || len(g) < outer*r.Out*inner {
		panic(fmt.Sprintf("tensor.ResizeApplyGrad: %v along axis %d for %d -> %d", shape, axis, r.In, r.Out))
	}
	for b := range outer {
		d := dsrc[b*r.In*inner:]
		gs := g[b*r.Out*inner:]
		for o := range r.Out {
			if r.Outside != nil && r.Outside[o] {
				continue
			}
			row := gs[o*inner : (o+1)*inner]
			for k := range r.Taps {
				w := T(r.W[o*r.Taps+k])
				if w == 0 {
					continue
				}
				acc := d[r.Idx[o*r.Taps+k]*inner:][:inner]
				for j, v := range row {
					acc[j] += w * v
				}
			}
		}
	}
}
