package main

import (
	"encoding/json"
	"math"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/tensor"
)

// evalPy is the reference for `onnxtune eval`: it builds a small seeded CNN in PyTorch,
// exports it to DIR/model.onnx, writes a data set DIR/data.npz (x, y), and prints what a
// PyTorch evaluation loop computes on it: the loss of the whole set (the loss function on
// the concatenated outputs of DataLoader(batch_size=B, shuffle=False) batches, which weighted
// cross-entropy divides by the whole set's weight sum), and, on the concatenated logits, accuracy, per-class precision/recall/F1/support, their macro average over the
// classes that occur (sklearn's), and the confusion matrix by numpy formulas, checked
// against sklearn.metrics where it is installed. Cases:
//
//	multiclass  4 classes, int64 targets, nn.CrossEntropyLoss()
//	weighted    the same with nn.CrossEntropyLoss(weight=[1, 2, 0.5, 1], label_smoothing=0.1)
//	binary      one logit, float 0/1 targets [N, 1], nn.BCEWithLogitsLoss(), logit > 0 positive
const evalPy = `
import sys, os, json, warnings
import numpy as np, torch, torch.nn as nn
out_dir, case, B = sys.argv[1], sys.argv[2], int(sys.argv[3])
torch.manual_seed(11)
torch.set_num_threads(1)
C = 1 if case == "binary" else 4
model = nn.Sequential(nn.Conv2d(1, 6, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, C))
with torch.no_grad():
    for p in model.parameters():
        p.mul_(3)
model.eval()
N = 70
x = torch.randn(N, 1, 12, 12) + 2 * torch.randn(N, 1, 1, 1)  # offsets spread the predictions
if case == "binary":
    y = torch.randint(0, 2, (N, 1)).float()
    lossfn = nn.BCEWithLogitsLoss()
else:
    y = torch.randint(0, C, (N,))
    lossfn = nn.CrossEntropyLoss()
    if case == "weighted":
        lossfn = nn.CrossEntropyLoss(weight=torch.tensor([1, 2, 0.5, 1]), label_smoothing=0.1)
torch.onnx.export(model, (x[:2],), os.path.join(out_dir, "model.onnx"), input_names=["x"],
                  output_names=["logits"], dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}},
                  opset_version=13)
np.savez(os.path.join(out_dir, "data.npz"), x=x.numpy(), y=y.numpy())
zs = []
with torch.no_grad():
    for xb, yb in torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=B, shuffle=False):
        zs.append(model(xb))
    total = lossfn(torch.cat(zs), y).item()
z = torch.cat(zs).numpy().astype(np.float64)
if case == "binary":
    p, t, K = (z[:, 0] > 0).astype(int), y[:, 0].numpy().astype(int), 2
    assert np.abs(z).min() > 1e-4, "a logit too close to the threshold"
else:
    p, t, K = z.argmax(1), y.numpy(), C
    top2 = np.sort(z, 1)[:, -2:]
    assert (top2[:, 1] - top2[:, 0]).min() > 1e-4, "an arg-max too close to a tie"
assert len(set(p.tolist())) >= 2, "the model predicts one class only"
cm = np.zeros((K, K), np.int64)
np.add.at(cm, (t, p), 1)
tp = np.diag(cm); fp = cm.sum(0) - tp; fn = cm.sum(1) - tp
div = lambda a, b: np.where(b > 0, a / np.maximum(b, 1), 0.0)
prec, rec, f1 = div(tp, tp + fp), div(tp, tp + fn), div(2 * tp, 2 * tp + fp + fn)
present = (tp + fp + fn) > 0
macro = [float(prec[present].mean()), float(rec[present].mean()), float(f1[present].mean())]
try:
    import sklearn.metrics as M
    warnings.simplefilter("ignore")
    P, R, F, S = M.precision_recall_fscore_support(t, p, labels=list(range(K)), average=None)
    assert np.allclose(P, prec, rtol=1e-12) and np.allclose(R, rec, rtol=1e-12) and np.allclose(F, f1, rtol=1e-12)
    assert np.allclose(M.precision_recall_fscore_support(t, p, average="macro")[:3], macro, rtol=1e-12)
    assert (M.confusion_matrix(t, p, labels=list(range(K))) == cm).all()
except ImportError:
    pass
print(json.dumps({"loss": total, "accuracy": float(tp.sum() / N), "precision": prec.tolist(),
                  "recall": rec.tolist(), "f1": f1.tolist(), "support": (tp + fn).tolist(),
                  "macro": macro, "confusion": cm.tolist()}))
`

