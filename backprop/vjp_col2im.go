package backprop

import (
	"fmt"

	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/tensor"
)

// Col2Im adds each block's values onto the image cells they cover, so the gradient of a
// block's value is the output's gradient at its cell: the im2col of the output's gradient
// (zero where a block reaches into the padding).

func init() {
	Register("Col2Im", Rule{VJP: col2ImVJP, Inputs: []int{1, 2}, NonDiff: []int{1, 2}})
}

func col2ImVJP(c *Call, gradOut []*tensor.Tensor) ([]*tensor.Tensor, error) {
	res := make([]*tensor.Tensor, len(c.InShapes))
	if gradOut[0] == nil || !c.Need[0] {
		return res, nil
	}
	k, err := ewKernelOf[*graph.Col2Im](c)
	if err != nil {
		return nil, err
	}
	g, _, err := k.Geometry(c.InShapes[0], c.In[1], c.In[2])
	if err != nil {
		return nil, err
	}
	gy, err := ewCompute(gradOut[0])
	if err != nil {
		return nil, err
	}
	dy := gy.Float32s()
	if dy == nil {
		return nil, fmt.Errorf("Col2Im gradient of %v is not supported", gy.DType())
	}
	inSize, outSize, ks := g.InSize(), g.OutSize(), g.KernelSize()
	rows := tensor.Size(g.OutShape[:len(g.OutShape)-1])
	d := c.floats(g.Batch * g.InC * ks * outSize)
	for n := range g.Batch {
		tensor.Im2Col(d[n*g.InC*ks*outSize:], dy[n*g.InC*inSize:], g.InC, g, 0, rows)
	}
	res[0], err = ewFinish(tensor.From(c.InShapes[0], d), c.InShapes[0], c.InTypes[0])
	return res, err
}
