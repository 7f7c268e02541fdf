package graph

import (
	"fmt"
	"strings"

	"github.com/onnxtune/onnxtune/tensor"
)

// Graph is a model's computation: nodes in the file's order (ONNX requires a topological one),
// the values that enter (Inputs, Initializers) and leave it (Outputs), and the opset of each
// operator domain it imports.
type Graph struct {
	Name    string
	Inputs  []ValueInfo // graph inputs that are not initializers: what a caller feeds
	Outputs []ValueInfo
	// Initializers are the graph's constant tensors by name; InitializerNames keeps the
	// file's order.
	Initializers     map[string]*tensor.Tensor
	InitializerNames []string
	Nodes            []*Node
	// ValueInfo declares the types of intermediate values, as the file's value_info does.
	// Running needs none of it; it is kept so that an exported model declares them too.
	ValueInfo []ValueInfo
	// Opsets maps an operator domain ("" for the default ai.onnx domain) to its version.
	Opsets map[string]int
}

// Opset returns the version of the default ONNX domain the graph was built against.
func (g *Graph) Opset() int { return g.Opsets[""] }

// ValueInfo describes a graph input or output: its element type and shape.
type ValueInfo struct {
	Name  string
	DType tensor.DType
	Shape []Dim // nil when the model does not say
}

// ShapeString gives v's shape as "[batch 3 224 224]" ("[?]" when the model does not say).
func (v ValueInfo) ShapeString() string {
	if v.Shape == nil {
		return "[?]"
	}
	parts := make([]string, len(v.Shape))
	for i, d := range v.Shape {
		parts[i] = d.String()
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// Dim is one dimension of a ValueInfo: a known size, a named symbolic size (Param, e.g.
// "batch"), or neither (unknown).
type Dim struct {
	Size  int // -1 when not fixed
	Param string
}

// String gives "3", "batch" or "?".
func (d Dim) String() string {
	switch {
	case d.Size >= 0:
		return fmt.Sprint(d.Size)
	case d.Param != "":
		return d.Param
	}
	return "?"
}

// Node is one operator application. An empty input or output name marks an optional one that
// is left out.
type Node struct {
	Name    string
	OpType  string
	Domain  string // "" for the default domain ("ai.onnx" is normalised to "")
	Inputs  []string
	Outputs []string
	Attrs   map[string]Attr
}

// String names the node for error messages: `node "/layer1/0/conv1/Conv" (Conv)`.
func (n *Node) String() string {
	name := n.Name
	if name == "" && len(n.Outputs) > 0 {
		name = n.Outputs[0]
	}
	return fmt.Sprintf("node %q (%s)", name, n.qualifiedType())
}

func (n *Node) qualifiedType() string {
	if n.Domain == "" {
		return n.OpType
	}
	return n.Domain + "." + n.OpType
}

// AttrType says which field of an Attr is set.
type AttrType uint8

// The attribute kinds ONNX defines and onnxtune reads.
const (
	AttrUndefined AttrType = iota
	AttrFloat
	AttrInt
	AttrString
	AttrTensor
	AttrGraph
	AttrFloats
	AttrInts
	AttrStrings
)

// Attr is one node attribute; Type says which field holds its value.
type Attr struct {
	Type    AttrType
	Float   float32
	Int     int64
	String  string
	Tensor  *tensor.Tensor
	Graph   *Graph
	Floats  []float32
	Ints    []int64
	Strings []string
}
