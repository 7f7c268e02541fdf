package graph_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/tensor"
)

// TestEinsumTorch runs the equations torchvision's maxvit_t exports (upper-case subscripts
// with spaces, as PyTorch passes them through) and a few others through the kernel, and
// compares with torch.einsum. tensor's tests cover the equation forms in depth.
func TestEinsumTorch(t *testing.T) {
	cases := []struct {
		Eq     string      `json:"eq"`
		Shapes [][]int     `json:"shapes"`
		Data   [][]float64 `json:"data"`
	}{
		{Eq: "B G H I D, B G H J D -> B G H I J", Shapes: [][]int{{1, 4, 2, 49, 32}, {1, 4, 2, 49, 32}}},
		{Eq: "B G H I J, B G H J D -> B G H I D", Shapes: [][]int{{1, 4, 2, 49, 49}, {1, 4, 2, 49, 32}}},
		{Eq: "...ij,...jk->...ik", Shapes: [][]int{{2, 1, 3, 4}, {5, 4, 6}}},
		{Eq: "ij,jk,kl", Shapes: [][]int{{2, 3}, {3, 4}, {4, 5}}},
		{Eq: "bii->bi", Shapes: [][]int{{2, 3, 3}}},
	}
	for i := range cases {
		for _, s := range cases[i].Shapes {
			cases[i].Data = append(cases[i].Data, ewArange(s, 0.01, -0.3))
		}
	}
	blob, _ := json.Marshal(cases)
	path := filepath.Join(t.TempDir(), "cases.json")
	if err := os.WriteFile(path, blob, 0o644); err != nil {
		t.Fatal(err)
	}
	out := fixture.RunPython(t, `
import json, sys
import numpy as np
import torch
res = []
for c in json.load(open(sys.argv[1])):
    xs = [torch.tensor(np.array(d, dtype=np.float32).reshape(s)) for d, s in zip(c["data"], c["shapes"])]
    y = torch.einsum(c["eq"], *xs)
    res.append({"shape": list(y.shape), "data": y.double().flatten().tolist()})
print(json.dumps(res))
`, path)
	var want []struct {
		Shape []int     `json:"shape"`
		Data  []float64 `json:"data"`
	}
	if err := json.Unmarshal([]byte(out), &want); err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		var names []string
		var in []*tensor.Tensor
		for k, s := range c.Shapes {
			names = append(names, string(rune('a'+k)))
			in = append(in, ewF32(s, c.Data[k]))
		}
		k := mustKernel(t, "Einsum", 12, map[string]graph.Attr{"equation": stringAttr(c.Eq)}, names)
		y := run1(t, k, nil, in...)[0]
		if !tensor.EqualShapes(y.Shape(), want[i].Shape) {
			t.Errorf("%s: got shape %v, want %v", c.Eq, y.Shape(), want[i].Shape)
			continue
		}
		if d := fixture.RelDiff(y.ToFloat64s(), want[i].Data); !(d <= 1e-6) {
			t.Errorf("%s: differs from torch.einsum by %.3g relative", c.Eq, d)
		}
	}
}

// TestEinsumBuild: Einsum exists from opset 12; a missing or malformed equation, or one whose
// operand count is not the node's, fails when the plan is built, naming the node.
func TestEinsumBuild(t *testing.T) {
	if _, ok := graph.Lookup("", "Einsum", 11); ok {
		t.Error("Einsum is registered below opset 12")
	}
	for _, c := range []struct {
		attrs  map[string]graph.Attr
		inputs []string
		want   string
	}{
		{nil, []string{"a"}, "equation attribute is required"},
		{map[string]graph.Attr{"equation": intAttr(1)}, []string{"a"}, `attribute "equation" has the wrong type`},
		{map[string]graph.Attr{"equation": stringAttr("ij,j?->i")}, []string{"a", "b"}, `'?' is not a subscript`},
		{map[string]graph.Attr{"equation": stringAttr("ij,jk->ik")}, []string{"a"}, "has 2 operands, the node 1 inputs"},
	} {
		_, err := buildKernel(t, "Einsum", 13, c.attrs, c.inputs)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), `"n"`) {
			t.Errorf("%v: got error %v, want one naming the node and containing %q", c.attrs, err, c.want)
		}
	}
	// Operands that do not fit the equation are a run-time error, not a panic.
	k := mustKernel(t, "Einsum", 12, map[string]graph.Attr{"equation": stringAttr("ij,jk->ik")}, []string{"a", "b"})
	if _, err := k.Run(nil, []*tensor.Tensor{tensor.New(tensor.Float32, 2, 3), tensor.New(tensor.Float32, 4, 5)}); err == nil ||
		!strings.Contains(err.Error(), "subscript 'j' has size 4") {
		t.Errorf("mismatched operands: got error %v", err)
	}
	if _, err := k.Run(nil, []*tensor.Tensor{tensor.New(tensor.Float32, 2, 3), tensor.New(tensor.Float64, 3, 5)}); err == nil ||
		!strings.Contains(err.Error(), "dtypes differ") {
		t.Errorf("mixed dtypes: got error %v", err)
	}
}
