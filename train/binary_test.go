package train_test

import (
	"encoding/json"
	"maps"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/tensor"
	"github.com/onnxtune/onnxtune/train"
)

// binaryPy is the reference for a binary classifier's scores: argv 1 is an .npz with the
// log-odds s, the 0/1 truth y and the bootstrap resamples idx [R, N]; argv 2 the threshold
// (a probability), argv 3 the target sensitivity. It prints scikit-learn's roc_auc_score and
// average_precision_score; the highest threshold among the probabilities whose recall is at
// least the target (by brute force); the temperature that PyTorch's LBFGS finds for the NLL
// of sigmoid(s / T); the expected calibration error before and after (15 equal-width bins of
// the predicted class's probability); the best sensitivity at specificity >= 0.8 and the best
// specificity at sensitivity >= 0.9 among roc_curve's points; and, over the given resamples, the 2.5th and 97.5th
// percentiles (numpy) of sklearn's recall, specificity, precision, NPV, F1, ROC AUC and
// average precision (the AUCs left out where a resample has one class).
const binaryPy = `
import sys, json, warnings
import numpy as np, torch
from sklearn.metrics import roc_auc_score, average_precision_score, recall_score, precision_score, f1_score, roc_curve
warnings.simplefilter("ignore")
d = np.load(sys.argv[1]); thr = float(sys.argv[2]); target = float(sys.argv[3])
s, y, idx = d["s"].astype(np.float64), d["y"].astype(int), d["idx"]
p = 1 / (1 + np.exp(-s))
out = {"roc_auc": roc_auc_score(y, p), "pr_auc": average_precision_score(y, p)}
cands = [t for t in np.unique(p) if ((p >= t) & (y == 1)).sum() / (y == 1).sum() >= target]
out["target_threshold"] = float(max(cands))
fpr, tpr, _ = roc_curve(y, p, drop_intermediate=False)
out["sens_at_spec"] = float(tpr[1 - fpr >= 0.8].max())
out["spec_at_sens"] = float((1 - fpr)[tpr >= 0.9].max())
T = torch.ones(1, dtype=torch.float64, requires_grad=True)
st, yt = torch.tensor(s), torch.tensor(y, dtype=torch.float64)
opt = torch.optim.LBFGS([T], lr=0.1, max_iter=500, tolerance_grad=1e-12, tolerance_change=1e-15, line_search_fn="strong_wolfe")
def closure():
    opt.zero_grad()
    l = torch.nn.functional.binary_cross_entropy_with_logits(st / T, yt)
    l.backward()
    return l
opt.step(closure)
out["temperature"] = T.item()
def ece(prob):
    pred = prob >= 0.5
    conf = np.where(pred, prob, 1 - prob)
    b = np.clip(np.ceil(conf * 15).astype(int) - 1, 0, 14)
    e = 0.0
    for k in range(15):
        m = b == k
        if m.any():
            e += m.mean() * abs((pred[m] == (y[m] == 1)).mean() - conf[m].mean())
    return e
out["ece_before"], out["ece_after"] = ece(p), ece(1 / (1 + np.exp(-s / out["temperature"])))
vals = {k: [] for k in ["sensitivity", "specificity", "ppv", "npv", "f1", "roc_auc", "pr_auc"]}
for r in idx:
    yr, pr = y[r], p[r]
    pred = (pr >= thr).astype(int)
    vals["sensitivity"].append(recall_score(yr, pred, zero_division=0))
    vals["specificity"].append(recall_score(1 - yr, 1 - pred, zero_division=0))
    vals["ppv"].append(precision_score(yr, pred, zero_division=0))
    vals["npv"].append(precision_score(1 - yr, 1 - pred, zero_division=0))
    vals["f1"].append(f1_score(yr, pred, zero_division=0))
    if 0 < yr.sum() < len(yr):
        vals["roc_auc"].append(roc_auc_score(yr, pr))
        vals["pr_auc"].append(average_precision_score(yr, pr))
out["ci95"] = {k: [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))] for k, v in vals.items()}
print(json.dumps(out))
`

