package backprop

import "github.com/onnxtune/onnxtune/graph"

// Trainable returns, in initializer order, the names of g's floating-point initializers from
// which a gradient can reach at least one graph output: each must feed a differentiable input
// (by its operator's Rule) of some node on a differentiable path to an output. BatchNorm
// running statistics, shape and index constants, and weights of dead branches are not
// trainable. An operator with no rule yet counts as differentiable in every input, so that a
// model the engine cannot differentiate still shows its parameters.
func Trainable(g *graph.Graph) []string {
	// Walk backwards from the outputs, marking every value a gradient reaches.
	reached := map[string]bool{}
	for _, o := range g.Outputs {
		reached[o.Name] = true
	}
	for i := len(g.Nodes) - 1; i >= 0; i-- {
		n := g.Nodes[i]
		r, known := ruleFor(n)
		if r.NoGrad {
			continue
		}
		live := false
		for _, out := range n.Outputs {
			live = live || (out != "" && reached[out])
		}
		if !live {
			continue
		}
		for j, in := range n.Inputs {
			if in != "" && (!known || differentiable(r, n, j)) {
				reached[in] = true
			}
		}
	}
	var out []string
	for _, name := range g.InitializerNames {
		if reached[name] && g.Initializers[name].DType().IsFloat() {
			out = append(out, name)
		}
	}
	return out
}

// castsToNonFloat reports a Cast whose result is an integer or bool: no gradient passes.
func castsToNonFloat(n *graph.Node) bool {
	if n.OpType != "Cast" {
		return false
	}
	// ONNX element types FLOAT=1, FLOAT16=10, DOUBLE=11, BFLOAT16=16.
	switch n.Attrs["to"].Int {
	case 1, 10, 11, 16:
		return false
	}
	return true
}
