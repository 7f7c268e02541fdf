package tensor

import (
	"fmt"

	"github.com/onnxtune/onnxtune/internal/freelist"
	"github.com/onnxtune/onnxtune/internal/parallel"
)

// The direct convolution computes a 2-D convolution without im2col, as ONNX Runtime's MLAS
// does on AVX-512 with its NCHWc kernels: a tile of six output pixels by up to 64 output
// channels stays in registers for the whole sum over input channels and taps; each tap
// loads one vector of filter values per 16 channels (the filters are laid out for it, once
// per plan) and broadcasts one input value per pixel, so that the tile costs 6*blocks
// multiply-adds for blocks+6 loads and nothing is written until the sum is done. The
// pixels run in the output's flat order, across rows, so a plane of any width wastes at
// most the last tile's unused pixels; each pixel reads its input from its own offset, so any
// stride, dilation and kernel size take the same kernel. Padding is a zero border copied
// around each input plane first. The tile is transposed in registers and stored to the
// planes of its channels, the bias and clamp applied on the way as the GEMM's epilogue
// applies them; a fused residual is added to each task's outputs after its tiles.
//
// The kernel alone ran at 92-96% of one core's FMA peak (taps 144 to 576, in L1), against
// 85-88% for the GEMM's 8×32 kernel. On squeezenet1_1's 3×3 layers at batch 1 (144 to 576
// taps, 169 to 3,025 pixels), with the filters laid out once, a layer on one core took
// 0.85-0.87 of the time of im2col and the GEMM, and the model at batch 1 on two cores 0.86
// (2.96 against 3.43 ms, alternated in one process), resnet18 0.96.
// convDirectPixels is the number of output pixels of a tile (the kernels' register
// layout, see conv_direct_asmgen.go).
const convDirectPixels = 6

// convDirectChannels is the number of output channels of a full tile: four blocks of 16.
const convDirectChannels = 64

// convDirectTaps is how many taps of a group of tiles run before the next taps: 32 KB of
// filters for 64 channels, which stay in L1 while the group's tiles read them. The runs'
// sums are added at the end, which also keeps float32's rounding down: runs of 512 taps
// were 0-4% faster in the models, but the gradients of resnet18 in training mode moved to
// 11 times float32 PyTorch's median difference from float64 PyTorch's, from 1.4 times
// (TestGradTrainModeTorch, whose bar is 3).
const convDirectTaps = 128

// convDirectGroup is how many tiles share each run of taps (resnet18 at batch 1: 13.4 ms
// with 16, 13.6 with 8, 13.7 with 4).
const convDirectGroup = 16

// convDirectMinTaps is the fewest taps (input channels × kernel cells) a direct
// convolution takes: with fewer, each tile's transposing store costs more than its sums
// (the 27 taps of a 3-channel 3×3 stem ran no faster than im2col and the GEMM).
const convDirectMinTaps = 64

// convDirectMaxTaps bounds the taps (input channels × kernel cells) of a direct convolution
// whose filters are laid out on the call: laying out more costs more than the GEMM's
// packing saves (resnet18's 512 channels at 7×7, 4,608 taps: 4.6-4.9 ms on one core with
// the layout made on each call, 2.2-2.9 ms by im2col and the GEMM).
const convDirectMaxTaps = 1024

// convDirectMaxKeptTaps bounds the taps of a direct convolution whose filters' layout the
// plan keeps, on an image's output of at most one group of tiles, so that each run of 64
// channels' filters, past the L2 cache's size there, is read once per image or fewer as
// the GEMM reads them: resnet18's 512-channel 7×7 layers at batch 1 took 0.97-0.99 ms
// against 1.72 by the GEMM, the model 13.4 against 15.8 ms.
const convDirectMaxKeptTaps = 4608

// convDirectMaxPointwise is the largest output (pixels) of a pointwise convolution that
// runs directly rather than as the GEMM of its filters and input planes: on small planes
// the GEMM's tiles of 32 columns waste much of their last one, and its blocks of rows
// leave a core idle (at batch 1, mobilenet_v2 5.3 against 6.0 ms and squeezenet1_1 4.5
// against 4.8, alternated in one process; up to 196 pixels gained less, up to 3,136 no more).
const convDirectMaxPointwise = 784

