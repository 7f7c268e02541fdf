package graph

import (
	"slices"
	"sync/atomic"
)

// geomCache keeps a kernel's geometry (a convolution's, a pooling's) for the input shapes it
// last saw, so that the runs of a plan, which feed each node the same shapes again and
// again, skip the attribute arithmetic and its allocations. It is safe for concurrent runs:
// each run reads one immutable entry, and a run with other shapes replaces it.
type geomCache[G any] struct{ last atomic.Pointer[geomEntry[G]] }

type geomEntry[G any] struct {
	x, w []int
	geom G
	y    []int
}

// lookup returns the geometry for shapes x and w (nil for a kernel of one input) and the
// output's shape, from the cache when it holds them, else from compute. Neither may be
// modified: a caller with per-call fields to set copies the geometry. A nil cache computes.
func (c *geomCache[G]) lookup(x, w []int, compute func(x, w []int) (G, []int, error)) (G, []int, error) {
	if c != nil {
		if e := c.last.Load(); e != nil && slices.Equal(e.x, x) && slices.Equal(e.w, w) {
			return e.geom, e.y, nil
		}
	}
	// The geometry may keep views of the shapes: it gets copies, which the entry owns. (They
	// have names of their own: with x and w reassigned, the race detector's build of Go 1.26
	// matched shapes that differ and returned stale geometries, TestKernelsFollowShapes under
	// -race; it looks like golang/go#81463, a miscompiled integer comparison in inlined
	// generic code with -race on amd64.)
	ownX, ownW := slices.Clone(x), slices.Clone(w)
	g, y, err := compute(ownX, ownW)
	if err != nil || c == nil {
		return g, y, err
	}
	c.last.Store(&geomEntry[G]{x: ownX, w: ownW, geom: g, y: y})
	return g, y, nil
}
