package data

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/onnxtune/onnxtune/tensor"
)

// Batch is one mini-batch: the examples' inputs and targets stacked along a new first
// dimension.
type Batch struct {
	// X is float32 [B, ...], the examples' x stacked.
	X *tensor.Tensor
	// Y is int64 [B] for class indices, otherwise the examples' y stacked, [B, ...]; nil
	// for a data set without targets (every y nil).
	Y *tensor.Tensor
	// Indices are the data set indices of the examples, in batch order.
	Indices []int
}

// Loader cuts a Dataset into mini-batches, as torch.utils.data.DataLoader with
// drop_last=False: every example once per epoch (unless Weights is set), the last batch
// smaller when the batch size does not divide the data set. Examples are decoded by a pool of
// worker goroutines a few batches ahead of the consumer, never more, so memory stays bounded
// however large the data set. The fields are read when an epoch starts; set them before.
type Loader struct {
	Dataset   Dataset
	BatchSize int
	// Shuffle draws a new order every epoch from rand.New(rand.NewPCG(Seed, epoch)), a
	// Fisher-Yates shuffle (math/rand/v2's Perm). It is repeatable for a seed and epoch but
	// cannot equal torch's RandomSampler, which uses torch's own generator. Without Shuffle,
	// batches follow the data set's order (file order). Shuffle is ignored when Weights is set.
	Shuffle bool
	Seed    uint64
	// Weights, when not nil, weight the examples as torch's
	// WeightedRandomSampler(Weights, num_samples=Len, replacement=True): every epoch reads Len
	// examples drawn independently, example i with probability Weights[i] / sum(Weights), so an
	// example may come several times or not at all. The draws come from a generator seeded by
	// (Seed, epoch), on a stream apart from the shuffle's: repeatable, but not torch's. There
	// must be one weight per example, each finite and >= 0, with a positive sum; otherwise the
	// first batch of Epoch is an error. BalancedWeights gives every class the same share.
	Weights []float64
	// MPerClass, when positive, fills every batch with MPerClass examples of each of
	// BatchSize / MPerClass classes, as pytorch-metric-learning's MPerClassSampler: an epoch
	// is Len / BatchSize whole batches (mPerClassOrder). It needs class-index labels.
	MPerClass int
	// Workers is the number of goroutines decoding examples; 0 means GOMAXPROCS.
	Workers int
	// Prefetch is how many batches may be decoded ahead of the consumer; 0 means enough to
	// keep the workers busy: max(2, ceil(2*Workers/BatchSize)).
	Prefetch int
	// Augment is applied to every example after decoding, with draws from a generator seeded
	// by (Seed, epoch, example index), so the result does not depend on which worker ran it.
	// With a nil Augment.Fill, padding takes the data set's PadFill.
	Augment Augment
}

// NewLoader returns a Loader over ds. Invalid settings (a batch size below 1) are reported
// by the first batch of Epoch.
func NewLoader(ds Dataset, batchSize int, shuffle bool, seed uint64, workers int) *Loader {
	return &Loader{Dataset: ds, BatchSize: batchSize, Shuffle: shuffle, Seed: seed, Workers: workers}
}

// Len returns the number of batches per epoch, ceil(Len / BatchSize).
func (l *Loader) Len() int {
	if l.BatchSize < 1 || l.Dataset == nil {
		return 0
	}
	if l.MPerClass > 0 {
		return l.Dataset.Len() / l.BatchSize // whole batches only
	}
	return (l.Dataset.Len() + l.BatchSize - 1) / l.BatchSize
}

// Order returns the data set indices in the order epoch reads them. With Weights, they are
// the epoch's weighted draws, with MPerClass its m-per-class batches; Order returns nil when
// those settings are invalid (Epoch says why).
func (l *Loader) Order(epoch int) []int {
	if l.Dataset == nil {
		return nil
	}
	n := l.Dataset.Len()
	if l.MPerClass > 0 {
		order, err := l.mPerClassOrder(epoch) // nil when the settings are invalid
		if err != nil {
			return nil
		}
		return order
	}
	if l.Weights != nil {
		if l.checkWeights() != nil {
			return nil
		}
		return weightedOrder(l.Weights, n, rand.New(rand.NewPCG(l.Seed^weightedStream, uint64(epoch))))
	}
	if !l.Shuffle {
		order := make([]int, n)
		for i := range order {
			order[i] = i
		}
		return order
	}
	return rand.New(rand.NewPCG(l.Seed, uint64(epoch))).Perm(n)
}

// augmentStream is mixed into the augmentation generator's seed so that it does not share
// a stream with the shuffle.
const augmentStream = 0x6175676d656e74 // "augment"

