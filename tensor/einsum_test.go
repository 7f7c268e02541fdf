package tensor_test

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/tensor"
)

// einsumCase is one equation over operands of the given shapes.
type einsumCase struct {
	Eq     string  `json:"eq"`
	Shapes [][]int `json:"shapes"`
	// NoNumpy skips numpy for what only PyTorch accepts: an explicit output without the
	// ellipsis the operands carry (PyTorch sums the ellipsis dimensions out).
	NoNumpy bool `json:"no_numpy"`
}

var einsumCases = []einsumCase{
	{Eq: "bij,bjk->bik", Shapes: [][]int{{2, 3, 4}, {2, 4, 5}}},
	{Eq: "bhid,bhjd->bhij", Shapes: [][]int{{2, 3, 5, 4}, {2, 3, 6, 4}}},
	{Eq: "bhij,bhjd->bhid", Shapes: [][]int{{2, 3, 5, 6}, {2, 3, 6, 4}}},
	{Eq: "B G H I D, B G H J D -> B G H I J", Shapes: [][]int{{1, 4, 2, 7, 8}, {1, 4, 2, 7, 8}}},
	{Eq: "B G H I J, B G H J D -> B G H I D", Shapes: [][]int{{1, 4, 2, 7, 7}, {1, 4, 2, 7, 8}}},
	{Eq: "ik,jk->ij", Shapes: [][]int{{3, 4}, {5, 4}}},
	{Eq: "ki,kj->ij", Shapes: [][]int{{4, 3}, {4, 5}}},
	{Eq: "ki,jk->ji", Shapes: [][]int{{4, 3}, {5, 4}}},
	{Eq: "abc,cba->b", Shapes: [][]int{{2, 3, 4}, {4, 3, 2}}},
	{Eq: "ijk,jkl->il", Shapes: [][]int{{2, 3, 4}, {3, 4, 5}}},
	{Eq: "i,j->ij", Shapes: [][]int{{3}, {4}}},
	{Eq: "i,i", Shapes: [][]int{{5}, {5}}},
	{Eq: "ij->ji", Shapes: [][]int{{3, 4}}},
	{Eq: "ij->", Shapes: [][]int{{3, 4}}},
	{Eq: "ij->i", Shapes: [][]int{{3, 4}}},
	{Eq: "ba", Shapes: [][]int{{3, 4}}},
	{Eq: "ii->i", Shapes: [][]int{{4, 4}}},
	{Eq: "ii", Shapes: [][]int{{4, 4}}},
	{Eq: "bii->bi", Shapes: [][]int{{2, 3, 3}}},
	{Eq: "...ii ->...i", Shapes: [][]int{{2, 3, 3}}},
	{Eq: "iji->j", Shapes: [][]int{{3, 2, 3}}},
	{Eq: "ii,ij->j", Shapes: [][]int{{3, 3}, {3, 4}}},
	{Eq: "ij,jk", Shapes: [][]int{{3, 4}, {4, 5}}},
	{Eq: "ij,jk->k", Shapes: [][]int{{3, 4}, {4, 5}}},
	{Eq: "...ij,...jk->...ik", Shapes: [][]int{{2, 1, 3, 4}, {5, 4, 2}}},
	{Eq: "...ij,...jk->...ik", Shapes: [][]int{{3, 4}, {2, 4, 2}}},
	{Eq: "...ij,jk", Shapes: [][]int{{2, 3, 4}, {4, 5}}},
	{Eq: "i...,i...->...", Shapes: [][]int{{3, 2, 4}, {3, 1, 4}}},
	{Eq: "...ij->ij", Shapes: [][]int{{2, 3, 4}}, NoNumpy: true},
	{Eq: "ij,ij->ij", Shapes: [][]int{{3, 1}, {3, 4}}},
	{Eq: ",ij->ij", Shapes: [][]int{{}, {3, 4}}},
	{Eq: "ij,jk,kl->il", Shapes: [][]int{{2, 3}, {3, 4}, {4, 5}}},
	{Eq: "ij,jk,kl", Shapes: [][]int{{2, 3}, {3, 4}, {4, 5}}},
	{Eq: "i,i,i->", Shapes: [][]int{{4}, {4}, {4}}},
	{Eq: "bn,anm,bm->ba", Shapes: [][]int{{2, 3}, {4, 3, 5}, {2, 5}}},
	{Eq: "ab,cd,bd->ac", Shapes: [][]int{{2, 3}, {4, 5}, {3, 5}}},
	// Large enough for the packed GEMM and the batch spread over goroutines.
	{Eq: "bghid,bghjd->bghij", Shapes: [][]int{{1, 16, 2, 49, 32}, {1, 16, 2, 49, 32}}},
	{Eq: "bij,bjk->bik", Shapes: [][]int{{2, 130, 70}, {2, 70, 90}}},
}

