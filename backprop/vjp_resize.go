package backprop

import (
	"fmt"

	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/tensor"
)

// Resize interpolates one axis after another (last to first), each output a weighted sum of
// input cells, so its gradient runs the transposed interpolations in the opposite order
// (first axis to last): each cell collects the output gradients times the weights it was read
// with. Outputs that tf_crop_and_resize extrapolated pass nothing back.

func init() {
	Register("Resize", Rule{VJP: resizeVJP, Inputs: []int{1, 2, 3}, NonDiff: []int{1, 2, 3}})
}

func resizeVJP(c *Call, gradOut []*tensor.Tensor) ([]*tensor.Tensor, error) {
	res := make([]*tensor.Tensor, len(c.InShapes))
	if gradOut[0] == nil || !c.Need[0] {
		return res, nil
	}
	k, err := ewKernelOf[*graph.Resize](c)
	if err != nil {
		return nil, err
	}
	xShape := c.InShapes[0]
	in := append([]*tensor.Tensor{nil}, c.In[1:]...)
	out, plan, err := k.Plan(xShape, in)
	if err != nil {
		return nil, err
	}
	g, err := ewCompute(gradOut[0])
	if err != nil {
		return nil, err
	}
	if !tensor.EqualShapes(g.Shape(), out) {
		return nil, fmt.Errorf("Resize: a gradient of shape %v for an output of %v", g.Shape(), out)
	}
	var d *tensor.Tensor
	err = ewFloat(g.DType(), func() {
		d = tensor.From(xShape, resizeGrad(g.Float32s(), out, plan))
	}, func() {
		d = tensor.From(xShape, resizeGrad(tensor.Data[float64](g), out, plan))
	})
	if err != nil {
		return nil, err
	}
	res[0], err = ewFinish(d, xShape, c.InTypes[0])
	return res, err
}

// resizeGrad returns the gradient of resizeRun's input given its output's gradient g, of
// shape out.
func resizeGrad[T tensor.Float](g []T, out []int, plan []*tensor.ResizeAxis) []T {
	cur := append([]T(nil), g...)
	sh := append([]int(nil), out...)
	for a, ra := range plan {
		if ra == nil {
			continue
		}
		sh[a] = ra.In
		prev := make([]T, tensor.Size(sh))
		tensor.ResizeApplyGrad(prev, cur, sh, a, ra)
		cur = prev
	}
	return cur
}
