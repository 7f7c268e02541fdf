package graph

import (
	"fmt"
	"slices"

	"github.com/onnxtune/onnxtune/tensor"
)

func init() {
	// Conv-11 and ConvTranspose-11 only pinned down how auto_pad splits an odd total and let
	// kernel_shape be inferred everywhere; one builder serves both versions.
	for _, since := range []int{1, 11} {
		Register(OpDef{Type: "Conv", Since: since, Build: buildConv})
		Register(OpDef{Type: "ConvTranspose", Since: since, Build: buildConvTranspose})
	}
}

// Conv is ONNX Conv: an N-d convolution of X [N, C, D1...] with W [M, C/Group, K1...] plus an
// optional bias [M]. Nil slices mean the defaults (kernel from W, unit strides and dilations,
// no padding); Pads is ONNX's [begin..., end...].
type Conv struct {
	KernelShape []int
	Strides     []int
	Dilations   []int
	Pads        []int
	Group       int
	AutoPad     string
	// Clamp, when not nil, is [lo, hi]: a Relu or Clip after the node, fused into it by the
	// plan (see fuse).
	Clamp []float32

	filters *tensor.PackedFilters        // W prepared once, for a plan whose weights are frozen (Plan.FreezeWeights)
	shapes  *geomCache[*tensor.ConvGeom] // the geometry of the last shapes run; shared by the fused copies
}

var _ Kernel = (*Conv)(nil)

// ConvTranspose is ONNX ConvTranspose: the transposed convolution of X [N, C, D1...] with
// W [C, M/Group, K1...] plus an optional bias [M]. OutputShape (spatial sizes) overrides Pads
// when set; OutputPadding adds cells at the end of each spatial dimension.
type ConvTranspose struct {
	KernelShape   []int
	Strides       []int
	Dilations     []int
	Pads          []int
	OutputPadding []int
	OutputShape   []int
	Group         int
	AutoPad       string
}

var _ Kernel = (*ConvTranspose)(nil)

// convAutoPads lists the auto_pad values ONNX defines.
var convAutoPads = []string{"NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"}

// convInts reads an INTS attribute as []int, checking that every entry is at least least.
func convInts(a *Attrs, name string, least int64) []int {
	v := a.Ints(name, nil)
	if v == nil {
		return nil
	}
	out := make([]int, len(v))
	for i, x := range v {
		if x < least {
			a.Fail("attribute %q is %v: entries must be at least %d", name, v, least)
			return nil
		}
		out[i] = int(x)
	}
	return out
}

// convReadAutoPad reads auto_pad and checks it is one ONNX knows.
func convReadAutoPad(a *Attrs) string {
	p := a.String("auto_pad", "NOTSET")
	if p == "" {
		p = "NOTSET"
	}
	if !slices.Contains(convAutoPads, p) {
		a.Fail("auto_pad %q is not one of %v", p, convAutoPads)
	}
	return p
}

// convCheckRank checks that the per-dimension attributes agree on the number of spatial
// dimensions (pads has two entries per dimension) and returns it, or 0 when none is set.
func convCheckRank(a *Attrs, kernel, strides, dilations, pads []int) int {
	nd := 0
	for _, s := range []struct {
		name string
		n    int
	}{{"kernel_shape", len(kernel)}, {"strides", len(strides)}, {"dilations", len(dilations)}, {"pads", len(pads) / 2}} {
		if s.n == 0 {
			continue
		}
		if nd == 0 {
			nd = s.n
		} else if s.n != nd {
			a.Fail("attributes disagree on the number of spatial dimensions: kernel_shape %v, strides %v, dilations %v, pads %v", kernel, strides, dilations, pads)
			return 0
		}
	}
	if len(pads)%2 != 0 {
		a.Fail("pads %v has an odd number of entries, want begin and end for each spatial dimension", pads)
	}
	return nd
}

