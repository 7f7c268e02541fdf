package explain

import (
	"fmt"
	"image"
	"image/color"
	"math"

	"github.com/onnxtune/onnxtune/tensor"
)

// Overlay draws heat [H, W] (values in [0, 1]) over the image pixels [C, H, W] (values in
// [0, 1]; one channel is grey, three are RGB): each pixel is half the image's colour and half
// the heat's on the jet colour map (blue for 0, through green and yellow, to red for 1).
func Overlay(pixels, heat *tensor.Tensor) (*image.RGBA, error) {
	ps, hs := pixels.Shape(), heat.Shape()
	if len(ps) != 3 || (ps[0] != 1 && ps[0] != 3) || len(hs) != 2 || hs[0] != ps[1] || hs[1] != ps[2] {
		return nil, fmt.Errorf("explain: overlay of heat %v on image %v: want [H, W] on [1 or 3, H, W]", heat, pixels)
	}
	c, h, w := ps[0], ps[1], ps[2]
	pv, hv := pixels.ToFloat64s(), heat.ToFloat64s()
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			p := y*w + x
			var rgb [3]float64
			for ch := range 3 {
				rgb[ch] = pv[min(ch, c-1)*h*w+p]
			}
			j := jet(hv[p])
			var px [3]uint8
			for ch := range 3 {
				px[ch] = uint8(math.Round(255 * clamp01(0.5*rgb[ch]+0.5*j[ch])))
			}
			out.SetRGBA(x, y, color.RGBA{px[0], px[1], px[2], 255})
		}
	}
	return out, nil
}

// jet is the jet colour map at v in [0, 1].
func jet(v float64) [3]float64 {
	v = clamp01(v)
	f := func(center float64) float64 { return clamp01(1.5 - math.Abs(4*v-center)) }
	return [3]float64{f(3), f(2), f(1)}
}

func clamp01(v float64) float64 { return math.Min(math.Max(v, 0), 1) }
