package tensor

import (
	"fmt"

	"github.com/onnxtune/onnxtune/internal/freelist"
	"github.com/onnxtune/onnxtune/internal/parallel"
)

// The GEMM below follows the GotoBLAS/BLIS layering. op(B) is cut into kc×nc blocks and op(A)
// into mc×kc blocks; each block is packed into a contiguous buffer of thin panels (nr columns
// of B, mr rows of A, interleaved along k) so that the micro-kernel streams both operands
// with unit stride and keeps an mr×nr tile of C in registers for the whole kc loop. One
// mr×kc panel of A stays in L1 while the kc×nc block of B, sized for L2, streams past it.
// With AVX-512 the tile is 8×32 and kc, mc, nc = 256, 128, 1024 (a 1 MiB B block in the
// 2 MiB L2 of Sapphire Rapids); with AVX2 it is 6×16 with 256, 120, 1024.
//
// Two shortcuts skip packing where it cannot pay: products under gemmSmallWork run plain
// loops, and when m spans at most two panels an untransposed B is read in place.

// gemmKernel computes the mr×nr tile c = alpha*Â·B̂ (+ beta*c when loadC) where Â holds kc
// steps of mr values as packed by gemmPackA and B̂ kc rows of nr values, ldb apart (nr for
// a panel packed by gemmPackB), then, for an arch with epilogue set, applies ep to the tile
// (ep.bias from the tile's first row on, mr values). When loadC is false, c is only
// written, so garbage or NaN in it cannot leak.
type gemmKernel func(kc int, a, b []float32, ldb int, c []float32, ldc int, alpha, beta float32, loadC bool, ep gemmEpilogue)

// gemmEpilogue is what a caller would otherwise do to C in a pass after the product: add
// bias[i] to every value of row i (when bias is not nil), then limit every value to
// [lo, hi] (when clamp is set), as Go's min(max(x, lo), hi) does. The AVX-512 kernel does it
// in registers before it stores a tile, which saves a convolution with a Relu that pass over
// its output; with the other kernels the driver does it in Go on each block of C just
// computed, while it is in cache. The zero value does nothing.
type gemmEpilogue struct {
	bias   []float32
	clamp  bool
	lo, hi float32
}

// from returns the epilogue for the rows of C from row i on.
func (e gemmEpilogue) from(i int) gemmEpilogue {
	if e.bias != nil {
		e.bias = e.bias[i:]
	}
	return e
}

// none reports whether the epilogue does nothing.
func (e gemmEpilogue) none() bool { return e.bias == nil && !e.clamp }

// applyTile is apply for a few values (an edge tile), in plain loops.
func (e gemmEpilogue) applyTile(c []float32, ldc, rows, cols int) {
	for i := range rows {
		row := c[i*ldc:][:cols]
		for j, v := range row {
			if e.bias != nil {
				v += e.bias[i]
			}
			if e.clamp {
				v = min(max(v, e.lo), e.hi)
			}
			row[j] = v
		}
	}
}

// apply applies the epilogue to rows×cols of C, ldc apart.
func (e gemmEpilogue) apply(c []float32, ldc, rows, cols int) {
	if e.none() {
		return
	}
	for i := range rows {
		row := c[i*ldc:][:cols]
		if e.bias == nil {
			clampSerial(row, e.lo, e.hi)
			continue
		}
		addScalarClamp(row, row, e.bias[i], e.lo, e.hi, e.clamp)
	}
}

// checkRows panics, naming who, when the bias has fewer than the m values of C's rows.
func (e gemmEpilogue) checkRows(who string, m int) {
	if e.bias != nil && len(e.bias) < m {
		panic(fmt.Sprintf("%s: %d bias values for %d rows", who, len(e.bias), m))
	}
}

// gemmArch is one micro-kernel together with the block sizes tuned for it.
type gemmArch struct {
	name       string
	mr, nr     int // micro-tile shape, fixed by the kernel's register allocation
	mc, kc, nc int // cache blocking: mc and nc are multiples of mr and nr
	kern       gemmKernel
	// epilogue: kern applies its gemmEpilogue argument to the tile in registers. The
	// other kernels ignore it, and the driver applies it to each block of C after them.
	epilogue bool
}

