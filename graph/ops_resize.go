package graph

import (
	"fmt"
	"math"

	"github.com/onnxtune/onnxtune/tensor"
)

func init() {
	// 11 brought roi, sizes and the attributes below; 13 made roi and scales optional and
	// dropped tf_half_pixel_for_nn; 18 added axes, keep_aspect_ratio_policy and antialias;
	// 19 half_pixel_symmetric.
	for _, since := range []int{11, 13, 18, 19} {
		Register(OpDef{Type: "Resize", Since: since, Build: buildResize})
	}
}

// Resize is ONNX Resize from opset 11: X interpolated (nearest, linear or cubic) to the sizes
// given, or scaled by the scales given, along every axis or, from opset 18, those of Axes.
// The interpolation is separable: one tensor.ResizeAxis per resized axis, applied from the
// last axis to the first, as ONNX's reference computes it. With Antialias (opset 18), linear
// and cubic filters are stretched by 1/scale when an axis shrinks, so that every input cell
// contributes.
type Resize struct {
	Mode           string // nearest, linear, cubic
	Coordinates    string // coordinate_transformation_mode
	NearestMode    string
	CubicA         float64
	ExcludeOutside bool
	Antialias      bool
	Extrapolation  float64
	Axes           []int  // nil: all
	KeepAspect     string // stretch, not_larger, not_smaller
	Opset          int
}

var _ Kernel = (*Resize)(nil)

func buildResize(n *Node, opset int) (Kernel, error) {
	a := n.AttrReader()
	k := &Resize{
		Mode:           a.String("mode", "nearest"),
		Coordinates:    a.String("coordinate_transformation_mode", "half_pixel"),
		NearestMode:    a.String("nearest_mode", "round_prefer_floor"),
		CubicA:         float64(a.Float("cubic_coeff_a", -0.75)),
		ExcludeOutside: a.Int("exclude_outside", 0) != 0,
		Extrapolation:  float64(a.Float("extrapolation_value", 0)),
		KeepAspect:     "stretch",
		Opset:          opset,
	}
	if len(n.Inputs) < 1 || len(n.Inputs) > 4 {
		a.Fail("has %d inputs, want X, roi, scales and sizes", len(n.Inputs))
	}
	switch k.Mode {
	case "nearest", "linear", "cubic":
	default:
		a.Fail("mode %q is not nearest, linear or cubic", k.Mode)
	}
	switch c := k.Coordinates; {
	case c == "half_pixel", c == "pytorch_half_pixel", c == "align_corners", c == "asymmetric", c == "tf_crop_and_resize":
	case c == "tf_half_pixel_for_nn" && opset < 13, c == "half_pixel_symmetric" && opset >= 19:
	default:
		a.Fail("coordinate_transformation_mode %q is not defined at opset %d", c, opset)
	}
	switch k.NearestMode {
	case "round_prefer_floor", "round_prefer_ceil", "floor", "ceil":
	default:
		a.Fail("nearest_mode %q is not defined", k.NearestMode)
	}
	if opset >= 18 {
		k.Antialias = a.Int("antialias", 0) != 0
		for _, ax := range a.Ints("axes", nil) {
			k.Axes = append(k.Axes, int(ax))
		}
		k.KeepAspect = a.String("keep_aspect_ratio_policy", "stretch")
		switch k.KeepAspect {
		case "stretch", "not_larger", "not_smaller":
		default:
			a.Fail("keep_aspect_ratio_policy %q is not stretch, not_larger or not_smaller", k.KeepAspect)
		}
	}
	return k, a.Err()
}

// input returns in[i] when present and not empty (an empty scales or roi means absent).
func resizeInput(in []*tensor.Tensor, i int) *tensor.Tensor {
	if i < len(in) && in[i] != nil && in[i].Len() > 0 {
		return in[i]
	}
	return nil
}

