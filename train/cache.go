package train

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/tensor"
)

// DefaultCacheLimit is the most memory, in bytes, the frozen backbone's cached outputs may
// take when Config.CacheLimit is 0.
const DefaultCacheLimit = 2 << 30

// backboneSplit divides a training graph where everything before the trained tensors is
// frozen: the backbone computes one value, cut, from the input alone, and the head computes
// the loss's output from cut and the trained tensors. The backbone's output for an example
// is then the same in every epoch, so it is computed once (cacheBackbone) and each step runs
// the head only.
type backboneSplit struct {
	cut            string
	backbone, head *graph.Graph
}

// splitBackbone finds the split of g (the training graph) for the trained initializers, or
// returns nil when there is none worth making: when the nodes that read a trained tensor, and
// those after them, read more than one value computed from the input, or only the input
// itself, or when a node before them changes with the batch or from step to step (tracked
// BatchNormalization statistics; training Dropout is excluded by the caller).
func splitBackbone(g *graph.Graph, trained []string, bn *bnStats, output string) *backboneSplit {
	if len(g.Inputs) != 1 {
		return nil
	}
	input := g.Inputs[0].Name
	dep := map[string]bool{} // values a trained tensor reaches
	for _, name := range trained {
		dep[name] = true
	}
	fromInput := map[string]bool{input: true} // values computed from the input
	var headNodes, backboneNodes, constNodes []*graph.Node
	cuts := map[string]bool{}
	for _, n := range g.Nodes {
		var isDep, isInput bool
		for _, in := range n.Inputs {
			isDep = isDep || dep[in]
			isInput = isInput || fromInput[in]
		}
		switch {
		case isDep:
			headNodes = append(headNodes, n)
			for _, in := range n.Inputs {
				if fromInput[in] && !dep[in] {
					cuts[in] = true
				}
			}
		case isInput:
			backboneNodes = append(backboneNodes, n)
			if _, tracked := bn.nodes[n]; tracked {
				return nil // its statistics, and so its output, change from batch to batch
			}
		default:
			constNodes = append(constNodes, n)
		}
		for _, out := range n.Outputs {
			dep[out] = dep[out] || isDep
			fromInput[out] = fromInput[out] || isInput || isDep
		}
	}
	if len(cuts) != 1 || cuts[input] || !dep[output] {
		return nil
	}
	var cut string
	for c := range cuts {
		cut = c
	}
	sub := func(in graph.ValueInfo, nodes []*graph.Node, out string) *graph.Graph {
		c := *g
		c.Inputs = []graph.ValueInfo{in}
		c.Nodes = slices.Concat(constNodes, nodes)
		c.Outputs = []graph.ValueInfo{{Name: out}}
		c.ValueInfo = nil
		return &c
	}
	return &backboneSplit{
		cut:      cut,
		backbone: sub(g.Inputs[0], backboneNodes, cut),
		head:     sub(graph.ValueInfo{Name: cut, DType: tensor.Float32}, headNodes, output),
	}
}

// cachedData holds a data set's examples as the backbone's outputs: example i is row i of the
// features, with the original target. It implements data.Dataset, and data.Labeler when the
// original does, so that a loader over it draws the same batches as over the original.
//
// The features are in memory, or, past the cache limit, in a file (little-endian float32,
// example after example) that close removes.
type cachedData struct {
	base     data.Dataset
	features []float32
	file     *os.File
	shape    []int // of one example's features
	targets  []*tensor.Tensor
}

func (c *cachedData) Len() int          { return c.base.Len() }
func (c *cachedData) Classes() []string { return c.base.Classes() }
func (c *cachedData) Example(i int) (x, y *tensor.Tensor, err error) {
	n := tensor.Size(c.shape)
	if c.file == nil {
		return tensor.From(slices.Clone(c.shape), c.features[i*n:(i+1)*n]), c.targets[i], nil
	}
	buf := make([]byte, 4*n)
	if _, err := c.file.ReadAt(buf, int64(i)*int64(len(buf))); err != nil {
		return nil, nil, fmt.Errorf("train: the frozen backbone's outputs on disk: %w", err)
	}
	v := make([]float32, n)
	for j := range v {
		v[j] = math.Float32frombits(binary.LittleEndian.Uint32(buf[4*j:]))
	}
	return tensor.From(slices.Clone(c.shape), v), c.targets[i], nil
}

// bytes returns the size of all the features.
func (c *cachedData) bytes() int64 { return int64(c.base.Len()) * int64(tensor.Size(c.shape)) * 4 }

// close removes the file of features on disk, if any.
func (c *cachedData) close() {
	if c != nil && c.file != nil {
		c.file.Close()
		os.Remove(c.file.Name())
	}
}

// spill starts the features' file in dir ("" for the system's temporary directory).
func (c *cachedData) spill(dir string) error {
	f, err := os.CreateTemp(dir, "onnxtune-backbone-*.f32")
	if err != nil {
		return err
	}
	// Unlinked at once where the system allows it, so that a killed run leaves nothing
	// behind; the open file stays readable.
	os.Remove(f.Name())
	c.file = f
	return nil
}

// add appends one batch's features, to memory or to the file.
func (c *cachedData) add(w *bufio.Writer, f []float32) error {
	if c.file == nil {
		c.features = append(c.features, f...)
		return nil
	}
	return binary.Write(w, binary.LittleEndian, f)
}

// Labels implements data.Labeler when the original data set does.
func (c *cachedData) Labels() []int64 {
	if l, ok := c.base.(data.Labeler); ok {
		return l.Labels()
	}
	return nil
}

