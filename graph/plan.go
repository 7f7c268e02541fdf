package graph

import (
	"fmt"
	"slices"
	"strings"

	"github.com/onnxtune/onnxtune/internal/arena"
	"github.com/onnxtune/onnxtune/internal/freelist"
	"github.com/onnxtune/onnxtune/tensor"
)

// Plan is a graph made ready to run many times: every node's kernel built from its attributes,
// values numbered into slots, and for each step the intermediates that nothing later reads, so
// a run drops them as soon as it can and their buffers serve later steps and later runs (see
// arena). A Plan is safe for concurrent runs (FreezeWeights excepted, which must come
// before them).
type Plan struct {
	Graph *Graph

	buffers   arena.Pool                  // the intermediates' buffers between runs
	slotSets  freelist.List[*runSlots]    // Run's and RunInto's, between runs
	shardSets freelist.List[*batchShards] // the split runs', between runs
	splits    bool                        // whether inference runs split the batch over the cores (examplesIndependent)

	steps     []step
	fused     []step // what Run runs: steps with activations fused into convolutions (fuse)
	numSlots  int
	maxInputs int // the most inputs a step has
	slots     map[string]int
	constants []constant // initializers, placed in their slots at the start of every run
	inputs    []int      // slot of each Graph.Inputs entry
	outputs   []int      // slot of each Graph.Outputs entry
}

type step struct {
	node    *Node
	kernel  Kernel
	in, out []int // slots; -1 for an omitted optional input or output
	release []int // slots no later step or output reads
}

type constant struct {
	slot  int
	value *tensor.Tensor
}

// NewPlan builds the kernels of every node of g. If some operators have no kernel at the
// graph's opset it returns an *UnsupportedOpError naming all of them, before anything runs.
func NewPlan(g *Graph) (*Plan, error) {
	if bad := Unsupported(g); len(bad) > 0 {
		return nil, &UnsupportedOpError{Nodes: bad, Opset: g.Opsets}
	}
	p := &Plan{Graph: g, slots: map[string]int{}}
	slot := func(name string) int {
		if name == "" {
			return -1
		}
		s, ok := p.slots[name]
		if !ok {
			s = p.numSlots
			p.slots[name] = s
			p.numSlots++
		}
		return s
	}
	for _, name := range g.InitializerNames {
		p.constants = append(p.constants, constant{slot(name), g.Initializers[name]})
	}
	for _, in := range g.Inputs {
		p.inputs = append(p.inputs, slot(in.Name))
	}
	for _, n := range g.Nodes {
		def, _ := Lookup(n.Domain, n.OpType, g.Opsets[n.Domain])
		k, err := def.Build(n, g.Opsets[n.Domain])
		if err != nil {
			return nil, err
		}
		st := step{node: n, kernel: k}
		for _, in := range n.Inputs {
			st.in = append(st.in, slot(in))
		}
		for _, out := range n.Outputs {
			st.out = append(st.out, slot(out))
		}
		p.steps = append(p.steps, st)
	}
	keep := map[int]bool{}
	for _, c := range p.constants {
		keep[c.slot] = true // initializers belong to the graph, not to a run
	}
	for _, out := range g.Outputs {
		s := slot(out.Name)
		p.outputs = append(p.outputs, s)
		keep[s] = true
	}
	p.hoistConstants(keep)
	p.fused = p.fuse(keep)
	p.splits = p.examplesIndependent()
	for _, st := range append(slices.Clip(p.steps), p.fused...) {
		p.maxInputs = max(p.maxInputs, len(st.in))
	}
	setReleases(p.steps, keep)
	setReleases(p.fused, keep)
	return p, nil
}

// setReleases lists at each step the values no later step reads, unless keep holds them.
func setReleases(steps []step, keep map[int]bool) {
	lastUse := map[int]int{}
	for i, st := range steps {
		for _, s := range st.in {
			if s >= 0 {
				lastUse[s] = i
			}
		}
	}
	for s, i := range lastUse {
		if !keep[s] {
			steps[i].release = append(steps[i].release, s)
		}
	}
	// An output nothing reads (a BatchNorm's running statistics in training mode, say) goes
	// as soon as it is made.
	for i := range steps {
		for _, s := range steps[i].out {
			if _, read := lastUse[s]; s >= 0 && !read && !keep[s] {
				steps[i].release = append(steps[i].release, s)
			}
		}
	}
}

