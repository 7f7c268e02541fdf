package tensor

import "github.com/onnxtune/onnxtune/internal/parallel"

// Winograd's minimal filtering F(2×2, 3×3) (Lavin and Gray, "Fast Algorithms for
// Convolutional Neural Networks", 2015) computes each 2×2 block of a 3×3, stride-1
// convolution's output from a 4×4 patch of its input with 16 multiplications per input
// channel instead of 36:
//
//	Y = Aᵀ [ Σ_c (G g_c Gᵀ) ⊙ (Bᵀ d_c B) ] A
//
// where g_c is a 3×3 filter, d_c the patch of channel c, and A, B, G the small constant
// matrices written out in the transforms below. Summing over the channels for each of the 16
// positions is a matrix product, so the convolution becomes 16 GEMMs of [OutC × InC] by
// [InC × tiles] between an input transform and an output transform; all three are done one
// chunk of tile rows at a time, so that a chunk's transformed input and products stay in the
// core's cache. Every constant in A, B and G is 0, ±1 or ±1/2, and the rounding matches a
// direct sum's to a few units in the last place. F(4×4, 3×3) (conv_winograd4.go) is the same
// with 36 positions for 4×4 blocks; winogradAlgo picks one of the two.

// useWinograd reports whether Conv computes g by Winograd's F(m×m, 3×3): a 2-D, ungrouped 3×3
// convolution at stride 1 without dilation, where the 16 products pay for the transforms.
// The filter transform and the packing of the transformed filters cost the same for any
// number of images, so the bound is on the tiles of output: at least 128, which the layers
// measured (BenchmarkConvWinograd: resnet18's and squeezenet1_1's 3×3 layers at batch 1 and
// 8) split at, the 512-channel 7×7 layer of resnet18 at batch 8 (128 tiles) winning by a
// quarter and the 13×13 ones at batch 1 (49) losing by a third. With fewer than 16 input or
// 64 output channels the products are too short to run at the GEMM's pace (the
// Fashion-MNIST CNN's 16-to-32 layer tied at batch 64 and lost at batch 12).
func (g *ConvGeom) useWinograd() bool {
	if len(g.InShape) != 2 || g.Group != 1 || g.Kernel[0] != 3 || g.Kernel[1] != 3 ||
		g.Strides[0] != 1 || g.Strides[1] != 1 || g.Dilations[0] != 1 || g.Dilations[1] != 1 {
		return false
	}
	th, tw := winogradTiles(g, 2)
	return g.InC >= 16 && g.OutC >= 64 && g.Batch*th*tw >= 128
}

// winogradForward reports whether Conv computes g by Winograd: a geometry useWinograd takes,
// with at least 64 input channels and an output at least 14×14. Below either, the im2col
// GEMM's 512-bit kernel beats Winograd's short products and its transforms on a CPU whose
// AVX-512 units are full width (the Zen 5 EPYC; BenchmarkConvWinograd on 2 cores, best of
// four or five alternated runs, im2col against the algorithm winogradAlgo picks):
// squeezenet1_1's 16 to 64 channels at 55×55 0.26 against 0.46 ms at batch 1 and 2.2 against
// 2.4 ms at batch 8, 32 to 128 at 27×27 0.30 against 0.46 ms at batch 1, 48 to 192 at 13×13
// 0.94 against 1.33 ms and 64 to 256 at 13×13 1.66 against 2.06 ms at batch 8, resnet18's 512
// channels at 7×7 8.3 against 8.6 ms at batch 8, and the Fashion-MNIST CNN's 32 to 64 at
// 14×14 0.50 against 0.60 ms at batch 12. Winograd keeps resnet18's 64 to 256 channels at
// 56×56 to 14×14 (batch 8: 3.9 against 8.2 ms at 56×56, 5.5 against 7.2 ms at 14×14; batch
// 1: 0.58 against 0.99 ms at 56×56, 0.81 against 1.05 ms at 28×28). The gradients keep
// useWinograd's bounds, which their own measurements set.
func (g *ConvGeom) winogradForward() bool {
	return g.useWinograd() && g.InC >= 64 && g.OutShape[0] >= 14 && g.OutShape[1] >= 14
}

