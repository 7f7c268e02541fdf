package backprop

import (
	"fmt"
	"math"

	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/tensor"
)

// The VJPs of the activation family of graph/ops_activation.go. Relu, Sigmoid, Tanh and the
// softmaxes differentiate from their output (so the walk keeps one tensor, which the next layer
// often keeps anyway); the rest from their input, as PyTorch does.

func init() {
	Register("Relu", Rule{VJP: reluVJP, Outputs: []int{0}})
	Register("Sigmoid", Rule{VJP: sigmoidVJP, Outputs: []int{0}})
	Register("Tanh", Rule{VJP: tanhVJP, Outputs: []int{0}})
	Register("Softplus", Rule{VJP: softplusVJP, Inputs: []int{0}})
	Register("HardSwish", Rule{VJP: hardSwishVJP, Inputs: []int{0}})
	Register("LeakyRelu", Rule{VJP: leakyReluVJP, Inputs: []int{0}})
	Register("Elu", Rule{VJP: eluVJP, Inputs: []int{0}})
	Register("Gelu", Rule{VJP: geluVJP, Inputs: []int{0}})
	Register("Selu", Rule{VJP: seluVJP, Inputs: []int{0}})
	Register("HardSigmoid", Rule{VJP: hardSigmoidVJP, Inputs: []int{0}})
	Register("PRelu", Rule{VJP: preluVJP, Inputs: []int{0, 1}})
	Register("Clip", Rule{VJP: clipVJP, Inputs: []int{0, 1, 2}, NonDiff: []int{1, 2}})
	Register("Softmax", Rule{VJP: softmaxVJP, Outputs: []int{0}})
	Register("LogSoftmax", Rule{VJP: softmaxVJP, Outputs: []int{0}})
}

func reluVJP(c *Call, g []*tensor.Tensor) ([]*tensor.Tensor, error) {
	return ewUnary(c, g, c.Out[0], tensor.ReluGrad[float32], tensor.ReluGrad[float64])
}

func sigmoidVJP(c *Call, g []*tensor.Tensor) ([]*tensor.Tensor, error) {
	return ewUnary(c, g, c.Out[0], tensor.SigmoidGrad[float32], tensor.SigmoidGrad[float64])
}

func tanhVJP(c *Call, g []*tensor.Tensor) ([]*tensor.Tensor, error) {
	return ewUnary(c, g, c.Out[0], tensor.TanhGrad[float32], tensor.TanhGrad[float64])
}

func softplusVJP(c *Call, g []*tensor.Tensor) ([]*tensor.Tensor, error) {
	return ewUnary(c, g, c.In[0], tensor.SoftplusGrad[float32], tensor.SoftplusGrad[float64])
}

func hardSwishVJP(c *Call, g []*tensor.Tensor) ([]*tensor.Tensor, error) {
	return ewUnary(c, g, c.In[0], tensor.HardSwishGrad[float32], tensor.HardSwishGrad[float64])
}

func leakyReluVJP(c *Call, g []*tensor.Tensor) ([]*tensor.Tensor, error) {
	k, err := ewKernelOf[*graph.LeakyRelu](c)
	if err != nil {
		return nil, err
	}
	return ewUnary(c, g, c.In[0],
		func(d, g, x []float32) { tensor.LeakyReluGrad(d, g, x, k.Alpha) },
		func(d, g, x []float64) { tensor.LeakyReluGrad(d, g, x, float64(k.Alpha)) })
}

func eluVJP(c *Call, g []*tensor.Tensor) ([]*tensor.Tensor, error) {
	k, err := ewKernelOf[*graph.Elu](c)
	if err != nil {
		return nil, err
	}
	return ewUnary(c, g, c.In[0],
		func(d, g, x []float32) { tensor.EluGrad(d, g, x, k.Alpha) },
		func(d, g, x []float64) { tensor.EluGrad(d, g, x, float64(k.Alpha)) })
}

func geluVJP(c *Call, g []*tensor.Tensor) ([]*tensor.Tensor, error) {
	k, err := ewKernelOf[*graph.Gelu](c)
	if err != nil {
		return nil, err
	}
	return ewUnary(c, g, c.In[0],
		func(d, g, x []float32) { tensor.GeluGrad(d, g, x, k.Tanh) },
		func(d, g, x []float64) { tensor.GeluGrad(d, g, x, k.Tanh) })
}

func seluVJP(c *Call, g []*tensor.Tensor) ([]*tensor.Tensor, error) {
	k, err := ewKernelOf[*graph.Selu](c)
	if err != nil {
		return nil, err
	}
	return ewUnary(c, g, c.In[0],
		func(d, g, x []float32) { tensor.SeluGrad(d, g, x, k.Alpha, k.Gamma) },
		func(d, g, x []float64) { tensor.SeluGrad(d, g, x, float64(k.Alpha), float64(k.Gamma)) })
}

