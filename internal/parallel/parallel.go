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
// Kernels size their loops by Procs: GOMAXPROCS, except while Shards runs bodies that each
// hold a core (a plan's run on a part of a batch), when every loop runs on its caller.
//
// A panic in the body, on any goroutine, is carried back to For's caller and raised there,
// where the graph's recover turns it into an error naming the node.
package parallel

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/onnxtune/onnxtune/internal/freelist"
)

// spinFor is how long an idle helper keeps watching for the next call before it sleeps.
const spinFor = 200 * time.Microsecond

// sharded counts the Shards calls in flight.
var sharded atomic.Int32

// Procs is how many goroutines a kernel spreads its loops over: GOMAXPROCS, or 1 while a
// Shards call is in flight, whose bodies hold the cores between them.
func Procs() int {
	if sharded.Load() > 0 {
		return 1
	}
	return runtime.GOMAXPROCS(0)
}

// Shards is ForEach for bodies that each keep a core busy for a long while (a plan's run on
// one part of a batch): while it runs, Procs is 1, so that the kernels those bodies call run
// their loops on the body's own goroutine instead of forking onto the cores the other
// bodies hold. Any other run in the process meanwhile also sees Procs 1.
func Shards(n, workers int, body Body) {
	sharded.Add(1)
	defer sharded.Add(-1)
	ForEach(n, workers, body)
}

// Body is a loop body together with what it reads: For's closure as a value its caller can
// keep from one call to the next (in Bodies), so that ForEach allocates nothing. A
// closure handed to For escapes to the heap on every call, since other goroutines run it.
type Body interface {
	Run(i int)
}

// funcBody makes a closure a Body; a func value fits in an interface without an allocation.
type funcBody func(i int)

func (f funcBody) Run(i int) { f(i) }

// For calls body(i) for every i in [0, n), on up to workers goroutines, the caller's
// included; the goroutines take indices one at a time, so uneven bodies balance. Each body
// must touch only its own part of any shared output.
func For(n, workers int, body func(i int)) {
	ForEach(n, workers, funcBody(body))
}

// ForEach is For with a Body. It allocates nothing unless it finds the helpers busy (a nested
// or a concurrent call).
func ForEach(n, workers int, body Body) {
	workers = min(workers, n)
	if workers <= 1 {
		for i := range n {
			body.Run(i)
		}
		return
	}
	if !pool.busy.CompareAndSwap(false, true) {
		spawn(n, workers, body)
		return
	}
	defer pool.busy.Store(false)
	j := &pool.job
	pool.start(workers - 1)
	pool.post(n, workers-1, body)
	j.work()
	// Every index is taken once next reaches n; a helper that took one counted itself in
	// active first, so active drops to zero only when the last body has returned. close
	// waits for that, and drops the body so that its captures are not kept alive.
	j.close()
	if p := j.panicked.Swap(nil); p != nil {
		panic(p.v)
	}
}

// job is one call of ForEach. The helpers' job is reused from call to call: a helper may
// still be looking at it when the next call sets it up, so its plain fields (n, body, seats)
// change only while it is closed, with no helper inside (see post, close and loop).
type job struct {
	n      int64
	body   Body
	seats  int64        // how many helpers may join
	next   atomic.Int64 // the next index to take
	active atomic.Int64 // helpers inside, or checking whether they may come in
	joined atomic.Int64
	// open is the epoch of the call the job serves, 0 while it is closed.
	open atomic.Uint64

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
		j.body.Run(int(i))
	}
}

// close ends the job's call: no helper comes in any more, and those inside have left.
func (j *job) close() {
	j.open.Store(0)
	for j.active.Load() != 0 {
		runtime.Gosched()
	}
	j.body = nil
}

// helpers is the set of helper goroutines; one ForEach at a time uses them (busy).
type helpers struct {
	busy    atomic.Bool
	job     job
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

// post sets up the job for a call, opens it and wakes sleeping helpers. The job is closed
// and empty: the previous call closed it.
func (h *helpers) post(n, seats int, body Body) {
	j := &h.job
	j.n, j.body, j.seats = int64(n), body, int64(seats)
	j.next.Store(0)
	j.joined.Store(0)
	e := h.epoch.Load() + 1
	j.open.Store(e)
	h.epoch.Store(e)
	for s := min(h.sleepy.Load(), j.seats); s > 0; s-- {
		select {
		case h.wake <- struct{}{}:
		default:
		}
	}
}

// loop is one helper: it joins each posted job, watching for the next one for spinFor and
// then sleeping until woken. It counts itself active before it checks that the job is still
// open for the call it was woken for: a job that close has seen inactive stays untouched by
// the helpers until post opens it again.
func (h *helpers) loop() {
	seen := h.epoch.Load()
	j := &h.job
	for {
		seen = h.await(seen)
		j.active.Add(1)
		if j.open.Load() == seen && j.joined.Add(1) <= j.seats {
			j.work()
		}
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

// spawn is ForEach on fresh goroutines, for calls that find the helpers busy.
func spawn(n, workers int, body Body) {
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

// ForEachIn is ForEach with the loop body v, copied for the call into an idle *T of bodies
// (the kernels' Bodies of their loop type) and given back after, so that no call allocates.
func ForEachIn[T any, P interface {
	*T
	Body
}](bodies *Bodies[T], n, workers int, v T) {
	body := P(bodies.Get())
	*body = v
	ForEach(n, workers, body)
	bodies.Put(body)
}

// Bodies keeps idle Bodies of type T between ForEach calls, so that a kernel's loop body (a
// *T holding what the loop reads) is allocated once rather than at every call (a
// freelist.List, which garbage collections leave alone). A Bodies is safe for concurrent
// use; its zero value is ready.
type Bodies[T any] struct{ idle freelist.List[*T] }

// Get returns an idle *T, or a new one: zero either way.
func (b *Bodies[T]) Get() *T {
	if t, ok := b.idle.Get(); ok {
		return t
	}
	return new(T)
}

// Put zeroes t, so that it keeps nothing alive, and keeps it for a later Get.
func (b *Bodies[T]) Put(t *T) {
	var zero T
	*t = zero
	b.idle.Put(t)
}