// winogradAlgo is the F(m×m, 3×3) that convWinogradWith takes for g. By blocks of output
// channels (winogradByBlocks), F(4×4, 3×3): the filters' transforms stay in cache, and
// F(2×2, 3×3)'s products are 2.25 times as many (the 512 channels at 7×7, batch 8, best of
// five alternated runs: 8.1 against 8.7 ms forward, 8.7 against 8.9 for the input
// gradient). Otherwise, F(4×4, 3×3) from 128
// tiles of 4×4 output on (with 16 input channels, from 1,024), where its 36 planes are at
// most 0.6 times F(2×2, 3×3)'s 16 (the output's sides a multiple of 4, or nearly) or there
// are 64 input channels or more; F(2×2, 3×3) otherwise. F(4×4, 3×3)'s planes are 2.25 times
// as many filters to transform and pack, and each plane's product has a quarter of the
// columns; BenchmarkConvWinograd split there: resnet18's layers at batch 8 from 64 channels
// at 56×56 (7.8 -> 5.6 ms) to 256 at 14×14 (128 tiles at 0.73, 8.1 -> 6.5 ms),
// squeezenet1_1's at batch 8 (3.1 -> 2.4 ms to 2.8 -> 2.2 ms) and at batch 1 resnet18's
// 56×56 layer (1.19 -> 0.98 ms) gain; the 512 channels at 7×7 at batch 8 (32 tiles: 11.7
// -> 17.5 ms), squeezenet1_1's 16 channels at 55×55 at batch 1 (196 tiles, 0.35 -> 0.40 ms)
// and the Fashion-MNIST CNN's 32 to 64 at 14×14 (0.73; batch 12 0.53-0.69 -> 0.92 ms, batch
// 64 a tie) lose.
//
// A Precise convolution takes F(2×2, 3×3): F(4×4, 3×3)'s larger rounding (its transforms'
// constants 4, 5, 1/6 and 1/24), small in an inference's outputs, is amplified in a training
// step's gradients by the ReLUs whose sign it flips and by BatchNorm's batch statistics.
// torchvision's resnet18 at batch 8, 224×224, random weights, BatchNorm in training mode:
// the gradients' largest difference from float64 PyTorch's, relative to each tensor's
// largest value, had a median over the tensors of 5e-3 with F(4×4, 3×3) in the forward
// pass, against 3.4e-6 with F(2×2, 3×3) and 4.6e-6 for float32 PyTorch.
func (g *ConvGeom) winogradAlgo() *winogradAlgo {
	if winogradForce != nil {
		return winogradForce
	}
	if g.Precise {
		return winograd2
	}
	if g.winogradByBlocks() {
		return winograd4
	}
	th4, tw4 := winogradTiles(g, 4)
	th2, tw2 := winogradTiles(g, 2)
	tiles := g.Batch * th4 * tw4
	if (tiles >= 1024 || tiles >= 128 && g.InC >= 32) && (winograd4Fits(th4*tw4, th2*tw2) || g.InC >= 64) {
		return winograd4
	}
	return winograd2
}

// winograd4Fits reports whether F(4×4, 3×3)'s 36 planes over an image's tiles4 tiles are
// at most 0.6 times F(2×2, 3×3)'s 16 over its tiles2: whether few of its tiles hang past the
// output's edge (at most 0.5625, when 4 divides both sides).
func winograd4Fits(tiles4, tiles2 int) bool { return 10*36*tiles4 <= 6*16*tiles2 }

// winogradForce, when set, is the algorithm convWinogradWith takes for every geometry, so
// that tests and benchmarks can compare them.
var winogradForce *winogradAlgo

