package loss

import (
	"fmt"
	"math"

	"github.com/onnxtune/onnxtune/tensor"
)

func init() {
	Register(Spec{
		Name:    "bce",
		Summary: "binary cross-entropy on probabilities (a model that ends in Sigmoid)",
		PyTorch: "nn.BCELoss()",
		Target:  "float 0/1 labels or probabilities shaped like the output",
		New: func(_ map[string]float64, p Params) (Loss, error) {
			return BCE{Reduction: p.Reduction}, nil
		},
	})
	Register(Spec{
		Name:    "bce-logits",
		Summary: "binary cross-entropy on logits, for binary and multi-label classification",
		PyTorch: "nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pos_weight))",
		Target:  "float 0/1 labels or probabilities shaped like the output",
		Options: []Option{
			{Key: "pos_weight", Default: 1, Doc: "weight of the positive term y*log(sigmoid(z))"},
		},
		New: func(opts map[string]float64, p Params) (Loss, error) {
			pw := opts["pos_weight"]
			if math.IsNaN(pw) || math.IsInf(pw, 0) {
				return nil, fmt.Errorf("loss bce-logits(pos_weight=%v): want a finite number", pw)
			}
			return BCEWithLogits{PosWeight: pw, Reduction: p.Reduction}, nil
		},
	})
	Register(Spec{
		Name:    "medical-bce",
		Summary: "cost-sensitive binary cross-entropy on logits for screening: a missed positive costs fn_cost, a false alarm fp_cost",
		PyTorch: "fp_cost * nn.BCEWithLogitsLoss(pos_weight=torch.tensor(fn_cost/fp_cost))",
		Target:  "float 0/1 labels or probabilities shaped like the output",
		Options: []Option{
			{Key: "fn_cost", Default: 5, Doc: "cost of a false negative: weight of y*log(sigmoid(z))"},
			{Key: "fp_cost", Default: 1, Doc: "cost of a false positive: weight of (1-y)*log(1-sigmoid(z))"},
		},
		New: func(opts map[string]float64, p Params) (Loss, error) {
			fn, fp := opts["fn_cost"], opts["fp_cost"]
			for _, c := range []struct {
				key string
				v   float64
			}{{"fn_cost", fn}, {"fp_cost", fp}} {
				if !(c.v >= 0) || math.IsInf(c.v, 0) {
					return nil, fmt.Errorf("loss medical-bce(%s=%v): want a finite cost >= 0", c.key, c.v)
				}
			}
			return MedicalBCE{FNCost: fn, FPCost: fp, Reduction: p.Reduction}, nil
		},
	})
}

var (
	_ Unreducer = BCE{}
	_ Unreducer = BCEWithLogits{}
	_ Unreducer = MedicalBCE{}
)

// BCE is nn.BCELoss on probabilities x in [0, 1] with targets y shaped like x: each element
// adds -(y*log(x) + (1-y)*log(1-x)), each log clamped at -100 as PyTorch does so that x = 0
// or 1 gives a finite loss. The gradient is PyTorch's, (x-y) / max(x*(1-x), 1e-12).
type BCE struct {
	// Reduction is Mean when empty. With None, Eval reports the mean and its gradient.
	Reduction Reduction
}

// Name implements Loss.
func (BCE) Name() string { return "bce" }

// Eval implements Loss.
func (b BCE) Eval(x, target *tensor.Tensor) (Value, error) {
	if err := b.check(x, target); err != nil {
		return Value{}, err
	}
	return evalByElement(b.Reduction, x, target, bceTerm), nil
}

// Reading implements Loss: float labels, probabilities.
func (BCE) Reading() Reading { return Reading{Labels: FloatLabels, Scores: Probabilities} }

// Unreduced implements Unreducer: the loss of each element, shaped like the output.
func (b BCE) Unreduced(x, target *tensor.Tensor) (*tensor.Tensor, error) {
	if err := b.check(x, target); err != nil {
		return nil, err
	}
	return unreducedByElement(x, target, bceTerm), nil
}

func (BCE) check(x, target *tensor.Tensor) error {
	if err := checkInputs("bce", "probabilities", x, target, 0); err != nil {
		return err
	}
	if err := sameShapeFloatTarget("bce", "labels", x, target); err != nil {
		return err
	}
	for i, v := range values(x) {
		if !(v >= 0 && v <= 1) {
			return fmt.Errorf("loss bce: output %v at element %d is not a probability in [0, 1] (bce-logits takes logits)", v, i)
		}
	}
	return nil
}

