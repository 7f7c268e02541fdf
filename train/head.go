package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/tensor"
)

// HeadInfo describes the classifier ReplaceHead replaced.
type HeadInfo struct {
	// Node names the classifier node (its first output when it has no name) and OpType is
	// "Gemm" or "MatMul".
	Node, OpType string
	// BiasNode names the Add that holds a MatMul classifier's bias; "" for a Gemm or a MatMul
	// without bias.
	BiasNode string
	// Weight and Bias name the fresh initializers; Bias is "" when the layer has none. They
	// keep the old initializers' names unless another node shared them (see ReplaceHead).
	Weight, Bias string
	// InFeatures is the layer's fan-in; OldClasses and Classes its width before and after.
	InFeatures, OldClasses, Classes int
	// Output is the graph output the classifier feeds (the model's first output).
	Output string
}

// headStream is the second word of the PCG seed ReplaceHead draws from, so that a head's
// values do not share a stream with another use of the same --seed.
const headStream = 0x68656164 // "head"

// passThrough lists the operators ReplaceHead walks back through from the first output to
// the classifier: they keep the class dimension, and their first input carries it.
var passThrough = map[string]bool{
	"Identity": true, "Dropout": true, "Softmax": true, "LogSoftmax": true, "Sigmoid": true,
	"Flatten": true, "Reshape": true, "Squeeze": true, "Unsqueeze": true, "Cast": true,
}

// ReplaceHead gives the model a fresh k-way classifier, as assigning a new torch.nn.Linear to
// model.fc does before fine-tuning. The classifier is the last Gemm, or MatMul (optionally
// followed by an Add of the bias), on the path to the model's first output: ReplaceHead walks
// back from that output through Identity, Dropout, Softmax, LogSoftmax, Sigmoid, Flatten,
// Reshape, Squeeze, Unsqueeze and Cast, and stops at the first node of another kind.
//
// The weight (with Gemm's transB respected: PyTorch exports Linear as Gemm with transB=1 and
// weight [out, in]; a MatMul reads [in, out], or Transpose([out, in])) and the bias are
// replaced by tensors of k classes drawn as nn.Linear's reset_parameters draws them: weights
// and biases uniform in [-1/sqrt(in), 1/sqrt(in)) (kaiming_uniform with a = sqrt(5)), in
// the initializers' dtype. The draws come from Go's PCG seeded by seed, so they are
// repeatable but cannot equal torch's generator. A weight or bias initializer that other
// nodes also read (PyTorch's exporter merges equal-valued tensors) is left to them, and the
// classifier gets a new initializer named after it.
//
// The class dimension of the first output, and of every value_info along the path, becomes
// k (the last dimension equal to the old class count); symbolic dimensions such as the batch
// are kept. Every other initializer, node and attribute is left untouched, so a model
// exported from g (ExportModel, onnx.Export) differs from the input only in its head. g is
// unchanged when ReplaceHead fails.
func ReplaceHead(g *graph.Graph, k int, seed uint64) (*HeadInfo, error) {
	if k < 1 {
		return nil, fmt.Errorf("train: new head: %d classes; want at least 1", k)
	}
	if g == nil {
		return nil, fmt.Errorf("train: new head: no model")
	}
	h, err := findHead(g)
	if err != nil {
		return nil, err
	}
	if err := h.replace(k, seed); err != nil {
		return nil, err
	}
	return &h.info, nil
}

// head is the classifier findHead found, with what replace needs to rewrite it.
type head struct {
	g          *graph.Graph
	info       HeadInfo
	weight     *tensor.Tensor
	bias       *tensor.Tensor
	transposed bool // the weight is stored [out, in], as torch holds it
	// weightUser and biasUser are the node and input index that read each initializer.
	weightUser, biasUser *graph.Node
	weightSlot, biasSlot int
	path                 []string      // values from the classifier's output to the graph output
	reshapes             []*graph.Node // Reshape nodes on the path, whose target shape must not fix the class count
	walked               []string      // the op types walked through from the output
	producer             map[string]*graph.Node
}