// convWinogradOff makes Conv take its im2col path for every geometry, so that tests can
// compare the two.
var convWinogradOff bool

// winogradChunkBytes bounds a chunk's transformed input and products together, unless the
// transformed filters are larger.
const winogradChunkBytes = 1 << 21

// convWinograd is Conv for the geometries useWinograd accepts.
func convWinograd(y, x, w, bias []float32, g *ConvGeom, procs int) {
	convWinogradWith(y, x, w, bias, g, procs, false)
}

// convWinogradWith is convWinograd, or, when flipped, the same for the filters of w flipped
// in both dimensions with their two channel dimensions swapped: w is then [g.InC, g.OutC,
// 3, 3], the weights of the convolution whose input gradient g computes (inputGradGeom), and
// nothing is copied to flip them (see winogradFlippedKron).
func convWinogradWith(y, x, w, bias []float32, g *ConvGeom, procs int, flipped bool) {
	if g.winogradByBlocks() {
		convWinogradBlocks(y, x, w, bias, g, procs, flipped)
		return
	}
	convWinogradChunks(y, x, w, bias, g, procs, flipped)
}

// convWinogradChunks is convWinogradWith by chunks of tiles: each core transforms a chunk's
// input, takes its products with every filter's transform and turns them into output.
func convWinogradChunks(y, x, w, bias []float32, g *ConvGeom, procs int, flipped bool) {
	alg := g.winogradAlgo()
	planes := alg.planes()
	ic, oc := g.InC, g.OutC
	th, tw := alg.tiles(g)
	tileRows := g.Batch * th // over all images
	// A chunk's GEMMs pack the transformed filters again: with many channels, chunks as
	// large as those filters amortise that packing better than cache-sized ones.
	chunkBytes := max(winogradChunkBytes, 4*planes*oc*ic)
	perChunk := max(1, chunkBytes/(4*planes*(ic+oc)*tw))
	chunks := (tileRows + perChunk - 1) / perChunk
	if chunks < procs && tileRows >= procs { // keep every core busy
		perChunk = (tileRows + procs - 1) / procs
		chunks = (tileRows + perChunk - 1) / perChunk
	}

	// Planes 2^k floats apart would all fall in the same cache sets: each is padded.
	up := oc*ic + winogradPlanePad
	gg, transU, ldu := alg.gg, false, ic // plane ξ of u is U_ξ, [OutC × InC]
	if flipped {
		gg, transU, ldu = alg.flippedGG, true, oc // plane ξ is U_ξᵀ, [InC × OutC]
	}
	var u []float32
	if !flipped {
		u = g.Filters.winograd(g, alg, w, up) // kept by a frozen plan
	}
	if u == nil {
		ubuf := convGetCol(planes * up)
		defer convPutCol(ubuf)
		u = *ubuf
		winogradFilterTransforms(u, up, gg, w, planes, oc*ic)
	}

	tiles := float64(tileRows * tw)
	threads, workers := convSchedule(chunks, procs, float64(planes)*tiles*float64(oc)*float64(ic))
	ar := gemmCurrent()
	parallel.ForEachIn(&winogradChunkBodies, chunks, workers, winogradChunk{
		y: y, x: x, u: u, bias: bias, g: g, alg: alg, ar: ar,
		planes: planes, ic: ic, oc: oc, tw: tw, up: up, ldu: ldu, transU: transU,
		tileRows: tileRows, perChunk: perChunk, threads: threads,
	})
}

// winogradFilterTransforms sets the planes of u (up apart) to the transforms gg (planes×9) of
// the filters of w (filters 3×3 filters).
func winogradFilterTransforms(u []float32, up int, gg, w []float32, planes, filters int) {
	Gemm(false, true, planes, filters, 9, 1, gg, 9, w, 9, 0, u, up)
}

