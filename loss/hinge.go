package loss

import (
	"fmt"
	"math"

	"github.com/onnxtune/onnxtune/tensor"
)

func init() {
	Register(Spec{
		Name:    "hinge",
		Summary: "margin (SVM) loss on scores: multi-class, or binary with one score per sample",
		PyTorch: "nn.MultiMarginLoss(margin=margin) for scores [N, C] and int64 classes [N]; " +
			"torch.relu(margin - y*z).mean() for one score per sample and y in {0, 1} (0 read as -1) or {-1, 1}",
		Target: "int64 class indices [N] for scores [N, C]; or labels 0/1 or -1/1 (any dtype) shaped like the output, or [N] for an output [N, 1]",
		Options: []Option{
			{Key: "margin", Default: 1, Doc: "the score margin the correct answer must win by"},
		},
		New: func(opts map[string]float64, p Params) (Loss, error) {
			m := opts["margin"]
			if math.IsNaN(m) || math.IsInf(m, 0) {
				return nil, fmt.Errorf("loss hinge(margin=%v): want a finite number", m)
			}
			return Hinge{Margin: m, Reduction: p.Reduction}, nil
		},
	})
}

var _ Unreducer = Hinge{}

// Hinge is the margin loss on scores z, in two forms chosen by the target.
//
// Multi-class, z [N, C] (or [C]) with int64 class indices [N] (or a scalar), it is
// nn.MultiMarginLoss(margin=Margin): sample i adds sum_{c != y_i} max(0, Margin - z_i,y_i +
// z_i,c) / C, divided by C and not C-1 as PyTorch does.
//
// Binary, with labels y in {0, 1} or {-1, 1} (0 read as -1) shaped like z, or [N] for z
// [N, 1], each element adds max(0, Margin - y*z): one score per sample, or several
// independent ones (multi-label).
//
// At the kink the gradient is 0, as MultiMarginLoss and relu take it. The registry's default
// Margin is 1.
type Hinge struct {
	Margin float64
	// Reduction is Mean when empty. With None, Eval reports the mean and its gradient.
	Reduction Reduction
}

// Name implements Loss.
func (Hinge) Name() string { return "hinge" }

// Eval implements Loss.
func (h Hinge) Eval(z, target *tensor.Tensor) (Value, error) {
	sum, grad, _, w, err := h.run(z, target, true, false)
	if err != nil {
		return Value{}, err
	}
	return reducedValue(h.Reduction, sum, w, tensor.FromFloat64s(z.DType(), z.Shape(), grad)), nil
}

// Reading implements Loss: class indices on [N, C] scores, 0/1 labels on one score.
func (Hinge) Reading() Reading { return Reading{Labels: IndicesOrBinary, Scores: Logits} }

// Unreduced implements Unreducer: one loss per sample, [N], for multi-class scores (as
// MultiMarginLoss's reduction='none'), one per element, shaped like the output, for binary
// labels.
func (h Hinge) Unreduced(z, target *tensor.Tensor) (*tensor.Tensor, error) {
	_, _, per, _, err := h.run(z, target, false, true)
	if err != nil {
		return nil, err
	}
	shape := z.Shape()
	if !h.binary(z, target) {
		shape = layoutOf(z).positions
	}
	return tensor.FromFloat64s(z.DType(), shape, per), nil
}

// binary reports whether the target holds one label per output element.
func (Hinge) binary(z, t *tensor.Tensor) bool {
	zs, ts := z.Shape(), t.Shape()
	return tensor.EqualShapes(zs, ts) || (len(zs) == 2 && zs[1] == 1 && len(ts) == 1 && ts[0] == zs[0])
}

// run is the one pass of Eval and Unreduced; it returns what CrossEntropy.run returns.
func (h Hinge) run(z, t *tensor.Tensor, wantGrad, wantPer bool) (sum float64, grad, per []float64, weight float64, err error) {
	const name = "hinge"
	if err := checkInputs(name, "scores", z, t, 0); err != nil {
		return 0, nil, nil, 0, err
	}
	zs := values(z)
	if wantGrad {
		grad = make([]float64, len(zs))
	}
	if h.binary(z, t) {
		ys := values(t)
		for i, y := range ys {
			if y != 0 && y != 1 && y != -1 {
				return 0, nil, nil, 0, fmt.Errorf("loss %s: target %v holds %v at element %d: want binary labels 0/1 or -1/1 (or int64 class indices [N] for scores [N, C])", name, t, y, i)
			}
		}
		if wantPer {
			per = make([]float64, len(zs))
		}
		weight = weightFor(h.Reduction, float64(len(zs)))
		scale := 1 / weight
		for i, zi := range zs {
			y := ys[i]
			if y == 0 {
				y = -1
			}
			lp := h.Margin - y*zi
			if lp <= 0 {
				continue
			}
			sum += lp
			if per != nil {
				per[i] = lp
			}
			if grad != nil {
				grad[i] = -y * scale
			}
		}
		return sum, grad, per, weight, nil
	}
	if z.Rank() > 2 {
		return 0, nil, nil, 0, shapeError(name, z, t, "binary labels shaped like the output (multi-class hinge takes scores [N, C] with int64 class indices [N])")
	}
	l, idx, err := classTargets(name, z, t, nil, tensor.ShapeString(z.Shape())+" binary labels")
	if err != nil {
		return 0, nil, nil, 0, err
	}
	if wantPer {
		per = make([]float64, l.n)
	}
	weight = weightFor(h.Reduction, float64(l.n))
	k := 1 / weight / float64(l.c)
	for i := 0; i < l.n; i++ {
		row := zs[i*l.c : (i+1)*l.c]
		y := int(idx[i])
		var lp float64
		for c, zc := range row {
			if c == y {
				continue
			}
			if v := h.Margin - row[y] + zc; v > 0 {
				lp += v
				if grad != nil {
					grad[i*l.c+c] += k
					grad[i*l.c+y] -= k
				}
			}
		}
		lp /= float64(l.c)
		sum += lp
		if per != nil {
			per[i] = lp
		}
	}
	return sum, grad, per, weight, nil
}
