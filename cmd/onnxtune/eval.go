package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/report"
	"github.com/onnxtune/onnxtune/train"
)

func init() {
	register(command{"eval", "measure a model's loss, accuracy, per-class precision/recall/F1, confusion matrix and a binary classifier's screening numbers on a data set", runEval})
}

// maxConfusionText is the largest class count whose confusion matrix the text report prints;
// --json always has it.
const maxConfusionText = 30

func runEval(args []string, stdout io.Writer) error {
	fs := newFlags("eval", "MODEL.onnx --data D [--loss SPEC] [--positive-class NAME|INDEX] [--batch-size B] [--mean M1,M2,...] [--std S1,S2,...] [--json] [--report DIR]", stdout)
	dataPath := fs.String("data", "", "the data set `D`: an .npz with x (or the input's name) and y, IDX files (a prefix such as .../fashion-mnist/t10k, or a directory, whose t10k split is read), or an image folder D/<class>/*.png|jpg|...")
	spec := fs.String("loss", "", "the loss expression `SPEC` to measure on the whole data set (see 'onnxtune losses'); default: the loss the model was trained with (its onnxtune metadata), else bce-logits for one logit and cross-entropy for two or more")
	classWeights := fs.String("class-weights", "", "per-class weights `W1,W2,...` for the losses that take them (default: the recorded loss's)")
	positive := fs.String("positive-class", "", "the positive class of a binary classifier, by `NAME|INDEX` (default: the class the model was trained for, else label 1); on more classes, that class against the rest")
	output := fs.String("output", "", "the graph output `NAME` to evaluate (default: the first)")
	batchSize := fs.Int("batch-size", 64, "examples per batch `B` (the loss is the whole set's whatever B is)")
	norm := addNormFlags(fs)
	workers := fs.Int("workers", 0, "goroutines decoding examples (0: one per CPU)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	threshold := fs.Float64("threshold", 0, "predict positive where the probability is at least `T` (binary and multi-label; default 0.5)")
	targetSens := fs.Float64("target-sensitivity", 0, "choose the highest threshold whose sensitivity on the --val data (else --data) is at least `S`, and report the specificity paid for it")
	calibrate := fs.Bool("calibrate", false, "fit temperature scaling on the --val data (else --data) by minimising the NLL, and report the expected calibration error before and after")
	val := fs.String("val", "", "validation data `V` the threshold and temperature are fitted on (default: --data)")
	bootstrap := fs.Int("bootstrap", 0, "give each binary metric a 95% confidence interval from `N` bootstrap resamples")
	seed := fs.Uint64("seed", 0, "seed of the bootstrap resamples")
	reportDir := fs.String("report", "", "also write the report to `DIR`: index.html with the numbers and PNG figures (confusion matrix; a binary classifier's ROC and PR curves and reliability diagram)")
	retrieval := fs.Bool("retrieval", false, "score the output as embeddings: precision@1, recall@5, MAP@R and 5-NN accuracy of each example of D searched among the others (or in --gallery)")
	gallery := fs.String("gallery", "", "with --retrieval, the labelled references `G` the examples of D are searched in")
	embedding := fs.String("embedding", "", "with --retrieval, search with the value `VALUE` the model computes (auto: the input of its final classifier), as train --embedding cuts it")
	normalize := fs.Bool("normalize", false, "with --embedding, L2-normalise the embeddings first")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := exactArgs(pos, 1, "MODEL.onnx"); err != nil {
		return err
	}
	if err := operatingPointError(*threshold, *targetSens); err != nil {
		return err
	}
	switch {
	case *dataPath == "":
		return usagef("missing --data")
	case *batchSize < 1:
		return usagef("--batch-size %d: want at least 1", *batchSize)
	case *workers < 0:
		return usagef("--workers %d: want 0 or more", *workers)
	case *bootstrap < 0:
		return usagef("--bootstrap %d: want 0 (none) or more resamples", *bootstrap)
	}
	if *reportDir != "" {
		if err := report.Check(*reportDir); err != nil {
			return err
		}
	}
	op := train.OperatingPoint{Threshold: *threshold, TargetSensitivity: *targetSens, Calibrate: *calibrate}
	meanV, stdV, err := norm.values()
	if err != nil {
		return err
	}
	weights, err := parseClassWeights(*classWeights)
	if err != nil {
		return err
	}
	sub, err := loadSubject(pos[0], subjectFlags{output: *output, loss: *spec, classWeights: weights, mean: meanV, std: stdV})
	if err != nil {
		return err
	}
	ds, err := sub.open(*dataPath)
	if err != nil {
		return err
	}
	if *retrieval || *gallery != "" || *embedding != "" || *normalize {
		switch {
		case !*retrieval:
			return usagef("--gallery, --embedding and --normalize go with --retrieval")
		case *normalize && *embedding == "":
			return usagef("--normalize goes with --embedding")
		}
		if *embedding != "" {
			if err := sub.cutAtEmbedding(*embedding, *normalize); err != nil {
				return err
			}
		}
		if err := sub.plan.FreezeWeights(); err != nil {
			return err
		}
		return evalRetrieval(sub, ds, *gallery, *batchSize, *workers, *asJSON, stdout)
	}
	if err := sub.plan.FreezeWeights(); err != nil {
		return err
	}
	if err := sub.setLabels(ds, *dataPath, *positive); err != nil {
		return err
	}
	if err := train.CheckBatch(sub.plan.Graph, pos[0], *batchSize, ds.Len()); err != nil {
		return err
	}
	opt, plan, lossSpec, open := sub.opt, sub.plan, sub.lossSpec, sub.open
	ctx, stop := signalContext("")
	defer stop()
	evaluate := func(ds data.Dataset) (*train.Report, error) {
		loader := data.NewLoader(ds, *batchSize, false, 0, *workers)
		return train.Evaluate(ctx, plan, loader.Epoch(ctx, 0), opt)
	}
	var decision *train.Decision
	fitPath := *dataPath // the data the decision is fitted on
	if op.Calibrate || op.TargetSensitivity != 0 {
		fitData := ds
		if *val != "" {
			fitPath = *val
			if fitData, err = open(*val); err != nil {
				return err
			}
		}
		fit, err := evaluate(fitData)
		if err != nil {
			return err
		}
		if fit.BinaryReport == nil {
			return fmt.Errorf("%s: --target-sensitivity and --calibrate need a binary classifier: one logit, a two-class data set, or --positive-class", pos[0])
		}
		d, err := op.Fit(fit.Scores)
		if err != nil {
			return fmt.Errorf("%s: %w", fitPath, err)
		}
		decision = &d
		opt.Threshold, opt.Temperature = d.Threshold, d.Temperature
	} else {
		opt.Threshold = *threshold
	}
	// Without a choice of its own, eval measures the decision the model carries, where it
	// applies: to its scores output and its positive class.
	carried := sub.rec.Decision
	if carried != nil && (*threshold != 0 || carried.Scores != opt.Output || !sub.recordedPositive(ds)) {
		carried = nil
	}
	if carried != nil {
		opt.Threshold, opt.Temperature = carried.Threshold, carried.Temperature
	}
	rep, err := evaluate(ds)
	if err != nil {
		return err
	}
	if b := rep.BinaryReport; b != nil {
		if decision != nil {
			decision.Record(b, op, fitPath)
		} else if carried != nil {
			b.Temperature, b.CalibrationData, b.ModelDecision = carried.Temperature, carried.Data, true
		}
		if *bootstrap > 0 {
			if b.CI, err = b.Scores.Bootstrap(b.Threshold, *bootstrap, *seed); err != nil {
				return err
			}
			b.Bootstrap = *bootstrap
		}
	} else if *bootstrap > 0 {
		return fmt.Errorf("%s: --bootstrap gives intervals of a binary classifier's metrics: one logit, a two-class data set, or --positive-class", pos[0])
	}
	head := evalHead{Model: pos[0], Data: *dataPath, DataSize: ds.Len(), LossSpec: lossSpec}
	if rep.BinaryReport != nil {
		head.Positive = train.PositiveLine(opt.Labels, ds.Classes())
	}
	if *reportDir != "" {
		in := evalReportInput("onnxtune eval", head, rep)
		if err := report.Write(*reportDir, in); err != nil {
			return err
		}
	}
	if *asJSON {
		return writeEvalJSON(stdout, head, rep)
	}
	writeEvalText(stdout, head, rep)
	return nil
}

// evalReportInput is the report of an evaluation: the model, data and loss, and r.
func evalReportInput(title string, h evalHead, r *train.Report) report.Input {
	lossSpec := h.LossSpec
	if lossSpec == "" {
		lossSpec = "none (the output holds a softmax's probabilities)"
	}
	in := report.Input{Title: title, Eval: r, EvalData: h.Data, Facts: []report.Fact{
		{Name: "model", Value: h.Model},
		{Name: "data", Value: fmt.Sprintf("%s (%d examples)", h.Data, h.DataSize)},
		{Name: "loss", Value: lossSpec},
	}}
	if h.Positive != "" {
		in.Facts = append(in.Facts, report.Fact{Name: "binary", Value: h.Positive})
	}
	return in
}

// evalHead is what the report says of the run before its numbers.
type evalHead struct {
	Model    string `json:"model"`
	Data     string `json:"data"`
	DataSize int    `json:"data_examples"`
	// LossSpec is the loss measured, "" for none (a softmax's probabilities with no --loss).
	LossSpec string `json:"loss_spec"`
	// Positive is train.PositiveLine of a binary report, "" otherwise.
	Positive string `json:"-"`
}

// writeEvalJSON prints one JSON object: the model, data and loss, then train.Report's fields.
func writeEvalJSON(w io.Writer, h evalHead, r *train.Report) error {
	head, err := json.Marshal(h)
	if err != nil {
		return err
	}
	body, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s,%s\n", head[:len(head)-1], body[1:])
	return err
}

func writeEvalText(w io.Writer, h evalHead, r *train.Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "model\t%s\n", h.Model)
	fmt.Fprintf(tw, "data\t%s (%d examples)\n", h.Data, h.DataSize)
	if h.LossSpec == "" {
		fmt.Fprintf(tw, "loss\tnone (the output holds a softmax's probabilities; give --loss to measure one)\n")
	} else {
		fmt.Fprintf(tw, "loss\t%.6g (%s, over the whole data set)\n", r.Loss, h.LossSpec)
	}
	if r.Examples == 0 {
		tw.Flush()
		return
	}
	if b := r.BinaryReport; b != nil {
		writeBinaryText(tw, h.Positive, r.Classes[0].Name, b)
	}
	what := "correct"
	if r.Kind == train.MultiLabel {
		what = "with every label right"
	}
	fmt.Fprintf(tw, "accuracy\t%.4f (%d of %d %s)\n", r.Accuracy, r.Correct, r.Examples, what)
	tw.Flush()

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	header := "class"
	if r.Kind == train.MultiLabel {
		header = "label"
	}
	// Names are padded to one width, so that the right-aligning table shows them left-aligned.
	width := len("macro avg")
	for _, c := range r.Classes {
		width = max(width, len(c.Name))
	}
	fmt.Fprintf(tw, "%-*s\tprecision\trecall\tf1\tsupport\t\n", width, header)
	for _, c := range r.Classes {
		fmt.Fprintf(tw, "%-*s\t%.4f\t%.4f\t%.4f\t%d\t\n", width, c.Name, c.Precision, c.Recall, c.F1, c.Support)
	}
	fmt.Fprintf(tw, "%-*s\t%.4f\t%.4f\t%.4f\t\t\n", width, "macro avg", r.Macro.Precision, r.Macro.Recall, r.Macro.F1)
	tw.Flush()

	fmt.Fprintln(w)
	switch {
	case r.Kind == train.MultiLabel:
		fmt.Fprintln(w, "confusion per label (tn fp / fn tp)")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "label\ttn\tfp\tfn\ttp\t\n")
		for i, cm := range r.LabelConfusion {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t\n", r.Classes[i].Name, cm[0][0], cm[0][1], cm[1][0], cm[1][1])
		}
		tw.Flush()
	case len(r.Confusion) > maxConfusionText:
		fmt.Fprintf(w, "confusion matrix: %d classes, too many to print; see --json\n", len(r.Confusion))
	default:
		fmt.Fprintln(w, "confusion matrix (rows: true class, columns: predicted)")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprint(tw, "\t")
		for i := range r.Confusion {
			fmt.Fprintf(tw, "%s\t", r.Classes[i].Name)
		}
		fmt.Fprintln(tw)
		for i, row := range r.Confusion {
			fmt.Fprintf(tw, "%s\t", r.Classes[i].Name)
			for _, v := range row {
				fmt.Fprintf(tw, "%d\t", v)
			}
			fmt.Fprintln(tw)
		}
		tw.Flush()
	}
}

