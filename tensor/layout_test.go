package tensor_test

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/tensor"
)

// layoutCase is one operation for the numpy reference: x is arange(prod(shape)) as float32
// (several inputs for concat, offset by 1000 each), and the other fields are the op's arguments.
type layoutCase struct {
	Op      string    `json:"op"`
	Shape   []int     `json:"shape"`
	Shapes  [][]int   `json:"shapes"`
	Perm    []int     `json:"perm"`
	Begins  []int     `json:"begins"`
	Ends    []int     `json:"ends"`
	Mode    string    `json:"mode"`
	Value   float32   `json:"value"`
	Starts  []int64   `json:"starts"`
	Stops   []int64   `json:"stops"`
	Steps   []int64   `json:"steps"`
	Axis    int       `json:"axis"`
	Indices []int     `json:"indices"`
	IShape  []int     `json:"ishape"`
	Sizes   []int     `json:"sizes"`
	Reps    []int     `json:"reps"`
	Results []float32 `json:"-"`
}

type layoutResult struct {
	Shape []int     `json:"shape"`
	Data  []float64 `json:"data"`
}

// layoutNumpy evaluates the cases with numpy: np.transpose, np.pad (after cropping negative
// pads), Python slicing, np.take, np.tile, np.concatenate and np.split.
func layoutNumpy(t *testing.T, cases []layoutCase) [][]layoutResult {
	t.Helper()
	in, _ := json.Marshal(cases)
	out := fixture.RunPython(t, `
import sys, json, numpy as np
def arr(shape, off=0):
    return (np.arange(int(np.prod(shape))) + off).astype(np.float32).reshape(shape)
res = []
for c in json.loads(sys.argv[1]):
    op = c["op"]
    if op == "transpose":
        ys = [np.transpose(arr(c["shape"]), c.get("perm", []))]
    elif op == "pad":
        x = arr(c["shape"])
        crop = tuple(slice(max(-b, 0), n - max(-e, 0)) for n, b, e in zip(x.shape, c["begins"], c["ends"]))
        width = [(max(b, 0), max(e, 0)) for b, e in zip(c["begins"], c["ends"])]
        kw = {"constant_values": c.get("value", 0)} if c["mode"] == "constant" else {}
        ys = [np.pad(x[crop], width, mode=c["mode"], **kw)]
    elif op == "slice":
        x = arr(c["shape"])
        ys = [x[tuple(slice(a, b, s) for a, b, s in zip(c["starts"], c["stops"], c["steps"]))]]
    elif op == "gather":
        idx = np.array(c["indices"]).reshape(c["ishape"])
        ys = [np.take(arr(c["shape"]), idx, axis=c["axis"])]
    elif op == "tile":
        ys = [np.tile(arr(c["shape"]), c["reps"])]
    elif op == "concat":
        ys = [np.concatenate([arr(s, 1000 * i) for i, s in enumerate(c["shapes"])], axis=c["axis"])]
    elif op == "split":
        ys = np.split(arr(c["shape"]), np.cumsum(c["sizes"])[:-1], axis=c["axis"])
    res.append([{"shape": list(y.shape), "data": y.ravel().tolist()} for y in ys])
print(json.dumps(res))
`, string(in))
	var want [][]layoutResult
	if err := json.Unmarshal([]byte(out), &want); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return want
}

func layoutArange(shape []int, off float32) *tensor.Tensor {
	x := tensor.New(tensor.Float32, shape...)
	for i := range x.Float32s() {
		x.Float32s()[i] = float32(i) + off
	}
	return x
}

