package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
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
	"github.com/onnxtune/onnxtune/internal/atomicfile"
	"github.com/onnxtune/onnxtune/loss"
	"github.com/onnxtune/onnxtune/onnx"
	"github.com/onnxtune/onnxtune/tensor"
	"github.com/onnxtune/onnxtune/train"
)

func init() {
	register(command{"predict", "score images (a file, a folder, class folders) or .npy/.npz inputs, one row per file", runPredict})
}

func runPredict(args []string, stdout io.Writer) error {
	fs := newFlags("predict", "MODEL.onnx --data FILE|DIR [--out predictions.csv|.jsonl] [--shard I/N | --shards N] [--batch-size B] [--mean M1,M2,...] [--std S1,S2,...]", stdout)
	dataPath := fs.String("data", "", "what to score: an image file, a folder of images or of class folders, an .npy batch or an .npz (x, or the input's name)")
	out := fs.String("out", "", "write the rows to `FILE`.csv or FILE.jsonl (default: CSV on stdout); when sharded, FILE gets .shard-I-of-N before its extension")
	shardFlag := fs.String("shard", "", "score only shard `I/N`: the files at positions I, I+N, I+2N, ... of the sorted list (I from 0)")
	shards := fs.Int("shards", 0, "split the files into `N` shards and score the one JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) names")
	batchSize := fs.Int("batch-size", 64, "examples per batch `B`")
	workers := fs.Int("workers", 0, "goroutines decoding images (default: one per CPU)")
	norm := addNormFlags(fs)
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
	case *out != "" && !strings.HasSuffix(*out, ".csv") && !strings.HasSuffix(*out, ".jsonl"):
		return usagef("--out %s: want a .csv or .jsonl file name", *out)
	}
	sh, err := chooseShard(*shardFlag, *shards, os.Getenv)
	if err != nil {
		return err
	}
	mean, std, err := norm.values()
	if err != nil {
		return err
	}
	p, err := newPredictor(pos[0], mean, std)
	if err != nil {
		return err
	}
	items, err := p.open(*dataPath)
	if err != nil {
		return err
	}
	items = sh.of(items)
	if err := train.CheckBatch(p.plan.Graph, pos[0], *batchSize, len(items)); err != nil {
		return err
	}
	ctx, stop := signalContext("")
	defer stop()
	if *out != "" {
		path := sh.name(*out)
		if err := atomicfile.CheckWritable(path); err != nil {
			return fmt.Errorf("the output %s cannot be written: %w", path, err)
		}
		return atomicfile.Write(path, func(w io.Writer) error {
			return p.score(ctx, items, *batchSize, *workers, rowWriter(w, strings.HasSuffix(path, ".jsonl"), p.names))
		})
	}
	return p.score(ctx, items, *batchSize, *workers, rowWriter(stdout, false, p.names))
}

// shard is the part of the sorted files one process scores: those at positions index,
// index+count, ...; count 1 is everything.
type shard struct{ index, count int }

// chooseShard reads --shard I/N, or --shards N with the index a Kubernetes Indexed Job sets
// (JOB_COMPLETION_INDEX), or a Slurm job array's task (SLURM_ARRAY_TASK_ID counted from
// SLURM_ARRAY_TASK_MIN, SLURM_ARRAY_TASK_COUNT tasks); none of them is the whole data.
func chooseShard(flagValue string, shards int, getenv func(string) string) (shard, error) {
	atoi := func(what, s string) (int, error) {
		v, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return 0, usagef("%s %q is not a whole number", what, s)
		}
		return v, nil
	}
	var sh shard
	var err error
	switch {
	case flagValue != "" && shards != 0:
		return shard{}, usagef("--shard and --shards given together; want one")
	case flagValue != "":
		i, n, ok := strings.Cut(flagValue, "/")
		if !ok {
			return shard{}, usagef("--shard %s: want I/N, such as 0/4", flagValue)
		}
		if sh.index, err = atoi("--shard's index", i); err != nil {
			return shard{}, err
		}
		if sh.count, err = atoi("--shard's count", n); err != nil {
			return shard{}, err
		}
	case shards != 0:
		idx := getenv("JOB_COMPLETION_INDEX")
		if idx == "" {
			return shard{}, usagef("--shards %d: JOB_COMPLETION_INDEX is not set (a Kubernetes Indexed Job sets it); give --shard I/N instead", shards)
		}
		if sh.index, err = atoi("JOB_COMPLETION_INDEX", idx); err != nil {
			return shard{}, err
		}
		sh.count = shards
	case getenv("SLURM_ARRAY_TASK_ID") != "" && getenv("SLURM_ARRAY_TASK_COUNT") != "":
		id, err := atoi("SLURM_ARRAY_TASK_ID", getenv("SLURM_ARRAY_TASK_ID"))
		if err != nil {
			return shard{}, err
		}
		first := 0
		if m := getenv("SLURM_ARRAY_TASK_MIN"); m != "" {
			if first, err = atoi("SLURM_ARRAY_TASK_MIN", m); err != nil {
				return shard{}, err
			}
		}
		if sh.count, err = atoi("SLURM_ARRAY_TASK_COUNT", getenv("SLURM_ARRAY_TASK_COUNT")); err != nil {
			return shard{}, err
		}
		sh.index = id - first
	default:
		return shard{0, 1}, nil
	}
	if sh.count < 1 || sh.index < 0 || sh.index >= sh.count {
		return shard{}, usagef("shard %d of %d: want 0 <= index < count", sh.index, sh.count)
	}
	return sh, nil
}