// gemmMaxTile bounds mr*nr over all kernels, sizing the scratch tile for edges.
const gemmMaxTile = 16 * 32

// gemmSmallWork is the m*n*k below which packing costs more than it saves.
const gemmSmallWork = 32 << 10

// gemmThreadWork is the least m*n*k (about 10 µs of one core) worth another core. Waking an
// idle processor on a small VM takes 70-300 µs, but internal/parallel's helpers keep watching
// for work between calls, so within a model's run (one layer after another) a product is
// handed over in a few microseconds. At 16M, the threshold set before the helpers existed,
// the 1x1 convolutions of mobilenet_v2 at batch 1 (m*n*k of 1 to 20M) ran on one core: the
// whole model took 11.8 ms a run against 7.6 ms with this one (AMD EPYC, 2 cores).
const gemmThreadWork = 512 << 10

var (
	// gemmForceGo makes Gemm use the pure-Go micro-kernel even where an assembly one is
	// available; tests flip it to cover the fallback on every machine.
	gemmForceGo bool

	// gemmArchs lists the usable kernels, best last; the pure-Go one is always first.
	gemmArchs = append([]*gemmArch{&gemmGoArch}, gemmAsmArchs()...)
)

// gemmGoArch is the portable fallback. 4×4 keeps its 16 accumulators plus operands within
// the registers of amd64 and arm64, so the compiler does not spill in the inner loop.
var gemmGoArch = gemmArch{name: "go4x4", mr: 4, nr: 4, mc: 64, kc: 256, nc: 1024, kern: gemmKernGo4x4}

func gemmCurrent() *gemmArch {
	if gemmForceGo {
		return &gemmGoArch
	}
	return gemmArchs[len(gemmArchs)-1]
}

// Gemm computes C = alpha*op(A)*op(B) + beta*C for row-major float32 matrices, where op(A) is
// m×k (A is m×k with leading dimension lda, or k×m when transA), op(B) is k×n (B is k×n with
// leading dimension ldb, or n×k when transB), and C is m×n with leading dimension ldc. When
// beta == 0, C is not read, so NaN or garbage in it does not leak into the result.
//
// It runs in parallel over up to parallel.Procs() goroutines when the product is large
// enough to pay for them; each goroutine writes a disjoint block of C.
//
// Gemm panics when a dimension is negative, a leading dimension is smaller than the row it
// strides over, or a slice is too short for the matrix it must hold: these are programming
// errors.
func Gemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	gemm(gemmCurrent(), parallel.Procs(), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, gemmEpilogue{})
}

// GemmSerial is Gemm on the calling goroutine only, for callers that already run one GEMM
// per goroutine (over a batch, say). It panics under the same conditions as Gemm.
func GemmSerial(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	gemm(gemmCurrent(), 1, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, gemmEpilogue{})
}

// gemmWith is Gemm on up to threads goroutines with the epilogue ep applied to C (bias
// values for its m rows).
func gemmWith(threads, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, ep gemmEpilogue) {
	gemm(gemmCurrent(), threads, false, false, m, n, k, 1, a, lda, b, ldb, 0, c, ldc, ep)
}

