package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/onnxtune/onnxtune/backprop"
	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/internal/atomicfile"
	"github.com/onnxtune/onnxtune/loss"
	"github.com/onnxtune/onnxtune/onnx"
	"github.com/onnxtune/onnxtune/tensor"
)

// Run fine-tunes cfg.Model and writes the result to cfg.Out. Cancelling ctx stops training
// between two batches: Run then returns an error that wraps ctx's error, writes nothing
// more, and leaves the last checkpoint and cfg.Out as they were.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.MaxMemory > 0 {
		// The collector works harder as the heap nears the limit, for this run only.
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(cfg.MaxMemory))
	}
	r, err := newRunner(cfg)
	if err != nil {
		return nil, err
	}
	return r.run(ctx)
}

// runner is a run being set up and trained.
type runner struct {
	cfg     Config
	model   *onnx.Model
	baseSum string
	g       *graph.Graph // imported from model
	head    *HeadInfo

	trainG   *graph.Graph // what a step runs (BN per cfg.BN)
	training bool         // Context.Training for the steps
	dropout  bool         // trainG has Dropout nodes that train
	evalPlan *graph.Plan  // inference: validation, export
	grads    *Gradients   // rebuilt per epoch when dropout

	expr      *loss.Expr
	output    string              // the graph output the loss reads
	labels    loss.Labels         // the training data's classes, for the loss and the metrics
	image     data.ImageTransform // how image-folder examples are shaped and normalised
	monitor   Monitor             // what early stopping and the best weights follow
	inputName string
	stepInput string      // what a step feeds the batches to: the input, or the cached backbone's output
	cache     *cachedData // the frozen backbone's outputs, when cached (setupCache)

	trained []string
	params  map[string]*tensor.Tensor
	bn      *bnStats
	opt     Optimizer
	sched   *Schedule
	lr      float64

	trainData, valData data.Dataset
	skipped            []string // what screenImages left out, for the progress reader
	embeddingAt        string   // the value an embedding model was cut at (Config.Embedding)
	loader             *data.Loader
	progress           *progress
}

// newRunner checks cfg, loads the model and sets up everything the run needs.
func newRunner(cfg Config) (*runner, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	r := &runner{cfg: cfg}
	if r.baseSum, err = fileSHA256(cfg.Model); err != nil {
		return nil, fmt.Errorf("train: %w", UnwrapPath(err))
	}
	if r.model, err = onnx.Load(cfg.Model); err != nil {
		return nil, err
	}
	var pre *Preprocessing
	if r.g, pre, err = ImportForData(r.model); err != nil {
		return nil, fmt.Errorf("train: %s: %w", cfg.Model, err)
	}
	// A model carrying its preprocessing is fed what it was given, and keeps taking pixels.
	r.cfg.Mean, r.cfg.Std = pre.Defaults(r.cfg.Mean, r.cfg.Std)
	if pre != nil && r.cfg.EmbedPreprocessing == "" {
		r.cfg.EmbedPreprocessing = pre.Layout
	}
	if cfg.NumClasses > 0 {
		if r.head, err = ReplaceHead(r.g, cfg.NumClasses, cfg.Seed); err != nil {
			return nil, err
		}
	}
	if cfg.Embedding != "" {
		if r.embeddingAt, err = CutAtEmbedding(r.g, cfg.Embedding, cfg.Normalize); err != nil {
			return nil, err
		}
	}
	if len(r.g.Inputs) != 1 {
		return nil, fmt.Errorf("train: %s has %d inputs; training feeds models of one input", cfg.Model, len(r.g.Inputs))
	}
	r.inputName = r.g.Inputs[0].Name
	r.stepInput = r.inputName
	if err := r.setupData(); err != nil {
		return nil, err
	}
	sizes := []int{r.trainData.Len()}
	if r.valData != nil {
		sizes = append(sizes, r.valData.Len())
	}
	if err := CheckBatch(r.g, "train: "+cfg.Model, r.cfg.BatchSize, sizes...); err != nil {
		return nil, err
	}
	if err := r.setupLoss(); err != nil {
		return nil, err
	}
	if err := r.setupGraphs(); err != nil {
		return nil, err
	}
	if err := r.checkLoss(); err != nil {
		return nil, err
	}
	if err := r.setupOptimizer(); err != nil {
		return nil, err
	}
	if err := r.checkMemory(); err != nil {
		return nil, err
	}
	return r, nil
}

// setupLoss parses the loss expression with its class weights (balanced ones computed from
// the training labels).
func (r *runner) setupLoss() error {
	if r.cfg.BalanceClassWeights {
		labels, err := r.trainLabels("balanced class weights")
		if err != nil {
			return err
		}
		if r.cfg.ClassWeights, err = data.BalancedClassWeights(labels, r.labels.Classes); err != nil {
			return fmt.Errorf("train: balanced class weights: %w", err)
		}
	}
	expr, err := loss.ParseExpr(r.cfg.Loss, loss.Params{ClassWeights: r.cfg.ClassWeights})
	if err != nil {
		return err
	}
	r.expr = expr
	return nil
}

// trainLabels returns the class index of every training example, for what (balancing).
func (r *runner) trainLabels(what string) ([]int64, error) {
	labels, ok, err := data.Labels(r.trainData)
	if err != nil {
		return nil, err
	}
	if !ok || r.labels.Classes == 0 {
		return nil, fmt.Errorf("train: %s need class-index targets; %s has none", what, r.dataName())
	}
	return labels, nil
}

