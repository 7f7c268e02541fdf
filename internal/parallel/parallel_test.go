package parallel

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestForCoversEveryIndexOnce runs For over many sizes and worker counts, back to back (the
// helpers awake) and after pauses (asleep), and checks that every index ran exactly once.
func TestForCoversEveryIndexOnce(t *testing.T) {
	for round := range 3 {
		for _, n := range []int{0, 1, 2, 3, 7, 64, 1000} {
			for _, workers := range []int{1, 2, 3, 8} {
				hits := make([]atomic.Int32, n)
				For(n, workers, func(i int) { hits[i].Add(1) })
				for i := range hits {
					if h := hits[i].Load(); h != 1 {
						t.Fatalf("round %d, n=%d, %d workers: index %d ran %d times", round, n, workers, i, h)
					}
				}
			}
		}
		time.Sleep(2 * spinFor) // let the helpers fall asleep
	}
}

// TestForUsesOtherGoroutines: with two workers and bodies that wait for each other, For
// finishes only if two goroutines run bodies at the same time.
func TestForUsesOtherGoroutines(t *testing.T) {
	for range 20 {
		var arrived sync.WaitGroup
		arrived.Add(2)
		done := make(chan struct{})
		go func() {
			For(2, 2, func(int) {
				arrived.Done()
				arrived.Wait()
			})
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the two bodies never ran at the same time")
		}
		time.Sleep(time.Duration(len(t.Name())) * spinFor / 10)
	}
}

// TestForPanics: a panic in any body, on the caller's goroutine or a helper's, comes back
// to For's caller, and For works normally afterwards.
func TestForPanics(t *testing.T) {
	for _, at := range []int{0, 5, 99} {
		got := func() (r any) {
			defer func() { r = recover() }()
			For(100, 4, func(i int) {
				if i == at {
					panic(fmt.Sprintf("index %d", i))
				}
				time.Sleep(time.Microsecond)
			})
			return nil
		}()
		if got != fmt.Sprintf("index %d", at) {
			t.Errorf("panic at index %d: For raised %v", at, got)
		}
	}
	var sum atomic.Int64
	For(10, 4, func(i int) { sum.Add(int64(i)) })
	if sum.Load() != 45 {
		t.Errorf("after the panics, For summed %d, want 45", sum.Load())
	}
}

// TestForNestedAndConcurrent: For inside a body, and For from several goroutines at once
// (run with -race), each covers its indices once.
func TestForNestedAndConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for range 50 {
				var total atomic.Int64
				For(8, 3, func(i int) {
					For(10, 2, func(j int) { total.Add(int64(i*10 + j)) })
				})
				if total.Load() != 79*80/2 {
					t.Errorf("goroutine %d: nested For summed %d, want %d", g, total.Load(), 79*80/2)
					return
				}
			}
		})
	}
	wg.Wait()
}

// hitCounter is a Body counting the calls of each index.
type hitCounter struct{ hits []atomic.Int32 }

func (h *hitCounter) Run(i int) { h.hits[i].Add(1) }

// TestForEachAllocatesNothing: with its Body kept between calls, ForEach allocates nothing,
// whether the helpers are awake or asleep.
func TestForEachAllocatesNothing(t *testing.T) {
	body := &hitCounter{hits: make([]atomic.Int32, 64)}
	ForEach(64, 2, body) // the helpers started
	if allocs := testing.AllocsPerRun(200, func() { ForEach(64, 2, body) }); allocs != 0 {
		t.Errorf("ForEach, helpers awake: %v allocations per call, want none", allocs)
	}
	if allocs := testing.AllocsPerRun(3, func() {
		time.Sleep(2 * spinFor)
		ForEach(64, 2, body)
	}); allocs != 0 {
		t.Errorf("ForEach, helpers asleep: %v allocations per call, want none", allocs)
	}
	for i := range body.hits {
		const calls = 1 + 201 + 4 // AllocsPerRun calls once more than it counts
		if h := body.hits[i].Load(); h != calls {
			t.Fatalf("index %d ran %d times in %d calls", i, h, calls)
		}
	}
}

// TestForEachBackToBack runs many tiny calls back to back, so that helpers often wake for a
// call that has already ended and find the job set up for the next one (run with -race):
// every call still covers its indices once, each with its own body.
func TestForEachBackToBack(t *testing.T) {
	bodies := []*hitCounter{{hits: make([]atomic.Int32, 3)}, {hits: make([]atomic.Int32, 5)}}
	const calls = 20000
	for c := range calls {
		b := bodies[c%2]
		ForEach(len(b.hits), 2, b)
	}
	for k, b := range bodies {
		for i := range b.hits {
			if h := b.hits[i].Load(); h != calls/2 {
				t.Fatalf("body %d, index %d ran %d times in %d calls", k, i, h, calls/2)
			}
		}
	}
}

// TestShardsHoldTheCores: the bodies of Shards run on goroutines of their own at the same
// time (they wait for each other), and Procs is 1 inside them, so that their loops run
// inline; before and after, Procs is GOMAXPROCS.
func TestShardsHoldTheCores(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	if p := Procs(); p != 2 {
		t.Fatalf("Procs before Shards: %d, want 2", p)
	}
	var arrived sync.WaitGroup
	arrived.Add(2)
	var inside [2]int
	Shards(2, 2, funcBody(func(i int) {
		arrived.Done()
		arrived.Wait()
		inside[i] = Procs()
	}))
	if inside != [2]int{1, 1} {
		t.Errorf("Procs inside the shards: %v, want 1 in each", inside)
	}
	if p := Procs(); p != 2 {
		t.Errorf("Procs after Shards: %d, want 2", p)
	}
}

// TestForEachInAllocatesNothing: ForEachIn runs the body it is given on every index, keeps
// the *T it copied the body into for the next call (which then allocates nothing), and
// leaves it zeroed, holding nothing of the call.
func TestForEachInAllocatesNothing(t *testing.T) {
	var bodies Bodies[hitCounter]
	hits := make([]atomic.Int32, 64)
	ForEachIn(&bodies, 64, 2, hitCounter{hits: hits})
	if allocs := testing.AllocsPerRun(200, func() { ForEachIn(&bodies, 64, 2, hitCounter{hits: hits}) }); allocs != 0 {
		t.Errorf("ForEachIn: %v allocations per call, want none", allocs)
	}
	for i := range hits {
		if h := hits[i].Load(); h != 1+201 {
			t.Fatalf("index %d ran %d times in %d calls", i, h, 1+201)
		}
	}
	if kept := bodies.Get(); kept.hits != nil {
		t.Error("the kept body still holds the last call's slice")
	}
}