// winogradChunk is convWinogradChunks' loop over chunks of tile rows.
type winogradChunk struct {
	y, x, u, bias      []float32
	g                  *ConvGeom
	alg                *winogradAlgo
	ar                 *gemmArch
	planes, ic, oc, tw int
	up, ldu            int
	transU             bool
	tileRows, perChunk int
	threads            int
}

var winogradChunkBodies parallel.Bodies[winogradChunk]

// Run computes chunk ch.
func (c *winogradChunk) Run(ch int) {
	alg, planes, ic, oc := c.alg, c.planes, c.ic, c.oc
	r0 := ch * c.perChunk
	nr := min(c.perChunk, c.tileRows-r0)
	n := nr * c.tw
	vp, mp := ic*n+winogradPlanePad, oc*n+winogradPlanePad
	vbuf, mbuf, sbuf := convGetCol(planes*vp), convGetCol(planes*mp), convGetCol(alg.scratch(c.tw))
	v, m := *vbuf, *mbuf
	alg.input(v, vp, c.x, c.g, r0, nr, n, *sbuf)
	for xi := range planes {
		gemm(c.ar, c.threads, c.transU, false, oc, n, ic, 1, c.u[xi*c.up:], c.ldu, v[xi*vp:], n, 0, m[xi*mp:], n, gemmEpilogue{})
	}
	alg.output(c.y, m, mp, c.bias, c.g, r0, nr, n, *sbuf)
	convPutCol(vbuf)
	convPutCol(mbuf)
	convPutCol(sbuf)
}

// winogradAlgo is one of Winograd's minimal filterings F(m×m, 3×3): the filter transform as
// a product (G⊗G, (m+2)² × 9) and the input and output transforms of a chunk of tile rows.
type winogradAlgo struct {
	m             int       // the side of a tile of output
	gg, flippedGG []float32 // G⊗G for the filters, and for them flipped in both dimensions
	input         func(v []float32, plane int, x []float32, g *ConvGeom, r0, nr, n int, scratch []float32)
	output        func(y, m []float32, plane int, bias []float32, g *ConvGeom, r0, nr, n int, scratch []float32)
	outputGrad    func(d []float32, plane int, dy []float32, g *ConvGeom, r0, nr, n int, scratch []float32)
	scratch       func(tw int) int // the scratch input and output need for rows of tw tiles
}

// planes is how many products a tile takes per input channel: one per value of a patch.
func (a *winogradAlgo) planes() int { return (a.m + 2) * (a.m + 2) }

// tiles is winogradTiles for a's tiles.
func (a *winogradAlgo) tiles(g *ConvGeom) (th, tw int) { return winogradTiles(g, a.m) }

// winogradTiles is how many m×m tiles of output an image has down and across: the last row
// or column of tiles hangs past the output's edge where m does not divide it.
func winogradTiles(g *ConvGeom, m int) (th, tw int) {
	return (g.OutShape[0] + m - 1) / m, (g.OutShape[1] + m - 1) / m
}

// winograd2 is F(2×2, 3×3) for convWinogradWith.
var winograd2 = &winogradAlgo{
	m:          2,
	gg:         winogradKron(winogradG[:]),
	flippedGG:  winogradFlippedKron(winogradG[:]),
	input:      winogradInput,
	output:     winogradOutput,
	outputGrad: winogradOutputGrad,
	scratch:    winogradScratch,
}

// winogradScratch is the length of the scratch winogradInput and winogradOutput need for
// rows of tw tiles.
func winogradScratch(tw int) int { return 10 * (winogradRowCells(tw) + 1) }

// winogradRowCells rounds a row of tw tiles up to whole vector steps of 8: the vector
// transforms read and write that far (winogradInputRows, winogradOutputRows). Past a row's
// end in the transformed planes they write into the next row, which is written after, or
// into the planes' padding.
func winogradRowCells(tw int) int { return (tw + 7) &^ 7 }

// winogradPlanePad separates the 16 planes of each transformed matrix by 32 more floats
// than their size.
const winogradPlanePad = 32

