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
	lease := p.Put(a)

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