type evalJSON struct {
	Model    string   `json:"model"`
	Data     string   `json:"data"`
	LossSpec string   `json:"loss_spec"`
	Examples int64    `json:"examples"`
	Correct  int64    `json:"correct"`
	Loss     *float64 `json:"loss"`
	Kind     string   `json:"kind"`
	Accuracy float64  `json:"accuracy"`
	Classes  []struct {
		Name      string  `json:"name"`
		Precision float64 `json:"precision"`
		Recall    float64 `json:"recall"`
		F1        float64 `json:"f1"`
		Support   int64   `json:"support"`
	} `json:"classes"`
	Macro struct {
		Precision, Recall, F1 float64
	} `json:"macro"`
	Confusion [][]int64 `json:"confusion"`
}

func TestEvalMatchesPyTorch(t *testing.T) {
	for _, c := range []struct {
		name, loss, weights, kind string
		batch                     int
	}{
		{"multiclass", "", "", "multiclass", 16}, // the default loss, cross-entropy
		{"weighted", "cross-entropy(label_smoothing=0.1)", "1,2,0.5,1", "multiclass", 32},
		{"binary", "bce-logits", "", "binary", 64},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			var ref struct {
				Loss, Accuracy        float64
				Precision, Recall, F1 []float64
				Support               []int64
				Macro                 []float64
				Confusion             [][]int64
			}
			if err := json.Unmarshal([]byte(fixture.RunPython(t, evalPy, dir, c.name, strconv.Itoa(c.batch))), &ref); err != nil {
				t.Fatal(err)
			}
			args := []string{"eval", filepath.Join(dir, "model.onnx"), "--data", filepath.Join(dir, "data.npz"), "--json", "--batch-size", strconv.Itoa(c.batch)}
			if c.loss != "" {
				args = append(args, "--loss", c.loss)
			}
			if c.weights != "" {
				args = append(args, "--class-weights", c.weights)
			}
			out, errOut, status := onnxtune(args...)
			if status != 0 {
				t.Fatalf("status %d: %s", status, errOut)
			}
			var got evalJSON
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("eval --json printed %q: %v", out, err)
			}
			if got.Loss == nil || math.Abs(*got.Loss-ref.Loss) > 1e-5*math.Abs(ref.Loss) {
				t.Errorf("loss: got %v, want %.9g (PyTorch)", got.Loss, ref.Loss)
			}
			if got.Kind != c.kind || got.Examples != 70 {
				t.Errorf("kind, examples: got %s, %d; want %s, 70", got.Kind, got.Examples, c.kind)
			}
			near := func(what string, g, w float64) {
				if math.Abs(g-w) > 1e-12 {
					t.Errorf("%s: got %.17g, want %.17g", what, g, w)
				}
			}
			near("accuracy", got.Accuracy, ref.Accuracy)
			if len(got.Classes) != len(ref.Precision) {
				t.Fatalf("classes: got %d, want %d", len(got.Classes), len(ref.Precision))
			}
			for i, cl := range got.Classes {
				near("precision "+cl.Name, cl.Precision, ref.Precision[i])
				near("recall "+cl.Name, cl.Recall, ref.Recall[i])
				near("f1 "+cl.Name, cl.F1, ref.F1[i])
				if cl.Support != ref.Support[i] || cl.Name != strconv.Itoa(i) {
					t.Errorf("class %d: got %s support %d, want %d", i, cl.Name, cl.Support, ref.Support[i])
				}
			}
			near("macro precision", got.Macro.Precision, ref.Macro[0])
			near("macro recall", got.Macro.Recall, ref.Macro[1])
			near("macro f1", got.Macro.F1, ref.Macro[2])
			if !slices.EqualFunc(got.Confusion, ref.Confusion, slices.Equal) {
				t.Errorf("confusion: got %v, want %v", got.Confusion, ref.Confusion)
			}

			// The text form carries the same numbers.
			text, errOut, status := onnxtune(slices.DeleteFunc(args, func(a string) bool { return a == "--json" })...)
			if status != 0 {
				t.Fatalf("text: status %d: %s", status, errOut)
			}
			if acc := regexp.MustCompile(`accuracy +([0-9.]+)`).FindStringSubmatch(text); acc == nil || acc[1] != strconv.FormatFloat(ref.Accuracy, 'f', 4, 64) {
				t.Errorf("text report: accuracy %v, want %.4f:\n%s", acc, ref.Accuracy, text)
			}
			for _, want := range []string{
				"macro avg",
				"confusion matrix (rows: true class, columns: predicted)",
			} {
				if !strings.Contains(text, want) {
					t.Errorf("text report lacks %q:\n%s", want, text)
				}
			}
		})
	}
}

