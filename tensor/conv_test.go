package tensor_test

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/tensor"
)

// convCase is one geometry of the table tests; out is derived with floor rounding.
type convCase struct {
	name                           string
	batch, inC, outC, group        int
	in, kernel, strides, dil, pads []int
	padsEnd                        []int
}

func (c convCase) geom() *tensor.ConvGeom {
	out := make([]int, len(c.in))
	for i := range out {
		out[i] = tensor.ConvOutSize(c.in[i], c.kernel[i], c.strides[i], c.dil[i], c.pads[i], c.padsEnd[i], false)
	}
	return &tensor.ConvGeom{Batch: c.batch, InC: c.inC, OutC: c.outC, Group: c.group, InShape: c.in, Kernel: c.kernel,
		OutShape: out, Strides: c.strides, Dilations: c.dil, Pads: c.pads}
}

func convCases() []convCase {
	return []convCase{
		{"2d-3x3-pad1", 2, 3, 4, 1, []int{7, 6}, []int{3, 3}, []int{1, 1}, []int{1, 1}, []int{1, 1}, []int{1, 1}},
		{"2d-stride2-asym", 1, 2, 3, 1, []int{9, 8}, []int{3, 2}, []int{2, 3}, []int{1, 1}, []int{1, 0}, []int{0, 2}},
		{"2d-dilated", 2, 2, 2, 1, []int{10, 9}, []int{3, 3}, []int{2, 1}, []int{2, 3}, []int{2, 1}, []int{1, 2}},
		{"2d-groups", 3, 4, 6, 2, []int{6, 5}, []int{3, 2}, []int{1, 1}, []int{1, 1}, []int{0, 1}, []int{0, 1}},
		{"2d-depthwise", 2, 4, 4, 4, []int{8, 7}, []int{3, 3}, []int{1, 1}, []int{1, 1}, []int{1, 1}, []int{1, 1}},
		{"2d-depthwise-mult-strided", 2, 3, 6, 3, []int{9, 9}, []int{3, 3}, []int{2, 2}, []int{1, 2}, []int{1, 0}, []int{2, 1}},
		{"2d-depthwise-3x3s2", 2, 4, 4, 4, []int{14, 14}, []int{3, 3}, []int{2, 2}, []int{1, 1}, []int{1, 1}, []int{1, 1}},
		{"2d-depthwise-3x3s2-odd-same", 1, 3, 3, 3, []int{15, 13}, []int{3, 3}, []int{2, 2}, []int{1, 1}, []int{1, 1}, []int{1, 1}},
		{"2d-depthwise-3x3s2-no-end-pad", 2, 2, 4, 2, []int{14, 12}, []int{3, 3}, []int{2, 2}, []int{1, 1}, []int{1, 1}, []int{0, 0}},
		{"2d-depthwise-3x3s2-odd", 1, 3, 6, 3, []int{15, 13}, []int{3, 3}, []int{2, 2}, []int{1, 1}, []int{1, 0}, []int{0, 2}},
		{"2d-depthwise-3x3s2-unpadded", 2, 2, 2, 2, []int{9, 10}, []int{3, 3}, []int{2, 2}, []int{1, 1}, []int{0, 0}, []int{0, 0}},
		{"2d-depthwise-3x3s2-wide", 1, 2, 2, 2, []int{5, 40}, []int{3, 3}, []int{2, 2}, []int{1, 1}, []int{2, 1}, []int{2, 1}},
		{"2d-depthwise-dilated", 1, 2, 2, 2, []int{9, 10}, []int{3, 3}, []int{1, 1}, []int{2, 2}, []int{2, 2}, []int{2, 2}},
		{"2d-depthwise-5x5", 2, 3, 3, 3, []int{9, 10}, []int{5, 5}, []int{2, 1}, []int{1, 1}, []int{2, 2}, []int{2, 2}},
		{"2d-stride-dilated", 2, 3, 4, 1, []int{11, 13}, []int{3, 3}, []int{2, 3}, []int{2, 2}, []int{2, 1}, []int{1, 3}},
		{"2d-pointwise", 3, 5, 4, 1, []int{4, 6}, []int{1, 1}, []int{1, 1}, []int{1, 1}, []int{0, 0}, []int{0, 0}},
		{"2d-pointwise-batch1", 1, 5, 4, 1, []int{4, 6}, []int{1, 1}, []int{1, 1}, []int{1, 1}, []int{0, 0}, []int{0, 0}},
		{"2d-pointwise-large", 2, 3, 4, 1, []int{24, 24}, []int{1, 1}, []int{1, 1}, []int{1, 1}, []int{0, 0}, []int{0, 0}},
		{"2d-pointwise-expand-groups", 1, 4, 12, 2, []int{5, 7}, []int{1, 1}, []int{1, 1}, []int{1, 1}, []int{0, 0}, []int{0, 0}},
		{"2d-widening-3x3s2", 1, 2, 24, 1, []int{9, 11}, []int{3, 3}, []int{2, 2}, []int{1, 1}, []int{1, 1}, []int{1, 1}},
		{"2d-1x1-stride2", 2, 5, 4, 1, []int{7, 6}, []int{1, 1}, []int{2, 2}, []int{1, 1}, []int{0, 0}, []int{0, 0}},
		{"2d-pad-past-input", 1, 1, 2, 1, []int{1, 2}, []int{5, 5}, []int{1, 1}, []int{1, 1}, []int{2, 2}, []int{2, 2}},
		{"1d", 2, 3, 2, 1, []int{11}, []int{3}, []int{2}, []int{2}, []int{1}, []int{2}},
		{"1d-depthwise", 2, 3, 3, 3, []int{11}, []int{4}, []int{1}, []int{1}, []int{2}, []int{1}},
		{"3d", 2, 2, 3, 1, []int{4, 5, 6}, []int{2, 3, 2}, []int{1, 2, 1}, []int{1, 1, 2}, []int{1, 0, 1}, []int{0, 1, 1}},
		{"3d-groups", 1, 4, 2, 2, []int{3, 4, 5}, []int{3, 3, 3}, []int{1, 1, 1}, []int{1, 1, 1}, []int{1, 1, 1}, []int{1, 1, 1}},
		// Big enough to take the parallel-over-tasks path with row blocks.
		{"2d-parallel-blocks", 4, 8, 16, 1, []int{40, 40}, []int{3, 3}, []int{1, 1}, []int{1, 1}, []int{1, 1}, []int{1, 1}},
		{"2d-depthwise-parallel", 2, 16, 16, 16, []int{64, 64}, []int{3, 3}, []int{1, 1}, []int{1, 1}, []int{1, 1}, []int{1, 1}},
		// Big enough for a serial GEMM per task, whose im2col goes straight into the GEMM's
		// panels (convPanels): "same" padding (one run per tap), rows straddling two of the
		// GEMM's 256-row blocks, a vertical stride alone, strides in both directions,
		// dilation, the bias as a row of ones under a widening layer, several small images
		// in one GEMM, and more columns than one GEMM block holds.
		{"2d-panels-same", 2, 16, 32, 1, []int{24, 24}, []int{3, 3}, []int{1, 1}, []int{1, 1}, []int{1, 1}, []int{1, 1}},
		{"2d-panels-straddle", 2, 32, 16, 1, []int{24, 23}, []int{3, 3}, []int{1, 1}, []int{1, 1}, []int{1, 0}, []int{1, 2}},
		{"2d-panels-vstride", 2, 16, 32, 1, []int{47, 24}, []int{3, 3}, []int{2, 1}, []int{1, 1}, []int{1, 1}, []int{1, 1}},
		{"2d-panels-strided", 2, 16, 32, 1, []int{48, 49}, []int{3, 3}, []int{2, 2}, []int{1, 1}, []int{1, 1}, []int{1, 1}},
		{"2d-panels-dilated", 2, 16, 32, 1, []int{26, 25}, []int{3, 3}, []int{1, 1}, []int{2, 2}, []int{1, 2}, []int{1, 2}},
		{"2d-panels-widening", 2, 2, 32, 1, []int{24, 24}, []int{3, 3}, []int{1, 1}, []int{1, 1}, []int{1, 1}, []int{1, 1}},
		{"2d-panels-widening-strided", 2, 2, 32, 1, []int{48, 48}, []int{3, 3}, []int{2, 2}, []int{1, 1}, []int{1, 1}, []int{1, 1}},
		{"2d-panels-widening-1x1s2", 2, 12, 64, 1, []int{48, 47}, []int{1, 1}, []int{2, 2}, []int{1, 1}, []int{0, 0}, []int{0, 0}},
		{"2d-panels-images", 4, 16, 32, 1, []int{20, 20}, []int{3, 3}, []int{2, 2}, []int{1, 1}, []int{1, 1}, []int{1, 1}},
		{"2d-panels-images-same", 4, 16, 32, 1, []int{10, 10}, []int{3, 3}, []int{1, 1}, []int{1, 1}, []int{1, 1}, []int{1, 1}},
		{"2d-panels-pointwise-widening", 2, 8, 64, 1, []int{40, 40}, []int{1, 1}, []int{1, 1}, []int{1, 1}, []int{0, 0}, []int{0, 0}},
		{"1d-panels-long", 2, 16, 32, 1, []int{1200}, []int{3}, []int{1}, []int{1}, []int{1}, []int{1}},
	}
}

