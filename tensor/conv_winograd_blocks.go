package tensor

import (
	"slices"

	"github.com/onnxtune/onnxtune/internal/freelist"
	"github.com/onnxtune/onnxtune/internal/parallel"
)

// winogradByBlocks reports whether convWinogradWith takes g by blocks of output channels
// (convWinogradBlocks): a geometry useWinograd takes, with at least 256 input channels and
// at most 128 tiles of 4×4 output over the batch, where the filters outweigh the tiles.
// Measured (BenchmarkConvWinograd, BenchmarkConvInputGrad3x3, batch 8, best of four or five
// alternated runs, by chunks against by blocks): resnet18's 512 channels at 7×7 (32 tiles)
// 9.5 -> 8.1 ms forward and 9.5 -> 8.7 for the input gradient; 256 at 14×14 (128 tiles)
// 6.8 -> 7.1 forward, 8.1 -> 6.0 for the input gradient; the 128 channels at 28×28 (392
// tiles) lost, 5.3 -> 6.3 forward.
func (g *ConvGeom) winogradByBlocks() bool {
	if !g.useWinograd() {
		return false
	}
	th, tw := winogradTiles(g, 4)
	return g.InC >= 256 && g.Batch*th*tw <= 128
}

// winogradBlockOut is how many output channels convWinogradBlocks takes at a time, as many
// as convWinogradWeightGradBlocks sums.
const winogradBlockOut = winogradGradBlockOut

// convWinogradBlocks is convWinogradWith for few tiles and many filters (winogradByBlocks).
// By chunks of tiles, the filters' transforms (16.8 MB under F(2×2, 3×3) for 512 channels,
// 37.7 MB under F(4×4, 3×3)) went to memory, and each chunk's products packed them again.
// Here the tiles are transformed once and packed once per plane as the products' B
// (gemmPackedB); then, a block of output channels at a time, the block's filters are
// transformed, multiplied and turned into output while they are in cache.
func convWinogradBlocks(y, x, w, bias []float32, g *ConvGeom, procs int, flipped bool) {
	alg := g.winogradAlgo()
	planes := alg.planes()
	ic, oc := g.InC, g.OutC
	th, tw := alg.tiles(g)
	tileRows := g.Batch * th
	n := tileRows * tw
	vp := ic*n + winogradPlanePad
	vbuf := convGetCol(planes * vp)
	defer convPutCol(vbuf)
	v := *vbuf
	sbuf := convGetCol(alg.scratch(tw))
	alg.input(v, vp, x, g, 0, tileRows, n, *sbuf)
	convPutCol(sbuf)

	ar := gemmCurrent()
	packed, pbuf := packWinogradPlanes(ar, v, vp, planes, false, n, ic, n, procs)
	defer packed.release(pbuf)

	gg := alg.gg
	if flipped {
		gg = alg.flippedGG
	}
	ob := min(oc, winogradBlockOut)
	parallel.ForEachIn(&winogradBlockBodies, (oc+ob-1)/ob, procs, winogradBlock{
		y: y, w: w, bias: bias, gg: gg, g: g, alg: alg, ar: ar, packed: packed.planes,
		ob: ob, tw: tw, tileRows: tileRows, n: n, flipped: flipped,
	})
}

// winogradBlock is convWinogradBlocks' loop over blocks of output channels.
type winogradBlock struct {
	y, w, bias, gg      []float32
	g                   *ConvGeom
	alg                 *winogradAlgo
	ar                  *gemmArch
	packed              []gemmPackedB
	ob, tw, tileRows, n int
	flipped             bool
}

var winogradBlockBodies parallel.Bodies[winogradBlock]

// subGeoms holds the geometries of blocks of output channels, which the output transforms
// take while a block runs.
var subGeoms freelist.List[*ConvGeom]