// convDirectFits reports whether Conv computes g directly: a 2-D convolution in one group,
// pointwise only on planes of at most convDirectMaxPointwise pixels, of convDirectMinTaps to
// convDirectMaxTaps taps, or to convDirectMaxKeptTaps where the filters' layout is kept
// (kept) and an image's output fits one group of tiles, on a CPU with the kernels.
//
// The tiles run over the pixels of all the images in turn, so a batch of small planes
// fills them as one plane would, and each run of filters serves the tiles of several
// images. With a part of 4 images on each core, against im2col and the GEMM for the layers
// Winograd leaves, alternated in one process: resnet18 at batch 8 took 90.1 against 101.5
// ms (its 512-channel 7×7 layers 0.8 of their time), squeezenet1_1 27.7 against 29.6 ms,
// mobilenet_v2 (1×1 layers only) as long; the Fashion-MNIST CNN's training step at batch
// 64 took 0.91 of its time.
func (g *ConvGeom) convDirectFits(kept bool) bool {
	taps := g.InC * g.KernelSize()
	if !convDirectSIMD() || len(g.InShape) != 2 || g.Group != 1 || taps < convDirectMinTaps ||
		g.pointwise() && g.OutSize() > convDirectMaxPointwise {
		return false
	}
	return taps <= convDirectMaxTaps || kept && taps <= convDirectMaxKeptTaps && g.OutSize() <= convDirectPixels*convDirectGroup
}

// directFiltersLen is the length of the direct convolution's layout of outC filters of k
// taps: the channels rounded up to blocks of 16.
func directFiltersLen(outC, k int) int { return (outC + 15) &^ 15 * k }

// packDirectFilters lays the filters w ([outC, k]) out for the direct convolution in dst
// (directFiltersLen values): for each run of up to 64 channels, tap by tap, the run's
// values, with zeros for the channels past outC of its last block of 16.
func packDirectFilters(dst, w []float32, outC, k int) {
	pos := 0
	for c0 := 0; c0 < outC; c0 += convDirectChannels {
		n := min(convDirectChannels, outC-c0)
		width := (n + 15) &^ 15
		run := dst[pos : pos+k*width]
		for c := range n {
			for t, v := range w[(c0+c)*k : (c0+c+1)*k] {
				run[t*width+c] = v
			}
		}
		for t := range k {
			clear(run[t*width+n : (t+1)*width])
		}
		pos += k * width
	}
}

// convDirectLayout is where the direct convolution reads its input: each image's planes
// copied with a zero border (padded) or read in place, hp×wp cells each, and the taps' byte
// offsets from a pixel's first input cell.
type convDirectLayout struct {
	padded bool
	hp, wp int
	offs   []int64
}

// newConvDirectLayout returns where g's direct convolution reads its input, the taps'
// offsets written into offs (InC × kernel cells long).
func newConvDirectLayout(g *ConvGeom, offs []int64) convDirectLayout {
	ih, iw := g.InShape[0], g.InShape[1]
	// The last cell a window reads, in padded coordinates, bounds the padded plane.
	hp := max(ih+g.Pads[0], (g.OutShape[0]-1)*g.Strides[0]+(g.Kernel[0]-1)*g.Dilations[0]+1)
	wp := max(iw+g.Pads[1], (g.OutShape[1]-1)*g.Strides[1]+(g.Kernel[1]-1)*g.Dilations[1]+1)
	// A begin pad makes the padded plane larger too, so its size says whether it is padded.
	l := convDirectLayout{padded: hp != ih || wp != iw, hp: hp, wp: wp, offs: offs}
	t := 0
	for c := range g.InC {
		for kh := range g.Kernel[0] {
			for kw := range g.Kernel[1] {
				l.offs[t] = int64(4 * (c*hp*wp + kh*g.Dilations[0]*wp + kw*g.Dilations[1]))
				t++
			}
		}
	}
	return l
}

