package main

import (
	"fmt"
	"io"
	"maps"
	"strings"

	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/internal/atomicfile"
	"github.com/onnxtune/onnxtune/tensor"
	"github.com/onnxtune/onnxtune/train"
)

func init() {
	register(command{"calibrate", "fit a binary classifier's temperature and threshold on validation data and write them into the model as a probability and a decision output", runCalibrate})
}

func runCalibrate(args []string, stdout io.Writer) error {
	fs := newFlags("calibrate", "MODEL.onnx --data VAL [--target-sensitivity S | --threshold T] --out OUT.onnx [flags]", stdout)
	dataPath := fs.String("data", "", "the labelled validation data `VAL` the temperature and threshold are fitted on (as eval's --data)")
	out := fs.String("out", "", "write the calibrated model to `OUT.onnx`")
	targetSens := fs.Float64("target-sensitivity", 0, "decide positive from the highest threshold whose sensitivity on VAL is at least `S`")
	threshold := fs.Float64("threshold", 0, "decide positive where the calibrated probability is at least `T` (default 0.5)")
	temperature := fs.Bool("temperature", true, "fit temperature scaling by minimising the NLL on VAL (--temperature=false: temperature 1)")
	positive := fs.String("positive-class", "", "the positive class by `NAME|INDEX` (default: the class the model was trained for, else label 1); on more classes, that class against the rest")
	output := fs.String("output", "", "the graph output `NAME` holding the scores (default: the first)")
	batchSize := fs.Int("batch-size", 64, "examples per batch `B`")
	norm := addNormFlags(fs)
	workers := fs.Int("workers", 0, "goroutines decoding examples (0: one per CPU)")
	var embed pixelLayoutFlag
	fs.Var(&embed, "embed-preprocessing", embedPreprocessingUsage)
	pos, err := parseArgs(fs, joinFlagValues(joinBoolValues(args, "temperature"), "embed-preprocessing", "nchw", "nhwc", "true", "false"))
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
	case *out == "":
		return usagef("missing --out")
	case !strings.HasSuffix(strings.ToLower(*out), ".onnx"):
		return usagef("--out %s: want an .onnx file name", *out)
	case *batchSize < 1:
		return usagef("--batch-size %d: want at least 1", *batchSize)
	case *workers < 0:
		return usagef("--workers %d: want 0 or more", *workers)
	}
	if err := train.CheckOutput(pos[0], "output", *out); err != nil {
		return err
	}
	if err := atomicfile.CheckWritable(*out); err != nil {
		return fmt.Errorf("the output %s cannot be written: %w", *out, err)
	}
	meanV, stdV, err := norm.values()
	if err != nil {
		return err
	}
	sub, err := loadSubject(pos[0], subjectFlags{output: *output, mean: meanV, std: stdV})
	if err != nil {
		return err
	}
	meta := train.WithoutDecision(train.OwnMetadata(sub.model)) // a decision it carries is refitted
	ds, err := sub.open(*dataPath)
	if err != nil {
		return err
	}
	if err := sub.setLabels(ds, *dataPath, *positive); err != nil {
		return err
	}
	if err := train.CheckBatch(sub.plan.Graph, pos[0], *batchSize, ds.Len()); err != nil {
		return err
	}
	ctx, stop := signalContext("")
	defer stop()
	loader := data.NewLoader(ds, *batchSize, false, 0, *workers)
	op := train.OperatingPoint{Threshold: *threshold, TargetSensitivity: *targetSens, Calibrate: *temperature}
	cal, err := train.Calibrate(ctx, sub.plan, loader, sub.opt, op, *dataPath)
	if err != nil {
		return fmt.Errorf("%s on %s: %w", pos[0], *dataPath, err)
	}
	maps.Copy(meta, cal.Metadata())
	g := cal.Model.Graph
	var pre *train.Preprocessing
	if embed.layout == "" && sub.pre != nil {
		embed.layout = sub.pre.Layout // the model keeps taking pixels
	}
	if embed.layout != "" {
		if _, ok := ds.(*data.ImageFolder); !ok {
			return fmt.Errorf("%s: --embed-preprocessing writes what onnxtune does to an image folder's images, and this is not one", *dataPath)
		}
		if g, pre, err = train.EmbedPreprocessing(g, sub.image, embed.layout); err != nil {
			return fmt.Errorf("%s: %w", pos[0], err)
		}
		maps.Copy(meta, pre.Metadata())
	}
	m, err := train.ExportModel(sub.model, g, meta)
	if err != nil {
		return err
	}
	if err := train.SaveBeside(m, pos[0], *out); err != nil {
		return err
	}
	plan, err := graph.NewPlan(g)
	if err != nil {
		return err
	}
	var sample map[string]*tensor.Tensor
	if pre != nil {
		sample = pre.Sample(2, 0)
	} else if sample, err = train.SampleInputs(ctx, ds, sub.plan.Graph.Inputs[0].Name); err != nil {
		return err
	}
	if err := train.VerifyExport(*out, plan, sample, 1e-5); err != nil {
		return err
	}
	writeCalibration(stdout, cal)
	if pre != nil {
		writePreprocessing(stdout, pre)
	}
	fmt.Fprintf(stdout, "wrote %s\n", *out)
	return nil
}