// errCacheDisk reports a failure to write the features to disk: the run goes on without the
// cache.
var errCacheDisk = errors.New("could not write them to disk")

// cacheBackbone runs the backbone over ds once, in file order, in batches of batchSize, with
// ctx (the training context: the backbone has no node that trains), and returns every
// example's output: in memory, or in a file in dir when they would take more than limit
// bytes (errCacheDisk when that fails). The caller closes it.
func cacheBackbone(ctx context.Context, s *backboneSplit, ds data.Dataset, batchSize, workers int, gctx *graph.Context, limit int64, dir string) (c *cachedData, err error) {
	plan, err := graph.NewPlan(s.backbone)
	if err != nil {
		return nil, fmt.Errorf("train: the frozen backbone: %w", err)
	}
	c = &cachedData{base: ds, targets: make([]*tensor.Tensor, 0, ds.Len())}
	defer func() {
		if err != nil {
			c.close()
		}
	}()
	var w *bufio.Writer
	input := s.backbone.Inputs[0].Name
	for b, err := range data.NewLoader(ds, batchSize, false, 0, workers).Epoch(ctx, 0) {
		if err != nil {
			return nil, err
		}
		outs, err := plan.Run(gctx, map[string]*tensor.Tensor{input: b.X})
		if err != nil {
			return nil, fmt.Errorf("train: the frozen backbone: %w", err)
		}
		f := outs[s.cut]
		if f == nil || f.DType() != tensor.Float32 || f.Rank() == 0 || f.Shape()[0] != len(b.Indices) {
			return nil, fmt.Errorf("train: the frozen backbone's output %q is %v for a batch of %d", s.cut, f, len(b.Indices))
		}
		if c.shape == nil {
			c.shape = slices.Clone(f.Shape()[1:])
			if c.bytes() <= limit {
				c.features = make([]float32, 0, ds.Len()*tensor.Size(c.shape))
			} else {
				if err := c.spill(dir); err != nil {
					return nil, fmt.Errorf("%w: %v", errCacheDisk, err)
				}
				w = bufio.NewWriterSize(c.file, 1<<20)
			}
		}
		if err := c.add(w, f.Float32s()); err != nil {
			return nil, fmt.Errorf("%w: %v", errCacheDisk, err)
		}
		for i := range len(b.Indices) {
			var y *tensor.Tensor
			if b.Y != nil {
				if y, err = row(b.Y, i); err != nil {
					return nil, err
				}
			}
			c.targets = append(c.targets, y)
		}
	}
	if w != nil {
		if err := w.Flush(); err != nil {
			return nil, fmt.Errorf("%w: %v", errCacheDisk, err)
		}
	}
	return c, nil
}

// row returns row i of t along dimension 0, a copy without that dimension.
func row(t *tensor.Tensor, i int) (*tensor.Tensor, error) {
	starts, counts := make([]int, t.Rank()), slices.Clone(t.Shape())
	starts[0], counts[0] = i, 1
	steps := make([]int, t.Rank())
	for k := range steps {
		steps[k] = 1
	}
	r, err := tensor.SliceTensor(nil, t, starts, counts, steps)
	if err != nil {
		return nil, err
	}
	return r.Reshape(t.Shape()[1:]...)
}

// setupCache makes the steps run the head only, on the backbone's outputs computed once,
// where that gives the same steps: everything before the trained tensors frozen (a split
// exists), no augmentation, no training Dropout. The outputs stay in memory up to the cache
// limit and go to a file in the system's temporary directory past it; r.cache holds them
// until the run ends. Otherwise it leaves the run as it is, and says why where a cache was
// possible.
func (r *runner) setupCache(ctx context.Context) error {
	limit := r.cfg.CacheLimit
	if limit == 0 {
		limit = DefaultCacheLimit
	}
	if limit < 0 || r.cfg.Augment.Pad > 0 || r.cfg.Augment.Flip || r.dropout {
		return nil
	}
	s := splitBackbone(r.trainG, r.trained, r.bn, r.output)
	if s == nil {
		return nil
	}
	gctx := &graph.Context{Training: r.training}
	c, err := cacheBackbone(ctx, s, r.trainData, r.cfg.BatchSize, r.cfg.Workers, gctx, limit, "")
	if errors.Is(err, errCacheDisk) {
		r.progress.note(fmt.Sprintf("the frozen backbone's outputs are not cached: over the %d MiB of --cache-limit, and %v", limit>>20, err))
		return nil
	}
	if err != nil {
		return err
	}
	r.cache = c
	plan, err := graph.NewPlan(s.head)
	if err != nil {
		return fmt.Errorf("train: the head after %q: %w", s.cut, err)
	}
	gr, err := NewGradients(plan, Objective{Expr: r.expr, Output: r.cfg.Output}, r.trained)
	if err != nil {
		return fmt.Errorf("train: the head after %q: %w", s.cut, err)
	}
	l := data.NewLoader(c, r.cfg.BatchSize, r.cfg.Shuffle, r.cfg.Seed, r.cfg.Workers)
	l.Weights, l.MPerClass = r.loader.Weights, r.loader.MPerClass
	r.grads, r.loader, r.stepInput = gr, l, s.cut
	where := ""
	if c.file != nil {
		where = fmt.Sprintf(", on disk in %s past the %d MiB of --cache-limit", filepath.Dir(c.file.Name()), limit>>20)
	}
	r.progress.note(fmt.Sprintf("frozen backbone: its output %q (%v per example, %.1f MiB%s) computed once; each step runs the head", s.cut, c.shape, float64(c.bytes())/(1<<20), where))
	return nil
}