func findHead(g *graph.Graph) (*head, error) {
	if len(g.Outputs) == 0 {
		return nil, fmt.Errorf("train: new head: the model has no outputs")
	}
	h := &head{g: g, producer: map[string]*graph.Node{}}
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			if o != "" {
				h.producer[o] = n
			}
		}
	}
	out := g.Outputs[0].Name
	h.info.Output = out
	name := out
	for range len(g.Nodes) + 1 {
		h.path = append(h.path, name)
		n := h.producer[name]
		if n == nil {
			what := "a graph input"
			if g.Initializers[name] != nil {
				what = "an initializer"
			}
			return nil, fmt.Errorf("train: new head: no classifier found: output %q leads back to %q, %s, without passing a Gemm or MatMul", out, name, what)
		}
		if n.Domain != "" {
			return nil, h.notFound(out, n)
		}
		switch op := n.OpType; {
		case op == "Gemm":
			return h, h.gemm(n)
		case op == "MatMul":
			return h, h.matMul(n, nil)
		case op == "Add":
			return h, h.add(out, n)
		case passThrough[op] && len(n.Inputs) > 0:
			if op == "Reshape" {
				h.reshapes = append(h.reshapes, n)
			}
			h.walked = append(h.walked, op)
			name = n.Inputs[0]
		default:
			return nil, h.notFound(out, n)
		}
	}
	return nil, fmt.Errorf("train: new head: the graph has a cycle before output %q", out)
}

func (h *head) notFound(out string, n *graph.Node) error {
	via := ""
	if len(h.walked) > 0 {
		via = " through " + strings.Join(h.walked, ", ")
	}
	return fmt.Errorf("train: new head: no classifier found: output %q comes%s from %s; want a Gemm, or a MatMul with an optional Add, reached through %s only",
		out, via, n, strings.Join(passThroughNames(), ", "))
}

func passThroughNames() []string {
	names := make([]string, 0, len(passThrough))
	for op := range passThrough {
		names = append(names, op)
	}
	slices.Sort(names)
	return names
}

// gemm reads a Gemm classifier: Y = X * op(B) + C with op(B) = B^T under transB.
func (h *head) gemm(n *graph.Node) error {
	h.info.Node, h.info.OpType = nodeName(n), "Gemm"
	if len(n.Inputs) < 2 {
		return fmt.Errorf("train: new head: %s has %d inputs, want at least 2", n, len(n.Inputs))
	}
	a := n.AttrReader()
	transB := a.Int("transB", 0) != 0
	if err := a.Err(); err != nil {
		return fmt.Errorf("train: new head: %w", err)
	}
	if err := h.setWeight(n, 1, transB); err != nil {
		return err
	}
	if len(n.Inputs) > 2 && n.Inputs[2] != "" {
		return h.setBias(n, 2)
	}
	return nil
}

// matMul reads a MatMul classifier X * W, W [in, out] or Transpose(W [out, in]); add is the
// Add that adds its bias, if any.
func (h *head) matMul(n, add *graph.Node) error {
	h.info.Node, h.info.OpType = nodeName(n), "MatMul"
	if len(n.Inputs) != 2 {
		return fmt.Errorf("train: new head: %s has %d inputs, want 2", n, len(n.Inputs))
	}
	w := n.Inputs[1]
	if t := h.producer[w]; t != nil && t.OpType == "Transpose" && len(t.Inputs) == 1 && h.g.Initializers[t.Inputs[0]] != nil {
		// The exporter without constant folding writes Linear as MatMul(X, Transpose(weight)).
		if perm := t.AttrReader().Ints("perm", nil); perm != nil && !slices.Equal(perm, []int64{1, 0}) {
			return fmt.Errorf("train: new head: the weight of %s is transposed by %s with perm %v, want [1 0]", n, t, perm)
		}
		if err := h.setWeight(t, 0, true); err != nil {
			return err
		}
	} else if err := h.setWeight(n, 1, false); err != nil {
		return err
	}
	if add != nil {
		h.info.BiasNode = nodeName(add)
		slot := 0
		if add.Inputs[0] == n.Outputs[0] {
			slot = 1
		}
		return h.setBias(add, slot)
	}
	return nil
}

