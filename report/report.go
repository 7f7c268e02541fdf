package report

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/onnxtune/onnxtune/internal/atomicfile"
	"github.com/onnxtune/onnxtune/train"
)

// The files of a report folder. A figure that does not apply (no history, not a binary
// classifier) is not written.
const (
	Index          = "index.html"
	LossPNG        = "loss.png"        // train and validation loss per epoch
	MetricsPNG     = "metrics.png"     // the validation metrics per epoch
	ConfusionPNG   = "confusion.png"   // the confusion matrix as a heat map, counts in the cells
	ROCPNG         = "roc.png"         // a binary classifier's ROC curve
	PRPNG          = "pr.png"          // its precision-recall curve
	ReliabilityPNG = "reliability.png" // its reliability diagram
)

// Input is what a report shows.
type Input struct {
	// Title heads the page, such as "onnxtune eval".
	Title string
	// Facts describe the run, in order: the model, the data, the loss, and whatever else the
	// caller knows.
	Facts []Fact
	// History is a training run's epochs (nil for an evaluation), BestEpoch the epoch whose
	// weights the model holds (0: the last).
	History   []train.EpochStats
	BestEpoch int
	// Eval is what train.Evaluate measured on the data EvalData names; nil for none.
	Eval     *train.Report
	EvalData string
}

// Fact is one line of the table that heads the report.
type Fact struct{ Name, Value string }

// Check makes dir, if it does not exist, and tells whether a report can be written there:
// run it before a long training run so that a bad --report fails at once.
func Check(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return fmt.Errorf("report: %s: %w", pe.Path, pe.Err)
		}
		return fmt.Errorf("report: %w", err)
	}
	f, err := os.CreateTemp(dir, ".check*")
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("report: %s: %w", dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// Write writes the report of in into dir (made if needed): the figures, then index.html. Every
// figure is drawn before the first file is written, and each file is written to a temporary
// name and renamed into place, so a failure leaves no file half-written and the previous
// index.html, if any, in place.
func Write(dir string, in Input) error {
	if err := Check(dir); err != nil {
		return err
	}
	figs, err := drawFigures(in)
	if err != nil {
		return err
	}
	page, err := renderPage(in, figs)
	if err != nil {
		return err
	}
	for _, f := range figs {
		if err := atomicfile.WriteBytes(filepath.Join(dir, f.file), f.png); err != nil {
			return fmt.Errorf("report: %w", err)
		}
	}
	if err := atomicfile.WriteBytes(filepath.Join(dir, Index), page); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// drawn is one figure, rendered, with the file it goes to and what it shows.
type drawn struct {
	file, alt string
	png       []byte
	width     int // CSS pixels: the figure's size at 96 per inch
}

// drawFigures renders every figure that applies to in.
func drawFigures(in Input) (map[string]drawn, error) {
	out := map[string]drawn{}
	add := func(file, alt string, f figure, err error) error {
		if err != nil {
			return fmt.Errorf("report: %s: %w", file, err)
		}
		b, err := f.png()
		if err != nil {
			return fmt.Errorf("report: %s: %w", file, err)
		}
		out[file] = drawn{file: file, alt: alt, png: b, width: int(math.Round(float64(f.w/vg.Inch) * 96))}
		return nil
	}
	if len(in.History) > 0 {
		f, err := lossFigure(in.History, in.BestEpoch)
		if err := add(LossPNG, "training and validation loss per epoch", f, err); err != nil {
			return nil, err
		}
		if names := rateNames(in.History); len(names) > 0 {
			f, err := metricsFigure(in.History, names, in.BestEpoch)
			if err := add(MetricsPNG, "validation metrics per epoch", f, err); err != nil {
				return nil, err
			}
		}
	}
	r := in.Eval
	if r == nil || r.Examples == 0 {
		return out, nil
	}
	if len(r.Confusion) > 0 {
		names := make([]string, len(r.Classes))
		for i, c := range r.Classes {
			names[i] = c.Name
		}
		f, err := confusionFigure(r.Confusion, names)
		if err := add(ConfusionPNG, "confusion matrix", f, err); err != nil {
			return nil, err
		}
	}
	if b := r.BinaryReport; b != nil && !math.IsNaN(float64(b.RocAUC)) {
		f, err := rocFigure(b)
		if err := add(ROCPNG, "ROC curve", f, err); err != nil {
			return nil, err
		}
		f, err = prFigure(b)
		if err := add(PRPNG, "precision-recall curve", f, err); err != nil {
			return nil, err
		}
	}
	if b := r.BinaryReport; b != nil {
		f, err := reliabilityFigure(b)
		if err := add(ReliabilityPNG, "reliability diagram", f, err); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func lossFigure(h []train.EpochStats, best int) (figure, error) {
	ss := []series{{name: "train loss"}}
	for _, e := range h {
		ss[0].xy = append(ss[0].xy, plotter.XY{X: float64(e.Epoch), Y: e.TrainLoss})
		if e.ValLoss != nil {
			if len(ss) == 1 {
				ss = append(ss, series{name: "validation loss"})
			}
			ss[1].xy = append(ss[1].xy, plotter.XY{X: float64(e.Epoch), Y: *e.ValLoss})
		}
	}
	return epochFigure("Loss per epoch", "loss", ss, best, false)
}

func metricsFigure(h []train.EpochStats, names []string, best int) (figure, error) {
	ss := make([]series, len(names))
	for i, name := range names {
		ss[i].name = metricLabel(name)
		for _, e := range h {
			if v, ok := e.Metrics[name]; ok && !math.IsNaN(v) {
				ss[i].xy = append(ss[i].xy, plotter.XY{X: float64(e.Epoch), Y: v})
			}
		}
	}
	return epochFigure("Validation metrics per epoch", "value", ss, best, true)
}

// rateOrder is the order the metrics of EpochStats appear in the figure and the tables: the
// rates, in [0, 1]. The counts (true_positives, ...) stay out of the curves.
var rateOrder = []string{"accuracy", "macro_precision", "macro_recall", "macro_f1",
	"sensitivity", "specificity", "ppv", "npv", "f1", "roc_auc", "pr_auc"}

// rateNames lists the rates of rateOrder that some epoch of h measured.
func rateNames(h []train.EpochStats) []string {
	var out []string
	for _, name := range rateOrder {
		if slices.ContainsFunc(h, func(e train.EpochStats) bool { _, ok := e.Metrics[name]; return ok }) {
			out = append(out, name)
		}
	}
	return out
}

var metricLabels = map[string]string{"accuracy": "accuracy", "macro_precision": "macro precision",
	"macro_recall": "macro recall", "macro_f1": "macro F1", "sensitivity": "sensitivity",
	"specificity": "specificity", "ppv": "PPV (precision)", "npv": "NPV", "f1": "F1",
	"roc_auc": "ROC AUC", "pr_auc": "PR AUC"}

func metricLabel(name string) string {
	if l, ok := metricLabels[name]; ok {
		return l
	}
	return name
}
