package report_test

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/onnxtune/onnxtune/report"
	"github.com/onnxtune/onnxtune/train"
)

// binaryInput is a training run of three epochs and a binary evaluation of 300 scores,
// calibrated by a temperature, with bootstrap intervals.
func binaryInput() report.Input {
	rng := rand.New(rand.NewPCG(1, 2))
	var s train.BinaryScores
	for range 300 {
		pos := rng.IntN(4) == 0
		v := 1.5*rng.NormFloat64() - 1
		if pos {
			v += 2.5
		}
		s.LogOdds, s.Positive = append(s.LogOdds, v), append(s.Positive, pos)
	}
	b := s.Report("tumour", 0.4)
	b.Temperature, b.CalibrationData, b.ECEBefore, b.ECEAfter = 1.7, "val", 0.08, 0.02
	b.Bootstrap, b.CI = 100, map[string][2]float64{"sensitivity": {0.7, 0.9}, "roc_auc": {0.8, 0.9}}
	tp, fp, tn, fn := b.TruePositives, b.FalsePositives, b.TrueNegatives, b.FalseNegatives
	r := &train.Report{Kind: train.Binary, Examples: 300, Correct: tp + tn, Loss: 0.41,
		Accuracy:  float64(tp+tn) / 300,
		Classes:   []train.ClassMetrics{{Name: "healthy", Support: tn + fp}, {Name: "tumour", Support: tp + fn}},
		Confusion: [][]int64{{tn, fp}, {fn, tp}}, BinaryReport: b}
	var h []train.EpochStats
	for e := 1; e <= 3; e++ {
		v := 0.9 / float64(e)
		h = append(h, train.EpochStats{Epoch: e, TrainLoss: 1 / float64(e), ValLoss: &v, LR: 1e-3,
			Metrics: map[string]float64{"accuracy": 0.6 + 0.1*float64(e), "sensitivity": 0.5 + 0.1*float64(e), "roc_auc": 0.7 + 0.05*float64(e), "true_positives": 40}})
	}
	return report.Input{Title: "onnxtune train", Facts: []report.Fact{{Name: "model", Value: "m.onnx"}, {Name: "loss", Value: "bce-logits"}},
		History: h, BestEpoch: 3, Eval: r, EvalData: "val"}
}

func TestWriteBinary(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "report")
	if err := report.Write(dir, binaryInput()); err != nil {
		t.Fatal(err)
	}
	files, err := report.Verify(dir, 200)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{report.LossPNG, report.MetricsPNG, report.ConfusionPNG, report.ROCPNG, report.PRPNG, report.ReliabilityPNG}
	slices.Sort(files)
	slices.Sort(want)
	if !slices.Equal(files, want) {
		t.Errorf("index.html references %v, want %v", files, want)
	}
	page, err := os.ReadFile(filepath.Join(dir, report.Index))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"tumour", "95% interval", "[0.7000, 0.9000]", "m.onnx", "temperature"} {
		if !strings.Contains(string(page), s) {
			t.Errorf("index.html lacks %q", s)
		}
	}
	if keep := os.Getenv("REPORT_KEEP"); keep != "" { // REPORT_KEEP=DIR keeps a copy to look at
		if err := os.CopyFS(keep, os.DirFS(dir)); err != nil {
			t.Error(err)
		}
	}
}

// TestWriteMultiClass checks a report without history or binary figures, of many classes.
func TestWriteMultiClass(t *testing.T) {
	const n = 40
	r := &train.Report{Kind: train.MultiClass, Examples: n * 3, Loss: 1.2}
	for i := range n {
		r.Classes = append(r.Classes, train.ClassMetrics{Name: "c" + string(rune('a'+i%26)), Support: 3})
		row := make([]int64, n)
		row[i], row[(i+1)%n] = 2, 1
		r.Confusion = append(r.Confusion, row)
	}
	dir := t.TempDir()
	if err := report.Write(dir, report.Input{Title: "onnxtune eval", Eval: r}); err != nil {
		t.Fatal(err)
	}
	files, err := report.Verify(dir, 200)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(files, []string{report.ConfusionPNG}) {
		t.Errorf("index.html references %v, want only %s", files, report.ConfusionPNG)
	}
}

func TestWriteBadDir(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{file, filepath.Join(file, "sub")} {
		err := report.Write(dir, binaryInput())
		if err == nil || !strings.Contains(err.Error(), file) || strings.Contains(err.Error(), "\n") {
			t.Errorf("Write(%s): got error %v, want one line naming %s", dir, err, file)
		}
	}
}