// add reads an Add on the path: the bias of a MatMul classifier when its other input is a
// MatMul's output and this one an initializer.
func (h *head) add(out string, n *graph.Node) error {
	if len(n.Inputs) == 2 {
		for i, x := range n.Inputs {
			mm := h.producer[x]
			if mm != nil && mm.OpType == "MatMul" && mm.Domain == "" && h.g.Initializers[n.Inputs[1-i]] != nil {
				h.path = append(h.path, x)
				return h.matMul(mm, n)
			}
		}
	}
	return h.notFound(out, n)
}

func nodeName(n *graph.Node) string {
	if n.Name != "" || len(n.Outputs) == 0 {
		return n.Name
	}
	return n.Outputs[0]
}

// setWeight records input slot of node n as the weight, a 2-D float initializer stored
// [out, in] when transposed and [in, out] otherwise.
func (h *head) setWeight(n *graph.Node, slot int, transposed bool) error {
	name := n.Inputs[slot]
	t := h.g.Initializers[name]
	if t == nil {
		return fmt.Errorf("train: new head: the weight %q of %s is computed, not an initializer", name, n)
	}
	if t.Rank() != 2 {
		return fmt.Errorf("train: new head: the weight %q of %s has shape %v, want 2 dimensions", name, n, t.Shape())
	}
	if !t.DType().IsFloat() {
		return fmt.Errorf("train: new head: the weight %q of %s is %v, not floating-point", name, n, t.DType())
	}
	h.weight, h.weightUser, h.weightSlot, h.transposed = t, n, slot, transposed
	d := t.Shape()
	h.info.Weight = name
	if transposed {
		h.info.OldClasses, h.info.InFeatures = d[0], d[1]
	} else {
		h.info.InFeatures, h.info.OldClasses = d[0], d[1]
	}
	return nil
}

// setBias records input slot of node n as the bias: a float initializer with one value per
// class.
func (h *head) setBias(n *graph.Node, slot int) error {
	name := n.Inputs[slot]
	t := h.g.Initializers[name]
	if t == nil {
		return fmt.Errorf("train: new head: the bias %q of %s is computed, not an initializer", name, n)
	}
	if classDim(t.Shape(), h.info.OldClasses) < 0 || t.Len() != h.info.OldClasses {
		return fmt.Errorf("train: new head: the bias %q of %s has shape %v, not one value per class (%d)", name, n, t.Shape(), h.info.OldClasses)
	}
	if !t.DType().IsFloat() {
		return fmt.Errorf("train: new head: the bias %q of %s is %v, not floating-point", name, n, t.DType())
	}
	h.bias, h.biasUser, h.biasSlot = t, n, slot
	h.info.Bias = name
	return nil
}

// classDim returns the index of the last dimension equal to classes, -1 if none.
func classDim(dims []int, classes int) int {
	for i := len(dims) - 1; i >= 0; i-- {
		if dims[i] == classes {
			return i
		}
	}
	return -1
}

