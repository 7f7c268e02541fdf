package graph

import (
	"fmt"

	"github.com/onnxtune/onnxtune/tensor"
)

// Operators outside the CNN list that torchvision's transformer-style classifiers reach:
// swin_t builds its shifted-window attention mask with Mod, Not and ScatterND.
func init() {
	for _, since := range []int{10, 13} {
		Register(OpDef{Type: "Mod", Since: since, Build: buildMod})
	}
	Register(OpDef{Type: "Not", Since: 1, Build: func(*Node, int) (Kernel, error) { return KernelFunc(runNot), nil }})
	for _, since := range []int{11, 13, 16, 18} {
		Register(OpDef{Type: "ScatterND", Since: since, Build: buildScatterND})
		Register(OpDef{Type: "ScatterElements", Since: since, Build: buildScatterElements})
	}
}

// Mod is ONNX Mod; Fmod selects C's fmod (sign of the dividend) over Python's %.
type Mod struct{ Fmod bool }

func buildMod(n *Node, _ int) (Kernel, error) {
	a := n.AttrReader()
	m := &Mod{Fmod: a.Int("fmod", 0) != 0}
	return m, a.Err()
}

// Run implements Kernel.
func (m *Mod) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	out, err := tensor.ModTensor(in[0], in[1], m.Fmod)
	if err != nil {
		return nil, err
	}
	return []*tensor.Tensor{out}, nil
}

func runNot(_ *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	x := tensor.Data[bool](in[0])
	if x == nil && in[0].Len() > 0 {
		return nil, fmt.Errorf("Not needs a bool input, got %v", in[0])
	}
	out := tensor.New(tensor.Bool, in[0].Shape()...)
	d := tensor.Data[bool](out)
	for i, v := range x {
		d[i] = !v
	}
	return []*tensor.Tensor{out}, nil
}

// ScatterND is ONNX ScatterND with its reduction: "none", "add", "mul" (16) and "max", "min"
// (18).
type ScatterND struct{ Reduction string }

func buildScatterND(n *Node, opset int) (Kernel, error) {
	a := n.AttrReader()
	s := &ScatterND{Reduction: scatterReduction(a, opset)}
	return s, a.Err()
}

// scatterReduction reads the scatters' reduction attribute: "none", "add" and "mul" from
// opset 16, "max" and "min" from 18.
func scatterReduction(a *Attrs, opset int) string {
	r := a.String("reduction", "none")
	switch r {
	case "none":
	case "add", "mul":
		if opset < 16 {
			a.Fail("reduction %q needs opset 16", r)
		}
	case "max", "min":
		if opset < 18 {
			a.Fail("reduction %q needs opset 18", r)
		}
	default:
		a.Fail("reduction %q is not supported", r)
	}
	return r
}

// ScatterElements is ONNX ScatterElements (opset 11 on): each element of updates written to,
// or reduced into, data at its own position but for the coordinate along Axis, which the
// matching element of indices gives.
type ScatterElements struct {
	Axis      int
	Reduction string
}

func buildScatterElements(n *Node, opset int) (Kernel, error) {
	if len(n.Inputs) != 3 {
		return nil, fmt.Errorf("has %d inputs, want data, indices and updates", len(n.Inputs))
	}
	a := n.AttrReader()
	s := &ScatterElements{Axis: int(a.Int("axis", 0)), Reduction: scatterReduction(a, opset)}
	return s, a.Err()
}

// Run implements Kernel.
func (s *ScatterElements) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if dt := in[1].DType(); dt != tensor.Int64 && dt != tensor.Int32 {
		return nil, fmt.Errorf("indices must be int32 or int64, got %v", dt)
	}
	out, err := tensor.ScatterElements(in[0], in[1], in[2], s.Axis, s.Reduction)
	if err != nil {
		return nil, err
	}
	return []*tensor.Tensor{out}, nil
}

// Run implements Kernel.
func (s *ScatterND) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if in[1].DType() != tensor.Int64 {
		return nil, fmt.Errorf("indices must be int64, got %v", in[1].DType())
	}
	out, err := tensor.ScatterND(in[0], in[1], in[2], s.Reduction)
	if err != nil {
		return nil, err
	}
	return []*tensor.Tensor{out}, nil
}
