package graph

import "github.com/onnxtune/onnxtune/tensor"

// arena recycles the float32 buffers of a run's intermediates. Kernels take their outputs from
// it (Context.floats); when a value's last reader has run, Forward gives its buffer back,
// unless another live value still shares it (a Reshape's output shares its input's buffer)
// or the buffer is not the arena's (an input's, an initializer's). A later step, or the next
// run, gets it again instead of fresh memory: a steady-state run then touches no new pages,
// where fresh buffers cost a page fault per 4 KiB on first write.
//
// A request takes the smallest idle buffer that holds it, if that is at most arenaSlack
// times its size: with only buffers of the exact length reused, a model whose layers have
// many sizes (mobilenet_v2) kept a buffer for each, and its runs held 40 MB more than ONNX
// Runtime's.
//
// An arena belongs to one run at a time; Plan keeps the idle ones.
type arena struct {
	free  [][]float32            // idle buffers, whole
	owned map[*float32][]float32 // the arena's buffers (idle or in use), whole, by storageKey
	live  map[*float32]int       // live values of the run per buffer, by storageKey
}

// arenaSlack bounds how much larger than a request the buffer serving it may be.
const arenaSlack = 2

func newArena() *arena {
	return &arena{owned: map[*float32][]float32{}, live: map[*float32]int{}}
}

// storageKey identifies the buffer a float32 tensor's elements live in: the address of the
// buffer's last element, which a view sharing it from some offset on has too.
func storageKey(t *tensor.Tensor) (*float32, bool) {
	if t == nil || t.DType() != tensor.Float32 {
		return nil, false
	}
	return sliceKey(t.Float32s())
}

func sliceKey(v []float32) (*float32, bool) {
	if cap(v) == 0 {
		return nil, false
	}
	return &v[:cap(v)][cap(v)-1], true
}

// floats returns n float32s of unspecified value, recycled where it can.
func (a *arena) floats(n int) []float32 {
	best := -1
	for i, buf := range a.free {
		if len(buf) >= n && len(buf) <= arenaSlack*n && (best < 0 || len(buf) < len(a.free[best])) {
			best = i
		}
	}
	if best >= 0 {
		v := a.free[best]
		a.free[best] = a.free[len(a.free)-1]
		a.free = a.free[:len(a.free)-1]
		return v[:n]
	}
	v := float32sNoZero(n)
	if k, ok := sliceKey(v); ok {
		a.owned[k] = v
	}
	return v
}

// hold counts t as one more live value of the run.
func (a *arena) hold(t *tensor.Tensor) {
	if k, ok := storageKey(t); ok {
		a.live[k]++
	}
}

// drop counts t as one live value fewer, and takes its buffer back when no live value shares
// it any more and it is the arena's.
func (a *arena) drop(t *tensor.Tensor) {
	k, ok := storageKey(t)
	if !ok {
		return
	}
	if a.live[k]--; a.live[k] > 0 {
		return
	}
	delete(a.live, k)
	if buf, ok := a.owned[k]; ok {
		a.free = append(a.free, buf)
	}
}

// lent returns the arena's buffers that live values still use, with how many share each:
// what the run's caller gets. Call it before release.
func (a *arena) lent() map[*float32]*lentBuffer {
	out := map[*float32]*lentBuffer{}
	for k, n := range a.live {
		if buf, ok := a.owned[k]; ok && n > 0 {
			out[k] = &lentBuffer{buf: buf, live: n}
		}
	}
	return out
}

// give adds an idle buffer to the arena (one a Lease gave back).
func (a *arena) give(buf []float32) {
	if k, ok := sliceKey(buf); ok {
		a.owned[k] = buf
		a.free = append(a.free, buf)
	}
}

// release ends a run: the values still live (outputs, kept activations) leave with the
// caller, so their buffers are the arena's no more.
func (a *arena) release() {
	// The arena keeps only its idle buffers: those in use leave with the caller, and those a
	// kernel took and dropped on its own (a widened float16 temporary, say) go to the GC.
	owned := make(map[*float32][]float32, len(a.owned))
	for _, b := range a.free {
		k, _ := sliceKey(b)
		owned[k] = b
	}
	a.owned = owned
	clear(a.live)
}
