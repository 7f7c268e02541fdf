package tensor_test

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/tensor"
)

// TestBroadcastShapesNumpy compares BroadcastShapes with numpy.broadcast_shapes, including the
// pairs numpy rejects.
func TestBroadcastShapesNumpy(t *testing.T) {
	cases := [][2][]int{
		{{2, 3, 4}, {4}}, {{2, 1, 4}, {3, 1}}, {{}, {5, 6}}, {{1}, {0}}, {{8, 1, 6, 1}, {7, 1, 5}},
		{{2, 3}, {3, 2}}, {{4}, {5}}, {{2, 0}, {1, 1}}, {{3, 1, 1}, {1, 1, 1, 1}},
	}
	in, _ := json.Marshal(cases)
	out := fixture.RunPython(t, `
import sys, json, numpy as np
res = []
for a, b in json.loads(sys.argv[1]):
    try:
        res.append(list(np.broadcast_shapes(tuple(a), tuple(b))))
    except ValueError:
        res.append(None)
print(json.dumps(res))
`, string(in))
	var want [][]int
	if err := json.Unmarshal([]byte(out), &want); err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		got, err := tensor.BroadcastShapes(c[0], c[1])
		switch {
		case want[i] == nil && err == nil:
			t.Errorf("%v, %v: got %v, numpy rejects them", c[0], c[1], got)
		case want[i] != nil && (err != nil || !tensor.EqualShapes(got, want[i])):
			t.Errorf("%v, %v: got %v (%v), want %v", c[0], c[1], got, err, want[i])
		}
	}
}

// TestHalfConversionsTorch compares the float16 and bfloat16 encoders with PyTorch's casts,
// which round to nearest even, on values that sit on and between rounding boundaries.
func TestHalfConversionsTorch(t *testing.T) {
	vals := []float32{0, -0.0, 1, -1.5, 3.14159, 65504, 65520, 1e-8, 6e-8, 1e30, -1e30,
		1.00390625, 1.01171875, 1.0078125, 257, 259, 0.1, math.MaxFloat32, 2.5e-40}
	in, _ := json.Marshal(vals)
	out := fixture.RunPython(t, `
import sys, json, torch
v = torch.tensor(json.loads(sys.argv[1]), dtype=torch.float32)
print(json.dumps([v.to(torch.float16).view(torch.int16).tolist(), v.to(torch.bfloat16).view(torch.int16).tolist()]))
`, string(in))
	var want [2][]int
	if err := json.Unmarshal([]byte(out), &want); err != nil {
		t.Fatal(err)
	}
	for i, v := range vals {
		if got := tensor.Float32ToFloat16(v); got != uint16(want[0][i]) {
			t.Errorf("float16(%g): got %#04x, want %#04x", v, got, uint16(want[0][i]))
		}
		if got := tensor.Float32ToBFloat16(v); got != uint16(want[1][i]) {
			t.Errorf("bfloat16(%g): got %#04x, want %#04x", v, got, uint16(want[1][i]))
		}
		if back := tensor.BFloat16ToFloat32(uint16(want[1][i])); !math.IsInf(float64(back), 0) && math.Abs(float64(back-v)) > math.Abs(float64(v))/128+1e-38 {
			t.Errorf("bfloat16 decode of %g gave %g", v, back)
		}
	}
}

// TestReshapeSharesAndChecks: Reshape keeps the elements, rejects a different count.
func TestReshapeSharesAndChecks(t *testing.T) {
	x := tensor.From([]int{2, 3}, []float32{1, 2, 3, 4, 5, 6})
	y, err := x.Reshape(3, 2)
	if err != nil {
		t.Fatal(err)
	}
	y.Float32s()[0] = 9
	if x.Float32s()[0] != 9 {
		t.Error("Reshape copied the elements")
	}
	if _, err := x.Reshape(4, 2); err == nil {
		t.Error("Reshape to 8 elements accepted 6")
	}
	if _, err := x.Reshape(-1, -6); err == nil {
		t.Error("Reshape accepted negative dimensions")
	}
}
