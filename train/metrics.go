package train

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"

	"github.com/onnxtune/onnxtune/loss"
	"github.com/onnxtune/onnxtune/tensor"
)

// MetricKind says how Metrics reads a model's outputs and targets.
type MetricKind int

// The kinds of classification Metrics measures.
const (
	// AutoKind decides from the first batch: a one-column output, or class-index targets of a
	// two-class data set (or of a named positive class), give Binary; other class-index
	// targets MultiClass; float targets shaped like the output MultiLabel (MultiClass for
	// log-probabilities).
	AutoKind MetricKind = iota
	// MultiClass predicts the arg-max of the scores (the first one on a tie, as torch.argmax);
	// targets are class indices, or probabilities shaped like the output, whose arg-max is the
	// true class.
	MultiClass
	// Binary scores each example by the probability of the positive class: sigmoid of a single
	// logit, or softmax of the positive class's column; it predicts positive where that
	// probability is at least Metrics.Threshold. Targets are class indices (the positive
	// class against the rest), or labels above 0.5 for positive (0/1 or -1/1).
	Binary
	// MultiLabel treats every output column as an independent binary label: predicted where its
	// probability is at least Metrics.Threshold, true where its target is above 0.5.
	MultiLabel
)

var kindNames = []string{"auto", "multiclass", "binary", "multilabel"}

// String returns "auto", "multiclass", "binary" or "multilabel".
func (k MetricKind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "MetricKind(" + strconv.Itoa(int(k)) + ")"
}

// MarshalText implements encoding.TextMarshaler with String's names.
func (k MetricKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *MetricKind) UnmarshalText(b []byte) error {
	i := slices.Index(kindNames, string(b))
	if i < 0 {
		return fmt.Errorf("train: unknown metric kind %q", b)
	}
	*k = MetricKind(i)
	return nil
}

// DefaultThreshold is the probability at or above which a binary classifier predicts the
// positive class unless told otherwise.
const DefaultThreshold = 0.5

// Metrics accumulates a classifier's accuracy, per-class precision, recall and F1, its
// confusion matrix and, for Binary, the scores that ROC AUC ranks, over batches, for the
// numbers sklearn.metrics reports on the concatenated predictions. Outputs are scores
// [N, C, d1, ...] (or [C] for one example, or [N] for one score per example): class dimension
// 1, every other position an example, so a segmentation model's pixels count one by one. The
// zero value reads logits, decides its Kind from the first batch and takes class 1 as
// positive.
type Metrics struct {
	// Kind is how outputs and targets are read; AutoKind is replaced by the first Add's choice.
	Kind MetricKind
	// Scores says what the output holds (loss.Reading's Scores); NoScores reads as Logits.
	Scores loss.ScoreKind
	// Exclusive says the classes exclude each other (a softmax classifier's, as cross-entropy
	// reads them): AutoKind then reads float targets shaped like the output as class
	// probabilities (MultiClass) rather than independent labels (MultiLabel).
	Exclusive bool
	// Labels describes the data set's classes: the class count (0: unknown) and the positive
	// class; a named positive class makes a multi-class data set Binary, one against the rest.
	Labels loss.Labels
	// IgnoreIndex is the class-index target that counts for nothing; nil means -100, PyTorch's
	// default ignore_index.
	IgnoreIndex *int64
	// Threshold is the probability at or above which Binary and MultiLabel predict positive;
	// 0 means DefaultThreshold.
	Threshold float64
	// Temperature divides a Binary classifier's log-odds (temperature scaling, FitTemperature);
	// 0 means 1.
	Temperature float64

	classes   int
	confusion []int64      // MultiClass, Binary: [true*classes + predicted]; MultiLabel: tn, fp, fn, tp per label
	exact     int64        // MultiLabel: examples whose every label is right
	n         int64        // examples (positions) counted
	scores    BinaryScores // Binary: every example's log-odds and truth
}

func (m *Metrics) temperature() float64 {
	if m.Temperature == 0 {
		return 1
	}
	return m.Temperature
}

func (m *Metrics) threshold() float64 {
	if m.Threshold == 0 {
		return DefaultThreshold
	}
	return m.Threshold
}