// checkLoss runs the model and the loss on the first two training examples (and the first
// validation one), so that a loss that cannot read the data fails before any training.
func (r *runner) checkLoss() error {
	for _, c := range []struct {
		ds   data.Dataset
		what string
	}{{r.trainData, r.dataName()}, {r.valData, "the validation data"}} {
		if c.ds == nil {
			continue
		}
		n := 2 // any batch size will do, but that of a model that takes no other
		if size := fixedBatchSize(r.g); size > 0 {
			n = size
		}
		l := data.NewLoader(c.ds, min(n, c.ds.Len()), false, 0, 1)
		for b, err := range l.Epoch(context.Background(), 0) {
			if err != nil {
				return err
			}
			if b.Y == nil {
				return fmt.Errorf("%w: %s", errNoTargets, c.what)
			}
			outs, err := r.evalPlan.Run(nil, map[string]*tensor.Tensor{r.inputName: b.X})
			if err != nil {
				return fmt.Errorf("train: %s: %w", r.cfg.Model, err)
			}
			_, err = r.expr.Eval(loss.Batch{Outputs: outs, Targets: map[string]*tensor.Tensor{r.output: b.Y},
				Default: r.output, Weights: r.params, Labels: r.labels})
			if err != nil {
				return fmt.Errorf("train: the loss cannot read %s: %w", c.what, err)
			}
			if !r.ownTargets() {
				if err := checkLabelRange(c.ds, c.what, outs[r.output], r.labels); err != nil {
					return err
				}
			}
			break
		}
	}
	return nil
}

// ownTargets reports whether a loss reads the output with targets of its own kind (the
// in-batch triplet and contrastive losses read class indices on embeddings, not scores).
func (r *runner) ownTargets() bool {
	for _, t := range r.expr.Terms {
		if t.Loss != nil && (t.Output == "" || t.Output == r.output) && t.Loss.Reading().Labels == loss.OwnTarget {
			return true
		}
	}
	return false
}

// checkLabelRange finds, before any training, the first example of ds whose class index the
// model's output y ([N, C] scores, one logit for a binary classifier) cannot score, and names
// it by its index (and file, in an image folder): the loss would only meet it in a shuffled
// batch. Data sets that do not list their labels, and other outputs, pass; so does any label
// on one logit with a positive class named (that class against the rest).
func checkLabelRange(ds data.Dataset, what string, y *tensor.Tensor, labels loss.Labels) error {
	l, ok := ds.(data.Labeler)
	if !ok || y == nil || y.Rank() != 2 {
		return nil
	}
	classes := y.Shape()[1]
	if classes == 1 {
		if labels.Positive != nil {
			return nil
		}
		classes = 2 // one logit: labels 0 and 1
	}
	for i, v := range l.Labels() {
		if v >= 0 && v < int64(classes) {
			continue
		}
		where := fmt.Sprintf("example %d", i)
		if f, ok := ds.(*data.ImageFolder); ok {
			where = fmt.Sprintf("example %d (%s)", i, f.Path(i))
		}
		return fmt.Errorf("train: %s: %s has label %d, outside the model's classes 0..%d", what, where, v, classes-1)
	}
	return nil
}

// setupGraphs selects what trains and builds the training and inference graphs.
func (r *runner) setupGraphs() error {
	var err error
	if r.trainG, r.training, err = trainingGraph(r.g, r.cfg.BN); err != nil {
		return err
	}
	ig, err := inferenceGraph(r.g)
	if err != nil {
		return err
	}
	if r.evalPlan, err = graph.NewPlan(ig); err != nil {
		return fmt.Errorf("train: %s: %w", r.cfg.Model, err)
	}
	r.trained = r.cfg.Trainable
	if r.trained == nil {
		if r.trained, err = SelectTrainable(backprop.Trainable(r.g), r.cfg.TrainOnly, r.cfg.Freeze); err != nil {
			return err
		}
	}
	if r.params, err = trainedParams(r.g, r.trained); err != nil {
		return err
	}
	if r.bn, err = newBNStats(r.trainG, r.training); err != nil {
		return err
	}
	for _, n := range r.trainG.Nodes {
		r.dropout = r.dropout || (r.training && n.OpType == "Dropout" && n.Domain == "")
	}
	// The plan of epoch 0 checks the objective now, before any data is read.
	gr, err := r.gradients(0)
	if err != nil {
		return err
	}
	if outs := gr.Outputs(); len(outs) != 1 {
		return fmt.Errorf("train: the loss reads outputs %s; a data set gives one target, so train on one output", quoteList(outs))
	}
	r.output = gr.Outputs()[0]
	r.grads = gr
	return nil
}

// gradients returns the forward and backward pass of the epoch's steps. With training
// Dropout, each epoch gets a plan whose Dropout nodes are seeded from (Seed, epoch, node),
// so that masks are repeatable and a resumed run draws the masks an uninterrupted one does.
func (r *runner) gradients(epoch int) (*Gradients, error) {
	if r.grads != nil && !r.dropout {
		return r.grads, nil
	}
	g := r.trainG
	if r.dropout {
		c := *g
		c.Nodes = make([]*graph.Node, len(g.Nodes))
		for i, n := range g.Nodes {
			c.Nodes[i] = n
			if n.OpType != "Dropout" || n.Domain != "" {
				continue
			}
			d := *n
			d.Attrs = make(map[string]graph.Attr, len(n.Attrs)+1)
			for k, v := range n.Attrs {
				d.Attrs[k] = v
			}
			seed := int64(mix64(r.cfg.Seed ^ mix64(uint64(epoch)<<20^uint64(i))))
			d.Attrs["seed"] = graph.Attr{Type: graph.AttrInt, Int: seed}
			c.Nodes[i] = &d
		}
		g = &c
	}
	plan, err := graph.NewPlan(g)
	if err != nil {
		return nil, fmt.Errorf("train: %s: %w", r.cfg.Model, err)
	}
	return NewGradients(plan, Objective{Expr: r.expr, Output: r.cfg.Output}, r.trained)
}

