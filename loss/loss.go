package loss

import (
	"fmt"
	"strings"

	"github.com/onnxtune/onnxtune/tensor"
)

// Loss is a training loss on one model output: its value and its gradient with respect to the
// output, computed in one pass (float64 accumulation, the gradient in the output's dtype).
type Loss interface {
	// Name is the loss's spelling in a loss expression, e.g. "cross-entropy".
	Name() string
	// Eval returns the loss of one batch as the sum its reduction divides and the divisor,
	// with the gradient of the reduced loss. Errors say how the target does not fit the
	// output.
	Eval(output, target *tensor.Tensor) (Value, error)
	// Reading says what the loss reads: the form of its target and what its output holds.
	Reading() Reading
}

// Value is a loss evaluated on one batch. The reduced loss is Sum / Weight; keeping the two
// apart lets a data set's loss be accumulated exactly over batches of any size (see Total):
// the loss of the whole set is the sum of the Sums over the sum of the Weights, as PyTorch's
// loss of the whole set in one batch.
type Value struct {
	// Sum adds the loss of every position (element, example or pair), each with its weight:
	// the class weight of its target for weighted cross-entropy and nll, 0 for an ignored
	// target.
	Sum float64
	// Weight is what the reduction divides Sum by: the total weight of the counted targets
	// for cross-entropy and nll with class indices, the number of elements (examples for
	// kl-div's batchmean, triplets, pairs) for the other mean-reduced losses, and 1 for
	// reduction=sum. reduction=none reports the mean.
	Weight float64
	// Grad is the gradient of Sum / Weight with respect to the output, shaped like it.
	Grad *tensor.Tensor
	// Summed marks reduction=sum: the loss of a data set is then the sum of its batches'
	// Sums, each batch's Weight being 1.
	Summed bool
}

// reducedValue is the Value of a loss with reduction r.
func reducedValue(r Reduction, sum, weight float64, grad *tensor.Tensor) Value {
	return Value{Sum: sum, Weight: weight, Grad: grad, Summed: reduction(r) == Sum}
}

// Loss returns the reduced loss, Sum / Weight (NaN when Weight is 0: every target ignored,
// as PyTorch's 0/0).
func (v Value) Loss() float64 { return v.Sum / v.Weight }

// LabelForm says how a loss takes the class-index labels of image folders, IDX files and
// integer .npz arrays (see AdaptTarget).
type LabelForm int

const (
	// ClassIndices losses take class indices [N, d...] for scores [N, C, d...] as they are
	// (cross-entropy, nll).
	ClassIndices LabelForm = iota
	// FloatLabels losses take float targets shaped like the output: class indices become 0/1
	// (the positive class against the rest) on a one-column output and one-hot rows on
	// [N, C] (bce, bce-logits, medical-bce, mse, mae, huber, smooth-l1, kl-div).
	FloatLabels
	// IndicesOrBinary losses take class indices on [N, C] scores and 0/1 labels on a
	// one-column output (focal: its softmax and sigmoid forms; hinge: multi-class and binary).
	IndicesOrBinary
	// OwnTarget losses read a target of their own kind, passed as it is: nothing (triplet),
	// pair similarity (contrastive), critic labels (wasserstein).
	OwnTarget
)

// ScoreKind says what a loss takes the model's output to hold, which is how classification
// metrics read it.
type ScoreKind int

const (
	// NoScores: the output is no classifier's (regression, embeddings).
	NoScores ScoreKind = iota
	// Logits: unnormalised scores; softmax over C >= 2 columns, sigmoid of one column.
	Logits
	// Probabilities: probabilities in [0, 1] of one or more independent labels (bce).
	Probabilities
	// LogProbabilities: log-softmax outputs (nll).
	LogProbabilities
)

// Reading is what a loss tells its callers about the data it reads, so that they can adapt
// targets and score outputs without knowing the loss's type.
type Reading struct {
	Labels LabelForm
	Scores ScoreKind
	// IgnoreIndex is the class index that counts for nothing, or nil for none.
	IgnoreIndex *int64
}

// Parse reads a loss expression of a single unweighted term on the default output, such as
// "huber(delta=2)", and returns its loss. Expressions of several terms need ParseExpr.
func Parse(spec string) (Loss, error) {
	e, err := ParseExpr(spec, Params{})
	if err != nil {
		return nil, err
	}
	if t := e.Terms[0]; len(e.Terms) == 1 && t.Loss != nil && t.Weight == 1 && t.Output == "" {
		return t.Loss, nil
	}
	return nil, fmt.Errorf("loss: %q is not a single loss on the default output: use ParseExpr", spec)
}

func unprefix(err error) error {
	if s, ok := strings.CutPrefix(err.Error(), "loss: "); ok {
		return fmt.Errorf("%s", s)
	}
	return err
}