func gemm(ar *gemmArch, threads int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, ep gemmEpilogue) {
	gemmCheck(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	ep.checkRows("tensor.gemm", m)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		gemmScaleC(m, n, beta, c, ldc)
		ep.apply(c, ldc, m, n)
		return
	}
	work := int64(m) * int64(n) * int64(k) // int64: this overflows a 32-bit int
	if transB && !transA && (m <= gemmDotMaxRows || work < gemmSmallWork) {
		gemmDots(threads, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		ep.apply(c, ldc, m, n)
		return
	}
	if work < gemmSmallWork {
		gemmSmall(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		ep.apply(c, ldc, m, n)
		return
	}
	gemmThreads(ar, threads, gemmA{trans: transA, a: a, ld: lda}, transB, m, n, k, alpha, b, ldb, beta, c, ldc, ep)
}

// gemmThreads runs the blocked algorithm on up to threads goroutines, fewer for a product
// too small to pay for them.
func gemmThreads(ar *gemmArch, threads int, a gemmA, transB bool, m, n, k int, alpha float32, b []float32, ldb int, beta float32, c []float32, ldc int, ep gemmEpilogue) {
	work := int64(m) * int64(n) * int64(k)
	if t := work / gemmThreadWork; t < int64(threads) {
		threads = max(int(t), 1)
	}
	if threads == 1 {
		gemmBlockedFrom(ar, a, m, n, k, alpha, gemmB{trans: transB, b: b, ld: ldb}, beta, c, ldc, ep)
		return
	}
	gemmParallel(ar, threads, a, transB, m, n, k, alpha, b, ldb, beta, c, ldc, ep)
}

// gemmCheck validates the arguments up front so that the assembly kernels, which the
// driver hands raw pointers, can never run off the end of a slice.
func gemmCheck(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("tensor.Gemm: negative dimension m=%d n=%d k=%d", m, n, k))
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	gemmCheckMat("A", ar, ac, a, lda)
	gemmCheckMat("B", br, bc, b, ldb)
	gemmCheckMat("C", m, n, c, ldc)
}

func gemmCheckMat(name string, rows, cols int, s []float32, ld int) {
	if rows == 0 || cols == 0 {
		return // an empty matrix is never indexed, whatever its leading dimension
	}
	if ld < cols {
		panic(fmt.Sprintf("tensor.Gemm: leading dimension of %s is %d, less than its %d columns", name, ld, cols))
	}
	if need := (rows-1)*ld + cols; len(s) < need {
		panic(fmt.Sprintf("tensor.Gemm: %s has %d elements, a %d×%d matrix with leading dimension %d needs %d", name, len(s), rows, cols, ld, need))
	}
}

// gemmScaleC sets C = beta*C; beta == 0 writes zeros without reading C.
func gemmScaleC(m, n int, beta float32, c []float32, ldc int) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

// gemmSmall is the direct path for products too small to amortise packing.
func gemmSmall(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	gemmScaleC(m, n, beta, c, ldc)
	for i := 0; i < m; i++ {
		crow := c[i*ldc : i*ldc+n]
		for p := 0; p < k; p++ {
			var av float32
			if transA {
				av = a[p*lda+i]
			} else {
				av = a[i*lda+p]
			}
			av *= alpha
			if transB {
				for j := range crow {
					crow[j] += av * b[j*ldb+p]
				}
				continue
			}
			brow := b[p*ldb : p*ldb+n]
			for j, bv := range brow {
				crow[j] += av * bv
			}
		}
	}
}

// gemmBuf holds one goroutine's packing buffers; they are pooled so that steady-state calls
// do not allocate.
type gemmBuf struct {
	a, b []float32
	// tile receives edge tiles, and bias their rows' bias values padded to a whole tile; they
	// live here rather than on the stack because the kernel is called through a func value,
	// which makes them escape.
	bias [16]float32
	tile [gemmMaxTile]float32
}

var gemmBufs freelist.List[*gemmBuf]

// gemmGrow returns s with length n, reallocated with capacity most (the largest any call
// of this kernel can ask for) when too small, so that a pooled buffer grows once rather
// than with each larger product.
func gemmGrow(s []float32, n, most int) []float32 {
	if cap(s) < n {
		return make([]float32, n, max(n, most))
	}
	return s[:n]
}

func gemmRoundUp(x, to int) int { return (x + to - 1) / to * to }

// gemmDirectB reports whether gemmBlockedFrom should let the kernel read an untransposed B in
// place instead of packing it. Packing pays for itself by giving each B panel a
// cache-friendly copy that ceil(m/mr) A panels reuse; when m is below two panels the copy
// costs more than it saves, unless B's rows lie so far apart (ldb beyond 8192, measured)
// that each k step of the kernel would touch a new page.
func gemmDirectB(ar *gemmArch, transB bool, m, ldb int) bool {
	return !transB && m <= 2*ar.mr && ldb <= 8192
}

// gemmA is the A operand of gemmBlockedFrom: a matrix in memory (op(A) = A, or Aᵀ when
// trans), which the driver packs block by block, unless panels holds op(A) packed once for
// the arch (packGemmA): rows [r·mr, r·mr+mr) at panels[r·mr·k:], k steps of mr values.
type gemmA struct {
	trans  bool
	a      []float32
	ld     int
	panels []float32
}

// rows returns the operand for rows from i on of a k-column op(A); i is a multiple of mr
// where panels is set.
func (a gemmA) rows(i, k int) gemmA {
	switch {
	case a.panels != nil:
		a.panels = a.panels[i*k:]
	case a.trans:
		a.a = a.a[i:]
	default:
		a.a = a.a[i*a.ld:]
	}
	return a
}

// gemmB is the B operand of gemmBlockedFrom: a matrix in memory (op(B) = B, or Bᵀ when
// trans), or, when packer is not nil, a matrix that exists only as the panels it writes.
type gemmB struct {
	trans  bool
	b      []float32
	ld     int
	packer gemmBPacker
}

// gemmBPacker is a matrix that exists only as the GEMM's panels. pack writes rows
// [p0, p0+kc) and columns [j0, j0+nc) of the k×n matrix into dst as panels of nr columns:
// the panel of columns [j0+q*nr, j0+q*nr+nr) starts at dst[q*kc*nr] and holds its kc rows
// one after another, nr values each, zero past column j0+nc. A caller that builds B on the
// fly (a convolution's im2col) writes it straight into this layout instead of into a matrix
// that the GEMM would copy again.
type gemmBPacker interface {
	pack(dst []float32, nr, p0, kc, j0, nc int)
}

// gemmSerialPackB computes C = A·B on the calling goroutine, where A is m×k (leading
// dimension lda), C is m×n (leading dimension ldc, overwritten) and B is k×n, produced
// block by block by pack, then applies ep to C. It panics under the same conditions as
// Gemm.
func gemmSerialPackB(m, n, k int, a []float32, lda int, b gemmBPacker, c []float32, ldc int, ep gemmEpilogue) {
	gemmCheckMat("A", m, k, a, lda)
	gemmCheckMat("C", m, n, c, ldc)
	ep.checkRows("tensor.gemmSerialPackB", m)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		gemmScaleC(m, n, 0, c, ldc)
		ep.apply(c, ldc, m, n)
		return
	}
	gemmBlockedFrom(gemmCurrent(), gemmA{a: a, ld: lda}, m, n, k, 1, gemmB{packer: b}, 0, c, ldc, ep)
}

