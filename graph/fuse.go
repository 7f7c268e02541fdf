package graph

import (
	"math"

	"github.com/onnxtune/onnxtune/tensor"
)

// fuse returns the steps Run runs: p.steps with each Conv whose output only the next step, a
// Relu or a Clip with constant bounds, reads merged into one step that clamps each block of
// the convolution's output as it is written (tensor.ConvGeom.Clamp), instead of a second
// pass over the whole activation in memory. The merged value is gone from the run; keep holds
// the values that must stay (graph outputs), which are never merged away. Forward, whose
// caller may look at every intermediate (backprop), runs p.steps.
func (p *Plan) fuse(keep map[int]bool) []step {
	readers := map[int]int{}
	for _, st := range p.steps {
		for _, s := range st.in {
			if s >= 0 {
				readers[s]++
			}
		}
	}
	out := make([]step, 0, len(p.steps))
	for i := 0; i < len(p.steps); i++ {
		st := p.steps[i]
		conv, ok := st.kernel.(*Conv)
		if ok && i+1 < len(p.steps) && len(st.out) == 1 {
			mid, next := st.out[0], p.steps[i+1]
			if lo, hi, ok := p.clampOf(next); ok && mid >= 0 && !keep[mid] && readers[mid] == 1 && next.in[0] == mid {
				c := *conv
				c.Clamp = []float32{lo, hi}
				out = append(out, step{node: st.node, kernel: &c, in: st.in, out: next.out})
				i++
				continue
			}
		}
		out = append(out, step{node: st.node, kernel: st.kernel, in: st.in, out: st.out})
	}
	return out
}

// clampOf returns the bounds of a Relu or Clip step whose bounds are known at plan time.
func (p *Plan) clampOf(st step) (lo, hi float32, ok bool) {
	if st.node.Domain != "" || len(st.in) == 0 || len(st.out) != 1 {
		return 0, 0, false
	}
	switch k := st.kernel.(type) {
	case *Unary:
		if k.Op == "Relu" {
			return 0, float32(math.Inf(1)), true
		}
	case *Clip:
		if !k.FromInputs {
			return k.Min, k.Max, true
		}
		lo, hi = float32(math.Inf(-1)), float32(math.Inf(1))
		for j, b := range []*float32{&lo, &hi} {
			if len(st.in) <= j+1 || st.in[j+1] < 0 {
				continue
			}
			v := p.constantAt(st.in[j+1])
			if v == nil || v.DType() != tensor.Float32 || v.Len() != 1 {
				return 0, 0, false
			}
			*b = v.Float32s()[0]
		}
		return lo, hi, true
	}
	return 0, 0, false
}

// constantAt returns the initializer in slot s, nil for a value computed by the graph.
func (p *Plan) constantAt(s int) *tensor.Tensor {
	for _, c := range p.constants {
		if c.slot == s {
			return c.value
		}
	}
	return nil
}
