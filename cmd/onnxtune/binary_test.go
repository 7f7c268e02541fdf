package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/onnx"
)

// The references of this file are train/testdata/binary/, written by
// train/testdata/gen_binary.py (PyTorch and scikit-learn): a two-class grayscale image
// folder (normal 0, tumor 1), one-, two- and three-logit CNNs, training cases with their
// final weights, and whole-set eval losses and binary reports.

// binaryCase is a training case of binary.json.
type binaryCase struct {
	Name          string
	Model         string
	Data          string
	Val           string
	Loss          string
	Optimizer     string
	LR            float64
	Momentum      *float64
	PositiveClass string `json:"positive_class"`
	ClassWeights  string `json:"class_weights"`
	BatchSize     int    `json:"batch_size"`
	Epochs        int
	ValLosses     []float64 `json:"val_losses"`
}

// evalCase is a loss case of eval.json: PyTorch's loss of the whole data set in one batch.
type evalCase struct {
	Name          string
	Model         string
	Data          string
	Loss          string
	ClassWeights  []float64 `json:"class_weights"`
	PositiveClass string    `json:"positive_class"`
	Examples      int
	Expected      float64
}

// binaryReport is a binary report of eval.json: the untrained model on scans_val, with eval's
// default loss (no --loss).
type binaryReport struct {
	Name           string
	Model          string
	Data           string
	LossSpec       string `json:"loss_spec"`
	Kind           string
	PositiveClass  string `json:"positive_class"`
	Loss           float64
	Threshold      float64
	RocAUC         float64 `json:"roc_auc"`
	Sensitivity    float64
	Specificity    float64
	PPV            float64
	NPV            float64
	F1             float64
	TruePositives  int64 `json:"true_positives"`
	FalsePositives int64 `json:"false_positives"`
	TrueNegatives  int64 `json:"true_negatives"`
	FalseNegatives int64 `json:"false_negatives"`
}

func binaryDir(t *testing.T) string {
	t.Helper()
	return filepath.Join(fixture.Root(t), "train", "testdata", "binary")
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func binaryTrainCases(t *testing.T) []binaryCase {
	t.Helper()
	var f struct{ Cases []binaryCase }
	readJSON(t, filepath.Join(binaryDir(t), "binary.json"), &f)
	if len(f.Cases) == 0 {
		t.Fatal("binary.json has no cases")
	}
	return f.Cases
}

// binaryTrainArgs spells a case of binary.json as the command line the contract defines.
func binaryTrainArgs(root string, c binaryCase, out string) []string {
	num := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	args := []string{"train", filepath.Join(root, c.Model), "--data", filepath.Join(root, c.Data),
		"--loss", c.Loss, "--out", out, "--shuffle=false", "--batch-size", strconv.Itoa(c.BatchSize),
		"--epochs", strconv.Itoa(c.Epochs), "--optimizer", c.Optimizer, "--lr", num(c.LR), "--workers", "2"}
	if c.Momentum != nil {
		args = append(args, "--momentum", num(*c.Momentum))
	}
	if c.PositiveClass != "" {
		args = append(args, "--positive-class", c.PositiveClass)
	}
	if c.ClassWeights != "" {
		args = append(args, "--class-weights", c.ClassWeights)
	}
	return args
}

// evalReport runs `onnxtune eval ... --json` and returns its JSON object.
func evalReport(t *testing.T, args ...string) map[string]any {
	t.Helper()
	args = append(append([]string{"eval"}, args...), "--json")
	out, errOut, status := onnxtune(args...)
	if status != 0 {
		t.Fatalf("%s: status %d: %s", strings.Join(args, " "), status, errOut)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%s printed %q: %v", strings.Join(args, " "), out, err)
	}
	return got
}

// evalLoss is the top-level "loss" of an eval report, NaN where it is missing.
func evalLoss(r map[string]any) float64 {
	if v, ok := r["loss"].(float64); ok {
		return v
	}
	return math.NaN()
}

func relErr(got, want float64) float64 { return math.Abs(got-want) / math.Abs(want) }

// readLog returns the records of a training log (JSON lines).
func readLog(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var recs []map[string]any
	for i, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("%s line %d: %v", path, i+1, err)
		}
		recs = append(recs, rec)
	}
	return recs
}

