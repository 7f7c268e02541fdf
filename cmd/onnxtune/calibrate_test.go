package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/onnx"
	"github.com/onnxtune/onnxtune/train"
)

// decisionPy checks a calibrated model (argv 1) with onnx.checker and reads ONNX Runtime's
// decision and probability outputs (argv 2, 3: .npy) for the labels (argv 4) and the positive
// class (argv 5): it prints the sensitivity and specificity of the decisions, and how many
// decisions disagree with "probability >= threshold" (argv 6).
const decisionPy = `
import sys, json
import numpy as np, onnx
onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)
d = np.load(sys.argv[2]); p = np.load(sys.argv[3]); y = np.load(sys.argv[4]).reshape(-1)
pos, thr = int(sys.argv[5]), float(sys.argv[6])
t = y == pos
tp, fn = int((d & t).sum()), int((~d & t).sum())
tn, fp = int((~d & ~t).sum()), int((d & ~t).sum())
print(json.dumps({"sensitivity": tp / (tp + fn), "specificity": tn / (tn + fp), "n": int(d.size),
                  "shape": list(d.shape), "disagree": int(((p >= thr) != d).sum())}))
`

// TestCalibrateDecisionMatchesORT: the decision output of a calibrated model, run in ONNX
// Runtime on the data it was fitted on, gives exactly the sensitivity and specificity that
// calibrate records, for one logit, two logits, probabilities, log-probabilities, ten classes
// one against the rest (Fashion-MNIST's 10000 test images) and an opset 11 model (whose
// decision is built from Less and Not), and the decision train --target-sensitivity writes;
// onnx.checker accepts every model.
func TestCalibrateDecisionMatchesORT(t *testing.T) {
	bin := binaryDir(t)
	fashion := "/usr/share/datasets/fashion-mnist"
	if _, err := os.Stat(fashion); err != nil {
		t.Fatalf("Fashion-MNIST is missing (%v): install it with scripts/setup.sh (apt-get install dataset-fashion-mnist)", err)
	}
	op11 := filepath.Join(t.TempDir(), "tri3_op11.onnx")
	// tri3's operators mean the same at opset 11 and 13.
	fixture.RunPython(t, `
import sys, onnx
m = onnx.load(sys.argv[1]); m.opset_import[0].version = 11
onnx.checker.check_model(m, full_check=True); onnx.save(m, sys.argv[2])
`, filepath.Join(bin, "tri3.onnx"), op11)
	cases := []struct {
		name, model, data, positive string
		flags                       []string
	}{
		{"one logit", filepath.Join(bin, "bin1.onnx"), filepath.Join(bin, "scans_val"), "1", []string{"--threshold", "0.45"}},
		{"two logits", filepath.Join(bin, "bin2.onnx"), filepath.Join(bin, "scans"), "1", []string{"--target-sensitivity", "0.8"}},
		{"probability", filepath.Join(bin, "bin1p.onnx"), filepath.Join(bin, "scans"), "1", []string{"--target-sensitivity", "0.9", "--temperature=false"}},
		{"log-probabilities", filepath.Join(bin, "tri3_logsoftmax.onnx"), filepath.Join(bin, "tri3.npz"), "2", []string{"--target-sensitivity", "0.75"}},
		{"opset 11", op11, filepath.Join(bin, "tri3.npz"), "1", []string{"--threshold", "0.4"}},
		{"train", filepath.Join(bin, "bin1.onnx"), filepath.Join(bin, "scans_val"), "1",
			[]string{"train", "--data", filepath.Join(bin, "scans"), "--loss", "bce-logits", "--epochs", "2", "--target-sensitivity", "0.65"}},
		{"ten classes", filepath.Join(fixture.Root(t), "testdata", "demo", "fmnist_cnn.onnx"), fashion, "8", []string{"--target-sensitivity", "0.95"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "ten classes" && testing.Short() {
				t.Skip("10000 images: run by the test pass without -short, left out of the race pass")
			}
			tmp := t.TempDir()
			out := filepath.Join(tmp, "calibrated.onnx")
			args := append([]string{"calibrate", c.model, "--data", c.data, "--positive-class", c.positive, "--out", out}, c.flags...)
			if c.flags[0] == "train" { // the decision of a run, fitted on its validation data
				args = append([]string{"train", c.model, "--val", c.data, "--positive-class", c.positive, "--out", out}, c.flags[1:]...)
			}
			stdout, stderr, status := onnxtune(args...)
			if status != 0 {
				t.Fatalf("%s: status %d: %s", strings.Join(args, " "), status, stderr)
			}
			m, err := onnx.Load(out)
			if err != nil {
				t.Fatal(err)
			}
			meta := train.OwnMetadata(m)
			x, y := dumpData(t, m, c.data, tmp)
			fixture.RunORT(t, out, tmp, x)
			var got struct {
				Sensitivity, Specificity float64
				N, Disagree              int
				Shape                    []int
			}
			res := fixture.RunPython(t, decisionPy, out, filepath.Join(tmp, meta["onnxtune.decision_output"]+".npy"),
				filepath.Join(tmp, meta["onnxtune.probability_output"]+".npy"), y, c.positive, meta["onnxtune.threshold"])
			if err := json.Unmarshal([]byte(res), &got); err != nil {
				t.Fatal(err)
			}
			for key, v := range map[string]float64{"sensitivity": got.Sensitivity, "specificity": got.Specificity} {
				want, err := strconv.ParseFloat(meta["onnxtune."+key], 64)
				if err != nil || v != want {
					t.Errorf("ONNX Runtime's decisions: %s %v, calibrate recorded %q", key, v, meta["onnxtune."+key])
				}
				if !strings.Contains(stdout, key+"  ") {
					t.Errorf("calibrate printed no %s:\n%s", key, stdout)
				}
			}
			if len(got.Shape) != 1 || got.Disagree != 0 || meta["onnxtune.calibration_examples"] != strconv.Itoa(got.N) {
				t.Errorf("decision shape %v (want [N]), %d decisions disagree with probability >= threshold %s, %d examples (recorded %s)",
					got.Shape, got.Disagree, meta["onnxtune.threshold"], got.N, meta["onnxtune.calibration_examples"])
			}
			// eval measures the decision the model carries.
			r := evalReport(t, out, "--data", c.data, "--positive-class", c.positive)
			for _, key := range []string{"sensitivity", "specificity", "threshold", "temperature"} {
				if got := fmt.Sprint(r[key]); got != meta["onnxtune."+key] && (key != "temperature" || got != "<nil>" || meta["onnxtune."+key] != "1") {
					t.Errorf("eval of the calibrated model: %s %s, calibrate recorded %s", key, got, meta["onnxtune."+key])
				}
			}
			if meta["onnxtune.calibration_data"] != c.data {
				t.Errorf("calibration_data %q, want %q", meta["onnxtune.calibration_data"], c.data)
			}
		})
	}
}

