package freelist

import (
	"runtime"
	"sync"
	"testing"
)

// TestList: an empty list has nothing; what was put comes back, last first, and survives a
// garbage collection (where a sync.Pool would have dropped it); concurrent use (run with
// -race) loses nothing.
func TestList(t *testing.T) {
	var l List[*int]
	if _, ok := l.Get(); ok {
		t.Fatal("an empty list gave an item")
	}
	a, b := new(int), new(int)
	l.Put(a)
	l.Put(b)
	runtime.GC()
	if got, ok := l.Get(); !ok || got != b {
		t.Fatalf("Get after Put(a), Put(b): %p %v, want b %p", got, ok, b)
	}
	if got, ok := l.Get(); !ok || got != a {
		t.Fatalf("second Get: %p %v, want a %p", got, ok, a)
	}

	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 1000 {
				v, ok := l.Get()
				if !ok {
					v = new(int)
				}
				l.Put(v)
			}
		})
	}
	wg.Wait()
	n := 0
	for {
		if _, ok := l.Get(); !ok {
			break
		}
		n++
	}
	if n < 1 || n > 4 {
		t.Errorf("after four goroutines each held at most one item at a time, the list holds %d, want 1 to 4", n)
	}
}
