package tensor

import (
	"fmt"
	"sync"
)

// PackedFilters are a convolution's filters prepared once, for a plan whose weights do not
// change (graph's Plan.FreezeWeights), where Conv would prepare them again on every call, as
// ONNX Runtime does when it creates a session: a 1×1 convolution's packed into the GEMM
// micro-kernel's panels (at batch 1, mobilenet_v2's 1×1 layers at 14×14 and 7×7 spent up to a
// fifth of their time packing them, 5% of the model's), a 3×3 one's Winograd transforms,
// made by the first call that takes each algorithm and kept (resnet18's 64- and 128-channel
// layers transformed 0.6 and 2.4 MB of filters a call; 2% of its run at batch 1), and the
// layout of the direct convolution, made by its first call (squeezenet1_1's 3×3 layers at
// batch 1 spent a fifth of their time laying them out).
type PackedFilters struct {
	ar                *gemmArch // the kernel they are packed for
	outC, inC, groups int
	panels            [][]float32 // 1×1: each group's [outC/groups × inC/groups] filters

	w          []float32             // one group: the filters the forms below are of
	transforms [2]winogradTransforms // 3×3: by algorithm, F(2×2, 3×3) and F(4×4, 3×3)
	direct     directFilters         // the direct convolution's layout
}

// directFilters are filters laid out by packDirectFilters, made once.
type directFilters struct {
	once   sync.Once
	packed []float32
}

// winogradTransforms are one algorithm's transforms of a convolution's filters, planes of
// OutC×InC padded as convWinogradChunks lays them out, made once.
type winogradTransforms struct {
	once sync.Once
	u    []float32
}

// PackConvFilters prepares w, the filters [outC, inC/groups, kernel...] of a convolution of
// inC input channels in groups groups, for Conv: it returns nil, and no error, for filters it
// has nothing to prepare for (kernels of other than two dimensions in groups).
func PackConvFilters(w []float32, outC, inC, groups int, kernel []int) (*PackedFilters, error) {
	taps := Size(kernel)
	if groups < 1 || outC%groups != 0 || inC%groups != 0 || len(w) != outC*inC/groups*taps {
		return nil, fmt.Errorf("tensor.PackConvFilters: %d values for %d filters of %d channels in %d groups, kernel %v", len(w), outC, inC, groups, kernel)
	}
	switch {
	case taps == 1:
		ar := gemmCurrent()
		mg, cg := outC/groups, inC/groups
		p := &PackedFilters{ar: ar, outC: outC, inC: inC, groups: groups}
		for grp := range groups {
			p.panels = append(p.panels, packGemmA(ar, w[grp*mg*cg:], cg, mg, cg))
		}
		if groups == 1 {
			p.w = w
		}
		return p, nil
	case len(kernel) == 2 && groups == 1:
		return &PackedFilters{outC: outC, inC: inC, groups: 1, w: w}, nil
	}
	return nil, nil
}

// group returns group grp's panels where the filters are a 1×1 convolution's that fit g and
// the kernel in use (tests switch kernels), nil otherwise.
func (p *PackedFilters) group(g *ConvGeom, grp int) []float32 {
	if p == nil || p.panels == nil || p.ar != gemmCurrent() || p.outC != g.OutC || p.inC != g.InC || p.groups != g.Group || !g.pointwise() {
		return nil
	}
	return p.panels[grp]
}

// winograd returns alg's transforms of the filters w of g (planes up apart, as
// convWinogradChunks lays them out) where p holds g's 3×3 filters w, nil otherwise.
func (p *PackedFilters) winograd(g *ConvGeom, alg *winogradAlgo, w []float32, up int) []float32 {
	if !p.holds(g, w) {
		return nil
	}
	t := &p.transforms[0]
	if alg == winograd4 {
		t = &p.transforms[1]
	}
	t.once.Do(func() {
		t.u = make([]float32, alg.planes()*up)
		winogradFilterTransforms(t.u, up, alg.gg, w, alg.planes(), g.OutC*g.InC)
	})
	return t.u
}

// holds reports whether p (nil or not) holds the filters w of g, a convolution in one group.
func (p *PackedFilters) holds(g *ConvGeom, w []float32) bool {
	return p != nil && p.w != nil && p.outC == g.OutC && p.inC == g.InC && g.Group == 1 && len(w) == len(p.w) && &w[0] == &p.w[0]
}

// directLayout returns the filters w of g, which p holds, laid out for the direct
// convolution.
func (p *PackedFilters) directLayout(g *ConvGeom, w []float32) []float32 {
	d := &p.direct
	d.once.Do(func() {
		d.packed = make([]float32, directFiltersLen(g.OutC, g.InC*g.KernelSize()))
		packDirectFilters(d.packed, w, g.OutC, g.InC*g.KernelSize())
	})
	return d.packed
}
