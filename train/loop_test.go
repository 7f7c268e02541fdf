package train_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/onnx"
	"github.com/onnxtune/onnxtune/tensor"
	"github.com/onnxtune/onnxtune/train"
)

// trainCase is one entry of train.json (written by gen_train.py with PyTorch's results in
// train.ref.npz).
type trainCase struct {
	Name           string         `json:"name"`
	Model          string         `json:"model"`
	Data           string         `json:"data"`
	BN             string         `json:"bn"`
	Loss           string         `json:"loss"`
	Optimizer      map[string]any `json:"optimizer"`
	LR             float64        `json:"lr"`
	Epochs         int            `json:"epochs"`
	BatchSize      int            `json:"batch_size"`
	Schedule       string         `json:"schedule"`
	StepSize       int            `json:"step_size"`
	Gamma          float64        `json:"gamma"`
	WarmupSteps    int            `json:"warmup_steps"`
	ClassWeights   []float64      `json:"class_weights"`
	TrainOnly      string         `json:"train_only"`
	LabelSmoothing float64        `json:"label_smoothing"`
}

// config is the case as a train.Config (shuffle off), every torch.optim option it names
// marked as set. base resolves the case's relative paths.
func (c trainCase) config(t *testing.T, base string) train.Config {
	t.Helper()
	oc := train.OptimizerConfig{}
	for k, v := range c.Optimizer {
		switch k {
		case "name":
			oc.Name = v.(string)
		case "momentum":
			oc.Momentum = v.(float64)
		case "nesterov":
			oc.Nesterov = v.(bool)
		case "weight_decay":
			oc.WeightDecay, oc.WeightDecaySet = v.(float64), true
		case "betas":
			b := v.([]any)
			oc.Beta1, oc.Beta2, oc.BetasSet = b[0].(float64), b[1].(float64), true
		case "eps":
			oc.Eps, oc.EpsSet = v.(float64), true
		default:
			t.Fatalf("case %s: unknown optimizer option %q", c.Name, k)
		}
	}
	return train.Config{
		Model: filepath.Join(base, c.Model), Data: filepath.Join(base, c.Data),
		Loss: c.Loss, ClassWeights: c.ClassWeights, Optimizer: oc, LR: c.LR,
		Schedule: c.Schedule, StepSize: c.StepSize, Gamma: c.Gamma, WarmupSteps: c.WarmupSteps,
		Epochs: c.Epochs, BatchSize: c.BatchSize, Shuffle: false, BN: train.BNMode(c.BN),
		TrainOnly: c.TrainOnly, Workers: 2,
	}
}

func loadCases(t *testing.T, path string) []trainCase {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Cases []trainCase }
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return f.Cases
}

// modelWeights returns a model file's initializers by name.
func modelWeights(t *testing.T, path string) map[string]*tensor.Tensor {
	t.Helper()
	return importModel(t, path).Initializers
}

// checkAgainstTorch compares the initializers of the model written to out with PyTorch's
// final weights and running statistics (refs "<case>/<name>"), within 1e-4 relative each, and
// checks that training moved the reference away from the initial model (so the comparison
// means something).
func checkAgainstTorch(t *testing.T, name, initial, out string, refs map[string]*tensor.Tensor) {
	t.Helper()
	got, start := modelWeights(t, out), modelWeights(t, initial)
	n, moved, worst := 0, 0.0, 0.0
	for key, want := range refs {
		param, ok := strings.CutPrefix(key, name+"/")
		if !ok {
			continue
		}
		n++
		rel := fixture.RelDiffTensors(got[param], want)
		if !(rel <= 1e-4) {
			t.Errorf("%s: %s is %.3g relative from PyTorch's", name, param, rel)
		}
		worst = math.Max(worst, rel)
		moved = math.Max(moved, fixture.RelDiffTensors(start[param], want))
	}
	if n == 0 {
		t.Fatalf("%s: no reference weights", name)
	}
	t.Logf("%s: %d tensors, the farthest %.2g relative from PyTorch's", name, n, worst)
	if moved < 1e-3 {
		t.Errorf("%s: PyTorch's weights moved at most %.3g from the initial ones: the case tests nothing", name, moved)
	}
}

