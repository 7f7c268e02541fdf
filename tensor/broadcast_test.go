package tensor

import (
	"fmt"
	"math/rand"
	"runtime"
	"testing"
)

// naiveOffset is the textbook broadcast index: the offset in an operand of shape s of the
// output element at multi-index idx (aligned from the right, size-1 dimensions pinned at 0).
func naiveOffset(s, idx []int) int {
	off, stride := 0, 1
	for i := len(s) - 1; i >= 0; i-- {
		j := idx[len(idx)-len(s)+i]
		if s[i] == 1 {
			j = 0
		}
		off += j * stride
		stride *= s[i]
	}
	return off
}

// unravel turns a flat row-major offset into a multi-index of shape.
func unravel(o int, shape []int) []int {
	idx := make([]int, len(shape))
	for i := len(shape) - 1; i >= 0; i-- {
		if shape[i] > 0 {
			idx[i] = o % shape[i]
			o /= shape[i]
		}
	}
	return idx
}

var broadcastCases = [][][]int{
	{{2, 3, 4}, {2, 3, 4}},
	{{2, 3, 4}, {4}},
	{{2, 3, 4}, {}},
	{{}, {2, 3, 4}},
	{{}, {}},
	{{1}, {1, 1}},
	{{4, 3, 5, 6}, {3, 1, 1}}, // a per-channel bias
	{{3, 1, 1}, {4, 3, 5, 6}},
	{{2, 1, 4}, {3, 1}},
	{{8, 1, 6, 1}, {7, 1, 5}},
	{{5, 1}, {1, 6}},
	{{1, 6}, {5, 1}},
	{{2, 0, 3}, {1, 3}},
	{{3, 4}, {3, 1}, {1, 4}}, // three operands, as Where has
	{{2, 1, 3}, {}, {4, 1}},
	{{1, 1, 7}, {2, 3, 7}, {2, 1, 1}},
}

// TestBroadcastOffsets checks the simplified run walk against naiveOffset for every output
// element, starting from every possible split point so that pieces beginning inside a run
// are covered too.
func TestBroadcastOffsets(t *testing.T) {
	for _, shapes := range broadcastCases {
		b, err := NewBroadcast(shapes...)
		if err != nil {
			t.Fatalf("%v: %v", shapes, err)
		}
		for lo := 0; lo <= b.Len(); lo++ {
			next := lo
			b.forRange(lo, b.Len(), func(o int, off []int, n int) {
				if o != next || n <= 0 {
					t.Fatalf("%v from %d: piece at %d of %d, want it at %d", shapes, lo, o, n, next)
				}
				next = o + n
				for i := 0; i < n; i++ {
					idx := unravel(o+i, b.Shape())
					for k, s := range shapes {
						got := off[k] + i*b.innerStride(k)
						if want := naiveOffset(s, idx); got != want {
							t.Fatalf("%v from %d: element %d operand %d: got offset %d, want %d", shapes, lo, o+i, k, got, want)
						}
					}
				}
			})
			if next != b.Len() {
				t.Fatalf("%v from %d: pieces stop at %d of %d", shapes, lo, next, b.Len())
			}
		}
	}
}

// TestBroadcastSimplifies checks that the common CNN cases become the long runs the fast
// loops are for.
func TestBroadcastSimplifies(t *testing.T) {
	for _, c := range []struct {
		shapes [][]int
		dims   []int
	}{
		{[][]int{{8, 64, 56, 56}, {8, 64, 56, 56}}, []int{8 * 64 * 56 * 56}},
		{[][]int{{8, 64, 56, 56}, {}}, []int{8 * 64 * 56 * 56}},
		{[][]int{{8, 64, 56, 56}, {64, 1, 1}}, []int{8, 64, 56 * 56}},
		{[][]int{{8, 1, 64}, {64}}, []int{8, 64}},
		{[][]int{{1, 1}, {1}}, []int{1}},
	} {
		b, err := NewBroadcast(c.shapes...)
		if err != nil {
			t.Fatal(err)
		}
		if !EqualShapes(b.dims, c.dims) {
			t.Errorf("%v: got runs over %v, want %v", c.shapes, b.dims, c.dims)
		}
	}
}

