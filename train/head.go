package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/onnxtune/onnxtune/onnx"
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
// are kept. Every other initializer, node and attribute is left untouched, so a saved model
// differs from the input only in its head. Re-import the model (onnx.Import) afterwards.
func ReplaceHead(m *onnx.Model, k int, seed uint64) (*HeadInfo, error) {
	if k < 1 {
		return nil, fmt.Errorf("train: new head: %d classes; want at least 1", k)
	}
	if m == nil || m.Proto.GetGraph() == nil {
		return nil, fmt.Errorf("train: new head: no model")
	}
	h, err := findHead(m.Proto.GetGraph())
	if err != nil {
		return nil, err
	}
	if err := h.replace(m, k, seed); err != nil {
		return nil, err
	}
	return &h.info, nil
}

// head is the classifier findHead found, with what replace needs to rewrite it.
type head struct {
	g          *onnx.GraphProto
	info       HeadInfo
	weight     *onnx.TensorProto
	bias       *onnx.TensorProto
	transposed bool // the weight is stored [out, in], as torch holds it
	// weightUser and biasUser are the node and input index that read each initializer.
	weightUser, biasUser *onnx.NodeProto
	weightSlot, biasSlot int
	path                 []string          // values from the classifier's output to the graph output
	reshapes             []*onnx.NodeProto // Reshape nodes on the path, whose target shape must not fix the class count
	walked               []string          // the op types walked through from the output
	producer             map[string]*onnx.NodeProto
	inits                map[string]*onnx.TensorProto
}

func findHead(g *onnx.GraphProto) (*head, error) {
	if len(g.GetOutput()) == 0 {
		return nil, fmt.Errorf("train: new head: the model has no outputs")
	}
	h := &head{g: g, producer: map[string]*onnx.NodeProto{}, inits: map[string]*onnx.TensorProto{}}
	for _, n := range g.GetNode() {
		for _, o := range n.GetOutput() {
			if o != "" {
				h.producer[o] = n
			}
		}
	}
	for _, t := range g.GetInitializer() {
		h.inits[t.GetName()] = t
	}
	out := g.GetOutput()[0].GetName()
	h.info.Output = out
	name := out
	for range len(g.GetNode()) + 1 {
		h.path = append(h.path, name)
		n := h.producer[name]
		if n == nil {
			what := "a graph input"
			if h.inits[name] != nil {
				what = "an initializer"
			}
			return nil, fmt.Errorf("train: new head: no classifier found: output %q leads back to %q, %s, without passing a Gemm or MatMul", out, name, what)
		}
		if d := n.GetDomain(); d != "" && d != "ai.onnx" {
			return nil, h.notFound(out, n)
		}
		switch op := n.GetOpType(); {
		case op == "Gemm":
			return h, h.gemm(n)
		case op == "MatMul":
			return h, h.matMul(n, nil)
		case op == "Add":
			return h, h.add(out, n)
		case passThrough[op] && len(n.GetInput()) > 0:
			if op == "Reshape" {
				h.reshapes = append(h.reshapes, n)
			}
			h.walked = append(h.walked, op)
			name = n.GetInput()[0]
		default:
			return nil, h.notFound(out, n)
		}
	}
	return nil, fmt.Errorf("train: new head: the graph has a cycle before output %q", out)
}

func (h *head) notFound(out string, n *onnx.NodeProto) error {
	via := ""
	if len(h.walked) > 0 {
		via = " through " + strings.Join(h.walked, ", ")
	}
	return fmt.Errorf("train: new head: no classifier found: output %q comes%s from %s; want a Gemm, or a MatMul with an optional Add, reached through %s only",
		out, via, nodeString(n), strings.Join(passThroughNames(), ", "))
}

func passThroughNames() []string {
	names := make([]string, 0, len(passThrough))
	for op := range passThrough {
		names = append(names, op)
	}
	slices.Sort(names)
	return names
}