func buildConv(n *Node, opset int) (Kernel, error) {
	a := n.AttrReader()
	k := &Conv{
		KernelShape: convInts(a, "kernel_shape", 1),
		Strides:     convInts(a, "strides", 1),
		Dilations:   convInts(a, "dilations", 1),
		Pads:        convInts(a, "pads", 0),
		Group:       int(a.Int("group", 1)),
		AutoPad:     convReadAutoPad(a),
		shapes:      &geomCache[*tensor.ConvGeom]{},
	}
	if k.Group < 1 {
		a.Fail("group is %d, want at least 1", k.Group)
	}
	convCheckRank(a, k.KernelShape, k.Strides, k.Dilations, k.Pads)
	if len(n.Inputs) < 2 {
		a.Fail("has %d inputs, want X, W and an optional B", len(n.Inputs))
	}
	return k, a.Err()
}

func buildConvTranspose(n *Node, opset int) (Kernel, error) {
	a := n.AttrReader()
	k := &ConvTranspose{
		KernelShape:   convInts(a, "kernel_shape", 1),
		Strides:       convInts(a, "strides", 1),
		Dilations:     convInts(a, "dilations", 1),
		Pads:          convInts(a, "pads", 0),
		OutputPadding: convInts(a, "output_padding", 0),
		OutputShape:   convInts(a, "output_shape", 0),
		Group:         int(a.Int("group", 1)),
		AutoPad:       convReadAutoPad(a),
	}
	if k.Group < 1 {
		a.Fail("group is %d, want at least 1", k.Group)
	}
	nd := convCheckRank(a, k.KernelShape, k.Strides, k.Dilations, k.Pads)
	if nd > 0 && k.OutputPadding != nil && len(k.OutputPadding) != nd {
		a.Fail("output_padding %v has %d entries, want %d", k.OutputPadding, len(k.OutputPadding), nd)
	}
	if len(n.Inputs) < 2 {
		a.Fail("has %d inputs, want X, W and an optional B", len(n.Inputs))
	}
	return k, a.Err()
}

// convOr returns s, or nd copies of def when s is nil, checking its length.
func convOr(name string, s []int, nd, def int) ([]int, error) {
	if s == nil {
		out := make([]int, nd)
		for i := range out {
			out[i] = def
		}
		return out, nil
	}
	if len(s) != nd {
		return nil, fmt.Errorf("%s %v has %d entries, the input has %d spatial dimensions", name, s, len(s), nd)
	}
	return s, nil
}

// convWindow resolves the sliding-window arithmetic shared by Conv and the pools: given the
// input's spatial sizes and the kernel, it returns the output sizes and the padding before
// and after each dimension, from explicit pads or from auto_pad. ceil selects pooling's
// ceil_mode rounding.
func convWindow(autoPad string, in, kernel, strides, dilations, pads []int, ceil bool) (out, begin, end []int, err error) {
	nd := len(in)
	if pads == nil {
		pads = make([]int, 2*nd)
	}
	if len(pads) != 2*nd {
		return nil, nil, nil, fmt.Errorf("pads %v has %d entries, want %d for %d spatial dimensions", pads, len(pads), 2*nd, nd)
	}
	out, begin, end = make([]int, nd), make([]int, nd), make([]int, nd)
	for i := range nd {
		dk := (kernel[i]-1)*dilations[i] + 1
		switch autoPad {
		case "SAME_UPPER", "SAME_LOWER":
			// The output keeps ceil(in/stride) positions; the padding needed for that is
			// split evenly, the odd cell going at the end (UPPER) or the start (LOWER).
			out[i] = (in[i] + strides[i] - 1) / strides[i]
			total := max(0, (out[i]-1)*strides[i]+dk-in[i])
			begin[i] = total / 2
			if autoPad == "SAME_LOWER" {
				begin[i] = total - total/2
			}
			end[i] = total - begin[i]
		case "VALID":
			out[i] = tensor.ConvOutSize(in[i], kernel[i], strides[i], dilations[i], 0, 0, false)
		default:
			begin[i], end[i] = pads[i], pads[nd+i]
			out[i] = tensor.ConvOutSize(in[i], kernel[i], strides[i], dilations[i], begin[i], end[i], ceil)
		}
		if out[i] < 1 {
			return nil, nil, nil, fmt.Errorf("spatial size %v is too small for kernel %v with dilations %v and pads %v+%v: no window fits",
				in, kernel, dilations, begin, end)
		}
	}
	return out, begin, end, nil
}

