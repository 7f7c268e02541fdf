package train

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/internal/atomicfile"
	"github.com/onnxtune/onnxtune/onnx"
	"github.com/onnxtune/onnxtune/tensor"
)

// RecalibrateBatchSize is the batch size RecalibrateModel uses when none is given: eval's, as
// the pass is a forward one. Every batch weighs the same in the average, so batches of equal,
// large size estimate the whole set's statistics best.
const RecalibrateBatchSize = 64

// Recalibration is what a BatchNorm recalibration did.
type Recalibration struct {
	// Nodes counts the BatchNormalization nodes whose statistics were re-estimated.
	Nodes int
	// Batches and Examples count the data they were estimated on.
	Batches, Examples int
	// Model is the recalibrated model RecalibrateModel exported; nil from RecalibrateBN.
	Model *onnx.Model
	// DroppedDecision is the decision the input model carried, fitted to the old statistics
	// and so left out of Model (RecalibrateModel); nil for none.
	DroppedDecision *RecordedDecision
}

// RecalibrateBN re-estimates the running statistics of every BatchNormalization node of g on
// batches of unlabelled data (AdaBN, for a model moving to a new domain), exactly as PyTorch
// does for a model in eval() whose BatchNorm modules alone are put in train() after
// reset_running_stats() with momentum=None, and fed the batches in order under no_grad():
// each node's statistics start at mean 0, variance 1, and the k-th batch is folded in with
// factor 1/k, so that in the end
//
//	running_mean = the mean over batches of the batch mean
//	running_var  = the mean over batches of the unbiased batch variance
//
// every batch counting once whatever its size (a last, smaller batch too). During the pass
// every BatchNormalization normalises with its batch statistics, as PyTorch's train mode
// does, and every other node runs as in inference (Dropout passes its input on). A batch
// that leaves one value per channel (one example after a global pool) is an error, as in
// PyTorch. Batches read g's single input from X; their targets are ignored.
//
// The statistics are written into g's initializers. A statistic g shares with another input
// (PyTorch's exporter merges equal-valued tensors, directly or through an Identity node)
// becomes an initializer of the node's own first: see ownStatistics. g is unchanged when
// RecalibrateBN fails. Export g with ExportModel: its BatchNormalization nodes are then
// inference nodes holding the new statistics.
func RecalibrateBN(ctx context.Context, g *graph.Graph, batches iter.Seq2[*data.Batch, error]) (*Recalibration, error) {
	if len(g.Inputs) != 1 {
		return nil, fmt.Errorf("train: recalibrate BatchNorm: the model has %d inputs; the pass feeds one", len(g.Inputs))
	}
	w, stats, err := ownStatistics(g)
	if err != nil {
		return nil, err
	}
	if len(stats) == 0 {
		return nil, errors.New("train: recalibrate BatchNorm: the model has no BatchNormalization node " +
			"(PyTorch folds them into the convolutions unless exported with do_constant_folding=False, training=TrainingMode.PRESERVE)")
	}
	sg, err := statsGraph(w)
	if err != nil {
		return nil, err
	}
	plan, err := graph.NewPlan(sg)
	if err != nil {
		return nil, fmt.Errorf("train: recalibrate BatchNorm: %w", err)
	}
	s, err := newBNStats(sg, true)
	if err != nil {
		return nil, err
	}
	s.cumulative = true
	s.reset()
	res := &Recalibration{Nodes: len(s.nodes)}
	gctx := &graph.Context{Training: true, BatchStats: s.hook}
	input := g.Inputs[0].Name
	for b, err := range batches {
		if err == nil {
			err = ctx.Err()
		}
		if err != nil {
			return nil, err
		}
		if b == nil || b.X == nil || b.X.Rank() == 0 {
			return nil, fmt.Errorf("train: recalibrate BatchNorm: batch %d has no examples", res.Batches+1)
		}
		n := b.X.Shape()[0]
		if _, err := plan.Run(gctx, map[string]*tensor.Tensor{input: b.X}); err != nil {
			return nil, fmt.Errorf("train: recalibrate BatchNorm: batch %d: %w", res.Batches+1, err)
		}
		if err := s.apply(); err != nil {
			return nil, fmt.Errorf("%w; batch %d has size %d (choose a batch size that leaves at least 2 examples in the last batch)", err, res.Batches+1, n)
		}
		res.Batches++
		res.Examples += n
	}
	if res.Batches == 0 {
		return nil, errors.New("train: recalibrate BatchNorm: no data")
	}
	// Commit: tensors g already had take the new values in place, so that what shares them
	// (a plan built on g) sees them; the rest arrives with the rewired nodes.
	for _, name := range stats {
		if old := g.Initializers[name]; old != nil {
			copy(old.Float32s(), w.Initializers[name].Float32s())
		} else {
			g.Initializers[name] = w.Initializers[name]
		}
	}
	g.Nodes, g.InitializerNames, g.ValueInfo = w.Nodes, w.InitializerNames, w.ValueInfo
	return res, nil
}