// nodeString names a node as graph.Node does: `node "/fc/Gemm" (Gemm)`.
func nodeString(n *onnx.NodeProto) string {
	name := n.GetName()
	if name == "" && len(n.GetOutput()) > 0 {
		name = n.GetOutput()[0]
	}
	return fmt.Sprintf("node %q (%s)", name, n.GetOpType())
}

// gemm reads a Gemm classifier: Y = X * op(B) + C with op(B) = B^T under transB.
func (h *head) gemm(n *onnx.NodeProto) error {
	h.info.Node, h.info.OpType = nodeName(n), "Gemm"
	in := n.GetInput()
	if len(in) < 2 {
		return fmt.Errorf("train: new head: %s has %d inputs, want at least 2", nodeString(n), len(in))
	}
	transB := false
	for _, a := range n.GetAttribute() {
		if a.GetName() == "transB" {
			transB = a.GetI() != 0
		}
	}
	if err := h.setWeight(n, 1, transB); err != nil {
		return err
	}
	if len(in) > 2 && in[2] != "" {
		return h.setBias(n, 2)
	}
	return nil
}

// matMul reads a MatMul classifier X * W, W [in, out] or Transpose(W [out, in]); add is the
// Add that adds its bias, if any.
func (h *head) matMul(n, add *onnx.NodeProto) error {
	h.info.Node, h.info.OpType = nodeName(n), "MatMul"
	if len(n.GetInput()) != 2 {
		return fmt.Errorf("train: new head: %s has %d inputs, want 2", nodeString(n), len(n.GetInput()))
	}
	w := n.GetInput()[1]
	if t := h.producer[w]; t != nil && t.GetOpType() == "Transpose" && len(t.GetInput()) == 1 && h.inits[t.GetInput()[0]] != nil {
		// The exporter without constant folding writes Linear as MatMul(X, Transpose(weight)).
		for _, a := range t.GetAttribute() {
			if a.GetName() == "perm" && !slices.Equal(a.GetInts(), []int64{1, 0}) {
				return fmt.Errorf("train: new head: the weight of %s is transposed by %s with perm %v, want [1 0]", nodeString(n), nodeString(t), a.GetInts())
			}
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
		if add.GetInput()[0] == n.GetOutput()[0] {
			slot = 1
		}
		return h.setBias(add, slot)
	}
	return nil
}

// add reads an Add on the path: the bias of a MatMul classifier when its other input is a
// MatMul's output and this one an initializer.
func (h *head) add(out string, n *onnx.NodeProto) error {
	in := n.GetInput()
	if len(in) == 2 {
		for i, x := range in {
			mm := h.producer[x]
			if mm != nil && mm.GetOpType() == "MatMul" && h.inits[in[1-i]] != nil {
				h.path = append(h.path, x)
				return h.matMul(mm, n)
			}
		}
	}
	return h.notFound(out, n)
}

func nodeName(n *onnx.NodeProto) string {
	if n.GetName() != "" || len(n.GetOutput()) == 0 {
		return n.GetName()
	}
	return n.GetOutput()[0]
}

// setWeight records input slot of node n as the weight, a 2-D float initializer stored
// [out, in] when transposed and [in, out] otherwise.
func (h *head) setWeight(n *onnx.NodeProto, slot int, transposed bool) error {
	name := n.GetInput()[slot]
	t := h.inits[name]
	if t == nil {
		return fmt.Errorf("train: new head: the weight %q of %s is computed, not an initializer", name, nodeString(n))
	}
	if len(t.GetDims()) != 2 {
		return fmt.Errorf("train: new head: the weight %q of %s has shape %v, want 2 dimensions", name, nodeString(n), t.GetDims())
	}
	if dt, err := onnx.DType(t.GetDataType()); err != nil || !dt.IsFloat() {
		return fmt.Errorf("train: new head: the weight %q of %s is %v, not floating-point", name, nodeString(n), onnx.TensorProto_DataType(t.GetDataType()))
	}
	h.weight, h.weightUser, h.weightSlot, h.transposed = t, n, slot, transposed
	d := t.GetDims()
	h.info.Weight = name
	if transposed {
		h.info.OldClasses, h.info.InFeatures = int(d[0]), int(d[1])
	} else {
		h.info.InFeatures, h.info.OldClasses = int(d[0]), int(d[1])
	}
	return nil
}

// setBias records input slot of node n as the bias: a float initializer with one value per
// class.
func (h *head) setBias(n *onnx.NodeProto, slot int) error {
	name := n.GetInput()[slot]
	t := h.inits[name]
	if t == nil {
		return fmt.Errorf("train: new head: the bias %q of %s is computed, not an initializer", name, nodeString(n))
	}
	if classDim(t.GetDims(), h.info.OldClasses) < 0 || elemCountOf(t.GetDims()) != int64(h.info.OldClasses) {
		return fmt.Errorf("train: new head: the bias %q of %s has shape %v, not one value per class (%d)", name, nodeString(n), t.GetDims(), h.info.OldClasses)
	}
	if dt, err := onnx.DType(t.GetDataType()); err != nil || !dt.IsFloat() {
		return fmt.Errorf("train: new head: the bias %q of %s is %v, not floating-point", name, nodeString(n), onnx.TensorProto_DataType(t.GetDataType()))
	}
	h.bias, h.biasUser, h.biasSlot = t, n, slot
	h.info.Bias = name
	return nil
}

// classDim returns the index of the last dimension equal to classes, -1 if none.
func classDim(dims []int64, classes int) int {
	for i := len(dims) - 1; i >= 0; i-- {
		if dims[i] == int64(classes) {
			return i
		}
	}
	return -1
}

func elemCountOf(dims []int64) int64 {
	n := int64(1)
	for _, d := range dims {
		n *= d
	}
	return n
}

// replace writes the fresh k-way weight and bias and updates the declared shapes.
func (h *head) replace(m *onnx.Model, k int, seed uint64) error {
	if err := h.checkReshapes(m); err != nil {
		return err
	}
	old, in := h.info.OldClasses, h.info.InFeatures
	if in < 1 {
		return fmt.Errorf("train: new head: the weight %q has no input features (shape %v)", h.info.Weight, h.weight.GetDims())
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
	wDims := []int64{int64(in), int64(k)}
	if h.transposed {
		wDims = []int64{int64(k), int64(in)}
	}
	name, err := h.write(m, h.weight, h.weightUser, h.weightSlot, wDims, w)
	if err != nil {
		return err
	}
	h.info.Weight = name
	if h.bias != nil {
		b := make([]float64, k)
		for i := range b {
			b[i] = uniform()
		}
		dims := slices.Clone(h.bias.GetDims())
		dims[classDim(dims, old)] = int64(k)
		if h.info.Bias, err = h.write(m, h.bias, h.biasUser, h.biasSlot, dims, b); err != nil {
			return err
		}
	}
	onPath := map[string]bool{}
	for _, v := range h.path {
		onPath[v] = true
	}
	for _, vi := range slices.Concat(h.g.GetOutput(), h.g.GetValueInfo()) {
		if onPath[vi.GetName()] {
			setClassDim(vi, old, k)
		}
	}
	return nil
}

// checkReshapes fails if a Reshape between the classifier and the output reshapes to a
// constant shape that spells out the old class count: it would not fit k classes.
func (h *head) checkReshapes(m *onnx.Model) error {
	for _, n := range h.reshapes {
		if len(n.GetInput()) < 2 {
			continue
		}
		var shape *tensor.Tensor
		src := n.GetInput()[1]
		if t := h.inits[src]; t != nil {
			shape, _ = m.Tensor(t)
		} else if c := h.producer[src]; c != nil && c.GetOpType() == "Constant" {
			for _, a := range c.GetAttribute() {
				if a.GetName() == "value" && a.GetT() != nil {
					shape, _ = onnx.TensorFromProto(a.GetT())
				}
			}
		}
		if shape == nil {
			continue
		}
		if slices.Contains(shape.ToInt64s(), int64(h.info.OldClasses)) {
			return fmt.Errorf("train: new head: %s after the classifier reshapes to the fixed shape %v, which spells out the %d classes", nodeString(n), shape.ToInt64s(), h.info.OldClasses)
		}
	}
	return nil
}

// write stores values with dims in place of initializer t, read by input slot of user, and
// returns the initializer's name. An initializer that other nodes read too is left to them:
// the values go to a new initializer named after it, and only user is rewired.
func (h *head) write(m *onnx.Model, t *onnx.TensorProto, user *onnx.NodeProto, slot int, dims []int64, values []float64) (string, error) {
	dt, err := onnx.DType(t.GetDataType())
	if err != nil {
		return "", fmt.Errorf("train: new head: %w", err)
	}
	shape := make([]int, len(dims))
	for i, d := range dims {
		shape[i] = int(d)
	}
	v := tensor.FromFloat64s(dt, shape, values)
	name := t.GetName()
	if h.readers(name) > 1 {
		name = h.freshName(name + "_head")
		nt := onnx.TensorToProto(name, v)
		h.g.Initializer = append(h.g.Initializer, nt)
		h.inits[name] = nt
		user.Input[slot] = name
		// Models of IR version 3 and earlier list every initializer among the graph inputs.
		for _, in := range h.g.GetInput() {
			if in.GetName() == t.GetName() {
				nin := &onnx.ValueInfoProto{Name: &name, Type: typeOf(dt, dims)}
				h.g.Input = append(h.g.Input, nin)
				break
			}
		}
		return name, nil
	}
	if t.GetDataLocation() == onnx.TensorProto_EXTERNAL && !slices.Equal(t.GetDims(), dims) {
		// A tensor of another size cannot take the old one's place in the external file: it
		// moves inline, and the file keeps the other tensors' layout.
		nt := onnx.TensorToProto(name, v)
		nt.DocString = t.DocString
		for i, x := range h.g.Initializer {
			if x == t {
				h.g.Initializer[i] = nt
			}
		}
		h.inits[name] = nt
	} else {
		t.Dims = dims
		if err := m.SetTensor(t, v); err != nil {
			return "", fmt.Errorf("train: new head: %w", err)
		}
	}
	for _, in := range h.g.GetInput() {
		if in.GetName() == name {
			in.Type = typeOf(dt, dims)
		}
	}
	return name, nil
}

// readers counts the node inputs and graph outputs that read value name.
func (h *head) readers(name string) int {
	n := 0
	for _, node := range h.g.GetNode() {
		for _, in := range node.GetInput() {
			if in == name {
				n++
			}
		}
	}
	for _, o := range h.g.GetOutput() {
		if o.GetName() == name {
			n++
		}
	}
	return n
}

// freshName returns base, or base with a numeric suffix, naming no value of the graph.
func (h *head) freshName(base string) string {
	used := func(s string) bool {
		if h.inits[s] != nil || h.producer[s] != nil {
			return true
		}
		for _, in := range h.g.GetInput() {
			if in.GetName() == s {
				return true
			}
		}
		return false
	}
	name := base
	for i := 1; used(name); i++ {
		name = fmt.Sprintf("%s_%d", base, i)
	}
	return name
}

func typeOf(dt tensor.DType, dims []int64) *onnx.TypeProto {
	elem := int32(onnx.ElemType(dt))
	shape := &onnx.TensorShapeProto{}
	for _, d := range dims {
		shape.Dim = append(shape.Dim, &onnx.TensorShapeProto_Dimension{Value: &onnx.TensorShapeProto_Dimension_DimValue{DimValue: d}})
	}
	return &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{TensorType: &onnx.TypeProto_Tensor{ElemType: &elem, Shape: shape}}}
}

// setClassDim changes the last dimension of vi's declared shape that equals old to k.
func setClassDim(vi *onnx.ValueInfoProto, old, k int) {
	dims := vi.GetType().GetTensorType().GetShape().GetDim()
	for i := len(dims) - 1; i >= 0; i-- {
		if v, ok := dims[i].GetValue().(*onnx.TensorShapeProto_Dimension_DimValue); ok && v.DimValue == int64(old) {
			v.DimValue = int64(k)
			return
		}
	}
}
