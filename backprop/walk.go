package backprop

import (
	"errors"
	"fmt"
	"strings"

	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/internal/arena"
	"github.com/onnxtune/onnxtune/tensor"
)

// ErrUnreachable is wrapped by NewProgram's error when no differentiated value reaches the
// outputs.
var ErrUnreachable = errors.New("no gradient path")

// Program is the backward pass of a plan with respect to a set of values (trainable
// initializers, usually): which steps need a VJP, which input gradients each must produce,
// and which activations the forward pass must keep for them. Steps that no differentiated
// value reaches (a frozen backbone) run forward only and keep nothing.
type Program struct {
	plan   *graph.Plan
	steps  []graph.Step
	rules  []Rule
	active []bool   // per step: runs a VJP
	need   [][]bool // per step and input: gradient wanted
	keep   []bool   // per slot: activation a VJP reads
	// lastUse[slot] is the earliest active step reading a kept slot: in the reverse walk the
	// activation can go once that step's VJP has run. releaseAt lists them per step,
	// initializers excepted.
	lastUse   map[int]int
	releaseAt [][]int
	isOutput  []bool // per slot: a graph output
	wrt       []string
	wrtSlot   []int
	// gradBuffers recycles the gradients' buffers: those of the intermediate values within a
	// backward pass, and those of the weights' once the caller gives them back
	// (Tape.GiveBackGradients).
	gradBuffers arena.Pool
}

// NewProgram analyses plan for gradients of all its outputs with respect to the named values.
// It fails, naming them, if an operator on the gradient's path has no backward rule, or if
// none of the values can reach any output.
func NewProgram(plan *graph.Plan, wrt []string) (*Program, error) {
	return NewProgramFor(plan, wrt, nil)
}

