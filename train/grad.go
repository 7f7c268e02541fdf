package train

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/onnxtune/onnxtune/backprop"
	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/loss"
	"github.com/onnxtune/onnxtune/tensor"
)

// Objective is what a gradient step minimises: a loss expression, whose loss terms each read
// one graph output and whose penalties read the trainable weights.
type Objective struct {
	Expr *loss.Expr
	// Output is the graph output of the terms that name none; "" for the model's first output.
	Output string
}

// Gradients is one forward and backward pass of a model under an Objective.
type Gradients struct {
	plan    *graph.Plan
	prog    *backprop.Program
	expr    *loss.Expr
	def     string                    // the output of the terms that name none
	outputs []string                  // the outputs the loss terms read, in graph order
	weights map[string]*tensor.Tensor // the differentiated initializers, by name
}

// NewGradients prepares gradients of obj with respect to the named initializers (nil: every
// trainable one). It fails if a term names an output the model lacks, or if the losses cannot
// reach any of the initializers.
func NewGradients(plan *graph.Plan, obj Objective, wrt []string) (*Gradients, error) {
	g := plan.Graph
	if obj.Expr == nil || len(obj.Expr.Terms) == 0 {
		return nil, fmt.Errorf("train: no loss")
	}
	var names []string
	for _, o := range g.Outputs {
		names = append(names, o.Name)
	}
	gr := &Gradients{plan: plan, expr: obj.Expr, def: obj.Output}
	if gr.def == "" && len(names) > 0 {
		gr.def = names[0]
	}
	read := map[string]bool{}
	for _, t := range obj.Expr.Terms {
		if t.Loss == nil {
			continue
		}
		out := t.OutputOf(gr.def)
		if !slices.Contains(names, out) {
			return nil, fmt.Errorf("train: term %q: the model has no output %q (its outputs: %s)", t.Text, out, strings.Join(names, ", "))
		}
		read[out] = true
	}
	for _, name := range names {
		if read[name] {
			gr.outputs = append(gr.outputs, name)
		}
	}
	if len(gr.outputs) == 0 {
		return nil, fmt.Errorf("train: the loss %q has no term on a model output, only penalties", obj.Expr)
	}
	if wrt == nil {
		wrt = backprop.Trainable(g)
	}
	if len(wrt) == 0 {
		return nil, fmt.Errorf("train: the model has no trainable initializers")
	}
	gr.weights = make(map[string]*tensor.Tensor, len(wrt))
	for _, name := range wrt {
		w := g.Initializers[name]
		if w == nil {
			return nil, fmt.Errorf("train: %q is not an initializer of the model", name)
		}
		gr.weights[name] = w
	}
	prog, err := backprop.NewProgramFor(plan, wrt, gr.outputs)
	if errors.Is(err, backprop.ErrUnreachable) {
		return nil, fmt.Errorf("train: the loss on output %s cannot reach any trainable initializer", quoteList(gr.outputs))
	}
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	gr.prog = prog
	return gr, nil
}

// Outputs returns the graph outputs the objective's losses read, in the model's order: each
// needs a target.
func (g *Gradients) Outputs() []string { return g.outputs }

// Compute runs the model on inputs, evaluates the objective against the targets (by output
// name; class-index targets are adapted to each loss as labels says) and returns the batch's
// value and the gradient of every differentiated initializer. Terms on the same output add
// their gradients before the backward pass; penalties add theirs after it.
func (g *Gradients) Compute(ctx *graph.Context, inputs, targets map[string]*tensor.Tensor, labels loss.Labels) (*loss.ExprValue, map[string]*tensor.Tensor, error) {
	v, grads, _, err := g.compute(ctx, inputs, targets, labels)
	return v, grads, err
}

// compute is Compute that also returns the tape, through which the caller may give the
// gradients' buffers back for the next step (backprop.Tape.GiveBackGradients).
func (g *Gradients) compute(ctx *graph.Context, inputs, targets map[string]*tensor.Tensor, labels loss.Labels) (*loss.ExprValue, map[string]*tensor.Tensor, *backprop.Tape, error) {
	tape, err := g.prog.Forward(ctx, inputs)
	if err != nil {
		return nil, nil, nil, err
	}
	v, err := g.expr.Eval(loss.Batch{
		Outputs: tape.Outputs(), Targets: targets, Default: g.def,
		Weights: g.weights, Labels: labels, Grad: true,
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("train: %w", err)
	}
	grads, err := tape.Backward(v.Seeds)
	if err != nil {
		return nil, nil, nil, err
	}
	for name, d := range v.WeightGrads {
		old := grads[name]
		sum := make([]float64, old.Len())
		for i := range sum {
			sum[i] = old.Float64At(i) + d.Float64At(i)
		}
		grads[name] = tensor.FromFloat64s(old.DType(), old.Shape(), sum)
	}
	return v, grads, tape, nil
}

// Weights returns the initializers being differentiated, by name: what the objective's
// penalties read.
func (g *Gradients) Weights() map[string]*tensor.Tensor { return g.weights }

// quoteList is `"a"` or `"a", "b"`.
func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}