// bceTerm is BCE's loss of one element and PyTorch's derivative of it.
func bceTerm(x, y float64) (l, dl float64) {
	l = -(y*math.Max(math.Log(x), -100) + (1-y)*math.Max(math.Log(1-x), -100))
	return l, (x - y) / math.Max(x*(1-x), 1e-12)
}

// BCEWithLogits is nn.BCEWithLogitsLoss(pos_weight=PosWeight) on logits z with targets y
// shaped like z: each element adds -(PosWeight*y*log(sigmoid(z)) + (1-y)*log(1-sigmoid(z))),
// computed as PosWeight*y*softplus(-z) + (1-y)*softplus(z) so that no exp overflows. Its
// gradient is sigmoid(z)*(1-y) - PosWeight*y*sigmoid(-z). PyTorch's default PosWeight is 1.
type BCEWithLogits struct {
	PosWeight float64
	// Reduction is Mean when empty. With None, Eval reports the mean and its gradient.
	Reduction Reduction
}

// Name implements Loss.
func (BCEWithLogits) Name() string { return "bce-logits" }

// Eval implements Loss.
func (b BCEWithLogits) Eval(z, target *tensor.Tensor) (Value, error) {
	return evalWeightedBCE("bce-logits", b.Reduction, b.PosWeight, 1, z, target)
}

// Reading implements Loss: float labels, logits.
func (BCEWithLogits) Reading() Reading { return Reading{Labels: FloatLabels, Scores: Logits} }

// Unreduced implements Unreducer: the loss of each element, shaped like the output.
func (b BCEWithLogits) Unreduced(z, target *tensor.Tensor) (*tensor.Tensor, error) {
	return unreducedWeightedBCE("bce-logits", b.PosWeight, 1, z, target)
}

// MedicalBCE is cost-sensitive binary cross-entropy on logits z with targets y shaped like z:
// each element adds -(FNCost*y*log(sigmoid(z)) + FPCost*(1-y)*log(1-sigmoid(z))), so that a
// missed positive costs FNCost and a false alarm FPCost. It equals
// FPCost * nn.BCEWithLogitsLoss(pos_weight=FNCost/FPCost) and, like it, is differentiable
// everywhere. The registry's defaults are FNCost 5 and FPCost 1.
type MedicalBCE struct {
	FNCost, FPCost float64
	// Reduction is Mean when empty. With None, Eval reports the mean and its gradient.
	Reduction Reduction
}

// Name implements Loss.
func (MedicalBCE) Name() string { return "medical-bce" }

// Eval implements Loss.
func (m MedicalBCE) Eval(z, target *tensor.Tensor) (Value, error) {
	return evalWeightedBCE("medical-bce", m.Reduction, m.FNCost, m.FPCost, z, target)
}

// Reading implements Loss: float labels, logits.
func (MedicalBCE) Reading() Reading { return Reading{Labels: FloatLabels, Scores: Logits} }

// Unreduced implements Unreducer: the loss of each element, shaped like the output.
func (m MedicalBCE) Unreduced(z, target *tensor.Tensor) (*tensor.Tensor, error) {
	return unreducedWeightedBCE("medical-bce", m.FNCost, m.FPCost, z, target)
}

// weightedBCE returns the element loss pos*y*softplus(-z) + neg*(1-y)*softplus(z) on logits
// and its derivative neg*(1-y)*sigmoid(z) - pos*y*sigmoid(-z).
func weightedBCE(pos, neg float64) elementLoss {
	return func(z, y float64) (l, dl float64) {
		l = pos*y*softplus(-z) + neg*(1-y)*softplus(z)
		dl = neg*(1-y)*sigmoid(z) - pos*y*sigmoid(-z)
		return l, dl
	}
}

func evalWeightedBCE(name string, r Reduction, pos, neg float64, z, target *tensor.Tensor) (Value, error) {
	if err := checkInputs(name, "logits", z, target, 0); err != nil {
		return Value{}, err
	}
	if err := sameShapeFloatTarget(name, "labels", z, target); err != nil {
		return Value{}, err
	}
	return evalByElement(r, z, target, weightedBCE(pos, neg)), nil
}

func unreducedWeightedBCE(name string, pos, neg float64, z, target *tensor.Tensor) (*tensor.Tensor, error) {
	if err := checkInputs(name, "logits", z, target, 0); err != nil {
		return nil, err
	}
	if err := sameShapeFloatTarget(name, "labels", z, target); err != nil {
		return nil, err
	}
	return unreducedByElement(z, target, weightedBCE(pos, neg)), nil
}
