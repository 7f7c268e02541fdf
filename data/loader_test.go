package data

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/tensor"
)

// countDataset has n examples: x = [i, -i] (float32 [2]), y = i % classes. It records how
// many examples have been decoded and how many Example calls are running, and can fail or
// panic at one index or sleep in each call.
type countDataset struct {
	n, classes int
	failAt     int // -1: never
	panicAt    int // -1: never
	delay      time.Duration
	decoded    atomic.Int64
	running    atomic.Int64
}

func newCountDataset(n, classes int) *countDataset {
	return &countDataset{n: n, classes: classes, failAt: -1, panicAt: -1}
}

func (d *countDataset) Len() int          { return d.n }
func (d *countDataset) Classes() []string { return nil }

func (d *countDataset) Example(i int) (x, y *tensor.Tensor, err error) {
	d.running.Add(1)
	defer d.running.Add(-1)
	if d.delay > 0 {
		time.Sleep(d.delay)
	}
	if i == d.failAt {
		return nil, nil, fmt.Errorf("data: example%03d.png: decode png: broken", i)
	}
	if i == d.panicAt {
		panic("boom")
	}
	d.decoded.Add(1)
	return tensor.From([]int{2}, []float32{float32(i), float32(-i)}), tensor.Scalar(int64(i % d.classes)), nil
}

// collect runs one epoch and returns each batch's indices, checking X and Y against them.
func collect(t *testing.T, l *Loader, epoch int) [][]int {
	t.Helper()
	var out [][]int
	for b, err := range l.Epoch(context.Background(), epoch) {
		if err != nil {
			t.Fatal(err)
		}
		n := len(b.Indices)
		if !slices.Equal(b.X.Shape(), []int{n, 2}) || !slices.Equal(b.Y.Shape(), []int{n}) || b.Y.DType() != tensor.Int64 {
			t.Fatalf("batch X %v Y %v for %d examples", b.X, b.Y, n)
		}
		for k, i := range b.Indices {
			if x := b.X.Float32s()[2*k : 2*k+2]; x[0] != float32(i) || x[1] != float32(-i) {
				t.Fatalf("row %d of the batch is %v, want example %d", k, x, i)
			}
		}
		out = append(out, b.Indices)
	}
	return out
}

func TestLoaderOrderMatchesDataLoader(t *testing.T) {
	t.Parallel()
	// torch.utils.data.DataLoader(shuffle=False, drop_last=False): the batches' indices.
	const code = `
import json, sys, torch
from torch.utils.data import DataLoader
out = []
for n, b in json.loads(sys.argv[1]):
    out.append([batch.tolist() for batch in DataLoader(torch.arange(n), batch_size=b, shuffle=False)])
print(json.dumps(out))
`
	cases := [][2]int{{10, 4}, {8, 4}, {3, 5}, {1, 1}, {7, 1}, {13, 13}, {14, 13}}
	js, _ := json.Marshal(cases)
	var want [][][]int
	if err := json.Unmarshal([]byte(fixture.RunPython(t, code, string(js))), &want); err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		for _, workers := range []int{1, 3, 16} {
			l := NewLoader(newCountDataset(c[0], 3), c[1], false, 0, workers)
			got := collect(t, l, 0)
			if !slices.EqualFunc(got, want[i], slices.Equal) {
				t.Errorf("n=%d batch=%d workers=%d: batches %v, want %v", c[0], c[1], workers, got, want[i])
			}
			if l.Len() != len(want[i]) {
				t.Errorf("n=%d batch=%d: Len %d, want %d", c[0], c[1], l.Len(), len(want[i]))
			}
		}
	}
}

