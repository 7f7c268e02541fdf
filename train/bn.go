package train

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/tensor"
)

// BNMode says which statistics BatchNormalization nodes normalise with while training (the
// --bn flag). Evaluation and the exported model always use the running statistics.
type BNMode string

// The BatchNorm modes.
const (
	// BNAuto keeps each node as it was exported: nodes exported in training mode
	// (training_mode=1, or the running-statistics outputs before opset 14) use batch
	// statistics and update their running statistics; inference-mode nodes stay frozen.
	BNAuto BNMode = "auto"
	// BNTrain makes every node use batch statistics, as PyTorch's model.train() does.
	BNTrain BNMode = "train"
	// BNFrozen makes every node use its running statistics, which never change, as PyTorch's
	// model.eval() does.
	BNFrozen BNMode = "frozen"
)

// BNModes lists the modes ParseBNMode accepts.
func BNModes() []string { return []string{string(BNAuto), string(BNTrain), string(BNFrozen)} }

// ParseBNMode reads a --bn value; "" is BNAuto.
func ParseBNMode(s string) (BNMode, error) {
	switch m := BNMode(strings.ToLower(strings.TrimSpace(s))); m {
	case "":
		return BNAuto, nil
	case BNAuto, BNTrain, BNFrozen:
		return m, nil
	}
	return "", fmt.Errorf("train: unknown BatchNorm mode %q (want one of %s)", s, strings.Join(BNModes(), ", "))
}

// bnKernel builds n's kernel to read the exporter's choice of mode exactly as the engine
// reads it (training_mode, the extra outputs, is_test, depending on the opset).
func bnKernel(g *graph.Graph, n *graph.Node) (*graph.BatchNormalization, error) {
	opset := g.Opsets[n.Domain]
	def, ok := graph.Lookup(n.Domain, n.OpType, opset)
	if !ok {
		return nil, fmt.Errorf("train: %s: no kernel at opset %d", n, opset)
	}
	k, err := def.Build(n, opset)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	bn, ok := k.(*graph.BatchNormalization)
	if !ok {
		return nil, fmt.Errorf("train: %s: unexpected kernel %T", n, k)
	}
	return bn, nil
}

// isBN reports a BatchNormalization node of the default domain.
func isBN(n *graph.Node) bool { return n.OpType == "BatchNormalization" && n.Domain == "" }

// trainingGraph returns the graph a training step runs under mode, and the Context.Training
// flag to run it with. Context.Training turns every BatchNormalization to batch statistics
// and Dropout to training, so it is set only when no node is to stay frozen; otherwise nodes
// exported in training mode keep batch statistics by their own attributes (under BNAuto) or
// are rewritten to inference (under BNFrozen), and Dropout passes its input on. The graph
// shares g's initializers, so weights updated in place are seen by every plan.
func trainingGraph(g *graph.Graph, mode BNMode) (*graph.Graph, bool, error) {
	switch mode {
	case BNTrain:
		return g, true, nil
	case BNFrozen:
		ig, err := inferenceGraph(g)
		return ig, false, err
	case BNAuto, "":
		for _, n := range g.Nodes {
			if !isBN(n) {
				continue
			}
			k, err := bnKernel(g, n)
			if err != nil {
				return nil, false, err
			}
			if !k.TrainingMode {
				return g, false, nil
			}
		}
		return g, true, nil
	}
	return nil, false, fmt.Errorf("train: unknown BatchNorm mode %q", mode)
}

// inferenceGraph returns a copy of g rewritten for inference, as the exported model has it
// and the evaluation plan runs it: every BatchNormalization exported in training mode becomes
// an inference node (training_mode=0, the running-statistics outputs and their value_info
// removed, is_test=1 before opset 7), and Dropout loses its training_mode input (from opset
// 12), which a training-mode export sets to true and would make every runtime drop
// activations at inference. g itself is not modified; the copy shares its initializers and
// unchanged nodes.
func inferenceGraph(g *graph.Graph) (*graph.Graph, error) {
	used := map[string]bool{}
	for _, o := range g.Outputs {
		used[o.Name] = true
	}
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			used[in] = true
		}
	}
	out := *g
	out.Nodes = make([]*graph.Node, len(g.Nodes))
	removed := map[string]bool{}
	for i, n := range g.Nodes {
		out.Nodes[i] = n
		if n.OpType == "Dropout" && n.Domain == "" && g.Opsets[""] >= 12 && len(n.Inputs) > 2 {
			c := *n
			c.Inputs = n.Inputs[:2:2]
			out.Nodes[i] = &c
			continue
		}
		if !isBN(n) {
			continue
		}
		k, err := bnKernel(g, n)
		if err != nil {
			return nil, err
		}
		if !k.TrainingMode {
			continue
		}
		for _, o := range n.Outputs[1:] {
			if o != "" && used[o] {
				return nil, fmt.Errorf("train: %s: its running statistics output %q is read by the model, so the node cannot be made an inference node", n, o)
			}
			removed[o] = true
		}
		c := *n
		c.Outputs = n.Outputs[:1:1]
		c.Attrs = maps.Clone(n.Attrs)
		switch opset := g.Opsets[n.Domain]; {
		case opset >= 14:
			c.Attrs["training_mode"] = graph.Attr{Type: graph.AttrInt, Int: 0}
		case opset < 7:
			c.Attrs["is_test"] = graph.Attr{Type: graph.AttrInt, Int: 1}
		}
		out.Nodes[i] = &c
	}
	out.ValueInfo = slices.DeleteFunc(slices.Clone(g.ValueInfo), func(v graph.ValueInfo) bool { return removed[v.Name] })
	return &out, nil
}

