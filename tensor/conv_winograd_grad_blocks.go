package tensor

import "github.com/onnxtune/onnxtune/internal/parallel"

// winogradGradBlockOut is how many output channels convWinogradWeightGradBlocks sums at a
// time: F(4×4, 3×3)'s 36 planes of sums for 16 filters of 512 channels (1.2 MB) stay near
// the core. resnet18's 512 channels at 7×7, batch 8, took 7.7-8.1 ms with 16, 8.1-9.0 with
// 32 and 9.1-9.3 with 64; its 128 and 256 channels tied.
const winogradGradBlockOut = 16

// convWinogradWeightGradBlocks is convWinogradWeightGrad for layers with few tiles and many
// filters (winogradGradByBlocks). By chunks, each core's sums for every filter (16.8 MB for
// 512 channels under F(2×2, 3×3)) went to memory and back, to be turned into the gradient
// by a product nine columns wide, and each chunk's products packed the transformed input
// again. Here every tile is transformed once (the input on one core, the output gradient
// on another), the transformed input is packed once per plane as the products' B
// (gemmPackedB), and the sums are taken for a block of output channels at a time, each
// turned into its block's gradient while it is in cache.
func convWinogradWeightGradBlocks(dw, x, dy []float32, g *ConvGeom, procs int) {
	alg := g.winogradWeightGradAlgo()
	planes := alg.planes()
	ic, oc := g.InC, g.OutC
	th, tw := alg.tiles(g)
	tileRows := g.Batch * th
	n := tileRows * tw
	vp, dp := ic*n+winogradPlanePad, oc*n+winogradPlanePad
	vbuf, dbuf := convGetCol(planes*vp), convGetCol(planes*dp)
	defer convPutCol(vbuf)
	defer convPutCol(dbuf)
	v, d := *vbuf, *dbuf
	parallel.For(2, procs, func(i int) {
		sbuf := convGetCol(alg.scratch(tw))
		if i == 0 {
			alg.input(v, vp, x, g, 0, tileRows, n, *sbuf)
		} else {
			alg.outputGrad(d, dp, dy, g, 0, tileRows, n, *sbuf)
		}
		convPutCol(sbuf)
	})

	// Plane ξ's sums are D_ξ [OutC × tiles] by V_ξᵀ [tiles × InC].
	ar := gemmCurrent()
	packed, pbuf := packWinogradPlanes(ar, v, vp, planes, true, n, n, ic, procs)
	defer packed.release(pbuf)

	ob := min(oc, winogradGradBlockOut)
	blocks := (oc + ob - 1) / ob
	parallel.For(blocks, procs, func(bi int) {
		o0 := bi * ob
		no := min(ob, oc-o0)
		mp := no*ic + winogradPlanePad
		mbuf := convGetCol(planes * mp)
		m := *mbuf
		for xi := range planes {
			packed.planes[xi].mul(no, d[xi*dp+o0*n:], n, m[xi*mp:], ic)
		}
		winogradSumsToFilters(ar, dw[o0*ic*9:], m, mp, no*ic, alg.gg, planes)
		convPutCol(mbuf)
	})
}

// winogradFilterChunk is how many filters winogradSumsToFilters turns at a time.
const winogradFilterChunk = 1024

// winogradSumsToFilters sets dw[f*9+t] = Σ_ξ m[ξ*mp+f]·gg[ξ*9+t] for the nf filters f: the
// sums of planes planes turned into 3×3 gradients by G⊗G. A product nine columns wide
// (filters by taps) would run every tile of the micro-kernel as an edge tile; instead the
// product is taken taps by filters, and its first eight rows are interleaved into the
// filters' nine values by the packing's 8×8 transposes, the ninth copied after.
func winogradSumsToFilters(ar *gemmArch, dw, m []float32, mp, nf int, gg []float32, planes int) {
	var ggT [9 * 36]float32
	for xi := range planes {
		for t := range 9 {
			ggT[t*planes+xi] = gg[xi*9+t]
		}
	}
	obuf := convGetCol(9 * winogradFilterChunk)
	defer convPutCol(obuf)
	out := *obuf
	for f0 := 0; f0 < nf; f0 += winogradFilterChunk {
		nc := min(winogradFilterChunk, nf-f0)
		gemm(ar, 1, false, false, 9, nc, planes, 1, ggT[:9*planes], planes, m[f0:], mp, 0, out, nc, gemmEpilogue{})
		d := dw[f0*9 : (f0+nc)*9]
		p := gemmInterleave8(d, 9, out, nc, nc)
		for ; p < nc; p++ {
			for t := range 8 {
				d[p*9+t] = out[t*nc+p]
			}
		}
		for f, v := range out[8*nc : 9*nc] {
			d[f*9+8] = v
		}
	}
}