// TestBinaryScoresMatchReferences holds ROC and PR AUC, the threshold for a target
// sensitivity, temperature scaling, ECE and the bootstrap intervals to scikit-learn, numpy and
// PyTorch on an overconfident classifier of 300 examples, 1 positive in 5, with tied scores.
func TestBinaryScoresMatchReferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const n, resamples, seed = 300, 200, 9
	var s train.BinaryScores
	y := make([]float64, n)
	for i := range n {
		pos := rng.IntN(5) == 0
		v := rng.NormFloat64()
		if pos {
			v += 1.5
			y[i] = 1
		}
		// Three times the log-odds (overconfident), rounded so that some scores tie.
		s.LogOdds = append(s.LogOdds, math.Round(3*v*20)/20)
		s.Positive = append(s.Positive, pos)
	}
	idx := train.BootstrapIndices(n, resamples, seed)
	flat := make([]int64, 0, n*resamples)
	for _, r := range idx {
		for _, k := range r {
			flat = append(flat, int64(k))
		}
	}
	path := filepath.Join(t.TempDir(), "scores.npz")
	err := data.SaveNPZ(path, []string{"s", "y", "idx"}, map[string]*tensor.Tensor{
		"s": tensor.FromFloat64s(tensor.Float64, []int{n}, s.LogOdds), "y": tensor.FromFloat64s(tensor.Float64, []int{n}, y),
		"idx": tensor.From([]int{resamples, n}, flat),
	})
	if err != nil {
		t.Fatal(err)
	}
	const thr, target = 0.3, 0.9
	var ref struct {
		RocAUC          float64 `json:"roc_auc"`
		PRAUC           float64 `json:"pr_auc"`
		TargetThreshold float64 `json:"target_threshold"`
		SensAtSpec      float64 `json:"sens_at_spec"`
		SpecAtSens      float64 `json:"spec_at_sens"`
		Temperature     float64
		ECEBefore       float64 `json:"ece_before"`
		ECEAfter        float64 `json:"ece_after"`
		CI95            map[string][2]float64
	}
	out := fixture.RunPython(t, binaryPy, path, strconv.FormatFloat(thr, 'g', -1, 64), strconv.FormatFloat(target, 'g', -1, 64))
	if err := json.Unmarshal([]byte(out), &ref); err != nil {
		t.Fatal(err)
	}
	near := func(what string, got, want, tol float64) {
		t.Helper()
		if !(math.Abs(got-want) <= tol) {
			t.Errorf("%s: got %.12g, want %.12g (within %g)", what, got, want, tol)
		}
	}
	b := s.Report("1", thr)
	near("roc_auc", float64(b.RocAUC), ref.RocAUC, 1e-12)
	near("pr_auc", float64(b.PRAUC), ref.PRAUC, 1e-12)
	got, err := s.ThresholdForSensitivity(target)
	if err != nil {
		t.Fatal(err)
	}
	near("threshold for sensitivity 0.9", got, ref.TargetThreshold, 1e-15)
	if at := s.Report("1", got); at.Sensitivity < target {
		t.Errorf("sensitivity at the chosen threshold %g is %g, below %g", got, at.Sensitivity, target)
	}
	near("sensitivity at specificity 0.8", s.SensitivityAtSpecificity(0.8), ref.SensAtSpec, 1e-15)
	near("specificity at sensitivity 0.9", s.SpecificityAtSensitivity(0.9), ref.SpecAtSens, 1e-15)
	temp, err := s.FitTemperature()
	if err != nil {
		t.Fatal(err)
	}
	near("temperature", temp, ref.Temperature, 1e-3*ref.Temperature)
	if temp <= 1 {
		t.Errorf("temperature %g of an overconfident classifier, want above 1", temp)
	}
	near("ece before", s.ECE(1), ref.ECEBefore, 1e-12)
	near("ece after", s.ECE(temp), ref.ECEAfter, 1e-6)
	if !(s.ECE(temp) < s.ECE(1)) {
		t.Errorf("ECE %g after temperature scaling, not below %g before", s.ECE(temp), s.ECE(1))
	}
	ci, err := s.Bootstrap(thr, resamples, seed)
	if err != nil {
		t.Fatal(err)
	}
	if names := slices.Sorted(maps.Keys(ci)); !slices.Equal(names, slices.Sorted(slices.Values(train.BootstrapMetrics))) {
		t.Errorf("intervals of %v, want %v", names, train.BootstrapMetrics)
	}
	for name, want := range ref.CI95 {
		near(name+" ci lower", ci[name][0], want[0], 1e-9)
		near(name+" ci upper", ci[name][1], want[1], 1e-9)
	}
}

// curvesPy prints scikit-learn's roc_curve (every threshold: drop_intermediate=False) and
// precision_recall_curve of the probabilities sigmoid(s) of argv 1's .npz (s, y).
const curvesPy = `
import sys, json
import numpy as np
from sklearn.metrics import roc_curve, precision_recall_curve
d = np.load(sys.argv[1])
p, y = 1 / (1 + np.exp(-d["s"].astype(np.float64))), d["y"].astype(int)
fpr, tpr, rt = roc_curve(y, p, drop_intermediate=False)
prec, rec, pt = precision_recall_curve(y, p)
print(json.dumps({"fpr": fpr.tolist(), "tpr": tpr.tolist(), "roc_thresholds": rt.tolist(),
    "precision": prec.tolist(), "recall": rec.tolist(), "pr_thresholds": pt.tolist()}))
`