// NewProgramFor is NewProgram for gradients that start at the named graph outputs only (nil:
// every output), so that parts of the graph feeding other outputs are left out.
func NewProgramFor(plan *graph.Plan, wrt, outputs []string) (*Program, error) {
	p := &Program{plan: plan, steps: plan.Steps(), keep: make([]bool, plan.NumSlots()), lastUse: map[int]int{}, wrt: wrt}
	n := len(p.steps)
	p.rules = make([]Rule, n)
	p.active = make([]bool, n)
	p.need = make([][]bool, n)
	dep := make([]bool, plan.NumSlots()) // depends on a differentiated value
	for _, name := range wrt {
		s, ok := plan.Slot(name)
		if !ok {
			return nil, fmt.Errorf("backprop: the model has no value %q", name)
		}
		p.wrtSlot = append(p.wrtSlot, s)
		dep[s] = true
	}
	known := make([]bool, n)
	for i, st := range p.steps {
		r, ok := ruleFor(st.Node)
		p.rules[i], known[i] = r, ok
		if r.NoGrad {
			continue
		}
		for j, s := range st.In {
			if s >= 0 && dep[s] && (!ok || differentiable(r, st.Node, j)) {
				for _, o := range st.Out {
					if o >= 0 {
						dep[o] = true
					}
				}
				break
			}
		}
	}
	reach := make([]bool, plan.NumSlots()) // a gradient flows back to it from an output
	if outputs == nil {
		for _, s := range plan.OutputSlots() {
			reach[s] = true
		}
	}
	for _, name := range outputs {
		s, ok := plan.Slot(name)
		if !ok {
			return nil, fmt.Errorf("backprop: the model has no output %q", name)
		}
		reach[s] = true
	}
	var missing []string
	for i := n - 1; i >= 0; i-- {
		st, r := p.steps[i], p.rules[i]
		live := false
		for _, o := range st.Out {
			live = live || (o >= 0 && reach[o] && dep[o])
		}
		if !live || r.NoGrad {
			continue
		}
		p.need[i] = make([]bool, len(st.In))
		for j, s := range st.In {
			if s >= 0 && dep[s] && (!known[i] || differentiable(r, st.Node, j)) {
				p.need[i][j] = true
				p.active[i] = true
				reach[s] = true
			}
		}
		if !p.active[i] {
			continue
		}
		if !known[i] {
			missing = append(missing, st.Node.String())
			continue
		}
		for _, j := range keptInputs(r, len(st.In)) {
			if st.In[j] >= 0 {
				p.markKeep(st.In[j], i)
			}
		}
		for _, j := range r.Outputs {
			if j < len(st.Out) && st.Out[j] >= 0 {
				p.markKeep(st.Out[j], i)
			}
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("backprop: no gradient rule for %s", strings.Join(missing, ", "))
	}
	p.isOutput = make([]bool, plan.NumSlots())
	for _, s := range plan.OutputSlots() {
		p.isOutput[s] = true
	}
	p.releaseAt = make([][]int, n)
	for s, i := range p.lastUse {
		if !isInitializer(plan, s) {
			p.releaseAt[i] = append(p.releaseAt[i], s)
		}
	}
	reached := false
	for _, s := range p.wrtSlot {
		reached = reached || reach[s]
	}
	if !reached {
		what := "no output"
		if outputs != nil {
			what = fmt.Sprintf("output %s", strings.Join(outputs, ", "))
		}
		return nil, fmt.Errorf("backprop: %s does not depend on any of the %d values to differentiate through a differentiable path: %w", what, len(wrt), ErrUnreachable)
	}
	return p, nil
}

func (p *Program) markKeep(slot, step int) {
	p.keep[slot] = true
	if prev, ok := p.lastUse[slot]; !ok || step < prev {
		p.lastUse[slot] = step
	}
}

// ruleFor returns the rule of a node; a Cast to a non-float type passes no gradient.
func ruleFor(n *graph.Node) (Rule, bool) {
	if n.Domain != "" {
		return Rule{}, false
	}
	if castsToNonFloat(n) {
		return Rule{NoGrad: true}, true
	}
	return Lookup(n.OpType)
}

// Reaches reports whether a gradient from the outputs reaches the named value.
func (p *Program) Reaches(name string) bool {
	s, ok := p.plan.Slot(name)
	if !ok {
		return false
	}
	for i, st := range p.steps {
		if !p.active[i] {
			continue
		}
		for j, in := range st.In {
			if in == s && p.need[i][j] {
				return true
			}
		}
	}
	return false
}

// Tape is one forward pass recorded for a backward pass: the outputs, and the activations the
// program's VJPs read.
type Tape struct {
	prog  *Program
	ctx   *graph.Context
	vals  []*tensor.Tensor
	lease *graph.Lease // gives the activations' buffers back to the plan as Backward drops them
	// gradLease holds the buffers of the gradients Backward returned.
	gradLease *arena.Lease
	shapes    [][]int
	types     []tensor.DType
}

// Forward runs the plan, keeping what Backward will need.
func (p *Program) Forward(ctx *graph.Context, inputs map[string]*tensor.Tensor) (*Tape, error) {
	if ctx == nil {
		ctx = &graph.Context{}
	}
	t := &Tape{prog: p, ctx: ctx, shapes: make([][]int, p.plan.NumSlots()), types: make([]tensor.DType, p.plan.NumSlots())}
	record := func(i int, vals []*tensor.Tensor) {
		if !p.active[i] {
			return
		}
		for _, s := range p.steps[i].In {
			if s >= 0 && vals[s] != nil && t.shapes[s] == nil {
				t.shapes[s], t.types[s] = vals[s].Shape(), vals[s].DType()
			}
		}
		for _, s := range p.steps[i].Out {
			if s >= 0 && vals[s] != nil {
				t.shapes[s], t.types[s] = vals[s].Shape(), vals[s].DType()
			}
		}
	}
	vals, lease, err := p.plan.ForwardLeased(ctx, inputs, p.keep, record)
	if err != nil {
		return nil, err
	}
	t.vals, t.lease = vals, lease
	return t, nil
}

// Outputs returns the graph outputs of the recorded pass by name.
func (t *Tape) Outputs() map[string]*tensor.Tensor {
	g := t.prog.plan.Graph
	out := map[string]*tensor.Tensor{}
	for i, s := range t.prog.plan.OutputSlots() {
		out[g.Outputs[i].Name] = t.vals[s]
	}
	return out
}

// Backward propagates the gradients of some graph outputs (seeds, by output name, each of its
// output's shape) back to the program's values, and returns their gradients by name. A value
// that no seeded output reaches gets zeros. The tape's activations are released as the walk
// passes them, so a tape supports one Backward.
//
// The gradients of intermediate values live in buffers that the walk recycles as soon as
// the gradient has been passed on; those returned are the caller's, who may hand them back
// with GiveBackGradients for the next Backward to reuse.
func (t *Tape) Backward(seeds map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
	p := t.prog
	a := p.gradBuffers.Take()
	defer func() { t.gradLease = p.gradBuffers.PutLeased(a) }()
	grads := gradSlots{vals: make([]*tensor.Tensor, p.plan.NumSlots()), arena: a}
	g := p.plan.Graph
	for name, seed := range seeds {
		s, ok := p.plan.Slot(name)
		isOutput := false
		for _, o := range g.Outputs {
			isOutput = isOutput || o.Name == name
		}
		if !ok || !isOutput {
			return nil, fmt.Errorf("backprop: %q is not a graph output", name)
		}
		if v := t.vals[s]; v != nil && !tensor.EqualShapes(v.Shape(), seed.Shape()) {
			return nil, fmt.Errorf("backprop: gradient for output %q has shape %v, the output %v", name, seed.Shape(), v.Shape())
		}
		grads.set(s, seed)
	}
	wrt := map[int]bool{}
	for _, s := range p.wrtSlot {
		wrt[s] = true
	}
	for i := len(p.steps) - 1; i >= 0; i-- {
		if !p.active[i] {
			continue
		}
		st := p.steps[i]
		gradOut := make([]*tensor.Tensor, len(st.Out))
		any := false
		for j, s := range st.Out {
			if s >= 0 && grads.vals[s] != nil {
				gradOut[j], any = grads.vals[s], true
			}
		}
		if any {
			if err := t.step(i, gradOut, &grads); err != nil {
				return nil, err
			}
		}
		for _, s := range st.Out {
			if s >= 0 && !wrt[s] {
				grads.set(s, nil)
			}
		}
		for _, s := range p.releaseAt[i] {
			if !p.isOutput[s] {
				// The caller may still hold a graph output (Outputs); any other value
				// is the tape's alone.
				t.lease.GiveBack(t.vals[s])
			}
			t.vals[s] = nil
		}
	}
	out := make(map[string]*tensor.Tensor, len(p.wrt))
	for k, name := range p.wrt {
		s := p.wrtSlot[k]
		if grads.vals[s] == nil {
			v := p.plan.Graph.Initializers[name]
			if v == nil {
				return nil, fmt.Errorf("backprop: no gradient reached %q", name)
			}
			grads.set(s, tensor.New(v.DType(), v.Shape()...))
		}
		out[name] = grads.vals[s]
	}
	return out, nil
}

// GiveBackGradients says the caller is done with the gradients Backward returned (an
// optimizer has applied them): their buffers serve the program's next Backward. grads must
// hold every gradient Backward returned that is still in use nowhere else; each at most once.
func (t *Tape) GiveBackGradients(grads map[string]*tensor.Tensor) {
	if t.gradLease == nil {
		return
	}
	for _, g := range grads {
		t.gradLease.GiveBack(g)
	}
}

// gradSlots holds the gradient reaching each slot during a backward pass, counting in the
// pass's arena how many slots share each buffer, so that a buffer goes back to the arena when
// no slot holds it any more.
type gradSlots struct {
	vals  []*tensor.Tensor
	arena *arena.Arena
}

// set makes g the gradient of slot s (nil: none any more).
func (gs *gradSlots) set(s int, g *tensor.Tensor) {
	if old := gs.vals[s]; old != nil {
		gs.arena.Drop(old)
	}
	if g != nil {
		gs.arena.Hold(g)
	}
	gs.vals[s] = g
}

// discard gives g's buffer back to the arena unless a slot holds it: a gradient that was
// summed into another.
func (gs *gradSlots) discard(g *tensor.Tensor) {
	gs.arena.Hold(g)
	gs.arena.Drop(g)
}

func isInitializer(plan *graph.Plan, s int) bool {
	for name := range plan.Graph.Initializers {
		if cs, _ := plan.Slot(name); cs == s {
			return true
		}
	}
	return false
}

// step runs one VJP and accumulates its input gradients.
func (t *Tape) step(i int, gradOut []*tensor.Tensor, grads *gradSlots) (err error) {
	p := t.prog
	st, r := p.steps[i], p.rules[i]
	c := &Call{
		Node: st.Node, Kernel: st.Kernel, Ctx: t.ctx, arena: grads.arena,
		In: make([]*tensor.Tensor, len(st.In)), Out: make([]*tensor.Tensor, len(st.Out)),
		InShapes: make([][]int, len(st.In)), InTypes: make([]tensor.DType, len(st.In)),
		Need: p.need[i],
	}
	for _, j := range keptInputs(r, len(st.In)) {
		if st.In[j] >= 0 {
			c.In[j] = t.vals[st.In[j]]
		}
	}
	for _, j := range r.Outputs {
		if j < len(st.Out) && st.Out[j] >= 0 {
			c.Out[j] = t.vals[st.Out[j]]
		}
	}
	for j, s := range st.In {
		if s >= 0 {
			c.InShapes[j], c.InTypes[j] = t.shapes[s], t.types[s]
		}
	}
	gin, err := runVJP(r.VJP, c, gradOut)
	if err != nil {
		return fmt.Errorf("backprop: %s: %w", st.Node, err)
	}
	for j, s := range st.In {
		if s < 0 || !c.Need[j] || j >= len(gin) || gin[j] == nil {
			continue
		}
		gj := gin[j]
		if !tensor.EqualShapes(gj.Shape(), c.InShapes[j]) {
			return fmt.Errorf("backprop: %s: gradient of input %d has shape %v, the input %v", st.Node, j, gj.Shape(), c.InShapes[j])
		}
		if grads.vals[s] == nil {
			grads.set(s, gj)
			continue
		}
		// A value read by several nodes (a shared weight, a residual branch) sums the
		// gradients. The sum is a new tensor: either operand may alias another gradient.
		sum, err := addTensors(c, grads.vals[s], gj)
		if err != nil {
			return fmt.Errorf("backprop: %s: %w", st.Node, err)
		}
		grads.set(s, sum)
		grads.discard(gj)
	}
	return nil
}

func runVJP(f VJPFunc, c *Call, gradOut []*tensor.Tensor) (g []*tensor.Tensor, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error: %v", r)
		}
	}()
	return f(c, gradOut)
}

