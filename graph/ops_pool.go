package graph

import (
	"fmt"
	"slices"

	"github.com/onnxtune/onnxtune/tensor"
)

func init() {
	// MaxPool: 8 added the Indices output and storage_order, 10 ceil_mode and dilations, 11
	// pinned the auto_pad split, 12 added int8/uint8. AveragePool: 7 added
	// count_include_pad, 10 ceil_mode, 11 the auto_pad split, 19 dilations.
	for _, since := range []int{1, 8, 10, 11, 12} {
		Register(OpDef{Type: "MaxPool", Since: since, Build: buildMaxPool})
	}
	for _, since := range []int{1, 7, 10, 11, 19} {
		Register(OpDef{Type: "AveragePool", Since: since, Build: buildAveragePool})
	}
	Register(OpDef{Type: "GlobalAveragePool", Since: 1, Build: func(*Node, int) (Kernel, error) { return GlobalAveragePool{}, nil }})
	Register(OpDef{Type: "GlobalMaxPool", Since: 1, Build: func(*Node, int) (Kernel, error) { return GlobalMaxPool{}, nil }})
}

// MaxPool is ONNX MaxPool over X [N, C, D1...]. Its optional second output, Indices, is
// supported: the flat index of each maximum in X, row-major or, with StorageOrder 1,
// column-major over the spatial dimensions.
type MaxPool struct {
	KernelShape  []int
	Strides      []int // nil: all ones
	Dilations    []int // nil: all ones
	Pads         []int // [begin..., end...]; nil: zeros
	AutoPad      string
	CeilMode     bool
	StorageOrder int
	// Indices records whether the node asks for the second output; finding the argmax
	// costs more than the max alone, so it is computed only then.
	Indices bool

	shapes *geomCache[*tensor.PoolGeom] // the geometry of the last shape run
}

var _ Kernel = (*MaxPool)(nil)

// AveragePool is ONNX AveragePool over X [N, C, D1...].
type AveragePool struct {
	KernelShape     []int
	Strides         []int // nil: all ones
	Dilations       []int // nil: all ones (opset 19 added them)
	Pads            []int // [begin..., end...]; nil: zeros
	AutoPad         string
	CeilMode        bool
	CountIncludePad bool

	shapes *geomCache[*tensor.PoolGeom] // the geometry of the last shape run
}

var _ Kernel = (*AveragePool)(nil)

// GlobalAveragePool is ONNX GlobalAveragePool: the mean of each spatial plane, keeping the
// spatial dimensions as ones.
type GlobalAveragePool struct{}

// GlobalMaxPool is ONNX GlobalMaxPool: the maximum of each spatial plane.
type GlobalMaxPool struct{}

var (
	_ Kernel = GlobalAveragePool{}
	_ Kernel = GlobalMaxPool{}
)

func buildMaxPool(n *Node, opset int) (Kernel, error) {
	a := n.AttrReader()
	k := &MaxPool{
		KernelShape: convInts(a, "kernel_shape", 1),
		Strides:     convInts(a, "strides", 1),
		Pads:        convInts(a, "pads", 0),
		AutoPad:     convReadAutoPad(a),
		shapes:      &geomCache[*tensor.PoolGeom]{},
	}
	if opset >= 8 {
		k.StorageOrder = int(a.Int("storage_order", 0))
		if k.StorageOrder != 0 && k.StorageOrder != 1 {
			a.Fail("storage_order is %d, want 0 or 1", k.StorageOrder)
		}
	}
	if opset >= 10 {
		k.Dilations = convInts(a, "dilations", 1)
		k.CeilMode = a.Int("ceil_mode", 0) != 0
	}
	poolCheck(a, n, k.KernelShape, k.Strides, k.Dilations, k.Pads)
	k.Indices = len(n.Outputs) > 1 && n.Outputs[1] != ""
	if k.Indices && opset < 8 {
		a.Fail("has an Indices output, which MaxPool has only from opset 8")
	}
	return k, a.Err()
}