// Plan returns, for an input of the given shape and the roi, scales and sizes inputs, the
// output's shape and the interpolation along each axis (nil where the axis is unchanged).
func (k *Resize) Plan(shape []int, in []*tensor.Tensor) ([]int, []*tensor.ResizeAxis, error) {
	r := len(shape)
	axes := make([]int, 0, r)
	if k.Axes == nil {
		for i := range r {
			axes = append(axes, i)
		}
	} else {
		seen := make([]bool, r)
		for _, a := range k.Axes {
			if a < -r || a >= r {
				return nil, nil, fmt.Errorf("axis %d is out of range for X of rank %d", a, r)
			}
			if a < 0 {
				a += r
			}
			if seen[a] {
				return nil, nil, fmt.Errorf("axis %d is given twice in axes %v", a, k.Axes)
			}
			seen[a] = true
			axes = append(axes, a)
		}
	}
	scalesIn, sizesIn := resizeInput(in, 2), resizeInput(in, 3)
	if (scalesIn == nil) == (sizesIn == nil) {
		return nil, nil, fmt.Errorf("exactly one of scales and sizes must be given")
	}
	out := append([]int(nil), shape...)
	scale := make([]float64, r) // per axis; 1 where not resized
	width := make([]float64, r) // the reference's output width: scale·input, not rounded
	for i := range scale {
		scale[i], width[i] = 1, float64(shape[i])
	}
	if scalesIn != nil {
		s := scalesIn.ToFloat64s()
		if len(s) != len(axes) {
			return nil, nil, fmt.Errorf("scales %v has %d entries for %d axes", s, len(s), len(axes))
		}
		for i, a := range axes {
			if !(s[i] > 0) {
				return nil, nil, fmt.Errorf("scales %v must be positive", s)
			}
			scale[a] = s[i]
			width[a] = s[i] * float64(shape[a])
			out[a] = int(math.Floor(width[a]))
		}
	} else {
		if sizesIn.DType() != tensor.Int64 {
			return nil, nil, fmt.Errorf("sizes must be int64, got %v", sizesIn)
		}
		s := sizesIn.Int64s()
		if len(s) != len(axes) {
			return nil, nil, fmt.Errorf("sizes %v has %d entries for %d axes", s, len(s), len(axes))
		}
		common := math.NaN()
		for i, a := range axes {
			if s[i] < 1 {
				return nil, nil, fmt.Errorf("sizes %v must be positive", s)
			}
			f := float64(s[i]) / float64(shape[a])
			switch {
			case k.KeepAspect == "not_larger" && !(f >= common):
				common = f
			case k.KeepAspect == "not_smaller" && !(f <= common):
				common = f
			}
			out[a], scale[a] = int(s[i]), f
		}
		for _, a := range axes {
			if k.KeepAspect != "stretch" {
				scale[a] = common
				out[a] = int(math.Round(common * float64(shape[a])))
			}
			width[a] = float64(out[a])
			if k.KeepAspect != "stretch" {
				width[a] = scale[a] * float64(shape[a])
			}
		}
	}
	var roi []float64
	if k.Coordinates == "tf_crop_and_resize" {
		t := resizeInput(in, 1)
		if t == nil || t.Len() != 2*len(axes) {
			return nil, nil, fmt.Errorf("tf_crop_and_resize needs a roi of %d values", 2*len(axes))
		}
		roi = t.ToFloat64s()
	}
	plan := make([]*tensor.ResizeAxis, r)
	for i, a := range axes {
		if out[a] < 1 {
			return nil, nil, fmt.Errorf("axis %d of X %v would be resized to %d cells", a, shape, out[a])
		}
		var start, end float64
		if roi != nil {
			start, end = roi[i], roi[len(axes)+i]
		}
		ra := k.axis(shape[a], out[a], scale[a], width[a], start, end)
		if !ra.Identity() {
			plan[a] = ra
		}
	}
	return out, plan, nil
}

// axis returns the interpolation of one axis from in to out cells.
func (k *Resize) axis(in, out int, scale, width, start, end float64) *tensor.ResizeAxis {
	taps := map[string]int{"nearest": 1, "linear": 2, "cubic": 4}[k.Mode]
	// An antialiased filter reaches support/scale cells either side: taps i of [first,
	// 1-first) relative to the cell left of the source, as ONNX's reference counts them.
	stretch := k.Antialias && k.Mode != "nearest" && scale < 1
	first := 0
	if stretch {
		support := map[string]float64{"linear": 1, "cubic": 2}[k.Mode]
		first = int(math.Floor(-support/scale)) + 1
		taps = 2 - 2*first
	}
	ra := &tensor.ResizeAxis{In: in, Out: out, Taps: taps, Idx: make([]int, out*taps), W: make([]float64, out*taps), Fill: k.Extrapolation}
	for o := range out {
		x, outside := k.source(float64(o), in, scale, width, start, end)
		if outside {
			if ra.Outside == nil {
				ra.Outside = make([]bool, out)
			}
			ra.Outside[o] = true
			continue
		}
		// The taps start at the cell left of x (one further left when x is a whole cell,
		// ratio then being 1), as ONNX's reference picks its neighbours.
		f := math.Floor(x)
		ratio := x - f
		if ratio == 0 {
			f, ratio = f-1, 1
		}
		idx, w := ra.Idx[o*taps:(o+1)*taps], ra.W[o*taps:(o+1)*taps]
		switch {
		case stretch:
			sum := 0.0
			for j := range taps {
				i := first + j
				idx[j] = int(f) + i
				w[j] = k.kernel(scale * (float64(i) - ratio))
				sum += w[j]
			}
			for j := range w {
				w[j] /= sum
			}
		case k.Mode == "nearest":
			right := false
			switch k.NearestMode {
			case "round_prefer_floor":
				right = ratio > 0.5
			case "round_prefer_ceil":
				right = ratio >= 0.5
			case "ceil":
				right = true
			}
			if ratio == 1 {
				right = true
			}
			idx[0], w[0] = int(f), 1
			if right {
				idx[0]++
			}
		case k.Mode == "linear":
			idx[0], idx[1] = int(f), int(f)+1
			w[0], w[1] = 1-ratio, ratio
		default: // cubic
			a := k.CubicA
			for j := range 4 {
				idx[j] = int(f) - 1 + j
			}
			r1, r2 := ratio+1, 2-ratio
			w[0] = ((a*r1-5*a)*r1+8*a)*r1 - 4*a
			w[1] = ((a+2)*ratio-(a+3))*ratio*ratio + 1
			w[2] = ((a+2)*(1-ratio)-(a+3))*(1-ratio)*(1-ratio) + 1
			w[3] = ((a*r2-5*a)*r2+8*a)*r2 - 4*a
		}
		if k.ExcludeOutside && k.Mode != "nearest" {
			sum := 0.0
			for j, i := range idx {
				if i < 0 || i >= in {
					w[j] = 0
				}
				sum += w[j]
			}
			for j := range w {
				w[j] /= sum
			}
		}
		for j, i := range idx {
			idx[j] = min(max(i, 0), in-1) // the reference pads with the edge cells
		}
	}
	return ra
}

