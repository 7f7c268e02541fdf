package tensor_test

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/tensor"
)

// pointwiseInputs cover the regions each function treats specially: around zero, the
// saturation points of the hard functions, where exp overflows float32, and the IEEE specials.
var pointwiseInputs = []string{"-1e4", "-100", "-89", "-20", "-3", "-2.5", "-1", "-0.5", "-1e-3",
	"-0.0", "0", "1e-3", "0.5", "1", "2.5", "3", "20", "89", "100", "1e4", "nan", "inf", "-inf"}

// pointwiseTorch is the reference: each function applied by PyTorch in float32 and float64,
// printed with repr so that NaN and the infinities survive the trip.
const pointwiseTorch = `
import sys, json, torch
import torch.nn.functional as F
fns = {
    "relu": torch.relu, "leaky_relu": lambda x: F.leaky_relu(x, 0.1),
    "elu": lambda x: F.elu(x, 0.7), "selu": torch.selu, "sigmoid": torch.sigmoid,
    "tanh": torch.tanh, "softplus": F.softplus, "hardsigmoid": F.hardsigmoid,
    "hardswish": F.hardswish, "erf": torch.erf, "exp": torch.exp, "log": torch.log,
    "sqrt": torch.sqrt, "abs": torch.abs, "neg": torch.neg, "clip": lambda x: torch.clamp(x, -2, 3),
    "maximum": lambda x: torch.maximum(x, x.flip(0)), "minimum": lambda x: torch.minimum(x, x.flip(0)),
}
out = {}
for dt in ("float32", "float64"):
    x = torch.tensor([float(s) for s in sys.argv[1:]], dtype=getattr(torch, dt))
    for name, f in fns.items():
        out[name + "/" + dt] = [repr(v) for v in f(x).tolist()]
print(json.dumps(out))
`

// TestPointwiseTorch compares every pointwise kernel with PyTorch in both float types.
func TestPointwiseTorch(t *testing.T) {
	var want map[string][]string
	if err := json.Unmarshal([]byte(fixture.RunPython(t, pointwiseTorch, pointwiseInputs...)), &want); err != nil {
		t.Fatal(err)
	}
	x64 := make([]float64, len(pointwiseInputs))
	for i, s := range pointwiseInputs {
		x64[i], _ = strconv.ParseFloat(s, 64)
	}
	x32 := make([]float32, len(x64))
	for i, v := range x64 {
		x32[i] = float32(v)
	}
	type fns struct {
		f32 func(d, s []float32)
		f64 func(d, s []float64)
	}
	kernels := map[string]fns{
		"relu":        {tensor.Relu[float32], tensor.Relu[float64]},
		"leaky_relu":  {func(d, s []float32) { tensor.LeakyRelu(d, s, 0.1) }, func(d, s []float64) { tensor.LeakyRelu(d, s, 0.1) }},
		"elu":         {func(d, s []float32) { tensor.Elu(d, s, 0.7) }, func(d, s []float64) { tensor.Elu(d, s, 0.7) }},
		"selu":        {func(d, s []float32) { tensor.Selu(d, s, 1.6732632423543772, 1.0507009873554805) }, func(d, s []float64) { tensor.Selu(d, s, 1.6732632423543772, 1.0507009873554805) }},
		"sigmoid":     {tensor.Sigmoid[float32], tensor.Sigmoid[float64]},
		"tanh":        {tensor.Tanh[float32], tensor.Tanh[float64]},
		"softplus":    {tensor.Softplus[float32], tensor.Softplus[float64]},
		"hardsigmoid": {func(d, s []float32) { tensor.HardSigmoid(d, s, 1.0/6, 0.5) }, func(d, s []float64) { tensor.HardSigmoid(d, s, 1.0/6, 0.5) }},
		"hardswish":   {tensor.HardSwish[float32], tensor.HardSwish[float64]},
		"erf":         {tensor.Erf[float32], tensor.Erf[float64]},
		"exp":         {tensor.Exp[float32], tensor.Exp[float64]},
		"log":         {tensor.Log[float32], tensor.Log[float64]},
		"sqrt":        {tensor.Sqrt[float32], tensor.Sqrt[float64]},
		"abs":         {tensor.Abs[float32], tensor.Abs[float64]},
		"neg":         {tensor.Neg[float32], tensor.Neg[float64]},
		"clip":        {func(d, s []float32) { tensor.Clip(d, s, -2, 3) }, func(d, s []float64) { tensor.Clip(d, s, -2, 3) }},
		"maximum":     {ewFlipped(tensor.Max[float32]), ewFlipped(tensor.Max[float64])},
		"minimum":     {ewFlipped(tensor.Min[float32]), ewFlipped(tensor.Min[float64])},
	}
	for name, k := range kernels {
		d32 := make([]float32, len(x32))
		k.f32(d32, x32)
		got := make([]float64, len(d32))
		for i, v := range d32 {
			got[i] = float64(v)
		}
		ewCompare(t, name+"/float32", x64, got, want[name+"/float32"], 2e-6)
		d64 := make([]float64, len(x64))
		k.f64(d64, x64)
		ewCompare(t, name+"/float64", x64, d64, want[name+"/float64"], 1e-12)
	}
}