func TestEvalErrors(t *testing.T) {
	model := fixture.Small(t, "tiny_cnn.onnx")
	for _, c := range []struct {
		args   []string
		status int
		want   string
	}{
		{[]string{"eval", model}, 2, "onnxtune eval: missing --data"},
		{[]string{"eval", model, "--data", "x.npz", "--batch-size", "0"}, 2, "onnxtune eval: --batch-size 0: want at least 1"},
		{[]string{"eval", model, "--data", "x.npz", "--mean", "0.5,a", "--std", "1"}, 2, `onnxtune eval: --mean 0.5,a: "a" is not a number`},
		{[]string{"eval", model, "--data", "x.npz", "--mean", "0.5"}, 2, "onnxtune eval: --mean and --std go together"},
		{[]string{"eval", model, "--data", "x.npz", "--loss", "nosuch"}, 2, `onnxtune eval: --loss: loss: term "nosuch"`},
		{[]string{"eval", model, "--data", filepath.Join(t.TempDir(), "none.npz")}, 1, "onnxtune eval: data: "},
	} {
		_, errOut, status := onnxtune(c.args...)
		if status != c.status || !strings.HasPrefix(errOut, c.want) {
			t.Errorf("%v: got status %d, %q; want %d, %q", c.args[2:], status, errOut, c.status, c.want)
		}
	}
}

// imageFolderPy writes what torchvision makes of an image folder for a 3x32x32 model:
// ImageFolder with Resize(32), CenterCrop(32), ToTensor() and ImageNet's Normalize, stacked
// into DIR/x.npy and DIR/y.npy; it prints the class names. GIFs count, as the issue asks
// (torchvision's own extension list leaves them out).
const imageFolderPy = `
import sys, os, json, numpy as np, torch
from torchvision import datasets, transforms as T
root, out = sys.argv[1], sys.argv[2]
tf = T.Compose([T.Resize(32), T.CenterCrop(32), T.ToTensor(),
                T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
exts = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff")
ds = datasets.ImageFolder(root, tf, is_valid_file=lambda p: p.lower().endswith(exts))
np.save(os.path.join(out, "x.npy"), torch.stack([x for x, _ in ds]).numpy())
np.save(os.path.join(out, "y.npy"), np.array([y for _, y in ds], np.int64))
print(json.dumps(ds.classes))
`

