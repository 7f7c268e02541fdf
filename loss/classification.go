package loss

import (
	"fmt"
	"math"

	"github.com/onnxtune/onnxtune/tensor"
)

// This file holds what the classification losses (cross-entropy, nll, bce, bce-logits,
// medical-bce, focal, hinge) share: reading tensors, checking targets, reductions and the
// stable sigmoid forms.

// values returns the elements of t as float64, without a copy when t already holds float64.
func values(t *tensor.Tensor) []float64 {
	switch d := t.Data().(type) {
	case []float64:
		return d
	case []float32:
		out := make([]float64, len(d))
		for i, v := range d {
			out[i] = float64(v)
		}
		return out
	}
	return t.ToFloat64s()
}

// reduction returns p's reduction, Mean when unset (the zero value of a loss's struct).
func reduction(r Reduction) Reduction {
	if r == "" {
		return Mean
	}
	return r
}

// weightFor returns what the reduced loss divides the sum over positions by (Value.Weight):
// den for Mean (and for None, whose Eval reports the mean), 1 for Sum.
func weightFor(r Reduction, den float64) float64 {
	if reduction(r) == Sum {
		return 1
	}
	return den
}

// checkInputs refuses a missing target and an output that is not a floating-point tensor of
// rank >= minRank; what says what the output should hold.
func checkInputs(name, what string, z, t *tensor.Tensor, minRank int) error {
	if z == nil || !z.DType().IsFloat() || z.Rank() < minRank {
		got := "nothing"
		if z != nil {
			got = z.String()
		}
		return fmt.Errorf("loss %s: output must be float %s, got %s", name, what, got)
	}
	if t == nil {
		return fmt.Errorf("loss %s: no target for output %v", name, z)
	}
	return nil
}

// classLayout describes scores [N, C, d1, ..., dk] (or [C] for one sample) read with a
// class-index target [N, d1, ..., dk] (or a scalar): score (i, c, j) is at (i*C+c)*inner+j and
// the target of position (i, j) at i*inner+j.
type classLayout struct {
	n, c, inner int
	positions   []int // the target's shape: one loss per position with reduction none
}

// layoutOf returns the layout of scores z; z must have rank >= 1 (checked by the caller).
func layoutOf(z *tensor.Tensor) classLayout {
	s := z.Shape()
	if len(s) == 1 {
		return classLayout{n: 1, c: s[0], inner: 1, positions: []int{}}
	}
	inner := 1
	for _, d := range s[2:] {
		inner *= d
	}
	return classLayout{n: s[0], c: s[1], inner: inner, positions: append([]int{s[0]}, s[2:]...)}
}

// classTargets checks a class-index target for scores z and returns it as int64s. Each value
// must lie in [0, C) or equal ignore (when ignore is not nil). alt, when not empty, names the
// other target form the loss accepts (for cross-entropy: probabilities like the output).
func classTargets(name string, z, t *tensor.Tensor, ignore *int64, alt string) (classLayout, []int64, error) {
	if z.Rank() == 0 {
		return classLayout{}, nil, fmt.Errorf("loss %s: output %v has no class axis: want scores [N, C, ...] for class-index targets", name, z)
	}
	l := layoutOf(z)
	want := tensor.ShapeString(l.positions) + " int64 class indices"
	if alt != "" {
		want += " or " + alt
	}
	if !tensor.EqualShapes(t.Shape(), l.positions) {
		return l, nil, shapeError(name, z, t, want)
	}
	if !t.DType().IsInteger() {
		return l, nil, fmt.Errorf("loss %s: target %v holds %v values: want %s", name, t, t.DType(), want)
	}
	idx := t.ToInt64s()
	for p, v := range idx {
		if ignore != nil && v == *ignore {
			continue
		}
		if v < 0 || v >= int64(l.c) {
			valid := fmt.Sprintf("0..%d", l.c-1)
			if ignore != nil {
				valid += fmt.Sprintf(" or ignore_index %d", *ignore)
			}
			return l, nil, fmt.Errorf("loss %s: target %d at position %d is out of range for %d classes (want %s)", name, v, p, l.c, valid)
		}
	}
	return l, idx, nil
}

// checkClassWeights checks that there is one class weight per class when there are any.
func checkClassWeights(name string, w []float64, c int) error {
	if len(w) != 0 && len(w) != c {
		return fmt.Errorf("loss %s: %d class weights for %d classes", name, len(w), c)
	}
	return nil
}

// shapeError says that target t does not fit output z and what it should be.
func shapeError(name string, z, t *tensor.Tensor, want string) error {
	return fmt.Errorf("loss %s: target shape %s does not fit output shape %s: want %s, got %v",
		name, tensor.ShapeString(t.Shape()), tensor.ShapeString(z.Shape()), want, t)
}

// sameShapeFloatTarget checks a target that must be a float tensor shaped like the output.
func sameShapeFloatTarget(name, what string, z, t *tensor.Tensor) error {
	if !tensor.EqualShapes(t.Shape(), z.Shape()) {
		return shapeError(name, z, t, tensor.ShapeString(z.Shape())+" float "+what)
	}
	if !t.DType().IsFloat() {
		return fmt.Errorf("loss %s: target %v holds %v values: want %s float %s", name, t, t.DType(), tensor.ShapeString(z.Shape()), what)
	}
	return nil
}

// elementLoss is a loss of each output element and its target alone: it returns the element's
// loss and the loss's derivative with respect to the output element.
type elementLoss func(z, y float64) (l, dl float64)

// evalByElement reduces f over the elements of z and y (same length) and returns the loss
// with its gradient in z's dtype. With None it reports the mean, as Eval does.
func evalByElement(r Reduction, z, y *tensor.Tensor, f elementLoss) Value {
	zs, ys := values(z), values(y)
	w := weightFor(r, float64(len(zs)))
	scale := 1 / w
	g := make([]float64, len(zs))
	var sum float64
	for i, zi := range zs {
		l, dl := f(zi, ys[i])
		sum += l
		g[i] = dl * scale
	}
	return reducedValue(r, sum, w, tensor.FromFloat64s(z.DType(), z.Shape(), g))
}

// unreducedByElement returns f's loss per element, shaped like z.
func unreducedByElement(z, y *tensor.Tensor, f elementLoss) *tensor.Tensor {
	zs, ys := values(z), values(y)
	out := make([]float64, len(zs))
	for i, zi := range zs {
		out[i], _ = f(zi, ys[i])
	}
	return tensor.FromFloat64s(z.DType(), z.Shape(), out)
}

// sigmoid is 1/(1+exp(-z)), evaluated so that exp never overflows.
func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

// softplus is log(1+exp(z)) = -log(sigmoid(-z)), as max(z, 0) + log1p(exp(-|z|)): exact for
// large |z| where the naive form overflows or rounds 1+exp(z) to 1.
func softplus(z float64) float64 {
	return math.Max(z, 0) + math.Log1p(math.Exp(-math.Abs(z)))
}

// optInt reads an option that must be a whole number, such as ignore_index.
func optInt(name, key string, v float64) (int64, error) {
	if v != math.Trunc(v) || math.IsInf(v, 0) || math.Abs(v) > 1<<53 {
		return 0, fmt.Errorf("loss %s(%s=%v): want a whole number", name, key, v)
	}
	return int64(v), nil
}