// Geometry checks the shapes of X and W against the attributes and returns the convolution's
// geometry and Y's shape.
func (k *Conv) Geometry(x, w []int) (*tensor.ConvGeom, []int, error) {
	if len(x) < 3 {
		return nil, nil, fmt.Errorf("X has shape %v, want [N C D1 ...] with at least one spatial dimension", x)
	}
	if len(w) != len(x) {
		return nil, nil, fmt.Errorf("W has shape %v, want rank %d like X %v", w, len(x), x)
	}
	nd := len(x) - 2
	if x[1] != w[1]*k.Group {
		return nil, nil, fmt.Errorf("X has %d channels but W %v with group %d expects %d", x[1], w, k.Group, w[1]*k.Group)
	}
	if w[0]%k.Group != 0 {
		return nil, nil, fmt.Errorf("W %v has %d output channels, not a multiple of group %d", w, w[0], k.Group)
	}
	kernel := w[2:]
	if k.KernelShape != nil && !slices.Equal(k.KernelShape, kernel) {
		return nil, nil, fmt.Errorf("kernel_shape %v does not match W %v", k.KernelShape, w)
	}
	strides, err := convOr("strides", k.Strides, nd, 1)
	if err != nil {
		return nil, nil, err
	}
	dilations, err := convOr("dilations", k.Dilations, nd, 1)
	if err != nil {
		return nil, nil, err
	}
	out, begin, _, err := convWindow(k.AutoPad, x[2:], kernel, strides, dilations, k.Pads, false)
	if err != nil {
		return nil, nil, err
	}
	g := &tensor.ConvGeom{
		Batch: x[0], InC: x[1], OutC: w[0], Group: k.Group,
		InShape: slices.Clone(x[2:]), Kernel: slices.Clone(kernel), OutShape: out,
		Strides: strides, Dilations: dilations, Pads: begin,
	}
	if err := g.Check(); err != nil {
		return nil, nil, err
	}
	return g, append([]int{x[0], w[0]}, out...), nil
}

// Run implements Kernel.
func (k *Conv) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(in) < 2 || in[0] == nil || in[1] == nil {
		return nil, fmt.Errorf("needs X and W")
	}
	x, w := in[0], in[1]
	cached, yShape, err := k.shapes.lookup(x.Shape(), w.Shape(), k.Geometry)
	if err != nil {
		return nil, err
	}
	g := *cached
	g.Clamp, g.Filters = k.Clamp, k.filters
	g.Precise = ctx != nil && ctx.differentiated
	var bias *tensor.Tensor
	if len(in) > 2 && in[2] != nil {
		bias = in[2]
		if bias.Len() != g.OutC || bias.Rank() != 1 {
			return nil, fmt.Errorf("B has shape %v, want [%d]", bias.Shape(), g.OutC)
		}
	}
	return convRun(ctx, g, yShape, x, w, bias)
}

// convRun convolves x with w and adds bias (nil for none) for Conv and convResidual: float32
// directly, float16 and bfloat16 through float32 (convFloat32).
func convRun(ctx *Context, geom tensor.ConvGeom, yShape []int, x, w, bias *tensor.Tensor) ([]*tensor.Tensor, error) {
	g := ctx.convGeom(geom)
	if x.DType() == tensor.Float32 && w.DType() == tensor.Float32 && (bias == nil || bias.DType() == tensor.Float32) {
		n, err := tensor.SizeChecked(yShape)
		if err != nil {
			return nil, err
		}
		y := ctx.floats(n)
		var b []float32
		if bias != nil {
			b = bias.Float32s()
		}
		tensor.Conv(y, x.Float32s(), w.Float32s(), b, g)
		return ctx.one(ctx.tensor(yShape, y))
	}
	return convFloat32Overwrite(ctx, x.DType(), yShape, []*tensor.Tensor{x, w, bias}, func(y []float32, args [][]float32) {
		tensor.Conv(y, args[0], args[1], args[2], g)
	})
}