// bnStats updates running statistics after each step as PyTorch's train mode does. The
// engine reports each node's batch statistics through Context.BatchStats during the forward
// pass; apply then folds them in with PyTorch's momentum p = 1 - m (m the ONNX momentum):
//
//	running_mean = (1-p)*running_mean + p*batch_mean
//	running_var  = (1-p)*running_var  + p*batch_var*count/(count-1)
//
// (the unbiased variance, where normalisation used the biased one). With cumulative set, p
// is 1/k for a node's k-th batch instead, PyTorch's momentum=None: after reset, the running
// statistics are the plain mean over the batches.
type bnStats struct {
	nodes      map[*graph.Node]*bnRunning
	pending    map[*graph.Node]bnBatch
	cumulative bool
}

// bnRunning is one node's running statistics, float32 initializers updated in place.
type bnRunning struct {
	node           *graph.Node
	mean, variance []float32
	meanName       string
	varName        string
	momentum       float64 // PyTorch's: 1 - the ONNX momentum
	batches        int     // batches folded in, PyTorch's num_batches_tracked
}

type bnBatch struct {
	mean, biasedVar []float64
	count           int
}

// newBNStats finds the BatchNormalization nodes of g (the graph the training plan runs) that
// may use batch statistics under training (Context.Training) and checks that their running
// statistics are float32 initializers it can update.
func newBNStats(g *graph.Graph, training bool) (*bnStats, error) {
	s := &bnStats{nodes: map[*graph.Node]*bnRunning{}, pending: map[*graph.Node]bnBatch{}}
	for _, n := range g.Nodes {
		if !isBN(n) || len(n.Inputs) != 5 {
			continue
		}
		k, err := bnKernel(g, n)
		if err != nil {
			return nil, err
		}
		if !k.TrainingMode && !training {
			continue
		}
		r := &bnRunning{node: n, meanName: n.Inputs[3], varName: n.Inputs[4], momentum: 1 - float64(k.Momentum)}
		for _, p := range []struct {
			name string
			dst  *[]float32
		}{{n.Inputs[3], &r.mean}, {n.Inputs[4], &r.variance}} {
			t := g.Initializers[p.name]
			if t == nil {
				return nil, fmt.Errorf("train: %s: running statistic %q is not an initializer, so it cannot be updated", n, p.name)
			}
			if t.DType() != tensor.Float32 {
				return nil, fmt.Errorf("train: %s: running statistic %q is %v; only float32 statistics can be updated", n, p.name, t)
			}
			*p.dst = t.Float32s()
		}
		s.nodes[n] = r
	}
	return s, nil
}

// names returns the initializers the statistics live in.
func (s *bnStats) names() []string {
	var out []string
	for _, r := range s.nodes {
		out = append(out, r.meanName, r.varName)
	}
	return out
}

// hook is the Context.BatchStats function.
func (s *bnStats) hook(n *graph.Node, mean, biasedVar []float64, count int) {
	s.pending[n] = bnBatch{mean: mean, biasedVar: biasedVar, count: count}
}

// reset starts every node's statistics afresh, as PyTorch's reset_running_stats: mean 0,
// variance 1, no batch tracked.
func (s *bnStats) reset() {
	for _, r := range s.nodes {
		clear(r.mean)
		for c := range r.variance {
			r.variance[c] = 1
		}
		r.batches = 0
	}
}

// discard forgets the statistics of a step that did not complete.
func (s *bnStats) discard() { clear(s.pending) }

// apply folds the batch statistics of the last forward pass into the running statistics.
func (s *bnStats) apply() error {
	defer s.discard()
	for n, b := range s.pending {
		r := s.nodes[n]
		if r == nil {
			return fmt.Errorf("train: %s used batch statistics, but its running statistics are not tracked", n)
		}
		if len(b.mean) != len(r.mean) || len(b.biasedVar) != len(r.variance) {
			return fmt.Errorf("train: %s: %d batch statistics for %d running ones", n, len(b.mean), len(r.mean))
		}
		if b.count < 2 {
			// PyTorch refuses too: the unbiased variance of one value is undefined.
			return fmt.Errorf("train: %s: expected more than 1 value per channel when training, got %d (a batch of one example after a global pool?)", n, b.count)
		}
		r.batches++
		p := r.momentum
		if s.cumulative {
			p = 1 / float64(r.batches)
		}
		unbias := float64(b.count) / float64(b.count-1)
		for c := range r.mean {
			r.mean[c] = float32((1-p)*float64(r.mean[c]) + p*b.mean[c])
			r.variance[c] = float32((1-p)*float64(r.variance[c]) + p*b.biasedVar[c]*unbias)
		}
	}
	return nil
}
