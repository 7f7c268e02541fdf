package train

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/loss"
	"github.com/onnxtune/onnxtune/onnx"
	"github.com/onnxtune/onnxtune/tensor"
)

// The outputs a binary classifier gains when its decision is written into it (AppendDecision);
// a name the model already uses gets a suffix (_1, _2, ...), and the metadata records the
// names given.
const (
	// ProbabilityOutput is the calibrated probability of the positive class, float32 [N].
	ProbabilityOutput = "probability"
	// DecisionOutput is true where the example is predicted positive, bool [N].
	DecisionOutput = "decision"
)

// DecisionModel is a binary classifier that carries its operating point: Graph computes,
// after the Scores output, the calibrated Probability and the boolean Decision outputs.
type DecisionModel struct {
	Graph                         *graph.Graph
	Scores, Probability, Decision string
}

// AppendDecision returns a copy of g with nodes after the output scores, read as src says,
// that compute the log-odds of the positive class (the logit itself for one logit; the log
// of its softmax probability over the others' for more), divide them by d.Temperature, and
// output their sigmoid as ProbabilityOutput and "log-odds >= d.Cut" as DecisionOutput, both
// with one value per example. g is not modified; the copy shares its nodes and tensors.
func AppendDecision(g *graph.Graph, scores string, src ScoreSource, d Decision) (*DecisionModel, error) {
	at := slices.IndexFunc(g.Outputs, func(v graph.ValueInfo) bool { return v.Name == scores })
	switch opset := g.Opset(); {
	case at < 0:
		return nil, fmt.Errorf("train: decision: the model has no output %q", scores)
	case src.Dense:
		return nil, fmt.Errorf("train: decision: output %q scores positions within each example; a decision needs one score per example", scores)
	case src.Width < 1 || src.Width > 1 && (src.Positive < 0 || src.Positive >= src.Width):
		return nil, fmt.Errorf("train: decision: positive class %d of output %q with %d classes", src.Positive, scores, src.Width)
	case opset < 7:
		return nil, fmt.Errorf("train: decision: the model imports opset %d; a decision is written for opset 7 and later", opset)
	case !(d.Temperature > 0) || math.IsNaN(d.Cut):
		return nil, fmt.Errorf("train: decision: temperature %g, cut %g", d.Temperature, d.Cut)
	}
	c := *g
	c.Nodes, c.Outputs = slices.Clone(g.Nodes), slices.Clone(g.Outputs)
	e := &decisionEdit{g: &c, names: c.Namer()}
	logOdds := e.logOdds(scores, src)
	calibrated := e.node("Div", logOdds, e.constant("temperature", tensor.Scalar(float32(d.Temperature))))
	probability := e.names.Fresh(ProbabilityOutput)
	e.add(&graph.Node{OpType: "Sigmoid", Inputs: []string{calibrated}, Outputs: []string{probability}})
	batch := graph.Dim{Size: -1}
	if s := g.Outputs[at].Shape; len(s) > 0 {
		batch = s[0]
	}
	dm := &DecisionModel{Graph: &c, Scores: scores, Probability: probability, Decision: e.names.Fresh(DecisionOutput)}
	cut := e.constant("cut", tensor.Scalar(float32(d.Cut)))
	if c.Opset() >= 12 {
		e.add(&graph.Node{OpType: "GreaterOrEqual", Inputs: []string{calibrated, cut}, Outputs: []string{dm.Decision}})
	} else {
		e.add(&graph.Node{OpType: "Not", Inputs: []string{e.node("Less", calibrated, cut)}, Outputs: []string{dm.Decision}})
	}
	nodes := e.nodes
	last := slices.IndexFunc(nodes, func(n *graph.Node) bool { return n.Outputs[0] == probability })
	if err := c.AddOutput(graph.ValueInfo{Name: probability, DType: tensor.Float32, Shape: []graph.Dim{batch}}, nodes[:last+1]...); err != nil {
		return nil, fmt.Errorf("train: decision: %w", err)
	}
	if err := c.AddOutput(graph.ValueInfo{Name: dm.Decision, DType: tensor.Bool, Shape: []graph.Dim{batch}}, nodes[last+1:]...); err != nil {
		return nil, fmt.Errorf("train: decision: %w", err)
	}
	return dm, nil
}

// decisionEdit collects the nodes of a decision.
type decisionEdit struct {
	g     *graph.Graph
	names *graph.Namer
	nodes []*graph.Node
}

// nodePrefix begins the names of the values and nodes a decision adds.
const nodePrefix = "onnxtune_decision/"

func (e *decisionEdit) add(n *graph.Node) {
	n.Name = e.names.Fresh(nodePrefix + n.OpType)
	e.nodes = append(e.nodes, n)
}

// node adds an op of the inputs with one new output, which it returns.
func (e *decisionEdit) node(op string, inputs ...string) string {
	out := e.names.Fresh(nodePrefix + op + "_out")
	e.add(&graph.Node{OpType: op, Inputs: inputs, Outputs: []string{out}})
	return out
}

