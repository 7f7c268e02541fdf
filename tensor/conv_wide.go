package tensor

import (
	"fmt"

	"github.com/onnxtune/onnxtune/internal/parallel"
)

// The row-wise convolution is Conv for layers of few input channels, a network's stem (3
// input channels), where neither im2col and the GEMM nor the direct convolution's tiles keep
// the FMA units busy: the GEMM's sums of 27 terms (a 3×3 stem's) pay for im2col and the
// packing of its panels, the direct kernel's for transposing each tile into the output's
// planes. Here the vectors run along the output's rows, 16 pixels of one
// output channel each, so that the tile is stored as it is: a tile holds three segments of
// 16 pixels of a row (anywhere in the batch) by 8 output channels, and each tap loads one
// vector of input per segment and broadcasts one filter value per channel. For a segment's
// 16 pixels to read 16 consecutive input values whatever the stride, the input is first
// copied with its zero border, each padded row split into its stride's phases (columns
// 0, s, 2s, ..., then 1, s+1, ...): the pixels of a segment then read consecutive cells
// of one phase for every tap.

// convWideSegment is how many output pixels a segment holds: one vector.
const convWideSegment = 16

// convWideSegments is how many segments a tile holds, and convWideChannels how many output
// channels the kernel computes at a time (its register layout, see conv_wide_asmgen.go).
const (
	convWideSegments = 3
	convWideChannels = 8
)

// convWideMinWidth is the narrowest output row the row-wise convolution takes: on narrower
// rows most of each segment's lanes would go unused.
const convWideMinWidth = 16

// convWideMaxInC is the most input channels the row-wise convolution takes: an image's
// channels, at a network's stem. With more, each tile's input no longer stays in L1 for all
// its runs of 8 channels, and the direct convolution, im2col and the GEMM, or Winograd do
// better (16 input channels at 55×55, 1.0-1.2 times the time of the best of those, 32 at
// 27×27 1.3-1.6 times).
const convWideMaxInC = 4

// convWideFits reports whether Conv computes g row by row: a 2-D convolution in one group of
// at most convWideMaxInC input channels and output rows of at least convWideMinWidth
// pixels, on a CPU with the kernel.
func (g *ConvGeom) convWideFits() bool {
	return convDirectSIMD() && len(g.InShape) == 2 && g.Group == 1 && g.InC <= convWideMaxInC &&
		g.OutShape[1] >= convWideMinWidth
}

// convWideLayout is how the row-wise convolution lays an image out: rows padded rows of
// each input channel, each split into stride phases of width cells.
type convWideLayout struct {
	rows, phases, width int
}

func newConvWideLayout(g *ConvGeom) convWideLayout {
	oh, ow := g.OutShape[0], g.OutShape[1]
	sh, sw := g.Strides[0], g.Strides[1]
	return convWideLayout{
		rows:   (oh-1)*sh + (g.Kernel[0]-1)*g.Dilations[0] + 1,
		phases: sw,
		// A segment's last lane reads cell ow-1+15 of its phase, plus the tap's offset.
		width: ow + convWideSegment - 1 + (g.Kernel[1]-1)*g.Dilations[1]/sw,
	}
}

// imageLen is the number of cells of one image laid out.
func (l convWideLayout) imageLen(inC int) int { return inC * l.rows * l.phases * l.width }

// row returns the cell of phase ph of padded row y of channel c.
func (l convWideLayout) row(c, y, ph int) int { return ((c*l.rows+y)*l.phases + ph) * l.width }

// lay copies padded rows y0 to y1 of channel c of image x (InC planes) into dst laid out:
// padded cell (y, j*s+ph) at dst[l.row(c, y, ph)+j], zero outside the input. row is
// scratch of s*l.width cells.
func (l convWideLayout) lay(dst, x, row []float32, g *ConvGeom, c, y0, y1 int) {
	ih, iw := g.InShape[0], g.InShape[1]
	pt, pl := g.Pads[0], g.Pads[1]
	s := l.phases
	for y := y0; y < y1; y++ {
		out := dst[l.row(c, y, 0):][:s*l.width]
		iy := y - pt
		if iy < 0 || iy >= ih {
			clear(out)
			continue
		}
		if s == 1 {
			row = out
		}
		// the padded row, then its phases
		clear(row[:pl])
		n := copy(row[pl:], x[(c*ih+iy)*iw:][:iw])
		clear(row[pl+n:])
		switch s {
		case 1:
		case 2:
			deinterleave(out[:l.width], out[l.width:], row)
		default:
			for ph := range s {
				for j := range l.width {
					out[ph*l.width+j] = row[j*s+ph]
				}
			}
		}
	}
}

