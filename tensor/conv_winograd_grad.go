package tensor

import "github.com/onnxtune/onnxtune/internal/parallel"

// The weight gradient of a convolution that F(2×2, 3×3) computes follows from its forward
// formula. With U = G g Gᵀ and V = Bᵀ d B, an output block is Y = Aᵀ (U ⊙ V) A, so for the
// loss's gradient dY of that block
//
//	⟨dY, Aᵀ (U ⊙ V) A⟩ = Σ_ξ (A dY Aᵀ)_ξ U_ξ V_ξ,
//
// which makes ∂/∂U_ξ = (A dY Aᵀ)_ξ V_ξ and, through U = G g Gᵀ, ∂/∂g = Gᵀ (Σ ∂/∂U) G. Summed
// over the tiles of every image, position ξ of it is one matrix product of the transformed
// output gradient [OutC × tiles] by the transformed input [tiles × InC], the input transform
// being the forward pass's own: 16 products of (tiles × OutC × InC) instead of im2col's 9 of
// (4·tiles × OutC × InC), and a transpose of 16·InC values per tile to pack instead of 36.
// Tiles hanging past an odd output's edge get a zero gradient for the outputs that do not
// exist, so they add nothing. F(4×4, 3×3) is the same with 36 positions and A dY Aᵀ of 4×4
// blocks (winograd4OutputGrad); winogradWeightGradAlgo picks one of the two.

// useWinogradWeightGrad reports whether ConvWeightGrad computes g's gradient by Winograd:
// a geometry useWinograd takes, with at least 32 input channels, and either 1,024 tiles of
// 2×2 output over the batch (convWinogradWeightGradChunks) or the few tiles and many filters
// that convWinogradWeightGradBlocks takes. The input channels are the products' columns,
// which fill the 32-wide micro-kernel only from 32. Measured (BenchmarkConvWinogradWeightGrad,
// 2 cores), im2col against Winograd by chunks: resnet18's 64 channels at 56×56, batch 8
// (6,272 tiles), 13.6 -> 7.3 ms; the Fashion-MNIST CNN's 32 to 64 at 14×14, batch 64, 2.9 ->
// 2.4 ms; squeezenet1_1's 48 to 192 and 64 to 256 at 13×13 (392 tiles) and 16 to 64 at 55×55
// slower, by chunks and by blocks.
func (g *ConvGeom) useWinogradWeightGrad() bool {
	if !g.useWinograd() {
		return false
	}
	th, tw := winogradTiles(g, 2)
	return g.InC >= 32 && g.Batch*th*tw >= 1024 || g.winogradGradByBlocks()
}

// winogradGradByBlocks reports whether convWinogradWeightGrad takes g by blocks of output
// channels (convWinogradWeightGradBlocks): a geometry useWinograd takes, with at least 128
// input channels and at most 512 tiles of 4×4 output over the batch, where the filters'
// sums outweigh the tiles' transforms. Measured at batch 8 (BenchmarkConvWinogradWeightGrad,
// 2 cores; im2col, by chunks, by blocks): resnet18's 128 channels at 28×28 (392 tiles)
// 11.9, 7.7-9.0, 5.2-5.3 ms; 256 at 14×14 (128) 10.2-11.4, 8.0-9.8, 5.4-5.5 ms; 512 at 7×7
// (32) 10.7-12.0, 12.0-13.7, 7.4 ms; at batch 16 the 512 channels 23.6, 21.9, 12.4-12.8 ms
// and the 128 at 28×28 (784 tiles) 20-23, 8.1-9.2, 10.6-11.0 ms: the bound on the tiles. The
// 64 channels at 56×56 (1,568 tiles) took 5.0-6.0 ms by chunks and 7.4-8.6 by blocks.
func (g *ConvGeom) winogradGradByBlocks() bool {
	if !g.useWinograd() {
		return false
	}
	th, tw := winogradTiles(g, 4)
	return g.InC >= 128 && g.Batch*th*tw <= 512
}

// winogradGradChunkBytes bounds a chunk's transformed input and output gradient together. The
// products' depth is the chunk's tile count, so chunks are larger than the forward pass's.
const winogradGradChunkBytes = 8 << 20