// gemmBlockedFrom runs the blocked algorithm on the calling goroutine; the kernels apply ep
// to each tile of the last block of k, when the tile's sums are complete.
func gemmBlockedFrom(ar *gemmArch, a gemmA, m, n, k int, alpha float32, b gemmB, beta float32, c []float32, ldc int, ep gemmEpilogue) {
	buf, ok := gemmBufs.Get()
	if !ok {
		buf = new(gemmBuf)
	}
	defer gemmBufs.Put(buf)
	mr, nr := ar.mr, ar.nr
	kcMax := min(k, ar.kc)
	direct := b.packer == nil && gemmDirectB(ar, b.trans, m, b.ld)
	if a.panels == nil {
		buf.a = gemmGrow(buf.a, gemmRoundUp(min(m, ar.mc), mr)*kcMax, ar.mc*ar.kc)
	}
	if direct {
		buf.b = gemmGrow(buf.b, nr*kcMax, ar.nc*ar.kc) // the ragged last panel only
	} else {
		buf.b = gemmGrow(buf.b, gemmRoundUp(min(n, ar.nc), nr)*kcMax, ar.nc*ar.kc)
	}

	for jc := 0; jc < n; jc += ar.nc {
		nc := min(ar.nc, n-jc)
		for pc := 0; pc < k; pc += ar.kc {
			kc := min(ar.kc, k-pc)
			var bdirect []float32
			switch {
			case b.packer != nil:
				b.packer.pack(buf.b, nr, pc, kc, jc, nc)
			case direct:
				bdirect = b.b[pc*b.ld+jc:]
				if full := nc / nr * nr; full < nc {
					gemmPackB(buf.b, nr, false, b.b, b.ld, pc, kc, jc+full, nc-full)
				}
			default:
				gemmPackB(buf.b, nr, b.trans, b.b, b.ld, pc, kc, jc, nc)
			}
			// Only the first k block applies the caller's beta; the later ones accumulate
			// onto what it wrote.
			bet, loadC := beta, beta != 0
			if pc > 0 {
				bet, loadC = 1, true
			}
			last := pc+kc >= k
			for ic := 0; ic < m; ic += ar.mc {
				mc := min(ar.mc, m-ic)
				pa, aStride := buf.a, mr*kc
				if a.panels != nil {
					pa, aStride = a.panels[ic*k+pc*mr:], mr*k
				} else {
					gemmPackA(buf.a, mr, a.trans, a.a, a.ld, ic, mc, pc, kc)
				}
				var e gemmEpilogue
				if last {
					e = ep.from(ic)
				}
				gemmMacro(ar, mc, nc, kc, pa, aStride, buf.b, bdirect, b.ld, c[ic*ldc+jc:], ldc, alpha, bet, loadC, buf, e)
			}
		}
	}
}

