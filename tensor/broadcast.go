package tensor

import (
	"fmt"

	"github.com/onnxtune/onnxtune/internal/parallel"
)

// Broadcast maps the operands of an element-wise operation, each of its own shape, onto their
// numpy broadcast shape. It is computed once per call from the shapes alone and then drives
// the loops of every element-wise kernel (Add, Where, Expand, PRelu, the reductions).
//
// The output shape is simplified before any loop runs: size-1 dimensions are dropped and
// neighbouring dimensions that every operand walks contiguously are merged, so that
// [N,C,H,W]+[N,C,H,W] is one run of N*C*H*W elements and [N,C,H,W]+[C,1,1] (a per-channel bias)
// is N*C runs of H*W elements against one scalar each. The kernels then only ever see whole
// runs along which each operand either advances by one element or stays put.
type Broadcast struct {
	shape   []int   // the broadcast (output) shape
	n       int     // number of output elements
	dims    []int   // the simplified output shape, innermost last; never empty
	strides [][]int // per operand, its element stride along each of dims; 0 where broadcast
}

// NewBroadcast returns the broadcast of the given operand shapes, or an error naming them if
// they do not broadcast.
func NewBroadcast(shapes ...[]int) (*Broadcast, error) {
	out, err := BroadcastShapes(shapes...)
	if err != nil {
		return nil, err
	}
	n, err := SizeChecked(out)
	if err != nil {
		return nil, err
	}
	b := &Broadcast{shape: out, n: n, strides: make([][]int, len(shapes))}
	// Operand strides aligned to the output's dimensions, with size-1 output dimensions
	// dropped (every operand has size 1 there too).
	full := make([][]int, len(shapes))
	for k, s := range shapes {
		own := Strides(s)
		off := len(out) - len(s)
		full[k] = make([]int, 0, len(out))
		for i, d := range out {
			if d == 1 {
				continue
			}
			st := 0
			if j := i - off; j >= 0 && s[j] != 1 {
				st = own[j]
			}
			full[k] = append(full[k], st)
		}
	}
	for _, d := range out {
		if d != 1 {
			b.dims = append(b.dims, d)
		}
	}
	if len(b.dims) == 0 || n == 0 {
		// A scalar output, or an empty one: a single run (of one or no elements) whose
		// operands all sit at offset 0.
		b.dims = []int{n}
		for k := range b.strides {
			b.strides[k] = []int{0}
		}
		return b, nil
	}
	// Merge dimension i into i+1 wherever every operand's stride over i is its stride over
	// i+1 times the size of i+1: then the pair is one longer dimension for all of them.
	dims := []int{b.dims[len(b.dims)-1]}
	strides := make([][]int, len(shapes))
	for k := range strides {
		strides[k] = []int{full[k][len(b.dims)-1]}
	}
	for i := len(b.dims) - 2; i >= 0; i-- {
		merge := true
		for k := range strides {
			if full[k][i] != strides[k][0]*dims[0] {
				merge = false
				break
			}
		}
		if merge {
			dims[0] *= b.dims[i]
			continue
		}
		dims = append([]int{b.dims[i]}, dims...)
		for k := range strides {
			strides[k] = append([]int{full[k][i]}, strides[k]...)
		}
	}
	b.dims, b.strides = dims, strides
	return b, nil
}

// Shape returns the broadcast (output) shape. The slice belongs to b: do not modify it.
func (b *Broadcast) Shape() []int { return b.shape }

// Len returns the number of output elements.
func (b *Broadcast) Len() int { return b.n }

// Operands returns the number of operand shapes b was built from.
func (b *Broadcast) Operands() int { return len(b.strides) }

// inner is the length of every run.
func (b *Broadcast) inner() int { return b.dims[len(b.dims)-1] }

// innerStride is operand k's step along a run: 1, or 0 when it is broadcast along it.
func (b *Broadcast) innerStride(k int) int { return b.strides[k][len(b.dims)-1] }

