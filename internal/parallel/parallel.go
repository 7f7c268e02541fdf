// Package parallel runs the index loops of the kernels on the machine's cores.
//
// A kernel call on a CNN layer at batch 1 lasts tens of microseconds, about what it takes
// the Go runtime to wake an idle processor for a new goroutine on a small VM. For therefore
// hands its indices to helper goroutines that stay alive between calls and, for a while
// after each call, keep watching for the next one (yielding the processor as they do), so a
// call that follows another soon finds them awake. Helpers that stay idle longer go to
// sleep and are woken by the next call. A call made while the helpers are busy (a nested or
// a concurrent one) runs on fresh goroutines instead, as before.
//
// A panic in the body, on any goroutine, is carried back to For's caller and raised there,
// where the graph's recover turns it into an error naming the node.
package parallel

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// spinFor is how long an idle helper keeps watching for the next call before it sleeps.
const spinFor = 200 * time.Microsecond

// For calls body(i) for every i in [0, n), on up to workers goroutines, the caller's
// included; the goroutines take indices one at a time, so uneven bodies balance. Each body
// must touch only its own part of any shared output.
func For(n, workers int, body func(i int)) {
	workers = min(workers, n)
	if workers <= 1 {
		for i := range n {
			body(i)
		}
		return
	}
	if !pool.busy.CompareAndSwap(false, true) {
		spawn(n, workers, body)
		return
	}
	defer pool.busy.Store(false)
	j := &job{n: int64(n), body: body, seats: int64(workers - 1)}
	pool.start(workers - 1)
	pool.post(j)
	j.work()
	// Every index is taken once next reaches n; a helper that took one counted itself in
	// active first, so active drops to zero only when the last body has returned.
	for j.active.Load() != 0 {
		runtime.Gosched()
	}
	pool.current.CompareAndSwap(j, nil) // so that the body's captures are not kept alive
	if p := j.panicked.Load(); p != nil {
		panic(p.v)
	}
}

// job is one call of For.
type job struct {
	n      int64
	body   func(i int)
	next   atomic.Int64 // the next index to take
	active atomic.Int64 // helpers inside work
	seats  int64        // how many helpers may join
	joined atomic.Int64

	panicked atomic.Pointer[panicValue]
}

type panicValue struct{ v any }

// work takes indices until none is left.
func (j *job) work() {
	defer func() {
		if r := recover(); r != nil {
			j.panicked.CompareAndSwap(nil, &panicValue{r})
			j.next.Store(j.n) // the others stop at their next index
		}
	}()
	for {
		i := j.next.Add(1) - 1
		if i >= j.n {
			return
		}
		j.body(int(i))
	}
}

// helpers is the set of helper goroutines; one For at a time uses them (busy).
type helpers struct {
	busy    atomic.Bool
	current atomic.Pointer[job]
	epoch   atomic.Uint64 // counts posted jobs
	sleepy  atomic.Int64  // helpers asleep, or about to be
	wake    chan struct{}
	mu      sync.Mutex
	started int
}

var pool = helpers{wake: make(chan struct{}, 256)}

// start makes sure at least n helpers exist.
func (h *helpers) start(n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ; h.started < n && h.started < cap(h.wake); h.started++ {
		go h.loop()
	}
}

// post publishes j and wakes sleeping helpers.
func (h *helpers) post(j *job) {
	h.current.Store(j)
	h.epoch.Add(1)
	for s := min(h.sleepy.Load(), j.seats); s > 0; s-- {
		select {
		case h.wake <- struct{}{}:
		default:
		}
	}
}

// loop is one helper: it joins each posted job, watching for the next one for spinFor and
// then sleeping until woken.
func (h *helpers) loop() {
	seen := h.epoch.Load()
	for {
		seen = h.await(seen)
		j := h.current.Load()
		if j == nil || j.joined.Add(1) > j.seats {
			continue
		}
		j.active.Add(1)
		j.work()
		j.active.Add(-1)
	}
}

// await returns the epoch of the next job after seen.
func (h *helpers) await(seen uint64) uint64 {
	deadline := time.Now().Add(spinFor)
	for spins := 0; ; spins++ {
		if e := h.epoch.Load(); e != seen {
			return e
		}
		runtime.Gosched()
		if spins%32 == 31 && time.Now().After(deadline) {
			break
		}
	}
	for {
		h.sleepy.Add(1)
		if e := h.epoch.Load(); e != seen {
			h.sleepy.Add(-1)
			return e
		}
		<-h.wake
		h.sleepy.Add(-1)
		if e := h.epoch.Load(); e != seen {
			return e
		}
	}
}

// spawn is For on fresh goroutines, for calls that find the helpers busy.
func spawn(n, workers int, body func(i int)) {
	j := &job{n: int64(n), body: body}
	var wg sync.WaitGroup
	wg.Add(workers - 1)
	for range workers - 1 {
		go func() {
			defer wg.Done()
			j.work()
		}()
	}
	j.work()
	wg.Wait()
	if p := j.panicked.Load(); p != nil {
		panic(p.v)
	}
}
