package train

import (
	"errors"
	"fmt"
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
	terms   []objectiveTerm
	outputs []string // the outputs the loss terms read, in graph order
	wrt     []string
}

// objectiveTerm is a term of the expression with its output resolved ("" for penalties).
type objectiveTerm struct {
	loss.Term
	output string
}

// NewGradients prepares gradients of obj with respect to the named initializers (nil: every
// trainable one). It fails if a term names an output the model lacks, or if the losses cannot
// reach any of the initializers.
func NewGradients(plan *graph.Plan, obj Objective, wrt []string) (*Gradients, error) {
	g := plan.Graph
	if obj.Expr == nil || len(obj.Expr.Terms) == 0 {
		return nil, fmt.Errorf("train: no loss")
	}
	isOutput := map[string]bool{}
	var names []string
	for _, o := range g.Outputs {
		isOutput[o.Name] = true
		names = append(names, o.Name)
	}
	def := obj.Output
	if def == "" && len(names) > 0 {
		def = names[0]
	}
	gr := &Gradients{plan: plan}
	read := map[string]bool{}
	for _, t := range obj.Expr.Terms {
		ot := objectiveTerm{Term: t}
		if t.Loss != nil {
			ot.output = t.Output
			if ot.output == "" {
				ot.output = def
			}
			if !isOutput[ot.output] {
				return nil, fmt.Errorf("train: term %q: the model has no output %q (its outputs: %s)", t.Text, ot.output, strings.Join(names, ", "))
			}
			read[ot.output] = true
		}
		gr.terms = append(gr.terms, ot)
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
	prog, err := backprop.NewProgramFor(plan, wrt, gr.outputs)
	if errors.Is(err, backprop.ErrUnreachable) {
		return nil, fmt.Errorf("train: the loss on output %s cannot reach any trainable initializer", quoteList(gr.outputs))
	}
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	gr.prog, gr.wrt = prog, wrt
	return gr, nil
}

// Outputs returns the graph outputs the objective's losses read, in the model's order: each
// needs a target.
func (g *Gradients) Outputs() []string { return g.outputs }

// Compute runs the model on inputs, evaluates every term against the target of its output
// (targets by output name) and returns the weighted sum and the gradient of every
// differentiated initializer. Terms on the same output add their gradients before the
// backward pass; penalties add theirs to the initializers' gradients after it.
func (g *Gradients) Compute(ctx *graph.Context, inputs, targets map[string]*tensor.Tensor) (float64, map[string]*tensor.Tensor, error) {
	for _, t := range g.terms {
		if t.Loss != nil && targets[t.output] == nil {
			return 0, nil, fmt.Errorf("train: term %q reads output %q, which has no target", t.Text, t.output)
		}
	}
	tape, err := g.prog.Forward(ctx, inputs)
	if err != nil {
		return 0, nil, err
	}
	outs := tape.Outputs()
	var value float64
	type part struct {
		weight float64
		dy     *tensor.Tensor
	}
	parts := map[string][]part{}
	for _, t := range g.terms {
		if t.Loss == nil {
			continue
		}
		v, dy, err := t.Loss.Eval(outs[t.output], targets[t.output])
		if err != nil {
			return 0, nil, fmt.Errorf("train: term %q on output %q: %w", t.Text, t.output, err)
		}
		value += t.Weight * v
		parts[t.output] = append(parts[t.output], part{t.Weight, dy})
	}
	seeds := make(map[string]*tensor.Tensor, len(parts))
	for name, ps := range parts {
		if len(ps) == 1 && ps[0].weight == 1 {
			seeds[name] = ps[0].dy
			continue
		}
		sum := make([]float64, ps[0].dy.Len())
		for _, p := range ps {
			for i := range sum {
				sum[i] += p.weight * p.dy.Float64At(i)
			}
		}
		seeds[name] = tensor.FromFloat64s(ps[0].dy.DType(), ps[0].dy.Shape(), sum)
	}
	grads, err := tape.Backward(seeds)
	if err != nil {
		return 0, nil, err
	}
	if value, err = g.addPenalties(value, grads); err != nil {
		return 0, nil, err
	}
	return value, grads, nil
}

// addPenalties adds each penalty term, weighted, to the loss value and to grads.
func (g *Gradients) addPenalties(value float64, grads map[string]*tensor.Tensor) (float64, error) {
	var weights map[string]*tensor.Tensor
	for _, t := range g.terms {
		if t.Penalty == nil {
			continue
		}
		if weights == nil {
			weights = make(map[string]*tensor.Tensor, len(g.wrt))
			for _, name := range g.wrt {
				w := g.plan.Graph.Initializers[name]
				if w == nil {
					return 0, fmt.Errorf("train: term %q: %q is not an initializer", t.Text, name)
				}
				weights[name] = w
			}
		}
		v, pg := t.Penalty.Eval(weights)
		value += t.Weight * v
		for name, d := range pg {
			old := grads[name]
			sum := make([]float64, old.Len())
			for i := range sum {
				sum[i] = old.Float64At(i) + t.Weight*d.Float64At(i)
			}
			grads[name] = tensor.FromFloat64s(old.DType(), old.Shape(), sum)
		}
	}
	return value, nil
}

// quoteList is `"a"` or `"a", "b"`.
func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}