// writeBinaryText prints a binary classifier's screening numbers: the positive class, how the
// threshold and temperature were chosen, each rate with the counts it comes from and its
// bootstrap interval, and the misses by name.
func writeBinaryText(tw io.Writer, positive, negative string, b *train.BinaryReport) {
	p, n := spoken(b.PositiveClass), spoken(negative)
	tp, fp, tn, fn := b.TruePositives, b.FalsePositives, b.TrueNegatives, b.FalseNegatives
	ci := func(name string) string {
		if v, ok := b.CI[name]; ok {
			return fmt.Sprintf(" [%.4f, %.4f]", v[0], v[1])
		}
		return ""
	}
	fmt.Fprintf(tw, "%s\n", positive)
	switch {
	case b.ModelDecision:
		fmt.Fprintf(tw, "temperature\t%.4g (the model's own, fitted on %s)\n", b.Temperature, b.CalibrationData)
	case b.Temperature != 0:
		fmt.Fprintf(tw, "temperature\t%.4g (fitted on %s; expected calibration error %.4f before, %.4f after)\n",
			b.Temperature, b.CalibrationData, b.ECEBefore, b.ECEAfter)
	}
	how := fmt.Sprintf("an example is predicted %s where that probability is at least this", p)
	switch {
	case b.TargetSensitivity != nil:
		how = fmt.Sprintf("the highest with sensitivity at least %g on %s", *b.TargetSensitivity, b.ThresholdData)
	case b.ModelDecision:
		how = "the model's decision output's: it decides " + p + " from this calibrated probability"
	}
	fmt.Fprintf(tw, "threshold\t%.6g (%s)\n", b.Threshold, how)
	if b.Bootstrap > 0 {
		fmt.Fprintf(tw, "intervals\t95%% bootstrap, %d resamples\n", b.Bootstrap)
	}
	fmt.Fprintf(tw, "sensitivity\t%.4f%s (%d of %d %s found)\n", b.Sensitivity, ci("sensitivity"), tp, tp+fn, p)
	fmt.Fprintf(tw, "specificity\t%.4f%s (%d of %d %s cleared)\n", b.Specificity, ci("specificity"), tn, tn+fp, n)
	fmt.Fprintf(tw, "ppv\t%.4f%s (%d of %d predicted %s are)\n", b.PPV, ci("ppv"), tp, tp+fp, p)
	fmt.Fprintf(tw, "npv\t%.4f%s (%d of %d predicted %s are)\n", b.NPV, ci("npv"), tn, tn+fn, n)
	fmt.Fprintf(tw, "f1\t%.4f%s\n", b.F1, ci("f1"))
	for _, auc := range []struct {
		name, key string
		v         float64
	}{{"roc auc", "roc_auc", float64(b.RocAUC)}, {"pr auc", "pr_auc", float64(b.PRAUC)}} {
		if math.IsNaN(auc.v) {
			fmt.Fprintf(tw, "%s\tundefined (the data holds one class only)\n", auc.name)
		} else {
			fmt.Fprintf(tw, "%s\t%.4f%s\n", auc.name, auc.v, ci(auc.key))
		}
	}
	fmt.Fprintf(tw, "false negatives\t%d (%s predicted %s)\n", fn, p, n)
	fmt.Fprintf(tw, "false positives\t%d (%s predicted %s)\n", fp, n, p)
}