// replace writes the fresh k-way weight and bias and updates the declared shapes.
func (h *head) replace(k int, seed uint64) error {
	if err := h.checkReshapes(); err != nil {
		return err
	}
	old, in := h.info.OldClasses, h.info.InFeatures
	if in < 1 {
		return fmt.Errorf("train: new head: the weight %q has no input features (shape %v)", h.info.Weight, h.weight.Shape())
	}
	h.info.Classes = k
	// nn.Linear.reset_parameters: kaiming_uniform_(weight, a=sqrt(5)) has bound
	// gain*sqrt(3/fan_in) with gain = sqrt(2/(1+5)), i.e. 1/sqrt(fan_in); the bias uses the same
	// bound. Weights are drawn row by row of torch's [out, in] layout, then the bias.
	bound := 1 / math.Sqrt(float64(in))
	rng := rand.New(rand.NewPCG(seed, headStream))
	uniform := func() float64 { return -bound + 2*bound*rng.Float64() }
	w := make([]float64, k*in)
	for r := range k {
		for c := range in {
			if h.transposed {
				w[r*in+c] = uniform()
			} else {
				w[c*k+r] = uniform()
			}
		}
	}
	wShape := []int{in, k}
	if h.transposed {
		wShape = []int{k, in}
	}
	names := h.g.Namer()
	h.info.Weight = h.write(names, h.weightUser, h.weightSlot, tensor.FromFloat64s(h.weight.DType(), wShape, w))
	if h.bias != nil {
		b := make([]float64, k)
		for i := range b {
			b[i] = uniform()
		}
		shape := slices.Clone(h.bias.Shape())
		shape[classDim(shape, old)] = k
		h.info.Bias = h.write(names, h.biasUser, h.biasSlot, tensor.FromFloat64s(h.bias.DType(), shape, b))
	}
	onPath := map[string]bool{}
	for _, v := range h.path {
		onPath[v] = true
	}
	for _, vs := range [][]graph.ValueInfo{h.g.Outputs, h.g.ValueInfo} {
		for i, v := range vs {
			if onPath[v.Name] {
				vs[i].Shape = withClassDim(v.Shape, old, k)
			}
		}
	}
	return nil
}

// checkReshapes fails if a Reshape between the classifier and the output reshapes to a
// constant shape that spells out the old class count: it would not fit k classes.
func (h *head) checkReshapes() error {
	for _, n := range h.reshapes {
		if len(n.Inputs) < 2 {
			continue
		}
		src := n.Inputs[1]
		shape := h.g.Initializers[src]
		if c := h.producer[src]; shape == nil && c != nil && c.OpType == "Constant" {
			if a, ok := c.AttrReader().Attr("value"); ok {
				shape = a.Tensor
			}
		}
		if shape == nil {
			continue
		}
		if slices.Contains(shape.ToInt64s(), int64(h.info.OldClasses)) {
			return fmt.Errorf("train: new head: %s after the classifier reshapes to the fixed shape %v, which spells out the %d classes", n, shape.ToInt64s(), h.info.OldClasses)
		}
	}
	return nil
}

// write stores v in place of the initializer that input slot of user reads, and returns the
// initializer's name. An initializer that other nodes read too is left to them: v goes to a
// new initializer named after it, and only user is rewired.
func (h *head) write(names *graph.Namer, user *graph.Node, slot int, v *tensor.Tensor) string {
	name := user.Inputs[slot]
	if readers(h.g, name) > 1 {
		name = names.Fresh(name + "_head")
		h.g.Initializers[name] = v
		h.g.InitializerNames = append(h.g.InitializerNames, name)
		user.Inputs = slices.Clone(user.Inputs)
		user.Inputs[slot] = name
		return name
	}
	h.g.Initializers[name] = v
	return name
}

// readers counts the node inputs and graph outputs of g that read value name.
func readers(g *graph.Graph, name string) int {
	n := 0
	for _, node := range g.Nodes {
		for _, in := range node.Inputs {
			if in == name {
				n++
			}
		}
	}
	for _, o := range g.Outputs {
		if o.Name == name {
			n++
		}
	}
	return n
}

// withClassDim returns shape with its last dimension equal to old changed to k.
func withClassDim(shape []graph.Dim, old, k int) []graph.Dim {
	for i := len(shape) - 1; i >= 0; i-- {
		if shape[i].Size == old {
			shape = slices.Clone(shape)
			shape[i].Size = k
			return shape
		}
	}
	return shape
}