// Run computes block bi.
func (b *winogradBlock) Run(bi int) {
	g, alg, ar, w, n := b.g, b.alg, b.ar, b.w, b.n
	ic, oc := g.InC, g.OutC
	planes := alg.planes()
	o0 := bi * b.ob
	no := min(b.ob, oc-o0)
	// The block's filters, gathered in the micro-kernel's panels of mr output channels (for
	// each input channel, the panel's mr filters one after another; zeros past the block's
	// last channel), so that their transforms come out as the products' A already packed. w
	// is [OutC, InC, 3, 3], or, flipped, [InC, OutC, 3, 3], where each panel's filters from
	// one input channel are one run.
	mr := ar.mr
	panels := (no + mr - 1) / mr
	fbuf := convGetCol(panels * mr * ic * 9)
	filters := *fbuf
	for p := range panels {
		o := o0 + p*mr
		rows := min(mr, no-p*mr)
		for i := range ic {
			run := filters[(p*ic+i)*mr*9:][:mr*9]
			if b.flipped {
				copy(run[:rows*9], w[(i*oc+o)*9:])
			} else {
				for r := range rows {
					src := w[((o+r)*ic+i)*9:][:9]
					*(*[8]float32)(run[r*9:]) = *(*[8]float32)(src)
					run[r*9+8] = src[8]
				}
			}
			clear(run[rows*9:])
		}
	}
	up, mp := len(filters)/9+winogradPlanePad, no*n+winogradPlanePad
	ubuf, mbuf, sbuf := convGetCol(planes*up), convGetCol(planes*mp), convGetCol(alg.scratch(b.tw))
	u, m := *ubuf, *mbuf
	gemm(ar, 1, false, true, planes, len(filters)/9, 9, 1, b.gg, 9, filters, 9, 0, u, up, gemmEpilogue{})
	convPutCol(fbuf)
	for xi := range planes {
		b.packed[xi].mulPanels(no, u[xi*up:], ic*mr, m[xi*mp:], n)
	}
	sub, ok := subGeoms.Get()
	if !ok {
		sub = new(ConvGeom)
	}
	outSize := g.OutSize()
	*sub = *g
	sub.OutC = no
	sub.YImageStride = g.yImageStride()
	if g.Residual != nil {
		sub.Residual = g.Residual[o0*outSize:]
	}
	var sb []float32
	if b.bias != nil {
		sb = b.bias[o0:]
	}
	alg.output(b.y[o0*outSize:], m, mp, sb, sub, 0, b.tileRows, n, *sbuf)
	*sub = ConvGeom{}
	subGeoms.Put(sub)
	convPutCol(ubuf)
	convPutCol(mbuf)
	convPutCol(sbuf)
}

// packedPlanes is what packWinogradPlanes returns: one packed B per plane.
type packedPlanes struct {
	planes []gemmPackedB
}

var idlePackedPlanes freelist.List[*packedPlanes]

// release gives back the planes and their panels' buffer.
func (p *packedPlanes) release(buf *[]float32) {
	convPutCol(buf)
	clear(p.planes)
	idlePackedPlanes.Put(p)
}

// packWinogradPlanes packs each of the planes of v (plane apart, ldb between rows) once as
// the B of the products that read it, op(B) k×n, on up to procs cores. The panels live in
// the returned buffer; give both back with release when the products are done.
func packWinogradPlanes(ar *gemmArch, v []float32, plane, planes int, transB bool, ldb, k, n, procs int) (*packedPlanes, *[]float32) {
	size := gemmPackedLen(ar, k, n) + winogradPlanePad
	buf := convGetCol(planes * size)
	packed, ok := idlePackedPlanes.Get()
	if !ok {
		packed = new(packedPlanes)
	}
	packed.planes = slices.Grow(packed.planes[:0], planes)[:planes]
	parallel.ForEachIn(&planePackBodies, planes, procs, planePack{ar: ar, dst: packed.planes, buf: *buf, v: v, size: size, plane: plane, transB: transB, ldb: ldb, k: k, n: n})
	return packed, buf
}

// planePack is packWinogradPlanes' loop over the planes.
type planePack struct {
	ar               *gemmArch
	dst              []gemmPackedB
	buf, v           []float32
	size, plane, ldb int
	k, n             int
	transB           bool
}

var planePackBodies parallel.Bodies[planePack]

func (p *planePack) Run(xi int) {
	p.dst[xi] = packGemmB(p.ar, p.buf[xi*p.size:], p.transB, p.v[xi*p.plane:], p.ldb, p.k, p.n)
}
