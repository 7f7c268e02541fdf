package tensor

import "github.com/onnxtune/onnxtune/internal/freelist"

// convPanels writes a 1-D or 2-D convolution's im2col matrix straight into the GEMM's B
// panels (a gemmBPacker), block by block as the GEMM asks for them. Written whole, the
// matrix (KernelSize*InC rows of a block's columns, a megabyte for a 64-channel 3×3 layer)
// left the core's caches before the GEMM copied it again into its panels. At a horizontal
// stride of 1 each tap's run of an input row goes straight into the panels (packDirect);
// wider strides unroll a few channels at a time into an L1-sized scratch first (packVia).
//
// The columns are those of output rows [row0, row0+rows) of images consecutive images of x
// side by side (convPacked puts several small images in one GEMM).
type convPanels struct {
	g          *ConvGeom
	x          []float32 // the first image's channels of this group
	imgStride  int       // distance between images in x
	images     int
	row0, rows int
	channels   int
	n          int        // columns: images * rows * OutShape[last]
	buf        *[]float32 // the scratch of packVia: viaChannels*KernelSize rows of n columns, pooled
	filled     int        // the channel in the scratch, -1 for none
}

// newConvPanels returns the panel writer for the given columns; release gives it back, with
// its scratch.
func newConvPanels(g *ConvGeom, x []float32, imgStride, images, row0, rows, channels int) *convPanels {
	n := images * rows * g.OutShape[len(g.OutShape)-1]
	c, ok := idleConvPanels.Get()
	if !ok {
		c = new(convPanels)
	}
	*c = convPanels{g: g, x: x, imgStride: imgStride, images: images, row0: row0, rows: rows,
		channels: channels, n: n, filled: -1}
	if g.Strides[len(g.Strides)-1] != 1 {
		c.buf = convGetCol(c.viaChannels() * g.KernelSize() * n)
	}
	return c
}

var idleConvPanels freelist.List[*convPanels]

func (c *convPanels) release() {
	if c.buf != nil {
		convPutCol(c.buf)
	}
	*c = convPanels{}
	idleConvPanels.Put(c)
}

// pack makes the matrix a gemmBPacker.
func (c *convPanels) pack(dst []float32, nr, p0, kc, j0, nc int) {
	if c.g.Strides[len(c.g.Strides)-1] == 1 {
		c.packDirect(dst, nr, p0, kc, j0, nc)
	} else {
		c.packVia(dst, nr, p0, kc, j0, nc)
	}
}

// packVia unrolls a few channels at a time into the scratch, with the strided im2col, and
// copies the rows asked for into the panels. The GEMM asks for its row blocks in order, so
// channels whose rows straddle two blocks are unrolled once.
func (c *convPanels) packVia(dst []float32, nr, p0, kc, j0, nc int) {
	unit := c.viaChannels() * c.g.KernelSize()
	for p := p0; p < p0+kc; {
		u := p / unit
		if u != c.filled {
			c.fill(u)
			c.filled = u
		}
		end := min(p0+kc, (u+1)*unit)
		gemmPackRowsInto(dst[(p-p0)*nr:], kc*nr, nr, (*c.buf)[(p-u*unit)*c.n:], c.n, end-p, j0, nc)
		p = end
	}
}

// viaChannels is how many channels packVia unrolls at a time: enough for 16 rows, so that
// a 1×1 kernel does not pay the im2col's set-up once per row.
func (c *convPanels) viaChannels() int { return max(1, 16/c.g.KernelSize()) }

// fill writes the rows of unit u of packVia into the scratch: viaChannels channels.
func (c *convPanels) fill(u int) {
	per := c.viaChannels()
	ch0, ch1 := u*per, min(c.channels, (u+1)*per)
	inSize := c.g.InSize()
	cols := c.n / c.images
	for i := range c.images {
		conv2DWalk((*c.buf)[i*cols:], c.x[i*c.imgStride+ch0*inSize:], ch1-ch0, c.g, c.row0, c.rows, c.n, false)
	}
}