func addTensors(c *Call, a, b *tensor.Tensor) (*tensor.Tensor, error) {
	if a.DType() != tensor.Float32 || b.DType() != tensor.Float32 {
		if a.DType() != b.DType() {
			return nil, fmt.Errorf("cannot add gradients of types %v and %v", a.DType(), b.DType())
		}
		out := tensor.New(a.DType(), a.Shape()...)
		if d, ok := out.Data().([]float64); ok {
			x, y := tensor.Data[float64](a), tensor.Data[float64](b)
			for i := range d {
				d[i] = x[i] + y[i]
			}
			return out, nil
		}
		return nil, fmt.Errorf("cannot add gradients of type %v", a.DType())
	}
	out := c.newFloat32(a.Shape())
	tensor.AddSame(out.Float32s(), a.Float32s(), b.Float32s())
	return out, nil
}

// keptInputs lists the input positions, below n, whose values a rule's VJP reads.
func keptInputs(r Rule, n int) []int {
	if r.AllInputs {
		all := make([]int, n)
		for j := range all {
			all[j] = j
		}
		return all
	}
	var out []int
	for _, j := range r.Inputs {
		if j < n {
			out = append(out, j)
		}
	}
	return out
}

// Stats reports how much of the plan the backward pass touches: the steps that run a VJP and
// the activations kept for them (initializers and inputs excluded).
func (p *Program) Stats() (activeSteps, keptValues int) {
	for _, a := range p.active {
		if a {
			activeSteps++
		}
	}
	for s, k := range p.keep {
		if k && !isInitializer(p.plan, s) {
			keptValues++
		}
	}
	return activeSteps, keptValues
}
