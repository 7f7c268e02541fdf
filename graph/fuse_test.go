package graph

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/onnxtune/onnxtune/tensor"
)

// TestFuseConvActivation: Run merges a Conv with the Relu or constant-bound Clip that alone
// reads it, and gives bit for bit what the unfused steps (Forward) give; a Conv read twice, or
// one that is a graph output, stays apart.
func TestFuseConvActivation(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	randn := func(shape ...int) *tensor.Tensor { return fuseRandn(rng, shape...) }
	conv := func(in, w, out string) *Node {
		return &Node{Name: out, OpType: "Conv", Inputs: []string{in, w, "b"}, Outputs: []string{out},
			Attrs: map[string]Attr{"pads": {Type: AttrInts, Ints: []int64{1, 1, 1, 1}}}}
	}
	g := &Graph{
		Opsets: map[string]int{"": 13},
		Inputs: []ValueInfo{{Name: "x", DType: tensor.Float32}},
		Initializers: map[string]*tensor.Tensor{
			"w1": randn(4, 2, 3, 3), "w2": randn(4, 4, 3, 3), "w3": randn(4, 4, 3, 3), "w4": randn(4, 4, 3, 3), "b": randn(4),
			"lo": tensor.Scalar(float32(-0.3)), "hi": tensor.Scalar(float32(0.4)),
		},
		InitializerNames: []string{"w1", "w2", "w3", "w4", "b", "lo", "hi"},
		Nodes: []*Node{
			conv("x", "w1", "c1"), {Name: "r1", OpType: "Relu", Inputs: []string{"c1"}, Outputs: []string{"a1"}}, // fused
			conv("a1", "w2", "c2"), {Name: "k2", OpType: "Clip", Inputs: []string{"c2", "lo", "hi"}, Outputs: []string{"a2"}}, // fused
			conv("a2", "w3", "c3"), {Name: "r3", OpType: "Relu", Inputs: []string{"c3"}, Outputs: []string{"a3"}}, // c3 read twice
			{Name: "add", OpType: "Add", Inputs: []string{"a3", "c3"}, Outputs: []string{"s3"}},
			conv("s3", "w4", "c4"), {Name: "r4", OpType: "Relu", Inputs: []string{"c4"}, Outputs: []string{"a4"}}, // c4 an output
		},
		Outputs: []ValueInfo{{Name: "a4"}, {Name: "c4"}},
	}
	p, err := NewPlan(g)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(p.fused), len(p.steps)-2; got != want {
		t.Errorf("fused plan has %d steps, want %d (two fusions)", got, want)
	}
	fusedMatchesSteps(t, p, map[string]*tensor.Tensor{"x": randn(2, 2, 9, 9)})
}

// TestFuseConstantBounds: a Clip whose bounds come from Constant nodes placed between it and
// its Conv (as PyTorch exports Relu6) is fused like one with initializer bounds.
func TestFuseConstantBounds(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	constant := func(out string, v float32) *Node {
		return &Node{Name: out, OpType: "Constant", Outputs: []string{out},
			Attrs: map[string]Attr{"value": {Type: AttrTensor, Tensor: tensor.Scalar(v)}}}
	}
	g := &Graph{
		Opsets:           map[string]int{"": 13},
		Inputs:           []ValueInfo{{Name: "x", DType: tensor.Float32}},
		Initializers:     map[string]*tensor.Tensor{"w": fuseRandn(rng, 4, 2, 3, 3)},
		InitializerNames: []string{"w"},
		Nodes: []*Node{
			{Name: "conv", OpType: "Conv", Inputs: []string{"x", "w"}, Outputs: []string{"c"}},
			constant("lo", -0.5), constant("hi", 0.75),
			{Name: "clip", OpType: "Clip", Inputs: []string{"c", "lo", "hi"}, Outputs: []string{"y"}},
		},
		Outputs: []ValueInfo{{Name: "y"}},
	}
	p, err := NewPlan(g)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.fused) != 1 {
		t.Fatalf("Run has %d steps, want 1 (the Conv with the Clip fused, the Constants hoisted)", len(p.fused))
	}
	fusedMatchesSteps(t, p, map[string]*tensor.Tensor{"x": fuseRandn(rng, 2, 2, 5, 5)})
}