// slot is one batch in flight.
type slot struct {
	indices []int
	xs, ys  []*tensor.Tensor
	pending atomic.Int32
	done    chan struct{} // closed when the batch is stacked or has failed
	err     error         // the first error; written once, read after done closes
	errOnce sync.Once
	failed  atomic.Bool // set with err, so other workers can skip the batch's examples
	batch   *Batch
}

func (s *slot) fail(err error) {
	s.errOnce.Do(func() { s.err = err })
	s.failed.Store(true)
}

type job struct {
	s   *slot
	pos int
}

// Epoch returns the batches of one epoch (counted from 0; it seeds the shuffle and the
// augmentation). Iteration stops at the first error, which is yielded with a nil batch: an
// example that fails to decode (the error names its file), inconsistent example shapes, or
// ctx's cancellation (wrapping ctx's error, so errors.Is(err, context.Canceled) holds).
// Breaking out of the loop early stops the workers; all of them have returned when the
// iteration ends. Each epoch's batches are freshly allocated and belong to the caller.
func (l *Loader) Epoch(ctx context.Context, epoch int) iter.Seq2[*Batch, error] {
	return l.EpochFrom(ctx, epoch, 0)
}

// EpochFrom is Epoch without its first skip batches, which it neither reads nor decodes:
// the rest of an epoch a checkpoint taken within it left to do. The batches it yields are
// those Epoch yields after its first skip, augmentation included.
func (l *Loader) EpochFrom(ctx context.Context, epoch, skip int) iter.Seq2[*Batch, error] {
	return func(yield func(*Batch, error) bool) {
		if err := l.Check(); err != nil {
			yield(nil, err)
			return
		}
		if err := ctx.Err(); err != nil {
			yield(nil, fmt.Errorf("data: loader: %w", err))
			return
		}
		order := l.Order(epoch)
		if skip < 0 || skip > l.Len() {
			yield(nil, fmt.Errorf("data: loader: cannot skip %d of an epoch's %d batches", skip, l.Len()))
			return
		}
		order = order[min(skip*l.BatchSize, len(order)):]
		nb := l.Len() - skip
		workers := l.Workers
		if workers <= 0 {
			workers = runtime.GOMAXPROCS(0)
		}
		ahead := l.Prefetch
		if ahead <= 0 {
			ahead = max(2, (2*workers+l.BatchSize-1)/l.BatchSize)
		}
		ahead = min(ahead, max(nb, 1))
		workers = min(workers, max(ahead*l.BatchSize, 1))
		aug := l.Augment
		if aug.Enabled() && aug.Fill == nil {
			aug.Fill = padFill(l.Dataset)
		}

		ctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		defer func() {
			cancel()
			wg.Wait()
		}()
		jobs := make(chan job)
		slots := make(chan *slot, ahead)
		tokens := make(chan struct{}, ahead) // one per batch dispatched and not yet yielded

		wg.Go(func() { // dispatcher: batches in order, at most ahead of them in flight
			defer close(jobs)
			defer close(slots)
			for b := range nb {
				select {
				case tokens <- struct{}{}:
				case <-ctx.Done():
					return
				}
				idx := order[b*l.BatchSize : min((b+1)*l.BatchSize, len(order))]
				s := &slot{
					indices: idx,
					xs:      make([]*tensor.Tensor, len(idx)),
					ys:      make([]*tensor.Tensor, len(idx)),
					done:    make(chan struct{}),
				}
				s.pending.Store(int32(len(idx)))
				slots <- s // never blocks: the token bounds the slots in the channel
				for pos := range idx {
					select {
					case jobs <- job{s, pos}:
					case <-ctx.Done():
						return
					}
				}
			}
		})
		for range workers {
			wg.Go(func() {
				for j := range jobs {
					l.runJob(ctx, j, epoch, aug)
				}
			})
		}

		for range nb {
			var s *slot
			ok := ctx.Err() == nil // no batch after a cancellation, even one already decoded
			if ok {
				select {
				case s, ok = <-slots:
				case <-ctx.Done():
					ok = false
				}
			}
			if ok {
				select {
				case <-s.done:
				case <-ctx.Done():
					ok = false
				}
			}
			if !ok {
				yield(nil, fmt.Errorf("data: loader: %w", context.Cause(ctx)))
				return
			}
			<-tokens
			if s.err != nil {
				yield(nil, s.err)
				return
			}
			if !yield(s.batch, nil) {
				return
			}
		}
	}
}

// Check reports why the loader cannot make an epoch from its settings (the batch size, the
// augmentation, the example weights or the m-per-class sampler against the data's classes),
// without reading any example; Epoch reports the same as its first error.
func (l *Loader) Check() error {
	if l.Dataset == nil {
		return errors.New("data: loader: no data set")
	}
	if l.BatchSize < 1 {
		return fmt.Errorf("data: loader: batch size %d; want at least 1", l.BatchSize)
	}
	if l.Augment.Pad < 0 {
		return fmt.Errorf("data: loader: augment padding %d is negative", l.Augment.Pad)
	}
	if err := l.checkMPerClass(); err != nil {
		return err
	}
	return l.checkWeights()
}