// of keeps the items of the shard.
func (s shard) of(items []item) []item {
	if s.count <= 1 {
		return items
	}
	var kept []item
	for i := s.index; i < len(items); i += s.count {
		kept = append(kept, items[i])
	}
	return kept
}

// name is the output file of the shard: out itself unsharded, else out with
// .shard-I-of-N before its extension.
func (s shard) name(out string) string {
	if s.count <= 1 {
		return out
	}
	ext := filepath.Ext(out)
	return fmt.Sprintf("%s.shard-%d-of-%d%s", strings.TrimSuffix(out, ext), s.index, s.count, ext)
}

// item is one example to score: where it comes from (a file path, or FILE[i] for a row of an
// array) and how to get it.
type item struct {
	name string
	ds   data.Dataset
	i    int
}

// predictor is a model ready to score: its plan, how its input is prepared, and how its
// outputs read as class probabilities.
type predictor struct {
	plan      *graph.Plan
	input     string
	image     data.ImageTransform
	scores    string         // the output holding the scores
	kind      loss.ScoreKind // what scores holds: logits, probabilities or log-probabilities
	binary    bool           // one score per example: the positive class's
	positive  int            // the positive class's position in names, for binary
	names     []string       // the classes, by position in the rows
	decision  *train.RecordedDecision
	probOut   string // the decision's calibrated probability and decision outputs
	decideOut string
}

