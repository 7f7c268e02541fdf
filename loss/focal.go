package loss

import (
	"fmt"
	"math"

	"github.com/onnxtune/onnxtune/tensor"
)

func init() {
	Register(Spec{
		Name:    "focal",
		Summary: "focal loss on logits: cross-entropy scaled down on well-classified examples, for class imbalance",
		PyTorch: "torchvision.ops.sigmoid_focal_loss(z, y, alpha, gamma, reduction='mean') for float targets; " +
			"for class indices the softmax focal loss mean(-alpha * (1-p_t)**gamma * log(p_t)), p_t = softmax(z)[y]",
		Target: "float 0/1 labels shaped like the logits (binary, multi-label), or int64 class indices [N, d1, ...] for logits [N, C, d1, ...]",
		Options: []Option{
			{Key: "gamma", Default: 2, Doc: "focusing exponent >= 0; 0 gives (alpha-weighted) cross-entropy"},
			{Key: "alpha", Default: 0.25, Doc: "float targets: weight of positives, 1-alpha of negatives; class indices: a scalar factor; < 0: no weighting"},
		},
		New: func(opts map[string]float64, p Params) (Loss, error) {
			g, a := opts["gamma"], opts["alpha"]
			if !(g >= 0) || math.IsInf(g, 0) {
				return nil, fmt.Errorf("loss focal(gamma=%v): want a finite gamma >= 0", g)
			}
			if math.IsNaN(a) || math.IsInf(a, 0) {
				return nil, fmt.Errorf("loss focal(alpha=%v): want a finite number", a)
			}
			return Focal{Gamma: g, Alpha: a, Reduction: p.Reduction}, nil
		},
	})
}

var _ Unreducer = Focal{}

// Focal is the focal loss (Lin et al., 2017) on logits z, in two forms chosen by the target.
//
// With float targets y shaped like z (binary or multi-label) it is
// torchvision.ops.sigmoid_focal_loss: each element adds alpha_t * ce * (1-p_t)^Gamma, where ce
// is the binary cross-entropy with logits, p_t = p*y + (1-p)*(1-y), p = sigmoid(z) and
// alpha_t = Alpha*y + (1-Alpha)*(1-y); Alpha < 0 leaves out alpha_t.
//
// With int64 class-index targets [N, d1, ...] for z [N, C, d1, ...] it is the softmax focal
// loss: each position adds -Alpha * (1-p_t)^Gamma * log(p_t) with p_t = softmax(z)[y], Alpha
// being a plain factor here (1 when Alpha < 0). Mean divides by the number of positions; there
// is no ignore_index.
//
// Both gradients are fused and stay finite for logits of any magnitude. The registry's
// defaults are Gamma 2 and Alpha 0.25, torchvision's.
type Focal struct {
	Gamma, Alpha float64
	// Reduction is Mean when empty. With None, Eval reports the mean and its gradient.
	Reduction Reduction
}

// Name implements Loss.
func (Focal) Name() string { return "focal" }

// Eval implements Loss.
func (f Focal) Eval(z, target *tensor.Tensor) (Value, error) {
	if err := checkInputs("focal", "logits", z, target, 0); err != nil {
		return Value{}, err
	}
	if tensor.EqualShapes(z.Shape(), target.Shape()) {
		if err := sameShapeFloatTarget("focal", "labels", z, target); err != nil {
			return Value{}, err
		}
		return evalByElement(f.Reduction, z, target, f.sigmoidTerm), nil
	}
	sum, grad, _, w, err := f.softmax(z, target, true, false)
	if err != nil {
		return Value{}, err
	}
	return reducedValue(f.Reduction, sum, w, tensor.FromFloat64s(z.DType(), z.Shape(), grad)), nil
}

// Reading implements Loss: class indices on [N, C] logits, 0/1 labels on one column.
func (Focal) Reading() Reading { return Reading{Labels: IndicesOrBinary, Scores: Logits} }

