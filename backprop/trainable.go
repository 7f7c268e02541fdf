package backprop

import "github.com/onnxtune/onnxtune/graph"

// nonDifferentiable lists, per operator, the input positions through which no gradient flows:
// shapes, indices, axes, bounds and running statistics. An initializer that only feeds such
// inputs is a constant of the model, never a parameter. Operators missing from the table pass
// gradients through every floating-point input, and ops in noGradient through none.
var nonDifferentiable = map[string][]int{
	"BatchNormalization":        {3, 4}, // running mean and variance: updated, never trained
	"Reshape":                   {1},
	"Expand":                    {1},
	"Tile":                      {1},
	"Slice":                     {1, 2, 3, 4},
	"Pad":                       {1, 2, 3},
	"Squeeze":                   {1},
	"Unsqueeze":                 {1},
	"Split":                     {1},
	"Gather":                    {1},
	"GatherElements":            {1},
	"Clip":                      {1, 2},
	"Dropout":                   {1, 2},
	"ReduceMean":                {1},
	"ReduceSum":                 {1},
	"ReduceMax":                 {1},
	"ReduceMin":                 {1},
	"Resize":                    {1, 2, 3},
	"Upsample":                  {1},
	"TopK":                      {1},
	"Where":                     {0},
	"SoftmaxCrossEntropyLoss":   {1},
	"NegativeLogLikelihoodLoss": {1},
}

// noGradient lists operators whose outputs carry no gradient to any input.
var noGradient = map[string]bool{
	"Shape": true, "Size": true, "ConstantOfShape": true, "Range": true, "Equal": true,
	"Less": true, "Greater": true, "LessOrEqual": true, "GreaterOrEqual": true, "Not": true,
	"And": true, "Or": true, "Xor": true, "ArgMax": true, "ArgMin": true, "NonZero": true,
	"RandomNormal": true, "RandomUniform": true, "RandomNormalLike": true,
	"RandomUniformLike": true, "Bernoulli": true, "IsNaN": true, "IsInf": true, "Sign": true,
	"Floor": true, "Ceil": true, "Round": true,
}

// Trainable returns, in initializer order, the names of g's floating-point initializers from
// which a gradient can reach at least one graph output: each must feed a differentiable input
// of some node on a differentiable path to an output. BatchNorm running statistics, shape and
// index constants, and weights of dead branches are not trainable.
func Trainable(g *graph.Graph) []string {
	// Walk backwards from the outputs, marking every value a gradient reaches.
	reached := map[string]bool{}
	for _, o := range g.Outputs {
		reached[o.Name] = true
	}
	for i := len(g.Nodes) - 1; i >= 0; i-- {
		n := g.Nodes[i]
		if noGradient[n.OpType] || n.Domain != "" || castsToNonFloat(n) {
			continue
		}
		live := false
		for _, out := range n.Outputs {
			live = live || (out != "" && reached[out])
		}
		if !live {
			continue
		}
		skip := map[int]bool{}
		for _, j := range nonDifferentiable[n.OpType] {
			skip[j] = true
		}
		for j, in := range n.Inputs {
			if in != "" && !skip[j] {
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