// TestBinaryTrainMatchesTorch trains every case of binary.json from the image folder with
// class-index targets adapted to the loss (float 0/1 [N, 1] for a one-logit model, one-hot for
// bce-style losses on two logits, class indices for focal and cross-entropy on two logits;
// --positive-class, --class-weights auto) and holds the exported weights to PyTorch's within
// 1e-4 relative. The tuned model records its loss in metadata_props onnxtune.loss.
func TestBinaryTrainMatchesTorch(t *testing.T) {
	root := fixture.Root(t)
	refs, _, err := data.LoadNPZ(filepath.Join(binaryDir(t), "binary.ref.npz"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range binaryTrainCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "tuned.onnx")
			args := binaryTrainArgs(root, c, out)
			_, stderr, status := onnxtune(args...)
			if status != 0 {
				t.Fatalf("%s: status %d: %s", strings.Join(args, " "), status, stderr)
			}
			if n := checkTorchWeights(t, out, refs, c.Name); n != 4 {
				t.Fatalf("%d reference tensors, want 4", n)
			}
			m, err := onnx.Load(out)
			if err != nil {
				t.Fatal(err)
			}
			var spec string
			for _, p := range m.Proto.GetMetadataProps() {
				if p.GetKey() == "onnxtune.loss" {
					spec = p.GetValue()
				}
			}
			if name, _, _ := strings.Cut(c.Loss, "("); !strings.HasPrefix(spec, name) {
				t.Errorf("metadata onnxtune.loss is %q, want %s", spec, c.Loss)
			}
		})
	}
}

// TestBinaryNewHead: --num-classes 2 puts a fresh two-logit head on the one-logit model and
// trains it with medical-bce (one-hot targets); --num-classes 1 a one-logit head on the
// two-logit model, trained with focal (float 0/1 targets). Both finish with finite losses and
// the new output width, and eval reads them as binary classifiers.
func TestBinaryNewHead(t *testing.T) {
	dir := binaryDir(t)
	for _, c := range []struct {
		model, loss string
		classes     int
	}{
		{"bin1.onnx", "medical-bce", 2},
		{"bin2.onnx", "focal", 1},
	} {
		t.Run(fmt.Sprintf("%d_%s", c.classes, c.loss), func(t *testing.T) {
			tmp := t.TempDir()
			out, log := filepath.Join(tmp, "head.onnx"), filepath.Join(tmp, "log.jsonl")
			args := []string{"train", filepath.Join(dir, c.model), "--data", filepath.Join(dir, "scans"),
				"--loss", c.loss, "--num-classes", strconv.Itoa(c.classes), "--out", out, "--shuffle=false",
				"--batch-size", "4", "--epochs", "2", "--optimizer", "sgd", "--lr", "0.05", "--momentum", "0.9",
				"--seed", "7", "--workers", "2", "--log", log}
			if _, stderr, status := onnxtune(args...); status != 0 {
				t.Fatalf("%s: status %d: %s", strings.Join(args, " "), status, stderr)
			}
			recs := readLog(t, log)
			if len(recs) != 2 {
				t.Fatalf("log has %d records, want 2", len(recs))
			}
			for i, rec := range recs {
				if v, ok := rec["train_loss"].(float64); !ok || math.IsNaN(v) || math.IsInf(v, 0) {
					t.Errorf("epoch %d: train_loss %v, want a finite number", i+1, rec["train_loss"])
				}
			}
			m, err := onnx.Load(out)
			if err != nil {
				t.Fatal(err)
			}
			g, err := onnx.Import(m)
			if err != nil {
				t.Fatal(err)
			}
			if s := g.Outputs[0].Shape; len(s) != 2 || s[1].Size != c.classes {
				t.Errorf("output shape %v, want [batch %d]", s, c.classes)
			}
			r := evalReport(t, out, "--data", filepath.Join(dir, "scans_val"), "--loss", c.loss)
			if v := evalLoss(r); math.IsNaN(v) || math.IsInf(v, 0) || r["kind"] != "binary" {
				t.Errorf("eval of the new head: loss %v, kind %v; want a finite loss, binary", r["loss"], r["kind"])
			}
		})
	}
}