// forRange calls fn(o, off, n) for the output elements lo..hi-1, cut at run boundaries, in
// order: o is the output offset of a piece of n elements, off[k] that of operand k at o.
// Along a piece operand k advances by innerStride(k). off is reused between calls.
func (b *Broadcast) forRange(lo, hi int, fn func(o int, off []int, n int)) {
	if lo >= hi {
		return
	}
	outer := b.dims[:len(b.dims)-1]
	inner := b.inner()
	off := make([]int, len(b.strides))
	idx := make([]int, len(outer))
	// Decompose the first run's index into the outer coordinates once; the odometer below
	// then advances them incrementally.
	r := lo / inner
	for i := len(outer) - 1; i >= 0; i-- {
		idx[i] = r % outer[i]
		r /= outer[i]
		for k, s := range b.strides {
			off[k] += idx[i] * s[i]
		}
	}
	if skip := lo % inner; skip > 0 {
		// The range starts inside a run: hand out its tail first, from shifted offsets.
		n := min(inner-skip, hi-lo)
		cur := make([]int, len(off))
		for k := range cur {
			cur[k] = off[k] + skip*b.innerStride(k)
		}
		fn(lo, cur, n)
		lo += n
		b.advance(idx, off)
	}
	for o := lo; o < hi; o += inner {
		fn(o, off, min(inner, hi-o))
		b.advance(idx, off)
	}
}

// advance moves the outer coordinates idx, and the operand offsets off with them, to the next
// run.
func (b *Broadcast) advance(idx, off []int) {
	for i := len(idx) - 1; i >= 0; i-- {
		idx[i]++
		for k, s := range b.strides {
			off[k] += s[i]
		}
		if idx[i] < b.dims[i] {
			return
		}
		for k, s := range b.strides {
			off[k] -= idx[i] * s[i]
		}
		idx[i] = 0
	}
}

// each calls fn over the whole output as forRange does, spreading contiguous element ranges
// over goroutines when the output is large enough to pay for them. Pieces never overlap, so
// fn may write its part of the output without synchronisation.
func (b *Broadcast) each(fn func(o int, off []int, n int)) {
	chunks := ewChunks(b.n, b.n)
	ewParallel(chunks, func(c int) {
		b.forRange(b.n*c/chunks, b.n*(c+1)/chunks, fn)
	})
}

// check panics unless every slice has the length its role needs: dst the output's, operand
// k at least one past the largest offset its strides reach. A negative length marks an
// operand the caller does not read.
func (b *Broadcast) check(dst int, ops ...int) {
	if dst != b.n {
		panic(fmt.Sprintf("tensor: broadcast to %v needs %d output elements, got %d", b.shape, b.n, dst))
	}
	if len(ops) != len(b.strides) {
		panic(fmt.Sprintf("tensor: broadcast built for %d operands, got %d", len(b.strides), len(ops)))
	}
	if b.n == 0 {
		return
	}
	for k, have := range ops {
		if have < 0 {
			continue
		}
		need := 1
		for i, s := range b.strides[k] {
			need += (b.dims[i] - 1) * s
		}
		if have < need {
			panic(fmt.Sprintf("tensor: broadcast operand %d needs at least %d elements, got %d", k, need, have))
		}
	}
}

// ewGrain is the least number of elements worth handing to a goroutine: starting and joining
// one costs about a microsecond, the time a simple element-wise loop takes over a few
// thousand elements.
const ewGrain = 16 << 10

// ewChunks says how many parallel pieces n elements (in units pieces at most) are worth.
func ewChunks(n, units int) int {
	if n < 2*ewGrain || units < 2 {
		return 1 // not worth a goroutine; and GOMAXPROCS(0) takes the scheduler's lock
	}
	c := min(parallel.Procs(), n/ewGrain, units)
	return max(c, 1)
}

// ewParallel calls fn(0..chunks-1), each on a goroutine of its own (the caller's among
// them); a panic in any comes back to the caller, where the graph's recover can turn it into
// an error.
func ewParallel(chunks int, fn func(c int)) {
	parallel.For(chunks, chunks, fn)
}

// ewSplit runs fn over [0, n) cut into contiguous ranges, in parallel when n is large.
func ewSplit(n int, fn func(lo, hi int)) {
	chunks := ewChunks(n, n)
	ewParallel(chunks, func(c int) { fn(n*c/chunks, n*(c+1)/chunks) })
}

// Expand copies src, operand 0 of b, into dst of b's output shape: ONNX Expand, or any
// operand materialised at the broadcast shape. It panics if the slice lengths do not match b.
func Expand[T any](b *Broadcast, dst, src []T) {
	lens := make([]int, b.Operands())
	for k := range lens {
		lens[k] = -1 // the other operands (the target shape) only shaped the output
	}
	lens[0] = len(src)
	b.check(len(dst), lens...)
	if b.innerStride(0) == 1 {
		b.each(func(o int, off []int, n int) { copy(dst[o:o+n], src[off[0]:off[0]+n]) })
		return
	}
	b.each(func(o int, off []int, n int) {
		v := src[off[0]]
		d := dst[o : o+n]
		for i := range d {
			d[i] = v
		}
	})
}