// constant adds a Constant node (not an initializer, which would count as a weight to train)
// and returns its output.
func (e *decisionEdit) constant(name string, t *tensor.Tensor) string {
	out := e.names.Fresh(nodePrefix + name)
	e.add(constantNode(out, t))
	return out
}

// constantNode is a Constant node whose output out holds t.
func constantNode(out string, t *tensor.Tensor) *graph.Node {
	return &graph.Node{OpType: "Constant", Outputs: []string{out}, Attrs: map[string]graph.Attr{"value": {Type: graph.AttrTensor, Tensor: t}}}
}

func (e *decisionEdit) gather(x string, index *tensor.Tensor) string {
	out := e.names.Fresh(nodePrefix + "Gather_out")
	e.add(&graph.Node{OpType: "Gather", Inputs: []string{x, e.constant("class", index)}, Outputs: []string{out},
		Attrs: map[string]graph.Attr{"axis": {Type: graph.AttrInt, Int: 1}}})
	return out
}

// logOdds adds the nodes computing the log-odds [N] of the positive class from output z, as
// Metrics.logOddsOf reads them.
func (e *decisionEdit) logOdds(z string, src ScoreSource) string {
	one := func() string { return e.constant("one", tensor.Scalar(float32(1))) }
	if src.Width == 1 {
		v := e.node("Reshape", z, e.constant("flat", tensor.From([]int{1}, []int64{-1})))
		switch src.Scores {
		case loss.Probabilities: // log p - log(1 - p)
			return e.node("Sub", e.node("Log", v), e.node("Log", e.node("Sub", one(), v)))
		case loss.LogProbabilities: // log p - log(1 - exp(log p))
			return e.node("Sub", v, e.node("Log", e.node("Sub", one(), e.node("Exp", v))))
		}
		return v
	}
	logp := z // a softmax of logits and of log-probabilities is the same
	if src.Scores == loss.Probabilities {
		logp = e.node("Log", z)
	}
	pos := int64(src.Positive)
	if src.Width == 2 {
		return e.node("Sub", e.gather(logp, tensor.Scalar(pos)), e.gather(logp, tensor.Scalar(1-pos)))
	}
	// -log(sum over the others k of exp(logp_k - logp_pos)): exact where the log-odds are
	// moderate, which is where a cut falls; +-Inf far beyond it, on the right side.
	var others []int64
	for k := range int64(src.Width) {
		if k != pos {
			others = append(others, k)
		}
	}
	diff := e.node("Sub", e.gather(logp, tensor.From([]int{len(others)}, others)), e.gather(logp, tensor.From([]int{1}, []int64{pos})))
	exp := e.node("Exp", diff)
	sum := e.names.Fresh(nodePrefix + "ReduceSum_out")
	keep := graph.Attr{Type: graph.AttrInt, Int: 0}
	if e.g.Opset() >= 13 {
		e.add(&graph.Node{OpType: "ReduceSum", Inputs: []string{exp, e.constant("axes", tensor.From([]int{1}, []int64{1}))}, Outputs: []string{sum},
			Attrs: map[string]graph.Attr{"keepdims": keep}})
	} else {
		e.add(&graph.Node{OpType: "ReduceSum", Inputs: []string{exp}, Outputs: []string{sum},
			Attrs: map[string]graph.Attr{"keepdims": keep, "axes": {Type: graph.AttrInts, Ints: []int64{1}}}})
	}
	return e.node("Neg", e.node("Log", sum))
}

// dropDecision returns g, imported from m, without the decision AppendDecision wrote into it
// (the outputs m's metadata names, and the nodes that compute them); g itself
// when m carries none.
func dropDecision(m *onnx.Model, g *graph.Graph) (*graph.Graph, error) {
	meta := OwnMetadata(m)
	outputs := map[string]bool{meta[MetadataPrefix+"probability_output"]: true, meta[MetadataPrefix+"decision_output"]: true}
	if meta[MetadataPrefix+"decision_output"] == "" {
		return g, nil
	}
	ours := func(name string) bool { return strings.HasPrefix(name, nodePrefix) }
	c := *g
	c.Outputs = slices.DeleteFunc(slices.Clone(g.Outputs), func(v graph.ValueInfo) bool { return outputs[v.Name] })
	c.Nodes = slices.DeleteFunc(slices.Clone(g.Nodes), func(n *graph.Node) bool { return ours(n.Name) })
	if len(c.Outputs) != len(g.Outputs)-2 {
		return nil, fmt.Errorf("train: the model's decision: outputs %q and %q are not both among the model's", meta[MetadataPrefix+"probability_output"], meta[MetadataPrefix+"decision_output"])
	}
	for _, n := range c.Nodes {
		for _, in := range n.Inputs {
			if ours(in) || outputs[in] {
				return nil, fmt.Errorf("train: the model's decision: %s reads %q, which the decision computes", n, in)
			}
		}
	}
	return &c, nil
}