// layoutRun runs a case through the *Tensor functions.
func layoutRun(c layoutCase) ([]*tensor.Tensor, error) {
	x := layoutArange(c.Shape, 0)
	one := func(y *tensor.Tensor, err error) ([]*tensor.Tensor, error) { return []*tensor.Tensor{y}, err }
	switch c.Op {
	case "transpose":
		return one(tensor.TransposeTensor(nil, x, c.Perm))
	case "pad":
		mode, err := tensor.ParsePadMode(c.Mode)
		if err != nil {
			return nil, err
		}
		return one(tensor.PadTensor(nil, x, c.Begins, c.Ends, mode, tensor.Scalar(c.Value)))
	case "slice":
		r := len(c.Shape)
		starts, counts, steps := make([]int, r), make([]int, r), make([]int, r)
		for i := range r {
			starts[i], counts[i] = tensor.SliceRange(c.Shape[i], c.Starts[i], c.Stops[i], c.Steps[i])
			steps[i] = int(c.Steps[i])
		}
		return one(tensor.SliceTensor(nil, x, starts, counts, steps))
	case "gather":
		idx := make([]int64, len(c.Indices))
		for i, v := range c.Indices {
			idx[i] = int64(v)
		}
		return one(tensor.GatherTensor(nil, x, c.Axis, tensor.From(c.IShape, idx)))
	case "tile":
		return one(tensor.TileTensor(nil, x, c.Reps))
	case "concat":
		var xs []*tensor.Tensor
		for i, s := range c.Shapes {
			xs = append(xs, layoutArange(s, float32(1000*i)))
		}
		return one(tensor.ConcatTensors(nil, xs, c.Axis))
	case "split":
		return tensor.SplitTensor(x, c.Axis, c.Sizes)
	}
	return nil, fmt.Errorf("unknown op %q", c.Op)
}

