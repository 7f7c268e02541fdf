package tensor

import "sync"

// freeList keeps idle scratch objects for reuse across calls and goroutines. Unlike a
// sync.Pool it is not emptied by garbage collections, so a steady state of repeated runs
// allocates no scratch at all, whenever the collector runs; it holds at most as many objects
// as were ever in use at once.
type freeList[T any] struct {
	mu    sync.Mutex
	items []T
}

// get returns an idle object, or ok false when there is none.
func (l *freeList[T]) get() (item T, ok bool) {
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

// put makes item idle.
func (l *freeList[T]) put(item T) {
	l.mu.Lock()
	l.items = append(l.items, item)
	l.mu.Unlock()
}