// einsumRandom returns float64 operands of the case's shapes, seeded by its index.
func einsumRandom(i int, shapes [][]int) [][]float64 {
	r := rand.New(rand.NewPCG(uint64(i), 0xe15))
	out := make([][]float64, len(shapes))
	for k, s := range shapes {
		out[k] = make([]float64, tensor.Size(s))
		for j := range out[k] {
			out[k][j] = 2*r.Float64() - 1
		}
	}
	return out
}

// einsumReference is what Python computes for one case: numpy's and PyTorch's results (in
// float64) and PyTorch's gradients of sum(result * seed) for every operand.
type einsumReference struct {
	Numpy []float64   `json:"numpy"`
	Torch []float64   `json:"torch"`
	Shape []int       `json:"shape"`
	Grads [][]float64 `json:"grads"`
}

const einsumPython = `
import json, sys
import numpy as np
import torch

jobs = json.load(open(sys.argv[1]))
res = []
for j in jobs:
    xs = [np.array(d, dtype=np.float64).reshape(s) for d, s in zip(j["data"], j["shapes"])]
    ts = [torch.tensor(x, requires_grad=True) for x in xs]
    y = torch.einsum(j["eq"], *ts)
    seed = torch.tensor(np.array(j["seed"], dtype=np.float64).reshape(tuple(y.shape)))
    (y * seed).sum().backward()
    npy = None if j["no_numpy"] else np.einsum(j["eq"], *xs).flatten().tolist()
    res.append({"numpy": npy, "torch": y.detach().flatten().tolist(), "shape": list(y.shape),
                "grads": [t.grad.flatten().tolist() for t in ts]})
print(json.dumps(res))
`

// TestEinsumReference compares Eval (float64 and float32) with numpy.einsum and torch.einsum,
// and Grad with PyTorch's autograd.
func TestEinsumReference(t *testing.T) {
	type job struct {
		einsumCase
		Data [][]float64 `json:"data"`
		Seed []float64   `json:"seed"`
	}
	jobs := make([]job, len(einsumCases))
	for i, c := range einsumCases {
		e, err := tensor.ParseEinsum(c.Eq)
		if err != nil {
			t.Fatalf("%s: %v", c.Eq, err)
		}
		shape, err := e.OutShape(c.Shapes...)
		if err != nil {
			t.Fatalf("%s: %v", c.Eq, err)
		}
		jobs[i] = job{einsumCase: c, Data: einsumRandom(i, c.Shapes), Seed: einsumRandom(-i-1, [][]int{shape})[0]}
	}
	blob, err := json.Marshal(jobs)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "einsum.json")
	if err := os.WriteFile(path, blob, 0o644); err != nil {
		t.Fatal(err)
	}
	var refs []einsumReference
	if err := json.Unmarshal([]byte(fixture.RunPython(t, einsumPython, path)), &refs); err != nil {
		t.Fatal(err)
	}
	for i, j := range jobs {
		ref := refs[i]
		e, _ := tensor.ParseEinsum(j.Eq)
		ops64 := make([]*tensor.Tensor, len(j.Shapes))
		ops32 := make([]*tensor.Tensor, len(j.Shapes))
		for k, s := range j.Shapes {
			ops64[k] = tensor.From(s, j.Data[k])
			ops32[k] = tensor.FromFloat64s(tensor.Float32, s, j.Data[k])
		}
		y, err := e.Eval(nil, ops64...)
		if err != nil {
			t.Errorf("%s: %v", j.Eq, err)
			continue
		}
		if !tensor.EqualShapes(y.Shape(), ref.Shape) {
			t.Errorf("%s: got shape %v, want %v", j.Eq, y.Shape(), ref.Shape)
			continue
		}
		if d := fixture.RelDiff(y.ToFloat64s(), ref.Torch); !(d <= 1e-12) {
			t.Errorf("%s: float64 result differs from torch.einsum by %.3g relative", j.Eq, d)
		}
		if !j.NoNumpy {
			if d := fixture.RelDiff(y.ToFloat64s(), ref.Numpy); !(d <= 1e-12) {
				t.Errorf("%s: float64 result differs from numpy.einsum by %.3g relative", j.Eq, d)
			}
		}
		y32, err := e.Eval(nil, ops32...)
		if err != nil {
			t.Errorf("%s: float32: %v", j.Eq, err)
		} else if d := fixture.RelDiff(y32.ToFloat64s(), ref.Torch); !(d <= 1e-5) {
			t.Errorf("%s: float32 result differs from torch.einsum by %.3g relative", j.Eq, d)
		}
		seed := tensor.From(ref.Shape, j.Seed)
		for k := range ops64 {
			g, err := e.Grad(nil, seed, ops64, k)
			if err != nil {
				t.Errorf("%s: gradient of operand %d: %v", j.Eq, k, err)
				continue
			}
			if !tensor.EqualShapes(g.Shape(), j.Shapes[k]) {
				t.Errorf("%s: gradient of operand %d has shape %v, want %v", j.Eq, k, g.Shape(), j.Shapes[k])
				continue
			}
			if d := fixture.RelDiff(g.ToFloat64s(), ref.Grads[k]); !(d <= 1e-12) {
				t.Errorf("%s: gradient of operand %d differs from PyTorch's by %.3g relative", j.Eq, k, d)
			}
		}
	}
}