// ewCompare checks got against Python reprs: NaN matches NaN, infinities match exactly,
// finite values within rtol relative (and rtol absolute near zero).
func ewCompare(t *testing.T, name string, x, got []float64, want []string, rtol float64) {
	t.Helper()
	if len(want) != len(got) {
		t.Fatalf("%s: got %d values, the reference has %d", name, len(got), len(want))
	}
	for i, s := range want {
		w, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			t.Fatalf("%s: reference value %q: %v", name, s, err)
		}
		g := got[i]
		switch {
		case math.IsNaN(w) || math.IsNaN(g):
			if math.IsNaN(w) != math.IsNaN(g) {
				t.Errorf("%s(%v): got %v, want %v", name, x[i], g, w)
			}
		case math.IsInf(w, 0) || math.IsInf(g, 0):
			if g != w {
				t.Errorf("%s(%v): got %v, want %v", name, x[i], g, w)
			}
		case math.Abs(g-w) > rtol*math.Max(1, math.Abs(w)):
			t.Errorf("%s(%v): got %v, want %v", name, x[i], g, w)
		}
	}
}

// softmaxTorch computes softmax and log_softmax along each axis of a [3, 4, 5] tensor whose
// entries span thousands, so that a kernel that did not subtract the maximum would overflow,
// and of a row whose probabilities underflow float32.
const softmaxTorch = `
import json, torch
g = torch.Generator().manual_seed(0)
x = (torch.randn(3, 4, 5, generator=g) * 30 + torch.arange(5) * 1000).float()
u = torch.tensor([[0.0, -200.0, -1000.0, 5.0]])
out = {"x": x.flatten().tolist(), "u": u.flatten().tolist()}
for d in range(3):
    out["softmax%d" % d] = torch.softmax(x, d).flatten().tolist()
    out["log_softmax%d" % d] = torch.log_softmax(x, d).flatten().tolist()
out["log_softmax_u"] = torch.log_softmax(u, 1).flatten().tolist()
print(json.dumps(out))
`

func TestSoftmaxTorch(t *testing.T) {
	var ref map[string][]float64
	if err := json.Unmarshal([]byte(fixture.RunPython(t, softmaxTorch)), &ref); err != nil {
		t.Fatal(err)
	}
	shape := []int{3, 4, 5}
	x := make([]float32, len(ref["x"]))
	for i, v := range ref["x"] {
		x[i] = float32(v)
	}
	check := func(name string, got []float32, want []float64) {
		t.Helper()
		for i, w := range want {
			if g := float64(got[i]); math.Abs(g-w) > 1e-6+1e-5*math.Abs(w) {
				t.Fatalf("%s: element %d: got %v, want %v", name, i, g, w)
			}
		}
	}
	for axis := 0; axis < 3; axis++ {
		outer, n, inner := tensor.Size(shape[:axis]), shape[axis], tensor.Size(shape[axis+1:])
		d := make([]float32, len(x))
		tensor.Softmax(d, x, outer, n, inner)
		check("softmax"+strconv.Itoa(axis), d, ref["softmax"+strconv.Itoa(axis)])
		tensor.LogSoftmax(d, x, outer, n, inner)
		check("log_softmax"+strconv.Itoa(axis), d, ref["log_softmax"+strconv.Itoa(axis)])
		// In place, as a plan that reuses buffers would call it.
		copy(d, x)
		tensor.Softmax(d, d, outer, n, inner)
		check("softmax in place", d, ref["softmax"+strconv.Itoa(axis)])
	}
	u := make([]float32, len(ref["u"]))
	for i, v := range ref["u"] {
		u[i] = float32(v)
	}
	d := make([]float32, len(u))
	tensor.LogSoftmax(d, u, 1, len(u), 1)
	check("log_softmax of underflowing probabilities", d, ref["log_softmax_u"])
}

