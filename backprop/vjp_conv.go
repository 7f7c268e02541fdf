package backprop

import (
	"fmt"

	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/tensor"
)

// The convolution family's gradients (forward kernels in graph/ops_conv.go). Both operators
// are bilinear in X and W, and each gradient is one of the three products of the same
// geometry (tensor.ConvGeom): the convolution itself, its input gradient (the transposed
// convolution) and its weight gradient. Conv's input gradient is the transposed convolution
// of the output gradient, so ConvTranspose's is the convolution of its output gradient; the
// weight gradients pair the two tensors the other way round. Depthwise geometries take direct
// loops (tensor/conv_grad.go) rather than one tiny GEMM per channel.

func init() {
	Register("Conv", Rule{VJP: convVJP, Inputs: []int{0, 1}})
	Register("ConvTranspose", Rule{VJP: convTransposeVJP, Inputs: []int{0, 1}})
}

// convVJP returns Conv's gradients with respect to X, W and B.
func convVJP(c *Call, gradOut []*tensor.Tensor) ([]*tensor.Tensor, error) {
	gin := make([]*tensor.Tensor, len(c.InShapes))
	if gradOut[0] == nil {
		return gin, nil
	}
	g, _, err := c.Kernel.(*graph.Conv).Geometry(c.InShapes[0], c.InShapes[1])
	if err != nil {
		return nil, err
	}
	dy, err := widened[float32](gradOut[0])
	if err != nil {
		return nil, err
	}
	if c.Need[0] {
		w, err := widened[float32](c.In[1])
		if err != nil {
			return nil, err
		}
		dx := c.floats(tensor.Size(c.InShapes[0])) // both input gradients overwrite it
		if perChannelGrads(g) {
			tensor.DepthwiseConvInputGrad(dx, dy, w, g)
		} else {
			tensor.ConvInputGrad(dx, dy, w, g)
		}
		if gin[0], err = narrowedGrad(c.InTypes[0], c.InShapes[0], dx); err != nil {
			return nil, err
		}
	}
	if c.Need[1] {
		if gin[1], err = convWeightGrad(c, g, c.In[0], dy); err != nil {
			return nil, err
		}
	}
	if len(c.Need) > 2 && c.Need[2] {
		if gin[2], err = convBiasGrad(c, dy, g.Batch, g.OutC, g.OutSize()); err != nil {
			return nil, err
		}
	}
	return gin, nil
}

// convTransposeVJP returns ConvTranspose's gradients with respect to X, W and B. The kernel's
// geometry describes the convolution that ConvTranspose reverses: ConvTranspose's output is
// that convolution's input, and its X the convolution's output.
func convTransposeVJP(c *Call, gradOut []*tensor.Tensor) ([]*tensor.Tensor, error) {
	gin := make([]*tensor.Tensor, len(c.InShapes))
	if gradOut[0] == nil {
		return gin, nil
	}
	g, _, err := c.Kernel.(*graph.ConvTranspose).Geometry(c.InShapes[0], c.InShapes[1])
	if err != nil {
		return nil, err
	}
	dy, err := widened[float32](gradOut[0])
	if err != nil {
		return nil, err
	}
	if c.Need[0] {
		w, err := widened[float32](c.In[1])
		if err != nil {
			return nil, err
		}
		dx := make([]float32, tensor.Size(c.InShapes[0]))
		tensor.Conv(dx, dy, w, nil, g)
		if gin[0], err = narrowedGrad(c.InTypes[0], c.InShapes[0], dx); err != nil {
			return nil, err
		}
	}
	if c.Need[1] {
		// The weight gradient of the forward convolution, with the roles of its input (here
		// the output gradient) and its output gradient (here X) exchanged.
		x, err := widened[float32](c.In[0])
		if err != nil {
			return nil, err
		}
		dw := make([]float32, tensor.Size(c.InShapes[1]))
		if g.Depthwise() {
			tensor.DepthwiseConvWeightGrad(dw, dy, x, g)
		} else {
			tensor.ConvWeightGrad(dw, dy, x, g)
		}
		if gin[1], err = narrowedGrad(c.InTypes[1], c.InShapes[1], dw); err != nil {
			return nil, err
		}
	}
	if len(c.Need) > 2 && c.Need[2] {
		if gin[2], err = convBiasGrad(c, dy, g.Batch, g.InC, g.InSize()); err != nil {
			return nil, err
		}
	}
	return gin, nil
}

// perChannelGrads says whether Conv's gradients take the depthwise kernels, which work one
// channel at a time: for depthwise geometries of several groups. A convolution of one input
// channel (a grayscale stem) is depthwise too, but its one group makes the weight gradient a
// single GEMM over the whole batch, several times faster than a 3x3 kernel's nine dot
// products per row (Fashion-MNIST's first layer: a sixth of a training step).
func perChannelGrads(g *tensor.ConvGeom) bool { return g.Depthwise() && g.Group > 1 }

// convWeightGrad returns Conv's weight gradient for the input x and output gradient dy.
func convWeightGrad(c *Call, g *tensor.ConvGeom, xt *tensor.Tensor, dy []float32) (*tensor.Tensor, error) {
	x, err := widened[float32](xt)
	if err != nil {
		return nil, err
	}
	dw := c.floats(tensor.Size(c.InShapes[1])) // both weight gradients overwrite it
	if perChannelGrads(g) {
		tensor.DepthwiseConvWeightGrad(dw, x, dy, g)
	} else {
		tensor.ConvWeightGrad(dw, x, dy, g)
	}
	return narrowedGrad(c.InTypes[1], c.InShapes[1], dw)
}

// convBiasGrad returns the gradient of the bias, input 2: dy = [batch, channels, spatial]
// summed over the batch and the spatial positions.
func convBiasGrad(c *Call, dy []float32, batch, channels, spatial int) (*tensor.Tensor, error) {
	if tensor.Size(c.InShapes[2]) != channels {
		return nil, fmt.Errorf("B has shape %v, want [%d]", c.InShapes[2], channels)
	}
	db := make([]float32, channels)
	tensor.ConvBiasGrad(db, dy, batch, channels, spatial)
	return narrowedGrad(c.InTypes[2], c.InShapes[2], db)
}
