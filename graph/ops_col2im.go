package graph

import (
	"fmt"

	"github.com/onnxtune/onnxtune/tensor"
)

func init() {
	Register(OpDef{Type: "Col2Im", Since: 18, Build: buildCol2Im})
}

// Col2Im is ONNX Col2Im (opset 18), PyTorch's fold: input [N, C·∏block_shape, L] holds, for
// each of the L sliding blocks of an image of image_shape, the C·∏block_shape values of the
// block, which are added back onto the cells they cover; the output is [N, C, image_shape...].
// It is the adjoint of the im2col the convolutions unroll their input with, and runs on the
// same code (tensor.Col2Im).
type Col2Im struct {
	Dilations, Pads, Strides []int // nil: ones, zeros, ones
}

var _ Kernel = (*Col2Im)(nil)

func buildCol2Im(n *Node, opset int) (Kernel, error) {
	if len(n.Inputs) != 3 {
		return nil, fmt.Errorf("has %d inputs, want input, image_shape and block_shape", len(n.Inputs))
	}
	a := n.AttrReader()
	k := &Col2Im{Dilations: convInts(a, "dilations", 1), Pads: convInts(a, "pads", 0), Strides: convInts(a, "strides", 1)}
	return k, a.Err()
}

// Geometry checks the input's shape against image_shape, block_shape and the attributes, and
// returns the geometry of the convolution whose im2col the input is (its InShape is the image,
// its OutShape the grid of blocks) and the output's shape.
func (k *Col2Im) Geometry(x []int, image, block *tensor.Tensor) (*tensor.ConvGeom, []int, error) {
	if image == nil || block == nil || image.DType() != tensor.Int64 || block.DType() != tensor.Int64 || image.Rank() != 1 || block.Rank() != 1 {
		return nil, nil, fmt.Errorf("image_shape and block_shape must be 1-D int64 tensors, got %v and %v", image, block)
	}
	img, blk := shapeToInts(image.Int64s()), shapeToInts(block.Int64s())
	nd := len(img)
	if nd == 0 || len(blk) != nd {
		return nil, nil, fmt.Errorf("image_shape %v and block_shape %v must have one entry per spatial dimension", img, blk)
	}
	for i := range nd {
		if img[i] < 1 || blk[i] < 1 {
			return nil, nil, fmt.Errorf("image_shape %v and block_shape %v must be positive", img, blk)
		}
	}
	if len(x) != 3 {
		return nil, nil, fmt.Errorf("input has shape %v, want [N, C·∏block_shape, L]", x)
	}
	ks := tensor.Size(blk)
	if x[1]%ks != 0 {
		return nil, nil, fmt.Errorf("input has %d values per block, not a multiple of block_shape %v's %d", x[1], blk, ks)
	}
	strides, err := convOr("strides", k.Strides, nd, 1)
	if err != nil {
		return nil, nil, err
	}
	dilations, err := convOr("dilations", k.Dilations, nd, 1)
	if err != nil {
		return nil, nil, err
	}
	blocks, begin, _, err := convWindow("", img, blk, strides, dilations, k.Pads, false)
	if err != nil {
		return nil, nil, err
	}
	if l := tensor.Size(blocks); l != x[2] {
		return nil, nil, fmt.Errorf("input has %d blocks, but image_shape %v, block_shape %v and the attributes give %v = %d", x[2], img, blk, blocks, l)
	}
	c := x[1] / ks
	g := &tensor.ConvGeom{
		Batch: x[0], InC: c, OutC: c, Group: 1,
		InShape: img, Kernel: blk, OutShape: blocks,
		Strides: strides, Dilations: dilations, Pads: begin,
	}
	if err := g.Check(); err != nil {
		return nil, nil, err
	}
	return g, append([]int{x[0], c}, img...), nil
}

// Run implements Kernel.
func (k *Col2Im) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(in) != 3 || in[0] == nil {
		return nil, fmt.Errorf("needs input, image_shape and block_shape")
	}
	x := in[0]
	g, yShape, err := k.Geometry(x.Shape(), in[1], in[2])
	if err != nil {
		return nil, err
	}
	return convFloat32(ctx, x.DType(), yShape, in[:1], func(y []float32, args [][]float32) {
		col2ImImages(y, args[0], g)
	})
}

// col2ImImages adds every image's blocks, col = [Batch, InC·KernelSize, OutSize], onto its
// cells, y = [Batch, InC, InShape...] (zeroed by the caller).
func col2ImImages(y, col []float32, g *tensor.ConvGeom) {
	inSize, outSize, ks := g.InSize(), g.OutSize(), g.KernelSize()
	rows := tensor.Size(g.OutShape[:len(g.OutShape)-1])
	for n := range g.Batch {
		tensor.Col2Im(y[n*g.InC*inSize:(n+1)*g.InC*inSize], col[n*g.InC*ks*outSize:], g.InC, g, 0, rows)
	}
}
