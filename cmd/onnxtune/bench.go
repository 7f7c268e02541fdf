package main

import (
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/loss"
	"github.com/onnxtune/onnxtune/tensor"
	"github.com/onnxtune/onnxtune/train"
)

func init() {
	register(command{"bench", "time inference or a training step on random inputs: ms per iteration, images/s, GFLOP/s, peak memory", runBench})
}

// Warm-up: benchWarmup iterations before the timed ones, or only the first when it takes
// longer than benchLongWarmup (a large model is warm after one, and the wait adds up).
const (
	benchWarmup     = 3
	benchLongWarmup = time.Second
)

// benchResult is what `onnxtune bench` measures; its JSON form is the --json output.
type benchResult struct {
	Model   string `json:"model"`
	Mode    string `json:"mode"` // "inference" or "train"
	Batch   int    `json:"batch"`
	Size    string `json:"size"` // the input's spatial size, "HxW"
	Threads int    `json:"threads"`
	Iters   int    `json:"iters"`
	Warmup  int    `json:"warmup"`
	// MedianMS and MinMS are milliseconds per timed iteration.
	MedianMS   float64 `json:"median_ms"`
	MinMS      float64 `json:"min_ms"`
	ImagesPerS float64 `json:"images_per_s"` // batch / median
	// FLOPs per iteration (graph.CountFLOPs; 3x the forward pass's for a training step).
	FLOPs     int64   `json:"flops"`
	GFLOPs    float64 `json:"gflops"`
	GFLOPPerS float64 `json:"gflop_per_s"` // at the median
	// PeakRSSBytes is the peak resident memory of the whole process so far, the model's
	// loading included; null where the system does not say.
	PeakRSSBytes *int64 `json:"peak_rss_bytes"`
}

func runBench(args []string, stdout io.Writer) error {
	fs := newFlags("bench", "MODEL.onnx [--batch N] [--size HxW] [--train] [--iters N] [--json]", stdout)
	batch := fs.Int("batch", 1, "examples per iteration `N`, for a symbolic batch dimension (a model that fixes its batch runs at that batch)")
	size := fs.String("size", "", "the input's height and width `HxW`, e.g. 224x224 (default: the model's fixed size; required when the model leaves it symbolic)")
	trainStep := fs.Bool("train", false, "time a training step (forward, loss, backward, Adam step on every trainable weight) instead of inference")
	iters := fs.Int("iters", 20, "timed iterations `N`, after the warm-up")
	asJSON := fs.Bool("json", false, "print the measurements as one JSON object")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := exactArgs(pos, 1, "MODEL.onnx"); err != nil {
		return err
	}
	batchSet := false
	fs.Visit(func(f *flag.Flag) { batchSet = batchSet || f.Name == "batch" })
	if *batch < 1 {
		return usagef("--batch %d: want at least 1", *batch)
	}
	if *iters < 1 {
		return usagef("--iters %d: want at least 1", *iters)
	}
	var hw []int
	if *size != "" {
		if hw, err = parseSize(*size); err != nil {
			return err
		}
	}
	plan, err := loadPlan(pos[0])
	if err != nil {
		return err
	}
	g := plan.Graph
	if len(g.Inputs) != 1 {
		return fmt.Errorf("%s has %d inputs; bench feeds models of one input", pos[0], len(g.Inputs))
	}
	in := g.Inputs[0]
	shape, err := benchShape(in, *batch, batchSet, hw)
	if err != nil {
		return err
	}
	x, err := randomTensor(rand.New(rand.NewPCG(1, 7)), in.DType, shape)
	if err != nil {
		return fmt.Errorf("input %q: %w", in.Name, err)
	}
	feeds := map[string]*tensor.Tensor{in.Name: x}

	if !*trainStep { // a training step changes the weights
		if err := plan.FreezeWeights(); err != nil {
			return err
		}
	}
	// The run that counts the FLOPs is a real one: the first warm-up of inference.
	start := time.Now()
	outs, flops, err := plan.CountFLOPs(nil, feeds)
	if err != nil {
		return err
	}
	first := time.Since(start)
	warm := 1
	iterate := func() error { return plan.RunInto(nil, feeds, outs) } // a server's steady state: no allocation
	mode := "inference"
	if *trainStep {
		mode, warm, flops = "train", 0, 3*flops
		if iterate, err = benchTrainStep(g, outs, feeds); err != nil {
			return err
		}
	}
	times, warm, err := measure(iterate, warm, first, *iters)
	if err != nil {
		return err
	}
	median := times[len(times)/2]
	if len(times)%2 == 0 {
		median = (times[len(times)/2-1] + median) / 2
	}
	r := benchResult{
		Model: pos[0], Mode: mode, Batch: shape[0], Size: spatialSize(shape),
		Threads: runtime.GOMAXPROCS(0), Iters: *iters, Warmup: warm,
		MedianMS: ms(median), MinMS: ms(times[0]),
		ImagesPerS: float64(shape[0]) / median.Seconds(),
		FLOPs:      flops, GFLOPs: float64(flops) / 1e9,
		GFLOPPerS: float64(flops) / 1e9 / median.Seconds(),
	}
	if rss, ok := peakRSS(); ok {
		r.PeakRSSBytes = &rss
	}
	if *asJSON {
		return printJSON(stdout, r)
	}
	printBench(stdout, &r)
	return nil
}