// Add counts one batch: the model's output and the targets, either class indices shaped like
// the output without its class dimension (an integer tensor, or float holding integers) or a
// tensor shaped like the output (0/1 labels, or class probabilities for MultiClass). Class
// indices equal to IgnoreIndex are skipped; other indices outside the classes are an error,
// as is a batch whose class count differs from the first.
func (m *Metrics) Add(output, target *tensor.Tensor) error {
	if output == nil || target == nil {
		return fmt.Errorf("train: metrics: missing output or target")
	}
	if !output.DType().IsFloat() {
		return fmt.Errorf("train: metrics: the output is %v; want floating-point scores", output)
	}
	l, err := metricLayout(output, target)
	if err != nil {
		return err
	}
	kind := m.Kind
	if kind == AutoKind {
		kind = m.autoKind(l)
	}
	pos := m.Labels.PositiveClass()
	switch {
	case kind == MultiLabel && l.indices:
		return fmt.Errorf("train: metrics: %s output %v does not fit target %v", kind, output, target)
	case kind == Binary && l.c > 2 && m.Labels.Positive == nil:
		return fmt.Errorf("train: metrics: binary metrics of %d-class output %v need a positive class", l.c, output)
	case kind == Binary && l.c > 1 && pos >= l.c:
		return fmt.Errorf("train: metrics: positive class %d is outside output %v's %d classes", pos, output, l.c)
	}
	classes := l.c
	if kind == Binary {
		classes = 2
	}
	if m.confusion == nil {
		m.Kind, m.classes = kind, classes
		if kind == MultiLabel {
			m.confusion = make([]int64, 4*classes)
		} else {
			m.confusion = make([]int64, classes*classes)
		}
	} else if m.Kind != kind || m.classes != classes {
		return fmt.Errorf("train: metrics: a batch of %d-class %s output %v after %d-class %s ones", classes, kind, output, m.classes, m.Kind)
	}
	z, y := output.ToFloat64s(), target.ToFloat64s()
	ignore := int64(-100)
	if m.IgnoreIndex != nil {
		ignore = *m.IgnoreIndex
	}
	// Class indices must name a class of the output, or of the data set for one logit.
	top := l.c
	if l.c == 1 {
		top = max(2, m.Labels.Classes)
	}
	thr := m.threshold()
	if kind == Binary {
		scores := m.Scores
		if scores == loss.NoScores {
			scores = loss.Logits
		}
		m.scores.Source = ScoreSource{Scores: scores, Width: l.c, Positive: pos, Dense: l.inner > 1}
	}
	for e := range l.n * l.inner {
		b, i := e/l.inner, e%l.inner
		at := func(c int) int { return (b*l.c+c)*l.inner + i } // index of class c of example e
		if l.indices {
			v := y[e]
			if v != math.Trunc(v) {
				return fmt.Errorf("train: metrics: target %v is not a class index", v)
			}
			if int64(v) == ignore {
				continue
			}
			if v < 0 || v >= float64(top) {
				return fmt.Errorf("train: metrics: target class %d is outside [0, %d)", int64(v), top)
			}
		}
		switch kind {
		case MultiLabel:
			all := true
			for c := range l.c {
				p, t := m.probability(z[at(c)]) >= thr, y[at(c)] > 0.5
				m.confusion[4*c+2*b2i(t)+b2i(p)]++
				all = all && p == t
			}
			m.exact += int64(b2i(all))
		case Binary:
			var truth bool
			switch {
			case l.indices:
				truth = int(y[e]) == pos
			case l.c == 1:
				truth = y[e] > 0.5
			default: // probabilities or one-hot rows
				truth = argmax(y, l.c, at) == pos
			}
			s := m.logOddsOf(z, l.c, pos, at) / m.temperature()
			m.scores.LogOdds = append(m.scores.LogOdds, s)
			m.scores.Positive = append(m.scores.Positive, truth)
			m.confusion[2*b2i(truth)+b2i(sigmoid(s) >= thr)]++
		default:
			t := int(y[e])
			if !l.indices {
				t = argmax(y, l.c, at)
			}
			m.confusion[t*classes+argmax(z, l.c, at)]++
		}
		m.n++
	}
	return nil
}

// autoKind is the kind AutoKind becomes for a batch of layout l.
func (m *Metrics) autoKind(l layout) MetricKind {
	switch {
	case l.c == 1:
		return Binary
	case l.indices && (m.Labels.Positive != nil || m.Labels.Classes == 2 || (m.Labels.Classes == 0 && l.c == 2)):
		return Binary
	case l.indices || m.Exclusive || m.Scores == loss.LogProbabilities:
		return MultiClass
	}
	return MultiLabel
}

// probability reads one output value as a probability: sigmoid of a logit, or the value
// itself for Probabilities.
func (m *Metrics) probability(v float64) float64 {
	switch m.Scores {
	case loss.Probabilities:
		return v
	case loss.LogProbabilities:
		return math.Exp(v)
	}
	return sigmoid(v)
}

