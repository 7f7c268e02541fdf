package graph

import (
	"fmt"

	"github.com/onnxtune/onnxtune/tensor"
)

// Einsum (opset 12), the Einstein summation that PyTorch exports torch.einsum to. The equation
// is parsed when the plan is built; tensor.EinsumEquation lowers each pair of operands to one
// batched GEMM.

func init() {
	Register(OpDef{Type: "Einsum", Since: 12, Build: buildEinsum})
}

var _ Kernel = (*Einsum)(nil)

// Einsum evaluates its equation over the node's inputs.
type Einsum struct {
	// Equation is the attribute as the model gives it, for messages.
	Equation string
	// Parsed is the equation parsed, the implicit output filled in.
	Parsed *tensor.EinsumEquation
}

func buildEinsum(n *Node, _ int) (Kernel, error) {
	a := n.AttrReader()
	eq := a.String("equation", "")
	if err := a.Err(); err != nil {
		return nil, err
	}
	if !a.Has("equation") {
		return nil, fmt.Errorf("%s: the equation attribute is required", n)
	}
	p, err := tensor.ParseEinsum(eq)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", n, err)
	}
	if len(n.Inputs) != len(p.Inputs) {
		return nil, fmt.Errorf("%s: equation %q has %d operands, the node %d inputs", n, eq, len(p.Inputs), len(n.Inputs))
	}
	return &Einsum{Equation: eq, Parsed: p}, nil
}

// Run implements Kernel.
func (k *Einsum) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	y, err := k.Parsed.Eval(nil, in...)
	if err != nil {
		return nil, err
	}
	return ctx.one(y)
}