// measure finishes the warm-up, of which done iterations have run (the first of them taking
// first), and returns the times of iters more iterations, sorted, with the number of warm-up
// iterations.
func measure(iterate func() error, done int, first time.Duration, iters int) ([]time.Duration, int, error) {
	for done < benchWarmup && (done != 1 || first <= benchLongWarmup) {
		start := time.Now()
		if err := iterate(); err != nil {
			return nil, 0, err
		}
		if done == 0 {
			first = time.Since(start)
		}
		done++
	}
	times := make([]time.Duration, iters)
	for i := range times {
		start := time.Now()
		if err := iterate(); err != nil {
			return nil, 0, err
		}
		times[i] = time.Since(start)
	}
	slices.Sort(times)
	return times, done, nil
}

// benchShape is the input's shape for the benchmark: the batch first (the model's fixed one,
// or --batch), then the model's fixed dimensions, with --size (hw, nil when not given) as the
// height and width of an image input [N, C, H, W].
func benchShape(in graph.ValueInfo, batch int, batchSet bool, hw []int) ([]int, error) {
	if in.Shape == nil || len(in.Shape) < 2 {
		return nil, fmt.Errorf("input %q is %s; bench needs a batch dimension and the sizes of the others", in.Name, declared(in))
	}
	shape := make([]int, len(in.Shape))
	for i, d := range in.Shape {
		shape[i] = d.Size
	}
	switch b := in.Shape[0].Size; {
	case b < 0:
		shape[0] = batch
	case batchSet && b != batch:
		return nil, fmt.Errorf("input %q is %s: the model fixes the batch at %d, so --batch %d cannot run", in.Name, declared(in), b, batch)
	}
	if hw != nil {
		if len(shape) != 4 {
			return nil, usagef("--size: input %q is %s, not an image [N C H W]", in.Name, declared(in))
		}
		for i, v := range hw {
			if d := in.Shape[2+i].Size; d >= 0 && d != v {
				return nil, fmt.Errorf("input %q is %s: the model fixes its size at %dx%d, so --size %dx%d cannot run", in.Name, declared(in), in.Shape[2].Size, in.Shape[3].Size, hw[0], hw[1])
			}
			shape[2+i] = v
		}
	}
	for i, s := range shape {
		switch {
		case s >= 0:
		case len(shape) == 4 && i >= 2:
			return nil, fmt.Errorf("input %q is %s: its height and width are not fixed; give --size HxW", in.Name, declared(in))
		default:
			return nil, fmt.Errorf("input %q is %s: dimension %d is not fixed, and bench can choose only the batch and (--size) the height and width", in.Name, declared(in), i)
		}
	}
	return shape, nil
}

// declared formats an input as the model declares it: "float32[batch 3 224 224]".
func declared(vi graph.ValueInfo) string { return vi.DType.String() + vi.ShapeString() }

// parseSize reads --size HxW.
func parseSize(s string) ([]int, error) {
	h, w, ok := strings.Cut(strings.ToLower(s), "x")
	hv, herr := strconv.Atoi(h)
	wv, werr := strconv.Atoi(w)
	if !ok || herr != nil || werr != nil || hv < 1 || wv < 1 {
		return nil, usagef("--size %s: want HxW, two positive integers such as 224x224", s)
	}
	return []int{hv, wv}, nil
}

