package graph

import (
	"github.com/onnxtune/onnxtune/internal/arena"
	"github.com/onnxtune/onnxtune/tensor"
)

// Kernel runs one node. A kernel is built once per plan from the node's attributes (so that
// attribute parsing and validation happen at load time, not per run) and may then run many
// times, concurrently for different runs: Run must not mutate the kernel.
type Kernel interface {
	// Run computes the node's outputs from its inputs. in has one entry per node input, nil
	// for an omitted optional input. It returns one tensor per node output; a nil entry is
	// allowed for an optional output that the node does not produce. Inputs must not be
	// modified: they may be initializers or feed other nodes.
	Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error)
}

// KernelFunc adapts a function to Kernel.
type KernelFunc func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error)

// Run calls f.
func (f KernelFunc) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	return f(ctx, in)
}

// BuildFunc makes the kernel for one node at the model's opset of the node's domain, checking
// its attributes. Errors should name the node (Attrs does).
type BuildFunc func(n *Node, opset int) (Kernel, error)

// Context carries what a kernel may need beyond its inputs during one run.
type Context struct {
	// Training selects training behaviour where an op has one (Dropout, BatchNormalization
	// with training_mode). Inference is the default.
	Training bool
	// BatchStats, when set, is called by every BatchNormalization that normalises with batch
	// statistics, with the node, the per-channel batch mean and biased variance, and the
	// number of values each was computed over. Fine-tuning uses it to update running
	// statistics the way PyTorch does (with the unbiased variance). It may be called from the
	// goroutine running the plan only.
	BatchStats func(n *Node, mean, biasedVar []float64, count int)

	// arena recycles the buffers of the run's intermediates (Plan.Forward sets it on its own
	// copy of the Context); nil outside a run.
	arena *arena.Arena
	// vals is the run's values by slot, for the fused kernels that write into a value other
	// than their own output (convIntoConcat); nil outside a run.
	vals []*tensor.Tensor
	// differentiated is set when a backward pass will differentiate the run's values
	// (Plan.ForwardLeased): Conv and ConvTranspose then keep to their precise algorithms
	// (tensor.ConvGeom.Precise).
	differentiated bool
	// result is the room one returns a kernel's single output in, during a run.
	result [1]*tensor.Tensor
	// conv is the room convGeom gives the convolution running, during a run.
	conv tensor.ConvGeom
}

// floats returns n float32s of unspecified value for a kernel's output, which the kernel
// must overwrite entirely: from the run's arena inside Plan.Forward, fresh otherwise.
func (c *Context) floats(n int) []float32 {
	if c == nil {
		return arena.Uninitialized(n)
	}
	return c.arena.Floats(n)
}

// zeros is floats set to zero, for kernels that accumulate into their output.
func (c *Context) zeros(n int) []float32 {
	if c == nil || c.arena == nil {
		return make([]float32, n)
	}
	return c.arena.Zeros(n)
}

// tensor wraps y, from floats, as the float32 output of the given shape (arena.Tensor).
func (c *Context) tensor(shape []int, y []float32) *tensor.Tensor {
	if c == nil {
		return tensor.From(shape, y)
	}
	return c.arena.Tensor(shape, y)
}

// reshaped is x.Reshape(shape...), a view sharing x's elements; a float32 one comes through
// the run's arena, like tensor's outputs.
func (c *Context) reshaped(x *tensor.Tensor, shape ...int) (*tensor.Tensor, error) {
	if v := x.Float32s(); c != nil && c.arena != nil && len(v) > 0 {
		if n, err := tensor.SizeChecked(shape); err == nil && n == len(v) {
			return c.arena.Tensor(shape, v), nil
		}
	}
	return x.Reshape(shape...)
}

// convGeom returns room for the geometry of the convolution about to run (set from g), in the
// run's Context when there is one: the tensor kernels share the geometry with the goroutines
// they run on, so a geometry of the kernel's own would be allocated at every call.
func (c *Context) convGeom(g tensor.ConvGeom) *tensor.ConvGeom {
	if c == nil || c.arena == nil {
		room := new(tensor.ConvGeom)
		*room = g
		return room
	}
	c.conv = g
	return &c.conv
}

// recycle hands back a buffer from floats that the kernel used as scratch and returns no
// view of, for a later request of the run.
func (c *Context) recycle(v []float32) {
	if c != nil && c.arena != nil {
		c.arena.Give(v[:cap(v)])
	}
}

// one returns a single output, the common case. Inside a run it hands it over in the run's
// room for it, which the plan empties before the next kernel runs: a kernel that runs
// another (convResidual) must take the output out before it runs a third.
func (c *Context) one(t *tensor.Tensor) ([]*tensor.Tensor, error) {
	if c == nil || c.arena == nil {
		return []*tensor.Tensor{t}, nil
	}
	c.result[0] = t
	return c.result[:], nil
}
