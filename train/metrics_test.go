package train_test

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/loss"
	"github.com/onnxtune/onnxtune/tensor"
	"github.com/onnxtune/onnxtune/train"
)

// metricsPy computes the reference metrics of the logits z and targets y in an .npz with
// numpy formulas, and, where scikit-learn is installed, asserts that sklearn.metrics gives the
// same numbers (precision_recall_fscore_support with zero_division's default, which returns 0,
// confusion_matrix, multilabel_confusion_matrix, accuracy_score). kind is multiclass (class
// indices, or probabilities whose arg-max is the class), binary or multilabel, the last two
// predicting the outputs at or above the threshold argument; positions whose class index is -100
// are dropped.
const metricsPy = `
import sys, json, warnings
import numpy as np
d = np.load(sys.argv[1]); kind = sys.argv[2]; thr = float(sys.argv[3])
z, y = d["z"].astype(np.float64), d["y"]
if kind == "multilabel":
    p, t = (z >= thr).astype(int), (y > 0.5).astype(int)
    C = z.shape[1]
    tp = (p & t).sum(0); fp = (p & (1 - t)).sum(0); fn = ((1 - p) & t).sum(0); tn = ((1 - p) & (1 - t)).sum(0)
    present = np.ones(C, bool)
    acc = (p == t).all(1).mean()
    cm = None
    lcm = np.stack([np.stack([tn, fp], 1), np.stack([fn, tp], 1)], 1)
else:
    if kind == "binary":
        p, t, C = (z.reshape(-1) >= thr).astype(int), (y.reshape(-1) > 0.5).astype(int), 2
    else:
        C = z.shape[1]
        zc = np.moveaxis(z, 1, -1).reshape(-1, C)
        if y.shape == z.shape:
            t = np.moveaxis(y, 1, -1).reshape(-1, C).argmax(1)
        else:
            t = y.reshape(-1).astype(int)
        p = zc.argmax(1)
        keep = t != -100
        p, t = p[keep], t[keep]
    cm = np.zeros((C, C), np.int64)
    np.add.at(cm, (t, p), 1)
    tp = np.diag(cm); fp = cm.sum(0) - tp; fn = cm.sum(1) - tp
    present = (tp + fp + fn) > 0
    acc = tp.sum() / cm.sum()
    lcm = None
div = lambda a, b: np.where(b > 0, a / np.maximum(b, 1), 0.0)
prec, rec, f1 = div(tp, tp + fp), div(tp, tp + fn), div(2 * tp, 2 * tp + fp + fn)
ref = {"accuracy": float(acc), "precision": prec.tolist(), "recall": rec.tolist(), "f1": f1.tolist(),
       "support": (tp + fn).tolist(),
       "macro": [float(prec[present].mean()), float(rec[present].mean()), float(f1[present].mean())],
       "confusion": None if cm is None else cm.tolist(),
       "label_confusion": None if lcm is None else lcm.tolist(), "sklearn": False}
if kind == "binary":
    # ROC AUC of the scores: the Mann-Whitney statistic, ties counting half.
    s = z.reshape(-1)
    pos, neg = s[t == 1], s[t == 0]
    ref["roc_auc"] = float(((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (len(pos) * len(neg)))
try:
    import sklearn.metrics as M
except ImportError:
    M = None
if M is not None:
    warnings.simplefilter("ignore")
    labels = list(range(C))
    if kind == "multilabel":
        P, R, F, S = M.precision_recall_fscore_support(t, p, average=None)
        macro = M.precision_recall_fscore_support(t, p, average="macro")[:3]
        assert (M.multilabel_confusion_matrix(t, p) == lcm).all()
    else:
        P, R, F, S = M.precision_recall_fscore_support(t, p, labels=labels, average=None)
        macro = M.precision_recall_fscore_support(t, p, average="macro")[:3]
        assert (M.confusion_matrix(t, p, labels=labels) == cm).all()
    for a, b in [(P, prec), (R, rec), (F, f1), (S, tp + fn), (macro, ref["macro"])]:
        assert np.allclose(a, b, rtol=1e-12, atol=0), (a, b)
    assert abs(M.accuracy_score(t, p) - acc) < 1e-12
    if kind == "binary":
        auc = M.roc_auc_score(t, z.reshape(-1))
        assert abs(auc - ref["roc_auc"]) < 1e-12, (auc, ref["roc_auc"])
        ref["roc_auc"] = float(auc)
    ref["sklearn"] = True
print(json.dumps(ref))
`

