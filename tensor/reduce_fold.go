package tensor

import "math"

// The reductions that are not sums: ReduceMax, ReduceMin and ReduceProd, each a fold of the
// reduced elements from an identity value.

// ReduceMax sets dst to the maxima of src, of the given shape, over the given axes (as
// ReduceSum takes them); a NaN among the elements makes their maximum NaN, and an empty
// reduction gives the lowest value of T (-Inf for floats), as ONNX's ReduceMax does.
func ReduceMax[T Number](dst, src []T, shape, axes []int) {
	reduceFold(dst, src, shape, axes, lowestOf[T](), func(a, v T) T { return max(a, v) })
}

// ReduceMin is ReduceMax for minima; an empty reduction gives the highest value of T.
func ReduceMin[T Number](dst, src []T, shape, axes []int) {
	reduceFold(dst, src, shape, axes, highestOf[T](), func(a, v T) T { return min(a, v) })
}

// ReduceProd sets dst to the products of src over the axes (1 for an empty reduction).
// Floats are multiplied in float64, integers in their own type (wrapping).
func ReduceProd[T Number](dst, src []T, shape, axes []int) {
	if isInteger[T]() {
		reduceFold(dst, src, shape, axes, T(1), func(a, v T) T { return a * v })
		return
	}
	acc := make([]float64, len(dst))
	for i := range acc {
		acc[i] = 1
	}
	bc := reduceBroadcast(len(dst), src, shape, axes)
	bc.forRange(0, bc.n, func(o int, off []int, n int) {
		s := src[o : o+n]
		if bc.innerStride(1) == 0 {
			p := acc[off[1]]
			for _, v := range s {
				p *= float64(v)
			}
			acc[off[1]] = p
			return
		}
		a := acc[off[1] : off[1]+n]
		for i, v := range s {
			a[i] *= float64(v)
		}
	})
	for i, v := range acc {
		dst[i] = T(v)
	}
}

// reduceFold sets every element of dst to init and folds into it, with f, each element of src
// that the reduction over axes sends there.
func reduceFold[T Number](dst, src []T, shape, axes []int, init T, f func(acc, v T) T) {
	bc := reduceBroadcast(len(dst), src, shape, axes)
	for i := range dst {
		dst[i] = init
	}
	bc.forRange(0, bc.n, func(o int, off []int, n int) {
		s := src[o : o+n]
		if bc.innerStride(1) == 0 {
			a := dst[off[1]]
			for _, v := range s {
				a = f(a, v)
			}
			dst[off[1]] = a
			return
		}
		a := dst[off[1] : off[1]+n]
		for i, v := range s {
			a[i] = f(a[i], v)
		}
	})
}

// reduceBroadcast maps src, of shape, onto a dst of dstLen elements holding its reduction over
// axes (operand 0 is src, operand 1 dst); it panics when the lengths do not fit.
func reduceBroadcast[T Number](dstLen int, src []T, shape, axes []int) *Broadcast {
	keep := reduceKeep(shape, axes)
	bc, err := NewBroadcast(shape, keep)
	if err != nil {
		panic(err.Error())
	}
	bc.check(len(src), len(src), dstLen)
	if dstLen != Size(keep) {
		panic("tensor: reduction output of the wrong length")
	}
	return bc
}

// lowestOf returns the lowest value of T: -Inf for floats.
func lowestOf[T Number]() T {
	var z T
	switch p := any(&z).(type) {
	case *float32:
		*p = float32(math.Inf(-1))
	case *float64:
		*p = math.Inf(-1)
	case *int8:
		*p = math.MinInt8
	case *int16:
		*p = math.MinInt16
	case *int32:
		*p = math.MinInt32
	case *int64:
		*p = math.MinInt64
	}
	return z // unsigned: 0
}

// highestOf returns the highest value of T: +Inf for floats.
func highestOf[T Number]() T {
	var z T
	switch p := any(&z).(type) {
	case *float32:
		*p = float32(math.Inf(1))
	case *float64:
		*p = math.Inf(1)
	case *int8:
		*p = math.MaxInt8
	case *int16:
		*p = math.MaxInt16
	case *int32:
		*p = math.MaxInt32
	case *int64:
		*p = math.MaxInt64
	case *uint8:
		*p = math.MaxUint8
	case *uint16:
		*p = math.MaxUint16
	case *uint32:
		*p = math.MaxUint32
	case *uint64:
		*p = math.MaxUint64
	}
	return z
}