// TestEinsumDTypes: integers take the plain loop and 16-bit floats run in float32; both agree
// with float64 on values they hold exactly.
func TestEinsumDTypes(t *testing.T) {
	for _, eq := range []string{"bij,bjk->bik", "ik,jk->ij", "ii->i", "ij,jk,kl->il", "...ij->...ji"} {
		e, err := tensor.ParseEinsum(eq)
		if err != nil {
			t.Fatal(err)
		}
		var shapes [][]int
		switch eq {
		case "bij,bjk->bik":
			shapes = [][]int{{2, 3, 4}, {2, 4, 5}}
		case "ik,jk->ij":
			shapes = [][]int{{3, 4}, {5, 4}}
		case "ii->i":
			shapes = [][]int{{4, 4}}
		case "ij,jk,kl->il":
			shapes = [][]int{{2, 3}, {3, 4}, {4, 2}}
		default:
			shapes = [][]int{{2, 3, 4}}
		}
		var ops64 []*tensor.Tensor
		for i, s := range shapes {
			v := make([]float64, tensor.Size(s))
			for j := range v {
				v[j] = float64((i*7+j*3)%7 - 3)
			}
			ops64 = append(ops64, tensor.From(s, v))
		}
		want, err := e.Eval(nil, ops64...)
		if err != nil {
			t.Fatal(err)
		}
		for _, dt := range []tensor.DType{tensor.Int64, tensor.Int32, tensor.Float16, tensor.BFloat16} {
			ops := make([]*tensor.Tensor, len(ops64))
			for i, x := range ops64 {
				ops[i], _ = tensor.CastTensor(nil, x, dt)
			}
			got, err := e.Eval(nil, ops...)
			if err != nil {
				t.Errorf("%s %v: %v", eq, dt, err)
				continue
			}
			if got.DType() != dt || !tensor.EqualShapes(got.Shape(), want.Shape()) {
				t.Errorf("%s %v: got %v, want %v%v", eq, dt, got, dt, want.Shape())
				continue
			}
			for i := range got.Len() {
				if got.Float64At(i) != want.Float64At(i) {
					t.Errorf("%s %v: [%d] got %g, want %g", eq, dt, i, got.Float64At(i), want.Float64At(i))
					break
				}
			}
		}
	}
}

