package train

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"

	"github.com/onnxtune/onnxtune/backprop"
	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/loss"
	"github.com/onnxtune/onnxtune/tensor"
)

// EvalOptions says what Evaluate measures.
type EvalOptions struct {
	// Loss is the loss expression to measure on the whole data set; nil for none (the
	// metrics then read the output as logits). Its terms must read Output.
	Loss *loss.Expr
	// Output is the graph output that the loss and the metrics read; "" for the first.
	Output string
	// Labels describes the data set's class-index labels: the class count and the positive
	// class of a binary classifier (see loss.AdaptTarget and Metrics.Labels).
	Labels loss.Labels
	// Kind, Threshold and Temperature set up the Metrics (see there); Scores says what the
	// output holds when there is no Loss to tell (NoScores: logits).
	Kind        MetricKind
	Threshold   float64
	Temperature float64
	Scores      loss.ScoreKind
	// Classes name the classes in the report; nil names them by index.
	Classes []string
	// Weights are the tensors the loss's penalties (l2) read: the weights being trained. Nil
	// means every trainable initializer of the model (backprop.Trainable).
	Weights map[string]*tensor.Tensor
	// Graph is the context each batch runs in; nil runs in inference mode.
	Graph *graph.Context
}

// Evaluate runs plan on every batch (feeding a batch's X to the model's only input) and
// measures the loss of the whole data set and the metrics of the chosen output against the
// batches' Y. The loss is exact whatever the batch size (loss.Total): for weighted
// cross-entropy, the weighted sum over every example divided by the whole set's weight sum,
// as PyTorch's loss of the whole set in one batch. The metrics read the output the way the
// loss's first classification term does (logits, probabilities or log-probabilities, and its
// ignore_index); they are left out (Report.Examples is 0) when no term of the loss is a
// classifier's, as for mse. Evaluate stops at the first error of the batches, of the model or
// of the loss, or when ctx is done.
func Evaluate(ctx context.Context, plan *graph.Plan, batches iter.Seq2[*data.Batch, error], opt EvalOptions) (*Report, error) {
	g := plan.Graph
	if len(g.Inputs) != 1 {
		return nil, fmt.Errorf("train: evaluate: the model has %d inputs; evaluation feeds one", len(g.Inputs))
	}
	if len(g.Outputs) == 0 {
		return nil, errors.New("train: evaluate: the model has no outputs")
	}
	output := opt.Output
	if output == "" {
		output = g.Outputs[0].Name
	}
	if !slices.ContainsFunc(g.Outputs, func(v graph.ValueInfo) bool { return v.Name == output }) {
		return nil, fmt.Errorf("train: evaluate: the model has no output %q", output)
	}
	m := &Metrics{Kind: opt.Kind, Labels: opt.Labels, Threshold: opt.Threshold, Temperature: opt.Temperature, Scores: opt.Scores}
	classifier := true
	weights := opt.Weights
	if opt.Loss != nil {
		if outs := opt.Loss.Outputs(output); len(outs) != 1 || outs[0] != output {
			return nil, fmt.Errorf("train: evaluate: the loss reads outputs %s; the data has targets for %q only", quoteList(outs), output)
		}
		classifier = readScores(m, opt.Loss)
		if weights == nil {
			weights = map[string]*tensor.Tensor{}
			for _, name := range backprop.Trainable(g) {
				weights[name] = g.Initializers[name]
			}
		}
	}
	var total loss.Total
	input := g.Inputs[0].Name
	for b, err := range batches {
		if err != nil {
			return nil, err
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("train: evaluate: %w", err)
		}
		if b.Y == nil {
			return nil, errNoTargets
		}
		outs, err := plan.Run(opt.Graph, map[string]*tensor.Tensor{input: b.X})
		if err != nil {
			return nil, err
		}
		if opt.Loss != nil {
			v, err := opt.Loss.Eval(loss.Batch{
				Outputs: outs, Targets: map[string]*tensor.Tensor{output: b.Y}, Default: output,
				Weights: weights, Labels: opt.Labels,
			})
			if err != nil {
				return nil, fmt.Errorf("train: evaluate: %w", err)
			}
			total.Add(v)
		}
		if classifier {
			if err := m.Add(outs[output], b.Y); err != nil {
				return nil, err
			}
		}
	}
	if total.Batches == 0 && m.n == 0 {
		return nil, errors.New("train: evaluate: the data holds no examples")
	}
	r := m.Report(opt.Classes)
	if opt.Loss != nil {
		r.Loss = total.Value(opt.Loss)
	}
	return r, nil
}

// readScores sets up m to read the output as e's first classification term does: what the
// output holds (logits, probabilities, log-probabilities) and the target that counts for
// nothing. It reports whether e has a classification term at all: the metrics of an output
// that only regression or embedding losses read mean nothing.
func readScores(m *Metrics, e *loss.Expr) bool {
	for _, t := range e.Terms {
		if t.Loss == nil {
			continue
		}
		if r := t.Loss.Reading(); r.Scores != loss.NoScores {
			m.Scores, m.IgnoreIndex = r.Scores, r.IgnoreIndex
			m.Exclusive = r.Labels == loss.ClassIndices
			return true
		}
	}
	return false
}
