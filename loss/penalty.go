package loss

import (
	"fmt"
	"math"
	"sort"

	"github.com/onnxtune/onnxtune/tensor"
)

// Penalty is a term of a loss expression that reads the trainable weights rather than a model
// output, such as l2 weight decay.
type Penalty interface {
	// Name is the penalty's spelling in a loss expression, e.g. "l2".
	Name() string
	// Eval returns the penalty and, when grad is set, its gradient with respect to each weight
	// (same names, shapes and dtypes as weights).
	Eval(weights map[string]*tensor.Tensor, grad bool) (float64, map[string]*tensor.Tensor)
}

var (
	_ Penalty = L2{}
	_ Penalty = L1{}
)

// penalties are the names a loss expression resolves to a Penalty instead of a Loss.
var penalties = map[string]func() Penalty{
	"l2": func() Penalty { return L2{} },
	"l1": func() Penalty { return L1{} },
}

func init() {
	// l2 is listed with the losses so that `onnxtune losses` shows it, but it can only be a term
	// of an expression: Build on its own explains that.
	Register(Spec{
		Name:    "l2",
		Summary: "weight decay 0.5 * sum of squares of the trainable weights: 'LOSS + wd*l2' has the gradients of SGD(weight_decay=wd) on LOSS",
		PyTorch: "0.5 * sum(p.pow(2).sum() for p in model.parameters() if p.requires_grad)",
		Target:  "none: it reads the trainable weights, not an output (no @OUTPUT)",
		New: func(map[string]float64, Params) (Loss, error) {
			return nil, fmt.Errorf("loss l2: it is a penalty on the weights, not a loss on an output: use it as a term of a loss expression, e.g. 'cross-entropy + 1e-4*l2'")
		},
	})
}

func init() {
	Register(Spec{
		Name:    "l1",
		Summary: "the sum of the absolute values of the trainable weights, a sparsity penalty: 'LOSS + a*l1 + b*l2'",
		PyTorch: "sum(p.abs().sum() for p in model.parameters() if p.requires_grad) (gradient sign(w), 0 at 0)",
		Target:  "none: it reads the trainable weights, not an output (no @OUTPUT)",
		New: func(map[string]float64, Params) (Loss, error) {
			return nil, fmt.Errorf("loss l1: it is a penalty on the weights, not a loss on an output: use it as a term of a loss expression, e.g. 'cross-entropy + 1e-5*l1'")
		},
	})
}

// L1 is the penalty sum of |w| over the weights; its gradient is sign(w), 0 where w is 0 (as
// torch.abs's).
type L1 struct{}

// Name implements Penalty.
func (L1) Name() string { return "l1" }

// Eval implements Penalty.
func (L1) Eval(weights map[string]*tensor.Tensor, grad bool) (float64, map[string]*tensor.Tensor) {
	var sum float64
	var grads map[string]*tensor.Tensor
	if grad {
		grads = make(map[string]*tensor.Tensor, len(weights))
	}
	for _, name := range sortedNames(weights) { // a fixed summation order
		w := weights[name]
		var sign []float64
		if grad {
			sign = make([]float64, w.Len())
		}
		for i := range w.Len() {
			v := w.Float64At(i)
			sum += math.Abs(v)
			if grad && v != 0 {
				sign[i] = math.Copysign(1, v)
			}
		}
		if grad {
			grads[name] = tensor.FromFloat64s(w.DType(), w.Shape(), sign)
		}
	}
	return sum, grads
}

func sortedNames(weights map[string]*tensor.Tensor) []string {
	names := make([]string, 0, len(weights))
	for name := range weights {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// L2 is the penalty 0.5 * sum of w^2 over the weights. Its gradient is w itself, so adding
// wd * L2 to a loss adds wd * w to each weight's gradient: exactly what SGD's (and Adam's,
// not AdamW's) weight_decay=wd does.
type L2 struct{}

// Name implements Penalty.
func (L2) Name() string { return "l2" }

// Eval implements Penalty. The gradients are copies of the weights.
func (L2) Eval(weights map[string]*tensor.Tensor, grad bool) (float64, map[string]*tensor.Tensor) {
	names := sortedNames(weights) // a fixed summation order: the same weights give the same bits
	var sum float64
	var grads map[string]*tensor.Tensor
	if grad {
		grads = make(map[string]*tensor.Tensor, len(weights))
	}
	for _, name := range names {
		w := weights[name]
		for i := 0; i < w.Len(); i++ {
			v := w.Float64At(i)
			sum += v * v
		}
		if grad {
			grads[name] = w.Clone()
		}
	}
	return 0.5 * sum, grads
}