type metricsRef struct {
	Accuracy       float64
	Precision      []float64
	Recall         []float64
	F1             []float64
	Support        []int64
	Macro          []float64
	Confusion      [][]int64
	LabelConfusion [][2][2]int64 `json:"label_confusion"`
	RocAUC         *float64      `json:"roc_auc"`
	Sklearn        bool
}

// metricsCase is one data set for Metrics: logits z and targets y, fed in batches of the
// given sizes along dimension 0.
type metricsCase struct {
	name    string
	kind    train.MetricKind // what Metrics is told; AutoKind lets it choose
	pyKind  string
	z, y    *tensor.Tensor
	batches []int
	// threshold is Metrics.Threshold (binary and multi-label), scores Metrics.Scores.
	threshold float64
	scores    loss.ScoreKind
}

func TestMetrics(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	logits := func(shape ...int) *tensor.Tensor {
		v := make([]float32, tensor.Size(shape))
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return tensor.From(shape, v)
	}
	classes := func(n, c int, shape ...int) *tensor.Tensor {
		v := make([]int64, tensor.Size(shape))
		for i := range v {
			v[i] = int64(rng.IntN(c))
		}
		return tensor.From(shape, v)
	}
	labels := func(shape ...int) *tensor.Tensor {
		v := make([]float32, tensor.Size(shape))
		for i := range v {
			v[i] = float32(rng.IntN(2))
		}
		return tensor.From(shape, v)
	}

	// Multi-class where class 4 is never a target and never predicted (its logit is low):
	// macro averages leave it out, as sklearn's do.
	mc := logits(200, 6)
	for i := range 200 {
		mc.Float32s()[i*6+4] -= 100
	}
	// Segmentation: logits [N, C, H, W], targets [N, H, W] with ignored pixels.
	seg, segY := logits(6, 3, 4, 5), classes(6, 3, 6, 4, 5)
	for i := range segY.Len() {
		if rng.IntN(7) == 0 {
			segY.Int64s()[i] = -100
		}
	}
	// Probabilities as targets, read as multi-class.
	probs := logits(50, 4)
	for i := range 50 {
		row := probs.Float32s()[i*4 : i*4+4]
		var s float32
		for j := range row {
			row[j] = float32(math.Exp(float64(row[j])))
			s += row[j]
		}
		for j := range row {
			row[j] /= s
		}
	}
	cases := []metricsCase{
		{"multiclass", train.AutoKind, "multiclass", mc, classes(200, 4, 200), []int{64, 64, 72}, 0, 0},
		{"multiclass-one-batch", train.AutoKind, "multiclass", logits(37, 3), classes(37, 3, 37), []int{37}, 0, 0},
		{"segmentation", train.AutoKind, "multiclass", seg, segY, []int{4, 2}, 0, 0},
		{"probabilities", train.MultiClass, "multiclass", logits(50, 4), probs, []int{32, 18}, 0, 0},
		{"binary", train.AutoKind, "binary", logits(90, 1), labels(90, 1), []int{40, 40, 10}, 0, 0},
		{"binary-indices", train.AutoKind, "binary", logits(90, 1), classes(90, 2, 90), []int{90}, 0, 0},
		{"binary-flat", train.AutoKind, "binary", logits(33), labels(33), []int{20, 13}, 0, 0},
		{"multilabel", train.AutoKind, "multilabel", logits(120, 5), labels(120, 5), []int{50, 50, 20}, 0, 0},
		{"binary-probabilities", train.Binary, "binary", sigmoid(logits(60, 1)), labels(60, 1), []int{60}, 0.5, loss.Probabilities},
		{"binary-ties", train.AutoKind, "binary", rounded(logits(80, 1)), labels(80, 1), []int{30, 50}, 0, 0},
		{"binary-signs", train.AutoKind, "binary", logits(40, 1), signs(labels(40, 1)), []int{25, 15}, 0, 0},
	}
	dir := t.TempDir()
	sklearn := false
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, c.name+".npz")
			if err := data.SaveNPZ(path, []string{"z", "y"}, map[string]*tensor.Tensor{"z": c.z, "y": c.y}); err != nil {
				t.Fatal(err)
			}
			var ref metricsRef
			if err := json.Unmarshal([]byte(fixture.RunPython(t, metricsPy, path, c.pyKind, strconv.FormatFloat(c.threshold, 'g', -1, 64))), &ref); err != nil {
				t.Fatal(err)
			}
			sklearn = sklearn || ref.Sklearn
			m := &train.Metrics{Kind: c.kind, Threshold: c.threshold, Scores: c.scores}
			start := 0
			for _, n := range c.batches {
				if err := m.Add(rows(c.z, start, n), rows(c.y, start, n)); err != nil {
					t.Fatal(err)
				}
				start += n
			}
			r := m.Report(nil)
			checkReport(t, r, ref, c.pyKind)
		})
	}
	if !sklearn {
		t.Logf("scikit-learn is not installed: checked against numpy formulas only")
	}
}