func convRandom(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// convNaive is the textbook loop in float64: every output cell sums over its group's input
// channels and kernel taps, skipping taps that land in the padding.
func convNaive(x, w, bias []float32, g *tensor.ConvGeom) []float64 {
	nd := len(g.InShape)
	cg, mg := g.InC/g.Group, g.OutC/g.Group
	inSize, outSize, ks := g.InSize(), g.OutSize(), g.KernelSize()
	y := make([]float64, g.Batch*g.OutC*outSize)
	o := make([]int, nd)
	t := make([]int, nd)
	for n := range g.Batch {
		for m := range g.OutC {
			grp := m / mg
			for oi := range outSize {
				unflatten(o, oi, g.OutShape)
				s := 0.0
				if bias != nil {
					s = float64(bias[m])
				}
				for c := range cg {
					for ti := range ks {
						unflatten(t, ti, g.Kernel)
						off, ok := 0, true
						for d := range nd {
							p := o[d]*g.Strides[d] - g.Pads[d] + t[d]*g.Dilations[d]
							if p < 0 || p >= g.InShape[d] {
								ok = false
								break
							}
							off = off*g.InShape[d] + p
						}
						if ok {
							s += float64(x[(n*g.InC+grp*cg+c)*inSize+off]) * float64(w[(m*cg+c)*ks+ti])
						}
					}
				}
				y[(n*g.OutC+m)*outSize+oi] = s
			}
		}
	}
	return y
}

func unflatten(idx []int, i int, shape []int) {
	for d := len(shape) - 1; d >= 0; d-- {
		idx[d] = i % shape[d]
		i /= shape[d]
	}
}

func convCompare(t *testing.T, what string, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d values, want %d", what, len(got), len(want))
	}
	for i := range want {
		if d := math.Abs(float64(got[i]) - want[i]); d > tol*(1+math.Abs(want[i])) || math.IsNaN(float64(got[i])) {
			t.Fatalf("%s: element %d: got %v, want %v", what, i, got[i], want[i])
		}
	}
}