// pad copies the planes of one image x into dst (InC planes of hp×wp), each with its border
// of zeros.
func (l *convDirectLayout) pad(dst, x []float32, g *ConvGeom) {
	ih, iw := g.InShape[0], g.InShape[1]
	pt, pl := g.Pads[0], g.Pads[1]
	plane := l.hp * l.wp
	for c := range g.InC {
		p := dst[c*plane : (c+1)*plane]
		clear(p[:pt*l.wp])
		for r := range ih {
			row := p[(pt+r)*l.wp : (pt+r+1)*l.wp]
			clear(row[:pl])
			copy(row[pl:pl+iw], x[(c*ih+r)*iw:])
			clear(row[pl+iw:])
		}
		clear(p[(pt+ih)*l.wp:])
	}
}

// convDirect is Conv for a geometry that convDirectFits, with its filters packed by
// packDirectFilters.
func convDirect(y, x, packed, bias []float32, g *ConvGeom, procs int) {
	k := g.InC * g.KernelSize()
	offsBuf, ok := convDirectOffs.Get()
	if !ok || cap(*offsBuf) < k {
		v := make([]int64, k)
		offsBuf = &v
	}
	l := newConvDirectLayout(g, (*offsBuf)[:k])
	xs, in := g.InC*g.InSize(), x
	var padBuf *[]float32
	if l.padded {
		xs = g.InC * l.hp * l.wp
		padBuf = convGetCol(g.Batch * xs)
		in = *padBuf
		parallel.ForEachIn(&convDirectPadBodies, g.Batch, min(procs, g.Batch), convDirectPads{dst: in, x: x, g: g, l: l})
	}
	outSize := g.OutSize()
	// The last pixel's last tap is the farthest cell any tile reads.
	ow := g.OutShape[1]
	if last := ((outSize-1)/ow*g.Strides[0]*l.wp+(outSize-1)%ow*g.Strides[1])*4 + int(l.offs[k-1]); last+4 > 4*xs {
		panic(fmt.Sprintf("tensor.convDirect: a window reads byte %d of an image of %d", last, 4*xs))
	}
	// The tiles run over the batch's pixels, image after image.
	tiles := (g.Batch*outSize + convDirectPixels - 1) / convDirectPixels
	runs := (g.OutC + convDirectChannels - 1) / convDirectChannels
	// Parts of the tiles: enough tasks to balance the cores, each of several tiles.
	parts := max(1, min(tiles/8, (4*procs+runs-1)/runs))
	tasks := runs * parts
	workers := convTileWorkers(g.Batch, g.OutC, k, outSize, procs)
	parallel.ForEachIn(&convDirectBodies, tasks, workers, convDirectTasks{
		y: y, x: in, packed: packed, bias: bias, g: g, l: l,
		k: k, xs: xs, ys: g.yImageStride(), outSize: outSize, tiles: tiles, runs: runs, parts: parts,
	})
	if padBuf != nil {
		convPutCol(padBuf)
	}
	convDirectOffs.Put(offsBuf)
}

// convTileWorkers is how many cores the direct and row-wise convolutions spread the tiles
// of images images over: one where the multiply-adds (images × outC × taps × pixels) are
// too few to pay for waking another, else procs.
func convTileWorkers(images, outC, taps, pixels, procs int) int {
	if float64(images)*float64(outC)*float64(taps)*float64(pixels) < 1<<21 {
		return 1
	}
	return procs
}

// convDirectOffs recycles the taps' offsets of the direct and row-wise convolutions from
// call to call.
var convDirectOffs freelist.List[*[]int64]

// convDirectPads is convDirect's loop over the images it pads.
type convDirectPads struct {
	dst, x []float32
	g      *ConvGeom
	l      convDirectLayout
}

var convDirectPadBodies parallel.Bodies[convDirectPads]

// Run pads image img.
func (p *convDirectPads) Run(img int) {
	xs := p.g.InC * p.l.hp * p.l.wp
	p.l.pad(p.dst[img*xs:(img+1)*xs], p.x[img*p.g.InC*p.g.InSize():], p.g)
}