func hardSigmoidVJP(c *Call, g []*tensor.Tensor) ([]*tensor.Tensor, error) {
	k, err := ewKernelOf[*graph.HardSigmoid](c)
	if err != nil {
		return nil, err
	}
	return ewUnary(c, g, c.In[0],
		func(d, g, x []float32) { tensor.HardSigmoidGrad(d, g, x, k.Alpha, k.Beta) },
		func(d, g, x []float64) { tensor.HardSigmoidGrad(d, g, x, float64(k.Alpha), float64(k.Beta)) })
}

// preluVJP differentiates with respect to X and to the slope, whose gradient is summed over
// the axes it was broadcast along (for nn.PReLU's one slope per channel: over N, H and W).
func preluVJP(c *Call, gradOut []*tensor.Tensor) ([]*tensor.Tensor, error) {
	k, err := ewKernelOf[*graph.PRelu](c)
	if err != nil {
		return nil, err
	}
	res := make([]*tensor.Tensor, 2)
	if gradOut[0] == nil {
		return res, nil
	}
	vals, err := ewComputeAll(gradOut[0], c.In[0], c.In[1])
	if err != nil {
		return nil, err
	}
	g, x, slope := vals[0], vals[1], vals[2]
	if x == nil || slope == nil {
		return nil, fmt.Errorf("PRelu: the forward inputs were not kept")
	}
	sShape, err := k.SlopeShape(x.Shape(), slope.Shape())
	if err != nil {
		return nil, err
	}
	if ewNeed(c, 0) {
		bc, err := tensor.NewBroadcast(x.Shape(), sShape)
		if err != nil {
			return nil, err
		}
		d := tensor.New(g.DType(), g.Shape()...)
		err = ewFloat(g.DType(),
			func() { tensor.PReluGrad(bc, d.Float32s(), g.Float32s(), x.Float32s(), slope.Float32s()) },
			func() {
				tensor.PReluGrad(bc, tensor.Data[float64](d), tensor.Data[float64](g), tensor.Data[float64](x), tensor.Data[float64](slope))
			})
		if err != nil {
			return nil, err
		}
		if res[0], err = ewFinish(d, c.InShapes[0], c.InTypes[0]); err != nil {
			return nil, err
		}
	}
	if ewNeed(c, 1) {
		d := tensor.New(g.DType(), g.Shape()...)
		err = ewFloat(g.DType(),
			func() { tensor.PReluSlopeGrad(d.Float32s(), g.Float32s(), x.Float32s()) },
			func() {
				tensor.PReluSlopeGrad(tensor.Data[float64](d), tensor.Data[float64](g), tensor.Data[float64](x))
			})
		if err != nil {
			return nil, err
		}
		if d, _, err = ewSumTo(d, sShape); err != nil {
			return nil, err
		}
		if res[1], err = ewFinish(d, c.InShapes[1], c.InTypes[1]); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// clipVJP passes the gradient where min <= x <= max, bounds included, as torch.clamp does.
func clipVJP(c *Call, g []*tensor.Tensor) ([]*tensor.Tensor, error) {
	k, err := ewKernelOf[*graph.Clip](c)
	if err != nil {
		return nil, err
	}
	lo, hi := float64(k.Min), float64(k.Max)
	if k.FromInputs {
		lo, hi = math.Inf(-1), math.Inf(1)
		for i, b := range []*float64{&lo, &hi} {
			if !ewPresent(c, i+1) {
				continue // an omitted bound
			}
			if len(c.In) <= i+1 || c.In[i+1] == nil {
				return nil, fmt.Errorf("Clip: bound %d was not kept", i+1)
			}
			*b = c.In[i+1].Float64At(0)
		}
	}
	return ewUnary(c, g, c.In[0],
		func(d, g, x []float32) { tensor.ClipGrad(d, g, x, float32(lo), float32(hi)) },
		func(d, g, x []float64) { tensor.ClipGrad(d, g, x, lo, hi) })
}

// softmaxVJP serves Softmax and LogSoftmax in both forms: the kernel's Dims gives the
// [outer, n, inner] view the forward pass normalised (the 2-D coercion before opset 13, one
// axis from 13).
func softmaxVJP(c *Call, g []*tensor.Tensor) ([]*tensor.Tensor, error) {
	k, err := ewKernelOf[*graph.Softmax](c)
	if err != nil {
		return nil, err
	}
	outer, n, inner, err := k.Dims(c.InShapes[0])
	if err != nil {
		return nil, err
	}
	if k.Log {
		return ewUnary(c, g, c.Out[0],
			func(d, g, y []float32) { tensor.LogSoftmaxGrad(d, g, y, outer, n, inner) },
			func(d, g, y []float64) { tensor.LogSoftmaxGrad(d, g, y, outer, n, inner) })
	}
	return ewUnary(c, g, c.Out[0],
		func(d, g, y []float32) { tensor.SoftmaxGrad(d, g, y, outer, n, inner) },
		func(d, g, y []float64) { tensor.SoftmaxGrad(d, g, y, outer, n, inner) })
}
