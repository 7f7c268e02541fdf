package tensor_test

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/tensor"
)

// poolCase is one PyTorch pooling call: symmetric padding, as PyTorch takes it.
type poolCase struct {
	Shape    []int `json:"shape"` // [N C D1 ...]
	Kernel   []int `json:"kernel"`
	Stride   []int `json:"stride"`
	Pad      []int `json:"pad"`
	Dilation []int `json:"dilation"`
	Ceil     bool  `json:"ceil"`
	Include  bool  `json:"include"` // count_include_pad, for avg_pool
}

func (c poolCase) geom() *tensor.PoolGeom {
	nd := len(c.Kernel)
	out := make([]int, nd)
	for i := range out {
		out[i] = tensor.ConvOutSize(c.Shape[2+i], c.Kernel[i], c.Stride[i], c.Dilation[i], c.Pad[i], c.Pad[i], c.Ceil)
	}
	return &tensor.PoolGeom{Planes: c.Shape[0] * c.Shape[1], InShape: c.Shape[2:], Kernel: c.Kernel, OutShape: out,
		Strides: c.Stride, Dilations: c.Dilation, Pads: c.Pad, PadsEnd: c.Pad}
}

// TestPoolTorch compares MaxPool (values and indices) and AveragePool with PyTorch's
// max_poolNd and avg_poolNd, in particular ceil_mode: the output size (a last window that
// would start in the right padding is dropped) and the divisor with count_include_pad (the
// padding counts, the cells past it that a ceil-mode window reaches do not).
func TestPoolTorch(t *testing.T) {
	cases := []poolCase{
		// PARITY.md's example: 5x5 arange, kernel 2, stride 2, padding 1, ceil_mode.
		{Shape: []int{1, 1, 5, 5}, Kernel: []int{2, 2}, Stride: []int{2, 2}, Pad: []int{1, 1}, Dilation: []int{1, 1}, Ceil: true, Include: true},
		{Shape: []int{2, 3, 5, 5}, Kernel: []int{2, 2}, Stride: []int{2, 2}, Pad: []int{1, 1}, Dilation: []int{1, 1}, Ceil: true},
		{Shape: []int{1, 2, 7, 6}, Kernel: []int{3, 3}, Stride: []int{2, 2}, Pad: []int{1, 1}, Dilation: []int{1, 1}, Ceil: true, Include: true},
		{Shape: []int{1, 2, 7, 6}, Kernel: []int{3, 3}, Stride: []int{2, 2}, Pad: []int{1, 1}, Dilation: []int{1, 1}, Ceil: true},
		{Shape: []int{1, 1, 8, 9}, Kernel: []int{3, 2}, Stride: []int{3, 2}, Pad: []int{1, 0}, Dilation: []int{1, 1}, Ceil: true, Include: true},
		{Shape: []int{2, 2, 10}, Kernel: []int{3}, Stride: []int{2}, Pad: []int{1}, Dilation: []int{1}, Ceil: true, Include: true},
		{Shape: []int{2, 2, 11}, Kernel: []int{4}, Stride: []int{3}, Pad: []int{2}, Dilation: []int{1}, Ceil: false},
		{Shape: []int{1, 2, 5, 6, 7}, Kernel: []int{2, 3, 2}, Stride: []int{2, 2, 3}, Pad: []int{1, 1, 0}, Dilation: []int{1, 1, 1}, Ceil: true, Include: true},
		{Shape: []int{1, 2, 5, 6, 7}, Kernel: []int{3, 2, 2}, Stride: []int{2, 1, 2}, Pad: []int{1, 0, 1}, Dilation: []int{1, 1, 1}, Ceil: false},
		// resnet's stem pool, big enough to run in parallel.
		{Shape: []int{2, 8, 32, 32}, Kernel: []int{3, 3}, Stride: []int{2, 2}, Pad: []int{1, 1}, Dilation: []int{1, 1}},
		// squeezenet's (no padding, ceil_mode) on odd and even sizes, rows read in place, and
		// rows of more than one vector of outputs with padding.
		{Shape: []int{2, 3, 23, 21}, Kernel: []int{3, 3}, Stride: []int{2, 2}, Pad: []int{0, 0}, Dilation: []int{1, 1}, Ceil: true},
		{Shape: []int{1, 2, 12, 40}, Kernel: []int{3, 3}, Stride: []int{2, 2}, Pad: []int{0, 0}, Dilation: []int{1, 1}, Ceil: true},
		{Shape: []int{1, 2, 9, 45}, Kernel: []int{3, 3}, Stride: []int{2, 2}, Pad: []int{1, 1}, Dilation: []int{1, 1}, Ceil: true},
		{Shape: []int{1, 2, 10, 38}, Kernel: []int{3, 3}, Stride: []int{2, 2}, Pad: []int{0, 1}, Dilation: []int{1, 1}},
	}
	// Dilation only exists for max pooling; these cases skip the average.
	dilated := []poolCase{
		{Shape: []int{1, 2, 9, 9}, Kernel: []int{4, 3}, Stride: []int{2, 2}, Pad: []int{2, 1}, Dilation: []int{2, 2}, Ceil: true},
		{Shape: []int{1, 2, 12}, Kernel: []int{3}, Stride: []int{3}, Pad: []int{1}, Dilation: []int{3}, Ceil: true},
		{Shape: []int{1, 1, 6, 7, 5}, Kernel: []int{2, 2, 2}, Stride: []int{1, 2, 1}, Pad: []int{1, 1, 0}, Dilation: []int{2, 1, 2}, Ceil: false},
	}
	all := append(cases, dilated...)
	r := rand.New(rand.NewPCG(5, 6))
	inputs := make([][]float32, len(all))
	for i, c := range all {
		x := make([]float32, tensor.Size(c.Shape))
		for j := range x {
			if i == 0 {
				x[j] = float32(j) // the arange of PARITY.md
			} else {
				x[j] = float32(r.NormFloat64())
			}
		}
		inputs[i] = x
	}
	args, _ := json.Marshal(map[string]any{"cases": all, "inputs": inputs, "avg": len(cases)})
	// The inputs pass through a file: they are too long for one command-line argument.
	argFile := filepath.Join(t.TempDir(), "pool.json")
	if err := os.WriteFile(argFile, args, 0o644); err != nil {
		t.Fatal(err)
	}
	out := fixture.RunPython(t, `
import sys, json, torch
F = torch.nn.functional
a = json.load(open(sys.argv[1]))
res = []
for i, (c, x) in enumerate(zip(a["cases"], a["inputs"])):
    nd = len(c["kernel"])
    x = torch.tensor(x, dtype=torch.float64).view(c["shape"])
    mp = [F.max_pool1d, F.max_pool2d, F.max_pool3d][nd-1]
    ap = [F.avg_pool1d, F.avg_pool2d, F.avg_pool3d][nd-1]
    m, idx = mp(x, c["kernel"], c["stride"], c["pad"], c["dilation"], ceil_mode=c["ceil"], return_indices=True)
    r = {"shape": list(m.shape), "max": m.flatten().tolist(), "idx": idx.flatten().tolist()}
    if i < a["avg"]:
        r["avg"] = ap(x, c["kernel"], c["stride"], c["pad"], ceil_mode=c["ceil"], count_include_pad=c["include"]).flatten().tolist()
    res.append(r)
print(json.dumps(res))
`, argFile)
	var want []struct {
		Shape []int     `json:"shape"`
		Max   []float64 `json:"max"`
		Idx   []int64   `json:"idx"`
		Avg   []float64 `json:"avg"`
	}
	if err := json.Unmarshal([]byte(out), &want); err != nil {
		t.Fatal(err)
	}
	for i, c := range all {
		g := c.geom()
		if got := append(c.Shape[:2:2], g.OutShape...); !tensor.EqualShapes(got, want[i].Shape) {
			t.Errorf("case %d %+v: got output shape %v, want %v", i, c, got, want[i].Shape)
			continue
		}
		n := len(want[i].Max)
		y := make([]float32, n)
		idx := make([]int64, n)
		tensor.MaxPool(y, idx, inputs[i], g, false)
		plane := tensor.Size(g.OutShape)
		inPlane := tensor.Size(c.Shape[2:])
		for j := range n {
			// PyTorch's indices count within a plane, ONNX's across the whole tensor.
			if float64(y[j]) != float64(float32(want[i].Max[j])) || idx[j]-int64(j/plane*inPlane) != want[i].Idx[j] {
				t.Errorf("case %d %+v: max element %d: got %v at %d, want %v at %d", i, c, j, y[j], idx[j], want[i].Max[j], want[i].Idx[j])
				break
			}
		}
		y2 := make([]float32, n)
		tensor.MaxPool(y2, nil, inputs[i], g, false)
		for j := range n {
			if y2[j] != y[j] {
				t.Errorf("case %d: max without indices, element %d: got %v, with indices %v", i, j, y2[j], y[j])
				break
			}
		}
		if want[i].Avg == nil {
			continue
		}
		tensor.AveragePool(y, inputs[i], g, c.Include)
		for j := range n {
			if math.Abs(float64(y[j])-want[i].Avg[j]) > 1e-5*(1+math.Abs(want[i].Avg[j])) {
				t.Errorf("case %d %+v: average element %d: got %v, want %v", i, c, j, y[j], want[i].Avg[j])
				break
			}
		}
		if i == 0 && y[n-1] != 21 {
			t.Errorf("PARITY.md example: bottom-right average got %v, want 21", y[n-1])
		}
	}
}