// runJob decodes (and augments) one example into its slot; the worker that completes a
// batch stacks it.
func (l *Loader) runJob(ctx context.Context, j job, epoch int, aug Augment) {
	s := j.s
	if ctx.Err() == nil && !s.failed.Load() {
		x, y, err := l.example(s.indices[j.pos], epoch, aug)
		if err != nil {
			s.fail(err)
		} else {
			s.xs[j.pos], s.ys[j.pos] = x, y
		}
	}
	// The last Add observes every earlier one, so the examples and any error the other
	// workers stored are visible to the worker that completes the batch.
	if s.pending.Add(-1) != 0 {
		return
	}
	switch {
	case s.failed.Load():
	case ctx.Err() != nil:
		// A batch cut short by a cancellation is an error, never an empty batch: the
		// consumer may see done before it sees the cancellation.
		s.fail(fmt.Errorf("data: loader: %w", context.Cause(ctx)))
	default:
		b, err := stack(s)
		if err != nil {
			s.fail(err)
		}
		s.batch = b
	}
	close(s.done)
}

// example returns example i augmented, turning a panic in a Dataset implementation into an
// error so that it cannot take the process down from a worker goroutine.
func (l *Loader) example(i, epoch int, aug Augment) (x, y *tensor.Tensor, err error) {
	defer func() {
		if p := recover(); p != nil {
			x, y, err = nil, nil, fmt.Errorf("data: loader: example %d: panic: %v", i, p)
		}
	}()
	x, y, err = l.Dataset.Example(i)
	if err != nil {
		return nil, nil, err
	}
	if x == nil {
		return nil, nil, fmt.Errorf("data: loader: example %d: the data set returned a nil tensor", i)
	}
	if aug.Enabled() {
		rng := rand.New(rand.NewPCG(l.Seed^augmentStream, uint64(epoch)<<40^uint64(i)))
		if x, err = aug.Apply(x, rng); err != nil {
			return nil, nil, fmt.Errorf("data: loader: example %d: %w", i, err)
		}
	}
	return x, y, nil
}

// stack builds a slot's batch from its examples, which must agree in shape and dtype.
func stack(s *slot) (*Batch, error) {
	x0, y0 := s.xs[0], s.ys[0]
	for k := range s.xs {
		x, y := s.xs[k], s.ys[k]
		if x.DType() != tensor.Float32 {
			return nil, fmt.Errorf("data: loader: example %d: x is %v, want float32", s.indices[k], x)
		}
		if !slices.Equal(x.Shape(), x0.Shape()) {
			return nil, fmt.Errorf("data: loader: example %d: x is %v but example %d's is %v; a batch needs equal shapes",
				s.indices[k], x, s.indices[0], x0)
		}
		if (y == nil) != (y0 == nil) || y != nil && (y.DType() != y0.DType() || !slices.Equal(y.Shape(), y0.Shape())) {
			return nil, fmt.Errorf("data: loader: example %d: y is %v but example %d's is %v",
				s.indices[k], y, s.indices[0], y0)
		}
	}
	b := len(s.xs)
	X := tensor.New(tensor.Float32, append([]int{b}, x0.Shape()...)...)
	xd, n := X.Float32s(), x0.Len()
	for k, x := range s.xs {
		copy(xd[k*n:(k+1)*n], x.Float32s())
	}
	batch := &Batch{X: X, Indices: slices.Clone(s.indices)}
	if y0 == nil {
		return batch, nil
	}
	batch.Y = tensor.New(y0.DType(), append([]int{b}, y0.Shape()...)...)
	if err := stackInto(batch.Y, s.ys); err != nil {
		return nil, fmt.Errorf("data: loader: %w", err)
	}
	return batch, nil
}

func stackInto(dst *tensor.Tensor, parts []*tensor.Tensor) error {
	switch d := dst.Data().(type) {
	case []float32:
		return stackSlices(d, parts)
	case []float64:
		return stackSlices(d, parts)
	case []int64:
		return stackSlices(d, parts)
	case []int32:
		return stackSlices(d, parts)
	case []uint8:
		return stackSlices(d, parts)
	case []bool:
		return stackSlices(d, parts)
	}
	return fmt.Errorf("targets of dtype %v cannot be batched", dst.DType())
}

func stackSlices[T tensor.Elem](dst []T, parts []*tensor.Tensor) error {
	n := parts[0].Len()
	for k, p := range parts {
		copy(dst[k*n:(k+1)*n], tensor.Data[T](p))
	}
	return nil
}