// mix64 is SplitMix64's finaliser: distinct inputs give well-spread seeds.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// setupData opens the training and validation data for the model's input.
func (r *runner) setupData() error {
	r.image = InputTransform(r.g, r.cfg.Mean, r.cfg.Std)
	opt := data.Options{InputName: r.inputName, Image: r.image}
	var err error
	r.trainData = r.cfg.Train
	if r.trainData == nil {
		if r.trainData, err = data.Open(r.cfg.Data, opt); err != nil {
			return err
		}
		if r.trainData, err = r.screenImages(r.trainData, r.dataName()); err != nil {
			return err
		}
	}
	r.valData = r.cfg.ValData
	switch {
	case r.valData != nil:
	case r.cfg.Val != "":
		opt.Split = "t10k"
		if r.valData, err = data.Open(r.cfg.Val, opt); err != nil {
			return err
		}
		if r.valData, err = r.screenImages(r.valData, r.cfg.Val); err != nil {
			return err
		}
	case r.cfg.ValSplit != 0:
		tr, va, err := data.Split(r.trainData, r.cfg.ValSplit, r.cfg.Seed)
		if err != nil {
			return err
		}
		r.trainData, r.valData = tr, va
	}
	if r.trainData.Len() == 0 {
		return fmt.Errorf("train: %s holds no examples", r.dataName())
	}
	if _, images := r.trainData.(*data.ImageFolder); r.cfg.EmbedPreprocessing != "" && !images {
		return fmt.Errorf("train: %s: embedding the preprocessing writes what onnxtune does to an image folder's images, and this is not one", r.dataName())
	}
	switch {
	case r.cfg.Patience > 0 && r.valData == nil:
		return errors.New("train: early stopping (patience) needs validation data (a validation set or split)")
	case r.cfg.TargetSensitivity != 0 && r.valData == nil:
		return errors.New("train: a target sensitivity is reached on validation data (a validation set or split)")
	}
	if r.labels, err = DataLabels(r.trainData, r.cfg.PositiveClass); err != nil {
		return fmt.Errorf("train: %s: %w", r.dataName(), err)
	}
	if r.monitor, err = ParseMonitor(r.cfg.Monitor); err != nil {
		return err
	}
	switch {
	case r.cfg.Monitor != "" && r.valData == nil:
		return fmt.Errorf("train: monitor %s needs validation data (a validation set or split)", r.monitor)
	case r.monitor.needsBinary() && !r.binary():
		return fmt.Errorf("train: monitor %s needs a binary classifier: a two-class data set, or a named positive class", r.monitor)
	}
	r.loader = data.NewLoader(r.trainData, r.cfg.BatchSize, r.cfg.Shuffle, r.cfg.Seed, r.cfg.Workers)
	r.loader.Augment = r.cfg.Augment
	r.loader.MPerClass = r.cfg.MPerClass
	if r.cfg.MPerClass > 0 {
		// Said now, before the model runs: the data must have the classes to fill a batch.
		if err := r.loader.Check(); err != nil {
			return fmt.Errorf("train: %s: %w", r.dataName(), err)
		}
	}
	if r.cfg.Balance {
		labels, err := r.trainLabels("--balance")
		if err != nil {
			return err
		}
		if r.loader.Weights, err = data.BalancedWeights(labels, r.labels.Classes); err != nil {
			return fmt.Errorf("train: balance: %w", err)
		}
	}
	return nil
}

// InputTransform is how image-folder examples are shaped for g's (first) input, [C, H, W]
// when the model declares them, and normalised by mean and std (nil: ImageNet's for
// 3-channel image folders, none otherwise): what train and eval both feed the model.
func InputTransform(g *graph.Graph, mean, std []float32) data.ImageTransform {
	t := data.ImageTransform{Mean: mean, Std: std}
	if s := g.Inputs[0].Shape; len(s) == 4 && s[1].Size > 0 && s[2].Size > 0 && s[3].Size > 0 {
		t.Channels, t.Height, t.Width = s[1].Size, s[2].Size, s[3].Size
	}
	return t
}

// exampleList names a batch's examples by their indices in the data, the first eight of a
// larger batch.
func exampleList(idx []int) string {
	parts := make([]string, 0, min(len(idx), 8))
	for _, i := range idx[:min(len(idx), 8)] {
		parts = append(parts, strconv.Itoa(i))
	}
	s := strings.Join(parts, ", ")
	if len(idx) > 8 {
		s += fmt.Sprintf(", ... %d in all", len(idx))
	}
	return s
}

// nonFiniteOrigin runs the inference plan on a batch whose loss went NaN or infinite and names
// the first node whose output holds NaN or an infinity (", first non-finite at node ..."), or
// says that none does (the loss itself, or the weights' update, is where it starts); "" when
// the steps do not start from the model's input (a cached backbone).
func (r *runner) nonFiniteOrigin(x *tensor.Tensor) string {
	if r.stepInput != r.inputName {
		return ""
	}
	steps := r.evalPlan.Steps()
	var first *graph.Node
	_, err := r.evalPlan.Forward(nil, map[string]*tensor.Tensor{r.inputName: x}, nil, func(i int, vals []*tensor.Tensor) {
		for _, slot := range steps[i].Out {
			if first == nil && slot >= 0 && hasNonFinite(vals[slot]) {
				first = steps[i].Node
			}
		}
	})
	switch {
	case err != nil:
		return ""
	case first == nil:
		return "; the model's outputs are finite on them, so the loss is where it starts"
	}
	return fmt.Sprintf("; the first output to hold NaN or an infinity is node %q (%s)", first.Name, first.OpType)
}

