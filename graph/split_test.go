package graph

import (
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/onnxtune/onnxtune/tensor"
)

// splitGraph is x [N 2 5 5] through a padded 3×3 Conv to 4 channels, Relu, then tail (nodes
// reading "r" and writing "out", a float32 [N ...]), with extra initializers.
func splitGraph(rng *rand.Rand, batch Dim, tail []*Node, extra map[string]*tensor.Tensor) *Graph {
	g := &Graph{
		Opsets: map[string]int{"": 13},
		Inputs: []ValueInfo{{Name: "x", DType: tensor.Float32, Shape: []Dim{batch, {Size: 2}, {Size: 5}, {Size: 5}}}},
		Initializers: map[string]*tensor.Tensor{
			"w": fuseRandn(rng, 4, 2, 3, 3), "b": fuseRandn(rng, 4),
			"fc": fuseRandn(rng, 3, 4), "fcb": fuseRandn(rng, 3),
		},
		InitializerNames: []string{"w", "b", "fc", "fcb"},
		Nodes: append([]*Node{
			{Name: "conv", OpType: "Conv", Inputs: []string{"x", "w", "b"}, Outputs: []string{"c"},
				Attrs: map[string]Attr{"pads": {Type: AttrInts, Ints: []int64{1, 1, 1, 1}}}},
			{Name: "relu", OpType: "Relu", Inputs: []string{"c"}, Outputs: []string{"r"}},
		}, tail...),
		Outputs: []ValueInfo{{Name: "out", DType: tensor.Float32, Shape: []Dim{batch, {Size: -1}}}},
	}
	for name, v := range extra {
		g.Initializers[name] = v
		g.InitializerNames = append(g.InitializerNames, name)
	}
	return g
}

// classifierTail is a classifier's end: GlobalAveragePool, Flatten, Gemm with B transposed.
var classifierTail = []*Node{
	{Name: "gap", OpType: "GlobalAveragePool", Inputs: []string{"r"}, Outputs: []string{"p"}},
	{Name: "flat", OpType: "Flatten", Inputs: []string{"p"}, Outputs: []string{"f"}},
	{Name: "fc", OpType: "Gemm", Inputs: []string{"f", "fc", "fcb"}, Outputs: []string{"out"},
		Attrs: map[string]Attr{"transB": {Type: AttrInt, Int: 1}}},
}

// TestExamplesIndependent: a plan splits the batch only where every node keeps to its
// examples and the model leaves the batch symbolic.
func TestExamplesIndependent(t *testing.T) {
	n := Dim{Size: -1, Param: "N"}
	ints := func(v ...int64) map[string]Attr { return map[string]Attr{"perm": {Type: AttrInts, Ints: v}} }
	shape := func(v ...int64) map[string]*tensor.Tensor {
		return map[string]*tensor.Tensor{"shape": tensor.From([]int{len(v)}, v)}
	}
	reshape := []*Node{{Name: "reshape", OpType: "Reshape", Inputs: []string{"r", "shape"}, Outputs: []string{"out"}}}
	for _, c := range []struct {
		name  string
		batch Dim
		tail  []*Node
		extra map[string]*tensor.Tensor
		want  bool
	}{
		{"classifier", n, classifierTail, nil, true},
		{"fixed batch", Dim{Size: 2}, classifierTail, nil, false},
		{"Reshape keeping the batch", n, reshape, shape(0, -1), true},
		{"Reshape inferring the batch", n, reshape, shape(-1, 100), true},
		{"Reshape fixing the batch", n, reshape, shape(2, -1), false},
		{"Reshape inferring another dimension", n, reshape, shape(-1, 2, -1), false},
		{"Concat along the batch", n, []*Node{{Name: "cat", OpType: "Concat", Inputs: []string{"r", "r"}, Outputs: []string{"out"},
			Attrs: map[string]Attr{"axis": {Type: AttrInt, Int: 0}}}}, nil, false},
		{"Concat along the channels", n, []*Node{{Name: "cat", OpType: "Concat", Inputs: []string{"r", "r"}, Outputs: []string{"out"},
			Attrs: map[string]Attr{"axis": {Type: AttrInt, Int: 1}}}}, nil, true},
		{"Transpose moving the batch", n, []*Node{{Name: "tr", OpType: "Transpose", Inputs: []string{"r"}, Outputs: []string{"out"}, Attrs: ints(1, 0, 2, 3)}}, nil, false},
		{"Transpose keeping the batch", n, []*Node{{Name: "tr", OpType: "Transpose", Inputs: []string{"r"}, Outputs: []string{"out"}, Attrs: ints(0, 2, 3, 1)}}, nil, true},
		{"Shape", n, []*Node{{Name: "shape", OpType: "Shape", Inputs: []string{"r"}, Outputs: []string{"s"}},
			{Name: "reshape", OpType: "Reshape", Inputs: []string{"r", "s"}, Outputs: []string{"out"}}}, nil, false},
		{"Gemm of the transposed batch", n, []*Node{classifierTail[0], classifierTail[1], {Name: "fc", OpType: "Gemm", Inputs: []string{"f", "fc", "fcb"}, Outputs: []string{"out"},
			Attrs: map[string]Attr{"transA": {Type: AttrInt, Int: 1}}}}, nil, false},
		{"an op off the list", n, []*Node{{Name: "mean", OpType: "ReduceMean", Inputs: []string{"r"}, Outputs: []string{"out"}}}, nil, false},
	} {
		p, err := NewPlan(splitGraph(rand.New(rand.NewPCG(1, 1)), c.batch, c.tail, c.extra))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if p.splits != c.want {
			t.Errorf("%s: examplesIndependent %v, want %v", c.name, p.splits, c.want)
		}
	}
}