// TestFuseConcat: convolutions that only a channel Concat reads write straight into its
// output, batch > 1 included, with and without a fused Relu, and Run gives bit for bit what
// the unfused steps give; a Concat with an input that is not such a convolution stays as it
// is, and so does one whose convolution is also a graph output.
func TestFuseConcat(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	randn := func(shape ...int) *tensor.Tensor { return fuseRandn(rng, shape...) }
	conv := func(in, w, out string, k int) *Node {
		p := int64(k / 2)
		return &Node{Name: out, OpType: "Conv", Inputs: []string{in, w}, Outputs: []string{out},
			Attrs: map[string]Attr{"pads": {Type: AttrInts, Ints: []int64{p, p, p, p}}}}
	}
	cat := func(out string, in ...string) *Node {
		return &Node{Name: out, OpType: "Concat", Inputs: in, Outputs: []string{out}, Attrs: map[string]Attr{"axis": {Type: AttrInt, Int: 1}}}
	}
	g := &Graph{
		Opsets: map[string]int{"": 13},
		Inputs: []ValueInfo{{Name: "x", DType: tensor.Float32}},
		Initializers: map[string]*tensor.Tensor{
			"e1": randn(3, 2, 1, 1), "e3": randn(5, 2, 3, 3), "f1": randn(2, 8, 1, 1), "f3": randn(4, 8, 3, 3), "g1": randn(3, 8, 1, 1),
		},
		InitializerNames: []string{"e1", "e3", "f1", "f3", "g1"},
		Nodes: []*Node{
			// A fire module: fused, one branch with a Relu, one without.
			conv("x", "e1", "a", 1), {Name: "ra", OpType: "Relu", Inputs: []string{"a"}, Outputs: []string{"ar"}},
			conv("x", "e3", "b", 3),
			cat("fire", "ar", "b"),
			// One input is not a convolution: not fused.
			conv("fire", "f1", "c", 1), {Name: "neg", OpType: "Neg", Inputs: []string{"fire"}, Outputs: []string{"n"}},
			cat("mixed", "c", "n"),
			// One convolution is also a graph output: not fused.
			conv("fire", "f3", "d", 3), conv("fire", "g1", "e", 1),
			cat("out", "mixed", "d", "e"),
		},
		Outputs: []ValueInfo{{Name: "out"}, {Name: "d"}},
	}
	p, err := NewPlan(g)
	if err != nil {
		t.Fatal(err)
	}
	fused := 0
	for _, st := range p.fused {
		if _, ok := st.kernel.(concatWritten); ok {
			fused++
		}
	}
	if fused != 1 {
		t.Errorf("%d Concats written by their convolutions, want 1", fused)
	}
	for _, batch := range []int{1, 3} {
		fusedMatchesSteps(t, p, map[string]*tensor.Tensor{"x": randn(batch, 2, 7, 6)})
	}
}