// TestLayoutNumpy compares every layout kernel with numpy on small cases chosen to reach each
// path of the strided copy: runs, tiled transposes, element loops, zero and negative strides,
// and Pad's crop and fill passes.
func TestLayoutNumpy(t *testing.T) {
	cases := []layoutCase{
		{Op: "transpose", Shape: []int{2, 3, 4}, Perm: []int{2, 0, 1}},
		{Op: "transpose", Shape: []int{2, 3, 4}, Perm: []int{0, 2, 1}},
		{Op: "transpose", Shape: []int{2, 3, 4}, Perm: []int{1, 0, 2}},
		{Op: "transpose", Shape: []int{5, 1, 7, 1}, Perm: []int{3, 2, 1, 0}},
		{Op: "transpose", Shape: []int{2, 3, 37, 45}, Perm: []int{0, 2, 3, 1}},
		{Op: "transpose", Shape: []int{2, 37, 45, 3}, Perm: []int{0, 3, 1, 2}},
		{Op: "transpose", Shape: []int{3, 4, 5, 6, 2}, Perm: []int{4, 1, 3, 0, 2}},
		{Op: "transpose", Shape: []int{}, Perm: []int{}},
		{Op: "transpose", Shape: []int{3, 0, 2}, Perm: []int{2, 1, 0}},
		{Op: "pad", Shape: []int{2, 3, 4, 5}, Begins: []int{0, 0, 1, 2}, Ends: []int{0, 0, 2, 1}, Mode: "constant", Value: 1.5},
		{Op: "pad", Shape: []int{2, 3, 4, 5}, Begins: []int{0, 1, 2, 3}, Ends: []int{1, 0, 3, 2}, Mode: "reflect"},
		{Op: "pad", Shape: []int{2, 3, 4, 5}, Begins: []int{1, 0, 2, 3}, Ends: []int{0, 2, 3, 4}, Mode: "edge"},
		{Op: "pad", Shape: []int{3}, Begins: []int{7}, Ends: []int{5}, Mode: "reflect"},
		{Op: "pad", Shape: []int{1, 4}, Begins: []int{2, 1}, Ends: []int{1, 0}, Mode: "edge"},
		{Op: "pad", Shape: []int{4, 6}, Begins: []int{-1, 2}, Ends: []int{1, -3}, Mode: "constant"},
		{Op: "pad", Shape: []int{4, 6}, Begins: []int{-1, 2}, Ends: []int{2, -3}, Mode: "reflect"},
		{Op: "pad", Shape: []int{4, 6}, Begins: []int{1, -2}, Ends: []int{-2, 3}, Mode: "edge"},
		{Op: "pad", Shape: []int{3, 0}, Begins: []int{1, 1}, Ends: []int{0, 2}, Mode: "constant", Value: -2},
		{Op: "pad", Shape: []int{2, 3, 4, 5}, Begins: []int{0, 1, 2, 3}, Ends: []int{1, 0, 3, 2}, Mode: "wrap"},
		{Op: "pad", Shape: []int{3}, Begins: []int{7}, Ends: []int{5}, Mode: "wrap"},
		{Op: "pad", Shape: []int{4, 6}, Begins: []int{-1, 2}, Ends: []int{2, -3}, Mode: "wrap"},
		{Op: "slice", Shape: []int{6, 7}, Starts: []int64{1, 0}, Stops: []int64{5, 7}, Steps: []int64{1, 1}},
		{Op: "slice", Shape: []int{6, 7}, Starts: []int64{-2, 6}, Stops: []int64{math.MaxInt64, -100}, Steps: []int64{1, -2}},
		{Op: "slice", Shape: []int{6, 7, 8}, Starts: []int64{5, 1, -1}, Stops: []int64{0, 100, -9}, Steps: []int64{-2, 3, -3}},
		{Op: "slice", Shape: []int{4, 5}, Starts: []int64{3, 2}, Stops: []int64{1, 2}, Steps: []int64{1, 1}},
		{Op: "slice", Shape: []int{4, 5}, Starts: []int64{-100, 0}, Stops: []int64{100, 5}, Steps: []int64{1, 2}},
		{Op: "gather", Shape: []int{5, 4, 3}, Axis: 1, Indices: []int{3, -1, 0, 2, 2, -4}, IShape: []int{2, 3}},
		{Op: "gather", Shape: []int{5, 4, 3}, Axis: 2, Indices: []int{2, 0}, IShape: []int{2}},
		{Op: "gather", Shape: []int{5, 4}, Axis: 0, Indices: []int{-2}, IShape: []int{}},
		{Op: "tile", Shape: []int{2, 3, 4}, Reps: []int{2, 1, 3}},
		{Op: "tile", Shape: []int{1, 3}, Reps: []int{4, 2}},
		{Op: "tile", Shape: []int{2, 3}, Reps: []int{0, 2}},
		{Op: "concat", Shapes: [][]int{{2, 3, 4}, {2, 1, 4}, {2, 5, 4}}, Axis: 1},
		{Op: "concat", Shapes: [][]int{{2, 3}, {2, 2}, {2, 0}}, Axis: 1},
		{Op: "concat", Shapes: [][]int{{1, 3}, {2, 3}}, Axis: 0},
		{Op: "split", Shape: []int{3, 7, 2}, Axis: 1, Sizes: []int{2, 0, 4, 1}},
		{Op: "split", Shape: []int{6, 2}, Axis: 0, Sizes: []int{3, 3}},
	}
	for i := range cases {
		if cases[i].Op == "concat" {
			cases[i].Shape = cases[i].Shapes[0]
		}
	}
	want := layoutNumpy(t, cases)
	for i, c := range cases {
		got, err := layoutRun(c)
		if err != nil {
			t.Errorf("%s %+v: %v", c.Op, c, err)
			continue
		}
		if len(got) != len(want[i]) {
			t.Errorf("%s %+v: got %d outputs, want %d", c.Op, c, len(got), len(want[i]))
			continue
		}
		for j, w := range want[i] {
			if !tensor.EqualShapes(got[j].Shape(), w.Shape) {
				t.Errorf("%s %+v: output %d: got shape %v, want %v", c.Op, c, j, got[j].Shape(), w.Shape)
				continue
			}
			for k, v := range got[j].Float32s() {
				if float64(v) != w.Data[k] {
					t.Errorf("%s %+v: output %d element %d: got %v, want %v", c.Op, c, j, k, v, w.Data[k])
					break
				}
			}
		}
	}
}