// The transformed filters are U[ξ][o][i] = (G g Gᵀ)[ξ], at u[ξ*plane+o*ic+i], for every
// filter g = w[o][i] (3×3) of the oc outputs. U is linear in g: value ξ = (m+2)a+b is
// Σ G[a][p] G[b][q] g[p][q], so all of them are one product of the (m+2)²×9 matrix G⊗G with
// the filters as rows of 9, which runs on the GEMM's vector kernels and cores (3.5 -> 1.2 ms
// for 512×512 filters against a loop over them).

// winogradG is F(2×2, 3×3)'s G.
var winogradG = [][3]float32{{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}}

// winogradKron returns G⊗G: row len(G)a+b, column 3p+q holds G[a][p]·G[b][q].
func winogradKron(g [][3]float32) []float32 {
	k := make([]float32, 0, len(g)*len(g)*9)
	for a := range g {
		for b := range g {
			for p := range 3 {
				for q := range 3 {
					k = append(k, g[a][p]*g[b][q])
				}
			}
		}
	}
	return k
}

// winogradFlippedKron transforms the filters flipped in both dimensions (g'[p][q] =
// g[2-p][2-q]) as winogradKron's G⊗G does the filters themselves: flipping reverses a
// filter's nine values, so it is G⊗G with its columns reversed.
func winogradFlippedKron(g [][3]float32) []float32 {
	k := winogradKron(g)
	for row := k; len(row) > 0; row = row[9:] {
		for p, q := 0, 8; p < q; p, q = p+1, q-1 {
			row[p], row[q] = row[q], row[p]
		}
	}
	return k
}

// winogradInput writes V[ξ][c][t] = (Bᵀ d B)[ξ], at v[ξ*plane+c*n+t], for the 4×4 input patch d of channel c under
// each tile t of tile rows [r0, r0+nr) (counted over all images), with
//
//	Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1];
//
// cells outside the input read as zero. n is the chunk's tile count; scratch holds
// winogradScratch(tiles per row) cells. The four input rows
// under a row of tiles are split into their even and odd cells, zero-padded, so that
// column j of every tile's patch is one unit-stride vector: E[k], O[k], E[k+1], O[k+1].
func winogradInput(v []float32, plane int, x []float32, g *ConvGeom, r0, nr, n int, scratch []float32) {
	ih, iw := g.InShape[0], g.InShape[1]
	th, tw := winogradTiles(g, 2)
	ph, pw := g.Pads[0], g.Pads[1]
	half := winogradRowCells(tw) + 1 // cells of an E or O row
	padded := scratch[:2*half]       // one input row under the tiles, zero-padded
	eo := scratch[2*half:][:8*half]  // E0 O0 E1 O1 E2 O2 E3 O3
	for c := range g.InC {
		for r := range nr {
			img, ty := (r0+r)/th, (r0+r)%th
			channel := x[(img*g.InC+c)*ih*iw:][:ih*iw]
			first := 0 // the first of the four input rows still to split
			if r > 0 && ty > 0 {
				// The row of tiles above, split just before, ends with this one's first two
				// input rows.
				copy(eo[:4*half], eo[4*half:])
				first = 2
			}
			for i := first; i < 4; i++ {
				e, o := eo[2*i*half:][:half], eo[(2*i+1)*half:][:half]
				winogradPadRow(padded, channel, 2*ty-ph+i, ih, iw, pw)
				for k := deinterleaveFloat32(e, o, padded); k < half; k++ {
					e[k], o[k] = padded[2*k], padded[2*k+1]
				}
			}
			winogradInputRow(v[c*n+r*tw:], plane, eo, half, tw)
		}
	}
}

