package train

import (
	"errors"
	"fmt"

	"github.com/onnxtune/onnxtune/backprop"
	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/loss"
	"github.com/onnxtune/onnxtune/tensor"
)

// Objective is what a gradient step minimises: a loss applied to one graph output.
type Objective struct {
	Loss   loss.Loss
	Output string // graph output the loss reads; "" for the first
}

// Gradients is one forward and backward pass of a model.
type Gradients struct {
	plan   *graph.Plan
	prog   *backprop.Program
	output string
	obj    Objective
}

// NewGradients prepares gradients of obj with respect to the named initializers (nil: every
// trainable one). It fails if the loss cannot reach any of them.
func NewGradients(plan *graph.Plan, obj Objective, wrt []string) (*Gradients, error) {
	g := plan.Graph
	out := obj.Output
	if out == "" {
		out = g.Outputs[0].Name
	}
	found := false
	for _, o := range g.Outputs {
		found = found || o.Name == out
	}
	if !found {
		return nil, fmt.Errorf("train: the model has no output %q", out)
	}
	if wrt == nil {
		wrt = backprop.Trainable(g)
	}
	if len(wrt) == 0 {
		return nil, fmt.Errorf("train: the model has no trainable initializers")
	}
	prog, err := backprop.NewProgramFor(plan, wrt, []string{out})
	if errors.Is(err, backprop.ErrUnreachable) {
		return nil, fmt.Errorf("train: the loss on output %q cannot reach any trainable initializer", out)
	}
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	return &Gradients{plan: plan, prog: prog, output: out, obj: obj}, nil
}

// Compute runs the model on inputs, evaluates the loss against target and returns the loss and
// the gradient of every differentiated initializer.
func (g *Gradients) Compute(ctx *graph.Context, inputs map[string]*tensor.Tensor, target *tensor.Tensor) (float64, map[string]*tensor.Tensor, error) {
	tape, err := g.prog.Forward(ctx, inputs)
	if err != nil {
		return 0, nil, err
	}
	y := tape.Outputs()[g.output]
	value, dy, err := g.obj.Loss.Eval(y, target)
	if err != nil {
		return 0, nil, fmt.Errorf("train: output %q: %w", g.output, err)
	}
	grads, err := tape.Backward(map[string]*tensor.Tensor{g.output: dy})
	if err != nil {
		return 0, nil, err
	}
	return value, grads, nil
}