// winogradGradMinDepth is the fewest tiles for which a core keeps sums of its own: each set
// of sums is 16 planes of [OutC × InC] to write and then turn into a gradient, as much
// memory traffic as products of that depth. resnet18's 512-channel 7×7 layer at batch 8 (128
// tiles) took 13.2 ms with a set per core and 12.0-12.8 ms with one, on 2 cores.
const winogradGradMinDepth = 256

// convWinogradWeightGrad is ConvWeightGrad for the geometries useWinogradWeightGrad accepts.
func convWinogradWeightGrad(dw, x, dy []float32, g *ConvGeom, procs int) {
	if g.winogradGradByBlocks() {
		convWinogradWeightGradBlocks(dw, x, dy, g, procs)
		return
	}
	convWinogradWeightGradChunks(dw, x, dy, g, procs)
}

// convWinogradWeightGradChunks is convWinogradWeightGrad for layers with many tiles: each
// core sums the products of its chunks of tiles for every filter at once.
func convWinogradWeightGradChunks(dw, x, dy []float32, g *ConvGeom, procs int) {
	alg := g.winogradWeightGradAlgo()
	planes := alg.planes()
	ic, oc := g.InC, g.OutC
	th, tw := alg.tiles(g)
	tileRows := g.Batch * th
	chunkBytes := winogradGradChunkBytes
	if alg == winograd4 {
		// Twice the sums, from 4 MiB: resnet18's 64 channels at 56×56 took 8.7-9.1 ms in
		// chunks of 8 MiB, 5.1 in chunks of 4; 128 at 28×28 7.6 in chunks of 4 MiB, 6.7-7.4
		// in chunks of 8 or 16.
		chunkBytes = max(4<<20, 8*planes*oc*ic)
	}
	perChunk := max(1, chunkBytes/(4*planes*(ic+oc)*tw))
	chunks := (tileRows + perChunk - 1) / perChunk
	if tileRows >= procs && chunks%procs != 0 { // the same number of chunks for every core
		chunks += procs - chunks%procs
		perChunk = (tileRows + chunks - 1) / chunks
		chunks = (tileRows + perChunk - 1) / perChunk
	}
	threads, workers := convSchedule(chunks, procs, float64(planes)*float64(tileRows*tw)*float64(oc)*float64(ic))
	if tileRows*tw < winogradGradMinDepth*workers {
		// Too few tiles for each core to sum its own: one sum, each product on every core.
		threads, workers = procs, 1
	}
	workers = min(workers, chunks)
	ar := gemmCurrent()

	// Each worker sums its chunks' products in its own planes of [OutC × InC].
	mp := oc*ic + winogradPlanePad
	acc := make([]*[]float32, workers)
	parallel.For(workers, workers, func(wi int) {
		acc[wi] = convGetCol(planes * mp)
		m := *acc[wi]
		for ch := wi; ch < chunks; ch += workers {
			r0 := ch * perChunk
			nr := min(perChunk, tileRows-r0)
			n := nr * tw
			vp, dp := ic*n+winogradPlanePad, oc*n+winogradPlanePad
			vbuf, dbuf, sbuf := convGetCol(planes*vp), convGetCol(planes*dp), convGetCol(alg.scratch(tw))
			v, d := *vbuf, *dbuf
			alg.input(v, vp, x, g, r0, nr, n, *sbuf)
			alg.outputGrad(d, dp, dy, g, r0, nr, n, *sbuf)
			beta := float32(1)
			if ch == wi {
				beta = 0
			}
			for xi := range planes {
				gemm(ar, threads, false, true, oc, ic, n, 1, d[xi*dp:], n, v[xi*vp:], n, beta, m[xi*mp:], ic, gemmEpilogue{})
			}
			convPutCol(vbuf)
			convPutCol(dbuf)
			convPutCol(sbuf)
		}
	})
	// dw[o][i] = Gᵀ M G: value 3p+q is Σ_ξ M_ξ G[a][p] G[b][q] for ξ = (m+2)a+b, the product
	// of the sums (as rows of planes) by G⊗G. Each worker's sums are turned and added in turn.
	for wi, m := range acc {
		beta := float32(1)
		if wi == 0 {
			beta = 0
		}
		Gemm(true, false, oc*ic, 9, planes, 1, *m, mp, alg.gg, 9, beta, dw, 9)
		convPutCol(m)
	}
}

