package train

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Monitor is what early stopping and the best weights follow: the validation loss (lower is
// better), or a validation metric (higher is better), such as val_roc_auc or the
// sensitivity reachable at a minimum specificity, val_sensitivity@spec=0.9.
type Monitor struct {
	name     string  // as ParseMonitor read it, without "val_": "loss", "roc_auc", "sensitivity@spec=0.9"
	metric   string  // the Report metric, "loss" for the loss
	at       string  // "spec" or "sens" for a constrained one, "" otherwise
	atLeast  float64 // the constraint's minimum
	maximize bool
}

// monitorMetrics are the metrics a Monitor can follow besides the loss; the binary ones need
// a binary classifier.
var (
	monitorMetrics       = []string{"accuracy", "macro_precision", "macro_recall", "macro_f1"}
	monitorBinaryMetrics = []string{"sensitivity", "specificity", "ppv", "npv", "f1", "roc_auc", "pr_auc"}
)

// ParseMonitor reads a monitor: val_loss (the default, for ""), val_accuracy,
// val_macro_precision, val_macro_recall, val_macro_f1, and for binary classifiers
// val_sensitivity, val_specificity, val_ppv, val_npv, val_f1, val_roc_auc (or val_auc),
// val_pr_auc, val_sensitivity@spec=X (the highest sensitivity at any threshold whose
// specificity is at least X) and val_specificity@sens=X.
func ParseMonitor(s string) (Monitor, error) {
	spec := strings.TrimSpace(s)
	if spec == "" {
		spec = "val_loss"
	}
	name, ok := strings.CutPrefix(spec, "val_")
	if !ok {
		return Monitor{}, fmt.Errorf("train: monitor %q: want val_loss, val_<metric> or val_sensitivity@spec=X (%s)", s, monitorHelp())
	}
	if name == "auc" {
		name = "roc_auc"
	}
	m := Monitor{name: name, metric: name, maximize: true}
	if base, cons, ok := strings.Cut(name, "@"); ok {
		key, val, _ := strings.Cut(cons, "=")
		x, err := strconv.ParseFloat(val, 64)
		switch {
		case base == "sensitivity" && key == "spec", base == "specificity" && key == "sens":
		default:
			return Monitor{}, fmt.Errorf("train: monitor %q: want val_sensitivity@spec=X or val_specificity@sens=X", s)
		}
		if err != nil || !(x >= 0 && x <= 1) {
			return Monitor{}, fmt.Errorf("train: monitor %q: %q is not a rate in [0, 1]", s, val)
		}
		m.metric, m.at, m.atLeast = base, key, x
		m.name = base + "@" + key + "=" + strconv.FormatFloat(x, 'g', -1, 64)
		return m, nil
	}
	switch {
	case name == "loss":
		m.maximize = false
	case slices.Contains(monitorMetrics, name), slices.Contains(monitorBinaryMetrics, name):
	default:
		return Monitor{}, fmt.Errorf("train: monitor %q: no such metric (%s)", s, monitorHelp())
	}
	return m, nil
}

func monitorHelp() string {
	var names []string
	for _, n := range slices.Concat([]string{"loss"}, monitorMetrics, monitorBinaryMetrics) {
		names = append(names, "val_"+n)
	}
	return strings.Join(names, ", ") + ", val_sensitivity@spec=X, val_specificity@sens=X"
}

// String returns the monitor's spelling, e.g. "val_roc_auc".
func (m Monitor) String() string {
	if m.name == "" {
		return "val_loss"
	}
	return "val_" + m.name
}

// key is the EpochStats.Metrics key of the monitored value ("" for the loss, ValLoss).
func (m Monitor) key() string {
	if m.name == "" || m.name == "loss" {
		return ""
	}
	return m.name
}

// Better reports whether a is better than b.
func (m Monitor) Better(a, b float64) bool {
	if m.maximize {
		return a > b
	}
	return a < b
}

// worst is the value every real one beats.
func (m Monitor) worst() float64 {
	if m.maximize {
		return math.Inf(-1)
	}
	return math.Inf(1)
}

// needsBinary reports whether the monitor reads a binary classifier's numbers.
func (m Monitor) needsBinary() bool {
	return m.at != "" || slices.Contains(monitorBinaryMetrics, m.metric)
}

// Value reads the monitored value off a validation report whose loss is r.Loss.
func (m Monitor) Value(r *Report) (float64, error) {
	switch {
	case m.key() == "":
		return r.Loss, nil
	case m.needsBinary() && r.BinaryReport == nil:
		return 0, fmt.Errorf("train: monitor %s: the validation data and model are no binary classifier's (one logit, a two-class data set, or a named positive class)", m)
	case m.at == "spec":
		return r.Scores.SensitivityAtSpecificity(m.atLeast), nil
	case m.at == "sens":
		return r.Scores.SpecificityAtSensitivity(m.atLeast), nil
	case r.Kind == AutoKind:
		return 0, fmt.Errorf("train: monitor %s: the loss is no classifier's; only val_loss can be monitored", m)
	}
	v, ok := r.Metrics()[m.metric]
	if !ok || math.IsNaN(v) {
		return 0, fmt.Errorf("train: monitor %s: the validation data gives no %s (it holds one class only?)", m, m.metric)
	}
	return v, nil
}

// Of is the monitored value of a recorded epoch; ok is false without validation.
func (m Monitor) Of(s EpochStats) (v float64, ok bool) {
	if k := m.key(); k != "" {
		v, ok = s.Metrics[k]
		return v, ok
	}
	if s.ValLoss == nil {
		return 0, false
	}
	return *s.ValLoss, true
}
