package graph_test

import (
	"testing"

	"github.com/onnxtune/onnxtune/tensor"
)

// TestRunInto: the first RunInto puts the outputs in the caller's map, equal to Run's; later
// ones copy into those same tensors, and into nothing else the caller holds; an entry of
// another shape is replaced. (TestLargeRunsAllocateNothing counts allocations: this
// fixture's unfused BatchNormalization, Add and Relu still make a few.)
func TestRunInto(t *testing.T) {
	p, in := recycledPlan(t)
	want, err := p.Run(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	name := p.Graph.Outputs[0].Name
	wrong := tensor.New(tensor.Float32, 1)
	outs := map[string]*tensor.Tensor{name: wrong}
	if err := p.RunInto(nil, in, outs); err != nil {
		t.Fatal(err)
	}
	first := outs[name]
	if first == wrong || !equalBits(first.Float32s(), want[name].Float32s()) {
		t.Fatalf("first RunInto: output %v, want Run's %v in place of the float32[1] entry", first, want[name])
	}
	if wrong.Float32s()[0] != 0 {
		t.Errorf("RunInto wrote into the entry of the wrong shape")
	}
	kept := append([]float32(nil), first.Float32s()...)
	other := map[string]*tensor.Tensor{}
	if err := p.RunInto(nil, in, other); err != nil { // a run whose buffers the next reuses
		t.Fatal(err)
	}
	if err := p.RunInto(nil, in, outs); err != nil {
		t.Fatal(err)
	}
	if outs[name] != first || !equalBits(first.Float32s(), kept) {
		t.Errorf("second RunInto: output not written into the caller's tensor, or changed")
	}
	if !equalBits(other[name].Float32s(), kept) {
		t.Errorf("a RunInto into another map overwrote the output it handed over")
	}
}