// logitsPy scores ONNX Runtime's logits DIR/logits.npy against DIR/y.npy: PyTorch's
// cross-entropy over the whole set, the predictions, and the smallest gap between the two
// top logits (predictions that close could flip between decoders).
const logitsPy = `
import sys, os, json, numpy as np, torch
d = sys.argv[1]
z, y = np.load(os.path.join(d, "logits.npy")), np.load(os.path.join(d, "y.npy"))
loss = torch.nn.CrossEntropyLoss()(torch.from_numpy(z), torch.from_numpy(y)).item()
top2 = np.sort(z, 1)[:, -2:]
print(json.dumps({"loss": loss, "pred": z.argmax(1).tolist(), "y": y.tolist(),
                  "gap": float((top2[:, 1] - top2[:, 0]).min())}))
`

// TestEvalImageFolder evaluates a model on an image folder: images are read, resized and
// normalised for the model's input size as torchvision's ImageFolder pipeline does, classes
// named by their folders. The reference is torchvision's tensors run by ONNX Runtime.
func TestEvalImageFolder(t *testing.T) {
	model := fixture.Small(t, "resblock.onnx")
	folder := filepath.Join(fixture.Root(t), "data", "testdata", "images", "folder")
	dir := t.TempDir()
	var classes []string
	if err := json.Unmarshal([]byte(fixture.RunPython(t, imageFolderPy, folder, dir)), &classes); err != nil {
		t.Fatal(err)
	}
	fixture.RunORT(t, model, dir, "x="+filepath.Join(dir, "x.npy"))
	var ref struct {
		Loss float64
		Pred []int
		Y    []int
		Gap  float64
	}
	if err := json.Unmarshal([]byte(fixture.RunPython(t, logitsPy, dir)), &ref); err != nil {
		t.Fatal(err)
	}
	out, errOut, status := onnxtune("eval", model, "--data", folder, "--json", "--batch-size", "5")
	if status != 0 {
		t.Fatalf("status %d: %s", status, errOut)
	}
	var got evalJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("eval --json printed %q: %v", out, err)
	}
	if got.Examples != int64(len(ref.Y)) {
		t.Fatalf("examples: got %d, want %d (torchvision ImageFolder)", got.Examples, len(ref.Y))
	}
	for i, name := range classes {
		if got.Classes[i].Name != name {
			t.Errorf("class %d: got %q, want %q (torchvision)", i, got.Classes[i].Name, name)
		}
	}
	// JPEG decoders may round a pixel differently: a loose bound on the loss.
	if got.Loss == nil || math.Abs(*got.Loss-ref.Loss) > 1e-3*math.Abs(ref.Loss) {
		t.Errorf("loss: got %v, want %.6g (torchvision + onnxruntime + PyTorch)", got.Loss, ref.Loss)
	}
	confusion := make([][]int64, len(got.Confusion))
	for i := range confusion {
		confusion[i] = make([]int64, len(got.Confusion))
	}
	for i, y := range ref.Y {
		confusion[y][ref.Pred[i]]++
	}
	switch {
	case ref.Gap <= 1e-3:
		t.Logf("confusion not compared: two top logits only %g apart", ref.Gap)
	case !slices.EqualFunc(got.Confusion, confusion, slices.Equal):
		t.Errorf("confusion: got %v, want %v", got.Confusion, confusion)
	}
}

// TestEvalRegression reports only the loss when no term of it is a classifier's.
func TestEvalRegression(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reg.npz")
	x := make([]float32, 3*28*28)
	for i := range x {
		x[i] = float32(i%7) / 7
	}
	y := make([]float32, 3*10)
	err := data.SaveNPZ(path, []string{"x", "y"}, map[string]*tensor.Tensor{
		"x": tensor.From([]int{3, 1, 28, 28}, x), "y": tensor.From([]int{3, 10}, y)})
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, status := onnxtune("eval", fixture.Small(t, "tiny_cnn.onnx"), "--data", path, "--loss", "mse", "--json")
	if status != 0 {
		t.Fatalf("status %d: %s", status, errOut)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if _, ok := got["loss"].(float64); !ok || got["accuracy"] != nil || got["examples"] != float64(0) {
		t.Errorf("got %s, want a loss and no metrics", out)
	}
}
