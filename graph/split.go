package graph

import (
	"fmt"
	"runtime"
	"slices"

	"github.com/onnxtune/onnxtune/internal/parallel"
	"github.com/onnxtune/onnxtune/tensor"
)

// Splitting the batch: Run and RunInto give each core a part of the batch and run the whole
// plan on it there, every kernel's loops on that core alone (parallel.Shards), instead of
// spreading each kernel's loops over the cores. On the 2-core Zen 5 EPYC a kernel spread
// over both cores passes cache lines between them (the halves of an output one core wrote
// and the other reads next; scratch one core used last): copying a buffer of 64 KB to
// 768 KB took 1.5-1.65 times as long when the two cores swapped buffers from one call to
// the next as when each kept its own. Timed step by step, resnet18 at batch 8 ran 1.41
// times faster on 2 cores than on 1, its 512-channel layers 1.04-1.13 times, squeezenet1_1
// at batch 1 not at all; ONNX Runtime's 1.8-1.9 times. With a part of the batch per core,
// each core's activations stay in its own cache: alternated runs of onnxtune bench, split
// against whole, resnet18 at batch 8 83-86 against 92-96 ms, mobilenet_v2 29.3-29.5
// against 34.7-35.2 ms, squeezenet1_1 26.3-27.4 against 33.3-34.1 ms, and at batch 2 7-19%
// faster. A plan splits when its examples are independent (examplesIndependent) and a run
// is inference.

// examplesIndependent reports whether every example of a batch flows through the plan on its
// own: the graph's inputs and outputs are float32 with a batch dimension the model leaves
// symbolic, and every node computes its output's examples from the same examples of its
// inputs (an op on the list below, with attributes that keep to the batch axis), or is
// computed from constants alone. Constants broadcast against the batch need a batch
// dimension of 1, or none, since the model takes batches of any size. Runs of such a plan
// give the same outputs split by examples as whole.
func (p *Plan) examplesIndependent() bool {
	g := p.Graph
	for _, vi := range append(slices.Clip(g.Inputs), g.Outputs...) {
		if vi.DType != tensor.Float32 || len(vi.Shape) < 2 || vi.Shape[0].Size >= 0 {
			return false
		}
	}
	constant := map[string]bool{"": true} // an omitted optional input carries no examples
	for _, name := range g.InitializerNames {
		constant[name] = true
	}
	for _, n := range g.Nodes {
		fromConstants := n.OpType != "Shape" && n.OpType != "Size"
		for _, in := range n.Inputs {
			fromConstants = fromConstants && constant[in]
		}
		if fromConstants && n.Domain == "" {
			for _, out := range n.Outputs {
				constant[out] = true
			}
			continue
		}
		if n.Domain != "" || !keepsExamples(n, func(name string) *tensor.Tensor { return p.constantNamed(name, constant) }) {
			return false
		}
	}
	for _, out := range g.Outputs {
		if constant[out.Name] {
			return false
		}
	}
	return true
}

// constantNamed is the value of the initializer or hoisted Constant named name, nil when
// there is none or it is computed at run time.
func (p *Plan) constantNamed(name string, constant map[string]bool) *tensor.Tensor {
	s, ok := p.slots[name]
	if !constant[name] || !ok {
		return nil
	}
	return p.constantAt(s)
}

// perExample are the ops that compute each example of their outputs from the same example of
// their inputs whatever their attributes (element-wise ones, with constants broadcast, and
// those over the channel and spatial axes).
var perExample = map[string]bool{
	"Abs": true, "Add": true, "AveragePool": true, "BatchNormalization": true, "Cast": true,
	"Ceil": true, "Clip": true, "Conv": true, "ConvTranspose": true, "Div": true, "Dropout": true,
	"Elu": true, "Erf": true, "Exp": true, "Floor": true, "GlobalAveragePool": true,
	"GlobalMaxPool": true, "HardSigmoid": true, "HardSwish": true, "Identity": true,
	"InstanceNormalization": true, "LRN": true, "LeakyRelu": true, "Log": true, "LpPool": true,
	"Max": true, "MaxPool": true, "Mean": true, "Min": true, "Mul": true, "Neg": true, "PRelu": true,
	"Pow": true, "Reciprocal": true, "Relu": true, "Selu": true, "Sigmoid": true, "Softplus": true,
	"Softsign": true, "Sqrt": true, "Sub": true, "Sum": true, "Tanh": true,
}