// Geometry checks the shapes of X and W against the attributes and returns the geometry of
// the convolution that ConvTranspose reverses (its x is ConvTranspose's output, its y
// ConvTranspose's input) together with the output's shape.
func (k *ConvTranspose) Geometry(x, w []int) (*tensor.ConvGeom, []int, error) {
	if len(x) < 3 {
		return nil, nil, fmt.Errorf("X has shape %v, want [N C D1 ...] with at least one spatial dimension", x)
	}
	if len(w) != len(x) {
		return nil, nil, fmt.Errorf("W has shape %v, want rank %d like X %v", w, len(x), x)
	}
	nd := len(x) - 2
	if x[1] != w[0] {
		return nil, nil, fmt.Errorf("X has %d channels but W %v expects %d", x[1], w, w[0])
	}
	if x[1]%k.Group != 0 {
		return nil, nil, fmt.Errorf("X has %d channels, not a multiple of group %d", x[1], k.Group)
	}
	kernel := w[2:]
	if k.KernelShape != nil && !slices.Equal(k.KernelShape, kernel) {
		return nil, nil, fmt.Errorf("kernel_shape %v does not match W %v", k.KernelShape, w)
	}
	strides, err := convOr("strides", k.Strides, nd, 1)
	if err != nil {
		return nil, nil, err
	}
	dilations, err := convOr("dilations", k.Dilations, nd, 1)
	if err != nil {
		return nil, nil, err
	}
	outPad, err := convOr("output_padding", k.OutputPadding, nd, 0)
	if err != nil {
		return nil, nil, err
	}
	pads := k.Pads
	if pads == nil {
		pads = make([]int, 2*nd)
	}
	if len(pads) != 2*nd {
		return nil, nil, fmt.Errorf("pads %v has %d entries, want %d", pads, len(pads), 2*nd)
	}
	outShape := k.OutputShape
	if len(outShape) == nd+2 {
		outShape = outShape[2:] // some exporters give the full shape
	}
	if outShape != nil && len(outShape) != nd {
		return nil, nil, fmt.Errorf("output_shape %v has %d entries, want %d", k.OutputShape, len(k.OutputShape), nd)
	}
	out, begin := make([]int, nd), make([]int, nd)
	for i := range nd {
		full := strides[i]*(x[2+i]-1) + outPad[i] + (kernel[i]-1)*dilations[i] + 1
		switch {
		case outShape != nil || k.AutoPad == "SAME_UPPER" || k.AutoPad == "SAME_LOWER":
			if outShape != nil {
				out[i] = outShape[i]
			} else {
				out[i] = x[2+i] * strides[i]
			}
			// ONNX splits the surplus with the odd cell at the end for SAME_UPPER and at
			// the start otherwise; a shortfall (output_shape past the full result) leaves
			// zeros at the end.
			total := max(0, full-out[i])
			begin[i] = total - total/2
			if k.AutoPad == "SAME_UPPER" {
				begin[i] = total / 2
			}
		case k.AutoPad == "VALID":
			out[i] = full
		default:
			begin[i] = pads[i]
			out[i] = full - pads[i] - pads[nd+i]
		}
		if out[i] < 1 {
			return nil, nil, fmt.Errorf("output spatial size %v is empty (input %v, kernel %v, strides %v, pads %v)", out, x, kernel, strides, pads)
		}
	}
	g := &tensor.ConvGeom{
		Batch: x[0], InC: w[1] * k.Group, OutC: x[1], Group: k.Group,
		InShape: out, Kernel: slices.Clone(kernel), OutShape: slices.Clone(x[2:]),
		Strides: strides, Dilations: dilations, Pads: begin,
	}
	if err := g.Check(); err != nil {
		return nil, nil, err
	}
	return g, append([]int{x[0], g.InC}, out...), nil
}