// spatialSize is "HxW" (the sizes after batch and channels, joined by x); "" for an input of
// rank 2.
func spatialSize(shape []int) string {
	var parts []string
	for _, s := range shape[min(2, len(shape)):] {
		parts = append(parts, strconv.Itoa(s))
	}
	return strings.Join(parts, "x")
}

// benchTrainStep returns one training step of g on feeds: the loss that fits the model's first
// output (train.DefaultLoss: cross-entropy on logits), against random class indices shaped
// after that output (outs, from a forward pass), Adam at its default rate on every trainable
// weight, BatchNorm as exported.
func benchTrainStep(g *graph.Graph, outs, feeds map[string]*tensor.Tensor) (func() error, error) {
	output := g.Outputs[0].Name
	spec, _ := train.DefaultLoss(g, output)
	if spec == "" {
		return nil, fmt.Errorf("output %q holds a Softmax's probabilities, which no loss of onnxtune reads; --train needs logits", output)
	}
	expr, err := loss.ParseExpr(spec, loss.Params{})
	if err != nil {
		return nil, err
	}
	s, err := train.NewStep(g, train.StepConfig{Objective: train.Objective{Expr: expr, Output: output}})
	if err != nil {
		return nil, err
	}
	// Class indices over dimension 1 of [N, C, ...]; a one-logit output gets 0/1 labels.
	y := outs[output].Shape()
	classes, shape := 2, []int{y[0]}
	if len(y) >= 2 {
		classes, shape = max(2, y[1]), append([]int{y[0]}, y[2:]...)
	}
	r := rand.New(rand.NewPCG(2, 7))
	labels := make([]int64, tensor.Size(shape))
	for i := range labels {
		labels[i] = r.Int64N(int64(classes))
	}
	targets := map[string]*tensor.Tensor{output: tensor.From(shape, labels)}
	lr := train.DefaultLR("adam")
	return func() error {
		_, err := s.Take(feeds, targets, loss.Labels{Classes: classes}, lr)
		return err
	}, nil
}

// randomTensor fills a tensor of dtype dt and the given shape with seeded values: standard
// normal for floating-point types, uniform pixels 0..255 for uint8 (a model that embeds its
// preprocessing).
func randomTensor(r *rand.Rand, dt tensor.DType, shape []int) (*tensor.Tensor, error) {
	switch {
	case dt.IsFloat():
		v := make([]float64, tensor.Size(shape))
		for i := range v {
			v[i] = r.NormFloat64()
		}
		return tensor.FromFloat64s(dt, shape, v), nil
	case dt == tensor.Uint8:
		t := tensor.New(dt, shape...)
		d := tensor.Data[uint8](t)
		for i := range d {
			d[i] = uint8(r.IntN(256))
		}
		return t, nil
	}
	return nil, fmt.Errorf("cannot make up %v values", dt)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// printBench writes the measurements as three lines.
func printBench(w io.Writer, r *benchResult) {
	size := ""
	if r.Size != "" {
		size = ", " + r.Size
	}
	fmt.Fprintf(w, "%s: %s, batch %d%s, %s: %s after %d warm-up\n",
		filepath.Base(r.Model), r.Mode, r.Batch, size, plural(r.Threads, "thread"), plural(r.Iters, "iteration"), r.Warmup)
	fmt.Fprintf(w, "  median %s ms, min %s ms per iteration; %s images/s\n", num(r.MedianMS), num(r.MinMS), num(r.ImagesPerS))
	mem := "unknown on this system"
	if r.PeakRSSBytes != nil {
		mem = fmt.Sprintf("%d MiB", (*r.PeakRSSBytes+1<<19)>>20)
	}
	fmt.Fprintf(w, "  %s GFLOP per iteration, %s GFLOP/s at the median; peak memory %s (the whole process)\n", num(r.GFLOPs), num(r.GFLOPPerS), mem)
}

// num formats a measurement for reading: one decimal from 10 up, two from 1, three
// significant digits below.
func num(v float64) string {
	switch {
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case v >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// plural is "1 thread", "2 threads".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