// packWideFilters lays the filters w ([outC, k]) out for the row-wise kernel in dst
// (wideFiltersLen values): 8 channels at a time, tap by tap, the 8 channels' values, with
// zeros past outC.
func packWideFilters(dst, w []float32, outC, k int) {
	for c0 := 0; c0 < outC; c0 += convWideChannels {
		run := dst[c0*k : (c0+convWideChannels)*k]
		for t := range k {
			for c := range convWideChannels {
				v := float32(0)
				if c0+c < outC {
					v = w[(c0+c)*k+t]
				}
				run[t*convWideChannels+c] = v
			}
		}
	}
}

// wideFiltersLen is the length of the row-wise layout of outC filters of k taps.
func wideFiltersLen(outC, k int) int {
	return (outC + convWideChannels - 1) / convWideChannels * convWideChannels * k
}

// convWideChunk is how many bytes of laid-out input a chunk of images holds at most (or
// one image): the images are laid out and computed a chunk at a time, so that the layout is
// still in cache when the tiles read it. squeezenet1_1's stem on a part of 4 images on one
// core (3×224×224, 680 KB laid out each) ran at 92 GFLOP/s with the batch laid out at once,
// 142 for an image alone.
const convWideChunk = 256 << 10

// convWide is Conv for a geometry that convWideFits.
func convWide(y, x, w, bias []float32, g *ConvGeom, procs int) {
	k := g.InC * g.KernelSize()
	l := newConvWideLayout(g)
	xs := l.imageLen(g.InC)
	chunk := min(g.Batch, max(1, convWideChunk/(4*xs)))
	in := convGetCol(chunk * xs)
	filters := convGetCol(wideFiltersLen(g.OutC, k))
	packWideFilters(*filters, w, g.OutC, k)
	offsBuf, ok := convDirectOffs.Get()
	if !ok || cap(*offsBuf) < k {
		v := make([]int64, k)
		offsBuf = &v
	}
	offs := (*offsBuf)[:k]
	t, farthest := 0, int64(0)
	for c := range g.InC {
		for kh := range g.Kernel[0] {
			for kw := range g.Kernel[1] {
				dx := kw * g.Dilations[1]
				offs[t] = int64(4 * (l.row(c, kh*g.Dilations[0], dx%l.phases) + dx/l.phases))
				farthest = max(farthest, offs[t])
				t++
			}
		}
	}
	oh, ow := g.OutShape[0], g.OutShape[1]
	perRow := (ow + convWideSegment - 1) / convWideSegment
	// The last segment's last lane reads the farthest cell of an image.
	if last := int64(4*(l.row(0, (oh-1)*g.Strides[0], 0)+(perRow-1)*convWideSegment)) + farthest + 4*convWideSegment; last > int64(4*xs) {
		panic(fmt.Sprintf("tensor.convWide: a segment reads byte %d of an image of %d", last, 4*xs))
	}
	var ep gemmEpilogue
	var biasBuf *[]float32
	if bias != nil {
		// the kernel reads a bias for every channel of its last 8
		biasBuf = convGetCol(wideFiltersLen(g.OutC, 1))
		ep.bias = *biasBuf
		clear(ep.bias[copy(ep.bias, bias[:g.OutC]):])
	}
	// A fused residual is added after the bias and before the clamp, by g.epilogue once a
	// task's tiles are done, as the direct convolution does.
	if g.Clamp != nil && g.Residual == nil {
		ep.clamp, ep.lo, ep.hi = true, g.Clamp[0], g.Clamp[1]
	}
	ys := g.yImageStride()
	rowBlocks := (l.rows + convWideLayRows - 1) / convWideLayRows
	for i0 := 0; i0 < g.Batch; i0 += chunk {
		n := min(chunk, g.Batch-i0)
		parallel.ForEachIn(&convWideLayBodies, n*g.InC*rowBlocks, procs, convWideLays{
			dst: *in, x: x[i0*g.InC*g.InSize():], g: g, l: l, blocks: rowBlocks,
		})
		segments := n * oh * perRow
		tiles := (segments + convWideSegments - 1) / convWideSegments
		parts := min(tiles, 4*procs)
		workers := convTileWorkers(n, g.OutC, k, g.OutSize(), procs)
		parallel.ForEachIn(&convWideBodies, parts, workers, convWideTasks{
			y: y[i0*ys:], y0: i0 * ys, x: *in, w: *filters, offs: offs, g: g, l: l, ep: ep,
			xs: xs, ys: ys, perRow: perRow, segments: segments, tiles: tiles, parts: parts,
		})
	}
	if biasBuf != nil {
		convPutCol(biasBuf)
	}
	convDirectOffs.Put(offsBuf)
	convPutCol(filters)
	convPutCol(in)
}