// Unreduced implements Unreducer: one loss per element for float targets (shaped like the
// output), one per position for class indices (shaped like the target).
func (f Focal) Unreduced(z, target *tensor.Tensor) (*tensor.Tensor, error) {
	if err := checkInputs("focal", "logits", z, target, 0); err != nil {
		return nil, err
	}
	if tensor.EqualShapes(z.Shape(), target.Shape()) {
		if err := sameShapeFloatTarget("focal", "labels", z, target); err != nil {
			return nil, err
		}
		return unreducedByElement(z, target, f.sigmoidTerm), nil
	}
	_, _, per, _, err := f.softmax(z, target, false, true)
	if err != nil {
		return nil, err
	}
	return tensor.FromFloat64s(z.DType(), layoutOf(z).positions, per), nil
}

// sigmoidTerm is the sigmoid focal loss of one element and its derivative. With s = sigmoid(z)
// and q = 1-p_t = y*(1-s) + (1-y)*s (both sigmoids taken directly, so q keeps its precision
// near 0), the loss is a*ce*q^g, dce/dz = s - y and dq/dz = s*(1-s)*(1-2y).
func (f Focal) sigmoidTerm(z, y float64) (l, dl float64) {
	s, sn := sigmoid(z), sigmoid(-z)
	ce := y*softplus(-z) + (1-y)*softplus(z)
	q := y*sn + (1-y)*s
	a := 1.0
	if f.Alpha >= 0 {
		a = f.Alpha*y + (1-f.Alpha)*(1-y)
	}
	qg := math.Pow(q, f.Gamma)
	dce := (1-y)*s - y*sn
	d := dce * qg
	if f.Gamma != 0 { // with gamma 0, q^0 = 1 has no derivative, as PyTorch's pow backward says
		d += ce * f.Gamma * math.Pow(q, f.Gamma-1) * s * sn * (1 - 2*y)
	}
	return a * ce * qg, a * d
}

// softmax is the pass over class-index targets; it returns what CrossEntropy.run returns.
// With log p = z_y - lse, p = exp(log p) and q = 1-p = -expm1(log p), the position loss is
// -a*q^g*log p and its derivative along z_k is a*(softmax_k - [k=y])*(q^g - g*q^(g-1)*p*log p).
func (f Focal) softmax(z, t *tensor.Tensor, wantGrad, wantPer bool) (sum float64, grad, per []float64, weight float64, err error) {
	l, idx, err := classTargets("focal", z, t, nil, tensor.ShapeString(z.Shape())+" float labels")
	if err != nil {
		return 0, nil, nil, 0, err
	}
	zs := values(z)
	if wantGrad {
		grad = make([]float64, len(zs))
	}
	if wantPer {
		per = make([]float64, len(idx))
	}
	a := f.Alpha
	if a < 0 {
		a = 1
	}
	weight = weightFor(f.Reduction, float64(len(idx)))
	scale := 1 / weight
	for i := 0; i < l.n; i++ {
		for j := 0; j < l.inner; j++ {
			pos := i*l.inner + j
			base, st := i*l.c*l.inner+j, l.inner
			y := int(idx[pos])
			lse := logSumExp(zs, base, st, l.c, grad)
			logp := zs[base+y*st] - lse
			q := -math.Expm1(logp)
			qg := math.Pow(q, f.Gamma)
			lp := -a * qg * logp
			sum += lp
			if per != nil {
				per[pos] = lp
			}
			if grad == nil {
				continue
			}
			fac := qg
			if f.Gamma != 0 {
				fac -= f.Gamma * math.Pow(q, f.Gamma-1) * math.Exp(logp) * logp
			}
			k := scale * a * fac
			for c := 0; c < l.c; c++ {
				grad[base+c*st] *= k
			}
			grad[base+y*st] -= k
		}
	}
	return sum, grad, per, weight, nil
}