// layoutNaiveTranspose is the definition: each output element read through the permuted
// multi-index, one at a time.
func layoutNaiveTranspose[T any](src []T, shape, perm []int) []T {
	out := make([]int, len(shape))
	for i, p := range perm {
		out[i] = shape[p]
	}
	is := tensor.Strides(shape)
	dst := make([]T, len(src))
	idx := make([]int, len(out))
	for i := range dst {
		r, off := i, 0
		for k := len(out) - 1; k >= 0; k-- {
			idx[k] = r % out[k]
			r /= out[k]
			off += idx[k] * is[perm[k]]
		}
		dst[i] = src[off]
	}
	return dst
}

// TestTransposeLargeMatchesDefinition runs shapes big enough for the parallel and tiled paths
// (the NCHW <-> NHWC layouts of exported CNNs among them) on several element types.
func TestTransposeLargeMatchesDefinition(t *testing.T) {
	cases := []struct{ shape, perm []int }{
		{[]int{4, 32, 28, 28}, []int{0, 2, 3, 1}},
		{[]int{4, 28, 28, 32}, []int{0, 3, 1, 2}},
		{[]int{300, 257}, []int{1, 0}},
		{[]int{8, 16, 9, 70}, []int{1, 3, 0, 2}},
		{[]int{2, 64, 3, 200}, []int{0, 2, 1, 3}},
	}
	for _, c := range cases {
		n := tensor.Size(c.shape)
		f := make([]float32, n)
		b := make([]bool, n)
		h := make([]uint16, n)
		for i := range f {
			f[i], b[i], h[i] = float32(i), i%3 == 0, uint16(i)
		}
		gotF := make([]float32, n)
		tensor.Transpose(gotF, f, c.shape, c.perm)
		layoutSame(t, fmt.Sprint(c.shape, c.perm, " float32"), gotF, layoutNaiveTranspose(f, c.shape, c.perm))
		gotB := make([]bool, n)
		tensor.Transpose(gotB, b, c.shape, c.perm)
		layoutSame(t, fmt.Sprint(c.shape, c.perm, " bool"), gotB, layoutNaiveTranspose(b, c.shape, c.perm))
		gotH := make([]uint16, n)
		tensor.Transpose(gotH, h, c.shape, c.perm)
		layoutSame(t, fmt.Sprint(c.shape, c.perm, " uint16"), gotH, layoutNaiveTranspose(h, c.shape, c.perm))
	}
}

func layoutSame[T comparable](t *testing.T, what string, got, want []T) {
	t.Helper()
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%s: element %d: got %v, want %v", what, i, got[i], want[i])
			return
		}
	}
}

// TestPadLargeMatchesDefinition checks the parallel paths of Pad on an activation-sized input
// against the definition: every output cell read from its clamped or mirrored source cell.
func TestPadLargeMatchesDefinition(t *testing.T) {
	shape := []int{2, 16, 40, 50}
	begins, ends := []int{0, 1, 3, 2}, []int{1, 0, 2, 5}
	x := layoutArange(shape, 0)
	for _, mode := range []tensor.PadMode{tensor.PadConstant, tensor.PadReflect, tensor.PadEdge} {
		y, err := tensor.PadTensor(nil, x, begins, ends, mode, tensor.Scalar(float32(-1)))
		if err != nil {
			t.Fatal(err)
		}
		out := y.Shape()
		idx := make([]int, 4)
		for i, v := range y.Float32s() {
			r := i
			for k := 3; k >= 0; k-- {
				idx[k] = r % out[k]
				r /= out[k]
			}
			want, off := float32(-1), 0
			inside := true
			for k := range 4 {
				j := idx[k] - begins[k]
				switch {
				case j >= 0 && j < shape[k]:
				case mode == tensor.PadEdge:
					j = min(max(j, 0), shape[k]-1)
				case mode == tensor.PadReflect:
					if j < 0 {
						j = -j
					} else {
						j = 2*(shape[k]-1) - j
					}
				default:
					inside = false
				}
				off = off*shape[k] + j
			}
			if inside {
				want = x.Float32s()[off]
			}
			if v != want {
				t.Errorf("%v: output %v: got %v, want %v", mode, idx, v, want)
				break
			}
		}
	}
}