// convWideLayRows is how many padded rows of a channel one task of the layout copies.
const convWideLayRows = 32

// convWideLays is convWide's loop over the blocks of rows of the channels of a chunk of
// images (from x on) that it lays out.
type convWideLays struct {
	dst, x []float32
	g      *ConvGeom
	l      convWideLayout
	blocks int
}

var convWideLayBodies parallel.Bodies[convWideLays]

// Run lays out block t.
func (c *convWideLays) Run(t int) {
	g := c.g
	ch, b := t/c.blocks%g.InC, t%c.blocks
	img := t / (c.blocks * g.InC)
	xs := c.l.imageLen(g.InC)
	row := convGetCol(c.l.phases * c.l.width)
	c.l.lay(c.dst[img*xs:(img+1)*xs], c.x[img*g.InC*g.InSize():], *row, g, ch, b*convWideLayRows, min(c.l.rows, (b+1)*convWideLayRows))
	convPutCol(row)
}

// convWideTasks is convWide's loop over parts of the tiles of a chunk of images, whose
// outputs start at y and whose segments are numbered image by image, row by row.
type convWideTasks struct {
	y0                                     int // the offset of y in Conv's output
	y, x, w                                []float32
	offs                                   []int64
	g                                      *ConvGeom
	l                                      convWideLayout
	ep                                     gemmEpilogue
	xs, ys, perRow, segments, tiles, parts int
}

var convWideBodies parallel.Bodies[convWideTasks]

// Run computes part t of the tiles.
func (c *convWideTasks) Run(t int) {
	g, l := c.g, c.l
	oh, ow := g.OutShape[0], g.OutShape[1]
	outSize := g.OutSize()
	var segs, outs [convWideSegments]int64
	for tile := c.tiles * t / c.parts; tile < c.tiles*(t+1)/c.parts; tile++ {
		masks := 0
		for i := range convWideSegments {
			s := tile*convWideSegments + i
			if s >= c.segments {
				// no such segment: read the first one's input, store nothing
				segs[i], outs[i] = segs[0], outs[0]
				continue
			}
			img, r := s/(oh*c.perRow), s%(oh*c.perRow)
			oy, ox := r/c.perRow, r%c.perRow*convWideSegment
			segs[i] = int64(4 * (img*c.xs + l.row(0, oy*g.Strides[0], 0) + ox))
			outs[i] = int64(4 * (img*c.ys + oy*ow + ox))
			masks |= (1<<min(convWideSegment, ow-ox) - 1) << (16 * i)
		}
		convWideTile(c.w, c.offs, c.x, &segs, c.y, &outs, c.ep, masks, outSize, g.OutC)
	}
	if g.Residual != nil {
		// image by image over the task's pixels, which follow one another in each image
		s0 := c.tiles * t / c.parts * convWideSegments
		s1 := min(c.tiles*(t+1)/c.parts*convWideSegments, c.segments)
		perImage := oh * c.perRow
		for img := s0 / perImage; img*perImage < s1; img++ {
			p0 := c.pixel(max(s0, img*perImage) - img*perImage)
			p1 := outSize
			if end := s1 - img*perImage; end < perImage {
				p1 = c.pixel(end)
			}
			off := img*c.ys + p0
			g.epilogueRows(c.y[off:], g.OutC, p1-p0, outSize, c.y0+off)
		}
	}
}

// pixel returns the first output pixel of segment s of an image.
func (c *convWideTasks) pixel(s int) int {
	return s/c.perRow*c.g.OutShape[1] + s%c.perRow*convWideSegment
}