// ownStatistics returns a copy of g in which the running mean and variance of every
// BatchNormalization node are initializers that node alone reads, each a fresh tensor the
// pass may write without touching g's, and the names of those initializers. PyTorch's
// exporter merges equal-valued tensors, so a statistic may arrive shared (a variance of ones
// with a BatchNorm weight of ones), as an initializer or as the output of an Identity of one:
//
//   - an initializer that only this input reads keeps its name;
//   - the output of an Identity of an initializer, read by this input only, becomes an
//     initializer of that name (PyTorch's buffer name), and the Identity goes;
//   - otherwise the value stays with its other readers, and the node gets a new initializer
//     named after it and the statistic ("<node>.running_var").
//
// A statistic the model computes in any other way cannot be re-estimated: an error. The copy
// shares g's tensors, and the nodes it does not change.
func ownStatistics(g *graph.Graph) (*graph.Graph, []string, error) {
	w := *g
	w.Nodes = slices.Clone(g.Nodes)
	w.Initializers = maps.Clone(g.Initializers)
	w.InitializerNames = slices.Clone(g.InitializerNames)
	producer := map[string]*graph.Node{}
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			producer[o] = n
		}
	}
	names := g.Namer()
	dropped := map[*graph.Node]bool{}
	var stats []string
	for i := range w.Nodes {
		if !isBN(w.Nodes[i]) || len(w.Nodes[i].Inputs) != 5 {
			continue
		}
		for _, st := range []struct {
			slot int
			what string
		}{{3, "running_mean"}, {4, "running_var"}} {
			slot, what := st.slot, st.what
			n := w.Nodes[i]
			name := n.Inputs[slot]
			src, p := w.Initializers[name], producer[name]
			identity := src == nil && p != nil && p.OpType == "Identity" && p.Domain == "" && w.Initializers[p.Inputs[0]] != nil
			if identity {
				src = w.Initializers[p.Inputs[0]]
			}
			if src == nil {
				return nil, nil, fmt.Errorf("train: %s: its %s %q is computed by the model rather than stored, so it cannot be re-estimated", n, what, name)
			}
			sole := readers(&w, name) == 1
			switch {
			case sole && identity:
				dropped[p] = true
				w.InitializerNames = append(w.InitializerNames, name)
			case !sole:
				label := n.Name
				if label == "" {
					label = n.Outputs[0]
				}
				name = names.Fresh(label + "." + what)
				w.InitializerNames = append(w.InitializerNames, name)
				c := *n
				c.Inputs = slices.Clone(n.Inputs)
				c.Inputs[slot] = name
				w.Nodes[i] = &c
			}
			w.Initializers[name] = src.Clone()
			stats = append(stats, name)
		}
	}
	w.Nodes = slices.DeleteFunc(w.Nodes, func(n *graph.Node) bool { return dropped[n] })
	w.ValueInfo = slices.DeleteFunc(slices.Clone(g.ValueInfo), func(v graph.ValueInfo) bool { return w.Initializers[v.Name] != nil })
	return &w, stats, nil
}

// statsGraph is g as the recalibration pass runs it, with Context.Training set so that every
// BatchNormalization normalises with batch statistics: inferenceGraph(g), whose Dropout
// nodes (from opset 12) ignore Context.Training, with the ratio of earlier Dropout nodes,
// which drop in every training run, set to 0, so that they too pass their input on. Dropout
// and BatchNormalization are the only ops Context.Training changes.
func statsGraph(g *graph.Graph) (*graph.Graph, error) {
	sg, err := inferenceGraph(g)
	if err != nil {
		return nil, err
	}
	if g.Opsets[""] >= 12 {
		return sg, nil
	}
	for i, n := range sg.Nodes { // inferenceGraph's own slice
		if n.OpType == "Dropout" && n.Domain == "" {
			c := *n
			c.Attrs = maps.Clone(n.Attrs)
			if c.Attrs == nil {
				c.Attrs = map[string]graph.Attr{}
			}
			c.Attrs["ratio"] = graph.Attr{Type: graph.AttrFloat, Float: 0}
			sg.Nodes[i] = &c
		}
	}
	return sg, nil
}

// RecalibrateConfig is a recalibration of a model file's BatchNorm statistics on a data set:
// what `onnxtune recalibrate-bn` runs.
type RecalibrateConfig struct {
	// Model is the ONNX file; Out, where the recalibrated model is written ("" for nowhere),
	// with external data beside it as SaveBeside writes it.
	Model, Out string
	// Data is the unlabelled data set, opened by data.Open with Options.Unlabelled: an image
	// folder (flat, DIR/<image>, or by class), an .npz whose "y", if any, is not read, or IDX
	// files. Its targets are ignored.
	Data string
	// BatchSize is the number of examples per batch; 0 means RecalibrateBatchSize.
	BatchSize int
	// Mean and Std normalise images as Config's do (nil: ImageNet's for 3-channel image
	// folders, none otherwise; InputTransform).
	Mean, Std []float32
	// Workers is the number of goroutines decoding examples; 0 means one per CPU.
	Workers int
}