func checkReport(t *testing.T, r *train.Report, ref metricsRef, kind string) {
	t.Helper()
	if r.Kind.String() != kind {
		t.Errorf("kind: got %v, want %s", r.Kind, kind)
	}
	near := func(what string, got, want float64) {
		if math.Abs(got-want) > 1e-12 {
			t.Errorf("%s: got %.17g, want %.17g", what, got, want)
		}
	}
	near("accuracy", r.Accuracy, ref.Accuracy)
	if len(r.Classes) != len(ref.Precision) {
		t.Fatalf("classes: got %d, want %d", len(r.Classes), len(ref.Precision))
	}
	for i, c := range r.Classes {
		near("precision["+c.Name+"]", c.Precision, ref.Precision[i])
		near("recall["+c.Name+"]", c.Recall, ref.Recall[i])
		near("f1["+c.Name+"]", c.F1, ref.F1[i])
		if c.Support != ref.Support[i] {
			t.Errorf("support[%s]: got %d, want %d", c.Name, c.Support, ref.Support[i])
		}
	}
	near("macro precision", r.Macro.Precision, ref.Macro[0])
	near("macro recall", r.Macro.Recall, ref.Macro[1])
	near("macro f1", r.Macro.F1, ref.Macro[2])
	if !slices.EqualFunc(r.Confusion, ref.Confusion, slices.Equal) {
		t.Errorf("confusion: got %v, want %v", r.Confusion, ref.Confusion)
	}
	if !slices.Equal(r.LabelConfusion, ref.LabelConfusion) {
		t.Errorf("label confusion: got %v, want %v", r.LabelConfusion, ref.LabelConfusion)
	}
	if (r.BinaryReport != nil) != (ref.RocAUC != nil) {
		t.Fatalf("binary report %v; want one for binary kinds only", r.BinaryReport)
	}
	if b := r.BinaryReport; b != nil {
		near("roc auc", float64(b.RocAUC), *ref.RocAUC)
		cm := r.Confusion
		if b.TrueNegatives != cm[0][0] || b.FalsePositives != cm[0][1] || b.FalseNegatives != cm[1][0] || b.TruePositives != cm[1][1] {
			t.Errorf("binary counts %+v, want the confusion matrix %v", b, cm)
		}
		near("sensitivity", b.Sensitivity, ref.Recall[1])
		near("specificity", b.Specificity, ref.Recall[0])
		near("ppv", b.PPV, ref.Precision[1])
		near("npv", b.NPV, ref.Precision[0])
		near("f1", b.F1, ref.F1[1])
	}
}

// rounded rounds values to one decimal, so that scores tie.
func rounded(z *tensor.Tensor) *tensor.Tensor {
	v := slices.Clone(z.Float32s())
	for i, x := range v {
		v[i] = float32(math.Round(float64(x)*10) / 10)
	}
	return tensor.From(z.Shape(), v)
}

// sigmoid maps logits to probabilities.
func sigmoid(z *tensor.Tensor) *tensor.Tensor {
	v := slices.Clone(z.Float32s())
	for i, x := range v {
		v[i] = float32(1 / (1 + math.Exp(-float64(x))))
	}
	return tensor.From(z.Shape(), v)
}

// signs maps 0/1 labels to -1/1, the hinge loss's labels.
func signs(y *tensor.Tensor) *tensor.Tensor {
	v := slices.Clone(y.Float32s())
	for i, x := range v {
		v[i] = 2*x - 1
	}
	return tensor.From(y.Shape(), v)
}

// rows returns rows [start, start+n) of t's first dimension.
func rows(t *tensor.Tensor, start, n int) *tensor.Tensor {
	shape := slices.Clone(t.Shape())
	per := tensor.Size(shape[1:])
	shape[0] = n
	switch s := t.Data().(type) {
	case []float32:
		return tensor.From(shape, slices.Clone(s[start*per:(start+n)*per]))
	case []int64:
		return tensor.From(shape, slices.Clone(s[start*per:(start+n)*per]))
	}
	panic("rows: unexpected dtype")
}