// Run feeds inputs by name, runs every step and returns the graph outputs by name. Each
// input's dtype and shape are checked against the model's declaration first.
//
// On several cores (GOMAXPROCS) an inference of a batch of several examples, through a
// model whose examples are independent (a CNN exported with a symbolic batch), splits the
// batch into one part per core and runs each whole on its core (split.go): each part's
// outputs are then bit for bit those of a run of that part alone on one core, within
// float32 rounding of a run of the whole batch.
func (p *Plan) Run(ctx *Context, inputs map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
	if shards := p.shardsFor(ctx, inputs); shards > 1 {
		out := make(map[string]*tensor.Tensor, len(p.outputs))
		if err := p.runSplit(ctx, inputs, out, shards); err != nil {
			return nil, err
		}
		return out, nil
	}
	rs := p.takeRunSlots()
	defer p.putRunSlots(rs)
	vals, _, err := p.forward(ctx, p.fused, inputs, rs, nil, nil, false)
	if err != nil {
		return nil, err
	}
	return p.outputMap(vals), nil
}

// RunInto is Run for a caller that runs the plan again and again (a server, a benchmark): it
// puts each graph output in outputs under its name, copying it into the tensor already
// there when that is float32 of the output's shape, and the output's buffer then serves the
// next run. With the same outputs map, a run after the first allocates nothing (the kernels
// of the convolutional networks onnxtune serves see to their part). On an error outputs is
// left as it was.
func (p *Plan) RunInto(ctx *Context, inputs, outputs map[string]*tensor.Tensor) error {
	if shards := p.shardsFor(ctx, inputs); shards > 1 {
		return p.runSplit(ctx, inputs, outputs, shards)
	}
	return p.runWhole(ctx, inputs, outputs)
}

// runWhole is RunInto on the whole batch in one run.
func (p *Plan) runWhole(ctx *Context, inputs, outputs map[string]*tensor.Tensor) error {
	rs := p.takeRunSlots()
	defer p.putRunSlots(rs)
	rs.into = outputs
	_, _, err := p.forward(ctx, p.fused, inputs, rs, nil, nil, false)
	return err
}

func (p *Plan) takeRunSlots() *runSlots {
	if rs, ok := p.slotSets.Get(); ok {
		return rs
	}
	return p.newRunSlots()
}

// putRunSlots keeps rs for a later run, holding nothing of this one.
func (p *Plan) putRunSlots(rs *runSlots) {
	clear(rs.vals)
	rs.ctx, rs.into = Context{}, nil
	p.slotSets.Put(rs)
}

// writeOutputs puts the run's graph outputs in into (RunInto). The values copied into the
// caller's tensors are dropped, so that their buffers serve the next run.
func (p *Plan) writeOutputs(into map[string]*tensor.Tensor, vals []*tensor.Tensor, a *arena.Arena) {
	for i, s := range p.outputs {
		name, v := p.Graph.Outputs[i].Name, vals[s]
		dst := into[name]
		if dst != nil && dst != v && dst.DType() == tensor.Float32 && v.DType() == tensor.Float32 && slices.Equal(dst.Shape(), v.Shape()) {
			copy(dst.Float32s(), v.Float32s())
		} else {
			into[name] = v
		}
	}
	for _, s := range p.outputs {
		v := vals[s]
		if v == nil {
			continue // an output named twice: its slot is done
		}
		handed := false
		for _, out := range p.Graph.Outputs {
			handed = handed || into[out.Name] == v
		}
		if !handed {
			a.Drop(v)
		}
		vals[s] = nil
	}
}

// runSlots is where a run keeps its values by slot, the inputs of the step running and the
// Context its kernels get. Run reuses them from one run to the next; Forward's caller takes
// the values away.
type runSlots struct {
	vals, in []*tensor.Tensor
	ctx      Context
	into     map[string]*tensor.Tensor // RunInto's outputs
}

func (p *Plan) newRunSlots() *runSlots {
	return &runSlots{vals: make([]*tensor.Tensor, p.numSlots), in: make([]*tensor.Tensor, p.maxInputs)}
}