// TestBinaryEvalLosses holds eval's loss to PyTorch's loss of the whole data set (1e-5
// relative) for every case of eval.json: cross-entropy with class weights, ignore_index and
// label smoothing, nll, bce, bce-logits, medical-bce, sigmoid and softmax focal, mse. The loss
// is the whole set's, so --batch-size 1, 7 and the whole set agree within 1e-6 relative (a
// batch whose targets are all ignored adds nothing, and class weights divide by the whole
// set's weight sum).
func TestBinaryEvalLosses(t *testing.T) {
	root := fixture.Root(t)
	var f struct{ Cases []evalCase }
	readJSON(t, filepath.Join(binaryDir(t), "eval.json"), &f)
	if len(f.Cases) == 0 {
		t.Fatal("eval.json has no cases")
	}
	for _, c := range f.Cases {
		t.Run(c.Name, func(t *testing.T) {
			args := []string{filepath.Join(root, c.Model), "--data", filepath.Join(root, c.Data), "--loss", c.Loss}
			if len(c.ClassWeights) > 0 {
				w := make([]string, len(c.ClassWeights))
				for i, v := range c.ClassWeights {
					w[i] = strconv.FormatFloat(v, 'g', -1, 64)
				}
				args = append(args, "--class-weights", strings.Join(w, ","))
			}
			if c.PositiveClass != "" {
				args = append(args, "--positive-class", c.PositiveClass)
			}
			var whole float64
			for _, b := range []int{c.Examples, 1, 7} {
				r := evalReport(t, append(args, "--batch-size", strconv.Itoa(b))...)
				got := evalLoss(r)
				if b == c.Examples {
					whole = got
					if !(relErr(got, c.Expected) <= 1e-5) {
						t.Errorf("loss %.9g, want %.9g (PyTorch, whole set)", got, c.Expected)
					}
					if s, _ := r["loss_spec"].(string); s == "" {
						t.Errorf("no loss_spec in %v", r)
					}
				} else if !(relErr(got, whole) <= 1e-6) {
					t.Errorf("--batch-size %d: loss %.9g, want %.9g (the whole set in one batch)", b, got, whole)
				}
			}
		})
	}
}

// TestBinaryEvalReport: eval without --loss of the untrained one- and two-logit models on
// scans_val reports kind "binary", eval's default loss (bce-logits for one logit,
// cross-entropy for two), the positive class by name, and sensitivity, specificity, PPV, NPV,
// F1, the confusion counts at probability >= 0.5 and the ROC AUC as scikit-learn computes
// them. --positive-class takes the class's name or index.
func TestBinaryEvalReport(t *testing.T) {
	root := fixture.Root(t)
	var f struct{ Reports []binaryReport }
	readJSON(t, filepath.Join(binaryDir(t), "eval.json"), &f)
	if len(f.Reports) == 0 {
		t.Fatal("eval.json has no reports")
	}
	classes := []string{"normal", "tumor"}
	for _, want := range f.Reports {
		spellings := [][]string{nil} // the default positive class: label 1
		if want.PositiveClass != "tumor" {
			spellings = nil
		}
		for i, name := range classes {
			if name == want.PositiveClass {
				spellings = append(spellings, []string{"--positive-class", name}, []string{"--positive-class", strconv.Itoa(i)})
			}
		}
		for _, pc := range spellings {
			label := want.Name + "/default"
			if pc != nil {
				label = want.Name + "/" + pc[1]
			}
			t.Run(label, func(t *testing.T) {
				args := append([]string{filepath.Join(root, want.Model), "--data", filepath.Join(root, want.Data), "--batch-size", "3"}, pc...)
				r := evalReport(t, args...)
				if r["kind"] != "binary" || r["positive_class"] != want.PositiveClass {
					t.Errorf("kind %v, positive_class %v; want binary, %s", r["kind"], r["positive_class"], want.PositiveClass)
				}
				if s, _ := r["loss_spec"].(string); !strings.HasPrefix(s, want.LossSpec) {
					t.Errorf("loss_spec %q, want %s (the default for this output)", s, want.LossSpec)
				}
				if got := evalLoss(r); !(relErr(got, want.Loss) <= 1e-5) {
					t.Errorf("loss %.9g, want %.9g (PyTorch)", got, want.Loss)
				}
				for _, m := range []struct {
					key  string
					want float64
					tol  float64
				}{
					{"threshold", want.Threshold, 0},
					{"roc_auc", want.RocAUC, 1e-6},
					{"sensitivity", want.Sensitivity, 1e-9},
					{"specificity", want.Specificity, 1e-9},
					{"ppv", want.PPV, 1e-9},
					{"npv", want.NPV, 1e-9},
					{"f1", want.F1, 1e-9},
					{"true_positives", float64(want.TruePositives), 0},
					{"false_positives", float64(want.FalsePositives), 0},
					{"true_negatives", float64(want.TrueNegatives), 0},
					{"false_negatives", float64(want.FalseNegatives), 0},
				} {
					got, ok := r[m.key].(float64)
					if !ok || !(math.Abs(got-m.want) <= m.tol) {
						t.Errorf("%s: got %v, want %.17g (scikit-learn)", m.key, r[m.key], m.want)
					}
				}
			})
		}
	}
}

