package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/loss"
	"github.com/onnxtune/onnxtune/report"
	"github.com/onnxtune/onnxtune/train"
)

func init() {
	register(command{"train", "fine-tune a model on labelled data and export it to ONNX", runTrain})
}

func runTrain(args []string, stdout io.Writer) error {
	fs := newFlags("train", "MODEL.onnx --data D --loss SPEC --out OUT.onnx [flags]", stdout)
	dataPath := fs.String("data", "", "training data `D`: an .npz (x or the input's name, and y), IDX files (e.g. /usr/share/datasets/fashion-mnist/train) or an image folder DIR/<class>/*.png|jpg|...")
	spec := fs.String("loss", "cross-entropy", "the loss expression `SPEC` (see 'onnxtune losses')")
	out := fs.String("out", "", "write the tuned model to `OUT.onnx` (external data goes beside it)")
	output := fs.String("output", "", "the graph output `NAME` the loss reads (default: the first)")
	optimizer := fs.String("optimizer", "adam", "`NAME`: sgd, adam or adamw")
	lr := fs.Float64("lr", 0, "learning rate (default 0.01 for sgd, 0.001 for adam and adamw)")
	momentum := fs.Float64("momentum", 0, "sgd momentum")
	nesterov := fs.Bool("nesterov", false, "sgd with Nesterov momentum")
	weightDecay := fs.Float64("weight-decay", 0, "weight decay: L2 added to the gradient (sgd, adam), decoupled (adamw; default 0.01)")
	betas := fs.String("betas", "", "adam/adamw `b1,b2` (default 0.9,0.999)")
	eps := fs.Float64("eps", 0, "adam/adamw eps (default 1e-8)")
	epochs := fs.Int("epochs", 10, "epochs")
	batchSize := fs.Int("batch-size", 32, "examples per optimizer step (the last batch of an epoch may be smaller)")
	shuffle := fs.Bool("shuffle", true, "draw a new example order every epoch (--shuffle=false: file order)")
	seed := fs.Uint64("seed", 0, "seed of the shuffle, augmentation, validation split, new head and dropout")
	classWeights := fs.String("class-weights", "", "per-class weights `W1,W2,...` for the losses that take them, or auto: N / (classes * count) from the training labels (scikit-learn's balanced)")
	positiveClass := fs.String("positive-class", "", "the positive class of a binary classifier, by `NAME|INDEX` (default: label 1, the second class in sorted folder order); on more classes, that class against the rest")
	skipBad := fs.Bool("skip-bad", false, "leave out the images of an image folder that cannot be read (and say how many) instead of stopping before training")
	balance := fs.Bool("balance", false, "draw each epoch's examples with replacement, inversely to their class's frequency (as WeightedRandomSampler)")
	embedding := fs.String("embedding", "", "train and export the model cut at `VALUE` as an embedding model with one output, \"embedding\" (auto: the input of the final classifier, the layer --num-classes replaces)")
	normalize := fs.Bool("normalize", false, "with --embedding, L2-normalise the embedding (torch.nn.functional.normalize)")
	sampler := fs.String("sampler", "", "how batches are drawn: m-per-class (M examples of each of batch-size/M classes, as pytorch-metric-learning's MPerClassSampler; with --m-per-class)")
	mPerClass := fs.Int("m-per-class", 0, "examples per class `M` in each batch, with --sampler m-per-class")
	trainOnly := fs.String("train-only", "", "train only the initializers matching `REGEX` (e.g. '^fc\\.')")
	freeze := fs.String("freeze", "", "do not train the initializers matching `REGEX`")
	numClasses := fs.Int("num-classes", 0, "replace the classifier with a fresh `K`-way layer (1: one logit, a binary classifier)")
	bn := fs.String("bn", "auto", "BatchNormalization while training: auto (as exported), train (batch statistics) or frozen (running statistics)")
	patience := fs.Int("patience", 0, "stop after `N` epochs without a better monitored value (--monitor), keeping the best weights")
	targetSens := fs.Float64("target-sensitivity", 0, "write a decision into the tuned model: temperature scaling and the highest threshold whose sensitivity on the validation data is at least `S`, as 'onnxtune calibrate' does")
	monitor := fs.String("monitor", "", "what early stopping and the best weights follow: val_loss (default, lower is better), or a validation metric, higher is better: val_accuracy, val_macro_f1, val_roc_auc (val_auc), val_pr_auc, val_sensitivity, val_f1, ..., val_sensitivity@spec=X (the best sensitivity at specificity >= X), val_specificity@sens=X")
	checkpointDir := fs.String("checkpoint-dir", "", "write a checkpoint to `DIR` after every epoch, and where SIGINT or SIGTERM stops the run")
	checkpointEvery := fs.Int("checkpoint-every", 0, "with --checkpoint-dir, also checkpoint every `N` optimizer steps")
	maxMemory := fs.String("max-memory", "", "refuse a batch size whose estimated peak exceeds `SIZE` (4GiB, 512MiB; default: GOMEMLIMIT, if set)")
	resume := fs.String("resume", "", "continue the run checkpointed in `DIR`, with the model and flags it records (flags given too must agree, but for --epochs and where output goes)")
	logPath := fs.String("log", "", "write one JSON record per epoch to `FILE.jsonl` (a resumed run's holds the checkpoint's epochs too)")
	val := fs.String("val", "", "validation data `FILE|DIR` (as --data; a directory of IDX files gives its test split)")
	valSplit := fs.Float64("val-split", 0, "hold out this `fraction` of the training data for validation (stratified, seeded)")
	schedule := fs.String("schedule", "constant", "learning-rate schedule: constant, step or cosine")
	stepSize := fs.Int("step-size", 0, "epochs between the step schedule's decays")
	gamma := fs.Float64("gamma", 0.1, "the step schedule's decay factor")
	warmup := fs.Int("warmup-steps", 0, "linear warm-up over this many optimizer steps")
	norm := addNormFlags(fs)
	augment := fs.String("augment", "", "training augmentation `LIST`: flip, crop, crop=N (padding)")
	workers := fs.Int("workers", 0, "goroutines decoding examples (default: one per CPU)")
	reportDir := fs.String("report", "", "write a report to `DIR`: index.html with the loss and validation metrics per epoch and, with validation data, the tuned model's evaluation there (as 'onnxtune eval --report'), as PNG figures and tables")
	cacheLimit := fs.Int64("cache-limit", train.DefaultCacheLimit>>20, "when everything before the trained tensors is frozen (and no augmentation or training Dropout), compute the frozen backbone's output once and run only the head in each step, keeping those outputs in memory up to `MiB` and in a file in $TMPDIR past it; 0 turns this off")
	var embed pixelLayoutFlag
	fs.Var(&embed, "embed-preprocessing", embedPreprocessingUsage)
	pos, err := parseArgs(fs, joinFlagValues(joinBoolValues(args, "shuffle", "nesterov", "balance", "normalize"), "embed-preprocessing", "nchw", "nhwc", "true", "false"))
	if err != nil {
		return err
	}
	if *resume != "" && len(pos) <= 1 {
		model, err := resumeCommand(fs.FlagSet, *resume, pos)
		if err != nil {
			return err
		}
		pos = []string{model}
	}
	if err := exactArgs(pos, 1, "MODEL.onnx"); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch {
	case *dataPath == "":
		return usagef("missing --data")
	case *out == "":
		return usagef("missing --out")
	case !strings.HasSuffix(strings.ToLower(*out), ".onnx"):
		return usagef("--out %s: want an .onnx file name", *out)
	}
	cfg := train.Config{
		Model: pos[0], Out: *out, Data: *dataPath, Val: *val, ValSplit: *valSplit, Workers: *workers,
		Loss: *spec, Output: *output, LR: *lr,
		Schedule: *schedule, StepSize: *stepSize, Gamma: *gamma, WarmupSteps: *warmup,
		Epochs: *epochs, BatchSize: *batchSize, Shuffle: *shuffle, Seed: *seed,
		TrainOnly: *trainOnly, Freeze: *freeze, NumClasses: *numClasses, BN: train.BNMode(*bn),
		PositiveClass: *positiveClass, Balance: *balance, SkipBad: *skipBad,
		Command:  commandOf(fs.FlagSet, pos[0]),
		Patience: *patience, Monitor: *monitor, TargetSensitivity: *targetSens, EmbedPreprocessing: embed.layout, CheckpointDir: *checkpointDir, CheckpointEvery: *checkpointEvery, Resume: *resume, Log: *logPath,
		Optimizer: train.OptimizerConfig{
			Name: *optimizer, Momentum: *momentum, Nesterov: *nesterov,
			WeightDecay: *weightDecay, WeightDecaySet: set["weight-decay"],
			Eps: *eps, EpsSet: set["eps"],
		},
	}
	for name, v := range map[string]int{"epochs": *epochs, "batch-size": *batchSize} {
		if v < 1 {
			return usagef("--%s %d: want at least 1", name, v)
		}
	}
	switch {
	case *sampler != "" && *sampler != "m-per-class":
		return usagef("--sampler %s: want m-per-class", *sampler)
	case *sampler == "m-per-class" && *mPerClass < 1:
		return usagef("--sampler m-per-class needs --m-per-class M, at least 1")
	case *sampler == "" && set["m-per-class"]:
		return usagef("--m-per-class without --sampler m-per-class")
	}
	cfg.MPerClass = *mPerClass
	cfg.Embedding, cfg.Normalize = *embedding, *normalize
	if set["lr"] && !(*lr > 0) {
		return usagef("--lr %g: want a learning rate > 0", *lr)
	}
	if *maxMemory != "" {
		if cfg.MaxMemory, err = train.ParseBytes(*maxMemory); err != nil {
			return usagef("--max-memory %s: %v", *maxMemory, err)
		}
	}
	if _, err := train.ParseBNMode(*bn); err != nil {
		return usagef("--bn %s: want auto, train or frozen", *bn)
	}
	if set["betas"] {
		b, err := parseFloats("betas", *betas)
		if err != nil {
			return err
		}
		if len(b) != 2 {
			return usagef("--betas %s: want two values b1,b2", *betas)
		}
		cfg.Optimizer.Beta1, cfg.Optimizer.Beta2, cfg.Optimizer.BetasSet = b[0], b[1], true
	}
	switch {
	case *cacheLimit < 0:
		return usagef("--cache-limit %d: want a size in MiB, or 0 for no cache", *cacheLimit)
	case *cacheLimit == 0:
		cfg.CacheLimit = -1
	default:
		cfg.CacheLimit = *cacheLimit << 20
	}
	if strings.TrimSpace(*classWeights) == "auto" {
		cfg.BalanceClassWeights = true
	} else if cfg.ClassWeights, err = parseClassWeights(*classWeights); err != nil {
		return err
	}
	if cfg.Mean, cfg.Std, err = norm.values(); err != nil {
		return err
	}
	if cfg.Augment, err = data.ParseAugment(*augment); err != nil {
		return usagef("--augment: %v", err)
	}
	if *reportDir != "" {
		if err := report.Check(*reportDir); err != nil { // before training, not after
			return err
		}
	}
	if st, err := os.Stderr.Stat(); err == nil {
		cfg.Progress = os.Stderr
		cfg.ProgressBar = st.Mode()&os.ModeCharDevice != 0
	}

	// SIGINT (or SIGTERM) stops training between two batches; a second one quits at once.
	ctx, stop := signalContext("onnxtune train: interrupted: stopping after this batch (interrupt again to quit at once)")
	defer stop()
	res, err := train.Run(ctx, cfg)
	if err != nil {
		return err
	}
	last := res.History[len(res.History)-1]
	fmt.Fprintf(stdout, "wrote %s: %d epochs, train_loss %.4f", *out, res.Epochs, last.TrainLoss)
	if res.BestEpoch > 0 {
		m, _ := train.ParseMonitor(*monitor) // Run has accepted it
		for _, h := range res.History {
			if v, ok := m.Of(h); ok && h.Epoch == res.BestEpoch {
				fmt.Fprintf(stdout, ", best %s %.4f (epoch %d)", m, v, h.Epoch)
			}
		}
	} else if last.ValLoss != nil {
		fmt.Fprintf(stdout, ", val_loss %.4f", *last.ValLoss)
	}
	if res.Stopped {
		fmt.Fprint(stdout, ", stopped early")
	}
	fmt.Fprintf(stdout, "; %d tensors trained; the file's outputs match the engine's\n", len(res.Trained))
	if res.Calibration != nil {
		writeCalibration(stdout, res.Calibration)
	}
	if res.Preprocessing != nil {
		writePreprocessing(stdout, res.Preprocessing)
	}
	if *reportDir != "" {
		if err := writeTrainReport(ctx, *reportDir, cfg, res); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote the report %s\n", filepath.Join(*reportDir, report.Index))
	}
	return nil
}

