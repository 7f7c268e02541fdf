package graph

import (
	"fmt"
	"math"
	"slices"

	"github.com/onnxtune/onnxtune/tensor"
)

// hoistConstants computes the outputs of the graph's Constant nodes once, at plan time, and
// places them with the initializers (kept for every run, as keep records), so that what
// reads them can be fused as it would be with initializers (PyTorch's exporter writes a
// Relu6's bounds as Constant nodes between the Conv and its Clip). The Constant steps stay
// in p.steps, where they set the same values again; fuse leaves them out of Run's steps.
func (p *Plan) hoistConstants(keep map[int]bool) {
	for _, st := range p.steps {
		if st.node.Domain != "" || st.node.OpType != "Constant" || len(st.in) != 0 || len(st.out) != 1 || st.out[0] < 0 {
			continue
		}
		outs, err := runKernel(nil, st.kernel, nil)
		if err != nil || len(outs) != 1 || outs[0] == nil {
			continue // Run reports it when the step runs
		}
		p.constants = append(p.constants, constant{st.out[0], outs[0]})
		keep[st.out[0]] = true
	}
}

// fuse returns the steps Run runs: p.steps with each Conv whose output only the next step, a
// Relu or a Clip with constant bounds, reads merged into one step that clamps each block of
// the convolution's output as it is written (tensor.ConvGeom.Clamp), instead of a second
// pass over the whole activation in memory. The merged value is gone from the run; keep holds
// the values that must stay (graph outputs), which are never merged away. Forward, whose
// caller may look at every intermediate (backprop), runs p.steps.
func (p *Plan) fuse(keep map[int]bool) []step {
	readers := readerCounts(p.steps)
	steps := make([]step, 0, len(p.steps))
	for _, st := range p.steps {
		if len(st.out) == 1 && st.node.OpType == "Constant" && p.constantAt(st.out[0]) != nil {
			continue // hoisted
		}
		steps = append(steps, st)
	}
	out := make([]step, 0, len(steps))
	for i := 0; i < len(steps); i++ {
		st := steps[i]
		conv, ok := st.kernel.(*Conv)
		if ok && i+1 < len(steps) && len(st.out) == 1 {
			mid, next := st.out[0], steps[i+1]
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
	return p.fuseConcat(p.fuseResidual(out, keep), keep)
}

// fuseResidual merges each Add of a Conv's output and another value (a ResNet block's
// shortcut), and the Relu or Clip with constant bounds that alone reads the sum, into the
// Conv (convResidual): the convolution adds the other value and clamps each block of its
// output as it writes it, instead of two more passes over the activation. The Conv must
// be the later of the Add's producers, its output read by the Add alone, and neither its
// output nor the sum kept.
func (p *Plan) fuseResidual(steps []step, keep map[int]bool) []step {
	producer := producers(steps)
	reader := map[int]int{} // slot -> index of the last step reading it
	for i, st := range steps {
		for _, s := range st.in {
			if s >= 0 {
				reader[s] = i
			}
		}
	}
	readers := readerCounts(steps)
	drop := map[int]bool{} // steps merged into an earlier one
	for i, st := range steps {
		add, ok := st.kernel.(*Binary)
		if !ok || add.Op != "Add" || add.Legacy || st.node.Domain != "" || len(st.in) != 2 || len(st.out) != 1 || st.out[0] < 0 {
			continue
		}
		// The Conv is the later producer, so that the other value exists when it runs.
		ci, other := -1, -1
		for j, s := range st.in {
			pi, made := producer[s]
			if made && (ci < 0 || pi > producer[st.in[ci]]) {
				ci, other = j, 1-j
			}
		}
		if ci < 0 {
			continue
		}
		convSlot := st.in[ci]
		cs := producer[convSlot]
		conv, isConv := steps[cs].kernel.(*Conv)
		if !isConv || conv.Clamp != nil || drop[cs] || len(steps[cs].out) != 1 || keep[convSlot] || readers[convSlot] != 1 {
			continue
		}
		if pi, made := producer[st.in[other]]; made && pi >= cs || st.in[other] < 0 {
			continue
		}
		fused := &convResidual{Conv: conv, add: add, convFirst: ci == 0}
		out := st.out
		sum := st.out[0]
		if ai, read := reader[sum]; read && readers[sum] == 1 && !keep[sum] && !drop[ai] && steps[ai].in[0] == sum {
			if lo, hi, ok := p.clampOf(steps[ai]); ok {
				fused.act, fused.clamp = steps[ai], []float32{lo, hi}
				out = steps[ai].out
				drop[ai] = true
			}
		}
		in := append(slices.Clone(steps[cs].in), st.in[other])
		steps[cs] = step{node: steps[cs].node, kernel: fused, in: in, out: out}
		drop[i] = true
	}
	kept := steps[:0]
	for i, st := range steps {
		if !drop[i] {
			kept = append(kept, st)
		}
	}
	return kept
}

// fuseConcat rewrites each Concat along the channels whose every input is the output of a
// Conv read by that Concat alone (as in SqueezeNet's fire modules and Inception blocks): the
// convolutions write straight into their channel range of the Concat's output
// (convIntoConcat), and the Concat step only hands that tensor on (concatWritten), instead of
// copying every activation once more. The weights must be float32 initializers, which fixes
// each convolution's channel count and the tensors' dtype at plan time.
func (p *Plan) fuseConcat(steps []step, keep map[int]bool) []step {
	producer := producers(steps)
	readers := readerCounts(steps)
	for i, st := range steps {
		cat, ok := st.kernel.(*Concat)
		if !ok || cat.Axis != 1 || st.node.Domain != "" || len(st.out) != 1 || st.out[0] < 0 || len(st.in) < 2 {
			continue
		}
		convs := make([]int, len(st.in))
		widths := make([]int, len(st.in))
		for j, s := range st.in {
			pi, made := producer[s]
			conv, isConv := steps[pi].kernel.(*Conv)
			if !made || !isConv || keep[s] || readers[s] != 1 || len(steps[pi].out) != 1 || len(steps[pi].in) < 2 {
				convs = nil
				break
			}
			w := p.constantAt(steps[pi].in[1])
			if w == nil || w.DType() != tensor.Float32 || w.Rank() < 3 || conv.Group < 1 {
				convs = nil
				break
			}
			convs[j], widths[j] = pi, w.Shape()[0]
		}
		if convs == nil {
			continue
		}
		total := 0
		for _, w := range widths {
			total += w
		}
		offset := 0
		for j, pi := range convs {
			c := steps[pi]
			steps[pi] = step{node: c.node, kernel: &convIntoConcat{Conv: c.kernel.(*Conv), slot: st.out[0], offset: offset, channels: total}, in: c.in}
			offset += widths[j]
		}
		steps[i] = step{node: st.node, kernel: concatWritten{slot: st.out[0]}, out: st.out}
	}
	return steps
}

// producers returns, per slot, the index of the step that makes it.
func producers(steps []step) map[int]int {
	producer := map[int]int{}
	for i, st := range steps {
		for _, s := range st.out {
			if s >= 0 {
				producer[s] = i
			}
		}
	}
	return producer
}

// readerCounts returns, per slot, how many step inputs read it.
func readerCounts(steps []step) map[int]int {
	readers := map[int]int{}
	for _, st := range steps {
		for _, s := range st.in {
			if s >= 0 {
				readers[s]++
			}
		}
	}
	return readers
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

// convIntoConcat is a Conv whose output goes straight into channels [offset, offset+OutC) of
// the channels-wide output of the Concat in slot (see fuseConcat). The first of the
// Concat's convolutions to run takes that tensor from the run's arena; the others check that
// their batch and spatial sizes agree with it, as Concat would.
type convIntoConcat struct {
	*Conv
	slot, offset, channels int
}

// Run implements Kernel. It returns no outputs: the convolution's own output exists only as
// part of the Concat's.
func (k *convIntoConcat) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(in) < 2 || in[0] == nil || in[1] == nil {
		return nil, fmt.Errorf("needs X and W")
	}
	x, w := in[0], in[1]
	if x.DType() != tensor.Float32 || w.DType() != tensor.Float32 {
		return nil, fmt.Errorf("X is %v and W %v, want float32", x, w)
	}
	cached, yShape, err := k.shapes.lookup(x.Shape(), w.Shape(), k.Geometry)
	if err != nil {
		return nil, err
	}
	g := *cached
	g.Clamp, g.Filters = k.Clamp, k.filters
	var bias []float32
	if len(in) > 2 && in[2] != nil {
		if in[2].Len() != g.OutC || in[2].Rank() != 1 || in[2].DType() != tensor.Float32 {
			return nil, fmt.Errorf("B is %v, want float32[%d]", in[2], g.OutC)
		}
		bias = in[2].Float32s()
	}
	var room [8]int // the Concat's shape, on the stack where it fits
	catShape := append(room[:0], yShape...)
	catShape[1] = k.channels
	cat := ctx.vals[k.slot]
	if cat == nil {
		n, err := tensor.SizeChecked(catShape)
		if err != nil {
			return nil, err
		}
		cat = ctx.tensor(catShape, ctx.floats(n))
		ctx.vals[k.slot] = cat
	} else if !slices.Equal(cat.Shape(), catShape) {
		return nil, fmt.Errorf("output %v does not fit the Concat's %v beside the other inputs", yShape, cat.Shape())
	}
	plane := g.OutSize()
	g.YImageStride = k.channels * plane
	tensor.Conv(cat.Float32s()[k.offset*plane:], x.Float32s(), w.Float32s(), bias, ctx.convGeom(g))
	return nil, nil
}

// concatWritten is a Concat whose inputs were written into its output by the convolutions
// making them (see fuseConcat): it hands on the tensor in slot.
type concatWritten struct{ slot int }

// Run implements Kernel.
func (k concatWritten) Run(ctx *Context, _ []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if ctx.vals[k.slot] == nil {
		return nil, fmt.Errorf("internal error: no convolution wrote the output")
	}
	return ctx.one(ctx.vals[k.slot])
}

// convResidual is a Conv whose output only an Add read, together with that Add and the Relu
// or Clip that alone read the sum (see fuseResidual): its inputs are the Conv's followed by
// the Add's other operand. When the operand has the output's shape and everything is
// float32, the convolution adds it (and clamps) in its epilogue; otherwise the three kernels
// run one after another, broadcasting as Add does.
type convResidual struct {
	*Conv
	add       *Binary
	convFirst bool      // the Conv's output is the Add's first operand
	act       step      // the fused Relu or Clip, if clamp is set
	clamp     []float32 // its bounds
}

// Run implements Kernel.
func (k *convResidual) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	convIn, res := in[:len(in)-1], in[len(in)-1]
	if len(convIn) < 2 || convIn[0] == nil || convIn[1] == nil || res == nil {
		return nil, fmt.Errorf("needs X, W and the Add's other operand")
	}
	x, w := convIn[0], convIn[1]
	cached, yShape, err := k.shapes.lookup(x.Shape(), w.Shape(), k.Geometry)
	if err != nil {
		return nil, err
	}
	g := *cached
	var bias *tensor.Tensor
	if len(convIn) > 2 && convIn[2] != nil {
		bias = convIn[2]
	}
	if x.DType() != tensor.Float32 || w.DType() != tensor.Float32 || res.DType() != tensor.Float32 ||
		bias != nil && (bias.DType() != tensor.Float32 || bias.Len() != g.OutC || bias.Rank() != 1) ||
		!slices.Equal(res.Shape(), yShape) {
		return k.unfused(ctx, convIn, res)
	}
	g.Clamp, g.Residual, g.Filters = k.clamp, res.Float32s(), k.filters
	return convRun(ctx, g, yShape, x, w, bias)
}

// unfused runs the Conv, the Add and the clamp as the graph has them.
func (k *convResidual) unfused(ctx *Context, convIn []*tensor.Tensor, res *tensor.Tensor) ([]*tensor.Tensor, error) {
	y, err := k.Conv.Run(ctx, convIn)
	if err != nil {
		return nil, err
	}
	operands := []*tensor.Tensor{y[0], res}
	if !k.convFirst {
		operands[0], operands[1] = res, y[0]
	}
	sum, err := k.add.Run(ctx, operands)
	if err != nil || k.clamp == nil {
		return sum, err
	}
	actIn := []*tensor.Tensor{sum[0]}
	for _, s := range k.act.in[1:] {
		var v *tensor.Tensor
		if s >= 0 {
			v = ctx.vals[s]
		}
		actIn = append(actIn, v)
	}
	return k.act.kernel.Run(ctx, actIn)
}
