package backprop

import (
	"fmt"

	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/tensor"
)

func init() {
	NotDifferentiable("Mod", "Not")
	Register("ScatterND", Rule{VJP: scatterNDVJP, Inputs: []int{1}, NonDiff: []int{1}})
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
	if g.DType() != tensor.Float32 {
		return nil, fmt.Errorf("ScatterND gradient of %v is not supported", g.DType())
	}
	indices := c.In[1]
	k := indices.Shape()[indices.Rank()-1]
	shape := c.InShapes[0]
	slice := tensor.Size(shape[k:])
	strides := tensor.Strides(shape)
	idx := indices.ToInt64s()
	n := tensor.Size(indices.Shape()[:indices.Rank()-1])
	out := make([]*tensor.Tensor, 3)
	var dData []float32
	if c.Need[0] {
		out[0] = g.Clone()
		dData = out[0].Float32s()
	}
	var dUpd []float32
	if c.Need[2] {
		out[2] = tensor.New(tensor.Float32, c.InShapes[2]...)
		dUpd = out[2].Float32s()
	}
	gd := g.Float32s()
	for i := 0; i < n; i++ {
		off := 0
		for j := 0; j < k; j++ {
			v := idx[i*k+j]
			if v < 0 {
				v += int64(shape[j])
			}
			off += int(v) * strides[j]
		}
		if dUpd != nil {
			copy(dUpd[i*slice:(i+1)*slice], gd[off:off+slice])
		}
		if dData != nil && op.Reduction == "none" {
			clear(dData[off : off+slice])
		}
	}
	return out, nil
}
