package data

import (
	"fmt"
	"math/rand/v2"
	"slices"
)

// mPerClassStream is mixed into the m-per-class sampler's seed so that it does not share a
// stream with the shuffle, the weighted draws or the augmentation.
const mPerClassStream = 0x6d70657263 // "mperc"

// classIndices groups ds's examples by class label, the classes in ascending order.
func classIndices(ds Dataset) (classes []int64, byClass map[int64][]int, err error) {
	labels, ok, err := Labels(ds)
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		return nil, nil, fmt.Errorf("data: loader: an m-per-class sampler needs class-index labels, and this data set's targets are not")
	}
	byClass = map[int64][]int{}
	for i, c := range labels {
		if _, seen := byClass[c]; !seen {
			classes = append(classes, c)
		}
		byClass[c] = append(byClass[c], i)
	}
	slices.Sort(classes)
	return classes, byClass, nil
}

// checkMPerClass reports why the m-per-class sampler cannot fill batches (mPerClassGroups).
func (l *Loader) checkMPerClass() error {
	if l.MPerClass == 0 {
		return nil
	}
	_, _, err := l.mPerClassGroups()
	return err
}

// mPerClassGroups groups the examples by class (classIndices) after checking that the
// m-per-class sampler can fill batches from them: M must divide the batch size, and the data
// set must have at least batch size / M classes and one batch of examples.
func (l *Loader) mPerClassGroups() (classes []int64, byClass map[int64][]int, err error) {
	m, b := l.MPerClass, l.BatchSize
	switch {
	case m < 0:
		return nil, nil, fmt.Errorf("data: loader: %d examples per class; want at least 1", m)
	case b%m != 0:
		return nil, nil, fmt.Errorf("data: loader: %d examples per class do not divide the batch size %d", m, b)
	case l.Weights != nil:
		return nil, nil, fmt.Errorf("data: loader: both example weights and an m-per-class sampler; want one")
	}
	if classes, byClass, err = classIndices(l.Dataset); err != nil {
		return nil, nil, err
	}
	if len(classes)*m < b {
		return nil, nil, fmt.Errorf("data: loader: batches of %d at %d examples per class need %d classes; the data set has %d", b, m, b/m, len(classes))
	}
	if l.Dataset.Len() < b {
		return nil, nil, fmt.Errorf("data: loader: %d examples, fewer than one batch of %d; an m-per-class sampler fills whole batches", l.Dataset.Len(), b)
	}
	return classes, byClass, nil
}

// mPerClassOrder is the order of an epoch under the m-per-class sampler, as
// pytorch-metric-learning's MPerClassSampler(labels, m, batch_size) draws it: for each of
// len(ds) / batch size batches, the classes are shuffled and the first batch size / M of
// them each give M examples, drawn without replacement (with replacement from a class of
// fewer than M). The draws come from PCG(Seed ^ stream, epoch): repeatable, not numpy's.
func (l *Loader) mPerClassOrder(epoch int) ([]int, error) {
	classes, byClass, err := l.mPerClassGroups()
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(l.Seed^mPerClassStream, uint64(epoch)))
	m, b := l.MPerClass, l.BatchSize
	batches := l.Dataset.Len() / b
	order := make([]int, 0, batches*b)
	for range batches {
		rng.Shuffle(len(classes), func(i, j int) { classes[i], classes[j] = classes[j], classes[i] })
		for _, c := range classes[:b/m] {
			members := byClass[c]
			if len(members) < m {
				for range m {
					order = append(order, members[rng.IntN(len(members))])
				}
				continue
			}
			for _, k := range rng.Perm(len(members))[:m] {
				order = append(order, members[k])
			}
		}
	}
	return order, nil
}