// dumpData writes the data at path, read for model's input as the commands read it, to
// dir/x.npy and dir/y.npy, and returns their paths.
func dumpData(t *testing.T, m *onnx.Model, path, dir string) (x, y string) {
	t.Helper()
	g, err := onnx.Import(m)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := data.Open(path, data.Options{InputName: g.Inputs[0].Name, Split: "t10k", Image: train.InputTransform(g, nil, nil)})
	if err != nil {
		t.Fatal(err)
	}
	x, y = filepath.Join(dir, "x.npy"), filepath.Join(dir, "y.npy")
	for b, err := range data.NewLoader(ds, ds.Len(), false, 0, 1).Epoch(t.Context(), 0) {
		if err != nil {
			t.Fatal(err)
		}
		if err := data.SaveNPY(x, b.X); err != nil {
			t.Fatal(err)
		}
		if err := data.SaveNPY(y, b.Y); err != nil {
			t.Fatal(err)
		}
	}
	return x, y
}

// TestCalibrateErrors: bad command lines and models that cannot carry a decision fail with one
// line naming the culprit, and write nothing; a calibrated model can be calibrated again.
func TestCalibrateErrors(t *testing.T) {
	bin := binaryDir(t)
	tmp := t.TempDir()
	out := filepath.Join(tmp, "out.onnx")
	bin1, val := filepath.Join(bin, "bin1.onnx"), filepath.Join(bin, "scans_val")
	calibrated := filepath.Join(tmp, "calibrated.onnx")
	if _, stderr, status := onnxtune("calibrate", bin1, "--data", val, "--out", calibrated); status != 0 {
		t.Fatalf("calibrate: status %d: %s", status, stderr)
	}
	for _, c := range []struct {
		args   []string
		status int
		want   string
	}{
		{[]string{bin1, "--out", out}, 2, "missing --data"},
		{[]string{bin1, "--data", val}, 2, "missing --out"},
		{[]string{bin1, "--data", val, "--out", filepath.Join(tmp, "out.txt")}, 2, "want an .onnx file name"},
		{[]string{bin1, "--data", val, "--out", out, "--threshold", "0.3", "--target-sensitivity", "0.9"}, 2, "give one"},
		{[]string{bin1, "--data", val, "--out", out, "--threshold", "1.5"}, 2, "--threshold 1.5"},
		{[]string{bin1, "--data", val, "--out", bin1}, 1, "would overwrite the model"},
		{[]string{filepath.Join(bin, "tri3.onnx"), "--data", filepath.Join(bin, "tri3.npz"), "--out", out}, 1, "positive class"},
		{[]string{bin1, "--data", filepath.Join(tmp, "nowhere"), "--out", out}, 1, "nowhere"},
	} {
		_, stderr, status := onnxtune(append([]string{"calibrate"}, c.args...)...)
		if status != c.status || !strings.HasPrefix(stderr, "onnxtune calibrate: ") || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, c.want) {
			t.Errorf("calibrate %s: status %d, stderr %q; want status %d and one line naming %q", strings.Join(c.args, " "), status, stderr, c.status, c.want)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("a failed calibrate wrote %s", out)
	}
	// A calibrated model is calibrated again from its scores: its decision is replaced.
	again := filepath.Join(tmp, "again.onnx")
	if _, stderr, status := onnxtune("calibrate", calibrated, "--data", val, "--threshold", "0.3", "--out", again); status != 0 {
		t.Fatalf("calibrating a calibrated model: status %d: %s", status, stderr)
	}
	s := inspectJSON(t, again, "--json")
	if len(s.Outputs) != 3 || s.Outputs[1].Name != "probability" || s.Outputs[2].Name != "decision" {
		t.Errorf("calibrating a calibrated model gave outputs %v, want logits, probability, decision", s.Outputs)
	}
}