// outputMap picks the graph outputs out of a run's slot values, by name.
func (p *Plan) outputMap(vals []*tensor.Tensor) map[string]*tensor.Tensor {
	out := make(map[string]*tensor.Tensor, len(p.outputs))
	for i, s := range p.outputs {
		out[p.Graph.Outputs[i].Name] = vals[s]
	}
	return out
}

// feed places the initializers and the inputs in vals, after checking the inputs.
func (p *Plan) feed(vals []*tensor.Tensor, inputs map[string]*tensor.Tensor) error {
	for _, c := range p.constants {
		vals[c.slot] = c.value
	}
	declared := map[string]bool{}
	for _, vi := range p.Graph.Inputs {
		declared[vi.Name] = true
	}
	for name := range inputs {
		if !declared[name] {
			var names []string
			for _, vi := range p.Graph.Inputs {
				names = append(names, fmt.Sprintf("%q", vi.Name))
			}
			return fmt.Errorf("graph: the model has no input %q (its inputs: %s)", name, strings.Join(names, ", "))
		}
	}
	syms := map[string]int{}
	for i, vi := range p.Graph.Inputs {
		t, ok := inputs[vi.Name]
		if !ok || t == nil {
			return fmt.Errorf("graph: input %q (%s) is missing", vi.Name, describe(vi))
		}
		if err := checkInput(vi, t, syms); err != nil {
			return err
		}
		vals[p.inputs[i]] = t
	}
	return nil
}

// checkInput compares a fed tensor with the input's declaration; syms tracks the sizes given to
// symbolic dimensions so that two inputs sharing "batch" must agree.
func checkInput(vi ValueInfo, t *tensor.Tensor, syms map[string]int) error {
	bad := func() error {
		return fmt.Errorf("graph: input %q: got %v, the model expects %s", vi.Name, t, describe(vi))
	}
	if vi.DType != tensor.Undefined && t.DType() != vi.DType {
		return bad()
	}
	if vi.Shape == nil {
		return nil
	}
	if len(vi.Shape) != t.Rank() {
		return bad()
	}
	for i, d := range vi.Shape {
		got := t.Shape()[i]
		switch {
		case d.Size >= 0 && got != d.Size:
			return bad()
		case d.Size < 0 && d.Param != "":
			if prev, ok := syms[d.Param]; ok && prev != got {
				return fmt.Errorf("graph: input %q: dimension %q is %d here but %d in another input", vi.Name, d.Param, got, prev)
			}
			syms[d.Param] = got
		}
	}
	return nil
}

// describe formats a declaration: "float32[batch 3 224 224]".
func describe(vi ValueInfo) string {
	if vi.Shape == nil {
		return vi.DType.String() + "[?]"
	}
	dims := make([]string, len(vi.Shape))
	for i, d := range vi.Shape {
		dims[i] = d.String()
	}
	return vi.DType.String() + "[" + strings.Join(dims, " ") + "]"
}

// runStep runs one step on the values in vals, with in as room for its inputs.
func (p *Plan) runStep(ctx *Context, st *step, vals, in []*tensor.Tensor) error {
	in = in[:len(st.in)]
	for j, s := range st.in {
		in[j] = nil
		if s >= 0 {
			in[j] = vals[s]
		}
	}
	outs, err := runKernel(ctx, st.kernel, in)
	clear(in) // no value outlives the run through the scratch
	if err != nil {
		return fmt.Errorf("graph: %s: %w", st.node, err)
	}
	for j, s := range st.out {
		if s < 0 {
			continue
		}
		if j >= len(outs) || outs[j] == nil {
			return fmt.Errorf("graph: %s: output %d (%q) was not produced", st.node, j, st.node.Outputs[j])
		}
		vals[s] = outs[j]
	}
	return nil
}

// runKernel turns a panic inside a kernel (an index out of range on a malformed model, say)
// into an error, so that no panic crosses Run.
func runKernel(ctx *Context, k Kernel, in []*tensor.Tensor) (outs []*tensor.Tensor, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error: %v", r)
		}
	}()
	return k.Run(ctx, in)
}