func TestMetricsJSON(t *testing.T) {
	m := &train.Metrics{}
	if r := m.Report(nil); !math.IsNaN(r.Loss) || r.Accuracy != 0 || r.Examples != 0 {
		t.Errorf("empty report: got %+v", r)
	}
	z := tensor.From([]int{3, 3}, []float32{2, 1, 0, 0, 3, 1, 1, 0, 0})
	y := tensor.From([]int{3}, []int64{0, 1, 2})
	if err := m.Add(z, y); err != nil {
		t.Fatal(err)
	}
	r := m.Report([]string{"cat", "dog", "eel"})
	r.Loss = 0.875 // Evaluate's to set
	if r.Classes[0].Name != "cat" || r.Examples != 3 || r.Correct != 2 || r.BinaryReport != nil {
		t.Errorf("report: got %+v", r)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), `{"examples":3,"correct":2,"loss":0.875,"kind":"multiclass","accuracy":`) || strings.Contains(string(b), "roc_auc") {
		t.Errorf("json: got %s", b)
	}
	var back train.Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Loss != r.Loss || back.Kind != r.Kind || !slices.EqualFunc(back.Confusion, r.Confusion, slices.Equal) || back.Correct != 2 {
		t.Errorf("json round trip: got %+v, want %+v", back, r)
	}
	r.Loss = math.NaN()
	if b, err = json.Marshal(r); err != nil || !strings.Contains(string(b), `"loss":null`) {
		t.Errorf("NaN loss: got %s, %v; want null", b, err)
	}
}

// TestMetricsBinaryJSON: a binary report's screening numbers are top-level keys, the
// classes are named after the data set's with the positive one second, and an ROC AUC of
// one class is null.
func TestMetricsBinaryJSON(t *testing.T) {
	pos := 0
	m := &train.Metrics{Labels: loss.Labels{Classes: 2, Positive: &pos}}
	// Logits of "normal" (class 0, positive here) against "tumor": two normals, one tumor.
	z := tensor.From([]int{3, 2}, []float32{2, 1, 0, 3, 1, 0})
	if err := m.Add(z, tensor.From([]int{3}, []int64{0, 1, 0})); err != nil {
		t.Fatal(err)
	}
	r := m.Report([]string{"normal", "tumor"})
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"kind": "binary", "positive_class": "normal", "threshold": 0.5, "sensitivity": 1.0,
		"specificity": 1.0, "ppv": 1.0, "npv": 1.0, "f1": 1.0, "roc_auc": 1.0, "true_positives": 2.0,
		"false_positives": 0.0, "true_negatives": 1.0, "false_negatives": 0.0}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %v, want %v", k, got[k], v)
		}
	}
	if names := []string{r.Classes[0].Name, r.Classes[1].Name}; !slices.Equal(names, []string{"tumor", "normal"}) {
		t.Errorf("classes %v, want [tumor normal] (negative, positive)", names)
	}
	one := &train.Metrics{}
	if err := one.Add(tensor.From([]int{2, 1}, []float32{1, -1}), tensor.From([]int{2}, []int64{1, 1})); err != nil {
		t.Fatal(err)
	}
	b, err = json.Marshal(one.Report(nil))
	if err != nil || !strings.Contains(string(b), `"roc_auc":null`) {
		t.Errorf("one class: got %s, %v; want roc_auc null", b, err)
	}
}

func TestMetricsErrors(t *testing.T) {
	z := tensor.From([]int{2, 3}, []float32{1, 2, 3, 4, 5, 6})
	for _, c := range []struct {
		kind   train.MetricKind
		z, y   *tensor.Tensor
		want   string
		second *tensor.Tensor // a second batch's logits, for the mismatch case
	}{
		{train.AutoKind, z, tensor.From([]int{2}, []int64{0, 3}), "train: metrics: target class 3 is outside [0, 3)", nil},
		{train.AutoKind, z, tensor.From([]int{3}, []int64{0, 1, 2}), "train: metrics: target int64[3] does not fit output float32[2 3]", nil},
		{train.AutoKind, z, tensor.From([]int{2}, []float32{0.5, 1}), "train: metrics: target 0.5 is not a class index", nil},
		{train.Binary, z, tensor.From([]int{2}, []int64{0, 1}), "train: metrics: binary metrics of 3-class output float32[2 3] need a positive class", nil},
		{train.AutoKind, tensor.From([]int{2}, []int64{1, 2}), tensor.From([]int{2}, []int64{0, 1}), "train: metrics: the output is int64[2]; want floating-point scores", nil},
		{train.AutoKind, z, tensor.From([]int{2}, []int64{0, 1}), "train: metrics: a batch of 2-class multiclass output float32[1 2] after 3-class multiclass ones", tensor.From([]int{1, 2}, []float32{1, 2})},
	} {
		m := &train.Metrics{Kind: c.kind}
		err := m.Add(c.z, c.y)
		if c.second != nil && err == nil {
			err = m.Add(c.second, tensor.From([]int{1}, []int64{0}))
		}
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("got error %v, want %q", err, c.want)
		}
	}
}