func buildAveragePool(n *Node, opset int) (Kernel, error) {
	a := n.AttrReader()
	k := &AveragePool{
		KernelShape: convInts(a, "kernel_shape", 1),
		Strides:     convInts(a, "strides", 1),
		Pads:        convInts(a, "pads", 0),
		AutoPad:     convReadAutoPad(a),
		shapes:      &geomCache[*tensor.PoolGeom]{},
	}
	if opset >= 7 {
		k.CountIncludePad = a.Int("count_include_pad", 0) != 0
	}
	if opset >= 10 {
		k.CeilMode = a.Int("ceil_mode", 0) != 0
	}
	if opset >= 19 {
		k.Dilations = convInts(a, "dilations", 1)
	}
	poolCheck(a, n, k.KernelShape, k.Strides, k.Dilations, k.Pads)
	return k, a.Err()
}

func poolCheck(a *Attrs, n *Node, kernel, strides, dilations, pads []int) {
	if kernel == nil {
		a.Fail("kernel_shape is required")
	}
	convCheckRank(a, kernel, strides, dilations, pads)
	if len(n.Inputs) < 1 {
		a.Fail("has no input X")
	}
}

// Geometry checks X's shape against the attributes and returns the pooling geometry and the
// output's shape.
func (k *MaxPool) Geometry(x []int) (*tensor.PoolGeom, []int, error) {
	return poolGeometry(x, k.KernelShape, k.Strides, k.Dilations, k.Pads, k.AutoPad, k.CeilMode)
}

// geometry is Geometry through the kernel's cache: neither result may be modified.
func (k *MaxPool) geometry(x []int) (*tensor.PoolGeom, []int, error) {
	return k.shapes.lookup(x, nil, func(x, _ []int) (*tensor.PoolGeom, []int, error) { return k.Geometry(x) })
}

// Geometry checks X's shape against the attributes and returns the pooling geometry and the
// output's shape.
func (k *AveragePool) Geometry(x []int) (*tensor.PoolGeom, []int, error) {
	return poolGeometry(x, k.KernelShape, k.Strides, k.Dilations, k.Pads, k.AutoPad, k.CeilMode)
}

// geometry is Geometry through the kernel's cache: neither result may be modified.
func (k *AveragePool) geometry(x []int) (*tensor.PoolGeom, []int, error) {
	return k.shapes.lookup(x, nil, func(x, _ []int) (*tensor.PoolGeom, []int, error) { return k.Geometry(x) })
}

func poolGeometry(x, kernel, strides, dilations, pads []int, autoPad string, ceil bool) (*tensor.PoolGeom, []int, error) {
	nd := len(kernel)
	if len(x) != nd+2 {
		return nil, nil, fmt.Errorf("X has shape %v, want [N C] and %d spatial dimensions for kernel_shape %v", x, nd, kernel)
	}
	strides, err := convOr("strides", strides, nd, 1)
	if err != nil {
		return nil, nil, err
	}
	dilations, err = convOr("dilations", dilations, nd, 1)
	if err != nil {
		return nil, nil, err
	}
	out, begin, end, err := convWindow(autoPad, x[2:], kernel, strides, dilations, pads, ceil)
	if err != nil {
		return nil, nil, err
	}
	g := &tensor.PoolGeom{
		Planes: x[0] * x[1], InShape: x[2:], Kernel: kernel, OutShape: out,
		Strides: strides, Dilations: dilations, Pads: begin, PadsEnd: end,
	}
	if err := g.Check(); err != nil {
		return nil, nil, err
	}
	return g, append([]int{x[0], x[1]}, out...), nil
}

// Run implements Kernel.
func (k *MaxPool) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	x, err := poolInput(in)
	if err != nil {
		return nil, err
	}
	g, yShape, err := k.geometry(x.Shape())
	if err != nil {
		return nil, err
	}
	var idx *tensor.Tensor
	var ind []int64
	if k.Indices {
		idx = tensor.New(tensor.Int64, yShape...)
		ind = tensor.Data[int64](idx)
	}
	colMajor := k.StorageOrder == 1
	var y *tensor.Tensor
	switch x.DType() {
	case tensor.Float32:
		y = ctx.tensor(yShape, ctx.zeros(tensor.Size(yShape)))
		tensor.MaxPool(y.Float32s(), ind, x.Float32s(), g, colMajor)
	case tensor.Float64:
		y = poolMax[float64](x, yShape, ind, g, colMajor)
	case tensor.Int8:
		y = poolMax[int8](x, yShape, ind, g, colMajor)
	case tensor.Uint8:
		y = poolMax[uint8](x, yShape, ind, g, colMajor)
	case tensor.Float16, tensor.BFloat16:
		src, _ := convToFloat32(x)
		dst := make([]float32, tensor.Size(yShape))
		tensor.MaxPool(dst, ind, src, g, colMajor)
		y = convFromFloat32(x.DType(), yShape, dst)
	default:
		return nil, fmt.Errorf("X is %v, want a float, int8 or uint8 tensor", x)
	}
	if idx == nil {
		return ctx.one(y)
	}
	return []*tensor.Tensor{y, idx}, nil
}