// TestEinsumDst: a given destination receives the result; a wrong one is an error.
func TestEinsumDst(t *testing.T) {
	e, _ := tensor.ParseEinsum("ij->ji")
	x := tensor.From([]int{2, 3}, []float32{1, 2, 3, 4, 5, 6})
	dst := tensor.New(tensor.Float32, 3, 2)
	got, err := e.Eval(dst, x)
	if err != nil || got != dst {
		t.Fatalf("Eval into dst: got %v, %v", got, err)
	}
	if want := []float32{1, 4, 2, 5, 3, 6}; !equalFloat32s(dst.Float32s(), want) {
		t.Errorf("got %v, want %v", dst.Float32s(), want)
	}
	if _, err := e.Eval(tensor.New(tensor.Float32, 2, 3), x); err == nil {
		t.Error("Eval into a dst of the wrong shape: no error")
	}
	// An equation that computes nothing still returns a tensor of its own.
	for _, eq := range []string{"ij->ij", "ij", "aij->ij"} {
		e, _ := tensor.ParseEinsum(eq)
		in := x
		if eq == "aij->ij" {
			in, _ = x.Reshape(1, 2, 3)
		}
		y, err := e.Eval(nil, in)
		if err != nil {
			t.Fatal(err)
		}
		y.Float32s()[0] = 100
		if x.Float32s()[0] != 1 {
			t.Errorf("%s: the result shares the operand's elements", eq)
		}
	}
}

func equalFloat32s(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] && !(math.IsNaN(float64(a[i])) && math.IsNaN(float64(b[i]))) {
			return false
		}
	}
	return true
}

// TestParseEinsum checks the parsed form and the implicit output.
func TestParseEinsum(t *testing.T) {
	for _, c := range []struct{ eq, want string }{
		{"ij,jk->ik", "ij,jk->ik"},
		{" b i j , b j k -> b i k ", "bij,bjk->bik"},
		{"ij,jk", "ij,jk->ik"},
		{"ba", "ba->ab"},
		{"ii", "ii->"},
		{"...ij,...jk", "...ij,...jk->...ik"},
		{"Ba,aC", "Ba,aC->BC"},
		{"ij->", "ij->"},
		{"...ii->...i", "...ii->...i"},
	} {
		e, err := tensor.ParseEinsum(c.eq)
		if err != nil {
			t.Errorf("%q: %v", c.eq, err)
			continue
		}
		if got := e.String(); got != c.want {
			t.Errorf("%q: got %q, want %q", c.eq, got, c.want)
		}
	}
}

// TestEinsumErrors: a malformed equation, or operands that do not fit it, is an error that
// says what is wrong.
func TestEinsumErrors(t *testing.T) {
	for _, c := range []struct {
		eq     string
		shapes [][]int
		want   string
	}{
		{"ij,jk->ik->i", nil, `more than one "->"`},
		{"i1,jk->ik", nil, `'1' is not a subscript`},
		{"i..j->ij", nil, `does not start an ellipsis`},
		{"...i...->i", nil, `more than one ellipsis`},
		{"ij->ii", nil, `repeats subscript 'i'`},
		{"ij->k", nil, `output subscript 'k' is in no operand`},
		{"ij,jk->ik", [][]int{{2, 3}}, "1 operands for 2 terms"},
		{"ij,jk->ik", [][]int{{2, 3}, {4, 5}}, "subscript 'j' has size 4 in operand 1"},
		{"ij,jk->ik", [][]int{{2, 3, 4}, {3, 5}}, `operand 0 has shape [2 3 4], but its subscripts "ij" name 2 dimensions`},
		{"ii->i", [][]int{{2, 3}}, "repeats subscript 'i' with sizes 2 and 3"},
		{"...ij,...jk->...ik", [][]int{{2, 3, 4}, {3, 4, 5}}, "dimension 0 of the ellipsis has size 3"},
	} {
		e, err := tensor.ParseEinsum(c.eq)
		if err == nil {
			_, err = e.OutShape(c.shapes...)
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q %v: got error %v, want one containing %q", c.eq, c.shapes, err, c.want)
		}
	}
}

func BenchmarkEinsum(b *testing.B) {
	for _, c := range []struct {
		name, eq string
		shapes   [][]int
	}{
		// maxvit_t's relative-position attention at its first stage: 64 windows of 49 tokens,
		// 2 heads of 32.
		{"maxvit-qk", "bghid,bghjd->bghij", [][]int{{1, 64, 2, 49, 32}, {1, 64, 2, 49, 32}}},
		{"maxvit-pv", "bghij,bghjd->bghid", [][]int{{1, 64, 2, 49, 49}, {1, 64, 2, 49, 32}}},
	} {
		e, _ := tensor.ParseEinsum(c.eq)
		var ops []*tensor.Tensor
		for i, s := range c.shapes {
			ops = append(ops, tensor.FromFloat64s(tensor.Float32, s, einsumRandom(i, [][]int{s})[0]))
		}
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := e.Eval(nil, ops...); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