// logOddsOf returns log(p / (1 - p)) for p the probability of class pos of the example whose
// class c is at z[at(c)]: the logit itself for one logit, z_pos - logsumexp(the others) for
// softmax scores. Ranking by log-odds rather than by p keeps the order of logits beyond the
// range where sigmoid rounds to 1.
func (m *Metrics) logOddsOf(z []float64, c, pos int, at func(int) int) float64 {
	if c == 1 {
		v := z[at(0)]
		switch m.Scores {
		case loss.Probabilities:
			return math.Log(v) - math.Log1p(-v)
		case loss.LogProbabilities:
			return v - math.Log(-math.Expm1(v))
		}
		return v
	}
	logp := func(k int) float64 { return z[at(k)] } // softmax is the same for logits and log-probabilities
	if m.Scores == loss.Probabilities {
		logp = func(k int) float64 { return math.Log(z[at(k)]) }
	}
	rest := math.Inf(-1)
	for k := range c {
		if k != pos {
			rest = logAddExp(rest, logp(k))
		}
	}
	return logp(pos) - rest
}

// logAddExp is log(exp(a) + exp(b)) without overflow.
func logAddExp(a, b float64) float64 {
	if a < b {
		a, b = b, a
	}
	if math.IsInf(a, -1) {
		return a
	}
	return a + math.Log1p(math.Exp(b-a))
}

// sigmoid is 1/(1+exp(-x)), evaluated so that exp never overflows.
func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// layout views an output as [n, c, inner]: c classes (the output's dimension 1, or its only
// dimension for one example), n*inner examples.
type layout struct {
	n, c, inner int
	indices     bool // targets are class indices, shaped like the output without dimension 1
}

func metricLayout(z, t *tensor.Tensor) (layout, error) {
	zs, ts := z.Shape(), t.Shape()
	var l layout
	switch {
	case len(zs) == 0:
		return l, fmt.Errorf("train: metrics: the output is a scalar; want logits [N, C, ...]")
	case slices.Equal(zs, ts) && len(zs) == 1:
		l = layout{n: zs[0], c: 1, inner: 1} // one logit per example, labels alike
	case slices.Equal(zs, ts):
		l = layout{n: zs[0], c: zs[1], inner: tensor.Size(zs[2:])}
	case len(zs) == 1 && len(ts) == 0:
		l = layout{n: 1, c: zs[0], inner: 1, indices: true}
	case len(zs) >= 2 && len(ts) == len(zs)-1 && ts[0] == zs[0] && slices.Equal(ts[1:], zs[2:]):
		l = layout{n: zs[0], c: zs[1], inner: tensor.Size(zs[2:]), indices: true}
	default:
		return l, fmt.Errorf("train: metrics: target %v does not fit output %v: want class indices [N, d1, ...] for logits [N, C, d1, ...], or labels shaped like the output", t, z)
	}
	if l.c == 0 {
		return l, fmt.Errorf("train: metrics: the output %v has no classes", z)
	}
	if l.indices && t.DType() != tensor.Int64 && !t.DType().IsInteger() && !t.DType().IsFloat() {
		return l, fmt.Errorf("train: metrics: class-index target %v is not numeric", t)
	}
	return l, nil
}