func dot(a, b []float32) float64 {
	s := 0.0
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

// TestConvAgainstNaive checks Conv on every path (im2col blocks, pointwise, depthwise, 1-D,
// 3-D, groups, parallel) against the direct loop, and the two gradients by the adjoint
// identity <dy, conv(x, w)> = <ConvInputGrad(dy, w), x> = <ConvWeightGrad(x, dy), w>, which
// holds exactly for a linear map and so pins each gradient down completely as dy, x and w
// range over random values.
func TestConvAgainstNaive(t *testing.T) {
	// At least two workers, so that the paths taken only with several cores run anywhere.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(max(2, runtime.GOMAXPROCS(0))))
	r := rand.New(rand.NewPCG(1, 2))
	for _, c := range convCases() {
		t.Run(c.name, func(t *testing.T) {
			g := c.geom()
			if err := g.Check(); err != nil {
				t.Fatal(err)
			}
			x := convRandom(r, g.Batch*g.InC*g.InSize())
			w := convRandom(r, g.OutC*g.InC/g.Group*g.KernelSize())
			b := convRandom(r, g.OutC)
			y := make([]float32, g.Batch*g.OutC*g.OutSize())
			for i := range y {
				y[i] = float32(math.NaN()) // Conv must overwrite, not accumulate
			}
			tensor.Conv(y, x, w, b, g)
			convCompare(t, "y", y, convNaive(x, w, b, g), 1e-4)
			tensor.Conv(y, x, w, nil, g)
			convCompare(t, "y without bias", y, convNaive(x, w, nil, g), 1e-4)

			dy := convRandom(r, len(y))
			dx := convRandom(r, len(x)) // garbage that must be overwritten
			tensor.ConvInputGrad(dx, dy, w, g)
			dw := convRandom(r, len(w))
			tensor.ConvWeightGrad(dw, x, dy, g)
			lhs := dot(dy, y)
			for name, rhs := range map[string]float64{"input": dot(dx, x), "weight": dot(dw, w)} {
				if math.Abs(lhs-rhs) > 1e-3*(1+math.Abs(lhs)) {
					t.Errorf("%s gradient: <dx, x> gave %v, <dy, y> is %v", name, rhs, lhs)
				}
			}
			// The adjoint identity with one-hot dy checks dx cell by cell on small cases.
			if len(y) <= 400 {
				for i := range y {
					clear(dy)
					dy[i] = 1
					tensor.ConvInputGrad(dx, dy, w, g)
					if got, want := dot(dx, x), float64(y[i]); math.Abs(got-want) > 1e-4*(1+math.Abs(want)) {
						t.Fatalf("input gradient for output %d: <dx, x> = %v, y = %v", i, got, want)
					}
				}
			}
		})
	}
}

// TestConvResidual checks the residual Add fused into Conv (ConvGeom.Residual) against the
// unfused steps, Conv then Add then the clamp, bit for bit, on every path of the table, with
// and without a bias and a clamp.
func TestConvResidual(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(max(2, runtime.GOMAXPROCS(0))))
	r := rand.New(rand.NewPCG(9, 10))
	inf := float32(math.Inf(1))
	for _, c := range convCases() {
		t.Run(c.name, func(t *testing.T) {
			g := c.geom()
			x := convRandom(r, g.Batch*g.InC*g.InSize())
			w := convRandom(r, g.OutC*g.InC/g.Group*g.KernelSize())
			res := convRandom(r, g.Batch*g.OutC*g.OutSize())
			for _, b := range [][]float32{convRandom(r, g.OutC), nil} {
				for _, clamp := range [][]float32{nil, {0, inf}, {-0.5, 0.5}} {
					want := make([]float32, len(res))
					tensor.Conv(want, x, w, b, g)
					for i := range want {
						want[i] += res[i]
						if clamp != nil {
							want[i] = min(max(want[i], clamp[0]), clamp[1])
						}
					}
					fg := *g
					fg.Clamp, fg.Residual = clamp, res
					got := make([]float32, len(res))
					tensor.Conv(got, x, w, b, &fg)
					for i := range want {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("bias %v, clamp %v: element %d: fused %v, unfused %v", b != nil, clamp, i, got[i], want[i])
						}
					}
				}
			}
		})
	}
}