// Run implements Kernel.
func (k *ConvTranspose) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(in) < 2 || in[0] == nil || in[1] == nil {
		return nil, fmt.Errorf("needs X and W")
	}
	x, w := in[0], in[1]
	g, yShape, err := k.Geometry(x.Shape(), w.Shape())
	if err != nil {
		return nil, err
	}
	g.Precise = ctx != nil && ctx.differentiated
	var bias *tensor.Tensor
	if len(in) > 2 && in[2] != nil {
		bias = in[2]
		if bias.Len() != g.InC || bias.Rank() != 1 {
			return nil, fmt.Errorf("B has shape %v, want [%d]", bias.Shape(), g.InC)
		}
	}
	return convFloat32Overwrite(ctx, x.DType(), yShape, []*tensor.Tensor{x, w, bias}, func(y []float32, args [][]float32) {
		tensor.ConvInputGrad(y, args[0], args[1], g)
		if b := args[2]; b != nil {
			plane := g.InSize()
			for p := range g.Batch * g.InC {
				bv := b[p%g.InC]
				row := y[p*plane : (p+1)*plane]
				for j := range row {
					row[j] += bv
				}
			}
		}
	})
}

// convFloat32 runs a float32 computation for an op whose inputs share the dtype dt: float32
// tensors pass straight through, float16 and bfloat16 ones are widened to float32 and the
// result narrowed back. A nil input stays nil. Other dtypes are an error naming them. f gets
// y zeroed.
func convFloat32(ctx *Context, dt tensor.DType, yShape []int, in []*tensor.Tensor, f func(y []float32, args [][]float32)) ([]*tensor.Tensor, error) {
	return convFloat32Run(ctx, dt, yShape, in, false, f)
}

// convFloat32Overwrite is convFloat32 for an f that writes every element of y, which it gets
// unzeroed (see newOutput).
func convFloat32Overwrite(ctx *Context, dt tensor.DType, yShape []int, in []*tensor.Tensor, f func(y []float32, args [][]float32)) ([]*tensor.Tensor, error) {
	return convFloat32Run(ctx, dt, yShape, in, true, f)
}

func convFloat32Run(ctx *Context, dt tensor.DType, yShape []int, in []*tensor.Tensor, overwrite bool, f func(y []float32, args [][]float32)) ([]*tensor.Tensor, error) {
	args := make([][]float32, len(in))
	for i, t := range in {
		if t == nil {
			continue
		}
		if t.DType() != dt {
			return nil, fmt.Errorf("input %d is %v, want %v like X", i, t, dt)
		}
		v, err := convToFloat32(t)
		if err != nil {
			return nil, err
		}
		args[i] = v
	}
	n, err := tensor.SizeChecked(yShape)
	if err != nil {
		return nil, err
	}
	var y []float32
	if overwrite {
		y = ctx.floats(n)
	} else {
		y = ctx.zeros(n)
	}
	f(y, args)
	if dt == tensor.Float32 {
		return ctx.one(ctx.tensor(yShape, y))
	}
	return ctx.one(convFromFloat32(dt, yShape, y))
}

// convToFloat32 returns the elements of a float32 tensor, or a widened copy of a float16 or
// bfloat16 one.
func convToFloat32(t *tensor.Tensor) ([]float32, error) {
	switch t.DType() {
	case tensor.Float32:
		return t.Float32s(), nil
	case tensor.Float16, tensor.BFloat16:
		bits := tensor.Data[uint16](t)
		out := make([]float32, len(bits))
		dec := tensor.Float16ToFloat32
		if t.DType() == tensor.BFloat16 {
			dec = tensor.BFloat16ToFloat32
		}
		for i, b := range bits {
			out[i] = dec(b)
		}
		return out, nil
	}
	return nil, fmt.Errorf("got %v, want float32, float16 or bfloat16", t)
}

// convFromFloat32 wraps y as a tensor of dtype dt, narrowing float16 and bfloat16.
func convFromFloat32(dt tensor.DType, shape []int, y []float32) *tensor.Tensor {
	switch dt {
	case tensor.Float16, tensor.BFloat16:
		enc := tensor.Float32ToFloat16
		if dt == tensor.BFloat16 {
			enc = tensor.Float32ToBFloat16
		}
		bits := make([]uint16, len(y))
		for i, v := range y {
			bits[i] = enc(v)
		}
		return tensor.FromBits(dt, shape, bits)
	}
	return tensor.From(shape, y)
}
