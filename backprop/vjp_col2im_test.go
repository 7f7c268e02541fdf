package backprop_test

import (
	"testing"

	"github.com/onnxtune/onnxtune/tensor"
)

// TestCol2ImVJP compares Col2Im's gradient with PyTorch's F.fold (symmetric padding) and with
// finite differences in float32 (asymmetric padding too; the kernel has no float64).
func TestCol2ImVJP(t *testing.T) {
	r := egRng(18)
	shape := func(v ...int64) *tensor.Tensor { return egI64([]int{len(v)}, v...) }
	cases := []egCase{
		{name: "Col2Im/plain", op: "Col2Im", opset: 18,
			in: []*tensor.Tensor{egUniform(r, -1, 1, 2, 3*2*3, 4*4), shape(5, 6), shape(2, 3)}, wrt: []int{0},
			torch: "F.fold(x[0], output_size=(5, 6), kernel_size=(2, 3))", f32Only: true},
		{name: "Col2Im/strided-dilated-padded", op: "Col2Im", opset: 18,
			attrs: egAttrs("strides", egInts(2, 1), "dilations", egInts(1, 2), "pads", egInts(1, 1, 1, 1)),
			in:    []*tensor.Tensor{egUniform(r, -1, 1, 1, 2*3*2, 5*8), shape(9, 8), shape(3, 2)}, wrt: []int{0},
			torch: "F.fold(x[0], output_size=(9, 8), kernel_size=(3, 2), stride=(2, 1), dilation=(1, 2), padding=(1, 1))", f32Only: true},
		{name: "Col2Im/asymmetric", op: "Col2Im", opset: 18,
			attrs: egAttrs("pads", egInts(0, 1, 2, 0), "strides", egInts(2, 3)),
			in:    []*tensor.Tensor{egUniform(r, -1, 1, 1, 2*2*2, 4*3), shape(6, 7), shape(2, 2)}, wrt: []int{0}, f32Only: true},
	}
	egRun(t, cases)
}
