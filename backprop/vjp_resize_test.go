package backprop_test

import (
	"testing"

	"github.com/onnxtune/onnxtune/tensor"
)

// TestResizeVJP compares Resize's gradients with PyTorch's F.interpolate (nearest as ONNX's
// asymmetric floor, bilinear with and without align_corners, bicubic, and antialiased, which
// in PyTorch drops the taps outside the input, ONNX's exclude_outside, and whose bicubic has
// a = -0.5) and with finite differences, for scales and sizes, up and down.
func TestResizeVJP(t *testing.T) {
	r := egRng(19)
	x := func() *tensor.Tensor { return egUniform(r, -1, 1, 2, 2, 3, 4) }
	scales := func(v ...float32) *tensor.Tensor { return tensor.From([]int{len(v)}, v) }
	sizes := func(v ...int64) *tensor.Tensor { return egI64([]int{len(v)}, v...) }
	cases := []egCase{
		{name: "Resize/nearest-floor-up", op: "Resize", opset: 13,
			attrs: egAttrs("mode", egString("nearest"), "coordinate_transformation_mode", egString("asymmetric"), "nearest_mode", egString("floor")),
			in:    []*tensor.Tensor{x(), nil, scales(1, 1, 2, 2)}, wrt: []int{0},
			torch: "F.interpolate(x[0], scale_factor=2, mode='nearest')"},
		{name: "Resize/linear-half-pixel-up", op: "Resize", opset: 13,
			attrs: egAttrs("mode", egString("linear")),
			in:    []*tensor.Tensor{x(), nil, scales(1, 1, 2, 2)}, wrt: []int{0},
			torch: "F.interpolate(x[0], scale_factor=2, mode='bilinear', align_corners=False)"},
		{name: "Resize/linear-down-sizes", op: "Resize", opset: 13,
			attrs: egAttrs("mode", egString("linear")),
			in:    []*tensor.Tensor{egUniform(r, -1, 1, 1, 2, 7, 9), nil, nil, sizes(1, 2, 3, 4)}, wrt: []int{0},
			torch: "F.interpolate(x[0], size=(3, 4), mode='bilinear', align_corners=False)"},
		{name: "Resize/linear-align-corners", op: "Resize", opset: 18,
			attrs: egAttrs("mode", egString("linear"), "coordinate_transformation_mode", egString("align_corners")),
			in:    []*tensor.Tensor{x(), nil, nil, sizes(2, 2, 7, 5)}, wrt: []int{0},
			torch: "F.interpolate(x[0], size=(7, 5), mode='bilinear', align_corners=True)"},
		{name: "Resize/cubic-up", op: "Resize", opset: 19,
			attrs: egAttrs("mode", egString("cubic"), "cubic_coeff_a", egFloat(-0.75)),
			in:    []*tensor.Tensor{x(), nil, nil, sizes(2, 2, 6, 7)}, wrt: []int{0},
			torch: "F.interpolate(x[0], size=(6, 7), mode='bicubic', align_corners=False)"},
		{name: "Resize/antialias-linear-down", op: "Resize", opset: 18,
			attrs: egAttrs("mode", egString("linear"), "antialias", egInt(1), "exclude_outside", egInt(1)),
			in:    []*tensor.Tensor{egUniform(r, -1, 1, 1, 2, 9, 8), nil, nil, sizes(1, 2, 4, 3)}, wrt: []int{0},
			torch: "F.interpolate(x[0], size=(4, 3), mode='bilinear', align_corners=False, antialias=True)"},
		{name: "Resize/antialias-cubic-down", op: "Resize", opset: 18,
			attrs: egAttrs("mode", egString("cubic"), "antialias", egInt(1), "exclude_outside", egInt(1), "cubic_coeff_a", egFloat(-0.5)),
			in:    []*tensor.Tensor{egUniform(r, -1, 1, 1, 2, 9, 8), nil, nil, sizes(1, 2, 4, 3)}, wrt: []int{0},
			torch: "F.interpolate(x[0], size=(4, 3), mode='bicubic', align_corners=False, antialias=True)"},
		{name: "Resize/axes-18", op: "Resize", opset: 18,
			attrs: egAttrs("mode", egString("linear"), "axes", egInts(-1)),
			in:    []*tensor.Tensor{x(), nil, scales(1.5)}, wrt: []int{0}},
		{name: "Resize/crop-and-resize", op: "Resize", opset: 13,
			attrs: egAttrs("mode", egString("linear"), "coordinate_transformation_mode", egString("tf_crop_and_resize"), "extrapolation_value", egFloat(0.5)),
			in:    []*tensor.Tensor{x(), tensor.From([]int{8}, []float32{0, 0, -0.2, 0.1, 1, 1, 0.9, 1.3}), nil, sizes(2, 2, 4, 5)}, wrt: []int{0}},
	}
	egRun(t, cases)
}