// readers names the nodes of the training graph that read weight, for a message about it.
func (r *runner) readers(weight string) string {
	var nodes []string
	for _, n := range r.trainG.Nodes {
		if slices.Contains(n.Inputs, weight) {
			nodes = append(nodes, fmt.Sprintf("%q (%s)", n.Name, n.OpType))
		}
	}
	if len(nodes) == 0 {
		return "no node reads it"
	}
	return "the model's outputs are finite; the weight is read by node " + strings.Join(nodes, ", ")
}

// hasNonFinite reports whether a floating-point tensor holds NaN or an infinity.
func hasNonFinite(t *tensor.Tensor) bool {
	if t == nil || !t.DType().IsFloat() {
		return false
	}
	for i := range t.Len() {
		if v := t.Float64At(i); v-v != 0 {
			return true
		}
	}
	return false
}

// screenImages reads the header of every image of an image folder before training: an image
// no decoder reads stops the run there, naming it, unless SkipBad leaves such images out
// (and says how many). Other data sets pass as they are.
func (r *runner) screenImages(ds data.Dataset, name string) (data.Dataset, error) {
	f, ok := ds.(*data.ImageFolder)
	if !ok {
		return ds, nil
	}
	bad, errs := f.Unreadable()
	if len(bad) == 0 {
		return ds, nil
	}
	first := strings.TrimPrefix(errs[0].Error(), "data: ")
	switch {
	case !r.cfg.SkipBad:
		return nil, fmt.Errorf("train: %s: %d of %d images cannot be read (the first: %s); --skip-bad leaves them out", name, len(bad), f.Len(), first)
	case len(bad) == f.Len():
		return nil, fmt.Errorf("train: %s: none of its %d images can be read (the first: %s)", name, f.Len(), first)
	}
	r.skipped = append(r.skipped, fmt.Sprintf("%s: left out %d unreadable image(s) of %d (the first: %s)", name, len(bad), f.Len(), first))
	return f.Without(bad), nil
}

func (r *runner) dataName() string {
	if r.cfg.Data != "" {
		return r.cfg.Data
	}
	return "the training data set"
}

// valName names the validation data: its path, or the share held out of the training data.
func (r *runner) valName() string {
	if r.cfg.Val != "" {
		return r.cfg.Val
	}
	if r.cfg.ValSplit != 0 {
		return fmt.Sprintf("the %g held out of %s (seed %d)", r.cfg.ValSplit, r.dataName(), r.cfg.Seed)
	}
	return "the validation data set"
}

// setupOptimizer builds the optimizer and the schedule.
func (r *runner) setupOptimizer() error {
	var err error
	if r.opt, err = NewOptimizer(r.cfg.Optimizer); err != nil {
		return err
	}
	r.lr = r.cfg.LR
	if r.lr == 0 {
		r.lr = DefaultLR(r.cfg.Optimizer.Name)
	}
	r.sched, err = NewSchedule(r.cfg.Schedule, r.lr, r.loader.Len(), r.cfg.Epochs, r.cfg.WarmupSteps, r.cfg.StepSize, r.cfg.Gamma)
	return err
}

// state returns the tensors training changes, by initializer name: trained weights and
// running statistics.
func (r *runner) state() map[string]*tensor.Tensor {
	out := make(map[string]*tensor.Tensor, len(r.params))
	for name, t := range r.params {
		out[name] = t
	}
	for _, name := range r.bn.names() {
		out[name] = r.g.Initializers[name]
	}
	return out
}

// snapshot copies the state.
func (r *runner) snapshot() map[string]*tensor.Tensor {
	out := r.state()
	for name, t := range out {
		out[name] = t.Clone()
	}
	return out
}

// restore copies saved values into the live tensors (in place: every plan sees them).
func (r *runner) restore(saved map[string]*tensor.Tensor, what string) error {
	live := r.state()
	for name, t := range live {
		s := saved[name]
		if s == nil {
			return fmt.Errorf("train: %s lacks %q", what, name)
		}
		if s.DType() != t.DType() || !tensor.EqualShapes(s.Shape(), t.Shape()) {
			return fmt.Errorf("train: %s: %q is %v, the model's %v", what, name, s, t)
		}
	}
	for name, t := range live {
		copy(t.Float32s(), saved[name].Float32s())
	}
	return nil
}

// checkpointRecord describes the run for checkpoint.json.
func (r *runner) checkpointRecord() *checkpoint {
	return &checkpoint{
		RNG:        rngState{Seed: r.cfg.Seed, Shuffle: r.cfg.Shuffle, Scheme: rngScheme},
		BaseSHA256: r.baseSum,
		Optimizer:  strings.ToLower(strings.TrimSpace(r.cfg.Optimizer.Name)),
		BatchSize:  r.cfg.BatchSize,
		Examples:   r.trainData.Len(),
		Trained:    slices.Clone(r.trained),
		Command:    r.cfg.Command,
	}
}

