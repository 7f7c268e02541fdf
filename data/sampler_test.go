package data

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// chiSquare is Pearson's goodness-of-fit statistic of observed counts against expected ones.
func chiSquare(observed []int, expected []float64) float64 {
	var s float64
	for k, o := range observed {
		d := float64(o) - expected[k]
		s += d * d / expected[k]
	}
	return s
}

// drawClasses counts the classes of the examples the loader's first epochs draw.
func drawClasses(l *Loader, labels []int64, classes, epochs int) []int {
	counts := make([]int, classes)
	for e := range epochs {
		for _, i := range l.Order(e) {
			counts[labels[i]]++
		}
	}
	return counts
}

// TestLoaderWeightsBalanceClasses: with BalancedWeights, every class is drawn equally often.
// The draws are seeded, so the test is deterministic; the bound is the 99.9% quantile of the
// chi-square distribution, which a correct sampler exceeds for one seed in a thousand.
func TestLoaderWeightsBalanceClasses(t *testing.T) {
	for _, c := range []struct {
		name   string
		counts []int // examples per class
		epochs int
		// crit is the 99.9% quantile of chi-square with len(counts)-1 degrees of freedom
		// (scipy.stats.chi2.ppf(0.999, df)).
		crit float64
	}{
		{"900:100", []int{900, 100}, 10, 10.828},    // 10,000 draws, df 1
		{"1:3:6", []int{100, 300, 600}, 10, 13.816}, // 10,000 draws, df 2
	} {
		var labels []int64
		for k, n := range c.counts {
			labels = append(labels, slices.Repeat([]int64{int64(k)}, n)...)
		}
		// Mix the classes, so that a sampler biased by position would show.
		rng := rand.New(rand.NewPCG(1, 2))
		rng.Shuffle(len(labels), func(i, j int) { labels[i], labels[j] = labels[j], labels[i] })
		w, err := BalancedWeights(labels, len(c.counts))
		if err != nil {
			t.Fatal(err)
		}
		ds := newCountDataset(len(labels), len(c.counts))
		l := &Loader{Dataset: ds, BatchSize: 32, Seed: 7, Weights: w}
		draws := c.epochs * len(labels)
		uniform := slices.Repeat([]float64{float64(draws) / float64(len(c.counts))}, len(c.counts))

		got := drawClasses(l, labels, len(c.counts), c.epochs)
		x2 := chiSquare(got, uniform)
		if x2 > c.crit {
			t.Errorf("%s: %d draws give classes %v: chi-square %.2f against uniform, above %.3f", c.name, draws, got, x2, c.crit)
		}
		t.Logf("%s: %d draws give classes %v: chi-square %.2f, bound %.3f", c.name, draws, got, x2, c.crit)
		// The test has power: without the weights, the same statistic is far above the bound.
		l.Weights = slices.Repeat([]float64{1}, len(labels))
		if got := drawClasses(l, labels, len(c.counts), c.epochs); chiSquare(got, uniform) < 100*c.crit {
			t.Errorf("%s: unit weights draw classes %v, close to uniform", c.name, got)
		}
	}
}

// TestLoaderWeightsProportions: each example is drawn in proportion to its weight, and an
// example of weight 0 never.
func TestLoaderWeightsProportions(t *testing.T) {
	w := []float64{0, 1, 2.5, 3, 0, 4, 0.5, 0} // sum 11
	l := &Loader{Dataset: newCountDataset(len(w), 2), BatchSize: 3, Seed: 99, Weights: w}
	const epochs = 3000 // 24,000 draws
	got := make([]int, len(w))
	for e := range epochs {
		for _, i := range l.Order(e) {
			got[i]++
		}
	}
	draws := epochs * len(w)
	var observed []int
	var expected []float64
	for i, x := range w {
		if x == 0 {
			if got[i] != 0 {
				t.Errorf("example %d of weight 0 drawn %d times, want 0", i, got[i])
			}
			continue
		}
		observed = append(observed, got[i])
		expected = append(expected, float64(draws)*x/11)
	}
	// 99.9% quantile of chi-square with 5 - 1 degrees of freedom.
	x2 := chiSquare(observed, expected)
	if x2 > 18.467 {
		t.Errorf("%d draws: counts %v, chi-square %.2f against %v, above 18.467", draws, got, x2, expected)
	}
	t.Logf("%d draws: counts %v, chi-square %.2f, bound 18.467", draws, got, x2)
}