// TestMaxPoolTypes: the generic kernel on integers and float64 agrees with float32, and
// column-major indices (storage_order 1) transpose the spatial position.
func TestMaxPoolTypes(t *testing.T) {
	g := &tensor.PoolGeom{Planes: 2, InShape: []int{4, 5}, Kernel: []int{2, 3}, OutShape: []int{2, 3},
		Strides: []int{2, 2}, Dilations: []int{1, 1}, Pads: []int{0, 1}, PadsEnd: []int{0, 1}}
	r := rand.New(rand.NewPCG(7, 8))
	f := make([]float32, 40)
	u := make([]uint8, 40)
	d := make([]float64, 40)
	for i := range f {
		u[i] = uint8(r.IntN(256))
		f[i], d[i] = float32(u[i]), float64(u[i])
	}
	yf, yu, yd := make([]float32, 12), make([]uint8, 12), make([]float64, 12)
	ir, ic := make([]int64, 12), make([]int64, 12)
	tensor.MaxPool(yf, ir, f, g, false)
	tensor.MaxPool(yu, ic, u, g, true)
	tensor.MaxPool(yd, nil, d, g, false)
	for i := range yf {
		if float32(yu[i]) != yf[i] || float32(yd[i]) != yf[i] {
			t.Fatalf("element %d: uint8 %v, float64 %v, float32 %v", i, yu[i], yd[i], yf[i])
		}
		p := ir[i] / 20 * 20
		y, x := (ir[i]-p)/5, (ir[i]-p)%5
		if ic[i] != p+x*4+y {
			t.Fatalf("element %d: column-major index %d, row-major %d (y %d, x %d)", i, ic[i], ir[i], y, x)
		}
	}
}