// stopError is returned when ctx ends training in epoch (0-based) after batches of its
// batches; saved describes the checkpoint left behind ("" for none).
func (r *runner) stopError(ctx context.Context, epoch, batches int, saved string) error {
	if saved == "" {
		saved = "no checkpoint was written"
	}
	out := ""
	if r.cfg.Out != "" {
		out = fmt.Sprintf("; %s was not written", r.cfg.Out)
	}
	cause := context.Cause(ctx)
	if cause == nil {
		cause = context.Canceled
	}
	return fmt.Errorf("train: interrupted in epoch %d after %d batches; %s%s: %w", epoch+1, batches, saved, out, cause)
}

// savedAt describes a checkpoint for stopError.
func (r *runner) savedAt(ck *checkpoint) string {
	at := fmt.Sprintf("epoch %d", ck.Epoch)
	if ck.Within != nil {
		at = fmt.Sprintf("epoch %d, batch %d,", ck.Epoch+1, ck.Within.Batches)
	}
	return fmt.Sprintf("the checkpoint of %s in %s is intact (--resume %s continues from it)", at, r.cfg.CheckpointDir, r.cfg.CheckpointDir)
}

// runState is what a checkpoint records of a run beyond the weights and the optimizer.
type runState struct {
	step        int // optimizer steps taken
	history     []EpochStats
	best        *bestState
	bestWeights map[string]*tensor.Tensor
}

// saveCheckpoint writes the run's checkpoint: after epochs complete epochs and, with within,
// partway into the next.
func (r *runner) saveCheckpoint(rs *runState, epochs int, within *partialEpoch) (*checkpoint, error) {
	ck := r.checkpointRecord()
	ck.Epoch, ck.Step, ck.Best, ck.History, ck.Within = epochs, rs.step, rs.best, rs.history, within
	if rs.best != nil && rs.best.Epoch == 0 {
		// No validation yet (a checkpoint within the first epoch): the value is the monitor's
		// worst, an infinity JSON cannot hold; resuming sets it again.
		b := *rs.best
		b.Value = 0
		ck.Best = &b
	}
	arrays := map[string]map[string]*tensor.Tensor{"weights": r.state(), "optimizer": r.opt.State()}
	if rs.bestWeights != nil {
		arrays["best"] = rs.bestWeights
	}
	err := saveCheckpoint(r.cfg.CheckpointDir, ck, arrays, func(path string) error {
		m, err := r.export(epochs, rs.history, nil)
		if err != nil {
			return err
		}
		return SaveBeside(m, r.cfg.Model, path)
	})
	return ck, err
}

// writeLog replaces the --log file with one record per epoch of history: a run resumed
// from a checkpoint logs the checkpoint's epochs and its own, never an epoch twice.
func (r *runner) writeLog(history []EpochStats) error {
	var b []byte
	for _, h := range history {
		line, err := json.Marshal(h)
		if err != nil {
			return fmt.Errorf("train: log: %w", err)
		}
		b = append(append(b, line...), '\n')
	}
	if err := atomicfile.WriteBytes(r.cfg.Log, b); err != nil {
		return fmt.Errorf("train: log: %w", err)
	}
	return nil
}

