package loss

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/onnxtune/onnxtune/tensor"
)

// Batch is what Expr.Eval reads: a batch's model outputs and targets, and what the run around
// it knows.
type Batch struct {
	// Outputs holds the model's outputs by graph output name, Targets the target of each
	// output a term reads.
	Outputs, Targets map[string]*tensor.Tensor
	// Default is the output that terms without @OUTPUT read.
	Default string
	// Weights are the tensors the penalties (l2) read: the weights being trained.
	Weights map[string]*tensor.Tensor
	// Labels describes class-index targets (see AdaptTarget).
	Labels Labels
	// Grad asks for Seeds and WeightGrads.
	Grad bool
}

// ExprValue is an expression evaluated on one batch.
type ExprValue struct {
	// Value is the expression on the batch: each loss term's reduced loss and each penalty,
	// times its weight, added up.
	Value float64
	// Seeds holds d Value / d output for every output a term reads (with Batch.Grad).
	Seeds map[string]*tensor.Tensor
	// WeightGrads holds the penalties' d Value / d weight, by weight name (with Batch.Grad and
	// a penalty in the expression).
	WeightGrads map[string]*tensor.Tensor
	// Terms holds each term's part, in the expression's order, for Total.
	Terms []TermValue
}

// TermValue is one term of an ExprValue: a loss's Sum, Weight and Summed (see Value), or a
// penalty's value in Sum.
type TermValue struct {
	Sum     float64 `json:"sum"`
	Weight  float64 `json:"weight"`
	Summed  bool    `json:"summed,omitempty"`
	Penalty bool    `json:"penalty,omitempty"`
}

// TermError is Expr.Eval's error for one term; Err says what went wrong.
type TermError struct {
	Term, Output string
	Err          error
}

func (e *TermError) Error() string {
	if e.Output == "" {
		return fmt.Sprintf("term %q: %v", e.Term, e.Err)
	}
	return fmt.Sprintf("term %q on output %q: %v", e.Term, e.Output, e.Err)
}

func (e *TermError) Unwrap() error { return e.Err }

// OutputOf returns the graph output a term reads: its @OUTPUT, else def.
func (t Term) OutputOf(def string) string {
	if t.Output != "" {
		return t.Output
	}
	return def
}

// Eval evaluates the expression on one batch: each loss term on its output and the target
// AdaptTarget makes of that output's target, each penalty on b.Weights. Terms on the same
// output add their gradients into one seed.
func (e *Expr) Eval(b Batch) (*ExprValue, error) {
	v := &ExprValue{Terms: make([]TermValue, len(e.Terms))}
	if b.Grad {
		v.Seeds = map[string]*tensor.Tensor{}
	}
	type part struct {
		weight float64
		grad   *tensor.Tensor
	}
	parts := map[string][]part{}
	for i, t := range e.Terms {
		if t.Penalty != nil {
			p, grads := t.Penalty.Eval(b.Weights, b.Grad)
			v.Value += t.Weight * p
			v.Terms[i] = TermValue{Sum: p, Penalty: true}
			if b.Grad {
				v.addWeightGrads(t.Weight, grads)
			}
			continue
		}
		name := t.OutputOf(b.Default)
		out, target := b.Outputs[name], b.Targets[name]
		if out == nil {
			return nil, &TermError{t.Text, name, fmt.Errorf("the model gave no output %q", name)}
		}
		if target == nil {
			return nil, &TermError{t.Text, name, errors.New("no target was given for it")}
		}
		target, err := AdaptTarget(t.Loss, out, target, b.Labels)
		if err != nil {
			return nil, &TermError{t.Text, name, err}
		}
		lv, err := t.Loss.Eval(out, target)
		if err != nil {
			return nil, &TermError{t.Text, name, err}
		}
		v.Value += t.Weight * lv.Loss()
		v.Terms[i] = TermValue{Sum: lv.Sum, Weight: lv.Weight, Summed: lv.Summed}
		if b.Grad {
			parts[name] = append(parts[name], part{t.Weight, lv.Grad})
		}
	}
	for name, ps := range parts {
		if len(ps) == 1 && ps[0].weight == 1 {
			v.Seeds[name] = ps[0].grad
			continue
		}
		sum := make([]float64, ps[0].grad.Len())
		for _, p := range ps {
			for j := range sum {
				sum[j] += p.weight * p.grad.Float64At(j)
			}
		}
		v.Seeds[name] = tensor.FromFloat64s(ps[0].grad.DType(), ps[0].grad.Shape(), sum)
	}
	return v, nil
}

// addWeightGrads adds w times a penalty's gradients to v.WeightGrads.
func (v *ExprValue) addWeightGrads(w float64, grads map[string]*tensor.Tensor) {
	if v.WeightGrads == nil {
		v.WeightGrads = make(map[string]*tensor.Tensor, len(grads))
	}
	names := make([]string, 0, len(grads))
	for name := range grads {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		d := grads[name]
		sum := make([]float64, d.Len())
		if old := v.WeightGrads[name]; old != nil {
			for i := range sum {
				sum[i] = old.Float64At(i)
			}
		}
		for i := range sum {
			sum[i] += w * d.Float64At(i)
		}
		v.WeightGrads[name] = tensor.FromFloat64s(d.DType(), d.Shape(), sum)
	}
}

// Outputs returns the graph outputs the expression's loss terms read, each once, in the order
// of the terms; def stands for the terms without @OUTPUT.
func (e *Expr) Outputs(def string) []string {
	var out []string
	seen := map[string]bool{}
	for _, t := range e.Terms {
		if t.Loss == nil {
			continue
		}
		if name := t.OutputOf(def); !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	return out
}

// Total accumulates an expression over the batches of a data set, exactly: each loss term's
// Sums and Weights are added up across batches, so that Value is the expression's value on
// the whole data set (as PyTorch's loss of the whole set in one batch), whatever the batch
// size. Penalties do not depend on the data: Value takes the last batch's. It marshals to
// JSON exactly, so that a checkpoint taken within an epoch can carry it.
type Total struct {
	Terms   []TermValue `json:"terms"`
	Batches int         `json:"batches"`
}

// Add counts one batch.
func (t *Total) Add(v *ExprValue) {
	if t.Terms == nil {
		t.Terms = make([]TermValue, len(v.Terms))
	}
	for i, tv := range v.Terms {
		if tv.Penalty {
			t.Terms[i] = tv
			continue
		}
		t.Terms[i].Sum += tv.Sum
		t.Terms[i].Weight += tv.Weight
		if tv.Summed {
			t.Terms[i].Summed, t.Terms[i].Weight = true, 1
		}
	}
	t.Batches++
}

// Value returns the expression e (the one whose batches were added) on everything added; NaN
// before the first batch.
func (t *Total) Value(e *Expr) float64 {
	if t.Batches == 0 {
		return math.NaN()
	}
	var v float64
	for i, term := range e.Terms {
		tv := t.Terms[i]
		if tv.Penalty {
			v += term.Weight * tv.Sum
		} else {
			v += term.Weight * tv.Sum / tv.Weight
		}
	}
	return v
}
