// Package arena recycles the float32 buffers of values whose lifetimes a caller tracks: the
// intermediates of a plan's run (package graph) and the gradients of a reverse walk (package
// backprop). A buffer is given back when the last live value sharing it is dropped, and a
// later request, in the same pass or the next one, gets it again instead of fresh memory. A
// steady state of repeated passes then touches no new pages (fresh buffers cost a page fault
// per 4 KiB on first write) and leaves the garbage collector nothing to collect, so the heap
// does not grow to twice what the passes need before a collection.
package arena

import (
	"cmp"
	"slices"
	"strings"
	"sync"
	"unsafe"

	"github.com/onnxtune/onnxtune/tensor"
)

// Arena hands out buffers and takes them back. A request takes the smallest idle buffer that
// holds it, if that is at most Slack times its size: with only buffers of the exact length
// reused, a model whose layers have many sizes (mobilenet_v2) kept a buffer for each, and its
// runs held 40 MB more than ONNX Runtime's.
//
// An Arena belongs to one pass at a time; its owner keeps the idle ones between passes.
type Arena struct {
	free  [][]float32            // idle buffers, whole
	idle  map[*float32]bool      // the buffers in free, by Key
	owned map[*float32][]float32 // the arena's buffers (idle or in use), whole, by Key
	live  map[*float32]int       // live values per buffer, by Key

	headers map[*float32][]*tensor.Tensor // the last tensors Tensor made of each owned buffer, by Key
}

// headersPerBuffer bounds the tensors Tensor remembers per buffer. A buffer serves values of
// several sizes (up to Slack), and which values it serves may alternate from one pass to the
// next (the idle buffers' order changes), so it keeps more than the last one.
const headersPerBuffer = 8

// Slack bounds how much larger than a request the buffer serving it may be.
const Slack = 2

// New returns an empty arena.
func New() *Arena {
	return &Arena{idle: map[*float32]bool{}, owned: map[*float32][]float32{}, live: map[*float32]int{}, headers: map[*float32][]*tensor.Tensor{}}
}

// Key identifies the buffer a float32 tensor's elements live in: the address of the buffer's
// last element, which a view sharing it from some offset on has too. ok is false for other
// dtypes and empty tensors.
func Key(t *tensor.Tensor) (key *float32, ok bool) {
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

// Floats returns n float32s of unspecified value, recycled where it can. A nil arena
// allocates.
func (a *Arena) Floats(n int) []float32 {
	if a == nil {
		return Uninitialized(n)
	}
	best := -1
	for i, buf := range a.free {
		if len(buf) >= n && len(buf) <= Slack*n && (best < 0 || len(buf) < len(a.free[best])) {
			best = i
		}
	}
	if best >= 0 {
		v := a.free[best]
		k, _ := sliceKey(v)
		delete(a.idle, k)
		a.free[best] = a.free[len(a.free)-1]
		a.free = a.free[:len(a.free)-1]
		return v[:n]
	}
	v := Uninitialized(n)
	if k, ok := sliceKey(v); ok {
		a.owned[k] = v
	}
	return v
}

// Tensor wraps v, all or the start of a buffer from Floats, as a float32 tensor of the given
// shape. When one of the last tensors it made of the same buffer has that shape and those
// elements, it returns that one again: a tensor's header never changes, so a value that
// reuses a buffer at the same size in a later pass (a plan's steps do) gets it without an
// allocation, and whoever still holds the old value holds the same thing. A nil arena
// allocates.
func (a *Arena) Tensor(shape []int, v []float32) *tensor.Tensor {
	k, ok := sliceKey(v)
	if a == nil || !ok || len(v) == 0 {
		return tensor.From(shape, v)
	}
	made := a.headers[k]
	for _, t := range made {
		if d := t.Float32s(); len(d) == len(v) && &d[0] == &v[0] && slices.Equal(t.Shape(), shape) {
			return t
		}
	}
	t := tensor.From(shape, v)
	if _, owned := a.owned[k]; owned {
		if len(made) < headersPerBuffer {
			a.headers[k] = append(made, t)
		} else {
			copy(made, made[1:])
			made[len(made)-1] = t
		}
	}
	return t
}

// Zeros is Floats set to zero, for computations that accumulate into their output. A nil
// arena allocates.
func (a *Arena) Zeros(n int) []float32 {
	v := a.Floats(n)
	clear(v)
	return v
}

// Hold counts t as one more live value.
func (a *Arena) Hold(t *tensor.Tensor) {
	if k, ok := Key(t); ok {
		a.live[k]++
	}
}

// Drop counts t as one live value fewer, and takes its buffer back when no live value shares
// it any more and it is the arena's.
func (a *Arena) Drop(t *tensor.Tensor) {
	k, ok := Key(t)
	if !ok {
		return
	}
	if a.live[k]--; a.live[k] > 0 {
		return
	}
	delete(a.live, k)
	if buf, ok := a.owned[k]; ok {
		a.putIdle(k, buf)
	}
}

// putIdle makes buf, an arena's buffer, idle. A buffer already idle stays there once: a
// value counted again after its buffer went idle (Hold, then Drop) must not hand it out
// twice.
func (a *Arena) putIdle(k *float32, buf []float32) {
	if !a.idle[k] {
		a.idle[k] = true
		a.free = append(a.free, buf)
	}
}

// lentBuffer is one of the arena's buffers that live values still use, and how many share it.
type lentBuffer struct {
	buf  []float32
	live int
}

// lent returns the arena's buffers that live values still use, by Key: what the pass's
// caller takes away. Call it before Release.
func (a *Arena) lent() map[*float32]*lentBuffer {
	out := map[*float32]*lentBuffer{}
	for k, n := range a.live {
		if buf, ok := a.owned[k]; ok && n > 0 {
			out[k] = &lentBuffer{buf: buf, live: n}
		}
	}
	return out
}

// Give adds an idle buffer to the arena (one a caller is done with).
func (a *Arena) Give(buf []float32) {
	if k, ok := sliceKey(buf); ok {
		a.owned[k] = buf
		a.putIdle(k, buf)
	}
}

// Release ends a pass: the values still live leave with the caller, so their buffers are the
// arena's no more.
func (a *Arena) Release() {
	// The arena keeps only its idle buffers: those in use leave with the caller, and those
	// taken and dropped without Hold (a widened float16 temporary, say) go to the collector.
	for k := range a.owned {
		if !a.idle[k] {
			delete(a.owned, k)
			delete(a.headers, k)
		}
	}
	clear(a.live)
}

// Uninitialized returns n float32s of unspecified value. The memory comes from
// strings.Builder.Grow, the one allocation in the standard library that skips zeroing (for
// text about to be written): one byte makes the buffer's address reachable, and the
// allocation holds 4n bytes.
func Uninitialized(n int) []float32 {
	if n <= 0 {
		return []float32{}
	}
	var b strings.Builder
	b.Grow(4 * n)
	b.WriteByte(0)
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.StringData(b.String()))), n)
}