// TestConvTorch compares Conv and the transposed convolution (ConvInputGrad) with PyTorch's
// conv2d and conv_transpose2d on a strided, dilated, grouped case with asymmetric output
// padding, the combination most likely to get an index wrong.
func TestConvTorch(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	x := convRandom(r, 2*4*9*8)
	w := convRandom(r, 6*2*3*2)
	xt := convRandom(r, 2*6*4*4)
	args, _ := json.Marshal([][]float32{x, w, xt})
	out := fixture.RunPython(t, `
import sys, json, torch
x, w, xt = (torch.tensor(v, dtype=torch.float64) for v in json.loads(sys.argv[1]))
y = torch.nn.functional.conv2d(x.view(2, 4, 9, 8), w.view(6, 2, 3, 2), stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2)
# conv_transpose2d's weight is [in, out/groups, kh, kw]: the same w read as [6, 2, 3, 2].
z = torch.nn.functional.conv_transpose2d(xt.view(2, 6, 4, 4), w.view(6, 2, 3, 2), stride=(2, 3), padding=(1, 0), output_padding=(1, 2), dilation=(1, 2), groups=2)
print(json.dumps([list(y.shape), y.flatten().tolist(), list(z.shape), z.flatten().tolist()]))
`, string(args))
	var res []json.RawMessage
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	var yShape, zShape []int
	var yWant, zWant []float64
	for i, v := range []any{&yShape, &yWant, &zShape, &zWant} {
		if err := json.Unmarshal(res[i], v); err != nil {
			t.Fatal(err)
		}
	}
	g := &tensor.ConvGeom{Batch: 2, InC: 4, OutC: 6, Group: 2, InShape: []int{9, 8}, Kernel: []int{3, 2},
		OutShape: yShape[2:], Strides: []int{2, 1}, Dilations: []int{1, 2}, Pads: []int{1, 2}}
	y := make([]float32, len(yWant))
	tensor.Conv(y, x, w, nil, g)
	convCompare(t, "conv2d", y, yWant, 1e-4)

	// The transposed convolution is the input gradient of the convolution whose input has
	// conv_transpose2d's output shape.
	gt := &tensor.ConvGeom{Batch: 2, InC: 4, OutC: 6, Group: 2, InShape: zShape[2:], Kernel: []int{3, 2},
		OutShape: []int{4, 4}, Strides: []int{2, 3}, Dilations: []int{1, 2}, Pads: []int{1, 0}}
	z := make([]float32, len(zWant))
	tensor.ConvInputGrad(z, xt, w, gt)
	convCompare(t, "conv_transpose2d", z, zWant, 1e-4)
}

