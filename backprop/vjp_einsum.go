package backprop

import (
	"fmt"

	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/tensor"
)

// The VJP of Einsum (graph/ops_einsum.go). The gradient of operand j is itself an einsum: of
// the output's gradient with every other operand, onto operand j's subscripts
// (tensor.EinsumEquation.Grad), so for Y = einsum("bij,bjk->bik", A, B) it is
// dA = einsum("bik,bjk->bij", dY, B) and runs as the same batched GEMM as the forward pass.

func init() {
	// Every operand is kept: each one's gradient reads all the others.
	Register("Einsum", Rule{VJP: einsumVJP, AllInputs: true})
}

func einsumVJP(c *Call, gradOut []*tensor.Tensor) ([]*tensor.Tensor, error) {
	k, err := ewKernelOf[*graph.Einsum](c)
	if err != nil {
		return nil, err
	}
	res := make([]*tensor.Tensor, len(c.InShapes))
	if gradOut[0] == nil {
		return res, nil
	}
	for j, x := range c.In {
		if x == nil {
			return nil, fmt.Errorf("Einsum: operand %d was not kept", j)
		}
	}
	vals, err := ewComputeAll(append([]*tensor.Tensor{gradOut[0]}, c.In...)...)
	if err != nil {
		return nil, fmt.Errorf("Einsum: %w", err)
	}
	for j := range c.In {
		if !ewNeed(c, j) {
			continue
		}
		g, err := k.Parsed.Grad(nil, vals[0], vals[1:], j)
		if err != nil {
			return nil, err
		}
		if res[j], err = ewFinish(g, c.InShapes[j], c.InTypes[j]); err != nil {
			return nil, err
		}
	}
	return res, nil
}
