package train_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/onnx"
	"github.com/onnxtune/onnxtune/tensor"
	"github.com/onnxtune/onnxtune/train"
)

// TestImportRelaxesFixedBatch: fixed_batch.onnx, exported at batch 4 without dynamic_axes,
// imports for data with a symbolic batch, and on 3 examples gives the first 3 rows PyTorch
// gave for 4; the ViewNets, which bake the 4 in, keep it, and CheckBatch names their Reshape.
func TestImportRelaxesFixedBatch(t *testing.T) {
	load := func(name string) *graph.Graph {
		m, err := onnx.Load(fixture.Small(t, name))
		if err != nil {
			t.Fatal(err)
		}
		g, _, err := train.ImportForData(m)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	g := load("fixed_batch.onnx")
	if d := g.Inputs[0].Shape[0]; d.Size >= 0 || d.Param == "" {
		t.Fatalf("the batch dimension is %v, want a symbolic one", d)
	}
	io, _, err := data.LoadNPZ(filepath.Join(fixture.Models(t), "fixed_batch.io.npz"))
	if err != nil {
		t.Fatal(err)
	}
	x3, err := tensor.SliceTensor(nil, io["x"], []int{0, 0, 0, 0}, []int{3, 1, 28, 28}, []int{1, 1, 1, 1})
	if err != nil {
		t.Fatal(err)
	}
	want, err := tensor.SliceTensor(nil, io["logits"], []int{0, 0}, []int{3, 10}, []int{1, 1})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := graph.NewPlan(g)
	if err != nil {
		t.Fatal(err)
	}
	got, err := plan.Run(nil, map[string]*tensor.Tensor{"x": x3})
	if err != nil {
		t.Fatal(err)
	}
	if d := fixture.RelDiffTensors(got["logits"], want); d > 1e-5 {
		t.Errorf("3 examples: %.3g relative to PyTorch's first 3 rows", d)
	}
	if err := train.CheckBatch(g, "fixed_batch", 7, 10); err != nil {
		t.Errorf("CheckBatch of a relaxed model: %v", err)
	}

	for _, name := range []string{"fixed_batch_view.onnx", "fixed_batch_view_folded.onnx"} {
		g := load(name)
		if d := g.Inputs[0].Shape[0]; d.Size != 4 {
			t.Errorf("%s: the batch dimension is %v, want the baked-in 4 kept", name, d)
		}
		if err := train.CheckBatch(g, name, 4, 8, 12); err != nil {
			t.Errorf("%s: batches of 4 over 8 and 12 examples: %v", name, err)
		}
		for _, c := range []struct{ batch, n int }{{8, 16}, {4, 10}} {
			err := train.CheckBatch(g, name, c.batch, c.n)
			if err == nil || !strings.Contains(err.Error(), `node "/Reshape" (Reshape) reshapes to the constant shape [4 -1]`) {
				t.Errorf("%s: batches of %d over %d examples: %v; want the Reshape named", name, c.batch, c.n, err)
			}
		}
	}
}