// gemmMacro multiplies a packed mc×kc block of A (its panels aStride apart in pa) by a
// kc×nc block of B into C. B is packed in pb or, when bdirect is not nil, read in place from
// bdirect with stride ldb, except for a ragged last panel, which is packed at the start of
// pb.
//
// The A micro-panel (mr×kc, 8 KiB for 8×256) stays in L1 while the B block, sized for L2,
// streams past it; measured here, this beat keeping the larger B micro-panel in L1 instead.
func gemmMacro(ar *gemmArch, mc, nc, kc int, pa []float32, aStride int, pb, bdirect []float32, ldb int, c []float32, ldc int, alpha, beta float32, loadC bool, buf *gemmBuf, ep gemmEpilogue) {
	mr, nr := ar.mr, ar.nr
	tileEp := ep // what the kernels apply
	if !ar.epilogue {
		tileEp = gemmEpilogue{}
	}
	for ir := 0; ir < mc; ir += mr {
		ap := pa[ir/mr*aStride:][:mr*kc]
		rows := min(mr, mc-ir)
		e := tileEp.from(ir)
		for jr := 0; jr < nc; jr += nr {
			cols := min(nr, nc-jr)
			switch {
			case bdirect == nil:
				gemmTile(ar, kc, ap, pb[jr*kc:(jr+nr)*kc], nr, c, ir*ldc+jr, ldc, rows, cols, alpha, beta, loadC, buf, e)
			case cols == nr:
				gemmTile(ar, kc, ap, bdirect[jr:], ldb, c, ir*ldc+jr, ldc, rows, cols, alpha, beta, loadC, buf, e)
			default:
				gemmTile(ar, kc, ap, pb[:kc*nr], nr, c, ir*ldc+jr, ldc, rows, cols, alpha, beta, loadC, buf, e)
			}
		}
	}
	if !ar.epilogue {
		ep.apply(c, ldc, mc, nc)
	}
}

// gemmTile runs the micro-kernel for the rows×cols tile of C at c[coff:], with the epilogue
// ep (bias from the tile's first row on) that the kernel applies.
func gemmTile(ar *gemmArch, kc int, ap, bp []float32, ldb int, c []float32, coff, ldc, rows, cols int, alpha, beta float32, loadC bool, buf *gemmBuf, ep gemmEpilogue) {
	mr, nr := ar.mr, ar.nr
	if rows == mr && cols == nr {
		ar.kern(kc, ap, bp, ldb, c[coff:], ldc, alpha, beta, loadC, ep)
		return
	}
	// Edge tile: the panels are zero-padded, so run the full kernel into a scratch tile
	// and copy out the part that exists. The kernel can apply the epilogue there unless
	// the sums are finished only by adding C's earlier value, in the copy.
	var inKernel gemmEpilogue
	if !loadC && !ep.none() {
		inKernel = ep
		if ep.bias != nil && rows < mr {
			clear(buf.bias[copy(buf.bias[:mr], ep.bias[:rows]):mr])
			inKernel.bias = buf.bias[:mr]
		}
	}
	tile := buf.tile[:]
	ar.kern(kc, ap, bp, ldb, tile, nr, alpha, 0, false, inKernel)
	for i := 0; i < rows; i++ {
		crow := c[coff+i*ldc : coff+i*ldc+cols]
		trow := tile[i*nr : i*nr+cols]
		if loadC {
			for j, t := range trow {
				crow[j] = t + beta*crow[j]
			}
		} else {
			copy(crow, trow)
		}
	}
	if loadC {
		ep.applyTile(c[coff:], ldc, rows, cols)
	}
}