func (r *runner) run(ctx context.Context) (res *Result, err error) {
	res = &Result{Trained: r.trained, Head: r.head}
	rs := &runState{}
	start := 0
	var within *partialEpoch // where the first epoch resumes, if within it
	if r.valData != nil {
		rs.best = &bestState{Monitor: r.monitor.String(), Value: r.monitor.worst()}
	}
	saved := "" // the checkpoint the run would resume from, for stopError
	if r.cfg.Resume != "" {
		ck, arrays, err := loadCheckpoint(r.cfg.Resume)
		if err != nil {
			return nil, err
		}
		now := r.checkpointRecord()
		now.Best = rs.best
		if err := checkResume(ck, now); err != nil {
			return nil, err
		}
		switch {
		case ck.Within != nil && ck.Within.Batches > r.loader.Len():
			return nil, fmt.Errorf("train: resume: the checkpoint is %d batches into an epoch of %d", ck.Within.Batches, r.loader.Len())
		case ck.Within != nil && ck.Epoch >= r.cfg.Epochs:
			// Its weights are past the end of the last epoch asked for.
			return nil, fmt.Errorf("train: resume: the checkpoint is within epoch %d; %d epochs end before it", ck.Epoch+1, r.cfg.Epochs)
		}
		if err := r.restore(arrays["weights"], "the checkpoint's weights"); err != nil {
			return nil, err
		}
		if err := r.opt.SetState(arrays["optimizer"]); err != nil {
			return nil, fmt.Errorf("train: resume: %w", err)
		}
		start, rs.step, rs.history, within = ck.Epoch, ck.Step, ck.History, ck.Within
		if rs.best != nil && ck.Best != nil && ck.Best.Epoch > 0 {
			rs.best = ck.Best
			if b := arrays["best"]; b != nil {
				rs.bestWeights = b
			}
		}
		saved = r.savedAt(ck)
	}
	if r.cfg.Log != "" {
		// Written now, so that a log that cannot be written stops the run before its first
		// epoch; rewritten whole after each epoch.
		if err := r.writeLog(rs.history); err != nil {
			return nil, err
		}
	}
	r.progress = newProgress(r.cfg.Progress, r.cfg.ProgressBar, r.cfg.Epochs, r.loader.Len(), r.trainData.Len())
	r.noteSetup()
	if start < r.cfg.Epochs {
		if err := r.setupCache(ctx); err != nil {
			return nil, err
		}
		defer r.cache.close()
	}
	// stop ends the run on ctx's cancellation in epoch after st's batches: it first saves
	// where the epoch stands, when checkpointing, so that --resume continues from there.
	stop := func(epoch int, st *epochStats) error {
		if r.cfg.CheckpointDir != "" && st.batches > 0 {
			ck, err := r.saveCheckpoint(rs, epoch, st.partial())
			if err != nil {
				return err
			}
			saved = r.savedAt(ck)
		}
		return r.stopError(ctx, epoch, st.batches, saved)
	}
	stopped := false
	for epoch := start; epoch < r.cfg.Epochs && !stopped; epoch++ {
		st, err := r.epoch(ctx, epoch, rs, within)
		within = nil
		if err != nil {
			if ctx.Err() != nil {
				return nil, stop(epoch, &st)
			}
			return nil, err
		}
		if r.valData != nil {
			v, metrics, monitored, err := r.evaluate(ctx, r.valData)
			if err != nil {
				if ctx.Err() != nil {
					return nil, stop(epoch, &st)
				}
				return nil, err
			}
			st.ValLoss, st.Metrics = &v, metrics
			if r.monitor.Better(monitored, rs.best.Value) {
				rs.best.Epoch, rs.best.Value, rs.best.SinceBest = epoch+1, monitored, 0
				if r.cfg.Patience > 0 {
					rs.bestWeights = r.snapshot()
				}
			} else {
				rs.best.SinceBest++
			}
			stopped = r.cfg.Patience > 0 && rs.best.SinceBest >= r.cfg.Patience
		}
		st.Seconds = time.Since(st.began).Seconds()
		rs.history = append(rs.history, st.EpochStats)
		r.progress.epochDone(st.EpochStats)
		if r.cfg.Log != "" {
			if err := r.writeLog(rs.history); err != nil {
				return nil, err
			}
		}
		if r.cfg.CheckpointDir != "" {
			ck, err := r.saveCheckpoint(rs, epoch+1, nil)
			if err != nil {
				return nil, err
			}
			saved = r.savedAt(ck)
		}
		if ctx.Err() != nil {
			// Stopped after the epoch: its checkpoint (if any) is whole, the output unwritten.
			return nil, r.stopError(ctx, epoch, st.batches, saved)
		}
	}
	res.History = rs.history
	res.Epochs, res.Stopped = len(res.History), stopped
	if r.cfg.Patience > 0 && rs.bestWeights != nil {
		if err := r.restore(rs.bestWeights, "the best epoch's weights"); err != nil {
			return nil, err
		}
		res.BestEpoch = rs.best.Epoch
	}
	fin, err := r.finish(ctx)
	if err != nil {
		return nil, err
	}
	res.Calibration, res.Preprocessing = fin.cal, fin.pre
	if res.Model, err = r.export(res.Epochs, res.History, fin); err != nil {
		return nil, err
	}
	if r.cfg.Out != "" {
		if err := SaveBeside(res.Model, r.cfg.Model, r.cfg.Out); err != nil {
			return nil, err
		}
		in := fin.sample
		if in == nil {
			if in, err = r.sampleInputs(); err != nil {
				return nil, err
			}
		}
		if err := VerifyExport(r.cfg.Out, fin.plan, in, 1e-5); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// finished is what the tuned model becomes on export: the inference graph with the decision
// of TargetSensitivity and the preprocessing of EmbedPreprocessing, if asked for; the plan
// the written file is checked against, and the inputs it is checked on (nil: examples).
type finished struct {
	graph  *graph.Graph
	plan   *graph.Plan
	cal    *Calibration
	pre    *Preprocessing
	sample map[string]*tensor.Tensor
}

// finish adds to the tuned model what the configuration asks the written one to carry.
func (r *runner) finish(ctx context.Context) (*finished, error) {
	f := &finished{graph: r.evalPlan.Graph, plan: r.evalPlan}
	var err error
	if r.cfg.TargetSensitivity != 0 {
		if f.cal, err = r.calibrate(ctx); err != nil {
			return nil, err
		}
		f.graph = f.cal.Model.Graph
	}
	if r.cfg.EmbedPreprocessing != "" {
		if f.graph, f.pre, err = EmbedPreprocessing(f.graph, r.image, r.cfg.EmbedPreprocessing); err != nil {
			return nil, err
		}
		f.sample = f.pre.Sample(2, r.cfg.Seed)
	}
	if f.graph != r.evalPlan.Graph {
		if f.plan, err = graph.NewPlan(f.graph); err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
	}
	return f, nil
}

// calibrate fits the decision of Config.TargetSensitivity on the validation data, with the
// tuned weights, as `onnxtune calibrate` does.
func (r *runner) calibrate(ctx context.Context) (*Calibration, error) {
	l := data.NewLoader(r.valData, r.cfg.BatchSize, false, r.cfg.Seed, r.cfg.Workers)
	op := OperatingPoint{TargetSensitivity: r.cfg.TargetSensitivity, Calibrate: true}
	opt := EvalOptions{Loss: r.expr, Output: r.output, Labels: r.labels, Weights: r.params, Classes: r.valData.Classes()}
	c, err := Calibrate(ctx, r.evalPlan, l, opt, op, r.valName())
	if err != nil {
		return nil, fmt.Errorf("train: %s: %w", r.valName(), err)
	}
	return c, nil
}

// epochStats is an epoch in progress.
type epochStats struct {
	EpochStats
	began   time.Time
	batches int        // batches done
	total   loss.Total // their losses
}

// partial is where the epoch stands, for a checkpoint taken within it.
func (st *epochStats) partial() *partialEpoch {
	return &partialEpoch{Batches: st.batches, Examples: st.Examples, LR: st.LR, Loss: st.total}
}

// epoch runs one epoch of optimizer steps, counting them in rs.step and checkpointing every
// Config.CheckpointEvery steps. With from, it continues an epoch a checkpoint was taken
// within: from its next batch, with the sums of the batches before it.
func (r *runner) epoch(ctx context.Context, epoch int, rs *runState, from *partialEpoch) (epochStats, error) {
	st := epochStats{EpochStats: EpochStats{Epoch: epoch + 1}, began: time.Now()}
	gr, err := r.gradients(epoch)
	if err != nil {
		return st, err
	}
	if from != nil {
		st.batches, st.Examples, st.LR, st.total = from.Batches, from.Examples, from.LR, from.Loss
		st.Steps = rs.step
		gr.plan.SkipRuns(from.Batches) // Dropout's masks: run n of the epoch draws stream n
	}
	r.progress.epochStart(epoch)
	trainStep := &Step{grads: gr, ctx: &graph.Context{Training: r.training, BatchStats: r.bn.hook},
		bn: r.bn, opt: r.opt, params: r.params}
	for b, err := range r.loader.EpochFrom(ctx, epoch, st.batches) {
		if err != nil {
			return st, err
		}
		lr := r.sched.LR(rs.step)
		v, err := trainStep.Take(map[string]*tensor.Tensor{r.stepInput: b.X}, map[string]*tensor.Tensor{r.output: b.Y}, r.labels, lr)
		if d, ok := errors.AsType[*divergedError](err); ok {
			origin := r.nonFiniteOrigin(b.X)
			if d.Weight != "" {
				origin = "; " + r.readers(d.Weight)
			}
			hint := "" // before the first update, the learning rate is not to blame
			if rs.step > 0 {
				hint = " (try a smaller learning rate)"
			}
			return st, fmt.Errorf("train: %s in epoch %d, batch %d (examples %s)%s: %w%s",
				d.what, epoch+1, st.batches+1, exampleList(b.Indices), origin, errDiverged, hint)
		}
		if err != nil {
			return st, err
		}
		rs.step++
		st.batches++
		st.total.Add(v)
		st.Examples += len(b.Indices)
		st.LR = lr
		st.Steps = rs.step
		r.progress.batchDone(st.batches, st.Examples, st.total.Value(r.expr))
		if ctx.Err() != nil {
			return st, ctx.Err()
		}
		if every := r.cfg.CheckpointEvery; every > 0 && rs.step%every == 0 && st.batches < r.loader.Len() && r.cfg.CheckpointDir != "" {
			if _, err := r.saveCheckpoint(rs, epoch, st.partial()); err != nil {
				return st, err
			}
		}
	}
	st.TrainLoss = st.total.Value(r.expr)
	return st, nil
}

// evaluate measures the loss expression on ds in inference (BatchNorm with running
// statistics, no Dropout), exactly as `onnxtune eval --loss` does (Evaluate), its penalties
// on the trained weights; the metrics (Report.Metrics) where the loss is a classifier's, with
// the monitored value among them; and the monitored value.
func (r *runner) evaluate(ctx context.Context, ds data.Dataset) (loss float64, metrics map[string]float64, monitored float64, err error) {
	l := data.NewLoader(ds, r.cfg.BatchSize, false, r.cfg.Seed, r.cfg.Workers)
	rep, err := Evaluate(ctx, r.evalPlan, l.Epoch(ctx, 0), EvalOptions{
		Loss: r.expr, Output: r.output, Labels: r.labels, Weights: r.params,
	})
	if err != nil {
		return 0, nil, 0, err
	}
	if rep.Kind != AutoKind {
		metrics = rep.Metrics()
	}
	if monitored, err = r.monitor.Value(rep); err != nil {
		return 0, nil, 0, err
	}
	if k := r.monitor.key(); k != "" {
		metrics[k] = monitored
	}
	return rep.Loss, metrics, monitored, nil
}

// sampleInputs is a batch of up to 8 examples (validation ones if any) for the check of the
// exported model.
func (r *runner) sampleInputs() (map[string]*tensor.Tensor, error) {
	ds := r.valData
	if ds == nil {
		ds = r.trainData
	}
	return SampleInputs(context.Background(), ds, r.inputName)
}

// export is the model with the current weights and the run's description.
// fin, when not nil, is what the final model carries.
func (r *runner) export(epochs int, history []EpochStats, fin *finished) (*onnx.Model, error) {
	meta := r.metadata(epochs)
	if len(history) > 0 {
		e := r.bestEpoch(history)
		for _, h := range history {
			if h.Epoch == e && h.ValLoss != nil {
				meta[MetadataPrefix+"val_loss"] = strconv.FormatFloat(*h.ValLoss, 'g', 6, 64)
			}
			if v, ok := r.monitor.Of(h); ok && h.Epoch == e && r.monitor.key() != "" {
				meta[MetadataPrefix+"monitor"] = r.monitor.String()
				meta[MetadataPrefix+r.monitor.String()] = strconv.FormatFloat(v, 'g', 6, 64)
			}
		}
	}
	g := r.g
	if fin != nil {
		if fin.cal != nil {
			maps.Copy(meta, fin.cal.Metadata())
		}
		if fin.pre != nil {
			maps.Copy(meta, fin.pre.Metadata())
		}
		g = fin.graph
	}
	return ExportModel(r.model, g, meta)
}

// bestEpoch is the epoch whose weights the model holds under patience (the first with the
// best monitored value), else the last.
func (r *runner) bestEpoch(history []EpochStats) int {
	last := history[len(history)-1].Epoch
	if r.cfg.Patience <= 0 {
		return last
	}
	best, bv := last, r.monitor.worst()
	for _, h := range history {
		if v, ok := r.monitor.Of(h); ok && r.monitor.Better(v, bv) {
			best, bv = h.Epoch, v
		}
	}
	return best
}

// dataMetadata records what predict, eval and the report need to feed the tuned model and
// name its classes (ReadRecorded): the class names, and the normalisation images get.
func (r *runner) dataMetadata() map[string]string {
	meta := map[string]string{}
	names := r.trainData.Classes()
	width := r.cfg.NumClasses // the output's classes, where known
	for _, o := range r.g.Outputs {
		if o.Name == r.output && len(o.Shape) == 2 && o.Shape[1].Size > 0 && width == 0 {
			width = o.Shape[1].Size
		}
	}
	if width > 0 && width != len(names) && !(width == 1 && r.binary()) {
		names = nil // an output whose classes are not the data's
	}
	if len(names) > 0 {
		b, _ := json.Marshal(names)
		meta["classes"] = string(b)
	}
	if readsAsItGoes(r.trainData) || r.cfg.Mean != nil || r.cfg.Std != nil {
		if mean, std, err := r.image.Normalization(); err == nil && mean != nil {
			meta["mean"], meta["std"] = metaFloats(mean), metaFloats(std)
		}
	}
	return meta
}

func metaFloats(v []float32) string {
	parts := make([]string, len(v))
	for i, f := range v {
		parts[i] = strconv.FormatFloat(float64(f), 'g', -1, 32)
	}
	return strings.Join(parts, ",")
}

// metadata records how the model was tuned, under MetadataPrefix.
func (r *runner) metadata(epochs int) map[string]string {
	c := r.cfg
	meta := map[string]string{
		"base_model":  filepath.Base(c.Model),
		"base_sha256": r.baseSum,
		"data":        c.Data,
		"loss":        r.expr.String(),
		"optimizer":   strings.ToLower(strings.TrimSpace(c.Optimizer.Name)),
		"lr":          metaFloat(r.lr),
		"schedule":    r.sched.String(),
		"epochs":      strconv.Itoa(epochs),
		"batch_size":  strconv.Itoa(c.BatchSize),
		"shuffle":     strconv.FormatBool(c.Shuffle),
		"seed":        strconv.FormatUint(c.Seed, 10),
		"bn":          string(c.BN),
		"trained":     strconv.Itoa(len(r.trained)),
	}
	if meta["data"] == "" {
		meta["data"] = "(in-memory data set)"
	}
	maps.Copy(meta, r.opt.Hyper())
	if r.binary() {
		meta["positive_class"] = ClassName(r.trainData.Classes(), r.labels.PositiveClass())
	}
	if len(c.ClassWeights) > 0 {
		parts := make([]string, len(c.ClassWeights))
		for i, w := range c.ClassWeights {
			parts[i] = metaFloat(w)
		}
		meta["class_weights"] = strings.Join(parts, ",")
	}
	switch {
	case c.Val != "":
		meta["val"] = c.Val
	case c.ValSplit != 0:
		meta["val_split"] = metaFloat(c.ValSplit)
	}
	if c.TrainOnly != "" {
		meta["train_only"] = c.TrainOnly
	}
	if c.Freeze != "" {
		meta["freeze"] = c.Freeze
	}
	if c.NumClasses > 0 {
		meta["num_classes"] = strconv.Itoa(c.NumClasses)
	}
	if c.Augment.Enabled() {
		meta["augment"] = c.Augment.String()
	}
	if c.MPerClass > 0 {
		meta["m_per_class"] = strconv.Itoa(c.MPerClass)
	}
	if r.embeddingAt != "" {
		meta["embedding"] = r.embeddingAt
		meta["normalize"] = strconv.FormatBool(c.Normalize)
	}
	maps.Copy(meta, r.dataMetadata())
	out := make(map[string]string, len(meta))
	for k, v := range meta {
		out[MetadataPrefix+k] = v
	}
	return out
}

// noteSetup tells the progress reader what the data made of the run: the images left out,
// the positive class, and class weights or sampling balanced by class.
func (r *runner) noteSetup() {
	for _, line := range r.skipped {
		r.progress.note(line)
	}
	if r.binary() {
		r.progress.note(PositiveLine(r.labels, r.trainData.Classes()))
	}
	if r.cfg.BalanceClassWeights {
		parts := make([]string, len(r.cfg.ClassWeights))
		for i, w := range r.cfg.ClassWeights {
			parts[i] = ClassName(r.trainData.Classes(), i) + " " + strconv.FormatFloat(w, 'g', 6, 64)
		}
		r.progress.note("class weights (balanced): " + strings.Join(parts, ", "))
	}
	if r.cfg.Balance {
		r.progress.note("sampling: every class equally often on average (with replacement)")
	}
	if m := r.cfg.MPerClass; m > 0 {
		r.progress.note(fmt.Sprintf("sampling: %d examples of each of %d classes per batch, %d batches an epoch", m, r.cfg.BatchSize/m, r.loader.Len()))
	}
}

// binary reports whether the run trains a binary classifier, as far as the data tells: a
// two-class data set, or a positive class named against the rest.
func (r *runner) binary() bool {
	return r.labels.Classes == 2 || r.labels.Positive != nil
}

// errNoTargets reports data without targets (data.Options.Unlabelled) where a loss needs them.
var errNoTargets = errors.New("train: the data has no targets (labels)")

// UnwrapPath drops *os.PathError's operation: "x: no such file or directory".
func UnwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Path, pe.Err)
	}
	return err
}
