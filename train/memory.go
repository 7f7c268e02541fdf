package train

import (
	"errors"
	"fmt"
	"math"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"

	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/tensor"
)

// memoryEstimate is what a training run is expected to hold at its peak, in bytes: a fixed
// part and a part per example of a batch. Its terms were fitted to the Go heap of resnet18
// runs at 224x224 and 64x64 (full fine-tuning with Adam and classifier-only, batches of 4 to
// 32), read from GODEBUG=gctrace=1 with the collector running all the time: it is 5% to 20%
// above what they held (TestTrainMemoryEstimate).
type memoryEstimate struct {
	// weights: every initializer, held four times (the model, the convolutions' packed
	// copies, and at the end the exported model and its serialized bytes).
	weights int64
	// training: the trained weights' gradients, the optimizer's state and the buffers the
	// backward pass accumulates gradients in.
	training int64
	// data: the training and validation examples a data set holds in memory (an image
	// folder reads them as it goes).
	data int64
	// perExample: the activations a step keeps for its backward pass, the widest step of an
	// inference pass (the frozen part, evaluation), and the loader's examples in flight.
	perExample int64
}

// runtimeOverhead is what the process holds besides tensors: the binary, the Go runtime,
// bookkeeping, decoded file data.
const runtimeOverhead = 64 << 20

// at is the estimated peak with batches of n examples.
func (e memoryEstimate) at(n int) int64 {
	return runtimeOverhead + e.weights + e.training + e.data + int64(n)*e.perExample
}

// estimateMemory measures, by running the inference graph once on one zero example (or on
// as many as a fixed batch size asks), the activations of a training step of r's run.
func (r *runner) estimateMemory() (memoryEstimate, error) {
	var e memoryEstimate
	for _, t := range r.g.Initializers {
		e.weights += 4 * tensorBytes(t)
	}
	slots := int64(2) // the gradient, and the buffer it accumulates in
	switch strings.ToLower(strings.TrimSpace(r.cfg.Optimizer.Name)) {
	case "adam", "adamw":
		slots += 2
		if r.cfg.Optimizer.Amsgrad {
			slots++
		}
	default:
		if r.cfg.Optimizer.Momentum > 0 {
			slots++
		}
	}
	for _, p := range r.params {
		e.training += slots * tensorBytes(p)
	}

	g := r.evalPlan.Graph
	x, y, err := r.trainData.Example(0)
	if err != nil {
		return e, err
	}
	if !readsAsItGoes(r.trainData) {
		examples := r.trainData.Len()
		if r.valData != nil {
			examples += r.valData.Len()
		}
		e.data = int64(examples) * (tensorBytes(x) + tensorBytes(y))
	}
	n := max(fixedBatchSize(g), 1)
	shape := append([]int{n}, x.Shape()...)
	probe := *g
	probe.Outputs = nil
	for _, nd := range g.Nodes {
		for _, out := range nd.Outputs {
			if out != "" {
				probe.Outputs = append(probe.Outputs, graph.ValueInfo{Name: out})
			}
		}
	}
	plan, err := graph.NewPlan(&probe)
	if err != nil {
		return e, err
	}
	vals, err := plan.Run(nil, map[string]*tensor.Tensor{g.Inputs[0].Name: tensor.New(x.DType(), shape...)})
	if err != nil {
		return e, fmt.Errorf("train: estimating the memory a step needs: %w", err)
	}
	size := func(name string) int64 {
		if t := vals[name]; t != nil {
			return tensorBytes(t)
		}
		return 0
	}
	// The trained region: nodes downstream of a trained weight. Their outputs, and the inputs
	// they take from outside it, stay alive for the backward pass; its gradients replace
	// them as it goes.
	region := map[string]bool{}
	for name := range r.params {
		region[name] = true
	}
	var kept, widest int64
	counted := map[string]bool{}
	for _, nd := range g.Nodes {
		var in, out int64
		trained := false
		for _, name := range nd.Inputs {
			in += size(name)
			trained = trained || region[name]
		}
		for _, name := range nd.Outputs {
			out += size(name)
		}
		widest = max(widest, in+out)
		if !trained {
			continue
		}
		for _, name := range nd.Outputs {
			region[name] = true
		}
		for _, name := range append(slices.Clone(nd.Inputs), nd.Outputs...) {
			if !counted[name] && r.g.Initializers[name] == nil {
				counted[name] = true
				kept += size(name)
			}
		}
	}
	// Three batches of input in flight in the loader, at least.
	e.perExample = (kept+widest)/int64(n) + 3*tensorBytes(x)
	return e, nil
}

// readsAsItGoes reports a data set that decodes each example when it is asked for (an image
// folder), rather than holding them all.
func readsAsItGoes(ds data.Dataset) bool {
	for {
		switch d := ds.(type) {
		case *data.ImageFolder:
			return true
		case *data.Subset:
			ds = d.Parent
		default:
			return false
		}
	}
}

func tensorBytes(t *tensor.Tensor) int64 { return int64(t.Len()) * int64(t.DType().Size()) }

// memoryLimit is the most memory the run may use: Config.MaxMemory, else the Go runtime's
// soft limit (GOMEMLIMIT), else none (0).
func (r *runner) memoryLimit() (limit int64, from string) {
	if r.cfg.MaxMemory > 0 {
		return r.cfg.MaxMemory, "--max-memory"
	}
	if l := debug.SetMemoryLimit(-1); l < math.MaxInt64 {
		return l, "GOMEMLIMIT"
	}
	return 0, ""
}

// checkMemory refuses, before any training, a batch size whose estimated peak does not fit
// the memory limit, saying what the estimate is made of and what batch size would fit.
func (r *runner) checkMemory() error {
	limit, from := r.memoryLimit()
	if limit == 0 {
		return nil
	}
	e, err := r.estimateMemory()
	if err != nil {
		return err
	}
	need := e.at(r.cfg.BatchSize)
	if need <= limit {
		return nil
	}
	fits := "not even a batch of 1 fits"
	if b := (limit - e.at(0)) / e.perExample; b >= 1 {
		fits = fmt.Sprintf("--batch-size %d fits", b)
	}
	return fmt.Errorf("train: batches of %d need an estimated %s at the peak (weights and their copies %s, gradients and optimizer state %s, "+
		"data %s, %s per example, %s for the runtime), more than the %s of %s; %s",
		r.cfg.BatchSize, FormatBytes(need), FormatBytes(e.weights), FormatBytes(e.training), FormatBytes(e.data),
		FormatBytes(e.perExample), FormatBytes(runtimeOverhead), FormatBytes(limit), from, fits)
}

// FormatBytes writes a byte count in binary units: "512 B", "3.4 MiB", "1.25 GiB".
func FormatBytes(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	v, i := float64(n), 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return strconv.FormatFloat(v, 'f', max(0, 3-len(strconv.Itoa(int(v)))), 64) + " " + units[i]
}

// ParseBytes reads a memory size as GOMEMLIMIT writes it (a number of bytes with an
// optional B, KiB, MiB, GiB or TiB), also taking KB, MB, GB, TB (powers of 1000) and K, M,
// G, T (powers of 1024).
func ParseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
		{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40}, {"B", 1},
	} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || !(v > 0) || v*float64(mult) >= math.MaxInt64 {
		return 0, errors.New("want a positive size such as 4GiB, 512MiB or 2000000000")
	}
	return int64(v * float64(mult)), nil
}
