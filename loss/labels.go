package loss

import (
	"fmt"

	"github.com/onnxtune/onnxtune/tensor"
)

// Labels describes the class-index labels of a data set, which image folders, IDX files and
// integer .npz arrays give: AdaptTarget turns them into the target form each loss reads.
type Labels struct {
	// Classes is the number of classes of the data set; 0 when unknown (the labels are then
	// taken as they come).
	Classes int
	// Positive is the class that counts as positive (label 1 of a float 0/1 target) on a
	// one-column output; nil means class 1, so that in a two-class data set class 0 is the
	// negative one. Naming a positive class also allows a one-column output on a data set of
	// more than two classes: that class against all the others (one-vs-rest).
	Positive *int
}

// PositiveClass returns the positive class: Positive, or 1 when it is not set.
func (lab Labels) PositiveClass() int {
	if lab.Positive == nil {
		return 1
	}
	return *lab.Positive
}

// LabelError is AdaptTarget's error: the labels cannot be made into what the loss reads.
type LabelError struct {
	Loss string
	Msg  string
}

func (e *LabelError) Error() string { return "loss " + e.Loss + ": " + e.Msg }

// IsClassIndices reports whether target holds class indices for output: an integer tensor
// shaped like the output without its class dimension ([N] for [N, C] or [N, 1]; [N] for a
// one-dimensional output [N] of one score per example).
func IsClassIndices(output, target *tensor.Tensor) bool {
	if output == nil || target == nil || !target.DType().IsInteger() {
		return false
	}
	zs, ts := output.Shape(), target.Shape()
	switch {
	case len(zs) == 1:
		return len(ts) == 1 && ts[0] == zs[0]
	case len(zs) >= 2:
		return len(ts) == len(zs)-1 && ts[0] == zs[0] && tensor.EqualShapes(ts[1:], zs[2:])
	}
	return false
}

// oneColumn reports whether the output has one score per example: [N] or [N, 1].
func oneColumn(output *tensor.Tensor) bool {
	s := output.Shape()
	return len(s) == 1 || (len(s) == 2 && s[1] == 1)
}

// AdaptTarget returns the target l reads for output, given the batch's target. Class indices
// (IsClassIndices) become float 0/1 labels (Positive against the rest) on a one-column output
// for the FloatLabels and IndicesOrBinary losses, and one-hot rows on an [N, C] output for the
// FloatLabels losses; a float target [N] for an [N, 1] output takes the output's shape. Other
// targets are returned as they are, for the loss to check.
func AdaptTarget(l Loss, output, target *tensor.Tensor, lab Labels) (*tensor.Tensor, error) {
	if output == nil || target == nil {
		return target, nil
	}
	form := l.Reading().Labels
	zs := output.Shape()
	if form == ClassIndices && len(zs) == 2 && zs[1] == 1 {
		return nil, &LabelError{l.Name(), "the output has one logit per example, and a softmax over one class is always 1, so the loss is always 0: " +
			"a one-logit binary classifier takes bce-logits, medical-bce or focal"}
	}
	if form != FloatLabels && form != IndicesOrBinary {
		return target, nil
	}
	if !IsClassIndices(output, target) {
		// Float labels [N] for one logit per example, [N, 1].
		if len(zs) == 2 && zs[1] == 1 && target.DType().IsFloat() &&
			target.Rank() == 1 && target.Shape()[0] == zs[0] {
			return tensor.FromFloat64s(target.DType(), zs, target.ToFloat64s()), nil
		}
		return target, nil
	}
	idx := target.ToInt64s()
	if oneColumn(output) {
		return binaryTarget(l.Name(), output, idx, lab)
	}
	if form == IndicesOrBinary {
		return target, nil // the loss's class-index form
	}
	return oneHot(l.Name(), output, idx, lab)
}

// binaryTarget makes class indices into float 0/1 labels shaped like a one-column output.
func binaryTarget(name string, output *tensor.Tensor, idx []int64, lab Labels) (*tensor.Tensor, error) {
	if lab.Classes > 2 && lab.Positive == nil {
		return nil, &LabelError{name, fmt.Sprintf("a one-logit output scores two classes, but the data has %d: "+
			"give the model %d outputs (--num-classes %d) and a multi-class loss such as cross-entropy, or name a positive class to train it against the rest",
			lab.Classes, lab.Classes, lab.Classes)}
	}
	pos := lab.PositiveClass()
	if pos < 0 || (lab.Classes > 0 && pos >= lab.Classes) {
		return nil, &LabelError{name, fmt.Sprintf("positive class %d is not a class of the data (0..%d)", pos, lab.Classes-1)}
	}
	y := make([]float64, len(idx))
	for i, v := range idx {
		switch {
		case lab.Classes > 0 && (v < 0 || v >= int64(lab.Classes)):
			return nil, &LabelError{name, fmt.Sprintf("label %d of example %d is not a class of the data (0..%d)", v, i, lab.Classes-1)}
		case lab.Classes == 0 && v != 0 && v != 1:
			return nil, &LabelError{name, fmt.Sprintf("label %d of example %d: a one-logit output takes labels 0 and 1", v, i)}
		case v == int64(pos):
			y[i] = 1
		}
	}
	return tensor.FromFloat64s(output.DType(), output.Shape(), y), nil
}

// oneHot makes class indices [N, d...] into one-hot rows shaped like output [N, C, d...].
func oneHot(name string, output *tensor.Tensor, idx []int64, lab Labels) (*tensor.Tensor, error) {
	zs := output.Shape()
	c := zs[1]
	if lab.Classes > c {
		return nil, &LabelError{name, fmt.Sprintf("the output has %d columns, but the data has %d classes: give the model %d outputs (--num-classes %d)",
			c, lab.Classes, lab.Classes, lab.Classes)}
	}
	inner := tensor.Size(zs[2:])
	y := make([]float64, tensor.Size(zs))
	for p, v := range idx {
		if v < 0 || v >= int64(c) {
			return nil, &LabelError{name, fmt.Sprintf("label %d of example %d is out of range for %d output columns", v, p/inner, c)}
		}
		i, j := p/inner, p%inner
		y[(i*c+int(v))*inner+j] = 1
	}
	return tensor.FromFloat64s(output.DType(), zs, y), nil
}