// TestSplitRunsMatchParts: on two cores, Run, RunInto and CountFLOPs of a batch of 5 split
// it into examples 0-1 and 2-4, and give bit for bit the outputs of one-core runs of those
// parts (CountFLOPs the FLOPs of the whole batch's run on one core),
// within float32 rounding of Forward's unfused, unsplit run; an input of the wrong shape
// still fails with feed's error, which names the whole batch's shape.
func TestSplitRunsMatchParts(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	p, err := NewPlan(splitGraph(rng, Dim{Size: -1, Param: "N"}, classifierTail, nil))
	if err != nil {
		t.Fatal(err)
	}
	x := fuseRandn(rng, 5, 2, 5, 5)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	if got := p.shardsFor(nil, map[string]*tensor.Tensor{"x": x}); got != 2 {
		t.Fatalf("a batch of 5 on 2 cores splits into %d parts, want 2", got)
	}
	whole, err := p.Run(nil, map[string]*tensor.Tensor{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	if b, ok := p.shardSets.Get(); !ok {
		t.Fatal("Run did not split the batch")
	} else {
		p.shardSets.Put(b)
	}
	counted, flops, err := p.CountFLOPs(nil, map[string]*tensor.Tensor{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	into := map[string]*tensor.Tensor{}
	for range 2 { // the second into the first's tensor
		if err := p.RunInto(nil, map[string]*tensor.Tensor{"x": x}, into); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GOMAXPROCS(1)
	var parts []float32
	for _, rows := range [][2]int{{0, 2}, {2, 5}} {
		out, err := p.Run(nil, map[string]*tensor.Tensor{"x": exampleRows(x, rows[0], rows[1])})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, out["out"].Float32s()...)
	}
	if !slices.Equal(whole["out"].Float32s(), parts) || !slices.Equal(into["out"].Float32s(), parts) || !slices.Equal(counted["out"].Float32s(), parts) {
		t.Errorf("a split run's outputs differ from its parts' run alone:\n%v\n%v\n%v\n%v", whole["out"].Float32s(), into["out"].Float32s(), counted["out"].Float32s(), parts)
	}
	if _, want, err := p.CountFLOPs(nil, map[string]*tensor.Tensor{"x": x}); err != nil || flops != want {
		t.Errorf("CountFLOPs of the split batch: %d, of the whole on one core %d (%v)", flops, want, err)
	}
	vals, err := p.Forward(nil, map[string]*tensor.Tensor{"x": x}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := vals[p.outputs[0]].Float32s()
	for i, v := range parts {
		if d := float64(v - want[i]); d > 1e-5 || d < -1e-5 {
			t.Fatalf("output %d: split %g, Forward %g", i, v, want[i])
		}
	}
	runtime.GOMAXPROCS(2)
	if _, err := p.Run(nil, map[string]*tensor.Tensor{"x": fuseRandn(rng, 4, 3, 5, 5)}); err == nil || !strings.Contains(err.Error(), "float32[4 3 5 5]") {
		t.Errorf("a batch of 3-channel images: %v; want an error naming its shape", err)
	}
}