func TestLoaderShuffle(t *testing.T) {
	ds := newCountDataset(103, 3)
	run := func(seed uint64, workers, epoch int) []int {
		l := NewLoader(ds, 10, true, seed, workers)
		l.Augment = Augment{} // none
		return slices.Concat(collect(t, l, epoch)...)
	}
	a := run(42, 1, 0)
	if b := run(42, 8, 0); !slices.Equal(a, b) {
		t.Error("same seed and epoch, different workers: different order")
	}
	sorted := slices.Sorted(slices.Values(a))
	for i, v := range sorted {
		if v != i {
			t.Fatalf("epoch is not a permutation of 0..102: %v", sorted)
		}
	}
	if slices.Equal(a, sorted) {
		t.Error("shuffled epoch is in file order")
	}
	if b := run(42, 4, 1); slices.Equal(a, b) {
		t.Error("epochs 0 and 1 have the same order")
	}
	if b := run(43, 4, 0); slices.Equal(a, b) {
		t.Error("seeds 42 and 43 give the same order")
	}
	l := NewLoader(ds, 10, true, 42, 2)
	if got := l.Order(0); !slices.Equal(got, a) {
		t.Error("Order(0) differs from the batches")
	}
}

func TestLoaderAugmentDeterministic(t *testing.T) {
	f, err := OpenImageFolder(imageFolder, ImageTransform{Channels: 3, Height: 12, Width: 12})
	if err != nil {
		t.Fatal(err)
	}
	run := func(workers int, seed uint64) []float32 {
		l := NewLoader(f, 5, true, seed, workers)
		l.Augment = Augment{Pad: 4, Flip: true}
		var all []float32
		for b, err := range l.Epoch(context.Background(), 3) {
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, b.X.Float32s()...)
		}
		return all
	}
	a := run(1, 7)
	if b := run(6, 7); !slices.Equal(a, b) {
		t.Error("augmented epoch depends on the number of workers")
	}
	if b := run(6, 8); slices.Equal(a, b) {
		t.Error("seeds 7 and 8 augment alike")
	}
	// Padding is black after normalisation: the PadFill values appear in the batches.
	fill := f.PadFill()
	found := false
	for k := 0; k+1 < len(a); k++ {
		if a[k] == fill[0] || a[k] == fill[1] || a[k] == fill[2] {
			found = true
			break
		}
	}
	if !found {
		t.Error("no padding value in 16 images cropped with padding 4")
	}
}

func TestLoaderBoundedMemory(t *testing.T) {
	ds := newCountDataset(200, 2)
	l := NewLoader(ds, 4, false, 0, 8)
	l.Prefetch = 2
	consumed := 0
	maxAhead := int64(0)
	for b, err := range l.Epoch(context.Background(), 0) {
		if err != nil {
			t.Fatal(err)
		}
		consumed += len(b.Indices)
		time.Sleep(200 * time.Microsecond) // a slow consumer lets the workers run ahead if they can
		maxAhead = max(maxAhead, ds.decoded.Load()-int64(consumed))
	}
	if consumed != 200 {
		t.Fatalf("consumed %d examples", consumed)
	}
	// Decoded but not yet yielded: at most Prefetch batches.
	if maxAhead > int64(l.Prefetch*l.BatchSize) {
		t.Errorf("%d examples decoded ahead of the consumer, want at most %d", maxAhead, l.Prefetch*l.BatchSize)
	}
}

func TestLoaderErrors(t *testing.T) {
	ds := newCountDataset(50, 2)
	ds.failAt = 23
	var got error
	batches := 0
	for _, err := range NewLoader(ds, 4, false, 0, 4).Epoch(context.Background(), 0) {
		if err != nil {
			got = err
			continue
		}
		batches++
	}
	checkOneLine(t, got, "example023.png")
	if batches != 5 {
		t.Errorf("%d batches before the failing one, want 5", batches)
	}
	if n := ds.running.Load(); n != 0 {
		t.Errorf("%d Example calls still running after the epoch ended", n)
	}

	ds = newCountDataset(10, 2)
	ds.panicAt = 3
	got = nil
	for _, err := range NewLoader(ds, 4, false, 0, 2).Epoch(context.Background(), 0) {
		got = err
	}
	checkOneLine(t, got, "example 3", "panic: boom")

	for _, err := range NewLoader(ds, 0, false, 0, 2).Epoch(context.Background(), 0) {
		checkOneLine(t, err, "batch size 0")
	}

	mixed := &Subset{Parent: newCountDataset(4, 2), Indices: []int{0, 1}}
	l := NewLoader(&shapeDataset{mixed}, 2, false, 0, 1)
	for _, err := range l.Epoch(context.Background(), 0) {
		checkOneLine(t, err, "equal shapes")
	}
}

