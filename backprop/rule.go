package backprop

import (
	"fmt"
	"sort"
	"sync"

	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/internal/arena"
	"github.com/onnxtune/onnxtune/tensor"
)

// Rule is the backward definition of one operator, registered under the operator's type as
// the forward kernel is in package graph.
type Rule struct {
	// VJP computes the gradients of the node's inputs from those of its outputs.
	VJP VJPFunc
	// Inputs and Outputs list the positions of the forward values the VJP reads. The reverse
	// walk keeps exactly these activations alive until the VJP has run; Call.In and Call.Out
	// hold nil at every other position.
	Inputs, Outputs []int
	// AllInputs keeps every input, for variadic operators (Max, Min) whose VJP compares them.
	AllInputs bool
	// NonDiff lists the input positions through which no gradient flows: shapes, indices,
	// axes, bounds, running statistics. An initializer feeding only such inputs is never
	// trainable.
	NonDiff []int
	// NoGrad marks an operator whose outputs carry no gradient at all (Shape, comparisons).
	NoGrad bool
}

// VJPFunc returns one gradient per node input (nil where Call.Need is false or no gradient
// flows). gradOut has one entry per node output: nil where no gradient reaches that output,
// which a VJP must treat as zero.
type VJPFunc func(c *Call, gradOut []*tensor.Tensor) ([]*tensor.Tensor, error)

// Call is what a VJP sees of one forward application of its operator.
type Call struct {
	Node   *graph.Node
	Kernel graph.Kernel // the forward kernel, holding the parsed attributes
	Ctx    *graph.Context
	// In and Out are the forward values at the positions Rule.Inputs and Rule.Outputs name.
	In, Out []*tensor.Tensor
	// InShapes and InTypes describe every input, kept even when the value itself is not. An
	// omitted optional input has a nil shape (and Node.Inputs[j] == ""); a scalar's shape is
	// empty but not nil.
	InShapes [][]int
	InTypes  []tensor.DType
	// Need says which input gradients the walk wants.
	Need []bool

	// arena recycles the buffers of the gradients within a backward pass; nil outside one.
	arena *arena.Arena
}

// floats returns n float32s of unspecified value for a gradient the VJP overwrites entirely,
// recycled within the backward pass where it can.
func (c *Call) floats(n int) []float32 { return c.arena.Floats(n) }

// zeros is floats set to zero, for gradients that are accumulated.
func (c *Call) zeros(n int) []float32 { return c.arena.Zeros(n) }

// zerosOf is zeros for either float type: float32s from zeros, float64s fresh.
func zerosOf[T tensor.Float](c *Call, n int) []T {
	if _, ok := any(T(0)).(float32); ok {
		return any(c.zeros(n)).([]T)
	}
	return make([]T, n)
}

// floatsOf is floats for either float type, for a gradient the kernel overwrites entirely:
// float32s from floats, float64s fresh.
func floatsOf[T tensor.Float](c *Call, n int) []T {
	if _, ok := any(T(0)).(float32); ok {
		return any(c.floats(n)).([]T)
	}
	return make([]T, n)
}

// newFloat32 returns a float32 tensor of the shape with unspecified values, from floats.
func (c *Call) newFloat32(shape []int) *tensor.Tensor {
	return tensor.From(shape, c.floats(tensor.Size(shape)))
}

var (
	rulesMu sync.RWMutex
	rules   = map[string]Rule{}
)

// Register adds the backward rule of an operator of the default domain. Each family's file
// calls it from init(); registering an operator twice panics at start-up.
func Register(opType string, r Rule) {
	rulesMu.Lock()
	defer rulesMu.Unlock()
	if _, dup := rules[opType]; dup {
		panic(fmt.Sprintf("backprop: rule for %s registered twice", opType))
	}
	if r.VJP == nil && !r.NoGrad {
		panic(fmt.Sprintf("backprop: rule for %s has no VJP and is not NoGrad", opType))
	}
	rules[opType] = r
}

// NotDifferentiable registers operators whose outputs carry no gradient.
func NotDifferentiable(opTypes ...string) {
	for _, op := range opTypes {
		Register(op, Rule{NoGrad: true})
	}
}

// Lookup returns the rule of an operator.
func Lookup(opType string) (Rule, bool) {
	rulesMu.RLock()
	defer rulesMu.RUnlock()
	r, ok := rules[opType]
	return r, ok
}

// Undeclared returns the operators registered in package graph that have neither a backward
// rule nor a NotDifferentiable declaration, sorted.
func Undeclared() []string {
	seen := map[string]bool{}
	var out []string
	for _, def := range graph.Registered() {
		if def.Domain != "" || seen[def.Type] {
			continue
		}
		seen[def.Type] = true
		if _, ok := Lookup(def.Type); !ok {
			out = append(out, def.Type)
		}
	}
	sort.Strings(out)
	return out
}

// differentiable reports whether a gradient can flow into input position j of node n.
func differentiable(r Rule, n *graph.Node, j int) bool {
	if r.NoGrad {
		return false
	}
	for _, k := range r.NonDiff {
		if k == j {
			return false
		}
	}
	return true
}
