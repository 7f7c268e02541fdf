package tensor

import (
	"fmt"

	"github.com/onnxtune/onnxtune/internal/parallel"
)

// The convolution gradients that ConvInputGrad and ConvWeightGrad leave to others: the bias
// gradient, and both gradients of a depthwise convolution (one input channel per group),
// which as GEMMs would be one tiny product per channel and so get direct loops here, as the
// forward pass does in convDepthwise.

// Depthwise reports whether g is a depthwise convolution with at most two spatial
// dimensions, the case DepthwiseConvInputGrad and DepthwiseConvWeightGrad handle: one input
// channel per group, each feeding OutC/Group output channels.
func (g *ConvGeom) Depthwise() bool {
	return g.Group > 0 && g.InC == g.Group && len(g.InShape) <= 2
}

// ConvBiasGrad sets db (length c) to the sum of dy = [batch, c, spatial] over the batch and
// the spatial positions: the gradient of a per-channel bias. Sums accumulate in float64.
func ConvBiasGrad[T Float](db, dy []T, batch, c, spatial int) {
	if len(db) < c || len(dy) < batch*c*spatial {
		panic(fmt.Sprintf("tensor.ConvBiasGrad: slices too short for [%d %d %d]", batch, c, spatial))
	}
	parallel.For(c, normWorkers(batch*c*spatial), func(ch int) {
		var s float64
		for n := range batch {
			s += sumF64(dy[(n*c+ch)*spatial : (n*c+ch+1)*spatial])
		}
		db[ch] = T(s)
	})
}

// DepthwiseConvInputGrad is ConvInputGrad for a depthwise geometry (g.Depthwise()): dx
// ([Batch, InC, InShape...]) is overwritten with the gradient of the convolution with respect
// to its input. At unit strides with one output channel per input channel this is a forward
// depthwise convolution with the kernel reversed; otherwise each input plane gathers from its
// OutC/InC output planes one kernel tap at a time, an axpy per row at stride 1, the planes
// running in parallel and each owning its destination.
func DepthwiseConvInputGrad(dx, dy, w []float32, g *ConvGeom) {
	if err := g.Check(); err != nil {
		panic(err.Error())
	}
	if !g.Depthwise() {
		panic(fmt.Sprintf("tensor.DepthwiseConvInputGrad: %d input channels in %d groups over %d dimensions is not depthwise", g.InC, g.Group, len(g.InShape)))
	}
	ih, iw, oh, ow, kh, kw, sh, sw, dh, dw, ph, pw := conv2DDims(g)
	mult := g.OutC / g.Group
	if len(dx) < g.Batch*g.InC*ih*iw || len(dy) < g.Batch*g.OutC*oh*ow || len(w) < g.OutC*kh*kw {
		panic(fmt.Sprintf("tensor.DepthwiseConvInputGrad: slices too short for the geometry (dx %d, w %d, dy %d)", len(dx), len(w), len(dy)))
	}
	if depthwiseFlipped(dx, dy, w, g) {
		return
	}
	planes := g.Batch * g.InC
	workers := 1
	if planes*mult*oh*ow*kh*kw > 1<<16 {
		workers = parallel.Procs()
	}
	parallel.For(planes, workers, func(p int) {
		img, ic := p/g.InC, p%g.InC
		out := dx[p*ih*iw:][:ih*iw]
		clear(out)
		for m := range mult {
			oc := ic*mult + m
			src := dy[(img*g.OutC+oc)*oh*ow:][:oh*ow]
			wk := w[oc*kh*kw:][:kh*kw]
			for i := range kh {
				hoff := i*dh - ph
				hlo, hhi := convRowRange(hoff, sh, ih, oh)
				for j := range kw {
					wv := wk[i*kw+j]
					woff := j*dw - pw
					lo, hi := convRowRange(woff, sw, iw, ow)
					if lo >= hi {
						continue
					}
					for r := hlo; r < hhi; r++ {
						gr := src[r*ow:][:ow]
						d := out[(r*sh+hoff)*iw:][:iw]
						if sw == 1 {
							dd := d[lo+woff : hi+woff]
							gg := gr[lo:hi]
							gg = gg[:len(dd)]
							for c := range dd {
								dd[c] += wv * gg[c]
							}
							continue
						}
						for c := lo; c < hi; c++ {
							d[c*sw+woff] += wv * gr[c]
						}
					}
				}
			}
		}
	})
}