// winogradOutputGrad writes D[ξ][o][t] = (A dY Aᵀ)[ξ], at d[ξ*plane+o*n+t], for the 2×2 block
// dY of the output gradient dy at each tile t of tile rows [r0, r0+nr) (counted over all
// images), with Aᵀ as in winogradOutput; outputs past the edge read as zero. n is the chunk's
// tile count; scratch holds winogradScratch(tiles per row) cells.
func winogradOutputGrad(d []float32, plane int, dy []float32, g *ConvGeom, r0, nr, n int, scratch []float32) {
	oh, ow := g.OutShape[0], g.OutShape[1]
	th, tw := winogradTiles(g, 2)
	half := winogradRowCells(tw) + 1
	padded := scratch[:2*half]
	eo := scratch[2*half:][:4*half] // E0 O0 E1 O1: the even and odd cells of the two rows
	for o := range g.OutC {
		for r := range nr {
			img, ty := (r0+r)/th, (r0+r)%th
			channel := dy[(img*g.OutC+o)*oh*ow:][:oh*ow]
			for i := range 2 {
				e, od := eo[2*i*half:][:half], eo[(2*i+1)*half:][:half]
				winogradPadRow(padded, channel, 2*ty+i, oh, ow, 0)
				for k := deinterleaveFloat32(e, od, padded); k < half; k++ {
					e[k], od[k] = padded[2*k], padded[2*k+1]
				}
			}
			winogradOutputGradRow(d[o*n+r*tw:], plane, eo, half, tw)
		}
	}
}

// winogradOutputGradRow writes A dY Aᵀ of tiles k < n, value ξ at v[ξ*stride+k], where tile
// k's block is [E0[k] O0[k]; E1[k] O1[k]] of eo's rows, rowStride apart.
func winogradOutputGradRow(v []float32, stride int, eo []float32, rowStride, n int) {
	e0, o0 := eo[:n], eo[rowStride:][:n]
	e1, o1 := eo[2*rowStride:][:n], eo[3*rowStride:][:n]
	for k := winogradOutputGradRows(v, stride, eo, rowStride, n); k < n; k++ {
		// A dY: rows [a b], [a+c b+d], [a-c b-d], [-c -d] of the block [a b; c d];
		// then each row [p q] times Aᵀ is [p, p+q, p-q, -q].
		a, b, c, dd := e0[k], o0[k], e1[k], o1[k]
		rows := [4][2]float32{{a, b}, {a + c, b + dd}, {a - c, b - dd}, {-c, -dd}}
		for i, pq := range rows {
			p, q := pq[0], pq[1]
			v[(4*i+0)*stride+k] = p
			v[(4*i+1)*stride+k] = p + q
			v[(4*i+2)*stride+k] = p - q
			v[(4*i+3)*stride+k] = -q
		}
	}
}

// winogradWeightGradAlgo is the F(m×m, 3×3) that convWinogradWeightGrad takes for g. By
// blocks, F(4×4, 3×3): its 36 planes of sums stay in cache, and its products are 0.44 times
// F(2×2, 3×3)'s (resnet18's 128 channels at 28×28, batch 8, 5.2 against 7.4 ms; 512 at 7×7
// 7.4 against 8.3; 256 at 14×14 5.4-5.5 against 5.9-6.0). By chunks, F(4×4, 3×3) from 392
// tiles of 4×4 over the batch where its 36 planes of products are at most 0.6 times F(2×2,
// 3×3)'s 16 (an output whose sides 4 divides, or nearly; the tiles past the edge of a 14×14
// output make it 0.73), F(2×2, 3×3) otherwise. Measured by chunks
// (BenchmarkConvWinogradWeightGrad, batch 8): resnet18's 64 channels at 56×56 7.0-7.4 ->
// 4.4-4.9 ms; the Fashion-MNIST CNN's 32 to 64 at 14×14, batch 64 (1,024 tiles at 0.73),
// 3.1-3.4 against 3.2-4.4 ms.
func (g *ConvGeom) winogradWeightGradAlgo() *winogradAlgo {
	if winogradForce != nil {
		return winogradForce
	}
	if g.winogradGradByBlocks() {
		return winograd4
	}
	th4, tw4 := winogradTiles(g, 4)
	th2, tw2 := winogradTiles(g, 2)
	if g.Batch*th4*tw4 >= 392 && winograd4Fits(th4*tw4, th2*tw2) {
		return winograd4
	}
	return winograd2
}