// TestRunMatchesTorch trains every case of train.json (plain CNN with BatchNorm frozen, with
// --bn train, models exported in training mode, SGD/Adam/AdamW with schedules) and compares
// the exported weights and running statistics with PyTorch's; every exported model must also
// pass onnx.checker and run in ONNX Runtime like on the engine.
func TestRunMatchesTorch(t *testing.T) {
	root := fixture.Root(t)
	refs, _, err := data.LoadNPZ(filepath.Join("testdata", "train.ref.npz"))
	if err != nil {
		t.Fatal(err)
	}
	x := firstInputs(t, filepath.Join("testdata", "train28.npz"))
	for _, c := range loadCases(t, filepath.Join("testdata", "train.json")) {
		t.Run(c.Name, func(t *testing.T) {
			cfg := c.config(t, root)
			cfg.Out = filepath.Join(t.TempDir(), "out.onnx")
			res, err := train.Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if res.Epochs != c.Epochs || len(res.History) != c.Epochs {
				t.Errorf("%d epochs, history of %d, want %d", res.Epochs, len(res.History), c.Epochs)
			}
			checkAgainstTorch(t, c.Name, cfg.Model, cfg.Out, refs)
			checkExported(t, cfg.Out, x)
		})
	}
}

// TestRunResnet18FrozenBackbone fine-tunes only the classifier of torchvision's resnet18
// (BatchNorm kept, 64x64) with --train-only '^fc\.' and compares with PyTorch, which trains
// model.fc.parameters() in eval mode; the backbone must come back bit for bit.
func TestRunResnet18FrozenBackbone(t *testing.T) {
	if testing.Short() {
		t.Skip("model-sized case: runs in the full (non -short) pass")
	}
	model := fixture.Large(t, "resnet18", "--preserve-bn", "--size", "64")
	dir := filepath.Dir(model)
	script := filepath.Join(fixture.Root(t), "train", "testdata", "gen_train.py")
	fixture.RunPython(t, "import runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')",
		script, "resnet18", model, dir)
	refs, _, err := data.LoadNPZ(filepath.Join(dir, "resnet18_train.ref.npz"))
	if err != nil {
		t.Fatal(err)
	}
	start := modelWeights(t, model)
	x := firstInputs(t, filepath.Join(dir, "train64.npz"))
	for _, c := range loadCases(t, filepath.Join(dir, "resnet18_train.json")) {
		t.Run(c.Name, func(t *testing.T) {
			cfg := c.config(t, dir)
			cfg.Model = model
			cfg.Out = filepath.Join(t.TempDir(), "out.onnx")
			res, err := train.Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(res.Trained, ",") != "fc.weight,fc.bias" {
				t.Errorf("trained %v, want fc.weight and fc.bias", res.Trained)
			}
			checkAgainstTorch(t, c.Name, model, cfg.Out, refs)
			got := modelWeights(t, cfg.Out)
			for name, w := range start {
				if strings.HasPrefix(name, "fc.") {
					continue
				}
				if !bytes.Equal(rawBytes(got[name]), rawBytes(w)) {
					t.Errorf("frozen %s changed", name)
				}
			}
			checkExported(t, cfg.Out, x)
		})
	}
}

// rawBytes is a float32 tensor's values as bytes, for bit-for-bit comparisons.
func rawBytes(t *tensor.Tensor) []byte {
	if t == nil {
		return nil
	}
	var b bytes.Buffer
	for _, v := range t.ToFloat64s() {
		fmt.Fprintf(&b, "%x,", math.Float64bits(v))
	}
	return b.Bytes()
}

