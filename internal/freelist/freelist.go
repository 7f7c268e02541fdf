// Package freelist keeps idle objects (scratch buffers, loop bodies, a run's bookkeeping) for
// reuse across calls and goroutines. Unlike a sync.Pool a List is not emptied by garbage
// collections, so a steady state of repeated runs allocates none of them, whenever the
// collector runs; it holds at most as many objects as were ever in use at once.
package freelist

import "sync"

// List is a list of idle objects of type T. It is safe for concurrent use; its zero value is
// ready.
type List[T any] struct {
	mu    sync.Mutex
	items []T
}

// Get returns an idle object, or ok false when there is none.
func (l *List[T]) Get() (item T, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := len(l.items); n > 0 {
		item = l.items[n-1]
		var zero T
		l.items[n-1] = zero
		l.items = l.items[:n-1]
		return item, true
	}
	return item, false
}

// Put makes item idle.
func (l *List[T]) Put(item T) {
	l.mu.Lock()
	l.items = append(l.items, item)
	l.mu.Unlock()
}