// RecalibrateModel loads cfg.Model, re-estimates its BatchNorm statistics on cfg.Data in file
// order with RecalibrateBN, and exports the result (ExportModel) to cfg.Out, checking that
// the file's outputs agree with the in-memory model's on the first examples. The file keeps
// the model's metadata (onnxtune's records of an earlier training included) and records the
// recalibration under MetadataPrefix + "recalibrate_bn.": data, examples, batches,
// batch_size, base_model and base_sha256 (the input model's file name and digest). cfg.Out
// is written as onnx.Save writes: a file replaced whole, or left as it was.
func RecalibrateModel(ctx context.Context, cfg RecalibrateConfig) (*Recalibration, error) {
	if cfg.BatchSize == 0 {
		cfg.BatchSize = RecalibrateBatchSize
	}
	if cfg.BatchSize < 1 {
		return nil, fmt.Errorf("train: recalibrate BatchNorm: batch size %d; want at least 1", cfg.BatchSize)
	}
	if cfg.Out != "" {
		// Before the pass, not after it: a long pass should not end in a path error.
		if err := atomicfile.CheckWritable(cfg.Out); err != nil {
			return nil, fmt.Errorf("train: the output %s cannot be written: %w", cfg.Out, err)
		}
	}
	sum, err := fileSHA256(cfg.Model)
	if err != nil {
		return nil, fmt.Errorf("train: %w", UnwrapPath(err))
	}
	base, err := onnx.Load(cfg.Model)
	if err != nil {
		return nil, err
	}
	// A model carrying its preprocessing is fed what it was given and keeps taking pixels; a
	// decision it carries was fitted to the old statistics, and is dropped.
	g, pre, err := ImportForData(base)
	if err != nil {
		return nil, fmt.Errorf("train: %s: %w", cfg.Model, err)
	}
	cfg.Mean, cfg.Std = pre.Defaults(cfg.Mean, cfg.Std)
	if len(g.Inputs) != 1 {
		return nil, fmt.Errorf("train: %s has %d inputs; recalibration feeds models of one input", cfg.Model, len(g.Inputs))
	}
	ds, err := data.Open(cfg.Data, data.Options{InputName: g.Inputs[0].Name, Image: InputTransform(g, cfg.Mean, cfg.Std), Unlabelled: true})
	if err != nil {
		return nil, err
	}
	if ds.Len() == 0 {
		return nil, fmt.Errorf("train: %s holds no examples", cfg.Data)
	}
	var sample *tensor.Tensor // the first examples, to check the written file with
	batches := func(yield func(*data.Batch, error) bool) {
		for b, err := range data.NewLoader(ds, cfg.BatchSize, false, 0, cfg.Workers).Epoch(ctx, 0) {
			if err == nil && sample == nil {
				sample = firstRows(b.X, 8)
			}
			if !yield(b, err) {
				return
			}
		}
	}
	res, err := RecalibrateBN(ctx, g, batches)
	if err != nil {
		return nil, err
	}
	meta := WithoutDecision(OwnMetadata(base))
	if rec, err := ReadRecorded(base); err == nil {
		res.DroppedDecision = rec.Decision
	}
	for k, v := range map[string]string{
		"data":        cfg.Data,
		"examples":    strconv.Itoa(res.Examples),
		"batches":     strconv.Itoa(res.Batches),
		"batch_size":  strconv.Itoa(cfg.BatchSize),
		"base_model":  filepath.Base(cfg.Model),
		"base_sha256": sum,
	} {
		meta[MetadataPrefix+"recalibrate_bn."+k] = v
	}
	ig, err := inferenceGraph(g)
	if err != nil {
		return nil, err
	}
	check := map[string]*tensor.Tensor{g.Inputs[0].Name: sample}
	if pre != nil {
		if ig, pre, err = EmbedPreprocessing(ig, InputTransform(g, cfg.Mean, cfg.Std), pre.Layout); err != nil {
			return nil, err
		}
		maps.Copy(meta, pre.Metadata())
		check = pre.Sample(2, 0)
	}
	if res.Model, err = ExportModel(base, ig, meta); err != nil {
		return nil, err
	}
	if cfg.Out == "" {
		return res, nil
	}
	if err := SaveBeside(res.Model, cfg.Model, cfg.Out); err != nil {
		return nil, err
	}
	plan, err := graph.NewPlan(ig)
	if err != nil {
		return nil, fmt.Errorf("train: %s: %w", cfg.Model, err)
	}
	if err := VerifyExport(cfg.Out, plan, check, 1e-5); err != nil {
		return nil, err
	}
	return res, nil
}

// firstRows returns the first k rows (along dimension 0) of a float32 tensor, or all of them.
func firstRows(x *tensor.Tensor, k int) *tensor.Tensor {
	shape := slices.Clone(x.Shape())
	if shape[0] <= k {
		return x
	}
	shape[0] = k
	return tensor.From(shape, slices.Clone(x.Float32s()[:tensor.Size(shape)]))
}