// firstInputs writes the first four examples' x of an .npz to a .npy for ONNX Runtime.
func firstInputs(t *testing.T, npz string) string {
	t.Helper()
	arrays, _, err := data.LoadNPZ(npz)
	if err != nil {
		t.Fatal(err)
	}
	x := arrays["x"]
	shape := append([]int{4}, x.Shape()[1:]...)
	sub := tensor.From(shape, append([]float32(nil), x.Float32s()[:tensor.Size(shape)]...))
	path := filepath.Join(t.TempDir(), "x.npy")
	if err := data.SaveNPY(path, sub); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkExported runs onnx.checker on an exported model, and ONNX Runtime on the input file x,
// comparing ORT's outputs with the engine's within 1e-4 relative.
func checkExported(t *testing.T, model, x string) {
	t.Helper()
	fixture.RunPython(t, "import sys, onnx; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)", model)
	m, err := onnx.Load(model)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range m.Proto.GetGraph().GetNode() {
		if n.GetOpType() != "BatchNormalization" {
			continue
		}
		if len(n.GetOutput()) != 1 {
			t.Errorf("exported %s still has %d outputs", n.GetName(), len(n.GetOutput()))
		}
		for _, a := range n.GetAttribute() {
			if a.GetName() == "training_mode" && a.GetI() != 0 {
				t.Errorf("exported %s has training_mode %d", n.GetName(), a.GetI())
			}
		}
	}
	g, err := onnx.Import(m)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := graph.NewPlan(g)
	if err != nil {
		t.Fatal(err)
	}
	in, err := data.LoadNPY(x)
	if err != nil {
		t.Fatal(err)
	}
	ours, err := plan.Run(nil, map[string]*tensor.Tensor{g.Inputs[0].Name: in})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	fixture.RunORT(t, model, dir, x)
	for _, o := range g.Outputs {
		want, err := data.LoadNPY(filepath.Join(dir, o.Name+".npy"))
		if err != nil {
			t.Fatal(err)
		}
		if rel := fixture.RelDiffTensors(ours[o.Name], want); !(rel <= 1e-4) {
			t.Errorf("output %s: the engine is %.3g relative from ONNX Runtime", o.Name, rel)
		}
	}
}

// weightsOf returns every initializer of a model file as bytes, for bit-for-bit comparisons.
func weightsOf(t *testing.T, path string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for name, w := range modelWeights(t, path) {
		out[name] = rawBytes(w)
	}
	return out
}

// resumeConfig trains the training-mode BatchNorm model with Adam, shuffling and augmenting,
// so that a resume must restore weights, running statistics, optimizer state, schedule
// position and the random draws.
func resumeConfig(t *testing.T, epochs int) train.Config {
	t.Helper()
	root := fixture.Root(t)
	aug, err := data.ParseAugment("flip,crop=2")
	if err != nil {
		t.Fatal(err)
	}
	return train.Config{
		Model: filepath.Join(root, "train", "testdata", "bn_train.onnx"),
		Data:  filepath.Join(root, "train", "testdata", "train28.npz"),
		Loss:  "cross-entropy", Optimizer: train.OptimizerConfig{Name: "adam"}, LR: 3e-3,
		Schedule: "cosine", WarmupSteps: 2, Epochs: epochs, BatchSize: 4, Shuffle: true, Seed: 7,
		Augment: aug, ValSplit: 0.3, Patience: 5, Workers: 3,
	}
}

// TestResumeBitIdentical: two epochs, then a resume to four, give exactly the weights of four
// uninterrupted epochs; so does a run cancelled in its third epoch and resumed.
func TestResumeBitIdentical(t *testing.T) {
	dir := t.TempDir()
	full := resumeConfig(t, 4)
	full.Out = filepath.Join(dir, "full.onnx")
	full.Log = filepath.Join(dir, "full.jsonl")
	full.CheckpointDir = filepath.Join(dir, "ck-full")

	// A cosine schedule spans the run's epochs, so a 2-epoch run is not the start of a 4-epoch
	// one; a step schedule is (TestCancelKeepsCheckpointAndOutput covers cosine).
	full.Schedule, full.StepSize, full.Gamma = "step", 1, 0.7
	first := resumeConfig(t, 2)
	first.Schedule, first.StepSize, first.Gamma = "step", 1, 0.7
	if _, err := train.Run(context.Background(), full); err != nil {
		t.Fatal(err)
	}
	want := weightsOf(t, full.Out)
	first.CheckpointDir = filepath.Join(dir, "ck")
	first.Log = filepath.Join(dir, "split.jsonl")
	if _, err := train.Run(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	second := resumeConfig(t, 4)
	second.Schedule, second.StepSize, second.Gamma = "step", 1, 0.7
	second.Resume = first.CheckpointDir
	second.Log = first.Log
	second.Out = filepath.Join(dir, "resumed.onnx")
	res, err := train.Run(context.Background(), second)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.History) != 4 {
		t.Errorf("history of %d epochs after the resume, want 4", len(res.History))
	}
	compareWeights(t, "resumed vs uninterrupted", weightsOf(t, second.Out), want)
	fullLog, _ := os.ReadFile(full.Log)
	splitLog, _ := os.ReadFile(first.Log)
	if got, want := strings.Count(string(splitLog), "\n"), 4; got != want {
		t.Errorf("the resumed log has %d records, want %d", got, want)
	}
	if !equalLogs(t, splitLog, fullLog) {
		t.Errorf("the resumed log's losses differ from the uninterrupted run's:\n%s\nwant\n%s", splitLog, fullLog)
	}
}

// equalLogs compares two --log files' losses and learning rates, record by record.
func equalLogs(t *testing.T, a, b []byte) bool {
	t.Helper()
	la, lb := strings.Split(strings.TrimSpace(string(a)), "\n"), strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(la) != len(lb) {
		return false
	}
	for i := range la {
		var ra, rb train.EpochStats
		if json.Unmarshal([]byte(la[i]), &ra) != nil || json.Unmarshal([]byte(lb[i]), &rb) != nil {
			t.Fatalf("log record %d is not JSON: %q, %q", i, la[i], lb[i])
		}
		if ra.Epoch != rb.Epoch || ra.TrainLoss != rb.TrainLoss || ra.LR != rb.LR || (ra.ValLoss == nil) != (rb.ValLoss == nil) ||
			ra.ValLoss != nil && *ra.ValLoss != *rb.ValLoss {
			return false
		}
	}
	return true
}

func compareWeights(t *testing.T, what string, got, want map[string][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d initializers, want %d", what, len(got), len(want))
	}
	for name, w := range want {
		if !bytes.Equal(got[name], w) {
			t.Errorf("%s: %s differs", what, name)
		}
	}
}

// cancelOn is a progress writer that cancels a context when text is written: a SIGINT
// arriving at a known point of training.
type cancelOn struct {
	text   string
	cancel context.CancelFunc
}

func (c *cancelOn) Write(p []byte) (int, error) {
	if strings.Contains(string(p), c.text) {
		c.cancel()
	}
	return len(p), nil
}

// TestCancelKeepsCheckpointAndOutput: cancelling the context in the third epoch stops
// training with an error that wraps context.Canceled, after the step under way; it leaves
// the output file as it was and a checkpoint of where the third epoch stood; resuming from
// it gives the uninterrupted result, bit for bit.
func TestCancelKeepsCheckpointAndOutput(t *testing.T) {
	dir := t.TempDir()
	full := resumeConfig(t, 4)
	full.ValSplit, full.Patience = 0, 0
	full.Out = filepath.Join(dir, "full.onnx")
	if _, err := train.Run(context.Background(), full); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := resumeConfig(t, 4)
	cfg.ValSplit, cfg.Patience = 0, 0
	// The progress bar is drawn after the first batch of every epoch: the cancellation comes
	// as epoch 3's first step ends.
	cfg.Progress, cfg.ProgressBar = &cancelOn{text: "epoch 3/4 [", cancel: cancel}, true
	cfg.CheckpointDir = filepath.Join(dir, "ck")
	cfg.Out = filepath.Join(dir, "out.onnx")
	sentinel := []byte("not a model: must survive the interrupted run")
	if err := os.WriteFile(cfg.Out, sentinel, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := train.Run(ctx, cfg)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got error %v, want one wrapping context.Canceled", err)
	}
	if strings.Contains(err.Error(), "\n") || !strings.HasPrefix(err.Error(), "train: interrupted in epoch 3") ||
		!strings.Contains(err.Error(), "--resume "+cfg.CheckpointDir) {
		t.Errorf("error %q: want one line starting \"train: interrupted in epoch 3\" naming --resume %s", err, cfg.CheckpointDir)
	}
	if b, _ := os.ReadFile(cfg.Out); !bytes.Equal(b, sentinel) {
		t.Errorf("the output file was modified by the interrupted run")
	}
	var ck struct {
		Epoch, Step int
		Within      *struct{ Batches int }
	}
	b, err := os.ReadFile(filepath.Join(cfg.CheckpointDir, "checkpoint.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &ck); err != nil || ck.Epoch != 2 || ck.Within == nil || ck.Within.Batches < 1 || ck.Step != 6+ck.Within.Batches {
		t.Errorf("checkpoint.json: %s (%v); want epoch 2, within it 1 to 3 batches,, and step 6 plus those", b, err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(cfg.CheckpointDir, ".*tmp*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left in the checkpoint directory: %v", leftovers)
	}

	short := resumeConfig(t, 2) // ends before the checkpoint: its weights are past the end
	short.ValSplit, short.Patience, short.Resume = 0, 0, cfg.CheckpointDir
	if _, err := train.Run(context.Background(), short); err == nil || !strings.Contains(err.Error(), "within epoch 3; 2 epochs end before it") {
		t.Errorf("resuming to 2 epochs from within the third: %v", err)
	}

	resumed := resumeConfig(t, 4)
	resumed.ValSplit, resumed.Patience = 0, 0
	resumed.Resume = cfg.CheckpointDir
	resumed.Out = cfg.Out
	if _, err := train.Run(context.Background(), resumed); err != nil {
		t.Fatal(err)
	}
	compareWeights(t, "resumed after the interruption vs uninterrupted", weightsOf(t, resumed.Out), weightsOf(t, full.Out))
}

// TestDropoutSeeded: a model exported in training mode keeps its Dropout training, with
// masks drawn from the seed: the same seed gives the same weights, another seed others, and a
// resumed run the uninterrupted one's. The exported model no longer asks for training.
func TestDropoutSeeded(t *testing.T) {
	root := fixture.Root(t)
	dir := t.TempDir()
	cfg := func(seed uint64, epochs int, out string) train.Config {
		return train.Config{
			Model: filepath.Join(root, "train", "testdata", "drop_train.onnx"),
			Data:  filepath.Join(root, "train", "testdata", "train28.npz"),
			Loss:  "cross-entropy", Optimizer: train.OptimizerConfig{Name: "sgd", Momentum: 0.9}, LR: 0.05,
			Epochs: epochs, BatchSize: 4, Seed: seed, Out: out,
		}
	}
	a, b, c := cfg(1, 2, filepath.Join(dir, "a.onnx")), cfg(1, 2, filepath.Join(dir, "b.onnx")), cfg(2, 2, filepath.Join(dir, "c.onnx"))
	for _, r := range []train.Config{a, b, c} {
		if _, err := train.Run(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	compareWeights(t, "a second run with the same seed", weightsOf(t, b.Out), weightsOf(t, a.Out))
	if wa, wc := weightsOf(t, a.Out), weightsOf(t, c.Out); bytes.Equal(wa["fc.weight"], wc["fc.weight"]) {
		t.Errorf("seeds 1 and 2 give the same fc.weight: Dropout did not train")
	}
	first := cfg(1, 1, "")
	first.CheckpointDir = filepath.Join(dir, "ck")
	if _, err := train.Run(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	resumed := cfg(1, 2, filepath.Join(dir, "resumed.onnx"))
	resumed.Resume = first.CheckpointDir
	if _, err := train.Run(context.Background(), resumed); err != nil {
		t.Fatal(err)
	}
	compareWeights(t, "resumed vs uninterrupted", weightsOf(t, resumed.Out), weightsOf(t, a.Out))

	// Stopped after the first step of epoch 2 and resumed within it: Dropout's masks for the
	// rest of the epoch are those of the uninterrupted run.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	within := cfg(1, 2, filepath.Join(dir, "within.onnx"))
	within.CheckpointDir = filepath.Join(dir, "ck-within")
	within.Progress, within.ProgressBar = &cancelOn{text: "epoch 2/2 [", cancel: cancel}, true
	if _, err := train.Run(ctx, within); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want the run cancelled", err)
	}
	within.Resume, within.Progress = within.CheckpointDir, nil
	if _, err := train.Run(context.Background(), within); err != nil {
		t.Fatal(err)
	}
	compareWeights(t, "resumed within an epoch vs uninterrupted", weightsOf(t, within.Out), weightsOf(t, a.Out))
	m, err := onnx.Load(a.Out)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range m.Proto.GetGraph().GetNode() {
		if n.GetOpType() == "Dropout" && len(n.GetInput()) > 2 {
			t.Errorf("exported Dropout %q still has its training_mode input", n.GetName())
		}
	}
	checkExported(t, a.Out, firstInputs(t, a.Data))
}

// TestProgress: a bar redrawn in place (loss, examples/s, ETA) for a terminal, one plain
// line per epoch otherwise.
func TestProgress(t *testing.T) {
	for _, bar := range []bool{false, true} {
		var buf bytes.Buffer
		cfg := resumeConfig(t, 2)
		cfg.Progress, cfg.ProgressBar = &buf, bar
		if _, err := train.Run(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if len(lines) != 2 || !strings.Contains(lines[1], "epoch 2/2: train_loss ") || !strings.Contains(lines[1], " val_loss ") {
			t.Errorf("bar %t: want two epoch lines, got %q", bar, out)
		}
		if hasBar := strings.Contains(out, "\r") && strings.Contains(out, "ETA") && strings.Contains(out, "ex/s"); hasBar != bar {
			t.Errorf("bar %t: got %q", bar, out)
		}
	}
}
