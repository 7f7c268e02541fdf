package loss

import (
	"fmt"

	"github.com/onnxtune/onnxtune/tensor"
)

func init() {
	Register(Spec{
		Name:         "nll",
		Summary:      "negative log-likelihood on log-probabilities (a model that ends in LogSoftmax)",
		PyTorch:      "nn.NLLLoss(weight=class_weights, ignore_index=ignore_index)",
		Target:       "int64 class indices [N, d1, ...] for log-probabilities [N, C, d1, ...]",
		ClassWeights: true,
		Options: []Option{
			{Key: "ignore_index", Default: -100, Doc: "a target value that adds neither loss nor weight"},
		},
		New: func(opts map[string]float64, p Params) (Loss, error) {
			ig, err := optInt("nll", "ignore_index", opts["ignore_index"])
			if err != nil {
				return nil, err
			}
			return NLLLoss{Weights: p.ClassWeights, IgnoreIndex: &ig, Reduction: p.Reduction}, nil
		},
	})
}

var _ Unreducer = NLLLoss{}

// NLLLoss is nn.NLLLoss on log-probabilities [N, C, d1, ...] (or [C]) with int64 class-index
// targets [N, d1, ...]: position i adds -w[y_i] * logp[i, y_i], and Mean divides the sum by
// sum_i w[y_i] over the positions not ignored. Its zero value is nn.NLLLoss(). It is the loss
// NLL computes, on tensors.
type NLLLoss struct {
	// Weights are the C class weights, or nil for all ones.
	Weights []float64
	// IgnoreIndex is the target value that counts for nothing; nil means -100.
	IgnoreIndex *int64
	// Reduction is Mean when empty. With None, Eval reports the mean and its gradient.
	Reduction Reduction
}

// Name implements Loss.
func (NLLLoss) Name() string { return "nll" }

// Eval implements Loss.
func (nl NLLLoss) Eval(logp, target *tensor.Tensor) (Value, error) {
	in, err := nl.input(logp, target)
	if err != nil {
		return Value{}, err
	}
	r := reduction(nl.Reduction)
	if r == None {
		r = Mean
	}
	sum, err := NLL(in, Sum)
	if err != nil {
		return Value{}, fmt.Errorf("loss nll: %w", unprefix(err))
	}
	g, err := NLLGrad(nil, in, r, []float64{1})
	if err != nil {
		return Value{}, fmt.Errorf("loss nll: %w", unprefix(err))
	}
	w := 1.0
	if r == Mean {
		w = in.countedWeight()
	}
	return reducedValue(nl.Reduction, sum[0], w, tensor.FromFloat64s(logp.DType(), logp.Shape(), g)), nil
}

// Reading implements Loss: class indices, log-probabilities, its ignore_index.
func (nl NLLLoss) Reading() Reading {
	ig := int64(defaultIgnoreIndex)
	if nl.IgnoreIndex != nil {
		ig = *nl.IgnoreIndex
	}
	return Reading{Labels: ClassIndices, Scores: LogProbabilities, IgnoreIndex: &ig}
}

// Unreduced implements Unreducer: -w[y_i] * logp[i, y_i] per position, shaped like the
// target, 0 where the target is ignored.
func (nl NLLLoss) Unreduced(logp, target *tensor.Tensor) (*tensor.Tensor, error) {
	in, err := nl.input(logp, target)
	if err != nil {
		return nil, err
	}
	per, err := NLL(in, None)
	if err != nil {
		return nil, fmt.Errorf("loss nll: %w", unprefix(err))
	}
	return tensor.FromFloat64s(logp.DType(), layoutOf(logp).positions, per), nil
}

// input checks the output and target and lays them out as NLL takes them.
func (nl NLLLoss) input(logp, target *tensor.Tensor) (NLLInput, error) {
	const name = "nll"
	if err := checkInputs(name, "log-probabilities [N, C, ...]", logp, target, 1); err != nil {
		return NLLInput{}, err
	}
	ig := int64(defaultIgnoreIndex)
	if nl.IgnoreIndex != nil {
		ig = *nl.IgnoreIndex
	}
	l, idx, err := classTargets(name, logp, target, &ig, "")
	if err != nil {
		return NLLInput{}, err
	}
	if err := checkClassWeights(name, nl.Weights, l.c); err != nil {
		return NLLInput{}, err
	}
	shape := logp.Shape()
	if len(shape) == 1 {
		shape = []int{1, l.c}
	}
	w := nl.Weights
	if len(w) == 0 {
		w = nil // NLL's spelling of "all ones"
	}
	return NLLInput{LogProb: values(logp), Shape: shape, Target: idx, Weight: w, IgnoreIndex: &ig}, nil
}
