package graph

import (
	"runtime"
	"testing"
	"unsafe"
)

// TestFloat32sNoZero checks that the unzeroed buffers are separate heap objects of the
// requested length that stay alive, and keep what was written, across collections while only
// the []float32 refers to them.
func TestFloat32sNoZero(t *testing.T) {
	sizes := []int{0, 1, 2, 3, 7, 100, 1000, 1 << 16, 1<<20 + 3}
	bufs := make([][]float32, len(sizes))
	for i, n := range sizes {
		b := float32sNoZero(n)
		if len(b) != n {
			t.Fatalf("float32sNoZero(%d) has length %d", n, len(b))
		}
		if n > 0 && uintptr(unsafe.Pointer(&b[0]))%4 != 0 {
			t.Fatalf("float32sNoZero(%d) is not aligned for float32", n)
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