// packDirect writes the rows of a convolution with horizontal stride 1 straight into the
// panels, and zeroes the last panel's padding (packVia's gemmPackRowsInto does it there): each output row's run of a tap is a contiguous run of an input row (for a "same"
// convolution, a whole block of output rows is one run of the plane, with the few cells
// that wrapped in from the neighbouring row zeroed afterwards).
func (c *convPanels) packDirect(dst []float32, nr, p0, kc, j0, nc int) {
	ih, iw, _, ow, _, kw, sh, _, dh, dw, ph, pw := conv2DDims(c.g)
	ks := c.g.KernelSize()
	pd := panelDst{dst: dst, stride: kc * nr, nr: nr, j0: j0, nc: nc}
	r0, r1 := c.row0, c.row0+c.rows
	per := c.rows * ow
	dense := sh*iw == ow
	for p := p0; p < p0+kc; p++ {
		pd.row = p - p0
		pd.fill(j0+nc, j0+gemmRoundUp(nc, nr), 0) // the last panel's columns past nc
		ch, tap := p/ks, p%ks
		hoff, woff := tap/kw*dh-ph, tap%kw*dw-pw
		hlo, hhi := convRowRange(hoff, sh, ih, r1)
		hlo, hhi = max(hlo, r0), max(hhi, r0)
		lo, hi := convRowRange(woff, 1, iw, ow)
		for m := range c.images {
			plane := c.x[m*c.imgStride+ch*ih*iw:][:ih*iw]
			base := m*per - r0*ow // the column of output cell (r, x) is base + r*ow + x
			if hlo >= hhi || lo >= hi {
				pd.zero(base+r0*ow, base+r1*ow)
				continue
			}
			pd.zero(base+r0*ow, base+hlo*ow)
			pd.zero(base+hhi*ow, base+r1*ow)
			if dense {
				shift := hoff*iw + woff
				a, b := hlo*ow+lo, (hhi-1)*ow+hi
				pd.copy(base+a, plane[a+shift:b+shift])
				if lo > 0 || hi < ow {
					for r := hlo; r < hhi; r++ {
						pd.zeroFew(base+r*ow, lo)
						pd.zeroFew(base+r*ow+hi, ow-hi)
					}
				}
				continue
			}
			for r := hlo; r < hhi; r++ {
				y := (r*sh + hoff) * iw
				pd.zeroFew(base+r*ow, lo)
				pd.copy(base+r*ow+lo, plane[y+lo+woff:y+hi+woff])
				pd.zeroFew(base+r*ow+hi, ow-hi)
			}
		}
	}
}

// panelDst addresses one row of a block of GEMM B panels (see gemmBPacker) by the column
// of the whole matrix: column q lands in panel (q-j0)/nr; columns outside [j0, j0+nc) are
// not this block's and are skipped.
type panelDst struct {
	dst        []float32
	stride, nr int
	j0, nc     int
	row        int
}

// copy writes src into columns [c0, c0+len(src)) of the row.
func (d *panelDst) copy(c0 int, src []float32) {
	a, b := max(c0, d.j0), min(c0+len(src), d.j0+d.nc)
	if a >= b {
		return
	}
	src = src[a-c0 : b-c0]
	q, nr := a-d.j0, d.nr
	if off := q % nr; off != 0 {
		t := min(nr-off, len(src))
		copy(d.dst[q/nr*d.stride+d.row*nr+off:][:t], src[:t])
		src, q = src[t:], q+t
	}
	if full := len(src) / nr * nr; full > 0 {
		gemmCopyPanels(d.dst[q/nr*d.stride+d.row*nr:], d.stride, src[:full], nr)
		src, q = src[full:], q+full
	}
	if len(src) > 0 {
		copy(d.dst[q/nr*d.stride+d.row*nr:][:len(src)], src)
	}
}

// zero clears columns [c0, c1) of the row.
func (d *panelDst) zero(c0, c1 int) {
	d.fill(c0, min(c1, d.j0+d.nc), 0)
}

// zeroFew clears the n columns from c0 one cell at a time: for the cells at a row's edges
// that the padding covers (as many as the pad, one for a 3×3 kernel), where a clear per
// run, a call into the runtime's memclr for each cell, took a tenth of resnet18's time.
func (d *panelDst) zeroFew(c0, n int) {
	for q := max(c0-d.j0, 0); q < min(c0-d.j0+n, d.nc); q++ {
		d.dst[q/d.nr*d.stride+d.row*d.nr+q%d.nr] = 0
	}
}

// fill sets columns [c0, c1) of the row to v, the last panel's padding past j0+nc included.
func (d *panelDst) fill(c0, c1 int, v float32) {
	a, b := max(c0, d.j0), min(c1, d.j0+gemmRoundUp(d.nc, d.nr))
	for q := a - d.j0; q < b-d.j0; {
		off := q % d.nr
		t := min(d.nr-off, b-d.j0-q)
		if run := d.dst[q/d.nr*d.stride+d.row*d.nr+off:][:t]; v == 0 {
			clear(run)
		} else {
			fillFloat32(run, v)
		}
		q += t
	}
}