// TestSliceRangeSpec checks the clamping rules the ONNX Slice spec states, including the cases
// where they differ from Python's slices (a negative step from a start before the first
// element takes that element instead of nothing).
func TestSliceRangeSpec(t *testing.T) {
	cases := []struct {
		dim                int
		start, end, step   int64
		wantFirst, wantCnt int
	}{
		{10, 2, 7, 1, 2, 5},
		{10, 2, 7, 2, 2, 3},
		{10, -3, math.MaxInt64, 1, 7, 3},
		{10, 0, -1, 1, 0, 9},
		{10, 20, 30, 1, 10, 0},
		{10, -20, 3, 1, 0, 3},
		{10, 9, math.MinInt64, -1, 9, 10},
		{10, 20, 0, -3, 9, 3},
		{10, -20, -30, -1, 0, 1}, // Python's x[-20:-30:-1] is empty
		{10, -20, -11, -1, 0, 1},
		{10, 5, 5, -1, 5, 0},
		{1, 0, math.MinInt64, -1, 0, 1},
		{0, 0, math.MaxInt64, 1, 0, 0},
	}
	for _, c := range cases {
		first, n := tensor.SliceRange(c.dim, c.start, c.end, c.step)
		if first != c.wantFirst && c.wantCnt > 0 || n != c.wantCnt {
			t.Errorf("SliceRange(%d, %d, %d, %d): got (%d, %d), want (%d, %d)", c.dim, c.start, c.end, c.step, first, n, c.wantFirst, c.wantCnt)
		}
	}
}

