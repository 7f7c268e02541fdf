package tensor

// Winograd's F(4×4, 3×3) computes each 4×4 block of a 3×3, stride-1 convolution's output
// from a 6×6 patch of its input with 36 multiplications per input channel instead of 144,
// against F(2×2, 3×3)'s 16 for a 2×2 block (64 for 4×4). The interpolation points are 0,
// ±1, ±2 and ∞ (Lavin and Gray, 2015):
//
//	Bᵀ = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
//	G  = [¼ 0 0; -⅙ -⅙ -⅙; -⅙ ⅙ -⅙; 1/24 1/12 ⅙; 1/24 -1/12 ⅙; 0 0 1]
//	Aᵀ = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
//
// Its constants are not all powers of two, so it rounds more than F(2×2, 3×3): against a
// float64 sum its error is a few times im2col's, still float32 rounding (see
// TestConvWinogradMatchesIm2col).

// winograd4 is F(4×4, 3×3) for convWinogradWith.
var winograd4 = &winogradAlgo{
	m:          4,
	gg:         winogradKron(winograd4G[:]),
	flippedGG:  winogradFlippedKron(winograd4G[:]),
	input:      winograd4Input,
	output:     winograd4Output,
	outputGrad: winograd4OutputGrad,
	scratch:    winograd4Scratch,
}

var winograd4G = [][3]float32{
	{1.0 / 4, 0, 0},
	{-1.0 / 6, -1.0 / 6, -1.0 / 6},
	{-1.0 / 6, 1.0 / 6, -1.0 / 6},
	{1.0 / 24, 1.0 / 12, 1.0 / 6},
	{1.0 / 24, -1.0 / 12, 1.0 / 6},
	{0, 0, 1},
}

// winograd4Phases is the length of each of the four phase rows an input row is split into
// (winograd4Input): a row of tiles rounded up to whole vector steps, and the one cell past
// it that the last tile's columns 4 and 5 read.
func winograd4Phases(tw int) int { return winogradRowCells(tw) + 1 }

// winograd4Scratch is the length of the scratch winograd4Input and winograd4Output need for
// rows of tw tiles: 24 phase rows and a padded input row, or four output rows, and 36
// vectors of a transform's first pass.
func winograd4Scratch(tw int) int { return 28*winograd4Phases(tw) + 36*8 }

// winograd4Input writes V[ξ][c][t] = (Bᵀ d B)[ξ], at v[ξ*plane+c*n+t], for the 6×6 input
// patch d of channel c under each tile t of tile rows [r0, r0+nr) (counted over all images);
// cells outside the input read as zero. n is the chunk's tile count. Each of the six input
// rows under a row of tiles is split into four phase rows, P_p[k] = row[4k+p] (zero-padded),
// so that column j of every tile's patch is one unit-stride vector: P_0[k], P_1[k], P_2[k],
// P_3[k], P_0[k+1], P_1[k+1].
func winograd4Input(v []float32, plane int, x []float32, g *ConvGeom, r0, nr, n int, scratch []float32) {
	ih, iw := g.InShape[0], g.InShape[1]
	th, tw := winogradTiles(g, 4)
	ph, pw := g.Pads[0], g.Pads[1]
	rs := winograd4Phases(tw)
	phases := scratch[:24*rs]        // input row i's phase p at (4i+p)*rs
	padded := scratch[24*rs:][:4*rs] // one input row under the tiles, zero-padded
	pass := scratch[28*rs:][:36*8]   // the vector transform's first pass
	for c := range g.InC {
		for r := range nr {
			img, ty := (r0+r)/th, (r0+r)%th
			channel := x[(img*g.InC+c)*ih*iw:][:ih*iw]
			first := 0 // the first of the six input rows still to split
			if r > 0 && ty > 0 {
				// The row of tiles above, split just before, ends with this one's first two
				// input rows.
				copy(phases[:8*rs], phases[16*rs:])
				first = 2
			}
			for i := first; i < 6; i++ {
				winogradPadRow(padded, channel, 4*ty-ph+i, ih, iw, pw)
				deinterleave4(phases[4*i*rs:], rs, padded)
			}
			winograd4InputRow(v[c*n+r*tw:], plane, phases, rs, tw, pass)
		}
	}
}

// deinterleave4 splits src into its four phases, dst[p*stride+k] = src[4k+p], for the
// len(src)/4 cells of each.
func deinterleave4(dst []float32, stride int, src []float32) {
	cells := len(src) / 4
	for k := deinterleave4Rows(dst, stride, src); k < cells; k++ {
		for p := range 4 {
			dst[p*stride+k] = src[4*k+p]
		}
	}
}

// winograd4InputRow writes Bᵀ d B of tiles k < n, value ξ at v[ξ*stride+k], for patches laid
// out as winograd4Input describes in phases, rows rowStride apart; pass is scratch for the
// vector kernel.
func winograd4InputRow(v []float32, stride int, phases []float32, rowStride, n int, pass []float32) {
	for k := winograd4InputRows(v, stride, phases, rowStride, n, pass); k < n; k++ {
		var t [6][6]float32 // Bᵀ d, column by column
		for j := range 6 {
			var d [6]float32
			for i := range d {
				d[i] = phases[(4*i+j%4)*rowStride+k+j/4]
			}
			col := winograd4B(d)
			for q := range 6 {
				t[q][j] = col[q]
			}
		}
		for q := range 6 {
			row := winograd4B(t[q])
			for j, val := range row {
				v[(6*q+j)*stride+k] = val
			}
		}
	}
}