// kernel is the interpolation filter at distance x (in output cells when stretched): the
// triangle of linear interpolation, or Keys' cubic with cubic_coeff_a.
func (k *Resize) kernel(x float64) float64 {
	x = math.Abs(x)
	if k.Mode == "linear" {
		return max(0, 1-x)
	}
	a := k.CubicA
	switch {
	case x <= 1:
		return ((a+2)*x-(a+3))*x*x + 1
	case x < 2:
		return ((a*x-5*a)*x+8*a)*x - 4*a
	}
	return 0
}

// source returns the input coordinate output o reads, and whether it lies outside the input
// (tf_crop_and_resize only).
func (k *Resize) source(o float64, in int, scale, width, start, end float64) (float64, bool) {
	n := float64(in)
	switch k.Coordinates {
	case "align_corners":
		if width == 1 {
			return 0, false
		}
		return o * (n - 1) / (width - 1), false
	case "asymmetric":
		return o / scale, false
	case "tf_half_pixel_for_nn":
		return (o + 0.5) / scale, false
	case "pytorch_half_pixel":
		if width == 1 {
			return -0.5, false
		}
		return (o+0.5)/scale - 0.5, false
	case "half_pixel_symmetric":
		// The centre of the input maps to the centre of the output canvas; it differs from
		// half_pixel only when scale·input is not a whole number.
		adjust := math.Floor(width) / width
		return n/2*(1-adjust) + (o+0.5)/scale - 0.5, false
	case "tf_crop_and_resize":
		var x float64
		if width == 1 {
			x = (end - start) * (n - 1) / 2
		} else {
			x = o * (end - start) * (n - 1) / (width - 1)
		}
		x += start * (n - 1)
		return x, x < 0 || x > n-1
	}
	return (o+0.5)/scale - 0.5, false // half_pixel
}

// Run implements Kernel.
func (k *Resize) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(in) < 1 || in[0] == nil {
		return nil, fmt.Errorf("needs X")
	}
	x := in[0]
	out, plan, err := k.Plan(x.Shape(), in)
	if err != nil {
		return nil, err
	}
	switch x.DType() {
	case tensor.Float32:
		return ctx.one(tensor.From(out, resizeRun(x.Float32s(), x.Shape(), plan)))
	case tensor.Float64:
		return ctx.one(tensor.From(out, resizeRun(tensor.Data[float64](x), x.Shape(), plan)))
	}
	return nil, fmt.Errorf("Resize of %v is not supported (float32 and float64 are)", x)
}

// resizeRun applies plan to src, of the given shape, from the last axis to the first.
func resizeRun[T tensor.Float](src []T, shape []int, plan []*tensor.ResizeAxis) []T {
	cur := src
	sh := append([]int(nil), shape...)
	for a := len(plan) - 1; a >= 0; a-- {
		ra := plan[a]
		if ra == nil {
			continue
		}
		next := make([]T, tensor.Size(sh)/ra.In*ra.Out)
		tensor.ResizeApply(next, cur, sh, a, ra)
		cur, sh[a] = next, ra.Out
	}
	if len(cur) > 0 && &cur[0] == &src[0] {
		return append([]T(nil), src...)
	}
	return cur
}