// keepsExamples reports whether node n computes each example of its outputs from the same
// example of its inputs, given the constant values (constantOf returns nil for the others).
func keepsExamples(n *Node, constantOf func(string) *tensor.Tensor) bool {
	if perExample[n.OpType] {
		// BatchNormalization in training mode mixes the batch; Run's inference never asks for
		// it, but a node that says so is left whole.
		return n.OpType != "BatchNormalization" || n.AttrReader().Int("training_mode", 0) == 0
	}
	a := n.AttrReader()
	switch n.OpType {
	case "Concat", "Flatten", "Softmax", "LogSoftmax":
		return a.Int("axis", 1) >= 1 // axis 1 is Flatten's and the opset 1-12 Softmax's default
	case "Gemm":
		// A's rows are the examples; B and C are constants (C broadcast over the rows).
		return a.Int("transA", 0) == 0 && len(n.Inputs) >= 2 && constantOf(n.Inputs[1]) != nil &&
			(len(n.Inputs) < 3 || constantOf(n.Inputs[2]) != nil)
	case "MatMul":
		return len(n.Inputs) == 2 && constantOf(n.Inputs[1]) != nil && constantOf(n.Inputs[1]).Rank() == 2
	case "Transpose":
		perm := a.Ints("perm", nil)
		return len(perm) > 0 && perm[0] == 0
	case "Reshape":
		// A constant shape whose first entry keeps the batch (0; then a -1 among the others
		// is inferred from an example's size) or is inferred from the others (-1; then
		// they are all fixed, or 0 copying an example's dimension).
		if len(n.Inputs) != 2 || a.Int("allowzero", 0) != 0 {
			return false
		}
		shape := constantOf(n.Inputs[1])
		if shape == nil || shape.DType() != tensor.Int64 || shape.Len() == 0 {
			return false
		}
		s := shape.Int64s()
		least := int64(-1) // after a 0
		if s[0] == -1 {
			least = 0
		} else if s[0] != 0 {
			return false
		}
		for _, d := range s[1:] {
			if d < least {
				return false
			}
		}
		return true
	}
	return false
}

// shardsFor returns how many parts of the batch a run of inputs splits into: one per core,
// at most one per example; 1 when the run does not split.
func (p *Plan) shardsFor(ctx *Context, inputs map[string]*tensor.Tensor) int {
	if !p.splits || ctx != nil && (ctx.Training || ctx.BatchStats != nil) {
		return 1
	}
	if len(inputs) != len(p.Graph.Inputs) {
		return 1 // feed reports the missing or unknown one
	}
	batch := -1
	syms := map[string]int{}
	for _, vi := range p.Graph.Inputs {
		// An input feed would refuse runs whole, so that its error names the caller's shape;
		// an accepted one is float32 of the declared rank (examplesIndependent).
		x := inputs[vi.Name]
		if x == nil || checkInput(vi, x, syms) != nil {
			return 1
		}
		if b := x.Shape()[0]; batch < 0 {
			batch = b
		} else if b != batch {
			return 1
		}
	}
	return max(1, min(runtime.GOMAXPROCS(0), batch))
}

// batchShards is a split run: each part's inputs (views of the caller's rows) and the
// outputs its run gave, kept from one run to the next so that a steady state allocates
// nothing. The views keep the caller's last inputs alive until the plan's next split run.
type batchShards struct {
	p     *Plan
	ctx   *Context
	parts []shardPart
}

// shardPart is one part of the batch: examples [lo, hi) of every input.
type shardPart struct {
	lo, hi  int
	inputs  map[string]*tensor.Tensor
	sources map[string]*tensor.Tensor // the caller's input each view was made of
	outputs map[string]*tensor.Tensor
	err     error
}

func newShardPart() shardPart {
	return shardPart{inputs: map[string]*tensor.Tensor{}, sources: map[string]*tensor.Tensor{}, outputs: map[string]*tensor.Tensor{}}
}