// winograd4B is Bᵀ d for one column d, in the order of operations the vector kernel takes.
func winograd4B(d [6]float32) [6]float32 {
	c := d[4] - d[2]
	a := d[4] - 4*d[2]
	b := d[3] - 4*d[1]
	e := d[3] - d[1]
	e += e
	return [6]float32{
		4*(d[0]-d[2]) + c,
		a + b,
		a - b,
		c + e,
		c - e,
		(d[5] - d[3]) - 2*e,
	}
}

// winograd4Output turns the products M[ξ][o][t], at m[ξ*plane+o*n+t], of tile rows [r0,
// r0+nr) into their 4×4 output blocks Aᵀ M A, and then adds the bias and applies the
// epilogue to each finished block of output rows.
func winograd4Output(y, m []float32, plane int, bias []float32, g *ConvGeom, r0, nr, n int, scratch []float32) {
	oh, ow := g.OutShape[0], g.OutShape[1]
	th, tw := winogradTiles(g, 4)
	ys, outSize := g.yImageStride(), oh*ow
	cells := 4 * winogradRowCells(tw) // at least ow
	rows := scratch[:4*cells]
	pass := scratch[28*winograd4Phases(tw):][:36*8]
	for o := range g.OutC {
		b := float32(0)
		if bias != nil {
			b = bias[o]
		}
		for r := range nr {
			img, ty := (r0+r)/th, (r0+r)%th
			winograd4OutputRow(rows, cells, m[o*n+r*tw:], plane, tw, pass)
			off := img*ys + o*outSize + 4*ty*ow
			h := min(4, oh-4*ty)
			out := y[off:][:h*ow]
			for i := range h {
				copy(out[i*ow:(i+1)*ow], rows[i*cells:])
			}
			g.addBiasEpilogue(out, out, b, off)
		}
	}
}

// winograd4OutputRow writes Aᵀ M A of tiles k < n, where value ξ of tile k's M is at
// m[ξ*stride+k], to cells 4k to 4k+3 of the four rows at rows[i*rowStride:]; pass is
// scratch for the vector kernel.
func winograd4OutputRow(rows []float32, rowStride int, m []float32, stride, n int, pass []float32) {
	for k := winograd4OutputRows(rows, rowStride, m, stride, n, pass); k < n; k++ {
		var s [4][6]float32 // Aᵀ M, column by column
		for j := range 6 {
			var col [6]float32
			for r := range col {
				col[r] = m[(6*r+j)*stride+k]
			}
			out := winograd4A(col)
			for i := range 4 {
				s[i][j] = out[i]
			}
		}
		for i := range 4 {
			out := winograd4A(s[i])
			copy(rows[i*rowStride+4*k:][:4], out[:])
		}
	}
}

// winograd4A is Aᵀ m for one column m, in the order of operations the vector kernel takes.
func winograd4A(m [6]float32) [4]float32 {
	p, q := m[1]+m[2], m[1]-m[2]
	r, s := m[3]+m[4], m[3]-m[4]
	return [4]float32{
		m[0] + p + r,
		q + 2*s,
		p + 4*r,
		(q + m[5]) + 8*s,
	}
}

// winograd4OutputGrad writes D[ξ][o][t] = (A dY Aᵀ)[ξ], at d[ξ*plane+o*n+t], for the 4×4
// block dY of the output gradient dy at each tile t of tile rows [r0, r0+nr) (counted over
// all images), with Aᵀ as in winograd4Output; outputs past the edge read as zero. n is the
// chunk's tile count. The four rows of dy under a row of tiles are split into phase rows as
// winograd4Input splits its input rows, so that column j of every tile's block is P_j[k].
func winograd4OutputGrad(d []float32, plane int, dy []float32, g *ConvGeom, r0, nr, n int, scratch []float32) {
	oh, ow := g.OutShape[0], g.OutShape[1]
	th, tw := winogradTiles(g, 4)
	rs := winograd4Phases(tw)
	phases := scratch[:16*rs]
	padded := scratch[24*rs:][:4*rs]
	pass := scratch[28*rs:][:36*8]
	for o := range g.OutC {
		for r := range nr {
			img, ty := (r0+r)/th, (r0+r)%th
			channel := dy[(img*g.OutC+o)*oh*ow:][:oh*ow]
			for i := range 4 {
				winogradPadRow(padded, channel, 4*ty+i, oh, ow, 0)
				deinterleave4(phases[4*i*rs:], rs, padded)
			}
			winograd4OutputGradRow(d[o*n+r*tw:], plane, phases, rs, tw, pass)
		}
	}
}

// winograd4OutputGradRow writes A dY Aᵀ of tiles k < n, value ξ at v[ξ*stride+k], where
// column j of row i of tile k's block is phases[(4i+j)*rowStride+k]; pass is scratch for the
// vector kernel.
func winograd4OutputGradRow(v []float32, stride int, phases []float32, rowStride, n int, pass []float32) {
	for k := winograd4OutputGradRows(v, stride, phases, rowStride, n, pass); k < n; k++ {
		var t [6][4]float32 // A dY, column by column
		for j := range 4 {
			var col [4]float32
			for i := range col {
				col[i] = phases[(4*i+j)*rowStride+k]
			}
			out := winograd4AT(col)
			for q := range 6 {
				t[q][j] = out[q]
			}
		}
		for q := range 6 {
			for j, val := range winograd4AT(t[q]) {
				v[(6*q+j)*stride+k] = val
			}
		}
	}
}

// winograd4AT is A y for one column y of four, in the order of operations the vector kernel
// takes.
func winograd4AT(y [4]float32) [6]float32 {
	e, o := y[0]+y[2], y[1]+y[3]
	e4, o4 := y[0]+4*y[2], y[1]+4*y[3]
	o4 += o4
	return [6]float32{y[0], e + o, e - o, e4 + o4, e4 - o4, y[3]}
}