// TestBinaryCurvesMatchScikitLearn holds the ROC and PR curves, point for point, to
// scikit-learn's on 200 scores with ties, 3 positives in 10.
func TestBinaryCurvesMatchScikitLearn(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const n = 200
	var s train.BinaryScores
	y := make([]float64, n)
	for i := range n {
		pos := rng.IntN(10) < 3
		v := rng.NormFloat64()
		if pos {
			v++
			y[i] = 1
		}
		s.LogOdds = append(s.LogOdds, math.Round(2*v*10)/10) // ties, and distinct probabilities
		s.Positive = append(s.Positive, pos)
	}
	path := filepath.Join(t.TempDir(), "scores.npz")
	err := data.SaveNPZ(path, []string{"s", "y"}, map[string]*tensor.Tensor{
		"s": tensor.FromFloat64s(tensor.Float64, []int{n}, s.LogOdds), "y": tensor.FromFloat64s(tensor.Float64, []int{n}, y),
	})
	if err != nil {
		t.Fatal(err)
	}
	var ref map[string][]float64
	if err := json.Unmarshal([]byte(fixture.RunPython(t, curvesPy, path)), &ref); err != nil {
		t.Fatal(err)
	}
	fpr, tpr, rocThr := s.ROC()
	precision, recall, prThr := s.PR()
	if !math.IsInf(rocThr[0], 1) {
		t.Errorf("ROC's first threshold is %g, want +Inf", rocThr[0])
	}
	for _, c := range []struct {
		name      string
		got, want []float64
	}{
		{"fpr", fpr, ref["fpr"]}, {"tpr", tpr, ref["tpr"]},
		// sklearn 1.2 puts max+1 where newer versions put inf: compare the thresholds after it.
		{"roc thresholds", rocThr[1:], ref["roc_thresholds"][1:]},
		{"precision", precision, ref["precision"]}, {"recall", recall, ref["recall"]},
		{"pr thresholds", prThr, ref["pr_thresholds"]},
	} {
		if len(c.got) != len(c.want) {
			t.Errorf("%s: got %d points, want %d", c.name, len(c.got), len(c.want))
			continue
		}
		for i := range c.got {
			if !(math.Abs(c.got[i]-c.want[i]) <= 1e-12) {
				t.Errorf("%s[%d]: got %.15g, want %.15g", c.name, i, c.got[i], c.want[i])
			}
		}
	}
}

// TestReliabilityIsECEsBins checks that ECE is the count-weighted gap of Reliability's bins
// and that the bins hold every example.
func TestReliabilityIsECEsBins(t *testing.T) {
	s := train.BinaryScores{LogOdds: []float64{-3, -0.2, 0, 0.4, 1, 2.5, 4}, Positive: []bool{false, true, true, false, true, true, true}}
	bins := s.Reliability(1.5)
	if len(bins) != train.ECEBins {
		t.Fatalf("got %d bins, want %d", len(bins), train.ECEBins)
	}
	var count int
	var ece float64
	for _, b := range bins {
		count += b.Count
		ece += float64(b.Count) / float64(len(s.LogOdds)) * math.Abs(b.Accuracy-b.Confidence)
		if b.Count > 0 && !(b.Confidence > b.Lo && b.Confidence <= b.Hi) {
			t.Errorf("bin (%g, %g]: mean confidence %g outside it", b.Lo, b.Hi, b.Confidence)
		}
	}
	if count != len(s.LogOdds) {
		t.Errorf("bins hold %d examples, want %d", count, len(s.LogOdds))
	}
	if got := s.ECE(1.5); got != ece {
		t.Errorf("ECE: got %g, want %g from the bins", got, ece)
	}
}

// TestCutKeepsTargetCounts: a decision fitted for a target sensitivity cuts the log-odds in
// the gap just below the score that reaches it, so the counts at the cut are those at the
// highest threshold, and the nearest example is a clear margin away (half the gap, or 1e-3
// of its log-odds).
func TestCutKeepsTargetCounts(t *testing.T) {
	s := train.BinaryScores{
		LogOdds:  []float64{-3, -0.2, 0, 0.4, 1, 1 - 1e-6, 2.5, 4, 40, 40},
		Positive: []bool{false, true, true, false, true, false, true, true, true, false},
	}
	for _, target := range []float64{0.2, 0.5, 0.6, 0.85, 1} {
		for _, calibrate := range []bool{false, true} {
			d, err := train.OperatingPoint{TargetSensitivity: target, Calibrate: calibrate}.Fit(s)
			if err != nil {
				t.Fatal(err)
			}
			at := math.Log(d.Threshold) - math.Log1p(-d.Threshold) // the score reached, after the temperature
			var highest, cut, nearest [2]int
			gap, closest := math.Inf(1), math.Inf(1) // to the cut; between two scores
			for _, u := range s.LogOdds {
				for _, v := range s.LogOdds {
					if d := (u - v) / d.Temperature; d > 0 {
						closest = min(closest, d)
					}
				}
			}
			for i, v := range s.LogOdds {
				v /= d.Temperature
				highest[b2i(v >= at-1e-9*math.Abs(at))]++
				cut[b2i(v >= d.Cut)]++
				if s.Positive[i] {
					nearest[b2i(v >= d.Cut)]++
				}
				gap = min(gap, math.Abs(v-d.Cut))
			}
			if highest != cut || !(d.Cut < at) || gap < min(1e-3*max(1, math.Abs(at)), closest/2)*(1-1e-9) {
				t.Errorf("target %g, calibrate %v: cut %g below %g: %v positive at the cut, %v at the highest threshold; nearest example %g away",
					target, calibrate, d.Cut, at, cut, highest, gap)
			}
			if sens := float64(nearest[1]) / float64(nearest[0]+nearest[1]); sens < target {
				t.Errorf("target %g: sensitivity %g at the cut", target, sens)
			}
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