func newPredictor(path string, mean, std []float32) (*predictor, error) {
	m, err := onnx.Load(path)
	if err != nil {
		return nil, err
	}
	g, pre, err := train.ImportForScoring(m)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	plan, err := graph.NewPlan(g)
	if err == nil {
		err = plan.FreezeWeights()
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(g.Inputs) != 1 {
		return nil, fmt.Errorf("%s: the model has %d inputs; predict feeds one", path, len(g.Inputs))
	}
	rec, err := train.ReadRecorded(m)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if mean == nil && std == nil {
		mean, std = rec.Mean, rec.Std
	}
	mean, std = pre.Defaults(mean, std)
	p := &predictor{plan: plan, input: g.Inputs[0].Name, image: train.InputTransform(g, mean, std), decision: rec.Decision}
	p.scores = g.Outputs[0].Name
	if rec.Decision != nil {
		meta := train.OwnMetadata(m)
		p.scores, p.probOut, p.decideOut = rec.Decision.Scores, meta[train.MetadataPrefix+"probability_output"], meta[train.MetadataPrefix+"decision_output"]
	}
	var spec string
	spec, p.kind = train.DefaultLoss(g, p.scores)
	if p.kind == loss.NoScores {
		p.kind = loss.Logits
	}
	width := 0
	for _, o := range g.Outputs {
		if o.Name == p.scores {
			switch {
			case len(o.Shape) == 1:
				width = 1
			case len(o.Shape) == 2:
				width = o.Shape[1].Size
			}
		}
	}
	p.binary = width == 1 || spec == "bce" || spec == "bce-logits"
	p.names = rec.Classes
	if p.binary {
		p.names, p.positive = binaryNames(rec.Classes, rec.PositiveClass)
	} else if width > 0 && len(p.names) != width {
		p.names = nil
		for c := range width {
			p.names = append(p.names, strconv.Itoa(c))
		}
	}
	return p, nil
}

// binaryNames names the two classes of a one-score model: the training data's two classes,
// or its positive class against the rest ("not" the positive class); by default "0" and "1".
// It returns the names and the positive class's position.
func binaryNames(classes []string, positive string) ([]string, int) {
	if positive == "" {
		positive = "1"
	}
	if len(classes) == 2 {
		if i := slices.Index(classes, positive); i >= 0 {
			return classes, i
		}
		if i, err := strconv.Atoi(positive); err == nil && (i == 0 || i == 1) {
			return classes, i
		}
	}
	if i, err := strconv.Atoi(positive); err == nil && i >= 0 && i < len(classes) {
		positive = classes[i]
	}
	if positive == "1" && classes == nil {
		return []string{"0", "1"}, 1
	}
	return []string{"not " + positive, positive}, 1
}

// open lists what --data holds, sorted by name: image files (a file, a folder's images, or
// those of its class folders), or the rows of an .npy or .npz.
func (p *predictor) open(path string) ([]item, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, train.UnwrapPath(err)
	}
	ext := strings.ToLower(filepath.Ext(path))
	switch {
	case st.IsDir():
		ds, err := data.Open(path, data.Options{Unlabelled: true, Image: p.image})
		if err != nil {
			return nil, err
		}
		f, ok := ds.(*data.ImageFolder)
		if !ok {
			return nil, fmt.Errorf("%s: not a folder of images", path)
		}
		items := make([]item, f.Len())
		for i := range items {
			items[i] = item{name: f.Path(i), ds: f, i: i}
		}
		slices.SortFunc(items, func(a, b item) int { return strings.Compare(a.name, b.name) })
		return items, nil
	case ext == ".npy":
		x, err := data.LoadNPY(path)
		if err != nil {
			return nil, err
		}
		if x.Rank() == 0 {
			return nil, fmt.Errorf("%s: a scalar; want a batch of examples", path)
		}
		return rows(path, &arrayRows{x: x})
	case ext == ".npz":
		ds, err := data.Open(path, data.Options{InputName: p.input, Unlabelled: true, Image: data.ImageTransform{Mean: p.image.Mean, Std: p.image.Std}})
		if err != nil {
			return nil, err
		}
		return rows(path, ds)
	}
	t, err := p.image.Load(path)
	if err != nil {
		return nil, err
	}
	batch, err := t.Reshape(append([]int{1}, t.Shape()...)...)
	if err != nil {
		return nil, err
	}
	return []item{{name: path, ds: &arrayRows{x: batch}, i: 0}}, nil
}

func rows(path string, ds data.Dataset) ([]item, error) {
	items := make([]item, ds.Len())
	for i := range items {
		items[i] = item{name: fmt.Sprintf("%s[%d]", path, i), ds: ds, i: i}
	}
	return items, nil
}

// arrayRows serves the rows of a batch array as examples.
type arrayRows struct{ x *tensor.Tensor }

func (a *arrayRows) Len() int { return a.x.Shape()[0] }
func (a *arrayRows) Example(i int) (*tensor.Tensor, *tensor.Tensor, error) {
	shape := a.x.Shape()
	starts, counts, steps := make([]int, len(shape)), slices.Clone(shape), make([]int, len(shape))
	starts[0], counts[0] = i, 1
	for j := range steps {
		steps[j] = 1
	}
	row, err := tensor.SliceTensor(nil, a.x, starts, counts, steps)
	if err != nil {
		return nil, nil, err
	}
	x, err := row.Reshape(shape[1:]...)
	return x, nil, err
}
func (a *arrayRows) Classes() []string { return nil }

// itemSet serves items (from one or several data sets) as one data set, in order.
type itemSet []item

func (s itemSet) Len() int { return len(s) }
func (s itemSet) Example(i int) (*tensor.Tensor, *tensor.Tensor, error) {
	x, _, err := s[i].ds.Example(s[i].i)
	return x, nil, err
}
func (s itemSet) Classes() []string { return nil }

// prediction is one row: the item, its class probabilities in names' order, the predicted
// class, and a calibrated model's probability and decision.
type prediction struct {
	name          string
	probabilities []float64
	predicted     string
	probability   float64
	decision      *bool
}

