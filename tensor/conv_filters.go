package tensor

import "fmt"

// PackedFilters are a 1×1 convolution's filters packed once into the GEMM micro-kernel's
// panels, for a plan whose weights do not change (graph's Plan.FreezeWeights), where Conv
// would pack them again on every call: at batch 1, mobilenet_v2's 1×1 layers at 14×14 and
// 7×7 spent up to a fifth of their time on it, 5% of the model's.
type PackedFilters struct {
	ar                *gemmArch // the kernel they are packed for
	outC, inC, groups int
	panels            [][]float32 // each group's [outC/groups × inC/groups] filters
}

// PackPointwiseFilters packs w, the filters [outC, inC/groups, 1, ...] of a 1×1 convolution
// of inC input channels in groups groups, for the GEMM kernel in use.
func PackPointwiseFilters(w []float32, outC, inC, groups int) (*PackedFilters, error) {
	if groups < 1 || outC%groups != 0 || inC%groups != 0 || len(w) != outC*inC/groups {
		return nil, fmt.Errorf("tensor.PackPointwiseFilters: %d values for %d filters of %d channels in %d groups", len(w), outC, inC, groups)
	}
	ar := gemmCurrent()
	mg, cg := outC/groups, inC/groups
	p := &PackedFilters{ar: ar, outC: outC, inC: inC, groups: groups}
	for grp := range groups {
		p.panels = append(p.panels, packGemmA(ar, w[grp*mg*cg:], cg, mg, cg))
	}
	return p, nil
}

// group returns group grp's panels where the filters fit g and the kernel in use (tests
// switch kernels), nil otherwise.
func (p *PackedFilters) group(g *ConvGeom, grp int) []float32 {
	if p == nil || p.ar != gemmCurrent() || p.outC != g.OutC || p.inC != g.InC || p.groups != g.Group || !g.pointwise() {
		return nil
	}
	return p.panels[grp]
}