// writeTrainReport writes the report of a run: its configuration, the loss and metrics per
// epoch and, with validation data, the tuned model evaluated there as 'onnxtune eval' measures
// it by default (the loss, class weights and positive class it records).
func writeTrainReport(ctx context.Context, dir string, cfg train.Config, res *train.Result) error {
	g, pre, err := train.ImportForData(res.Model)
	if err != nil {
		return fmt.Errorf("%s: %w", cfg.Out, err)
	}
	cfg.Mean, cfg.Std = pre.Defaults(cfg.Mean, cfg.Std)
	in := report.Input{Title: "onnxtune train", History: res.History, BestEpoch: res.BestEpoch}
	fact := func(name, value string) { in.Facts = append(in.Facts, report.Fact{Name: name, Value: value}) }
	fact("model", fmt.Sprintf("%s, tuned into %s", cfg.Model, cfg.Out))
	fact("data", cfg.Data)
	switch {
	case cfg.Val != "":
		fact("validation data", cfg.Val)
	case cfg.ValSplit != 0:
		fact("validation data", fmt.Sprintf("%g of %s, held out (seed %d)", cfg.ValSplit, cfg.Data, cfg.Seed))
	}
	rec, err := train.ReadRecorded(res.Model)
	if err != nil {
		return fmt.Errorf("%s: %w", cfg.Out, err)
	}
	fact("loss", rec.Loss)
	fact("optimizer", fmt.Sprintf("%s, %d epochs of batches of %d", cfg.Optimizer.Name, res.Epochs, cfg.BatchSize))
	fact("trained", fmt.Sprintf("%d tensors", len(res.Trained)))
	if cfg.Val == "" && cfg.ValSplit == 0 {
		return report.Write(dir, in)
	}
	plan, err := graph.NewPlan(g)
	if err != nil {
		return fmt.Errorf("%s: %w", cfg.Out, err)
	}
	opt := train.EvalOptions{Output: cfg.Output}
	if opt.Loss, err = loss.ParseExpr(rec.Loss, loss.Params{ClassWeights: rec.ClassWeights}); err != nil {
		return fmt.Errorf("%s: %w", cfg.Out, err)
	}
	if opt.Weights, err = rec.PenaltyWeights(g); err != nil {
		return fmt.Errorf("%s: %w", cfg.Out, err)
	}
	// The validation data exactly as the run read it.
	dopt := data.Options{InputName: g.Inputs[0].Name, Image: train.InputTransform(g, cfg.Mean, cfg.Std)}
	var ds data.Dataset
	valName := cfg.Val
	if cfg.Val != "" {
		dopt.Split = "t10k"
		ds, err = data.Open(cfg.Val, dopt)
	} else {
		valName = fmt.Sprintf("the %g held out of %s", cfg.ValSplit, cfg.Data)
		var all data.Dataset
		if all, err = data.Open(cfg.Data, dopt); err == nil {
			_, ds, err = data.Split(all, cfg.ValSplit, cfg.Seed)
		}
	}
	if err != nil {
		return err
	}
	if opt.Labels, err = train.DataLabels(ds, rec.PositiveClass); err != nil {
		return fmt.Errorf("%s: %w", valName, err)
	}
	opt.Classes = ds.Classes()
	loader := data.NewLoader(ds, cfg.BatchSize, false, 0, cfg.Workers)
	r, err := train.Evaluate(ctx, plan, loader.Epoch(ctx, 0), opt)
	if err != nil {
		return err
	}
	in.Eval, in.EvalData = r, valName
	if r.BinaryReport != nil {
		fact("binary", train.PositiveLine(opt.Labels, ds.Classes()))
	}
	return report.Write(dir, in)
}

