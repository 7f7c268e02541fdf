package graph

import "github.com/onnxtune/onnxtune/tensor"

// NodeFLOPs returns the floating-point operations of one run of n on the tensors it read (in,
// nil for an omitted input) and wrote (out): two per multiply-add of Conv, ConvTranspose, Gemm
// and MatMul, the convention of papers and profilers, and 0 for every other op. Bias additions,
// activations, pooling and normalisation are left out: in a CNN they are a few percent of the
// products. The counts come from the tensors' shapes, so grouped and strided convolutions and
// transposed Gemm operands need no attribute.
func NodeFLOPs(n *Node, in, out []*tensor.Tensor) int64 {
	if n.Domain != "" || len(in) < 2 || in[0] == nil || in[1] == nil || len(out) == 0 || out[0] == nil {
		return 0
	}
	x, w, y := in[0], in[1], out[0]
	switch n.OpType {
	case "Conv":
		// Each output element is a dot product over W[m] of shape [C/group, k1, k2, ...].
		return 2 * int64(y.Len()) * int64(perRow(w))
	case "ConvTranspose":
		// Each input element is scattered through W[c] of shape [M/group, k1, k2, ...].
		return 2 * int64(x.Len()) * int64(perRow(w))
	case "Gemm":
		// Y is [M, N]; A is [M, K] or, transposed, [K, M]: either way K = |A| / M.
		if y.Rank() != 2 || y.Shape()[0] == 0 {
			return 0
		}
		return 2 * int64(y.Len()) * int64(x.Len()/y.Shape()[0])
	case "MatMul":
		// K is A's last dimension whether A is a vector or a (batched) matrix.
		if x.Rank() == 0 {
			return 0
		}
		return 2 * int64(y.Len()) * int64(x.Shape()[x.Rank()-1])
	}
	return 0
}

// perRow is the number of elements of w per index of its first dimension.
func perRow(w *tensor.Tensor) int {
	if w.Rank() == 0 || w.Shape()[0] == 0 {
		return 0
	}
	return w.Len() / w.Shape()[0]
}

// CountFLOPs runs p on inputs like Run and returns its outputs with the FLOPs of the run: the
// NodeFLOPs of every step at the shapes it actually ran on, so symbolic sizes (batch, image
// size) are counted as fed. The run is Run's own, fused steps and all (what fusion merges
// into a convolution counts nothing), so its outputs may serve as a first run's, and the
// buffers it leaves in the plan's pool are those the later runs use: an unfused run left
// buffers of other sizes there, and `onnxtune bench` reported squeezenet1_1's peak memory at
// batch 8 as 160 MB where its runs need 90. Where Run would split the batch over the cores
// (split.go), so does CountFLOPs, one part after the other, adding their FLOPs: a whole run
// of the batch of 8 left an arena twice a part's in the pool beside the parts' own, and
// mobilenet_v2's bench held 214 MB where ONNX Runtime held 200.
func (p *Plan) CountFLOPs(ctx *Context, inputs map[string]*tensor.Tensor) (map[string]*tensor.Tensor, int64, error) {
	shards := p.shardsFor(ctx, inputs)
	if shards == 1 {
		return p.countWholeFLOPs(ctx, inputs)
	}
	batch := inputs[p.Graph.Inputs[0].Name].Shape()[0]
	parts := make([]shardPart, shards)
	var flops int64
	for i := range parts {
		sp := &parts[i]
		*sp = newShardPart()
		sp.show(p.Graph.Inputs, inputs, batch, shards, i)
		var n int64
		var err error
		if sp.outputs, n, err = p.countWholeFLOPs(ctx, sp.inputs); err != nil {
			return nil, 0, err
		}
		flops += n
	}
	outputs := map[string]*tensor.Tensor{}
	if err := p.gatherOutputs(outputs, parts, batch); err != nil {
		return nil, 0, err
	}
	return outputs, flops, nil
}

// countWholeFLOPs is CountFLOPs on the whole batch in one run.
func (p *Plan) countWholeFLOPs(ctx *Context, inputs map[string]*tensor.Tensor) (map[string]*tensor.Tensor, int64, error) {
	var flops int64
	observe := func(i int, vals []*tensor.Tensor) { flops += stepFLOPs(&p.fused[i], vals) }
	vals, _, err := p.forward(ctx, p.fused, inputs, p.newRunSlots(), nil, observe, false)
	if err != nil {
		return nil, 0, err
	}
	return p.outputMap(vals), flops, nil
}

// stepFLOPs is NodeFLOPs of the step's node on the values of a run. A convolution written
// into its Concat's output has no output of its own: its share of the Concat's is counted.
func stepFLOPs(st *step, vals []*tensor.Tensor) int64 {
	in := make([]*tensor.Tensor, 0, len(st.in))
	for _, s := range st.in {
		in = append(in, slotValue(vals, s))
	}
	if k, ok := st.kernel.(*convIntoConcat); ok {
		cat := vals[k.slot]
		if len(in) < 2 || in[1] == nil || in[1].Rank() == 0 || cat == nil || k.channels == 0 {
			return 0
		}
		w := in[1]
		return 2 * int64(cat.Len()/k.channels*w.Shape()[0]) * int64(perRow(w))
	}
	out := make([]*tensor.Tensor, 0, len(st.out))
	for _, s := range st.out {
		out = append(out, slotValue(vals, s))
	}
	return NodeFLOPs(st.node, in, out)
}

// slotValue is vals[s], or nil for an omitted value (slot -1).
func slotValue(vals []*tensor.Tensor, s int) *tensor.Tensor {
	if s < 0 {
		return nil
	}
	return vals[s]
}