// writePreprocessing says what input a model with embedded preprocessing takes.
func writePreprocessing(w io.Writer, p *train.Preprocessing) {
	norm := "no mean/std"
	if p.Mean != nil {
		norm = fmt.Sprintf("mean %v, std %v", p.Mean, p.Std)
	}
	fmt.Fprintf(w, "input        %q uint8 %s %s: pixels of the resized image; /255 and %s inside the model, feeding %q\n",
		p.Input.Name, strings.ToUpper(string(p.Layout)), p.Input.ShapeString(), norm, p.Replaces)
}

// writeCalibration prints what was fitted, what the model's decision output decides on the
// data it was fitted on, and the outputs the model gained.
func writeCalibration(w io.Writer, c *train.Calibration) {
	p, n := spoken(c.PositiveClass), spoken(c.NegativeClass)
	d := c.Decision
	fmt.Fprintf(w, "decision fitted on %s: %d examples, %d of them %s\n", c.Data, c.Examples, c.TruePositives+c.FalseNegatives, p)
	if c.Op.Calibrate {
		fmt.Fprintf(w, "temperature  %.4g (minimises the NLL; expected calibration error %.4f before, %.4f after)\n", d.Temperature, d.ECEBefore, d.ECEAfter)
	} else {
		fmt.Fprintf(w, "temperature  1 (not fitted)\n")
	}
	if c.Op.TargetSensitivity != 0 {
		fmt.Fprintf(w, "threshold    %.6g (for sensitivity at least %g; the highest threshold reaching it is %.6g, a positive's probability, and the cut sits just below it so that no example lies on it)\n",
			c.Threshold(), c.Op.TargetSensitivity, d.Threshold)
	} else {
		fmt.Fprintf(w, "threshold    %.6g (on the calibrated probability of %s)\n", c.Threshold(), p)
	}
	fmt.Fprintf(w, "sensitivity  %.4f (%d of %d %s decided %s)\n", c.Sensitivity, c.TruePositives, c.TruePositives+c.FalseNegatives, p, p)
	fmt.Fprintf(w, "specificity  %.4f (%d of %d %s cleared; %d false positives)\n", c.Specificity, c.TrueNegatives, c.TrueNegatives+c.FalsePositives, n, c.FalsePositives)
	fmt.Fprintf(w, "outputs      %q (the scores, unchanged), %q (calibrated probability of %s, [N]), %q (true for %s, [N]); metadata_props %sthreshold, temperature, sensitivity, specificity, ...\n",
		c.Model.Scores, c.Model.Probability, p, c.Model.Decision, p, train.MetadataPrefix)
}