// TestCastNumpy compares CastTensor with numpy's astype (and PyTorch for bfloat16, which numpy
// lacks) on values at rounding boundaries, including float64 values that rounding through
// float32 first would send to the wrong float16.
func TestCastNumpy(t *testing.T) {
	out := fixture.RunPython(t, `
import json, struct, numpy as np, torch
x = np.array([0.0, -0.0, 0.5, -0.5, 1.7, -1.7, 2.5, -2.5, 127.9, -128.9, 255.5, 1e-8, 3e-8,
    65504.0, 65519.99, 65520.0, 1 + 2**-11 + 2**-40, 1 + 2**-11, 1 + 3 * 2**-11 - 2**-45,
    2049.0000001, 2**-25 + 2**-60, 2**24 + 1, 123456.789, float("inf"), float("-inf"), float("nan")])
fin = np.isfinite(x) & (np.abs(x) < 100)
bits = lambda a: [struct.unpack("<Q", struct.pack("<d", v))[0] for v in a]
ints = np.array([0, 1, -1, 7, 127, -128, 255, 2**24 + 1, 2**31 - 1, -2**31, 2**53 + 1], dtype=np.int64)
f32 = x.astype(np.float32)
print(json.dumps({
    "x": bits(x),
    "f32": bits(f32.astype(np.float64)),
    "f16": x.astype(np.float16).view(np.uint16).tolist(),
    "bool": x.astype(bool).tolist(),
    "fin": fin.tolist(),
    "i32": np.where(fin, x, 0).astype(np.int32).tolist(),
    "i8": np.where(fin, x, 0).astype(np.int8).tolist(),
    "u8": np.where(fin & (x > -1), x, 0).astype(np.uint8).tolist(),
    "f32bf16": torch.from_numpy(f32).to(torch.bfloat16).view(torch.int16).numpy().astype(np.uint16).tolist(),
    "f32f16": f32.astype(np.float16).view(np.uint16).tolist(),
    "ints": ints.tolist(),
    "intsf32": bits(ints.astype(np.float32).astype(np.float64)),
    "intsf16": ints.astype(np.float16).view(np.uint16).tolist(),
    "intsi8": ints.astype(np.int8).tolist(),
}))
`)
	var ref struct {
		X, F32, F16, F32BF16, F32F16, IntsF32, IntsF16 []uint64
		Bool, Fin                                      []bool
		I32, I8, U8, Ints, IntsI8                      []int64
	}
	if err := json.Unmarshal([]byte(out), &ref); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	n := len(ref.X)
	xv := make([]float64, n)
	for i, b := range ref.X {
		xv[i] = math.Float64frombits(b)
	}
	x := tensor.From([]int{n}, xv)
	cast := func(src *tensor.Tensor, to tensor.DType) *tensor.Tensor {
		y, err := tensor.CastTensor(nil, src, to)
		if err != nil {
			t.Fatal(err)
		}
		return y
	}
	check := func(what string, got, want []int64) {
		t.Helper()
		for i := range want {
			// NaN payloads differ between libraries (PyTorch's bfloat16 NaN is 0xffff): any
			// 16-bit NaN matches another.
			isNaN16 := func(b int64) bool {
				return strings.Contains(what, "bfloat16") && b&0x7f80 == 0x7f80 && b&0x7f != 0 ||
					strings.Contains(what, "float16") && !strings.Contains(what, "bfloat16") && b&0x7c00 == 0x7c00 && b&0x3ff != 0
			}
			if got[i] != want[i] && !(isNaN16(got[i]) && isNaN16(want[i])) {
				t.Errorf("%s of %v: got %d, want %d", what, xv[i%n], got[i], want[i])
			}
		}
	}
	f32 := cast(x, tensor.Float32)
	for i, v := range f32.Float32s() {
		if w := math.Float64frombits(ref.F32[i]); float64(v) != w && !math.IsNaN(w) {
			t.Errorf("float32 of %v: got %v, want %v", xv[i], v, w)
		}
	}
	check("float16", halfBits(cast(x, tensor.Float16)), toInt64s(ref.F16))
	check("float32->float16", halfBits(cast(f32, tensor.Float16)), toInt64s(ref.F32F16))
	check("float32->bfloat16", halfBits(cast(f32, tensor.BFloat16)), toInt64s(ref.F32BF16))
	for i, v := range tensor.Data[bool](cast(x, tensor.Bool)) {
		if v != ref.Bool[i] {
			t.Errorf("bool of %v: got %v, want %v", xv[i], v, ref.Bool[i])
		}
	}
	var finite []float64
	var wantI32, wantI8, wantU8 []int64
	for i, ok := range ref.Fin {
		if ok {
			finite = append(finite, xv[i])
			wantI32, wantI8 = append(wantI32, ref.I32[i]), append(wantI8, ref.I8[i])
			if xv[i] > -1 {
				wantU8 = append(wantU8, ref.U8[i])
			}
		}
	}
	xf := tensor.From([]int{len(finite)}, finite)
	check("int32", cast(xf, tensor.Int32).ToInt64s(), wantI32)
	check("int8", cast(xf, tensor.Int8).ToInt64s(), wantI8)
	var nonNeg []float64
	for _, v := range finite {
		if v > -1 {
			nonNeg = append(nonNeg, v)
		}
	}
	check("uint8", cast(tensor.From([]int{len(nonNeg)}, nonNeg), tensor.Uint8).ToInt64s(), wantU8)
	ints := tensor.From([]int{len(ref.Ints)}, ref.Ints)
	for i, v := range cast(ints, tensor.Float32).Float32s() {
		if w := math.Float64frombits(ref.IntsF32[i]); float64(v) != w {
			t.Errorf("float32 of %d: got %v, want %v", ref.Ints[i], v, w)
		}
	}
	check("int64->float16", halfBits(cast(ints, tensor.Float16)), toInt64s(ref.IntsF16))
	check("int64->int8", cast(ints, tensor.Int8).ToInt64s(), ref.IntsI8)
	// float16 -> bool -> int32: true exactly where the float16 value is not ±0.
	back := cast(cast(cast(x, tensor.Float16), tensor.Bool), tensor.Int32).ToInt64s()
	for i, v := range back {
		want := int64(0)
		if ref.F16[i]&0x7fff != 0 {
			want = 1
		}
		if v != want {
			t.Errorf("float16->bool->int32 of %v: got %d, want %d", xv[i], v, want)
		}
	}
	if _, err := tensor.CastTensor(nil, x, tensor.Undefined); err == nil {
		t.Error("cast to Undefined succeeded")
	}
}

