package train

import (
	"fmt"
	"slices"

	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/loss"
	"github.com/onnxtune/onnxtune/tensor"
)

// EmbeddingOutput names the one output of a model cut for embeddings (CutAtEmbedding).
const EmbeddingOutput = "embedding"

// CutAtEmbedding turns g into an embedding model: its one output becomes the value at ("auto":
// the input of the final classifier, the layer --num-classes replaces), L2-normalised along
// axis 1 when normalize (x / max(|x|_2, 1e-12), torch.nn.functional.normalize), and named
// EmbeddingOutput. Nodes and initializers only the rest of the model needed are dropped. It
// returns the value cut at.
func CutAtEmbedding(g *graph.Graph, at string, normalize bool) (string, error) {
	var fallback []graph.Dim // the embedding's shape when the model declares none
	if at == "auto" {
		h, err := findHead(g)
		if err != nil {
			return "", fmt.Errorf("train: --embedding auto: %w", err)
		}
		at = h.weightUser.Inputs[1-h.weightSlot]
		if h.info.OpType == "Gemm" && len(g.Inputs) > 0 && len(g.Inputs[0].Shape) > 0 {
			// A Gemm's input is [N, InFeatures], N the model's batch.
			fallback = []graph.Dim{g.Inputs[0].Shape[0], {Size: h.info.InFeatures}}
		}
	}
	if _, clash := g.Initializers[EmbeddingOutput]; clash {
		return "", fmt.Errorf("train: --embedding: the model has an initializer named %q already", EmbeddingOutput)
	}
	produced := false
	for _, n := range g.Nodes {
		if slices.Contains(n.Outputs, EmbeddingOutput) {
			return "", fmt.Errorf("train: --embedding: the model computes a value named %q already", EmbeddingOutput)
		}
		produced = produced || slices.Contains(n.Outputs, at)
	}
	if !produced {
		return "", fmt.Errorf("train: --embedding %s: no node of the model computes %q", at, at)
	}
	shape := declaredShape(g, at)
	if shape == nil {
		shape = fallback
	}
	names := g.Namer()
	if normalize {
		appendNormalize(g, names, at)
	} else {
		g.Nodes = append(g.Nodes, &graph.Node{Name: names.Fresh("embedding_identity"), OpType: "Identity", Inputs: []string{at}, Outputs: []string{EmbeddingOutput}, Attrs: map[string]graph.Attr{}})
	}
	g.Outputs = []graph.ValueInfo{{Name: EmbeddingOutput, DType: tensor.Float32, Shape: shape}}
	prune(g)
	return at, nil
}

// declaredShape returns the shape the model declares for value (a graph output, or its
// value_info), or nil.
func declaredShape(g *graph.Graph, value string) []graph.Dim {
	for _, vis := range [][]graph.ValueInfo{g.Outputs, g.ValueInfo} {
		for _, vi := range vis {
			if vi.Name == value {
				return vi.Shape
			}
		}
	}
	return nil
}

// appendNormalize adds x / max(ReduceL2(x, axis 1), eps) as EmbeddingOutput, in the form of
// the graph's opset (ReduceL2's axes an attribute before 18, an input from 18), its other
// values and nodes named by names so that they clash with none of the model's. The eps and
// axes are Constant nodes, not initializers, so that they are never trained or listed as
// parameters.
func appendNormalize(g *graph.Graph, names *graph.Namer, x string) {
	constant := func(base string, v *tensor.Tensor) string {
		name := names.Fresh(base)
		g.Nodes = append(g.Nodes, &graph.Node{Name: name, OpType: "Constant", Outputs: []string{name},
			Attrs: map[string]graph.Attr{"value": {Type: graph.AttrTensor, Tensor: v}}})
		return name
	}
	eps := constant("embedding_eps", tensor.Scalar(float32(loss.NormalizeEps)))
	norm, clamped := names.Fresh("embedding_norm"), names.Fresh("embedding_clamped")
	reduce := &graph.Node{Name: norm, OpType: "ReduceL2", Inputs: []string{x}, Outputs: []string{norm},
		Attrs: map[string]graph.Attr{"keepdims": {Type: graph.AttrInt, Int: 1}}}
	if g.Opset() >= 18 {
		reduce.Inputs = append(reduce.Inputs, constant("embedding_axes", tensor.From([]int{1}, []int64{1})))
	} else {
		reduce.Attrs["axes"] = graph.Attr{Type: graph.AttrInts, Ints: []int64{1}}
	}
	g.Nodes = append(g.Nodes, reduce,
		&graph.Node{Name: names.Fresh("embedding_clamp"), OpType: "Max", Inputs: []string{norm, eps}, Outputs: []string{clamped}, Attrs: map[string]graph.Attr{}},
		&graph.Node{Name: names.Fresh("embedding_divide"), OpType: "Div", Inputs: []string{x, clamped}, Outputs: []string{EmbeddingOutput}, Attrs: map[string]graph.Attr{}})
}

// prune drops the nodes no graph output needs, and the initializers no remaining node reads.
func prune(g *graph.Graph) {
	need := map[string]bool{}
	for _, o := range g.Outputs {
		need[o.Name] = true
	}
	keep := make([]bool, len(g.Nodes))
	for i := len(g.Nodes) - 1; i >= 0; i-- {
		n := g.Nodes[i]
		for _, out := range n.Outputs {
			keep[i] = keep[i] || need[out]
		}
		if keep[i] {
			for _, in := range n.Inputs {
				need[in] = true
			}
			for _, a := range n.Attrs { // a subgraph reads values of the outer graph
				if a.Graph != nil {
					for _, sn := range a.Graph.Nodes {
						for _, in := range sn.Inputs {
							need[in] = true
						}
					}
				}
			}
		}
	}
	var nodes []*graph.Node
	for i, n := range g.Nodes {
		if keep[i] {
			nodes = append(nodes, n)
		}
	}
	g.Nodes = nodes
	var names []string
	for _, name := range g.InitializerNames {
		if need[name] {
			names = append(names, name)
		} else {
			delete(g.Initializers, name)
		}
	}
	g.InitializerNames = names
}