// show makes sp part i of shards of a batch of inputs (declared as ins): its inputs views of
// those examples, the last run's where they still show them.
func (sp *shardPart) show(ins []ValueInfo, inputs map[string]*tensor.Tensor, batch, shards, i int) {
	lo, hi := batch*i/shards, batch*(i+1)/shards
	if sp.lo != lo || sp.hi != hi {
		clear(sp.sources)
		sp.lo, sp.hi = lo, hi
	}
	for _, vi := range ins {
		if x := inputs[vi.Name]; sp.sources[vi.Name] != x {
			sp.inputs[vi.Name] = exampleRows(x, lo, hi)
			sp.sources[vi.Name] = x
		}
	}
}

// Run runs the plan on part i.
func (b *batchShards) Run(i int) {
	sp := &b.parts[i]
	sp.err = b.p.runWhole(b.ctx, sp.inputs, sp.outputs)
}

// runSplit is RunInto split into shards parts of the batch, each run whole on a core of its
// own (parallel.Shards), their outputs then put together in outputs.
func (p *Plan) runSplit(ctx *Context, inputs, outputs map[string]*tensor.Tensor, shards int) error {
	b, ok := p.shardSets.Get()
	if !ok {
		b = &batchShards{p: p}
	}
	defer p.shardSets.Put(b)
	b.ctx = ctx
	defer func() { b.ctx = nil }()
	batch := inputs[p.Graph.Inputs[0].Name].Shape()[0]
	for len(b.parts) < shards {
		b.parts = append(b.parts, newShardPart())
	}
	parts := b.parts[:shards]
	for i := range parts {
		parts[i].show(p.Graph.Inputs, inputs, batch, shards, i)
	}
	parallel.Shards(shards, shards, b)
	for i := range parts {
		if err := parts[i].err; err != nil {
			parts[i].err = nil
			return err
		}
	}
	return p.gatherOutputs(outputs, parts, batch)
}

// gatherOutputs puts the parts' outputs together into outputs (gatherExamples).
func (p *Plan) gatherOutputs(outputs map[string]*tensor.Tensor, parts []shardPart, batch int) error {
	for _, out := range p.Graph.Outputs {
		if err := gatherExamples(outputs, out.Name, parts, batch); err != nil {
			return err
		}
	}
	return nil
}

// sameRest reports whether shapes a and b agree past their first (batch) dimension.
func sameRest(a, b []int) bool {
	return len(a) == len(b) && slices.Equal(a[1:], b[1:])
}

// exampleRows is a view of examples [lo, hi) of x, float32 with the batch first.
func exampleRows(x *tensor.Tensor, lo, hi int) *tensor.Tensor {
	shape := slices.Clone(x.Shape())
	row := tensor.Size(shape[1:])
	shape[0] = hi - lo
	return tensor.From(shape, x.Float32s()[lo*row:hi*row])
}

// gatherExamples puts the parts' output name together into outputs[name]: into the tensor
// there when it is float32 of the whole output's shape, into a new one otherwise.
func gatherExamples(outputs map[string]*tensor.Tensor, name string, parts []shardPart, batch int) error {
	first := parts[0].outputs[name].Shape()
	for i := range parts {
		v := parts[i].outputs[name]
		if v.DType() != tensor.Float32 || !sameRest(v.Shape(), first) || len(first) == 0 || v.Shape()[0] != parts[i].hi-parts[i].lo {
			return fmt.Errorf("graph: output %q of examples %d to %d is %s, not their part of the batch", name, parts[i].lo, parts[i].hi, v)
		}
	}
	dst := outputs[name]
	if dst == nil || dst.DType() != tensor.Float32 || !sameRest(dst.Shape(), first) || dst.Shape()[0] != batch {
		shape := slices.Clone(first)
		shape[0] = batch
		dst = tensor.New(tensor.Float32, shape...)
	}
	d, row := dst.Float32s(), tensor.Size(first[1:])
	for i := range parts {
		copy(d[parts[i].lo*row:], parts[i].outputs[name].Float32s())
	}
	outputs[name] = dst
	return nil
}