func TestBroadcastRejects(t *testing.T) {
	if _, err := NewBroadcast([]int{2, 3}, []int{3, 2}); err == nil {
		t.Error("[2 3] and [3 2] broadcast")
	}
}

// fillSeq fills a slice with distinct values so that a wrong offset shows.
func fillSeq(n int, base float32) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = base + float32(i)
	}
	return s
}

// TestBinaryKernelsNaive runs the broadcasting kernels over the cases above and over large
// shapes that take the parallel path, against a per-element loop with naiveOffset.
func TestBinaryKernelsNaive(t *testing.T) {
	cases := [][][]int{}
	for _, s := range broadcastCases {
		if len(s) == 2 {
			cases = append(cases, s)
		}
	}
	cases = append(cases, [][]int{{3, 40, 700}, {40, 1}}, [][]int{{3, 40, 700}, {3, 40, 700}}, [][]int{{1, 700}, {60, 1}})
	type op struct {
		name string
		run  func(b *Broadcast, d, x, y []float32)
		ref  func(x, y float32) float32
	}
	ops := []op{
		{"add", Add[float32], func(x, y float32) float32 { return x + y }},
		{"sub", Sub[float32], func(x, y float32) float32 { return x - y }},
		{"mul", Mul[float32], func(x, y float32) float32 { return x * y }},
		{"div", Div[float32], func(x, y float32) float32 { return x / y }},
		{"max", Max[float32], func(x, y float32) float32 { return max(x, y) }},
		{"min", Min[float32], func(x, y float32) float32 { return min(x, y) }},
		{"prelu", PRelu[float32], func(x, y float32) float32 {
			if x < 0 {
				return x * y
			}
			return x
		}},
	}
	for _, shapes := range cases {
		b, err := NewBroadcast(shapes...)
		if err != nil {
			t.Fatal(err)
		}
		x := fillSeq(Size(shapes[0]), -100)
		y := fillSeq(Size(shapes[1]), 0.5)
		for _, o := range ops {
			d := make([]float32, b.Len())
			o.run(b, d, x, y)
			for i := range d {
				idx := unravel(i, b.Shape())
				want := o.ref(x[naiveOffset(shapes[0], idx)], y[naiveOffset(shapes[1], idx)])
				if d[i] != want {
					t.Fatalf("%s %v: element %d: got %v, want %v", o.name, shapes, i, d[i], want)
				}
			}
		}
		eq := make([]bool, b.Len())
		y2 := fillSeq(len(y), -100) // the same values as x's first ones: some pairs are equal
		Equal(b, eq, x, y2)
		ex := make([]float32, b.Len())
		Expand(b, ex, x)
		for i := range eq {
			idx := unravel(i, b.Shape())
			xi := x[naiveOffset(shapes[0], idx)]
			if want := xi == y2[naiveOffset(shapes[1], idx)]; eq[i] != want {
				t.Fatalf("equal %v: element %d: got %v, want %v", shapes, i, eq[i], want)
			}
			if ex[i] != xi {
				t.Fatalf("expand %v: element %d: got %v, want %v", shapes, i, ex[i], xi)
			}
		}
	}
}

func TestWhereNaive(t *testing.T) {
	for _, shapes := range broadcastCases {
		if len(shapes) != 3 {
			continue
		}
		b, err := NewBroadcast(shapes...)
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewSource(1))
		cond := make([]bool, Size(shapes[0]))
		for i := range cond {
			cond[i] = r.Intn(2) == 0
		}
		x, y := fillSeq(Size(shapes[1]), 0), fillSeq(Size(shapes[2]), 1000)
		d := make([]float32, b.Len())
		Where(b, d, cond, x, y)
		for i := range d {
			idx := unravel(i, b.Shape())
			want := y[naiveOffset(shapes[2], idx)]
			if cond[naiveOffset(shapes[0], idx)] {
				want = x[naiveOffset(shapes[1], idx)]
			}
			if d[i] != want {
				t.Fatalf("%v: element %d: got %v, want %v", shapes, i, d[i], want)
			}
		}
	}
}

