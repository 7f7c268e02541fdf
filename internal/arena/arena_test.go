package arena

import (
	"runtime"
	"testing"
	"unsafe"

	"github.com/onnxtune/onnxtune/tensor"
)

// TestUninitialized checks that the unzeroed buffers are separate heap objects of the
// requested length that stay alive, and keep what was written, across collections while only
// the []float32 refers to them.
func TestUninitialized(t *testing.T) {
	sizes := []int{0, 1, 2, 3, 7, 100, 1000, 1 << 16, 1<<20 + 3}
	bufs := make([][]float32, len(sizes))
	for i, n := range sizes {
		b := Uninitialized(n)
		if len(b) != n {
			t.Fatalf("Uninitialized(%d) has length %d", n, len(b))
		}
		if n > 0 && uintptr(unsafe.Pointer(&b[0]))%4 != 0 {
			t.Fatalf("Uninitialized(%d) is not aligned for float32", n)
		}
		for j := range b {
			b[j] = float32(i*7 + j)
		}
		bufs[i] = b
	}
	for range 3 {
		runtime.GC()
		_ = make([]byte, 1<<20) // reuse whatever a wrongly freed buffer left behind
	}
	for i, b := range bufs {
		for j, v := range b {
			if v != float32(i*7+j) {
				t.Fatalf("buffer %d (%d elements), element %d: got %v after GC, wrote %v", i, len(b), j, v, float32(i*7+j))
			}
		}
	}
}

func same(a, b []float32) bool { return &a[:cap(a)][cap(a)-1] == &b[:cap(b)][cap(b)-1] }

// TestArenaRecycles checks which requests a dropped buffer serves: one at most Slack times
// smaller, the smallest idle buffer that fits, and never one still shared by a live value.
func TestArenaRecycles(t *testing.T) {
	a := New()
	big := tensor.From([]int{100}, a.Floats(100))
	view := tensor.From([]int{10}, big.Float32s()[90:]) // shares big's buffer from an offset
	a.Hold(big)
	a.Hold(view)
	a.Drop(big)
	if got := a.Floats(100); same(got, big.Float32s()) {
		t.Fatal("a buffer that a live view still shares was handed out")
	}
	a.Drop(view)
	if got := a.Floats(40); same(got, big.Float32s()) {
		t.Fatalf("a request for 40 got a buffer of 100, more than Slack=%d times larger", Slack)
	}
	small := tensor.From([]int{45}, a.Floats(45)) // new: the idle 100 is too large for it
	a.Hold(small)
	a.Drop(small)
	got := a.Floats(44)
	if !same(got, small.Float32s()) || len(got) != 44 {
		t.Fatalf("a request for 44 did not get the smallest idle buffer that fits (45)")
	}
	if got := a.Floats(51); !same(got, big.Float32s()) {
		t.Fatalf("a request for 51 did not get the idle buffer of 100")
	}
}

// TestArenaDropTwice checks that a value counted again after its buffer went idle (a summed
// gradient: Hold, then Drop) leaves the buffer idle once, so that two requests do not share it.
func TestArenaDropTwice(t *testing.T) {
	a := New()
	x := tensor.From([]int{8}, a.Floats(8))
	a.Hold(x)
	a.Drop(x)
	a.Hold(x)
	a.Drop(x)
	if p, q := a.Floats(8), a.Floats(8); same(p, q) {
		t.Fatal("two requests got the same buffer")
	}
}

// TestPoolLease checks that a buffer a pass handed to its caller serves the next pass only
// once every value sharing it has been given back, and that a nil arena still allocates.
func TestPoolLease(t *testing.T) {
	var p Pool
	a := p.Take()
	out := tensor.From([]int{16}, a.Floats(16))
	alias := tensor.From([]int{4, 4}, out.Float32s())
	a.Hold(out)
	a.Hold(alias)
	lease := p.PutLeased(a)

	lease.GiveBack(out)
	if got := p.Take().Floats(16); same(got, out.Float32s()) {
		t.Fatal("a buffer still held through an alias served the next pass")
	}
	lease.GiveBack(alias)
	lease.GiveBack(alias) // a second give-back of the same value is ignored
	b := p.Take()
	if got := b.Floats(16); !same(got, out.Float32s()) {
		t.Fatal("a buffer given back in full did not serve the next pass")
	}
	if got := b.Floats(16); same(got, out.Float32s()) {
		t.Fatal("a buffer given back served two requests")
	}
	var none *Arena
	if got := none.Floats(3); len(got) != 3 {
		t.Fatalf("a nil arena gave %d floats for 3", len(got))
	}
}

// TestArenaTensor checks that Tensor hands out again the tensor it made of a buffer when a
// later pass asks for the same shape of it, and a new one for another shape or length; that
// passes asking for the same sizes get the same buffers whatever order the pass before
// dropped them in; and that a buffer that left with the caller takes its tensors with it.
func TestArenaTensor(t *testing.T) {
	var p Pool
	// pass asks for two values of 16 and drops them, y first: that reverses their order,
	// so a pool that took the buffers in the order the last pass dropped them would swap
	// the two from one pass to the next.
	pass := func() (x, y *tensor.Tensor) {
		a := p.Take()
		x = a.Tensor([]int{2, 8}, a.Floats(16))
		y = a.Tensor([]int{4, 4}, a.Floats(16))
		a.Hold(x)
		a.Hold(y)
		a.Drop(y)
		a.Drop(x)
		p.Put(a)
		return x, y
	}
	pass() // new buffers
	x, y := pass()
	if x2, y2 := pass(); x2 != x || y2 != y {
		t.Fatalf("a pass asking for the same sizes got new tensors (%p %p, before %p %p)", x2, y2, x, y)
	}

	a := p.Take()
	x2 := a.Tensor([]int{2, 8}, a.Floats(16))
	if z := a.Tensor([]int{16}, x2.Float32s()); z == x2 || !same(z.Float32s(), x2.Float32s()) {
		t.Fatal("another shape of the same elements got the old tensor, or other elements")
	}
	if z := a.Tensor([]int{2, 4}, x2.Float32s()[:8]); z == x2 || len(z.Float32s()) != 8 {
		t.Fatal("a shorter value of the same buffer got the old tensor")
	}
	a.Hold(x2) // x2 leaves with the caller
	p.Put(a)
	a = p.Take()
	for range 2 {
		if got := a.Tensor([]int{2, 8}, a.Floats(16)); got == x2 || same(got.Float32s(), x2.Float32s()) {
			t.Fatal("a buffer that left with the caller, or its tensor, served the next pass")
		}
	}
	var none *Arena
	if got := none.Tensor([]int{3}, []float32{1, 2, 3}); got.Len() != 3 {
		t.Fatalf("a nil arena made %v", got)
	}
}