// depthwiseFlipped computes DepthwiseConvInputGrad as a forward depthwise convolution with
// the kernel reversed (convInputGradByConv), and reports whether it could: at unit strides,
// with one output channel per input channel, so that the forward pass's fast depthwise
// kernels do the work.
func depthwiseFlipped(dx, dy, w []float32, g *ConvGeom) bool {
	if g.OutC != g.InC {
		return false
	}
	tg, ok := g.inputGradGeom()
	if ok {
		convInputGradByConv(dx, dy, w, g, tg)
	}
	return ok
}

// DepthwiseConvWeightGrad is ConvWeightGrad for a depthwise geometry (g.Depthwise()): dw
// ([OutC, 1, Kernel...]) is overwritten. Each output channel owns its kernel's taps, so the
// channels run in parallel; a tap's gradient is a dot product of the output gradient's rows
// with the input rows the tap reads, accumulated in float64 across rows and images.
func DepthwiseConvWeightGrad(dw, x, dy []float32, g *ConvGeom) {
	if err := g.Check(); err != nil {
		panic(err.Error())
	}
	if !g.Depthwise() {
		panic(fmt.Sprintf("tensor.DepthwiseConvWeightGrad: %d input channels in %d groups over %d dimensions is not depthwise", g.InC, g.Group, len(g.InShape)))
	}
	ih, iw, oh, ow, kh, kw, sh, sw, dh, ddw, ph, pw := conv2DDims(g)
	mult := g.OutC / g.Group
	if len(dw) < g.OutC*kh*kw || len(x) < g.Batch*g.InC*ih*iw || len(dy) < g.Batch*g.OutC*oh*ow {
		panic(fmt.Sprintf("tensor.DepthwiseConvWeightGrad: slices too short for the geometry (dw %d, x %d, dy %d)", len(dw), len(x), len(dy)))
	}
	workers := 1
	if g.Batch*g.OutC*oh*ow*kh*kw > 1<<16 {
		workers = parallel.Procs()
	}
	parallel.For(g.OutC, workers, func(oc int) {
		var small [25]float64 // up to 5x5 kernels, without a heap allocation per channel
		var acc []float64
		if kh*kw <= len(small) {
			acc = small[:kh*kw]
		} else {
			acc = make([]float64, kh*kw)
		}
		ic := oc / mult
		for img := range g.Batch {
			in := x[(img*g.InC+ic)*ih*iw:][:ih*iw]
			grad := dy[(img*g.OutC+oc)*oh*ow:][:oh*ow]
			for i := range kh {
				hoff := i*dh - ph
				hlo, hhi := convRowRange(hoff, sh, ih, oh)
				for j := range kw {
					woff := j*ddw - pw
					lo, hi := convRowRange(woff, sw, iw, ow)
					if lo >= hi {
						continue
					}
					var s float64
					for r := hlo; r < hhi; r++ {
						gr := grad[r*ow:][lo:hi]
						xr := in[(r*sh+hoff)*iw:][:iw]
						if sw == 1 {
							s += float64(convDot(gr, xr[lo+woff:hi+woff]))
							continue
						}
						var t float32
						for c, v := range gr {
							t += v * xr[(lo+c)*sw+woff]
						}
						s += float64(t)
					}
					acc[i*kw+j] += s
				}
			}
		}
		for t, v := range acc {
			dw[oc*kh*kw+t] = float32(v)
		}
	})
}

// convDot is the dot product of a and b[:len(a)], four partial sums at a time.
func convDot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		x, y := a[i:i+4], b[i:i+4]
		s0 += x[0] * y[0]
		s1 += x[1] * y[1]
		s2 += x[2] * y[2]
		s3 += x[3] * y[3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}
