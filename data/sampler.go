package data

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
)

// weightedStream is mixed into the weighted sampler's seed so that it does not share a
// stream with the shuffle or the augmentation.
const weightedStream = 0x7765696768746564 // "weighted"

// checkWeights reports why l.Weights cannot be sampled from: a length other than the data
// set's, a weight that is negative or not finite, or a sum that is not positive and finite.
func (l *Loader) checkWeights() error {
	if l.Weights == nil {
		return nil
	}
	if n := l.Dataset.Len(); len(l.Weights) != n {
		return fmt.Errorf("data: loader: %d weights for %d examples; want one per example", len(l.Weights), n)
	}
	var sum float64
	for i, w := range l.Weights {
		if !(w >= 0) || math.IsInf(w, 1) {
			return fmt.Errorf("data: loader: weight %d is %g; want a finite number >= 0", i, w)
		}
		sum += w
	}
	if sum == 0 {
		return errors.New("data: loader: the weights sum to 0; want at least one positive weight")
	}
	if math.IsInf(sum, 1) {
		return fmt.Errorf("data: loader: the weights sum to %g; scale them down", sum)
	}
	return nil
}

// weightedOrder draws n indices, independently and with replacement, index i with probability
// w[i] / sum(w). It searches the cumulative sums for a uniform draw in [0, sum), as
// torch.multinomial does on the CPU: O(len(w)) to set up, O(log len(w)) a draw.
func weightedOrder(w []float64, n int, rng *rand.Rand) []int {
	cum := make([]float64, len(w))
	var sum float64
	last := 0 // the last index with a positive weight
	for i, x := range w {
		sum += x
		cum[i] = sum
		if x > 0 {
			last = i
		}
	}
	order := make([]int, n)
	for k := range order {
		u := rng.Float64() * sum
		// The first i whose interval [cum[i-1], cum[i]) holds u: an index of weight 0 has an
		// empty interval, so it is never drawn.
		i := sort.Search(len(cum), func(i int) bool { return cum[i] > u })
		// Float64()*sum can round up to sum itself, past every interval.
		order[k] = min(i, last)
	}
	return order
}
