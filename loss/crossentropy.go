package loss

import (
	"fmt"
	"math"

	"github.com/onnxtune/onnxtune/tensor"
)

func init() {
	Register(Spec{
		Name:         "cross-entropy",
		Summary:      "softmax cross-entropy on logits, for single-label classification and segmentation",
		PyTorch:      "nn.CrossEntropyLoss(weight=class_weights, ignore_index=ignore_index, label_smoothing=label_smoothing)",
		Target:       "int64 class indices [N, d1, ...] for logits [N, C, d1, ...], or float probabilities shaped like the logits",
		ClassWeights: true,
		Options: []Option{
			{Key: "label_smoothing", Default: 0, Doc: "in [0, 1]: the target becomes (1-e)*y + e/C"},
			{Key: "ignore_index", Default: -100, Doc: "a class-index target value that adds neither loss nor weight"},
		},
		New: func(opts map[string]float64, p Params) (Loss, error) {
			e := opts["label_smoothing"]
			if !(e >= 0 && e <= 1) {
				return nil, fmt.Errorf("loss cross-entropy(label_smoothing=%v): want a value in [0, 1]", e)
			}
			ig, err := optInt("cross-entropy", "ignore_index", opts["ignore_index"])
			if err != nil {
				return nil, err
			}
			return CrossEntropy{LabelSmoothing: e, Weights: p.ClassWeights, IgnoreIndex: &ig, Reduction: p.Reduction}, nil
		},
	})
}

var _ Unreducer = CrossEntropy{}

// defaultIgnoreIndex is PyTorch's ignore_index default: no class is numbered -100.
const defaultIgnoreIndex = -100

// CrossEntropy is nn.CrossEntropyLoss on logits z [N, C, d1, ...] (or [C] for one sample). The
// target holds int64 class indices [N, d1, ...] or, shaped like z, float class probabilities.
// Its zero value is nn.CrossEntropyLoss() with PyTorch's defaults.
//
// With class indices y and smoothing e, position i adds
// (1-e) * w[y_i] * (lse_i - z_i,y_i) + e/C * sum_c w_c * (lse_i - z_i,c), where lse_i is the
// log-sum-exp of the logits. Mean divides the sum by sum_i w[y_i] over the counted positions
// (NaN when every target is ignored, as PyTorch). With probabilities y, position i adds
// sum_c w_c * y'_ic * (lse_i - z_ic) with y' = (1-e)*y + e/C, and Mean divides by the number
// of positions. The gradient is fused: scale * (softmax(z) * sum_c(w_c y'_c) - w * y').
type CrossEntropy struct {
	// LabelSmoothing is e in [0, 1].
	LabelSmoothing float64
	// Weights are the C class weights (nn.CrossEntropyLoss's weight), or nil for all ones.
	Weights []float64
	// IgnoreIndex is the class-index target value that counts for nothing; nil means -100.
	IgnoreIndex *int64
	// Reduction is Mean when empty. With None, Eval reports the mean and its gradient.
	Reduction Reduction
}

// Name implements Loss.
func (CrossEntropy) Name() string { return "cross-entropy" }

// Eval implements Loss.
func (ce CrossEntropy) Eval(z, target *tensor.Tensor) (Value, error) {
	sum, grad, _, w, err := ce.run(z, target, true, false)
	if err != nil {
		return Value{}, err
	}
	return reducedValue(ce.Reduction, sum, w, tensor.FromFloat64s(z.DType(), z.Shape(), grad)), nil
}

// Reading implements Loss: class indices, logits, its ignore_index.
func (ce CrossEntropy) Reading() Reading {
	ig := ce.ignore()
	return Reading{Labels: ClassIndices, Scores: Logits, IgnoreIndex: &ig}
}

// Unreduced implements Unreducer: the loss of each position, shaped like a class-index target
// ([N, d1, ...]), 0 where the target is ignored.
func (ce CrossEntropy) Unreduced(z, target *tensor.Tensor) (*tensor.Tensor, error) {
	_, _, per, _, err := ce.run(z, target, false, true)
	if err != nil {
		return nil, err
	}
	return tensor.FromFloat64s(z.DType(), layoutOf(z).positions, per), nil
}

func (ce CrossEntropy) ignore() int64 {
	if ce.IgnoreIndex == nil {
		return defaultIgnoreIndex
	}
	return *ce.IgnoreIndex
}

