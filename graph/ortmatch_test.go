package graph_test

import (
	"math"
	"path/filepath"
	"sort"
	"testing"

	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/tensor"
)

// matchORT runs the model file in dir on the inputs given (input name to .npy file, both in
// dir), in the engine and in ONNX Runtime, and fails unless both give the outputs, count of
// them, with one shape each and every element within tol relative (|got - want| <= tol·(1 +
// |want|); 0 asks for equality, NaN matching NaN). It returns the engine's outputs.
func matchORT(t *testing.T, dir, model string, inputs map[string]string, count int, tol float64) map[string]*tensor.Tensor {
	t.Helper()
	feeds := map[string]*tensor.Tensor{}
	var args []string
	for name, file := range inputs {
		v, err := data.LoadNPY(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		feeds[name] = v
		args = append(args, name+"="+filepath.Join(dir, file))
	}
	path := filepath.Join(dir, model)
	got := shapeRunModel(t, path, feeds)
	ortDir := filepath.Join(dir, "ort_"+model)
	res := fixture.RunORT(t, path, ortDir, args...)
	if len(res.Outputs) != len(got) || len(got) != count {
		t.Fatalf("%s: ONNX Runtime gave %d outputs, the engine %d, want %d", model, len(res.Outputs), len(got), count)
	}
	names := make([]string, 0, len(got))
	for name := range got {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		y := got[name]
		want, err := data.LoadNPY(filepath.Join(ortDir, name+".npy"))
		if err != nil {
			t.Fatal(err)
		}
		if !tensor.EqualShapes(y.Shape(), want.Shape()) {
			t.Errorf("%s: %s: got shape %v, ONNX Runtime's %v", model, name, y.Shape(), want.Shape())
			continue
		}
		for i := range y.Len() {
			g, w := y.Float64At(i), want.Float64At(i)
			if g == w || math.IsNaN(g) && math.IsNaN(w) || tol > 0 && math.Abs(g-w) <= tol*(1+math.Abs(w)) {
				continue
			}
			t.Errorf("%s: %s: element %d: got %v, ONNX Runtime %v", model, name, i, g, w)
			break
		}
	}
	return got
}
