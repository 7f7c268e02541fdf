package graph

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/onnxtune/onnxtune/tensor"
)

// TestFreezeWeights: a frozen plan prepares the filters of its convolutions once (1×1 of
// stride 1 in groups, 1×1 of stride 2, which the direct convolution reads), a Conv and its
// fused copy sharing them, leaves the depthwise ones alone, and gives bit for bit what the
// unfrozen plan gives, in Run and in ForwardLeased.
func TestFreezeWeights(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	randn := func(shape ...int) *tensor.Tensor { return fuseRandn(rng, shape...) }
	conv := func(in, w, out string, attrs map[string]Attr) *Node {
		return &Node{Name: out, OpType: "Conv", Inputs: []string{in, w}, Outputs: []string{out}, Attrs: attrs}
	}
	g := &Graph{
		Opsets: map[string]int{"": 13},
		Inputs: []ValueInfo{{Name: "x", DType: tensor.Float32}},
		Initializers: map[string]*tensor.Tensor{
			"w1": randn(48, 16, 1, 1), "w2": randn(48, 24, 1, 1), "w3": randn(48, 1, 3, 3), "w4": randn(8, 48, 1, 1),
			"lo": tensor.Scalar(float32(0)), "hi": tensor.Scalar(float32(6)),
		},
		InitializerNames: []string{"w1", "w2", "w3", "w4", "lo", "hi"},
		Nodes: []*Node{
			conv("x", "w1", "c1", nil), {Name: "k1", OpType: "Clip", Inputs: []string{"c1", "lo", "hi"}, Outputs: []string{"a1"}},
			conv("a1", "w2", "c2", map[string]Attr{"group": {Type: AttrInt, Int: 2}}),
			{Name: "add", OpType: "Add", Inputs: []string{"c2", "a1"}, Outputs: []string{"s"}},
			conv("s", "w3", "c3", map[string]Attr{"group": {Type: AttrInt, Int: 48}, "pads": {Type: AttrInts, Ints: []int64{1, 1, 1, 1}}}),
			conv("c3", "w4", "c4", map[string]Attr{"strides": {Type: AttrInts, Ints: []int64{2, 2}}}),
		},
		Outputs: []ValueInfo{{Name: "c4"}},
	}
	plain, err := NewPlan(g)
	if err != nil {
		t.Fatal(err)
	}
	frozen, err := NewPlan(g)
	if err != nil {
		t.Fatal(err)
	}
	if err := frozen.FreezeWeights(); err != nil {
		t.Fatal(err)
	}
	packed := map[string]*tensor.PackedFilters{}
	for _, steps := range [][]step{frozen.steps, frozen.fused} {
		for _, st := range steps {
			conv := convOf(st.kernel)
			if conv == nil {
				continue
			}
			w := st.node.Inputs[1]
			if (conv.filters != nil) != (w != "w3") {
				t.Errorf("%s (%T): packed filters %v, want them for all but the depthwise convolution", st.node.Name, st.kernel, conv.filters != nil)
			}
			if prev, ok := packed[w]; ok && prev != conv.filters {
				t.Errorf("%s: %s packed twice", st.node.Name, w)
			}
			packed[w] = conv.filters
		}
	}
	if len(frozen.fused) != len(frozen.steps)-2 {
		t.Errorf("%d fused steps for %d: the Clip and the Add are not fused", len(frozen.fused), len(frozen.steps))
	}
	in := map[string]*tensor.Tensor{"x": randn(1, 16, 20, 20)}
	want, err := plain.Run(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := frozen.Run(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got["c4"].Float32s(), want["c4"].Float32s()) {
		t.Errorf("Run: the frozen plan's output differs")
	}
	slot, _ := frozen.Slot("c4")
	wantVals, _, err := plain.ForwardLeased(nil, in, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	gotVals, _, err := frozen.ForwardLeased(nil, in, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(gotVals[slot].Float32s(), wantVals[slot].Float32s()) {
		t.Errorf("ForwardLeased: the frozen plan's output differs")
	}
}