// TestLoaderWeightsOrder: the draws are Len per epoch, repeatable for a seed and epoch, new for
// another of either, independent of Shuffle and of the number of workers, and the batches
// follow them.
func TestLoaderWeightsOrder(t *testing.T) {
	ds := newCountDataset(103, 3)
	labels := make([]int64, ds.Len())
	for i := range labels {
		labels[i] = int64(min(i%10, 2)) // classes 1:1:8
	}
	w, err := BalancedWeights(labels, 3)
	if err != nil {
		t.Fatal(err)
	}
	loader := func(seed uint64, shuffle bool, workers int) *Loader {
		l := NewLoader(ds, 10, shuffle, seed, workers)
		l.Weights = w
		return l
	}
	a := loader(42, false, 1).Order(0)
	if len(a) != ds.Len() {
		t.Fatalf("Order draws %d examples, want the data set's %d", len(a), ds.Len())
	}
	if b := loader(42, false, 4).Order(0); !slices.Equal(a, b) {
		t.Error("same seed and epoch: different draws")
	}
	if b := loader(42, true, 1).Order(0); !slices.Equal(a, b) {
		t.Error("Shuffle changes the weighted draws")
	}
	if b := loader(42, false, 1).Order(1); slices.Equal(a, b) {
		t.Error("epochs 0 and 1 draw the same examples")
	}
	if b := loader(43, false, 1).Order(0); slices.Equal(a, b) {
		t.Error("seeds 42 and 43 draw the same examples")
	}
	if b := NewLoader(ds, 10, true, 42, 1).Order(0); slices.Equal(a, b) {
		t.Error("the weighted draws equal the shuffle's permutation")
	}
	for _, i := range a {
		if i < 0 || i >= ds.Len() {
			t.Fatalf("Order draws index %d of %d examples", i, ds.Len())
		}
	}
	if !hasRepeat(a) {
		t.Error("no example drawn twice: a permutation, not draws with replacement")
	}
	for _, workers := range []int{1, 8} {
		l := loader(42, false, workers)
		batches := collect(t, l, 0)
		if got := slices.Concat(batches...); !slices.Equal(got, a) {
			t.Errorf("workers=%d: the batches read %v, want Order(0) %v", workers, got, a)
		}
		if len(batches) != l.Len() {
			t.Errorf("workers=%d: %d batches, want Len %d", workers, len(batches), l.Len())
		}
	}
}

func hasRepeat(order []int) bool {
	s := slices.Sorted(slices.Values(order))
	return len(slices.Compact(s)) < len(order)
}

func TestLoaderWeightsErrors(t *testing.T) {
	for _, c := range []struct {
		name    string
		n       int
		weights []float64
		want    string
	}{
		{"too few", 4, []float64{1, 1, 1}, "3 weights for 4 examples"},
		{"too many", 2, []float64{1, 1, 1}, "3 weights for 2 examples"},
		{"negative", 3, []float64{1, -0.5, 1}, "weight 1 is -0.5; want a finite number >= 0"},
		{"NaN", 3, []float64{1, 1, math.NaN()}, "weight 2 is NaN"},
		{"infinite", 2, []float64{math.Inf(1), 1}, "weight 0 is +Inf"},
		{"all zero", 3, []float64{0, 0, 0}, "the weights sum to 0"},
		{"empty", 0, []float64{}, "the weights sum to 0"},
		{"sum overflows", 2, []float64{math.MaxFloat64, math.MaxFloat64}, "the weights sum to +Inf"},
	} {
		l := &Loader{Dataset: newCountDataset(c.n, 2), BatchSize: 2, Weights: c.weights}
		var err error
		for _, e := range l.Epoch(context.Background(), 0) {
			err = e
			break
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: first batch's error %v, want one containing %q", c.name, err, c.want)
		}
		if o := l.Order(0); o != nil {
			t.Errorf("%s: Order %v, want nil", c.name, o)
		}
	}
}