// gemmParallel cuts C into a grid of threads blocks and runs gemmBlockedFrom on each.
func gemmParallel(ar *gemmArch, threads int, a gemmA, transB bool, m, n, k int, alpha float32, b []float32, ldb int, beta float32, c []float32, ldc int, ep gemmEpilogue) {
	tm, tn := gemmGrid(ar, threads, m, n, k)
	parallel.ForEachIn(&gemmBlocksBodies, tm*tn, tm*tn, gemmBlocks{
		ar: ar, a: a, transB: transB, m: m, n: n, k: k, alpha: alpha, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc, ep: ep,
		tm: tm, tn: tn, mPanels: (m + ar.mr - 1) / ar.mr, nPanels: (n + ar.nr - 1) / ar.nr,
	})
}

// gemmBlocks is gemmParallel's loop over the tm×tn blocks of C.
type gemmBlocks struct {
	ar               *gemmArch
	a                gemmA
	transB           bool
	m, n, k          int
	alpha, beta      float32
	b, c             []float32
	ldb, ldc         int
	ep               gemmEpilogue
	tm, tn           int
	mPanels, nPanels int
}

var gemmBlocksBodies parallel.Bodies[gemmBlocks]

// Run computes block t.
func (g *gemmBlocks) Run(t int) {
	ar, m, n := g.ar, g.m, g.n
	ti, tj := t/g.tn, t%g.tn
	i0 := min(m, g.mPanels*ti/g.tm*ar.mr)
	i1 := min(m, g.mPanels*(ti+1)/g.tm*ar.mr)
	j0 := min(n, g.nPanels*tj/g.tn*ar.nr)
	j1 := min(n, g.nPanels*(tj+1)/g.tn*ar.nr)
	if i0 == i1 || j0 == j1 {
		return
	}
	// Shifting the slices' starts makes each block a standalone GEMM; the lengths checked
	// for the whole problem cover every block.
	boff := j0
	if g.transB {
		boff = j0 * g.ldb
	}
	gemmBlockedFrom(ar, g.a.rows(i0, g.k), i1-i0, j1-j0, g.k, g.alpha, gemmB{trans: g.transB, b: g.b[boff:], ld: g.ldb}, g.beta, g.c[i0*g.ldc+j0:], g.ldc, g.ep.from(i0))
}

// gemmPackCost is what packing one element costs, in flops of micro-kernel time: each
// goroutine packs its own rows of A and columns of B, so a split that gives it a thin,
// long strip duplicates packing that a squarer split would share.
const gemmPackCost = 32

// gemmGrid picks the tm×tn grid of blocks (tm*tn == threads) that minimises the slowest
// goroutine's time: its compute, counting the padding of edge tiles, plus its packing.
func gemmGrid(ar *gemmArch, threads, m, n, k int) (tm, tn int) {
	mPanels := (m + ar.mr - 1) / ar.mr
	nPanels := (n + ar.nr - 1) / ar.nr
	best := int64(-1)
	for t := 1; t <= threads; t++ {
		if threads%t != 0 {
			continue
		}
		u := threads / t
		rows := (mPanels + t - 1) / t * ar.mr
		cols := (nPanels + u - 1) / u * ar.nr
		cost := (2*int64(rows)*int64(cols) + gemmPackCost*int64(min(rows, m)+min(cols, n))) * int64(k)
		if best < 0 || cost < best {
			best, tm, tn = cost, t, u
		}
	}
	return tm, tn
}