// spoken is a class name fit for a sentence: "class 1" for a class known by its index only,
// "not class 1" for the rest of them.
func spoken(name string) string {
	rest, not := strings.CutPrefix(name, "not ")
	if _, err := strconv.Atoi(rest); err == nil {
		if not {
			return "not class " + rest
		}
		return "class " + name
	}
	return name
}

// cutAtEmbedding makes the subject's plan compute the embedding at value (train.CutAtEmbedding),
// on a copy of its graph.
func (s *subject) cutAtEmbedding(value string, normalize bool) error {
	g := *s.plan.Graph
	g.Nodes = slices.Clone(g.Nodes)
	g.Initializers = maps.Clone(g.Initializers)
	g.InitializerNames = slices.Clone(g.InitializerNames)
	if _, err := train.CutAtEmbedding(&g, value, normalize); err != nil {
		return fmt.Errorf("%s: %w", s.path, err)
	}
	plan, err := graph.NewPlan(&g)
	if err != nil {
		return fmt.Errorf("%s: %w", s.path, err)
	}
	s.plan, s.opt.Output = plan, train.EmbeddingOutput
	return nil
}

// evalRetrieval scores the model's output as embeddings: each example of ds searched among
// the others, or in the gallery.
func evalRetrieval(sub *subject, ds data.Dataset, galleryPath string, batchSize, workers int, asJSON bool, stdout io.Writer) error {
	ctx, stop := signalContext("")
	defer stop()
	embed := func(ds data.Dataset, path string) ([]float64, []int64, int, error) {
		if err := train.CheckBatch(sub.plan.Graph, sub.path, batchSize, ds.Len()); err != nil {
			return nil, nil, 0, err
		}
		rows, labels, dim, err := train.Embed(ctx, sub.plan, data.NewLoader(ds, batchSize, false, 0, workers), sub.opt.Output)
		if err != nil {
			return nil, nil, 0, fmt.Errorf("%s: %w", path, err)
		}
		return rows, labels, dim, nil
	}
	q, ql, dim, err := embed(ds, "the data")
	if err != nil {
		return err
	}
	var r []float64
	var rl []int64
	if galleryPath != "" {
		g, err := sub.open(galleryPath)
		if err != nil {
			return err
		}
		var gdim int
		if r, rl, gdim, err = embed(g, galleryPath); err != nil {
			return err
		}
		if gdim != dim {
			return fmt.Errorf("%s: embeddings of %d values, the data's have %d", galleryPath, gdim, dim)
		}
	}
	rep := train.Retrieval(q, ql, r, rl, dim)
	if asJSON {
		return printJSON(stdout, rep)
	}
	where := "each example searched among the others"
	if galleryPath != "" {
		where = fmt.Sprintf("searched in %s (%d examples)", galleryPath, len(rl))
	}
	fmt.Fprintf(stdout, "model           %s (output %q, %d values per embedding)\n", sub.path, sub.opt.Output, dim)
	fmt.Fprintf(stdout, "queries         %d, %s", rep.Queries, where)
	if rep.Skipped > 0 {
		fmt.Fprintf(stdout, "; %d left out: no reference has their class", rep.Skipped)
	}
	fmt.Fprintln(stdout)
	fmt.Fprintf(stdout, "precision@1     %.4f (the nearest has the query's class)\n", rep.PrecisionAt1)
	fmt.Fprintf(stdout, "recall@5        %.4f (one of the 5 nearest has it)\n", rep.RecallAt5)
	fmt.Fprintf(stdout, "MAP@R           %.4f\n", rep.MAPAtR)
	fmt.Fprintf(stdout, "5-NN accuracy   %.4f (the 5 nearest's majority class)\n", rep.KNNAccuracy)
	return nil
}