// joinFlagValues accepts "--name value" for a flag that may be given alone, where value is
// one of values: Go's flag package takes such a flag's value only after "=".
func joinFlagValues(args []string, name string, values ...string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		if strings.HasPrefix(a, "-") && strings.TrimLeft(a, "-") == name && i+1 < len(args) && slices.Contains(values, strings.ToLower(args[i+1])) {
			out = append(out, a+"="+args[i+1])
			i++
			continue
		}
		out = append(out, a)
	}
	return out
}

// joinBoolValues accepts "--shuffle false" for "--shuffle=false": Go's flag package takes a
// boolean's value only after "=", and would read "false" as a positional argument.
func joinBoolValues(args []string, names ...string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		name := strings.TrimLeft(a, "-")
		if strings.HasPrefix(a, "-") && slices.Contains(names, name) && i+1 < len(args) {
			if v := strings.ToLower(args[i+1]); v == "true" || v == "false" {
				out = append(out, a+"="+v)
				i++
				continue
			}
		}
		out = append(out, a)
	}
	return out
}

// parseFloats reads a comma-separated list of finite numbers for --name.
func parseFloats(name, s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
			return nil, usagef("--%s %s: %q is not a number", name, s, strings.TrimSpace(f))
		}
		out = append(out, v)
	}
	return out, nil
}

// parseFloat32s is parseFloats for float32 values; "" gives nil.
func parseFloat32s(name, s string) ([]float32, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	v, err := parseFloats(name, s)
	if err != nil {
		return nil, err
	}
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out, nil
}