// shapeDataset gives example 1 a different shape.
type shapeDataset struct{ Dataset }

func (d *shapeDataset) Example(i int) (x, y *tensor.Tensor, err error) {
	x, y, err = d.Dataset.Example(i)
	if i == 1 && err == nil {
		x = tensor.From([]int{1, 2}, x.Float32s())
	}
	return x, y, err
}

func TestLoaderCancel(t *testing.T) {
	ds := newCountDataset(1000, 2)
	ds.delay = 100 * time.Microsecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var got error
	batches := 0
	for _, err := range NewLoader(ds, 8, true, 1, 4).Epoch(ctx, 0) {
		if err != nil {
			got = err
			break
		}
		batches++
		if batches == 3 {
			cancel()
		}
	}
	if !errors.Is(got, context.Canceled) || !strings.HasPrefix(got.Error(), "data: loader: ") {
		t.Errorf("error %v, want data: loader: context canceled", got)
	}
	if batches != 3 {
		t.Errorf("%d batches, cancelled after 3", batches)
	}
	if n := ds.running.Load(); n != 0 {
		t.Errorf("%d Example calls still running after the epoch ended", n)
	}

	// Breaking out early stops the workers before the loop returns.
	ds = newCountDataset(1000, 2)
	ds.delay = 50 * time.Microsecond
	for _, err := range NewLoader(ds, 8, false, 0, 8).Epoch(context.Background(), 0) {
		if err != nil {
			t.Fatal(err)
		}
		break
	}
	if n := ds.running.Load(); n != 0 {
		t.Errorf("%d Example calls still running after break", n)
	}
	if n := ds.decoded.Load(); n > 200 {
		t.Errorf("%d examples decoded for one batch", n)
	}
}

func TestLoaderTargets(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/reg.npz"
	x := tensor.From([]int{5, 2}, []float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	y := tensor.From([]int{5, 3}, []float64{0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4})
	if err := SaveNPZ(path, []string{"x", "y"}, map[string]*tensor.Tensor{"x": x, "y": y}); err != nil {
		t.Fatal(err)
	}
	ds, err := OpenNPZ(path, "")
	if err != nil {
		t.Fatal(err)
	}
	var shapes [][]int
	for b, err := range NewLoader(ds, 2, false, 0, 2).Epoch(context.Background(), 0) {
		if err != nil {
			t.Fatal(err)
		}
		if b.Y.DType() != tensor.Float32 || b.Y.Float32s()[0] != float32(b.Indices[0]) {
			t.Errorf("batch %v: Y %v %v", b.Indices, b.Y, b.Y.Float32s())
		}
		shapes = append(shapes, b.Y.Shape())
	}
	if !slices.EqualFunc(shapes, [][]int{{2, 3}, {2, 3}, {1, 3}}, slices.Equal) {
		t.Errorf("Y shapes %v", shapes)
	}
}

// cancelAt cancels a context from inside Example i, as a caller reacting to a signal while
// the loader decodes.
type cancelAt struct {
	Dataset
	at     int
	cancel context.CancelFunc
}

func (d *cancelAt) Example(i int) (x, y *tensor.Tensor, err error) {
	if i == d.at {
		d.cancel()
	}
	return d.Dataset.Example(i)
}

// TestLoaderCancelInsideBatch: a cancellation that lands while a batch is being decoded never
// yields that batch empty: every yield is a whole batch or an error wrapping
// context.Canceled. Repeated, since which of the two the consumer sees first is a race.
func TestLoaderCancelInsideBatch(t *testing.T) {
	for round := range 300 {
		ctx, cancel := context.WithCancel(context.Background())
		ds := &cancelAt{Dataset: newCountDataset(64, 2), at: 20 + round%20, cancel: cancel}
		for b, err := range NewLoader(ds, 8, false, 0, 3).Epoch(ctx, 0) {
			if err != nil {
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("round %d: error %v, want one wrapping context.Canceled", round, err)
				}
				break
			}
			if b == nil || b.X == nil {
				t.Fatalf("round %d: the loader yielded an empty batch and no error", round)
			}
		}
		cancel()
	}
}