// TestReduceNaive checks ReduceSum, ReduceMean and SumTo over every subset of axes, in
// float32 and int32, on a shape large enough for the parallel path, against float64 sums.
func TestReduceNaive(t *testing.T) {
	for _, shape := range [][]int{{3, 4, 5, 2}, {2, 1, 3}, {}, {0, 3}, {40, 3, 300}} {
		x := make([]float32, Size(shape))
		xi := make([]int32, len(x))
		r := rand.New(rand.NewSource(2))
		for i := range x {
			x[i] = float32(r.NormFloat64())
			xi[i] = int32(r.Intn(100) - 50)
		}
		for mask := 0; mask < 1<<len(shape); mask++ {
			var axes []int
			keep := append([]int(nil), shape...)
			for i := range shape {
				if mask&(1<<i) != 0 {
					axes = append(axes, i)
					keep[i] = 1
				}
			}
			want := make([]float64, Size(keep))
			wantI := make([]int64, len(want))
			for i := range x {
				o := naiveOffset(keep, unravel(i, shape))
				want[o] += float64(x[i])
				wantI[o] += int64(xi[i])
			}
			count := max(Size(shape), 1) / max(Size(keep), 1)
			name := fmt.Sprintf("%v over %v", shape, axes)
			sum, mean := make([]float32, len(want)), make([]float32, len(want))
			sumI, meanI := make([]int32, len(want)), make([]int32, len(want))
			ReduceSum(sum, x, shape, axes)
			ReduceMean(mean, x, shape, axes)
			ReduceSum(sumI, xi, shape, axes)
			ReduceMean(meanI, xi, shape, axes)
			to := make([]float32, len(want))
			SumTo(to, keep[mask&1:], x, shape) // with the leading dimension dropped too, when it is reduced
			for i := range want {
				if d := float64(sum[i]) - want[i]; d > 1e-4 || d < -1e-4 {
					t.Errorf("sum %s: element %d: got %v, want %v", name, i, sum[i], want[i])
				}
				if to[i] != sum[i] {
					t.Errorf("sumto %s: element %d: got %v, want %v", name, i, to[i], sum[i])
				}
				if count > 0 {
					if d := float64(mean[i]) - want[i]/float64(count); d > 1e-5 || d < -1e-5 {
						t.Errorf("mean %s: element %d: got %v, want %v", name, i, mean[i], want[i]/float64(count))
					}
					if meanI[i] != int32(wantI[i]/int64(count)) {
						t.Errorf("int mean %s: element %d: got %v, want %v", name, i, meanI[i], wantI[i]/int64(count))
					}
				}
				if int64(sumI[i]) != wantI[i] {
					t.Errorf("int sum %s: element %d: got %v, want %v", name, i, sumI[i], wantI[i])
				}
			}
		}
	}
}

// TestKernelLengthsPanic: a slice that does not fit the broadcast is a programming error.
func TestKernelLengthsPanic(t *testing.T) {
	b, _ := NewBroadcast([]int{2, 3}, []int{3})
	defer func() {
		if recover() == nil {
			t.Error("Add with a short operand did not panic")
		}
	}()
	Add(b, make([]float32, 6), make([]float32, 6), make([]float32, 2))
}

// TestParallelPanicReachesCaller: a panic on a helper goroutine (an integer division by zero
// in the first chunk) must surface on the caller's goroutine, where it can be recovered,
// instead of ending the process.
func TestParallelPanicReachesCaller(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	n := 4 * ewGrain
	a, d := make([]int32, n), make([]int32, n)
	b := make([]int32, n)
	for i := n / 4; i < n; i++ {
		b[i] = 1
	}
	bc, _ := NewBroadcast([]int{n}, []int{n})
	defer func() {
		if recover() == nil {
			t.Error("the division by zero did not reach the caller")
		}
	}()
	Div(bc, d, a, b)
}
