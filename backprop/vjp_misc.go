package backprop

import (
	"fmt"

	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/tensor"
)

func init() {
	NotDifferentiable("Mod", "Not")
	Register("ScatterND", Rule{VJP: scatterNDVJP, Inputs: []int{1}, NonDiff: []int{1}})
	Register("ScatterElements", Rule{VJP: scatterElementsVJP, Inputs: []int{1}, NonDiff: []int{1}})
}

// scatterNDVJP: with reduction "none", the scattered slices of the data gradient are zero
// (those elements were overwritten) and the updates receive the output gradient gathered at
// the indices; with "add", data passes the gradient whole.
func scatterNDVJP(c *Call, gradOut []*tensor.Tensor) ([]*tensor.Tensor, error) {
	op := c.Kernel.(*graph.ScatterND)
	if op.Reduction != "none" && op.Reduction != "add" {
		return nil, fmt.Errorf("no gradient for ScatterND reduction %q", op.Reduction)
	}
	g := gradOut[0]
	if dt := g.DType(); dt != tensor.Float32 && dt != tensor.Float64 {
		return nil, fmt.Errorf("ScatterND gradient of %v is not supported", dt)
	}
	indices := c.In[1]
	k := indices.Shape()[indices.Rank()-1]
	shape := c.InShapes[0]
	slice := tensor.Size(shape[k:])
	strides := tensor.Strides(shape)
	idx := indices.ToInt64s()
	n := tensor.Size(indices.Shape()[:indices.Rank()-1])
	out := make([]*tensor.Tensor, 3)
	offsets := make([]int, n)
	for i := 0; i < n; i++ {
		off := 0
		for j := 0; j < k; j++ {
			v := idx[i*k+j]
			if v < 0 {
				v += int64(shape[j])
			}
			off += int(v) * strides[j]
		}
		offsets[i] = off
	}
	scatterGrads(c, out, g, offsets, slice, op.Reduction)
	return out, nil
}

// scatterElementsVJP is scatterNDVJP for ScatterElements: each update is one element.
func scatterElementsVJP(c *Call, gradOut []*tensor.Tensor) ([]*tensor.Tensor, error) {
	op := c.Kernel.(*graph.ScatterElements)
	if op.Reduction != "none" && op.Reduction != "add" {
		return nil, fmt.Errorf("no gradient for ScatterElements reduction %q", op.Reduction)
	}
	g := gradOut[0]
	if dt := g.DType(); dt != tensor.Float32 && dt != tensor.Float64 {
		return nil, fmt.Errorf("ScatterElements gradient of %v is not supported", dt)
	}
	offsets, err := tensor.ScatterElementsOffsets(c.InShapes[0], c.In[1], op.Axis)
	if err != nil {
		return nil, err
	}
	out := make([]*tensor.Tensor, 3)
	scatterGrads(c, out, g, offsets, 1, op.Reduction)
	return out, nil
}

// scatterGrads sets out[0] (data's gradient: g, with the overwritten runs zeroed when the
// reduction is "none") and out[2] (the updates': g gathered at the offsets), where wanted; g
// is float32 or float64.
func scatterGrads(c *Call, out []*tensor.Tensor, g *tensor.Tensor, offsets []int, slice int, reduction string) {
	if g.DType() == tensor.Float64 {
		scatterGradsOf[float64](c, out, g, offsets, slice, reduction)
		return
	}
	scatterGradsOf[float32](c, out, g, offsets, slice, reduction)
}

func scatterGradsOf[T float32 | float64](c *Call, out []*tensor.Tensor, g *tensor.Tensor, offsets []int, slice int, reduction string) {
	gd := tensor.Data[T](g)
	var dData, dUpd []T
	if c.Need[0] {
		out[0] = g.Clone()
		dData = tensor.Data[T](out[0])
	}
	if c.Need[2] {
		out[2] = tensor.New(g.DType(), c.InShapes[2]...)
		dUpd = tensor.Data[T](out[2])
	}
	for i, off := range offsets {
		if dUpd != nil {
			copy(dUpd[i*slice:(i+1)*slice], gd[off:off+slice])
		}
		if dData != nil && reduction == "none" {
			clear(dData[off : off+slice])
		}
	}
}
