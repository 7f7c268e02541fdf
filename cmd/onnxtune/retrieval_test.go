package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/tensor"
)

// retrievalPy is scripts/retrieval_sklearn.py: eval --retrieval's metrics from scikit-learn's
// NearestNeighbors, given the embeddings and labels as .npy files.
func retrievalPy(t *testing.T) string {
	t.Helper()
	code, err := os.ReadFile(filepath.Join(fixture.Root(t), "scripts", "retrieval_sklearn.py"))
	if err != nil {
		t.Fatal(err)
	}
	return string(code)
}

// TestEvalRetrievalMatchesSklearn: eval --retrieval's precision@1, recall@5, MAP@R and 5-NN
// accuracy equal scikit-learn's NearestNeighbors on ONNX Runtime's embeddings of the same
// images, leave-one-out and against a gallery.
func TestEvalRetrievalMatchesSklearn(t *testing.T) {
	root := fixture.Root(t)
	model := filepath.Join(root, "testdata", "demo", "fmnist_cnn.onnx")
	dir := t.TempDir()
	embed := func(name, folder string) (string, string) {
		x, y := grayBatch(t, folder, 1)
		xPath, ortDir := filepath.Join(dir, name+"_x.npy"), filepath.Join(dir, name)
		if err := data.SaveNPY(xPath, x); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(ortDir, 0o755); err != nil {
			t.Fatal(err)
		}
		fixture.RunORT(t, model, ortDir, xPath)
		yPath := filepath.Join(dir, name+"_y.npy")
		if err := data.SaveNPY(yPath, tensor.From([]int{len(y)}, y)); err != nil {
			t.Fatal(err)
		}
		return filepath.Join(ortDir, "logits.npy"), yPath
	}
	val := filepath.Join(root, "testdata", "demo", "images_val")
	train := filepath.Join(root, "testdata", "demo", "images")
	qe, ql := embed("val", val)
	ge, gl := embed("train", train)
	for _, c := range []struct {
		name string
		args []string
		py   []string
	}{
		{"leave-one-out", []string{"--data", val}, []string{qe, ql}},
		{"gallery", []string{"--data", val, "--gallery", train}, []string{qe, ql, ge, gl}},
	} {
		out, stderr, status := onnxtune(append([]string{"eval", model, "--retrieval", "--json"}, c.args...)...)
		if status != 0 {
			t.Fatalf("%s: status %d: %s", c.name, status, stderr)
		}
		var got, want map[string]any
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%s: %q: %v", c.name, out, err)
		}
		if err := json.Unmarshal([]byte(fixture.RunPython(t, retrievalPy(t), c.py...)), &want); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"precision_at_1", "recall_at_5", "map_at_r", "knn_accuracy", "queries"} {
			g, w := got[k].(float64), want[k].(float64)
			if math.Abs(g-w) > 1e-6 {
				t.Errorf("%s: %s = %v, scikit-learn on ONNX Runtime's embeddings %v", c.name, k, got[k], want[k])
			}
		}
		t.Logf("%s: %v", c.name, got)
	}
}

// TestEvalRetrievalEmbedding: eval --retrieval --embedding auto --normalize searches with the
// classifier's input, normalised: the metrics equal scikit-learn's on ONNX Runtime's value of
// that input in the unchanged model, normalised.
func TestEvalRetrievalEmbedding(t *testing.T) {
	root := fixture.Root(t)
	model := filepath.Join(root, "testdata", "demo", "fmnist_cnn.onnx")
	val := filepath.Join(root, "testdata", "demo", "images_val")
	dir := t.TempDir()
	exposed := filepath.Join(dir, "exposed.onnx")
	fixture.RunPython(t, exposePy, model, exposed, "/Flatten_output_0")
	x, y := grayBatch(t, val, 1)
	xPath, yPath := filepath.Join(dir, "x.npy"), filepath.Join(dir, "y.npy")
	if err := data.SaveNPY(xPath, x); err != nil {
		t.Fatal(err)
	}
	if err := data.SaveNPY(yPath, tensor.From([]int{len(y)}, y)); err != nil {
		t.Fatal(err)
	}
	res := fixture.RunORT(t, exposed, dir, xPath)
	feat, err := data.LoadNPY(filepath.Join(dir, res.Outputs["/Flatten_output_0"].File))
	if err != nil {
		t.Fatal(err)
	}
	f := feat.ToFloat64s()
	d := len(f) / len(y)
	normalizeRows(f, d)
	normed := filepath.Join(dir, "normed.npy")
	if err := data.SaveNPY(normed, tensor.FromFloat64s(tensor.Float32, feat.Shape(), f)); err != nil {
		t.Fatal(err)
	}
	out, stderr, status := onnxtune("eval", model, "--data", val, "--retrieval", "--embedding", "auto", "--normalize", "--json")
	if status != 0 {
		t.Fatalf("status %d: %s", status, stderr)
	}
	var got, want map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(fixture.RunPython(t, retrievalPy(t), normed, yPath)), &want); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"precision_at_1", "recall_at_5", "map_at_r", "knn_accuracy"} {
		if g, w := got[k].(float64), want[k].(float64); math.Abs(g-w) > 1e-6 {
			t.Errorf("%s = %v, scikit-learn on ONNX Runtime's normalised features %v", k, g, w)
		}
	}
}