// halfBits returns the bit patterns of a float16 or bfloat16 tensor.
func halfBits(t *tensor.Tensor) []int64 {
	out := make([]int64, t.Len())
	for i, b := range tensor.Data[uint16](t) {
		out[i] = int64(b)
	}
	return out
}

func toInt64s(v []uint64) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return out
}

// TestArangeNumpy compares Arange with numpy.arange for float and integer types, empty and
// negative ranges included.
func TestArangeNumpy(t *testing.T) {
	cases := []struct {
		DT    tensor.DType `json:"dt"`
		Start float64      `json:"start"`
		Limit float64      `json:"limit"`
		Delta float64      `json:"delta"`
	}{
		{tensor.Float32, 0.5, 3.2, 0.3},
		{tensor.Float32, 1, 1, 1},
		{tensor.Float32, 5, 1, 1},
		{tensor.Float64, -1, 1, 0.25},
		{tensor.Float64, 10, -3.5, -1.5},
		{tensor.Int32, 10, -2, -3},
		{tensor.Int64, -5, 5, 2},
		{tensor.Int64, -5, 6, 2},
		{tensor.Int16, 3, 3, -1},
		{tensor.Uint8, 2, 200, 33},
	}
	in, _ := json.Marshal(cases)
	out := fixture.RunPython(t, `
import sys, json, numpy as np
names = {1: "float32", 2: "float64", 6: "int16", 7: "int32", 8: "int64", 9: "uint8"}
res = []
for c in json.loads(sys.argv[1]):
    dt = np.dtype(names[c["dt"]])
    res.append(np.arange(dt.type(c["start"]), dt.type(c["limit"]), dt.type(c["delta"]), dtype=dt).astype(np.float64).tolist())
print(json.dumps(res))
`, string(in))
	var want [][]float64
	if err := json.Unmarshal([]byte(out), &want); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	scalar := func(dt tensor.DType, v float64) *tensor.Tensor {
		y, err := tensor.CastTensor(nil, tensor.Scalar(v), dt)
		if err != nil {
			t.Fatal(err)
		}
		return y
	}
	for i, c := range cases {
		got, err := tensor.Arange(scalar(c.DT, c.Start), scalar(c.DT, c.Limit), scalar(c.DT, c.Delta))
		if err != nil {
			t.Errorf("%+v: %v", c, err)
			continue
		}
		if got.DType() != c.DT || got.Len() != len(want[i]) {
			t.Errorf("%+v: got %v, want %d elements of %v", c, got, len(want[i]), c.DT)
			continue
		}
		for k, w := range want[i] {
			if g := got.Float64At(k); math.Abs(g-w) > 1e-6*math.Abs(w) {
				t.Errorf("%+v: element %d: got %v, want %v", c, k, g, w)
			}
		}
	}
	if _, err := tensor.Arange(tensor.Scalar(int64(0)), tensor.Scalar(int64(5)), tensor.Scalar(int64(0))); err == nil {
		t.Error("Arange with delta 0 succeeded")
	}
	if _, err := tensor.Arange(tensor.Scalar(float32(0)), tensor.Scalar(float32(1e30)), tensor.Scalar(float32(1))); err == nil {
		t.Error("Arange of 1e30 elements succeeded")
	}
}

