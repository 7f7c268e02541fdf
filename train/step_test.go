package train_test

import (
	"bytes"
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/loss"
	"github.com/onnxtune/onnxtune/onnx"
	"github.com/onnxtune/onnxtune/tensor"
	"github.com/onnxtune/onnxtune/train"
)

// TestStepMatchesRun: one Take on a batch moves the weights and the running statistics bit for
// bit as Run's one-epoch, one-batch run on the same examples does (Adam at its default rate,
// BatchNorm in train mode), so that what `onnxtune bench --train` times is a training step.
func TestStepMatchesRun(t *testing.T) {
	model := filepath.Join(fixture.Root(t), "testdata", "models", "tiny_cnn_bn.onnx")
	arrays, _, err := data.LoadNPZ(filepath.Join("testdata", "train28.npz"))
	if err != nil {
		t.Fatal(err)
	}
	const n = 4
	x := tensor.From(append([]int{n}, arrays["x"].Shape()[1:]...), arrays["x"].Float32s()[:n*28*28])
	y := tensor.From([]int{n}, arrays["y"].ToInt64s()[:n])
	batch := filepath.Join(t.TempDir(), "batch.npz")
	if err := data.SaveNPZ(batch, []string{"x", "y"}, map[string]*tensor.Tensor{"x": x, "y": y}); err != nil {
		t.Fatal(err)
	}
	res, err := train.Run(context.Background(), train.Config{
		Model: model, Data: batch, Loss: "cross-entropy", Epochs: 1, BatchSize: n,
		BN: train.BNTrain, Optimizer: train.OptimizerConfig{Name: "adam"}, Workers: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	want, err := onnx.Import(res.Model)
	if err != nil {
		t.Fatal(err)
	}

	g := importModel(t, model)
	s := newStep(t, g, train.BNTrain)
	ds, err := data.Open(batch, data.Options{InputName: g.Inputs[0].Name})
	if err != nil {
		t.Fatal(err)
	}
	labels, err := train.DataLabels(ds, "")
	if err != nil {
		t.Fatal(err)
	}
	before := rawBytes(g.Initializers["conv1.weight"])
	v, err := s.Take(map[string]*tensor.Tensor{g.Inputs[0].Name: x}, map[string]*tensor.Tensor{s.Outputs()[0]: y}, labels, train.DefaultLR("adam"))
	if err != nil {
		t.Fatal(err)
	}
	if !(v.Value > 0) {
		t.Errorf("loss %v, want a positive cross-entropy", v.Value)
	}
	if bytes.Equal(rawBytes(g.Initializers["conv1.weight"]), before) {
		t.Fatal("conv1.weight did not move: the comparison would test nothing")
	}
	for _, name := range want.InitializerNames {
		if !bytes.Equal(rawBytes(g.Initializers[name]), rawBytes(want.Initializers[name])) {
			t.Errorf("%s after Take differs from Run's after one batch", name)
		}
	}
}

// TestStepDiverged: a loss that is not finite fails the step, names the value, and moves no
// weight.
func TestStepDiverged(t *testing.T) {
	g := importModel(t, filepath.Join(fixture.Root(t), "testdata", "models", "tiny_cnn.onnx"))
	s := newStep(t, g, "")
	x := tensor.New(tensor.Float32, 2, 1, 28, 28)
	x.Float32s()[0] = float32(math.NaN())
	before := map[string][]byte{}
	for name, w := range g.Initializers {
		before[name] = rawBytes(w)
	}
	_, err := s.Take(map[string]*tensor.Tensor{"x": x}, map[string]*tensor.Tensor{s.Outputs()[0]: tensor.From([]int{2}, []int64{1, 2})},
		loss.Labels{Classes: 10}, 0.1)
	if err == nil || !strings.Contains(err.Error(), "the loss is NaN") || !strings.Contains(err.Error(), "diverged") {
		t.Fatalf("got error %v, want one saying the loss is NaN and training diverged", err)
	}
	for name, w := range g.Initializers {
		if !bytes.Equal(rawBytes(w), before[name]) {
			t.Errorf("%s moved in a step that failed", name)
		}
	}
}

func importModel(t testing.TB, path string) *graph.Graph {
	t.Helper()
	m, err := onnx.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	g, err := onnx.Import(m)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// newStep prepares Adam steps of g under cross-entropy on its first output.
func newStep(t *testing.T, g *graph.Graph, bn train.BNMode) *train.Step {
	t.Helper()
	expr, err := loss.ParseExpr("cross-entropy", loss.Params{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := train.NewStep(g, train.StepConfig{Objective: train.Objective{Expr: expr}, BN: bn})
	if err != nil {
		t.Fatal(err)
	}
	return s
}