func poolMax[T tensor.PoolElem](x *tensor.Tensor, yShape []int, ind []int64, g *tensor.PoolGeom, colMajor bool) *tensor.Tensor {
	dst := make([]T, tensor.Size(yShape))
	tensor.MaxPool(dst, ind, tensor.Data[T](x), g, colMajor)
	return tensor.From(yShape, dst)
}

// Run implements Kernel.
func (k *AveragePool) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	x, err := poolInput(in)
	if err != nil {
		return nil, err
	}
	g, yShape, err := k.geometry(x.Shape())
	if err != nil {
		return nil, err
	}
	if x.DType() == tensor.Float64 {
		dst := make([]float64, tensor.Size(yShape))
		tensor.AveragePool(dst, tensor.Data[float64](x), g, k.CountIncludePad)
		return ctx.one(tensor.From(yShape, dst))
	}
	return convFloat32(ctx, x.DType(), yShape, in[:1], func(y []float32, args [][]float32) {
		tensor.AveragePool(y, args[0], g, k.CountIncludePad)
	})
}

// poolInput returns the node's one input X, which must be present.
func poolInput(in []*tensor.Tensor) (*tensor.Tensor, error) {
	if len(in) == 0 || in[0] == nil {
		return nil, fmt.Errorf("input X is missing")
	}
	return in[0], nil
}

// poolGlobalShape returns [N C 1 ...] for X, in room where it fits (a caller's array on its
// stack), and the number of planes and cells per plane.
func poolGlobalShape(x, room []int) (yShape []int, planes, n int, err error) {
	if len(x) < 2 {
		return nil, 0, 0, fmt.Errorf("X has shape %v, want [N C D1 ...]", slices.Clone(x))
	}
	yShape = append(room[:0], x[0], x[1])
	for range x[2:] {
		yShape = append(yShape, 1)
	}
	return yShape, x[0] * x[1], tensor.Size(x[2:]), nil
}

// Run implements Kernel.
func (GlobalAveragePool) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	x, err := poolInput(in)
	if err != nil {
		return nil, err
	}
	var room [8]int
	yShape, planes, n, err := poolGlobalShape(x.Shape(), room[:])
	if err != nil {
		return nil, err
	}
	switch x.DType() {
	case tensor.Float32:
		y := ctx.floats(planes)
		tensor.GlobalAveragePool(y, x.Float32s(), planes, n)
		return ctx.one(ctx.tensor(yShape, y))
	case tensor.Float64:
		dst := make([]float64, planes)
		tensor.GlobalAveragePool(dst, tensor.Data[float64](x), planes, n)
		return ctx.one(tensor.From(yShape, dst))
	}
	return convFloat32(ctx, x.DType(), yShape, in[:1], func(y []float32, args [][]float32) {
		tensor.GlobalAveragePool(y, args[0], planes, n)
	})
}

// Run implements Kernel.
func (GlobalMaxPool) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	x, err := poolInput(in)
	if err != nil {
		return nil, err
	}
	var room [8]int
	yShape, planes, n, err := poolGlobalShape(x.Shape(), room[:])
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, fmt.Errorf("X has shape %v: an empty plane has no maximum", x.Shape())
	}
	if x.DType() == tensor.Float64 {
		dst := make([]float64, planes)
		tensor.GlobalMaxPool(dst, tensor.Data[float64](x), planes, n)
		return ctx.one(tensor.From(yShape, dst))
	}
	return convFloat32(ctx, x.DType(), yShape, in[:1], func(y []float32, args [][]float32) {
		tensor.GlobalMaxPool(y, args[0], planes, n)
	})
}