// TestLayoutTensorErrors checks that malformed arguments come back as errors, not panics.
func TestLayoutTensorErrors(t *testing.T) {
	x := layoutArange([]int{2, 3}, 0)
	idx := func(v ...int64) *tensor.Tensor { return tensor.From([]int{len(v)}, v) }
	for name, f := range map[string]func() error{
		"transpose perm": func() error { _, err := tensor.TransposeTensor(nil, x, []int{0, 0}); return err },
		"transpose dst":  func() error { _, err := tensor.TransposeTensor(x, x, nil); return err },
		"concat dims": func() error {
			_, err := tensor.ConcatTensors(nil, []*tensor.Tensor{x, layoutArange([]int{3, 3}, 0)}, 1)
			return err
		},
		"concat dtypes": func() error {
			_, err := tensor.ConcatTensors(nil, []*tensor.Tensor{x, tensor.New(tensor.Int64, 2, 3)}, 0)
			return err
		},
		"concat axis":  func() error { _, err := tensor.ConcatTensors(nil, []*tensor.Tensor{x}, 2); return err },
		"split sizes":  func() error { _, err := tensor.SplitTensor(x, 1, []int{1, 1}); return err },
		"slice bounds": func() error { _, err := tensor.SliceTensor(nil, x, []int{0, 2}, []int{2, 2}, []int{1, 1}); return err },
		"slice step":   func() error { _, err := tensor.SliceTensor(nil, x, []int{0, 0}, []int{2, 2}, []int{1, 0}); return err },
		"pad negative": func() error {
			_, err := tensor.PadTensor(nil, x, []int{-2, 0}, []int{-1, 0}, tensor.PadConstant, nil)
			return err
		},
		"pad reflect none": func() error {
			_, err := tensor.PadTensor(nil, x, []int{-2, 0}, []int{1, 0}, tensor.PadReflect, nil)
			return err
		},
		"gather index": func() error { _, err := tensor.GatherTensor(nil, x, 1, idx(3)); return err },
		"gather dtype": func() error { _, err := tensor.GatherTensor(nil, x, 1, x); return err },
		"tile repeats": func() error { _, err := tensor.TileTensor(nil, x, []int{1}); return err },
		"fill value":   func() error { return tensor.FillTensor(x, x) },
	} {
		if f() == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestLayoutConcurrent runs the kernels from several goroutines at once (for -race): they
// keep no state between calls.
func TestLayoutConcurrent(t *testing.T) {
	x := layoutArange([]int{3, 40, 30, 20}, 0)
	want, _ := tensor.TransposeTensor(nil, x, []int{0, 2, 3, 1})
	done := make(chan error)
	for range 4 {
		go func() {
			y, err := tensor.TransposeTensor(nil, x, []int{0, 2, 3, 1})
			if err == nil {
				for i, v := range y.Float32s() {
					if v != want.Float32s()[i] {
						err = fmt.Errorf("element %d differs", i)
						break
					}
				}
			}
			done <- err
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// BenchmarkLayout times the layout kernels on resnet-sized activations.
func BenchmarkLayout(b *testing.B) {
	x := tensor.New(tensor.Float32, 8, 64, 56, 56)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range x.Float32s() {
		x.Float32s()[i] = rng.Float32()
	}
	b.Run("transpose-nchw-nhwc", func(b *testing.B) {
		dst := tensor.New(tensor.Float32, 8, 56, 56, 64)
		b.SetBytes(int64(4 * x.Len()))
		for b.Loop() {
			tensor.TransposeTensor(dst, x, []int{0, 2, 3, 1})
		}
	})
	b.Run("pad-hw1", func(b *testing.B) {
		dst := tensor.New(tensor.Float32, 8, 64, 58, 58)
		b.SetBytes(int64(4 * x.Len()))
		for b.Loop() {
			tensor.PadTensor(dst, x, []int{0, 0, 1, 1}, []int{0, 0, 1, 1}, tensor.PadConstant, nil)
		}
	})
	b.Run("pad-reflect-hw3", func(b *testing.B) {
		dst := tensor.New(tensor.Float32, 8, 64, 62, 62)
		b.SetBytes(int64(4 * x.Len()))
		for b.Loop() {
			tensor.PadTensor(dst, x, []int{0, 0, 3, 3}, []int{0, 0, 3, 3}, tensor.PadReflect, nil)
		}
	})
	b.Run("concat-channels", func(b *testing.B) {
		dst := tensor.New(tensor.Float32, 8, 128, 56, 56)
		b.SetBytes(int64(8 * x.Len()))
		for b.Loop() {
			tensor.ConcatTensors(dst, []*tensor.Tensor{x, x}, 1)
		}
	})
	b.Run("copy", func(b *testing.B) {
		dst := make([]float32, x.Len())
		b.SetBytes(int64(4 * x.Len()))
		for b.Loop() {
			copy(dst, x.Float32s())
		}
	})
}