// Pool keeps an owner's idle arenas between passes (one per pass running at once), and the
// buffers that callers gave back through a Lease, for the next pass. A Pool is safe for
// concurrent use; its zero value is ready.
type Pool struct {
	mu    sync.Mutex
	idle  []*Arena
	spare [][]float32 // given back through a Lease
}

// Take returns an idle arena for a pass, or a new one, holding the buffers given back since.
func (p *Pool) Take() *Arena {
	p.mu.Lock()
	defer p.mu.Unlock()
	var a *Arena
	if n := len(p.idle); n > 0 {
		a = p.idle[n-1]
		p.idle = p.idle[:n-1]
	} else {
		a = New()
	}
	for _, buf := range p.spare {
		a.Give(buf)
	}
	clear(p.spare)
	p.spare = p.spare[:0]
	// The idle buffers in an order of their own, not the last pass's: passes that ask for the
	// same sizes in the same order then get the same buffers, and the tensors Tensor made of
	// them fit again.
	slices.SortFunc(a.free, func(u, v []float32) int {
		return cmp.Compare(uintptr(unsafe.Pointer(unsafe.SliceData(u))), uintptr(unsafe.Pointer(unsafe.SliceData(v))))
	})
	return a
}

// Put ends a pass's use of a: what its live values hold leaves with the caller, and a waits
// idle for the next pass.
func (p *Pool) Put(a *Arena) {
	a.Release()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.idle = append(p.idle, a)
}

// PutLeased is Put for a caller that will say when it is done with each value it got: giving
// them back through the Lease returned lets the next pass reuse their buffers.
func (p *Pool) PutLeased(a *Arena) *Lease {
	l := &Lease{pool: p, lent: a.lent()}
	p.Put(a)
	return l
}

// Lease tracks the buffers of the values a pass handed to its caller. It may be dropped
// without giving everything back: what was not given back goes to the garbage collector. One
// goroutine at a time may call GiveBack.
type Lease struct {
	pool *Pool
	lent map[*float32]*lentBuffer // by Key
}

// GiveBack says the caller holds t no more, nor any view of it: when no value the pass
// handed over shares its buffer any more, the buffer serves the pool's next pass. A tensor
// whose buffer is not the arena's (an input, an initializer) is ignored.
func (l *Lease) GiveBack(t *tensor.Tensor) {
	k, ok := Key(t)
	if !ok {
		return
	}
	lb := l.lent[k]
	if lb == nil {
		return
	}
	if lb.live--; lb.live > 0 {
		return
	}
	delete(l.lent, k)
	l.pool.mu.Lock()
	l.pool.spare = append(l.pool.spare, lb.buf)
	l.pool.mu.Unlock()
}