// run makes one pass over the logits. It returns the sum of the position losses, the gradient
// of the reduced loss (if wantGrad), the per-position losses (if wantPer) and what the sum
// is divided by for the reduced loss (Value.Weight).
func (ce CrossEntropy) run(z, t *tensor.Tensor, wantGrad, wantPer bool) (sum float64, grad, per []float64, weight float64, err error) {
	const name = "cross-entropy"
	if err := checkInputs(name, "logits [N, C, ...]", z, t, 1); err != nil {
		return 0, nil, nil, 0, err
	}
	l := layoutOf(z)
	if err := checkClassWeights(name, ce.Weights, l.c); err != nil {
		return 0, nil, nil, 0, err
	}
	w := ce.Weights
	if len(w) == 0 {
		w = make([]float64, l.c)
		for i := range w {
			w[i] = 1
		}
	}
	zs := values(z)
	if wantGrad {
		grad = make([]float64, len(zs))
	}
	if wantPer {
		per = make([]float64, l.n*l.inner)
	}
	e := ce.LabelSmoothing
	if tensor.EqualShapes(t.Shape(), z.Shape()) {
		// Probabilities: a target shaped like the logits (a class-index target has one
		// dimension less).
		if !t.DType().IsFloat() {
			return 0, nil, nil, 0, fmt.Errorf("loss %s: target %v holds %v values: want %s float probabilities or %s int64 class indices",
				name, t, t.DType(), tensor.ShapeString(z.Shape()), tensor.ShapeString(l.positions))
		}
		if ce.ignore() >= 0 {
			return 0, nil, nil, 0, fmt.Errorf("loss %s: ignore_index %d applies to class-index targets, not to probabilities %v", name, ce.ignore(), t)
		}
		weight = weightFor(ce.Reduction, float64(l.n*l.inner))
		sum = ce.probabilities(l, zs, values(t), w, 1/weight, grad, per)
		return sum, grad, per, weight, nil
	}
	ig := ce.ignore()
	l, idx, err := classTargets(name, z, t, &ig, tensor.ShapeString(z.Shape())+" float probabilities")
	if err != nil {
		return 0, nil, nil, 0, err
	}
	var wsum, wall float64
	for _, y := range idx {
		if y != ig {
			wsum += w[y]
		}
	}
	for _, wc := range w {
		wall += wc
	}
	weight = weightFor(ce.Reduction, wsum)
	scale := 1 / weight
	c := float64(l.c)
	for i := 0; i < l.n; i++ {
		for j := 0; j < l.inner; j++ {
			pos := i*l.inner + j
			y := idx[pos]
			if y == ig {
				continue // no loss, and the gradient stays zero
			}
			base, st := i*l.c*l.inner+j, l.inner
			lse := logSumExp(zs, base, st, l.c, grad)
			wy := w[y]
			lp := wy * (lse - zs[base+int(y)*st])
			if e != 0 {
				var smooth float64
				for k := 0; k < l.c; k++ {
					smooth += w[k] * (lse - zs[base+k*st])
				}
				lp = (1-e)*lp + e/c*smooth
			}
			sum += lp
			if per != nil {
				per[pos] = lp
			}
			if grad == nil {
				continue
			}
			// d/dz_k = softmax_k * ((1-e) w_y + e W/C) - (1-e) w_y [k=y] - e w_k / C.
			a := scale * ((1-e)*wy + e*wall/c)
			for k := 0; k < l.c; k++ {
				grad[base+k*st] = grad[base+k*st]*a - scale*e*w[k]/c
			}
			grad[base+int(y)*st] -= scale * (1 - e) * wy
		}
	}
	return sum, grad, per, weight, nil
}

// probabilities is run's pass for probability targets ys shaped like the logits.
func (ce CrossEntropy) probabilities(l classLayout, zs, ys, w []float64, scale float64, grad, per []float64) float64 {
	e, c := ce.LabelSmoothing, float64(l.c)
	var sum float64
	for i := 0; i < l.n; i++ {
		for j := 0; j < l.inner; j++ {
			base, st := i*l.c*l.inner+j, l.inner
			lse := logSumExp(zs, base, st, l.c, grad)
			var lp, tw float64 // the loss, and sum_c w_c y'_c
			for k := 0; k < l.c; k++ {
				wy := w[k] * ((1-e)*ys[base+k*st] + e/c)
				lp += wy * (lse - zs[base+k*st])
				tw += wy
			}
			sum += lp
			if per != nil {
				per[i*l.inner+j] = lp
			}
			if grad == nil {
				continue
			}
			for k := 0; k < l.c; k++ {
				wy := w[k] * ((1-e)*ys[base+k*st] + e/c)
				grad[base+k*st] = scale * (grad[base+k*st]*tw - wy)
			}
		}
	}
	return sum
}

// logSumExp returns log(sum_k exp(z[base+k*st])) over c classes, shifted by the maximum so
// that logits of any magnitude neither overflow nor lose the small terms. When probs is not
// nil it also writes softmax(z) at the same positions.
func logSumExp(z []float64, base, st, c int, probs []float64) float64 {
	m := math.Inf(-1)
	for k := 0; k < c; k++ {
		m = math.Max(m, z[base+k*st])
	}
	if math.IsInf(m, 0) {
		m = 0 // all -inf (or some +inf): let the arithmetic below give PyTorch's nan or inf
	}
	var s float64
	for k := 0; k < c; k++ {
		ex := math.Exp(z[base+k*st] - m)
		s += ex
		if probs != nil {
			probs[base+k*st] = ex
		}
	}
	if probs != nil {
		for k := 0; k < c; k++ {
			probs[base+k*st] /= s
		}
	}
	return m + math.Log(s)
}
