package data

import "fmt"

// BalancedWeights returns per-example sampling weights that draw every class equally often on
// average: example i weighs 1 / (the number of examples of class labels[i]). Given to
// Loader.Weights, they make each class's expected share of an epoch 1/k, k being the number
// of classes that occur in labels; a class with no example is never drawn. Every label must
// lie in [0, classes): the error names the first that does not, -100 (the losses' ignore
// index) included, since an ignored example has no class to balance.
func BalancedWeights(labels []int64, classes int) ([]float64, error) {
	counts, err := classCounts(labels, classes)
	if err != nil {
		return nil, err
	}
	w := make([]float64, len(labels))
	for i, c := range labels {
		w[i] = 1 / float64(counts[c])
	}
	return w, nil
}

// BalancedClassWeights returns per-class weights inversely proportional to the class
// frequencies, as scikit-learn's compute_class_weight("balanced", classes=range(classes),
// y=labels): class c weighs N / (classes * count_c), N = len(labels), so that a loss weighted
// by them (--class-weights) gives every class the same total weight, N / classes. As
// scikit-learn does, it fails for a class with no example (its weight would be infinite;
// the error names the class) and for a label outside [0, classes), -100 included (see
// BalancedWeights).
func BalancedClassWeights(labels []int64, classes int) ([]float64, error) {
	counts, err := classCounts(labels, classes)
	if err != nil {
		return nil, err
	}
	w := make([]float64, classes)
	for c, n := range counts {
		if n == 0 {
			return nil, fmt.Errorf("data: class %d of %d has no example; balanced class weights need every class", c, classes)
		}
		// scikit-learn's float64 arithmetic, operation for operation: len(y) / (C * bincount).
		w[c] = float64(len(labels)) / (float64(classes) * float64(n))
	}
	return w, nil
}

// classCounts returns the number of examples of each class, checking that every label is a
// class index.
func classCounts(labels []int64, classes int) ([]int, error) {
	if classes < 1 {
		return nil, fmt.Errorf("data: %d classes; want at least 1", classes)
	}
	counts := make([]int, classes)
	for i, c := range labels {
		if c < 0 || c >= int64(classes) {
			return nil, fmt.Errorf("data: example %d has label %d; want a class index in [0, %d)", i, c, classes)
		}
		counts[c]++
	}
	return counts, nil
}