// TestConvCheck: inconsistent geometries are reported, not indexed.
func TestConvCheck(t *testing.T) {
	bad := []*tensor.ConvGeom{
		{Batch: 1, InC: 3, OutC: 4, Group: 2, InShape: []int{4}, Kernel: []int{1}, OutShape: []int{4}, Strides: []int{1}, Dilations: []int{1}, Pads: []int{0}},
		{Batch: 1, InC: 2, OutC: 2, Group: 1, InShape: []int{4, 4}, Kernel: []int{1}, OutShape: []int{4, 4}, Strides: []int{1, 1}, Dilations: []int{1, 1}, Pads: []int{0, 0}},
		{Batch: 1, InC: 2, OutC: 2, Group: 1, InShape: []int{4}, Kernel: []int{1}, OutShape: []int{4}, Strides: []int{0}, Dilations: []int{1}, Pads: []int{0}},
	}
	for i, g := range bad {
		if err := g.Check(); err == nil {
			t.Errorf("case %d: Check accepted %+v", i, *g)
		}
	}
}

// BenchmarkConv measures Conv on resnet18's and mobilenet_v2's layer shapes at batch 8.
func BenchmarkConv(b *testing.B) {
	type bc struct {
		name                                string
		batch, inC, outC, group, size, k, s int
	}
	for _, c := range []bc{
		{"resnet-stem-7x7s2-3-64-224", 8, 3, 64, 1, 224, 7, 2},
		{"resnet-3x3-64-56", 8, 64, 64, 1, 56, 3, 1},
		{"resnet-3x3s2-64-128-56", 8, 64, 128, 1, 56, 3, 2},
		{"resnet-3x3-256-14", 8, 256, 256, 1, 14, 3, 1},
		{"resnet-3x3-512-7", 8, 512, 512, 1, 7, 3, 1},
		{"resnet-1x1s2-128-256-28", 8, 128, 256, 1, 28, 1, 2},
		{"mobilenet-pointwise-1x1-96-24-56", 8, 96, 24, 1, 56, 1, 1},
		{"mobilenet-expand-1x1-16-96-112", 8, 16, 96, 1, 112, 1, 1},
		{"mobilenet-expand-1x1-24-144-56", 8, 24, 144, 1, 56, 1, 1},
		// "relu": with a fused Clip(0, 6), which the epilogue applies.
		{"mobilenet-expand-1x1-16-96-112-relu", 8, 16, 96, 1, 112, 1, 1},
		{"mobilenet-expand-1x1-16-96-112-relu-batch1", 1, 16, 96, 1, 112, 1, 1},
		{"resnet-3x3-64-56-relu", 8, 64, 64, 1, 56, 3, 1},
		{"depthwise-3x3-32-112", 8, 32, 32, 32, 112, 3, 1},
		{"depthwise-3x3s2-96-112", 8, 96, 96, 96, 112, 3, 2},
		{"depthwise-3x3-144-56", 8, 144, 144, 144, 56, 3, 1},
		{"depthwise-3x3-576-14", 8, 576, 576, 576, 14, 3, 1},
		{"depthwise-3x3s2-576-14", 8, 576, 576, 576, 14, 3, 2},
		{"depthwise-3x3s2-192-28", 8, 192, 192, 192, 28, 3, 2},
		{"depthwise-3x3s2-144-56", 8, 144, 144, 144, 56, 3, 2},
		{"depthwise-3x3-960-7", 8, 960, 960, 960, 7, 3, 1},
		{"depthwise-5x5-240-28", 8, 240, 240, 240, 28, 5, 1},
		{"depthwise-5x5s2-144-56", 8, 144, 144, 144, 56, 5, 2},
		{"resnet-3x3-64-56-batch1", 1, 64, 64, 1, 56, 3, 1},
		{"squeezenet-stem-3x3s2-3-64-224-batch1", 1, 3, 64, 1, 224, 3, 2},
		{"squeezenet-stem-3x3s2-3-64-224-relu", 8, 3, 64, 1, 224, 3, 2},
		{"squeezenet-classifier-1x1-512-1000-13-batch1", 1, 512, 1000, 1, 13, 1, 1},
	} {
		b.Run(c.name, func(b *testing.B) {
			p := c.k / 2
			out := tensor.ConvOutSize(c.size, c.k, c.s, 1, p, p, false)
			g := &tensor.ConvGeom{Batch: c.batch, InC: c.inC, OutC: c.outC, Group: c.group,
				InShape: []int{c.size, c.size}, Kernel: []int{c.k, c.k}, OutShape: []int{out, out},
				Strides: []int{c.s, c.s}, Dilations: []int{1, 1}, Pads: []int{p, p}}
			if strings.Contains(c.name, "-relu") {
				g.Clamp = []float32{0, 6}
			}
			r := rand.New(rand.NewPCG(1, 2))
			x := convRandom(r, c.batch*c.inC*c.size*c.size)
			w := convRandom(r, c.outC*c.inC/c.group*c.k*c.k)
			bias := convRandom(r, c.outC)
			y := make([]float32, c.batch*c.outC*out*out)
			tensor.Conv(y, x, w, bias, g)
			b.ResetTimer()
			for range b.N {
				tensor.Conv(y, x, w, bias, g)
			}
			flops := 2 * float64(c.batch*c.outC*out*out) * float64(c.inC/c.group*c.k*c.k)
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkConvGrad measures the two gradients (the input gradient is also ConvTranspose's
// forward pass) on resnet18's 3×3 64-channel layer at batch 8.
func BenchmarkConvGrad(b *testing.B) {
	g := &tensor.ConvGeom{Batch: 8, InC: 64, OutC: 64, Group: 1, InShape: []int{56, 56}, Kernel: []int{3, 3},
		OutShape: []int{56, 56}, Strides: []int{1, 1}, Dilations: []int{1, 1}, Pads: []int{1, 1}}
	r := rand.New(rand.NewPCG(1, 2))
	x := convRandom(r, 8*64*56*56)
	dy := convRandom(r, 8*64*56*56)
	w := convRandom(r, 64*64*9)
	flops := 2 * float64(8*64*56*56) * float64(64*9)
	for _, c := range []struct {
		name string
		f    func()
	}{
		{"input-3x3-64-56", func() { tensor.ConvInputGrad(x, dy, w, g) }},
		{"weight-3x3-64-56", func() { tensor.ConvWeightGrad(w, x, dy, g) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				c.f()
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

func ExampleConv() {
	// A 1-D convolution of [1 2 3 4] with the kernel [1 1], no padding.
	g := &tensor.ConvGeom{Batch: 1, InC: 1, OutC: 1, Group: 1, InShape: []int{4}, Kernel: []int{2},
		OutShape: []int{3}, Strides: []int{1}, Dilations: []int{1}, Pads: []int{0}}
	y := make([]float32, 3)
	tensor.Conv(y, []float32{1, 2, 3, 4}, []float32{1, 1}, nil, g)
	fmt.Println(y)
	// Output: [3 5 7]
}

// TestConvClampEpilogue: a Relu or Clip fused into Conv (ConvGeom.Clamp) gives exactly Conv
// then Clip, on every path Conv takes: im2col blocks, pointwise, the bias column of widening
// layers, packed small outputs, depthwise, and no kernel taps.
func TestConvClampEpilogue(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	fill := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return v
	}
	for _, c := range []struct {
		name                        string
		batch, inC, outC, group, hw int
		k, stride, pad              int
	}{
		{"im2col", 2, 8, 16, 1, 20, 3, 1, 1},
		{"pointwise widening", 2, 4, 24, 1, 12, 1, 1, 0},
		{"stride 2", 1, 6, 6, 1, 17, 3, 2, 1},
		{"packed", 8, 16, 8, 1, 5, 3, 1, 1},
		{"depthwise", 2, 12, 12, 12, 14, 3, 1, 1},
		{"depthwise stride 2", 2, 12, 12, 12, 15, 3, 2, 1},
		{"grouped", 2, 8, 8, 2, 9, 3, 1, 0},
	} {
		for _, clamp := range [][]float32{{0, float32(math.Inf(1))}, {0, 6}, {-0.5, 0.25}} {
			for _, withBias := range []bool{false, true} {
				oh := (c.hw+2*c.pad-c.k)/c.stride + 1
				g := &tensor.ConvGeom{Batch: c.batch, InC: c.inC, OutC: c.outC, Group: c.group,
					InShape: []int{c.hw, c.hw}, Kernel: []int{c.k, c.k}, OutShape: []int{oh, oh},
					Strides: []int{c.stride, c.stride}, Dilations: []int{1, 1}, Pads: []int{c.pad, c.pad}}
				x := fill(c.batch * c.inC * c.hw * c.hw)
				w := fill(c.outC * c.inC / c.group * c.k * c.k)
				var bias []float32
				if withBias {
					bias = fill(c.outC)
				}
				want := make([]float32, c.batch*c.outC*oh*oh)
				tensor.Conv(want, x, w, bias, g)
				tensor.Clip(want, want, clamp[0], clamp[1])
				got := make([]float32, len(want))
				fused := *g
				fused.Clamp = clamp
				tensor.Conv(got, x, w, bias, &fused)
				for i := range want {
					if got[i] != want[i] {
						t.Fatalf("%s, clamp %v, bias %v: element %d is %g, Conv then Clip gives %g", c.name, clamp, withBias, i, got[i], want[i])
					}
				}
			}
		}
	}
}

// TestConvImageStride: with YImageStride, every convolution path writes the same outputs
// into its channel range of a wider tensor (a Concat's) and leaves the other channels alone.
func TestConvImageStride(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	cases := append(convCases(),
		// Widening layers take their bias from the GEMM (a row of ones), small planes at
		// batch > 1 are packed side by side.
		convCase{"widening-bias-column", 2, 2, 24, 1, []int{9, 11}, []int{3, 3}, []int{1, 1}, []int{1, 1}, []int{1, 1}, []int{1, 1}},
		convCase{"packed", 8, 16, 8, 1, []int{5, 5}, []int{3, 3}, []int{1, 1}, []int{1, 1}, []int{1, 1}, []int{1, 1}})
	for _, c := range cases {
		for _, withBias := range []bool{false, true} {
			g := c.geom()
			g.Clamp = []float32{0, 6}
			x := convRandom(r, g.Batch*g.InC*g.InSize())
			w := convRandom(r, g.OutC*g.InC/g.Group*g.KernelSize())
			var bias []float32
			if withBias {
				bias = convRandom(r, g.OutC)
			}
			want := make([]float32, g.Batch*g.OutC*g.OutSize())
			tensor.Conv(want, x, w, bias, g)
			const before, after = 3, 2 // channels of the wider tensor around this convolution's
			wide := g.OutC + before + after
			plane := g.OutSize()
			got := make([]float32, g.Batch*wide*plane)
			for i := range got {
				got[i] = -1000
			}
			strided := *g
			strided.YImageStride = wide * plane
			tensor.Conv(got[before*plane:], x, w, bias, &strided)
			for img := range g.Batch {
				for ch := range wide {
					for j := range plane {
						v := got[(img*wide+ch)*plane+j]
						oc := ch - before
						if oc < 0 || oc >= g.OutC {
							if v != -1000 {
								t.Fatalf("%s: image %d channel %d (outside the convolution's range) was written", c.name, img, ch)
							}
							continue
						}
						if w := want[(img*g.OutC+oc)*plane+j]; v != w {
							t.Fatalf("%s, bias %v: image %d channel %d cell %d is %g, the dense output has %g", c.name, withBias, img, oc, j, v, w)
						}
					}
				}
			}
		}
	}
}