// TestPowTypes compares Pow over mixed base and exponent types with numpy's
// np.power(base, exponent).astype(base dtype), the rule ONNX Pow 12 follows.
func TestPowTypes(t *testing.T) {
	out := fixture.RunPython(t, `
import json, numpy as np
b = np.array([[-3, -2, 0, 1, 2, 3, 7]])
e = np.array([[0], [1], [2], [3], [5]])
print(json.dumps({
    "ii": np.power(b.astype(np.int64), e.astype(np.int64)).tolist(),
    "if": np.power(b.astype(np.int32), e.astype(np.float32)).astype(np.int32).tolist(),
    "fi": np.power(b.astype(np.float32), e.astype(np.int64)).astype(np.float32).tolist(),
    "ff": np.power(b.astype(np.float32), (e * 0.5).astype(np.float32)).astype(np.float32).tolist(),
}).replace("NaN", "null"))
`)
	var want map[string][][]*float64
	if err := json.Unmarshal([]byte(out), &want); err != nil {
		t.Fatal(err)
	}
	bs, es := []int{1, 7}, []int{5, 1}
	bc, err := tensor.NewBroadcast(bs, es)
	if err != nil {
		t.Fatal(err)
	}
	base := []float64{-3, -2, 0, 1, 2, 3, 7}
	exp := []float64{0, 1, 2, 3, 5}
	ii := make([]int64, bc.Len())
	tensor.Pow(bc, ii, ewConv[int64](base), ewConv[int64](exp))
	fi := make([]float32, bc.Len())
	tensor.Pow(bc, fi, ewConv[float32](base), ewConv[int64](exp))
	iF := make([]int32, bc.Len())
	tensor.Pow(bc, iF, ewConv[int32](base), ewConv[float32](exp))
	ff := make([]float32, bc.Len())
	half := make([]float32, len(exp))
	for i, e := range exp {
		half[i] = float32(e * 0.5)
	}
	tensor.Pow(bc, ff, ewConv[float32](base), half)
	for name, got := range map[string][]float64{"ii": ewF64s(ii), "if": ewF64s(iF), "fi": ewF64s(fi), "ff": ewF64s(ff)} {
		for i, g := range got {
			w := want[name][i/7][i%7]
			if w == nil {
				if !math.IsNaN(g) {
					t.Errorf("%s: element %d: got %v, want NaN", name, i, g)
				}
				continue
			}
			if math.Abs(g-*w) > 1e-6*math.Max(1, math.Abs(*w)) {
				t.Errorf("%s: element %d: got %v, want %v", name, i, g, *w)
			}
		}
	}
}

func ewConv[T tensor.Number](v []float64) []T {
	out := make([]T, len(v))
	for i, x := range v {
		out[i] = T(x)
	}
	return out
}

func ewF64s[T tensor.Number](v []T) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// ewFlipped turns a binary kernel into the unary f(x, reversed x), so that NaN and the
// infinities meet every other value on both sides.
func ewFlipped[T tensor.Float](f func(*tensor.Broadcast, []T, []T, []T)) func(d, s []T) {
	return func(d, s []T) {
		r := make([]T, len(s))
		for i, v := range s {
			r[len(s)-1-i] = v
		}
		bc, _ := tensor.NewBroadcast([]int{len(s)}, []int{len(s)})
		f(bc, d, s, r)
	}
}
