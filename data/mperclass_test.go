package data

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/onnxtune/onnxtune/tensor"
)

// classSet is an in-memory data set whose example i is the scalar i with label labels[i].
type classSet []int64

func (s classSet) Len() int { return len(s) }
func (s classSet) Example(i int) (*tensor.Tensor, *tensor.Tensor, error) {
	return tensor.From([]int{1}, []float32{float32(i)}), tensor.Scalar(s[i]), nil
}
func (s classSet) Classes() []string { return nil }
func (s classSet) Labels() []int64   { return s }

// TestMPerClassSampler: every batch holds M examples of each of batch size / M classes,
// drawn without replacement from a class that has M (with replacement from one that has
// fewer); an epoch is whole batches; the draws repeat for a seed and epoch and change with
// the epoch.
func TestMPerClassSampler(t *testing.T) {
	var labels classSet
	for c, count := range []int{9, 7, 2, 12, 5} { // class 2 has fewer than M = 3
		for range count {
			labels = append(labels, int64(c))
		}
	}
	l := NewLoader(labels, 6, true, 4, 2)
	l.MPerClass = 3
	if got := l.Len(); got != len(labels)/6 {
		t.Errorf("%d batches, want %d whole ones", got, len(labels)/6)
	}
	epochs := map[int][][]int{}
	for epoch := range 2 {
		for b, err := range l.Epoch(context.Background(), epoch) {
			if err != nil {
				t.Fatal(err)
			}
			if len(b.Indices) != 6 {
				t.Fatalf("a batch of %d", len(b.Indices))
			}
			perClass := map[int64][]int{}
			for k, i := range b.Indices {
				if y := b.Y.Int64s()[k]; y != labels[i] {
					t.Fatalf("example %d has label %d in the batch, %d in the data", i, y, labels[i])
				}
				perClass[labels[i]] = append(perClass[labels[i]], i)
			}
			if len(perClass) != 2 {
				t.Errorf("batch %v holds %d classes, want 2", b.Indices, len(perClass))
			}
			for c, members := range perClass {
				if len(members) != 3 {
					t.Errorf("batch %v: class %d has %d examples, want 3", b.Indices, c, len(members))
				}
				if c != 2 && len(slices.Compact(slices.Sorted(slices.Values(members)))) != 3 {
					t.Errorf("batch %v: class %d repeats an example though it has enough", b.Indices, c)
				}
			}
			epochs[epoch] = append(epochs[epoch], b.Indices)
		}
	}
	again := slices.Collect(func(yield func([]int) bool) {
		for b, err := range l.Epoch(context.Background(), 0) {
			if err != nil || !yield(b.Indices) {
				return
			}
		}
	})
	if !slices.EqualFunc(again, epochs[0], slices.Equal) {
		t.Errorf("epoch 0 drew %v, then %v", epochs[0], again)
	}
	if slices.EqualFunc(epochs[0], epochs[1], slices.Equal) {
		t.Errorf("epochs 0 and 1 drew the same batches")
	}

	for _, c := range []struct {
		batch, m int
		want     string
	}{
		{6, 4, "do not divide the batch size 6"},
		{18, 3, "need 6 classes; the data set has 5"},
	} {
		l := NewLoader(labels, c.batch, true, 4, 1)
		l.MPerClass = c.m
		for _, err := range l.Epoch(context.Background(), 0) {
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("batch %d, m %d: got %v, want %q", c.batch, c.m, err, c.want)
			}
			break
		}
	}
}