// TestFuseResidual: an Add of a Conv's output and an earlier value, and the Relu or Clip that
// alone reads the sum, run inside the Conv (convResidual), bit for bit as the unfused steps:
// a shortcut from the graph's input, two convolutions (the later one takes the Add), an
// operand that broadcasts (the fused step then runs the three kernels one after another),
// and a sum that is a graph output (the Relu after it stays apart). A Conv read twice is
// left alone.
func TestFuseResidual(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	randn := func(shape ...int) *tensor.Tensor { return fuseRandn(rng, shape...) }
	conv := func(in, w, out string, k int) *Node {
		p := int64(k / 2)
		return &Node{Name: out, OpType: "Conv", Inputs: []string{in, w, "b"}, Outputs: []string{out},
			Attrs: map[string]Attr{"pads": {Type: AttrInts, Ints: []int64{p, p, p, p}}}}
	}
	op := func(typ, out string, in ...string) *Node {
		return &Node{Name: out, OpType: typ, Inputs: in, Outputs: []string{out}}
	}
	g := &Graph{
		Opsets: map[string]int{"": 13},
		Inputs: []ValueInfo{{Name: "x", DType: tensor.Float32}},
		Initializers: map[string]*tensor.Tensor{
			"w1": randn(4, 4, 3, 3), "w2": randn(4, 4, 3, 3), "wd": randn(4, 4, 1, 1), "w3": randn(4, 4, 3, 3),
			"w4": randn(4, 4, 3, 3), "w5": randn(4, 4, 3, 3), "b": randn(4), "bc": randn(4, 1, 1),
			"lo": tensor.Scalar(float32(-0.3)), "hi": tensor.Scalar(float32(0.4)),
		},
		InitializerNames: []string{"w1", "w2", "wd", "w3", "w4", "w5", "b", "bc", "lo", "hi"},
		Nodes: []*Node{
			conv("x", "w1", "c1", 3), op("Add", "s1", "c1", "x"), op("Relu", "a1", "s1"), // one step
			conv("a1", "w2", "c2", 3), conv("a1", "wd", "d2", 1), op("Add", "s2", "c2", "d2"), // d2 takes the Add
			conv("s2", "w3", "c3", 3), op("Add", "s3", "bc", "c3"), op("Clip", "a3", "s3", "lo", "hi"), // broadcasts
			conv("a3", "w4", "c4", 3), op("Add", "s4", "c4", "a3"), op("Relu", "a4", "s4"), // s4 an output
			conv("a4", "w5", "c5", 3), op("Add", "s5", "c5", "a4"), op("Neg", "n5", "c5"), // c5 read twice
		},
		Outputs: []ValueInfo{{Name: "a4"}, {Name: "s4"}, {Name: "s5"}, {Name: "n5"}},
	}
	p, err := NewPlan(g)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, st := range p.fused {
		if _, ok := st.kernel.(*convResidual); ok {
			got = append(got, st.node.Name+"->"+slotName(p, st.out[0]))
		}
	}
	if want := []string{"c1->a1", "d2->s2", "c3->a3", "c4->s4"}; !slices.Equal(got, want) {
		t.Errorf("fused convolutions (node->output) %v, want %v", got, want)
	}
	for _, batch := range []int{1, 3} {
		fusedMatchesSteps(t, p, map[string]*tensor.Tensor{"x": randn(batch, 4, 7, 6)})
	}
}

// slotName returns the name of the value in slot s.
func slotName(p *Plan, s int) string {
	for name, i := range p.slots {
		if i == s {
			return name
		}
	}
	return ""
}

// fuseRandn returns a tensor of the given shape with standard normal values from rng.
func fuseRandn(rng *rand.Rand, shape ...int) *tensor.Tensor {
	v := make([]float32, tensor.Size(shape))
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return tensor.From(shape, v)
}

// fusedMatchesSteps runs p with its fused steps (Run) and with its plain ones (Forward) on in
// and requires the same shapes and bits for every graph output.
func fusedMatchesSteps(t *testing.T, p *Plan, in map[string]*tensor.Tensor) {
	t.Helper()
	got, err := p.Run(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	var unfusedFLOPs int64 // counted step by step on the unfused run
	vals, err := p.Forward(nil, in, nil, func(i int, vals []*tensor.Tensor) { unfusedFLOPs += stepFLOPs(&p.steps[i], vals) })
	if err != nil {
		t.Fatal(err)
	}
	if _, flops, err := p.CountFLOPs(nil, in); err != nil || flops != unfusedFLOPs {
		t.Errorf("CountFLOPs on the fused steps: %d (%v), the unfused steps' NodeFLOPs: %d", flops, err, unfusedFLOPs)
	}
	for i, o := range p.Graph.Outputs {
		want := vals[p.outputs[i]]
		if !slices.Equal(got[o.Name].Shape(), want.Shape()) {
			t.Fatalf("output %q: shape %v fused, %v unfused", o.Name, got[o.Name].Shape(), want.Shape())
		}
		for j, v := range got[o.Name].Float32s() {
			if v != want.Float32s()[j] {
				t.Fatalf("output %q element %d: fused %g, unfused %g", o.Name, j, v, want.Float32s()[j])
			}
		}
	}
}