// TestBinaryValLossMatchesEval trains bin1 with medical-bce, --val, --checkpoint-dir and --log
// for 2 epochs: each record's val_loss is PyTorch's validation loss after that epoch (1e-3
// relative: the weights agree to 1e-4), the last one equals `eval --loss SAME` of
// CK/checkpoint.onnx within 1e-6 relative, and eval of the tuned model without --loss uses the
// loss train recorded in it.
func TestBinaryValLossMatchesEval(t *testing.T) {
	root := fixture.Root(t)
	var c binaryCase
	for _, k := range binaryTrainCases(t) {
		if k.Name == "bin1_medical_sgd" {
			c = k
		}
	}
	if c.Name == "" {
		t.Fatal("binary.json has no case bin1_medical_sgd")
	}
	tmp := t.TempDir()
	out, ck, log := filepath.Join(tmp, "tuned.onnx"), filepath.Join(tmp, "ck"), filepath.Join(tmp, "log.jsonl")
	args := append(binaryTrainArgs(root, c, out), "--val", filepath.Join(root, c.Val), "--checkpoint-dir", ck, "--log", log)
	if _, stderr, status := onnxtune(args...); status != 0 {
		t.Fatalf("%s: status %d: %s", strings.Join(args, " "), status, stderr)
	}
	recs := readLog(t, log)
	if len(recs) != c.Epochs {
		t.Fatalf("log has %d records, want %d", len(recs), c.Epochs)
	}
	var last float64
	for i, rec := range recs {
		v, ok := rec["val_loss"].(float64)
		if !ok {
			t.Fatalf("epoch %d: no val_loss in %v", i+1, rec)
		}
		if !(relErr(v, c.ValLosses[i]) <= 1e-3) {
			t.Errorf("epoch %d: val_loss %.9g, want %.9g (PyTorch)", i+1, v, c.ValLosses[i])
		}
		last = v
	}
	val := filepath.Join(root, c.Val)
	got := evalLoss(evalReport(t, filepath.Join(ck, "checkpoint.onnx"), "--data", val, "--loss", c.Loss, "--batch-size", "3"))
	if !(relErr(got, last) <= 1e-6) {
		t.Errorf("eval --loss %s of the checkpoint: %.9g, want the last val_loss %.9g", c.Loss, got, last)
	}
	same := evalLoss(evalReport(t, out, "--data", val, "--loss", c.Loss))
	recorded := evalReport(t, out, "--data", val)
	if g := evalLoss(recorded); !(relErr(g, same) <= 1e-6) {
		t.Errorf("eval without --loss (loss_spec %v): %.9g, want %.9g (eval --loss %s)", recorded["loss_spec"], g, same, c.Loss)
	}
}