// convDirectTasks is convDirect's loop over (run of 64 channels, part of the tiles).
type convDirectTasks struct {
	y, x, packed, bias                     []float32
	g                                      *ConvGeom
	l                                      convDirectLayout
	k, xs, ys, outSize, tiles, runs, parts int
}

var convDirectBodies parallel.Bodies[convDirectTasks]

// Run computes task t.
func (c *convDirectTasks) Run(t int) {
	g, l := c.g, &c.l
	part, run := t%c.parts, t/c.parts
	c0 := run * convDirectChannels
	rows := min(convDirectChannels, g.OutC-c0)
	blocks := (rows + 15) / 16
	w := c.packed[c0*c.k : (c0+16*blocks)*c.k]
	// A fused residual is added after the bias and before the clamp, by g.epilogue on
	// each channel's run of outputs once the task's tiles are done, as the GEMM path does.
	var ep gemmEpilogue
	if g.Clamp != nil && g.Residual == nil {
		ep.clamp, ep.lo, ep.hi = true, g.Clamp[0], g.Clamp[1]
	}
	var bias [convDirectChannels]float32
	if c.bias != nil {
		// the kernel reads a bias for each of its blocks' channels
		ep.bias = bias[:16*blocks]
		copy(ep.bias, c.bias[c0:c0+rows])
	}
	// Pixel p of the batch is pixel p%outSize of image p/outSize, whose input cells start
	// at byte 4*(image*xs + row*sh*wp + col*sw) of x and whose outputs at image*ys+q of y.
	pixels, ow := g.Batch*c.outSize, g.OutShape[1]
	rowStep, colStep := int64(4*g.Strides[0]*l.wp), int64(4*g.Strides[1])
	out := func(p int) int { return p/c.outSize*c.ys + c0*c.outSize + p%c.outSize }
	var pix [convDirectGroup][convDirectPixels]int64
	var sums [convDirectGroup][convDirectPixels * convDirectChannels]float32
	// A tile whose pixels run from one image into the next is stored here, then copied.
	var straddle [convDirectChannels * convDirectPixels]float32
	first, end := c.tiles*part/c.parts, c.tiles*(part+1)/c.parts
	for g0 := first; g0 < end; g0 += convDirectGroup {
		g1 := min(end, g0+convDirectGroup)
		for tile := g0; tile < g1; tile++ {
			for i := range convDirectPixels {
				// a short last tile repeats its last pixel
				p := min(tile*convDirectPixels+i, pixels-1)
				q := p % c.outSize
				pix[tile-g0][i] = int64(4*(p/c.outSize)*c.xs) + int64(q/ow)*rowStep + int64(q%ow)*colStep
			}
		}
		// Run by run of taps, so that a run's filters stay in L1 for the group's tiles.
		for t0 := 0; t0 < c.k; t0 += convDirectTaps {
			t1 := min(c.k, t0+convDirectTaps)
			for tile := g0; tile < g1; tile++ {
				p0 := tile * convDirectPixels
				n := min(convDirectPixels, pixels-p0)
				dst, ldo := c.y[out(p0):], c.outSize
				straddles := p0%c.outSize+n > c.outSize
				if straddles {
					dst, ldo = straddle[:], convDirectPixels
				}
				convDirectTile(n, rows, blocks, w[t0*16*blocks:t1*16*blocks], l.offs[t0:t1], c.x, &pix[tile-g0], dst, ldo, ep, &sums[tile-g0], t0 == 0, t1 == c.k)
				if straddles && t1 == c.k {
					for i := range n {
						y := c.y[out(p0+i):]
						for m := range rows {
							y[m*c.outSize] = straddle[m*convDirectPixels+i]
						}
					}
				}
			}
		}
	}
	if g.Residual != nil {
		// image by image over the task's pixels
		p0, p1 := first*convDirectPixels, min(end*convDirectPixels, pixels)
		for p0 < p1 {
			n := min(p1, (p0/c.outSize+1)*c.outSize) - p0
			off := out(p0)
			g.epilogueRows(c.y[off:], rows, n, c.outSize, off)
			p0 += n
		}
	}
}