// score runs the model over items in batches and hands each row to emit, in item order.
func (p *predictor) score(ctx context.Context, items []item, batchSize, workers int, emit func(prediction) error) error {
	loader := data.NewLoader(itemSet(items), batchSize, false, 0, workers)
	next := 0
	for b, err := range loader.Epoch(ctx, 0) {
		if err != nil {
			return err
		}
		outs, err := p.plan.Run(nil, map[string]*tensor.Tensor{p.input: b.X})
		if err != nil {
			return err
		}
		preds, err := p.read(outs, len(b.Indices))
		if err != nil {
			return err
		}
		for _, pr := range preds {
			pr.name = items[next].name
			next++
			if err := emit(pr); err != nil {
				return err
			}
		}
	}
	return nil
}

// read turns a batch's outputs into rows (their names left to the caller).
func (p *predictor) read(outs map[string]*tensor.Tensor, n int) ([]prediction, error) {
	s := outs[p.scores]
	if s == nil || s.Len() == 0 || s.Len()%n != 0 {
		return nil, fmt.Errorf("the model's output %q is %v for %d examples", p.scores, s, n)
	}
	v := s.ToFloat64s()
	width := s.Len() / n
	preds := make([]prediction, n)
	for i := range preds {
		row := v[i*width : (i+1)*width]
		var probs []float64
		switch {
		case p.binary && width == 1:
			q := row[0]
			if p.kind == loss.Logits {
				q = 1 / (1 + math.Exp(-q))
			}
			probs = make([]float64, 2)
			probs[p.positive], probs[1-p.positive] = q, 1-q
		case p.kind == loss.Probabilities:
			probs = slices.Clone(row)
		case p.kind == loss.LogProbabilities:
			probs = make([]float64, width)
			for c, l := range row {
				probs[c] = math.Exp(l)
			}
		default:
			probs = softmax(row)
		}
		preds[i].probabilities = probs
		best := 0
		for c, q := range probs {
			if q > probs[best] {
				best = c
			}
		}
		if p.decision != nil {
			prob, dec := outs[p.probOut], outs[p.decideOut]
			if prob == nil || dec == nil || prob.Len() != n || dec.Len() != n {
				return nil, fmt.Errorf("the model's decision outputs %q and %q do not give one value per example", p.probOut, p.decideOut)
			}
			d := dec.Float64At(i) != 0
			preds[i].probability, preds[i].decision = prob.Float64At(i), &d
			best = 1 - p.positive
			if d {
				best = p.positive
			}
		}
		preds[i].predicted = train.ClassName(p.names, best)
	}
	return preds, nil
}

func softmax(z []float64) []float64 {
	m := math.Inf(-1)
	for _, v := range z {
		m = max(m, v)
	}
	out := make([]float64, len(z))
	var sum float64
	for i, v := range z {
		out[i] = math.Exp(v - m)
		sum += out[i]
	}
	for i := range out {
		out[i] /= sum
	}
	return out
}

// rowWriter writes rows as CSV (a header, then path, predicted, one probability column per
// class and, for a calibrated model, probability and decision) or as JSON lines.
func rowWriter(w io.Writer, jsonl bool, names []string) func(prediction) error {
	if jsonl {
		enc := json.NewEncoder(w)
		return func(p prediction) error {
			probs := make(map[string]float64, len(p.probabilities))
			for c, q := range p.probabilities {
				probs[train.ClassName(names, c)] = q
			}
			rec := map[string]any{"path": p.name, "predicted": p.predicted, "probabilities": probs}
			if p.decision != nil {
				rec["probability"], rec["decision"] = p.probability, *p.decision
			}
			return enc.Encode(rec)
		}
	}
	cw := csv.NewWriter(w)
	header := false
	return func(p prediction) error {
		if !header {
			cols := []string{"path", "predicted"}
			for c := range p.probabilities {
				cols = append(cols, "p_"+train.ClassName(names, c))
			}
			if p.decision != nil {
				cols = append(cols, "probability", "decision")
			}
			if err := cw.Write(cols); err != nil {
				return err
			}
			header = true
		}
		rec := []string{p.name, p.predicted}
		for _, q := range p.probabilities {
			rec = append(rec, strconv.FormatFloat(q, 'g', 8, 64))
		}
		if p.decision != nil {
			rec = append(rec, strconv.FormatFloat(p.probability, 'g', 8, 64), strconv.FormatBool(*p.decision))
		}
		cw.Write(rec)
		cw.Flush()
		return cw.Error()
	}
}
