package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/onnxtune/onnxtune/train"
)

func init() {
	register(command{"recalibrate-bn", "re-estimate BatchNorm statistics on unlabelled target-domain data (AdaBN) and export the model", runRecalibrateBN})
}

func runRecalibrateBN(args []string, stdout io.Writer) error {
	fs := newFlags("recalibrate-bn", "MODEL.onnx --data UNLABELLED --out OUT.onnx [--batch-size B] [--mean M1,M2,... --std S1,S2,...] [--workers N]", stdout)
	dataPath := fs.String("data", "", "the unlabelled target-domain data `D`: an image folder of images (D/*.png|jpg|...) or of class folders (D/<class>/...), an .npz with x (or the input's name; any y is not read), or IDX files; read in file order, labels ignored")
	out := fs.String("out", "", "write the recalibrated model to `OUT.onnx` (external data goes beside it)")
	batchSize := fs.Int("batch-size", train.RecalibrateBatchSize, "examples per batch `B`: the statistics are the mean of the batches', each batch counting once (the last, smaller one too), so large batches that divide the data estimate best")
	norm := addNormFlags(fs)
	workers := fs.Int("workers", 0, "goroutines decoding examples (0: one per CPU)")
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
	case *out == "":
		return usagef("missing --out")
	case !strings.HasSuffix(strings.ToLower(*out), ".onnx"):
		return usagef("--out %s: want an .onnx file name", *out)
	case *batchSize < 1:
		return usagef("--batch-size %d: want at least 1", *batchSize)
	case *workers < 0:
		return usagef("--workers %d: want 0 or more", *workers)
	}
	cfg := train.RecalibrateConfig{Model: pos[0], Data: *dataPath, Out: *out, BatchSize: *batchSize, Workers: *workers}
	if cfg.Mean, cfg.Std, err = norm.values(); err != nil {
		return err
	}
	ctx, stop := signalContext("")
	defer stop()
	res, err := train.RecalibrateModel(ctx, cfg)
	if err != nil {
		return err
	}
	batches := fmt.Sprintf("%d batches of %d", res.Batches, *batchSize)
	if last := res.Examples - (res.Batches-1)**batchSize; res.Batches == 1 {
		batches = fmt.Sprintf("one batch of %d", last)
	} else if last != *batchSize {
		batches += fmt.Sprintf(", the last of %d", last)
	}
	fmt.Fprintf(stdout, "wrote %s: the running statistics of %d BatchNormalization nodes re-estimated on the %d examples of %s "+
		"(%s, averaged with equal weights as PyTorch's momentum=None does); the file's outputs match the engine's\n",
		*out, res.Nodes, res.Examples, *dataPath, batches)
	if d := res.DroppedDecision; d != nil {
		fmt.Fprintf(stdout, "the decision %s carried (threshold %.6g, fitted on %s) was fitted to the old statistics and is not in %s: run 'onnxtune calibrate' on it\n",
			pos[0], d.Threshold, d.Data, *out)
	}
	return nil
}
