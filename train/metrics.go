package train

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"math"
	"slices"
	"strconv"

	"github.com/onnxtune/onnxtune/backprop"
	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/loss"
	"github.com/onnxtune/onnxtune/tensor"
)

// MetricKind says how Metrics reads a model's outputs and targets.
type MetricKind int

// The kinds of classification Metrics measures.
const (
	// AutoKind decides from the first batch: class-index targets give MultiClass (Binary when
	// the output has one class), float targets shaped like the output give MultiLabel (Binary
	// for one output column).
	AutoKind MetricKind = iota
	// MultiClass predicts the arg-max of the logits (the first one on a tie, as torch.argmax);
	// targets are class indices, or probabilities shaped like the output, whose arg-max is the
	// true class.
	MultiClass
	// Binary predicts class 1 where the single logit is above 0 (Metrics.Threshold; a
	// probability above 0.5); targets above 0.5 are class 1, so labels may be 0/1 or -1/1.
	// Both classes are reported.
	Binary
	// MultiLabel treats every output column as an independent binary label: predicted where its
	// logit is above 0 (Metrics.Threshold), true where its target is above 0.5.
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

// Metrics accumulates a classifier's loss, accuracy, per-class precision, recall and F1 and its
// confusion matrix over batches, for the numbers sklearn.metrics reports on the concatenated
// predictions. Outputs are logits [N, C, d1, ...] (or [C] for one example): class dimension 1,
// every other position an example, so a segmentation model's pixels count one by one. The zero
// value is ready to use and decides its Kind from the first batch.
type Metrics struct {
	// Kind is how outputs and targets are read; AutoKind is replaced by the first Add's choice.
	Kind MetricKind
	// IgnoreIndex is the class-index target that counts for nothing; nil means -100, PyTorch's
	// default ignore_index.
	IgnoreIndex *int64
	// Threshold is the output value above which Binary and MultiLabel predict the positive
	// class: 0 (the zero value) for logits, 0.5 for probabilities.
	Threshold float64

	classes   int
	confusion []int64 // MultiClass, Binary: [true*classes + predicted]; MultiLabel: tn, fp, fn, tp per label
	exact     int64   // MultiLabel: examples whose every label is right
	n         int64   // examples (positions) counted
	lossSum   float64
	lossN     int64
}

// Add counts one batch: the model's output and the targets, either class indices shaped like
// the output without its class dimension (an int64 tensor, or float holding integers) or a
// tensor shaped like the output (0/1 labels, or class probabilities for MultiClass). Class
// indices equal to IgnoreIndex are skipped; other indices outside [0, C) are an error, as is a
// batch whose class count differs from the first.
func (m *Metrics) Add(output, target *tensor.Tensor) error {
	if output == nil || target == nil {
		return fmt.Errorf("train: metrics: missing output or target")
	}
	if !output.DType().IsFloat() {
		return fmt.Errorf("train: metrics: the output is %v; want floating-point logits", output)
	}
	l, err := metricLayout(output, target)
	if err != nil {
		return err
	}
	kind := m.Kind
	if kind == AutoKind {
		switch {
		case l.c == 1:
			kind = Binary
		case l.indices:
			kind = MultiClass
		default:
			kind = MultiLabel
		}
	}
	if (kind == Binary && l.c != 1) || (kind == MultiLabel && l.indices) {
		return fmt.Errorf("train: metrics: %s output %v does not fit target %v", kind, output, target)
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
	for e := range l.n * l.inner {
		b, i := e/l.inner, e%l.inner
		at := func(c int) int { return (b*l.c+c)*l.inner + i } // index of class c of example e
		switch {
		case kind == MultiLabel:
			all := true
			for c := range l.c {
				p, t := z[at(c)] > m.Threshold, y[at(c)] > 0.5
				m.confusion[4*c+2*b2i(t)+b2i(p)]++
				all = all && p == t
			}
			m.exact += int64(b2i(all))
		case kind == Binary:
			if l.indices && y[e] == float64(ignore) {
				continue
			}
			m.confusion[2*b2i(y[e] > 0.5)+b2i(z[at(0)] > m.Threshold)]++
		case l.indices:
			v := y[e]
			if v != math.Trunc(v) {
				return fmt.Errorf("train: metrics: target %v is not a class index", v)
			}
			if int64(v) == ignore {
				continue
			}
			if v < 0 || v >= float64(classes) {
				return fmt.Errorf("train: metrics: target class %d is outside [0, %d)", int64(v), classes)
			}
			m.confusion[int(v)*classes+argmax(z, l.c, at)]++
		default: // MultiClass with probabilities
			m.confusion[argmax(y, l.c, at)*classes+argmax(z, l.c, at)]++
		}
		m.n++
	}
	return nil
}

// AddLoss records a batch's loss, the mean over its n examples. Report's Loss is the mean
// over all examples, sum(loss_b * n_b) / sum(n_b), what a PyTorch evaluation loop that
// accumulates loss.item() * len(x) reports; it equals the loss of the whole data set in one
// batch for losses that average over examples without weights.
func (m *Metrics) AddLoss(loss float64, n int) {
	m.lossSum += loss * float64(n)
	m.lossN += int64(n)
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
	// Loss is the mean loss over the examples (see AddLoss), NaN (JSON null) when none was added.
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

// Report computes the metrics of everything added so far. names name the classes (labels);
// classes without a name are named by their index.
func (m *Metrics) Report(names []string) *Report {
	r := &Report{Kind: m.Kind, Examples: m.n, Loss: math.NaN()}
	if m.lossN > 0 {
		r.Loss = m.lossSum / float64(m.lossN)
	}
	name := func(c int) string {
		if c < len(names) && names[c] != "" {
			return names[c]
		}
		return strconv.Itoa(c)
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
	return r
}

// ratio is a/b, 0 when b is 0.
func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// EvalOptions says what Evaluate measures.
type EvalOptions struct {
	// Loss is the loss expression to average over the data set; nil for none. Its terms must
	// read Output; its penalties (such as l2) are added to every batch's loss, as in training.
	Loss *loss.Expr
	// Output is the graph output that the loss and the metrics read; "" for the first.
	Output string
	// Kind and IgnoreIndex set up the Metrics (see there).
	Kind        MetricKind
	IgnoreIndex *int64
	// Classes name the classes in the report; nil names them by index.
	Classes []string
	// Graph is the context each batch runs in; nil runs in inference mode.
	Graph *graph.Context
}

// Evaluate runs plan on every batch (feeding a batch's X to the model's only input) and
// measures the loss and metrics of the chosen output against the batches' Y. The metrics are
// left out (Report.Examples is 0) when the loss has no classification term, as for mse. It
// stops at the first error of the batches, of the model or of the loss, or when ctx is done.
func Evaluate(ctx context.Context, plan *graph.Plan, batches iter.Seq2[*data.Batch, error], opt EvalOptions) (*Report, error) {
	g := plan.Graph
	if len(g.Inputs) != 1 {
		return nil, fmt.Errorf("train: evaluate: the model has %d inputs; evaluation feeds one", len(g.Inputs))
	}
	if len(g.Outputs) == 0 {
		return nil, fmt.Errorf("train: evaluate: the model has no outputs")
	}
	output := opt.Output
	if output == "" {
		output = g.Outputs[0].Name
	}
	if !slices.ContainsFunc(g.Outputs, func(v graph.ValueInfo) bool { return v.Name == output }) {
		return nil, fmt.Errorf("train: evaluate: the model has no output %q", output)
	}
	var penalty float64
	if opt.Loss != nil {
		for _, t := range opt.Loss.Terms {
			if t.Loss != nil && t.Output != "" && t.Output != output {
				return nil, fmt.Errorf("train: evaluate: term %q reads output %q; the data has targets for %q only", t.Text, t.Output, output)
			}
			if t.Penalty != nil {
				weights := map[string]*tensor.Tensor{}
				for _, name := range backprop.Trainable(g) {
					weights[name] = g.Initializers[name]
				}
				v, _ := t.Penalty.Eval(weights)
				penalty += t.Weight * v
			}
		}
	}
	m := &Metrics{Kind: opt.Kind, IgnoreIndex: opt.IgnoreIndex}
	classifier := opt.Loss == nil || fitLoss(m, opt.Loss)
	input := g.Inputs[0].Name
	for b, err := range batches {
		if err != nil {
			return nil, err
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("train: evaluate: %w", err)
		}
		outs, err := plan.Run(opt.Graph, map[string]*tensor.Tensor{input: b.X})
		if err != nil {
			return nil, err
		}
		z := outs[output]
		if opt.Loss != nil {
			value := penalty
			for _, t := range opt.Loss.Terms {
				if t.Loss == nil {
					continue
				}
				v, _, err := t.Loss.Eval(z, b.Y)
				if err != nil {
					return nil, fmt.Errorf("train: evaluate: term %q: %w", t.Text, err)
				}
				value += t.Weight * v
			}
			m.AddLoss(value, b.X.Shape()[0])
		}
		if !classifier {
			continue
		}
		if err := m.Add(z, b.Y); err != nil {
			return nil, err
		}
	}
	return m.Report(opt.Classes), nil
}

// fitLoss sets up m to read the output the way e's losses do, where the caller left that
// open: softmax losses (cross-entropy, nll) make float targets class probabilities
// (MultiClass) and skip their ignore_index; bce reads probabilities, so its threshold is 0.5.
// It reports whether e has a classification loss at all: the metrics of an output that only
// regression or embedding losses read mean nothing.
func fitLoss(m *Metrics, e *loss.Expr) bool {
	classifier := false
	for _, t := range e.Terms {
		var ignore *int64
		switch l := t.Loss.(type) {
		case loss.CrossEntropy:
			ignore = l.IgnoreIndex
		case loss.NLLLoss:
			ignore = l.IgnoreIndex
		case loss.BCE:
			if m.Threshold == 0 {
				m.Threshold = 0.5
			}
			classifier = true
			continue
		case loss.BCEWithLogits, loss.MedicalBCE, loss.Focal, loss.Hinge:
			classifier = true
			continue
		default:
			continue
		}
		classifier = true
		if m.Kind == AutoKind {
			m.Kind = MultiClass
		}
		if m.IgnoreIndex == nil {
			m.IgnoreIndex = ignore
		}
	}
	return classifier
}
