package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/onnx"
	"github.com/onnxtune/onnxtune/tensor"
)

// TestTrainFixedBatch: models exported without dynamic_axes fix their batch size at 4.
// fixed_batch computes the same for any batch: it trains with batches of 8 and the tuned
// model declares the input it was given, [4 1 28 28], and passes the check after export. The
// ViewNets bake the 4 into a Reshape: with batches of 8 train stops before training, naming
// the Reshape and dynamic_axes; with --batch-size 4 on 8 examples they train.
func TestTrainFixedBatch(t *testing.T) {
	dir := t.TempDir()
	npz := randomFashionData(t, dir, 8)
	out := filepath.Join(dir, "tuned.onnx")
	if _, stderr, status := onnxtune("train", fixture.Small(t, "fixed_batch.onnx"), "--data", npz, "--epochs", "1", "--batch-size", "8", "--out", out); status != 0 {
		t.Fatalf("fixed_batch: status %d: %s", status, stderr)
	}
	m, err := onnx.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	var dims []int64
	for _, d := range m.Proto.GetGraph().GetInput()[0].GetType().GetTensorType().GetShape().GetDim() {
		dims = append(dims, d.GetDimValue())
	}
	if len(dims) != 4 || dims[0] != 4 {
		t.Errorf("the tuned model's input is %v, want the declared [4 1 28 28]", dims)
	}
	if o := m.Proto.GetGraph().GetOutput()[0].GetType().GetTensorType().GetShape().GetDim(); len(o) != 2 || o[0].GetDimValue() != 4 {
		t.Errorf("the tuned model's output is %v, want [4 10]", o)
	}
	// ONNX Runtime runs the tuned model at its declared batch, as the engine does.
	arrays, _, err := data.LoadNPZ(npz)
	if err != nil {
		t.Fatal(err)
	}
	x4, err := tensor.SliceTensor(nil, arrays["x"], []int{0, 0, 0, 0}, []int{4, 1, 28, 28}, []int{1, 1, 1, 1})
	if err != nil {
		t.Fatal(err)
	}
	agreesWithORT(t, out, x4, "logits")

	for _, name := range []string{"fixed_batch_view.onnx", "fixed_batch_view_folded.onnx"} {
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(dir, "view-"+name)
			_, stderr, status := onnxtune("train", fixture.Small(t, name), "--data", npz, "--epochs", "1", "--batch-size", "8", "--out", out)
			if status != 1 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, `"/Reshape"`) ||
				!strings.Contains(stderr, "fixes its batch size at 4") || !strings.Contains(stderr, `dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}}`) {
				t.Errorf("batches of 8: status %d, stderr %q; want 1 and one line naming the Reshape, the size and dynamic_axes", status, stderr)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("%s exists (%v)", out, err)
			}
			if _, stderr, status := onnxtune("train", fixture.Small(t, name), "--data", npz, "--epochs", "1", "--batch-size", "4", "--out", out); status != 0 {
				t.Errorf("batches of 4: status %d: %s", status, stderr)
			}
		})
	}
}
