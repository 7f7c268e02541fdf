package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/onnxtune/onnxtune/backprop"
	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/onnx"
	"github.com/onnxtune/onnxtune/tensor"
	"github.com/onnxtune/onnxtune/train"
)

// exposePy writes a copy of a model with one more graph output: an intermediate value, which
// ONNX Runtime then reports.
const exposePy = `
import sys, onnx
m = onnx.load(sys.argv[1])
m.graph.output.append(onnx.helper.make_tensor_value_info(sys.argv[3], onnx.TensorProto.FLOAT, None))
onnx.save(m, sys.argv[2])
`

// normalizeRows divides each row of d values of f by its L2 norm, at least 1e-12, as
// torch.nn.functional.normalize does: independently of the engine, in float64.
func normalizeRows(f []float64, d int) {
	for i := 0; i+d <= len(f); i += d {
		var s float64
		for _, v := range f[i : i+d] {
			s += v * v
		}
		for k := range d {
			f[i+k] /= math.Max(math.Sqrt(s), 1e-12)
		}
	}
}

// TestEmbeddingCut: --embedding auto --normalize cuts the demo CNN at the input of its
// classifier: the cut model's "embedding" equals ONNX Runtime's value of that input in the
// original model, L2-normalised (numpy-style, here in Go); train exports it so, and ONNX
// Runtime runs the export as the engine does, one unit-norm row per example.
func TestEmbeddingCut(t *testing.T) {
	root := fixture.Root(t)
	dir := t.TempDir()
	model := filepath.Join(root, "testdata", "demo", "fmnist_cnn.onnx")
	m, err := onnx.Load(model)
	if err != nil {
		t.Fatal(err)
	}
	g, _, err := train.ImportForData(m)
	if err != nil {
		t.Fatal(err)
	}
	at, err := train.CutAtEmbedding(g, "auto", true)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Outputs) != 1 || g.Outputs[0].Name != "embedding" {
		t.Fatalf("outputs %v", g.Outputs)
	}
	plan, err := graph.NewPlan(g)
	if err != nil {
		t.Fatal(err)
	}
	x, _ := grayBatch(t, filepath.Join(root, "testdata", "demo", "images_val"), 7)
	n := x.Shape()[0]
	got, err := plan.Run(nil, map[string]*tensor.Tensor{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	exposed := filepath.Join(dir, "exposed.onnx")
	fixture.RunPython(t, exposePy, model, exposed, at)
	xPath, ortDir := filepath.Join(dir, "x.npy"), filepath.Join(dir, "ort")
	if err := data.SaveNPY(xPath, x); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(ortDir, 0o755); err != nil {
		t.Fatal(err)
	}
	res := fixture.RunORT(t, exposed, ortDir, xPath)
	file := at + ".npy"
	if f := res.Outputs[at].File; f != "" {
		file = f // run.js names a file after an output made safe ("/" becomes "_")
	}
	feat, err := data.LoadNPY(filepath.Join(ortDir, file))
	if err != nil {
		t.Fatal(err)
	}
	f := feat.ToFloat64s()
	d := len(f) / n
	normalizeRows(f, d)
	if rel := fixture.RelDiff(got["embedding"].ToFloat64s(), f); rel > 1e-5 {
		t.Errorf("the cut model's embedding is %.3g from ONNX Runtime's %q normalised", rel, at)
	}

	out := filepath.Join(dir, "emb.onnx")
	if _, stderr, status := onnxtune("train", model, "--data", filepath.Join(root, "testdata", "demo", "images"), "--embedding", "auto", "--normalize",
		"--loss", "triplet(margin=0.2,mining=batch-hard)", "--sampler", "m-per-class", "--m-per-class", "4", "--batch-size", "12", "--epochs", "1", "--out", out); status != 0 {
		t.Fatalf("train --embedding: status %d: %s", status, stderr)
	}
	agreesWithORT(t, out, x, "embedding")
	exportedModel, err := onnx.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	exported, err := onnx.Import(exportedModel)
	if err != nil {
		t.Fatal(err)
	}
	backbone := []string{"conv1.weight", "conv1.bias", "bn1.weight", "bn1.bias", "conv2.weight", "conv2.bias", "bn2.weight", "bn2.bias"}
	if got := backprop.Trainable(exported); !slices.Equal(got, backbone) {
		t.Errorf("the exported embedding model's parameters are %v, want the backbone's %v", got, backbone)
	}
	if got := exported.Outputs[0].ShapeString(); got != "[batch 1568]" {
		t.Errorf("the exported embedding is declared %s, want [batch 1568]: the model's batch and the classifier's fan-in", got)
	}
	tuned, err := loadPlan(out)
	if err != nil {
		t.Fatal(err)
	}
	e, err := tuned.Run(nil, map[string]*tensor.Tensor{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	v := e["embedding"].ToFloat64s()
	for i := range n {
		var s float64
		for _, w := range v[i*d : (i+1)*d] {
			s += w * w
		}
		if math.Abs(math.Sqrt(s)-1) > 1e-5 {
			t.Errorf("row %d of the exported embedding has norm %.6f", i, math.Sqrt(s))
		}
	}
}

// TestTrainEmbeddingMatchesTorch: fine-tuning the tiny CNN as an embedding model (--embedding
// auto) with the in-batch losses, batches in file order, reaches PyTorch's weights within
// 1e-4 after two epochs (train/testdata/gen_metric_train.py).
func TestTrainEmbeddingMatchesTorch(t *testing.T) {
	root := fixture.Root(t)
	b, err := os.ReadFile(filepath.Join(root, "train", "testdata", "metric_train.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		BatchSize    int `json:"batch_size"`
		Epochs       int
		LR, Momentum float64
		Cases        []struct{ Name, Loss string }
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	npz := filepath.Join(root, "train", "testdata", "metric_train.npz")
	refs, _, err := data.LoadNPZ(npz)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range f.Cases {
		out := filepath.Join(t.TempDir(), "tuned.onnx")
		args := []string{"train", fixture.Small(t, "tiny_cnn_bn.onnx"), "--data", npz, "--embedding", "auto", "--loss", c.Loss,
			"--optimizer", "sgd", "--momentum", fmt.Sprint(f.Momentum), "--lr", fmt.Sprint(f.LR), "--epochs", fmt.Sprint(f.Epochs),
			"--batch-size", fmt.Sprint(f.BatchSize), "--shuffle=false", "--out", out}
		if _, stderr, status := onnxtune(args...); status != 0 {
			t.Fatalf("%s: status %d: %s", c.Name, status, stderr)
		}
		if n := checkTorchWeights(t, out, refs, c.Name); n == 0 {
			t.Errorf("%s: no reference weights", c.Name)
		}
	}
}

// TestEmbeddingScript runs scripts/embedding.sh, the README's Fashion-MNIST search: the demo
// CNN's output fine-tuned with batch-hard triplets on 5,000 training images must reach
// precision@1 0.85 on 2,000 test images, up from the pretrained 0.846, and the script's own
// check (eval against scikit-learn on ONNX Runtime's embeddings, within 1e-6) must pass.
func TestEmbeddingScript(t *testing.T) {
	if testing.Short() {
		t.Skip("trains for about a minute: runs in the full (non -short) pass")
	}
	fixture.RequirePython(t)
	root := fixture.Root(t)
	out := t.TempDir()
	cmd := exec.Command(filepath.Join(root, "scripts", "embedding.sh"))
	cmd.Env = append(os.Environ(), "OUT="+out)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("embedding.sh: %v\n%s", err, b)
	}
	var got struct {
		PrecisionAt1 float64 `json:"precision_at_1"`
	}
	raw, err := os.ReadFile(filepath.Join(out, "eval.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if got.PrecisionAt1 < 0.85 {
		t.Errorf("precision@1 of the fine-tuned embedding is %.4f, want at least 0.85\n%s", got.PrecisionAt1, b)
	}
	t.Logf("precision@1 %.4f", got.PrecisionAt1)
}