// TestBinaryBadPairing: a loss that cannot read the data fails before any training with a
// non-zero status and one line on stderr from the command: a bce-style loss on a one-logit
// model with a three-class folder, and a positive class the folder lacks. Eval's operating
// point flags fail alike where they do not apply.
func TestBinaryBadPairing(t *testing.T) {
	dir := binaryDir(t)
	// A three-class folder: cyst and normal take two normal scans each, tumor two tumor scans.
	three := filepath.Join(t.TempDir(), "three")
	for class, src := range map[string][]string{"cyst": {"normal", "00", "01"}, "normal": {"normal", "02", "03"}, "tumor": {"tumor", "00", "01"}} {
		if err := os.MkdirAll(filepath.Join(three, class), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, i := range src[1:] {
			f := filepath.Join(dir, "scans", src[0], src[0]+"_"+i+".png")
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(three, class, filepath.Base(f)), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	bin1, scans := filepath.Join(dir, "bin1.onnx"), filepath.Join(dir, "scans")
	out := filepath.Join(t.TempDir(), "o.onnx")
	train := []string{"train", bin1, "--out", out, "--epochs", "1", "--batch-size", "4", "--workers", "2"}
	for _, c := range []struct {
		args []string
		want string // a word the message must carry, if any
	}{
		{slices.Concat(train, []string{"--data", three, "--loss", "bce-logits"}), ""},
		{slices.Concat(train, []string{"--data", three, "--loss", "medical-bce"}), ""},
		{slices.Concat(train, []string{"--data", three, "--loss", "focal"}), ""},
		{slices.Concat(train, []string{"--data", scans, "--loss", "bce-logits", "--positive-class", "cyst"}), "cyst"},
		{slices.Concat(train, []string{"--data", scans, "--loss", "bce-logits", "--positive-class", "2"}), "2"},
		{[]string{"eval", bin1, "--data", three, "--loss", "bce-logits"}, ""},
		{[]string{"eval", bin1, "--data", three}, ""}, // the default loss of one logit is bce-logits
		{[]string{"eval", bin1, "--data", scans, "--positive-class", "cyst"}, "cyst"},
		{[]string{"eval", bin1, "--data", scans, "--threshold", "0.3", "--target-sensitivity", "0.9"}, "--threshold"},
		{[]string{"eval", bin1, "--data", scans, "--target-sensitivity", "1.5"}, "--target-sensitivity"},
		{[]string{"eval", filepath.Join(dir, "tri3.onnx"), "--data", filepath.Join(dir, "tri3.npz"), "--bootstrap", "10"}, "binary"},
		{[]string{"eval", filepath.Join(dir, "tri3.onnx"), "--data", filepath.Join(dir, "tri3.npz"), "--calibrate"}, "binary"},
	} {
		_, stderr, status := onnxtune(c.args...)
		prefix := "onnxtune " + c.args[0] + ": "
		if status == 0 || !strings.HasPrefix(stderr, prefix) || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, c.want) {
			t.Errorf("%s: status %d, stderr %q; want a failure and one line %q... naming %q", strings.Join(c.args, " "), status, stderr, prefix, c.want)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("a failed run wrote %s", out)
	}
}

// scoresPy reads ONNX Runtime's output (argv 1, .npy: one logit, or softmax over the
// columns) for the labels (argv 2, .npy) and the positive class (argv 3) and prints, for the
// positive class's probability: scikit-learn's roc_auc_score and average_precision_score, the
// confusion counts at the threshold argv 4, and the highest threshold among the probabilities
// whose recall is at least argv 5 (by brute force).
const scoresPy = `
import sys, json
import numpy as np
from sklearn.metrics import roc_auc_score, average_precision_score, confusion_matrix
z = np.load(sys.argv[1]).astype(np.float64); y = np.load(sys.argv[2]); pos = int(sys.argv[3])
thr, target = float(sys.argv[4]), float(sys.argv[5])
if z.shape[1] == 1:
    p = 1 / (1 + np.exp(-z[:, 0]))
else:
    e = np.exp(z - z.max(1, keepdims=True)); p = (e / e.sum(1, keepdims=True))[:, pos]
t = (y == pos).astype(int)
tn, fp, fn, tp = confusion_matrix(t, (p >= thr).astype(int), labels=[0, 1]).ravel()
cands = [c for c in np.unique(p) if ((p >= c) & (t == 1)).sum() / t.sum() >= target]
print(json.dumps({"roc_auc": roc_auc_score(t, p), "pr_auc": average_precision_score(t, p),
                  "counts": [int(tp), int(fp), int(tn), int(fn)], "target_threshold": float(max(cands))}))
`

// TestBinaryScoresMatchORT: on the one- and two-logit models and scans_val, eval's ROC AUC and
// PR AUC are scikit-learn's on ONNX Runtime's scores of the same images (1e-6), --threshold
// gives scikit-learn's confusion counts at that threshold, and --target-sensitivity picks the
// threshold a brute-force search of ONNX Runtime's probabilities picks.
func TestBinaryScoresMatchORT(t *testing.T) {
	dir := binaryDir(t)
	for _, c := range []struct{ model, positive string }{{"bin1.onnx", "1"}, {"bin2.onnx", "1"}, {"bin1.onnx", "0"}} {
		t.Run(c.model+"/"+c.positive, func(t *testing.T) {
			model := filepath.Join(dir, c.model)
			m, err := onnx.Load(model)
			if err != nil {
				t.Fatal(err)
			}
			g, err := onnx.Import(m)
			if err != nil {
				t.Fatal(err)
			}
			s := g.Inputs[0].Shape
			img := data.ImageTransform{Channels: s[1].Size, Height: s[2].Size, Width: s[3].Size}
			val := filepath.Join(dir, "scans_val")
			ds, err := data.Open(val, data.Options{InputName: g.Inputs[0].Name, Image: img})
			if err != nil {
				t.Fatal(err)
			}
			tmp := t.TempDir()
			for b, err := range data.NewLoader(ds, ds.Len(), false, 0, 1).Epoch(t.Context(), 0) {
				if err != nil {
					t.Fatal(err)
				}
				if err := data.SaveNPY(filepath.Join(tmp, "x.npy"), b.X); err != nil {
					t.Fatal(err)
				}
				if err := data.SaveNPY(filepath.Join(tmp, "y.npy"), b.Y); err != nil {
					t.Fatal(err)
				}
			}
			fixture.RunORT(t, model, tmp, filepath.Join(tmp, "x.npy"))
			const thr, target = "0.45", "0.6"
			var want struct {
				RocAUC          float64 `json:"roc_auc"`
				PRAUC           float64 `json:"pr_auc"`
				Counts          []float64
				TargetThreshold float64 `json:"target_threshold"`
			}
			out := fixture.RunPython(t, scoresPy, filepath.Join(tmp, g.Outputs[0].Name+".npy"), filepath.Join(tmp, "y.npy"), c.positive, thr, target)
			if err := json.Unmarshal([]byte(out), &want); err != nil {
				t.Fatal(err)
			}
			r := evalReport(t, model, "--data", val, "--positive-class", c.positive, "--threshold", thr)
			for key, w := range map[string]float64{"roc_auc": want.RocAUC, "pr_auc": want.PRAUC} {
				if got, ok := r[key].(float64); !ok || math.Abs(got-w) > 1e-6 {
					t.Errorf("%s %v, want %.9g (scikit-learn on ONNX Runtime's scores)", key, r[key], w)
				}
			}
			for i, key := range []string{"true_positives", "false_positives", "true_negatives", "false_negatives"} {
				if r[key] != want.Counts[i] {
					t.Errorf("--threshold %s: %s %v, want %v (scikit-learn)", thr, key, r[key], want.Counts[i])
				}
			}
			r = evalReport(t, model, "--data", val, "--positive-class", c.positive, "--target-sensitivity", target)
			if got, ok := r["threshold"].(float64); !ok || math.Abs(got-want.TargetThreshold) > 1e-6 {
				t.Errorf("--target-sensitivity %s: threshold %v, want %.9g (ONNX Runtime's probabilities)", target, r["threshold"], want.TargetThreshold)
			}
			if sens, _ := r["sensitivity"].(float64); sens < 0.6 || r["threshold_data"] != val {
				t.Errorf("--target-sensitivity %s: sensitivity %v on %v", target, r["sensitivity"], r["threshold_data"])
			}
		})
	}
}
