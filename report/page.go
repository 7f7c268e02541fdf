package report

import (
	"bytes"
	"fmt"
	"html/template"
	"math"
	"strconv"

	"github.com/onnxtune/onnxtune/train"
)

// page is what index.html's template reads.
type page struct {
	Title string
	Facts []Fact

	Epochs    *table
	CurveFigs []img

	EvalData                 string
	Summary, Classes, Matrix *table
	EvalFigs                 []img
}

// img is a figure as the page shows it: its file beside index.html, its alt text and its
// width in CSS pixels.
type img struct {
	File, Alt string
	Width     int
}

// table is one HTML table: a header row, rows of cells, and a note below it.
type table struct {
	Head []string
	Rows []row
	Note string
}

// row is a table's row; Mark highlights it.
type row struct {
	Cells []string
	Mark  bool
}

func (t *table) add(cells ...string) { t.Rows = append(t.Rows, row{Cells: cells}) }

// renderPage writes index.html: the facts, the epochs and their curves, then the evaluation's
// numbers and figures. Images are referenced by their file name, beside index.html.
func renderPage(in Input, figs map[string]drawn) ([]byte, error) {
	pg := page{Title: in.Title, Facts: in.Facts, EvalData: in.EvalData}
	pick := func(files ...string) []img {
		var out []img
		for _, f := range files {
			if d, ok := figs[f]; ok {
				out = append(out, img{File: d.file, Alt: d.alt, Width: d.width})
			}
		}
		return out
	}
	if len(in.History) > 0 {
		pg.Epochs = epochTable(in.History, in.BestEpoch)
		pg.CurveFigs = pick(LossPNG, MetricsPNG)
	}
	if r := in.Eval; r != nil && r.Examples > 0 {
		pg.Summary, pg.Classes, pg.Matrix = summaryTable(r), classTable(r), matrixTable(r)
		pg.EvalFigs = pick(ConfusionPNG, ROCPNG, PRPNG, ReliabilityPNG)
	} else if r != nil {
		pg.Summary = &table{Head: []string{"measure", "value"}}
		pg.Summary.add("loss", num(r.Loss))
	}
	var b bytes.Buffer
	if err := pageTemplate.Execute(&b, pg); err != nil {
		return nil, fmt.Errorf("report: %s: %w", Index, err)
	}
	return b.Bytes(), nil
}

// num formats a measured number; NaN, which JSON writes as null, reads "undefined".
func num(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "undefined"
	}
	return strconv.FormatFloat(v, 'f', 4, 64)
}

func epochTable(h []train.EpochStats, best int) *table {
	names := rateNames(h)
	t := &table{Head: []string{"epoch", "train loss", "validation loss", "learning rate"}}
	for _, n := range names {
		t.Head = append(t.Head, metricLabel(n))
	}
	for _, e := range h {
		val := "—"
		if e.ValLoss != nil {
			val = num(*e.ValLoss)
		}
		cells := []string{strconv.Itoa(e.Epoch), num(e.TrainLoss), val, strconv.FormatFloat(e.LR, 'g', 4, 64)}
		for _, n := range names {
			if v, ok := e.Metrics[n]; ok {
				cells = append(cells, num(v))
			} else {
				cells = append(cells, "—")
			}
		}
		t.Rows = append(t.Rows, row{Cells: cells, Mark: e.Epoch == best})
	}
	if best > 0 {
		t.Note = fmt.Sprintf("The model holds the weights of epoch %d, the lowest validation loss (highlighted).", best)
	}
	return t
}

