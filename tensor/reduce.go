package tensor

import "fmt"

// AllFinite reports whether v holds no NaN and no infinity. Its float64 sum tells: a sum of
// float32 values cannot overflow float64, so it is finite exactly when every value is; the
// sum runs on vector lanes where the CPU has them, at the pace of reading v.
func AllFinite(v []float32) bool {
	s := sumF64(v)
	return s-s == 0
}

// ReduceSum sets dst to the sums of src, of the given shape, over the given axes (each in
// [0, len(shape)), no repeats; none means no reduction). dst holds the kept dimensions in
// order, so its length is the product of the dimensions not reduced. Floats are accumulated
// in float64, integers in 64 bits (wrapping as their own type would). It panics if an axis
// is out of range or a slice's length does not fit the shape.
func ReduceSum[T Number](dst, src []T, shape, axes []int) {
	SumTo(dst, reduceKeep(shape, axes), src, shape)
}

// ReduceMean is ReduceSum divided by the number of elements each sum covers (truncating, for
// integers).
func ReduceMean[T Number](dst, src []T, shape, axes []int) {
	keep := reduceKeep(shape, axes)
	count := 1
	for i := range shape {
		if keep[i] != shape[i] {
			count *= shape[i]
		}
	}
	reduceTo(dst, keep, src, shape, count)
}

// reduceKeep is shape with the reduced axes set to 1: the keepdims output shape.
func reduceKeep(shape, axes []int) []int {
	keep := append([]int(nil), shape...)
	for _, a := range axes {
		if a < 0 || a >= len(shape) || keep[a] == 1 && shape[a] != 1 {
			panic(fmt.Sprintf("tensor: reduce %v over axes %v", shape, axes))
		}
		keep[a] = 1
	}
	return keep
}

// SumTo sets dst, of shape to, to the sum of src, of shape from, over the elements that
// broadcasting to onto from would copy to each one: the adjoint of Expand, which turns the
// gradient of a broadcast result into the gradient of the smaller operand. to must broadcast
// to from exactly (it may have fewer dimensions); SumTo panics otherwise, or if a slice's
// length does not fit its shape.
func SumTo[T Number](dst []T, to []int, src []T, from []int) {
	reduceTo(dst, to, src, from, 1)
}

// reduceTo is SumTo followed by a division of every sum by count.
func reduceTo[T Number](dst []T, to []int, src []T, from []int, count int) {
	bc, err := NewBroadcast(from, to)
	if err != nil || !EqualShapes(bc.shape, from) {
		panic(fmt.Sprintf("tensor: cannot sum %v down to %v", from, to))
	}
	bc.check(len(src), len(src), len(dst))
	if len(dst) != Size(to) {
		panic(fmt.Sprintf("tensor: sum to %v needs %d elements, got %d", to, Size(to), len(dst)))
	}
	if isInteger[T]() {
		reduceAcc[T, int64](bc, dst, src, count)
	} else {
		reduceAcc[T, float64](bc, dst, src, count)
	}
}

// reduceAcc accumulates src into a buffer of type A the size of dst, then stores the sums, over
// count, in dst. bc maps src (operand 0, the output shape) onto dst (operand 1).
func reduceAcc[T, A Number](bc *Broadcast, dst, src []T, count int) {
	acc := make([]A, len(dst))
	body := func(o int, off []int, n int) {
		s := src[o : o+n]
		if bc.innerStride(1) == 0 {
			acc[off[1]] += reduceRun[T, A](s)
			return
		}
		a := acc[off[1] : off[1]+n]
		for i, v := range s {
			a[i] += A(v)
		}
	}
	// Goroutines may only share the work when each one's sums are its own: when the
	// outermost dimension is kept, one slab of it maps to its own slab of dst.
	if outer := bc.dims[0]; bc.strides[1][0] != 0 {
		slab := bc.n / outer
		chunks := ewChunks(bc.n, outer)
		ewParallel(chunks, func(c int) {
			bc.forRange(slab*(outer*c/chunks), slab*(outer*(c+1)/chunks), body)
		})
	} else {
		bc.forRange(0, bc.n, body)
	}
	if count == 1 || count == 0 && isInteger[T]() { // an empty integer mean stays 0
		for i, v := range acc {
			dst[i] = T(v)
		}
		return
	}
	div := A(count)
	for i, v := range acc {
		dst[i] = T(v / div)
	}
}

// reduceRun sums a contiguous run into four independent accumulators, so that the adds do not
// wait on each other's latency.
func reduceRun[T, A Number](s []T) A {
	var s0, s1, s2, s3 A
	i := 0
	for ; i+4 <= len(s); i += 4 {
		s0 += A(s[i])
		s1 += A(s[i+1])
		s2 += A(s[i+2])
		s3 += A(s[i+3])
	}
	for ; i < len(s); i++ {
		s0 += A(s[i])
	}
	return (s0 + s1) + (s2 + s3)
}
