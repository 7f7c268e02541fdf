package graph

import (
	"fmt"

	"github.com/onnxtune/onnxtune/tensor"
)

// FreezeWeights declares that the graph's initializers will not change while the plan is in
// use, so that its convolutions prepare their filters once (tensor.PackConvFilters) instead
// of on every run, as ONNX Runtime does when it creates a session: the filters of 1×1
// convolutions of stride 1 without padding packed into the GEMM kernel's layout (at batch 1,
// 5% of mobilenet_v2's time and 2-3% of squeezenet1_1's), the Winograd transforms of 3×3
// ones and the direct convolution's layout kept from their first run (2% of resnet18's at
// batch 1, a fifth of squeezenet1_1's 3×3 layers'). A caller that changes a weight
// afterwards (an optimizer step, a finite-difference check) would get results from the old
// filters: such callers must not freeze. FreezeWeights must not run concurrently with the
// plan's runs.
func (p *Plan) FreezeWeights() error {
	prepared := map[int]*tensor.PackedFilters{} // by the filters' slot: a fused copy of a Conv shares them
	for _, steps := range [][]step{p.steps, p.fused} {
		for i := range steps {
			st := &steps[i]
			conv := convOf(st.kernel)
			if conv == nil || conv.filters != nil || len(st.in) < 2 {
				continue
			}
			w := p.constantAt(st.in[1])
			if w == nil || w.DType() != tensor.Float32 || w.Rank() < 3 || w.Shape()[1] == 1 {
				continue // the depthwise kernels read the filters as they are
			}
			f, ok := prepared[st.in[1]]
			if !ok {
				var err error
				shape := w.Shape()
				if f, err = tensor.PackConvFilters(w.Float32s(), shape[0], shape[1]*conv.Group, conv.Group, shape[2:]); err != nil {
					return fmt.Errorf("graph: %s: %w", st.node, err)
				}
				prepared[st.in[1]] = f
			}
			conv.filters = f
		}
	}
	return nil
}

// convOf returns the Conv a kernel runs, fused or not; nil for other kernels.
func convOf(k Kernel) *Conv {
	switch k := k.(type) {
	case *Conv:
		return k
	case *convResidual:
		return k.Conv
	case *convIntoConcat:
		return k.Conv
	}
	return nil
}
