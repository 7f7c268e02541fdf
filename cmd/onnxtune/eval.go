package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/signal"
	"syscall"
	"text/tabwriter"

	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/loss"
	"github.com/onnxtune/onnxtune/train"
)

func init() {
	register(command{"eval", "measure a model's loss, accuracy, per-class precision/recall/F1 and confusion matrix on a data set", runEval})
}

// maxConfusionText is the largest class count whose confusion matrix the text report prints;
// --json always has it.
const maxConfusionText = 30

func runEval(args []string, stdout io.Writer) error {
	fs := newFlags("eval", "MODEL.onnx --data D [--loss SPEC] [--batch-size B] [--mean M1,M2,...] [--std S1,S2,...] [--json]", stdout)
	dataPath := fs.String("data", "", "the data set `D`: an .npz with x (or the input's name) and y, IDX files (a prefix such as .../fashion-mnist/t10k, or a directory, whose t10k split is read), or an image folder D/<class>/*.png|jpg|...")
	spec := fs.String("loss", "cross-entropy", "the loss expression `SPEC` to average over the data (see 'onnxtune losses')")
	classWeights := fs.String("class-weights", "", "per-class weights `W1,W2,...` for the losses that take them")
	output := fs.String("output", "", "the graph output `NAME` to evaluate (default: the first)")
	batchSize := fs.Int("batch-size", 64, "examples per batch `B`")
	mean := fs.String("mean", "", "per-channel mean `M1,M2,...` (or one value) to normalise inputs by; default ImageNet's for 3-channel image folders, none otherwise")
	std := fs.String("std", "", "per-channel standard deviation `S1,S2,...` (or one value), with --mean")
	workers := fs.Int("workers", 0, "goroutines decoding examples (0: one per CPU)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := exactArgs(pos, 1, "MODEL.onnx"); err != nil {
		return err
	}
	switch {
	case *dataPath == "":
		return usagef("missing --data")
	case *batchSize < 1:
		return usagef("--batch-size %d: want at least 1", *batchSize)
	case *workers < 0:
		return usagef("--workers %d: want 0 or more", *workers)
	}
	meanV, err := parseFloat32s("mean", *mean)
	if err != nil {
		return err
	}
	stdV, err := parseFloat32s("std", *std)
	if err != nil {
		return err
	}
	if (meanV == nil) != (stdV == nil) {
		return usagef("--mean and --std go together")
	}
	weights, err := parseClassWeights(*classWeights)
	if err != nil {
		return err
	}
	expr, err := loss.ParseExpr(*spec, loss.Params{ClassWeights: weights})
	if err != nil {
		return usagef("--loss: %v", err)
	}
	plan, err := loadPlan(pos[0])
	if err != nil {
		return err
	}
	g := plan.Graph
	if len(g.Inputs) != 1 {
		return fmt.Errorf("%s: the model has %d inputs; eval feeds one", pos[0], len(g.Inputs))
	}
	img := data.ImageTransform{Mean: meanV, Std: stdV}
	if s := g.Inputs[0].Shape; len(s) == 4 && s[1].Size > 0 && s[2].Size > 0 && s[3].Size > 0 {
		img.Channels, img.Height, img.Width = s[1].Size, s[2].Size, s[3].Size
	}
	ds, err := data.Open(*dataPath, data.Options{InputName: g.Inputs[0].Name, Split: "t10k", Image: img})
	if err != nil {
		return err
	}
	if ds.Len() == 0 {
		return fmt.Errorf("%s holds no examples", *dataPath)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	loader := data.NewLoader(ds, *batchSize, false, 0, *workers)
	report, err := train.Evaluate(ctx, plan, loader.Epoch(ctx, 0), train.EvalOptions{Loss: expr, Output: *output, Classes: ds.Classes()})
	if err != nil {
		return err
	}
	if *asJSON {
		return writeEvalJSON(stdout, pos[0], *dataPath, expr.String(), ds.Len(), report)
	}
	writeEvalText(stdout, pos[0], *dataPath, expr.String(), ds.Len(), report)
	return nil
}

// writeEvalJSON prints one JSON object: the model, data and loss, then train.Report's fields.
func writeEvalJSON(w io.Writer, model, dataPath, spec string, n int, r *train.Report) error {
	head, err := json.Marshal(struct {
		Model    string `json:"model"`
		Data     string `json:"data"`
		DataSize int    `json:"data_examples"`
		LossSpec string `json:"loss_spec"`
	}{model, dataPath, n, spec})
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

func writeEvalText(w io.Writer, model, dataPath, spec string, n int, r *train.Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "model\t%s\n", model)
	fmt.Fprintf(tw, "data\t%s (%d examples)\n", dataPath, n)
	fmt.Fprintf(tw, "loss\t%.6g (%s)\n", r.Loss, spec)
	if r.Examples == 0 {
		tw.Flush()
		return
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