// TestGlobalPools checks the global pools against plain float64 loops over each plane.
func TestGlobalPools(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	const planes, n = 3, 7
	x := make([]float32, planes*n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	avg, mx := make([]float32, planes), make([]float32, planes)
	tensor.GlobalAveragePool(avg, x, planes, n)
	tensor.GlobalMaxPool(mx, x, planes, n)
	for p := range planes {
		s, m := 0.0, math.Inf(-1)
		for _, v := range x[p*n : (p+1)*n] {
			s += float64(v)
			m = math.Max(m, float64(v))
		}
		if math.Abs(float64(avg[p])-s/n) > 1e-6 || float64(mx[p]) != m {
			t.Errorf("plane %d: got mean %v and max %v, want %v and %v", p, avg[p], mx[p], s/n, m)
		}
	}
}

// TestPoolNaN: a NaN in a window makes its maximum NaN, as in PyTorch, with or without
// indices (which then point at the NaN), and in the global pool.
func TestPoolNaN(t *testing.T) {
	nan := float32(math.NaN())
	x := []float32{1, nan, 3, 4, 5, 6, 7, 8, 9}
	g := &tensor.PoolGeom{Planes: 1, InShape: []int{3, 3}, Kernel: []int{2, 2}, OutShape: []int{2, 2},
		Strides: []int{1, 1}, Dilations: []int{1, 1}, Pads: []int{0, 0}, PadsEnd: []int{0, 0}}
	y, yi := make([]float32, 4), make([]float32, 4)
	idx := make([]int64, 4)
	tensor.MaxPool(y, nil, x, g, false)
	tensor.MaxPool(yi, idx, x, g, false)
	for i, want := range []bool{true, true, false, false} {
		if got := y[i] != y[i]; got != want || (yi[i] != yi[i]) != want {
			t.Errorf("output %d: got %v and %v with indices, want NaN: %v", i, y[i], yi[i], want)
		}
		if want && idx[i] != 1 {
			t.Errorf("output %d: index %d, want 1 (the NaN)", i, idx[i])
		}
	}
	// The 3×3 stride-2 row kernel: NaN in the middle of a row and at the end of another.
	x2 := make([]float32, 5*20)
	for i := range x2 {
		x2[i] = float32(i % 7)
	}
	x2[1*20+9], x2[4*20+19] = nan, nan
	g2 := &tensor.PoolGeom{Planes: 1, InShape: []int{5, 20}, Kernel: []int{3, 3}, OutShape: []int{2, 10},
		Strides: []int{2, 2}, Dilations: []int{1, 1}, Pads: []int{0, 0}, PadsEnd: []int{0, 1}}
	y2, yi2 := make([]float32, 20), make([]float32, 20)
	tensor.MaxPool(y2, nil, x2, g2, false)
	tensor.MaxPool(yi2, make([]int64, 20), x2, g2, false)
	for i := range y2 {
		if (y2[i] != y2[i]) != (yi2[i] != yi2[i]) || y2[i] == y2[i] && y2[i] != yi2[i] {
			t.Errorf("3x3 stride 2, output %d: got %v, with indices %v", i, y2[i], yi2[i])
		}
	}
	if y2[4] == y2[4] || y2[19] == y2[19] {
		t.Errorf("3x3 stride 2: outputs 4 and 19 are %v and %v, want NaN", y2[4], y2[19])
	}
	m := make([]float32, 1)
	tensor.GlobalMaxPool(m, x, 1, 9)
	if m[0] == m[0] {
		t.Errorf("GlobalMaxPool: got %v, want NaN", m[0])
	}
}