func argmax(v []float64, c int, at func(int) int) int {
	best := 0
	for k := 1; k < c; k++ {
		if v[at(k)] > v[at(best)] {
			best = k
		}
	}
	return best
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Report is what Metrics measured.
type Report struct {
	Kind MetricKind `json:"kind"`
	// Examples counts the predictions scored (examples times positions for dense outputs);
	// Correct those right (for MultiLabel: examples with every label right).
	Examples, Correct int64 `json:"-"`
	// Loss is the loss of the whole data set (Evaluate sets it), NaN (JSON null) when none
	// was measured.
	Loss float64 `json:"-"`
	// Accuracy is Correct / Examples: sklearn's accuracy_score, the exact-match ratio for
	// MultiLabel.
	Accuracy float64 `json:"accuracy"`
	// Classes lists every class (label for MultiLabel) in order.
	Classes []ClassMetrics `json:"classes"`
	// Macro averages precision, recall and F1 over the classes that occur as a target or a
	// prediction, as sklearn's average="macro" does (over every label for MultiLabel).
	Macro Averages `json:"macro"`
	// Confusion counts examples by true class (row) and predicted class (column), as
	// sklearn's confusion_matrix; nil for MultiLabel.
	Confusion [][]int64 `json:"confusion,omitempty"`
	// LabelConfusion holds, for MultiLabel, each label's [[tn, fp], [fn, tp]], as sklearn's
	// multilabel_confusion_matrix.
	LabelConfusion [][2][2]int64 `json:"label_confusion,omitempty"`
	// Binary holds a Binary report's screening numbers; nil for other kinds.
	*BinaryReport
}

// Metrics returns the report's headline numbers by name, as EpochStats.Metrics records them:
// accuracy and the macro averages, and for Binary the screening numbers and counts.
func (r *Report) Metrics() map[string]float64 {
	m := map[string]float64{"accuracy": r.Accuracy, "macro_precision": r.Macro.Precision,
		"macro_recall": r.Macro.Recall, "macro_f1": r.Macro.F1}
	if b := r.BinaryReport; b != nil {
		maps.Copy(m, map[string]float64{"sensitivity": b.Sensitivity, "specificity": b.Specificity,
			"ppv": b.PPV, "npv": b.NPV, "f1": b.F1,
			"true_positives": float64(b.TruePositives), "false_positives": float64(b.FalsePositives),
			"true_negatives": float64(b.TrueNegatives), "false_negatives": float64(b.FalseNegatives)})
		if auc := float64(b.RocAUC); !math.IsNaN(auc) {
			m["roc_auc"] = auc
		}
	}
	return m
}

// ClassMetrics is one class's precision tp/(tp+fp), recall tp/(tp+fn) and F1
// 2tp/(2tp+fp+fn), each 0 when its denominator is (sklearn's zero_division default), and its
// support, the number of examples of the class.
type ClassMetrics struct {
	Name      string  `json:"name"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
	Support   int64   `json:"support"`
}

// Averages are precision, recall and F1 averaged over classes.
type Averages struct {
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
}

// MarshalJSON writes the report with "examples", "correct" and "loss" (null when it is NaN or
// infinite, which JSON cannot hold) first, and nothing else when no metrics were measured
// (Kind is AutoKind).
func (r *Report) MarshalJSON() ([]byte, error) {
	type fields Report
	var lossValue *float64
	if !math.IsNaN(r.Loss) && !math.IsInf(r.Loss, 0) {
		lossValue = &r.Loss
	}
	if r.Kind == AutoKind {
		return json.Marshal(struct {
			Examples int64    `json:"examples"`
			Correct  int64    `json:"correct"`
			Loss     *float64 `json:"loss"`
		}{r.Examples, r.Correct, lossValue})
	}
	return json.Marshal(struct {
		Examples int64    `json:"examples"`
		Correct  int64    `json:"correct"`
		Loss     *float64 `json:"loss"`
		*fields
	}{r.Examples, r.Correct, lossValue, (*fields)(r)})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (r *Report) UnmarshalJSON(b []byte) error {
	type fields Report
	v := struct {
		Examples int64    `json:"examples"`
		Correct  int64    `json:"correct"`
		Loss     *float64 `json:"loss"`
		*fields
	}{fields: (*fields)(r)}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	r.Examples, r.Correct, r.Loss = v.Examples, v.Correct, math.NaN()
	if v.Loss != nil {
		r.Loss = *v.Loss
	}
	return nil
}

// Report computes the metrics of everything added so far. names name the data set's classes
// (MultiLabel: the labels); classes without a name are named by their index. A Binary report
// names its two classes after the data set's: [negative, positive] of a two-class data set,
// or "not X" and X for a positive class X against the rest.
func (m *Metrics) Report(names []string) *Report {
	r := &Report{Kind: m.Kind, Examples: m.n, Loss: math.NaN()}
	name := func(c int) string { return ClassName(names, c) }
	if m.Kind == Binary {
		pos := m.Labels.PositiveClass()
		neg := "not " + name(pos)
		if m.Labels.Classes <= 2 {
			neg = name(1 - min(pos, 1))
		}
		binaryNames := []string{neg, name(pos)}
		name = func(c int) string { return binaryNames[c] }
	}
	var present int
	for c := range m.classes {
		var tp, fp, fn int64
		if m.Kind == MultiLabel {
			cm := m.confusion[4*c : 4*c+4]
			r.LabelConfusion = append(r.LabelConfusion, [2][2]int64{{cm[0], cm[1]}, {cm[2], cm[3]}})
			tp, fp, fn = cm[3], cm[1], cm[2]
		} else {
			row := m.confusion[c*m.classes : (c+1)*m.classes]
			r.Confusion = append(r.Confusion, slices.Clone(row))
			tp = row[c]
			r.Correct += tp
			for k := range m.classes {
				if k != c {
					fn += row[k]
					fp += m.confusion[k*m.classes+c]
				}
			}
		}
		cm := ClassMetrics{Name: name(c), Precision: ratio(tp, tp+fp), Recall: ratio(tp, tp+fn), F1: ratio(2*tp, 2*tp+fp+fn), Support: tp + fn}
		r.Classes = append(r.Classes, cm)
		if m.Kind == MultiLabel || tp+fp+fn > 0 {
			present++
			r.Macro.Precision += cm.Precision
			r.Macro.Recall += cm.Recall
			r.Macro.F1 += cm.F1
		}
	}
	if m.Kind == MultiLabel {
		r.Correct = m.exact
	}
	if present > 0 {
		r.Macro.Precision /= float64(present)
		r.Macro.Recall /= float64(present)
		r.Macro.F1 /= float64(present)
	}
	r.Accuracy = ratio(r.Correct, r.Examples)
	if m.Kind == Binary {
		r.BinaryReport = m.scores.Report(name(1), m.threshold())
	}
	return r
}

// ratio is a/b, 0 when b is 0.
func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}