// Step describes one planned node for code that walks the plan itself (package backprop):
// the node, its built kernel, and the slots of its inputs and outputs (-1 where omitted).
type Step struct {
	Node    *Node
	Kernel  Kernel
	In, Out []int
}

// Steps returns the planned nodes in execution order.
func (p *Plan) Steps() []Step {
	out := make([]Step, len(p.steps))
	for i, st := range p.steps {
		out[i] = Step{Node: st.node, Kernel: st.kernel, In: st.in, Out: st.out}
	}
	return out
}

// NumSlots returns the number of value slots: initializers, inputs and node outputs.
func (p *Plan) NumSlots() int { return p.numSlots }

// Slot returns the slot of a named value.
func (p *Plan) Slot(name string) (int, bool) {
	s, ok := p.slots[name]
	return s, ok
}

// OutputSlots returns the slot of each graph output, in Graph.Outputs order.
func (p *Plan) OutputSlots() []int { return p.outputs }

// Forward runs every step like Run but returns the slot values instead of the outputs: graph
// outputs and initializers always, and the intermediates for which keep[slot] is true (the
// activations a backward pass needs); the rest are dropped after their last reader as in Run.
// keep may be nil. observe, when not nil, is called after each step with the index of the step
// and the slot values, before any is released.
//
// The buffers of dropped values are recycled for later steps and runs (see arena): observe
// must not keep a value past its call, and the returned values are the caller's.
func (p *Plan) Forward(ctx *Context, inputs map[string]*tensor.Tensor, keep []bool, observe func(step int, vals []*tensor.Tensor)) ([]*tensor.Tensor, error) {
	vals, _, err := p.forward(ctx, p.steps, inputs, p.newRunSlots(), keep, observe, false)
	return vals, err
}

// ForwardLeased is Forward for a backward pass, which says when it is done with each value
// it got (it drops the kept activations one by one): giving them back through the Lease
// lets the next run reuse their buffers instead of fresh memory. Conv and ConvTranspose keep
// to their precise algorithms, whose rounding a backward pass does not amplify (see
// tensor.ConvGeom.Precise).
func (p *Plan) ForwardLeased(ctx *Context, inputs map[string]*tensor.Tensor, keep []bool, observe func(step int, vals []*tensor.Tensor)) ([]*tensor.Tensor, *Lease, error) {
	return p.forward(ctx, p.steps, inputs, p.newRunSlots(), keep, observe, true)
}

// Lease tracks the buffers of the values a ForwardLeased run returned; giving each back
// when done with it lets the plan's next run reuse its buffer.
type Lease = arena.Lease

// forward runs steps (p.steps, or p.fused when no one looks at the intermediates) in rs,
// whose values are all nil. differentiated says that a backward pass will differentiate the
// values returned and give them back: only then does it return their buffers' lease.
func (p *Plan) forward(ctx *Context, steps []step, inputs map[string]*tensor.Tensor, rs *runSlots, keep []bool, observe func(step int, vals []*tensor.Tensor), differentiated bool) (_ []*tensor.Tensor, lease *Lease, err error) {
	run := &rs.ctx
	*run = Context{}
	if ctx != nil {
		*run = *ctx
	}
	run.differentiated = differentiated
	a := p.buffers.Take()
	run.arena = a
	defer func() {
		if differentiated {
			lease = p.buffers.PutLeased(a)
		} else {
			p.buffers.Put(a)
		}
	}()
	vals := rs.vals
	if err := p.feed(vals, inputs); err != nil {
		return nil, nil, err
	}
	run.vals = vals
	for _, s := range p.inputs {
		a.Hold(vals[s])
	}
	for i := range steps {
		st := &steps[i]
		if err := p.runStep(run, st, vals, rs.in); err != nil {
			return nil, nil, err
		}
		for _, s := range st.out {
			if s >= 0 {
				a.Hold(vals[s])
			}
		}
		if observe != nil {
			observe(i, vals)
		}
		for _, s := range st.release {
			if keep == nil || !keep[s] {
				a.Drop(vals[s])
				vals[s] = nil
			}
		}
	}
	if rs.into != nil {
		p.writeOutputs(rs.into, vals, a)
	}
	return vals, nil, nil
}