// summaryTable lists the headline numbers, a binary classifier's with their bootstrap
// intervals where there are some.
func summaryTable(r *train.Report) *table {
	t := &table{Head: []string{"measure", "value"}}
	t.add("examples", strconv.FormatInt(r.Examples, 10))
	t.add("loss", num(r.Loss))
	t.add("accuracy", fmt.Sprintf("%s (%d of %d)", num(r.Accuracy), r.Correct, r.Examples))
	t.add("macro precision", num(r.Macro.Precision))
	t.add("macro recall", num(r.Macro.Recall))
	t.add("macro F1", num(r.Macro.F1))
	b := r.BinaryReport
	if b == nil {
		return t
	}
	common := len(t.Rows) // the rows without intervals
	// rate adds a row of a metric with its interval, when the report has intervals.
	rate := func(name, value, key string) {
		if len(b.CI) == 0 {
			t.add(name, value)
		} else if c, ok := b.CI[key]; ok {
			t.add(name, value, fmt.Sprintf("[%s, %s]", num(c[0]), num(c[1])))
		} else {
			t.add(name, value, "")
		}
	}
	tp, fp, tn, fn := b.TruePositives, b.FalsePositives, b.TrueNegatives, b.FalseNegatives
	how := ""
	if b.TargetSensitivity != nil {
		how = fmt.Sprintf(" (the highest with sensitivity at least %g on %s)", *b.TargetSensitivity, b.ThresholdData)
	}
	rate("positive class", b.PositiveClass, "")
	rate("threshold", strconv.FormatFloat(b.Threshold, 'g', 6, 64)+how, "")
	switch {
	case b.ModelDecision:
		rate("temperature", fmt.Sprintf("%.4g (the model's own decision's, fitted on %s)", b.Temperature, b.CalibrationData), "")
	case b.Temperature != 0:
		rate("temperature", fmt.Sprintf("%.4g (fitted on %s; ECE there %.4f before, %.4f after)", b.Temperature, b.CalibrationData, b.ECEBefore, b.ECEAfter), "")
	}
	rate("sensitivity", fmt.Sprintf("%s (%d of %d)", num(b.Sensitivity), tp, tp+fn), "sensitivity")
	rate("specificity", fmt.Sprintf("%s (%d of %d)", num(b.Specificity), tn, tn+fp), "specificity")
	rate("PPV (precision)", fmt.Sprintf("%s (%d of %d)", num(b.PPV), tp, tp+fp), "ppv")
	rate("NPV", fmt.Sprintf("%s (%d of %d)", num(b.NPV), tn, tn+fn), "npv")
	rate("F1", num(b.F1), "f1")
	rate("ROC AUC", num(float64(b.RocAUC)), "roc_auc")
	rate("PR AUC (average precision)", num(float64(b.PRAUC)), "pr_auc")
	rate("expected calibration error", fmt.Sprintf("%s (%d bins, on this data)", num(b.Scores.ECE(1)), train.ECEBins), "")
	rate("counts", fmt.Sprintf("TP %d, FP %d, TN %d, FN %d", tp, fp, tn, fn), "")
	if len(b.CI) > 0 {
		for i := range t.Rows[:common] {
			t.Rows[i].Cells = append(t.Rows[i].Cells, "")
		}
		t.Head = append(t.Head, "95% interval")
		t.Note = fmt.Sprintf("Intervals: 2.5th and 97.5th percentiles over %d bootstrap resamples.", b.Bootstrap)
	}
	return t
}

func classTable(r *train.Report) *table {
	t := &table{Head: []string{"class", "precision", "recall", "F1", "support"}}
	if r.Kind == train.MultiLabel {
		t.Head[0] = "label"
	}
	for _, c := range r.Classes {
		t.add(c.Name, num(c.Precision), num(c.Recall), num(c.F1), strconv.FormatInt(c.Support, 10))
	}
	return t
}

// matrixTable is the confusion matrix as numbers (rows: true class), or each label's counts
// for a multi-label classifier; nil for more classes than maxCellText.
func matrixTable(r *train.Report) *table {
	if r.Kind == train.MultiLabel {
		t := &table{Head: []string{"label", "TN", "FP", "FN", "TP"}}
		for i, cm := range r.LabelConfusion {
			t.add(r.Classes[i].Name, fmt.Sprint(cm[0][0]), fmt.Sprint(cm[0][1]), fmt.Sprint(cm[1][0]), fmt.Sprint(cm[1][1]))
		}
		return t
	}
	if len(r.Confusion) > maxCellText || len(r.Confusion) == 0 {
		return nil
	}
	t := &table{Head: []string{"true \\ predicted"}, Note: "Rows: true class; columns: predicted class."}
	for i, row := range r.Confusion {
		t.Head = append(t.Head, r.Classes[i].Name)
		cells := []string{r.Classes[i].Name}
		for _, v := range row {
			cells = append(cells, strconv.FormatInt(v, 10))
		}
		t.add(cells...)
	}
	return t
}

var pageTemplate = template.Must(template.New(Index).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{.Title}}</title>
<style>
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.3em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.8em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f0f0f0; }
.scroll { overflow-x: auto; }
tr.mark td { background: #fff3c4; }
.facts td:last-child { text-align: left; font-family: monospace; }
p.note { color: #555; font-size: 0.9em; margin-top: 0; }
figure { display: inline-block; margin: 0.5em 1em 0.5em 0; vertical-align: top; }
figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<table class="facts">
{{range .Facts}}<tr><td>{{.Name}}</td><td>{{.Value}}</td></tr>
{{end}}</table>
{{define "table"}}<div class="scroll"><table>
<tr>{{range .Head}}<th>{{.}}</th>{{end}}</tr>
{{range .Rows}}<tr{{if .Mark}} class="mark"{{end}}>{{range .Cells}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table></div>
{{with .Note}}<p class="note">{{.}}</p>{{end}}{{end}}
{{define "figures"}}{{range .}}<figure><img src="{{.File}}" alt="{{.Alt}}" width="{{.Width}}"></figure>
{{end}}{{end}}
{{with .Epochs}}<h2>Training</h2>
{{template "figures" $.CurveFigs}}
{{template "table" .}}{{end}}
{{with .Summary}}<h2>Evaluation{{with $.EvalData}} on {{.}}{{end}}</h2>
{{template "table" .}}{{end}}
{{with .Classes}}<h3>Per class</h3>
{{template "table" .}}{{end}}
{{with .Matrix}}<h3>Confusion</h3>
{{template "table" .}}{{end}}
{{template "figures" .EvalFigs}}
</body>
</html>
`))