// winogradPadRow copies row yy of a channel of ih rows of iw cells into padded from cell
// pw on, with zeros around it; a row outside the channel is all zeros.
func winogradPadRow(padded, channel []float32, yy, ih, iw, pw int) {
	if yy < 0 || yy >= ih {
		clear(padded)
		return
	}
	// Only the border around the row's copy needs zeros.
	clear(padded[:min(pw, len(padded))])
	copied := copy(padded[min(pw, len(padded)):], channel[yy*iw:(yy+1)*iw])
	clear(padded[min(pw+copied, len(padded)):])
}

// winogradInputRow writes Bᵀ d B of tiles k < n, value ξ at v[ξ*stride+k], for patches laid
// out as winogradInput describes in eo, rows rowStride apart.
func winogradInputRow(v []float32, stride int, eo []float32, rowStride, n int) {
	for k := winogradInputRows(v, stride, eo, rowStride, n); k < n; k++ {
		var d [4][4]float32
		for i := range 4 {
			e, o := eo[2*i*rowStride:], eo[(2*i+1)*rowStride:]
			d[i] = [4]float32{e[k], o[k], e[k+1], o[k+1]}
		}
		var t [4][4]float32 // Bᵀ d
		for j := range 4 {
			t[0][j] = d[0][j] - d[2][j]
			t[1][j] = d[1][j] + d[2][j]
			t[2][j] = d[2][j] - d[1][j]
			t[3][j] = d[1][j] - d[3][j]
		}
		for i := range 4 {
			a, b, c, dd := t[i][0], t[i][1], t[i][2], t[i][3]
			v[(4*i+0)*stride+k] = a - c
			v[(4*i+1)*stride+k] = b + c
			v[(4*i+2)*stride+k] = c - b
			v[(4*i+3)*stride+k] = b - dd
		}
	}
}

// winogradOutput turns the products M[ξ][o][t], at m[ξ*plane+o*n+t], of tile rows [r0, r0+nr) into their 2×2
// output blocks Aᵀ M A, with
//
//	Aᵀ = [1 1 1 0; 0 1 -1 -1],
//
// and then adds the bias and applies the epilogue to each finished pair of output rows.
func winogradOutput(y, m []float32, plane int, bias []float32, g *ConvGeom, r0, nr, n int, scratch []float32) {
	oh, ow := g.OutShape[0], g.OutShape[1]
	th, tw := winogradTiles(g, 2)
	ys, outSize := g.yImageStride(), oh*ow
	cells := 2 * winogradRowCells(tw) // at least ow, or ow+1 when ow is odd
	row0, row1 := scratch[:cells], scratch[cells:][:cells]
	for o := range g.OutC {
		b := float32(0)
		if bias != nil {
			b = bias[o]
		}
		for r := range nr {
			img, ty := (r0+r)/th, (r0+r)%th
			winogradOutputRow(row0, row1, m[o*n+r*tw:], plane, tw)
			off := img*ys + o*outSize + 2*ty*ow
			out := y[off:][:min(2, oh-2*ty)*ow]
			copy(out, row0[:ow])
			if len(out) > ow {
				copy(out[ow:], row1[:ow])
			}
			g.addBiasEpilogue(out, out, b, off)
		}
	}
}

// winogradOutputRow writes Aᵀ M A of tiles k < n, where value ξ of tile k's M is at
// m[ξ*stride+k], to row0[2k:2k+2] and row1[2k:2k+2].
func winogradOutputRow(row0, row1, m []float32, stride, n int) {
	for k := winogradOutputRows(row0, row1, m, stride, n); k < n; k++ {
		var s [2][4]float32 // Aᵀ M
		for j := range 4 {
			m0, m1, m2, m3 := m[j*stride+k], m[(4+j)*stride+k], m[(8+j)*stride+k], m[(12+j)*stride+k]
			s[0][j] = m0 + m1 + m2
			s[1][j] = m1 - m2 - m3
		}
		for i, row := range [2][]float32{row0, row1} {
			row[2*k] = s[i][0] + s[i][1] + s[i][2]
			row[2*k+1] = s[i][1] - s[i][2] - s[i][3]
		}
	}
}
