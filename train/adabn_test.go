package train

import (
	"context"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/onnx"
	"github.com/onnxtune/onnxtune/tensor"
)

// adabnDir holds the fixtures of testdata/gen_adabn.py.
var adabnDir = filepath.Join("testdata", "adabn")

// adabnModels maps each fixture model to its PyTorch reference: the three exports of the same
// weights share one.
var adabnModels = map[string]string{
	"adabn.onnx":         "adabn",
	"adabn_train.onnx":   "adabn",
	"adabn_train11.onnx": "adabn",
	"adabn_fresh.onnx":   "adabn_fresh",
}

// maxAbsDiff is the largest |got - want| over the elements; +Inf when the shapes differ.
func maxAbsDiff(got, want *tensor.Tensor) float64 {
	if got == nil || !tensor.EqualShapes(got.Shape(), want.Shape()) {
		return math.Inf(1)
	}
	d := 0.0
	for i := range want.Len() {
		d = math.Max(d, math.Abs(got.Float64At(i)-want.Float64At(i)))
	}
	return d
}

// recalibrate runs RecalibrateBN on the fixture data at path (an image folder or an .npz)
// with PyTorch's batch size, unshuffled.
func recalibrate(t *testing.T, g *graph.Graph, path string, batchSize int) (*Recalibration, error) {
	t.Helper()
	ds, err := data.Open(path, data.Options{InputName: g.Inputs[0].Name, Image: InputTransform(g, nil, nil), Unlabelled: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	return RecalibrateBN(ctx, g, data.NewLoader(ds, batchSize, false, 0, 2).Epoch(ctx, 0))
}

// TestRecalibrateBNMatchesTorch: the running statistics equal PyTorch's momentum=None
// recalibration (BatchNorm alone in train mode, batches 4, 4 and 2) within 1e-5, for an
// inference-mode export, training-mode exports at opsets 14 and 11 (whose Dropout must stay
// off), and an export whose statistics the exporter merged with other tensors; from the
// flat image folder and from the .npz of the same inputs. The exported model's logits equal
// PyTorch's eval-mode logits within 1e-5.
func TestRecalibrateBNMatchesTorch(t *testing.T) {
	ref, _, err := data.LoadNPZ(filepath.Join(adabnDir, "adabn.ref.npz"))
	if err != nil {
		t.Fatal(err)
	}
	batchSize := int(ref["batch_size"].Int64s()[0])
	worst := 0.0
	for model, want := range adabnModels {
		for _, source := range []string{"target", "target.npz"} {
			t.Run(model+"/"+source, func(t *testing.T) {
				base, err := onnx.Load(filepath.Join(adabnDir, model))
				if err != nil {
					t.Fatal(err)
				}
				g, err := onnx.Import(base)
				if err != nil {
					t.Fatal(err)
				}
				res, err := recalibrate(t, g, filepath.Join(adabnDir, source), batchSize)
				if err != nil {
					t.Fatal(err)
				}
				if res.Nodes != 3 || res.Batches != 3 || res.Examples != 10 {
					t.Errorf("got %d nodes, %d batches, %d examples; want 3, 3, 10", res.Nodes, res.Batches, res.Examples)
				}
				var read []string // the statistics the BatchNormalization nodes read
				for _, n := range g.Nodes {
					if isBN(n) {
						read = append(read, n.Inputs[3], n.Inputs[4])
					}
				}
				for key, w := range ref {
					name, ok := strings.CutPrefix(key, want+"/")
					if !ok || name == "logits" {
						continue
					}
					if !slices.Contains(read, name) {
						t.Errorf("%s: no BatchNormalization node reads it (they read %v)", name, read)
					}
					d := maxAbsDiff(g.Initializers[name], w)
					worst = math.Max(worst, d)
					if !(d <= 1e-5) {
						t.Errorf("%s: got %v, want %v (max difference %.3g)", name, g.Initializers[name].Float32s(), w.Float32s(), d)
					}
				}
				m, err := ExportModel(base, g, nil)
				if err != nil {
					t.Fatal(err)
				}
				eg, err := onnx.Import(m)
				if err != nil {
					t.Fatal(err)
				}
				for i, b := range bnTraining(t, eg, false) {
					if b {
						t.Errorf("exported BatchNormalization %d still uses batch statistics", i)
					}
				}
				plan, err := graph.NewPlan(eg)
				if err != nil {
					t.Fatal(err)
				}
				outs, err := plan.Run(nil, map[string]*tensor.Tensor{"x": ref["probe"]})
				if err != nil {
					t.Fatal(err)
				}
				if d := maxAbsDiff(outs["logits"], ref[want+"/logits"]); !(d <= 1e-5) {
					t.Errorf("logits: got %v, want %v (max difference %.3g)", outs["logits"].Float32s(), ref[want+"/logits"].Float32s(), d)
				}
			})
		}
	}
	t.Logf("largest difference from PyTorch's running statistics: %.3g", worst)
}

// TestRecalibrateBNOneValue: a last batch of one example leaves BatchNorm1d one value per
// channel, which PyTorch refuses; so does RecalibrateBN, naming the node and the batch, and
// leaves the graph as it was.
func TestRecalibrateBNOneValue(t *testing.T) {
	g := importModel(t, filepath.Join(adabnDir, "adabn_fresh.onnx"))
	nodes := slices.Clone(g.Nodes)
	before := map[string][]float32{}
	for name, v := range g.Initializers {
		before[name] = slices.Clone(v.Float32s())
	}
	_, err := recalibrate(t, g, filepath.Join(adabnDir, "target"), 3) // 3, 3, 3, 1
	if err == nil || !strings.Contains(err.Error(), "bn3") || !strings.Contains(err.Error(), "more than 1 value per channel") ||
		!strings.Contains(err.Error(), "batch 4 has size 1") {
		t.Fatalf("got %v, want an error naming bn3, one value per channel and batch 4", err)
	}
	if !slices.Equal(nodes, g.Nodes) || len(g.Initializers) != len(before) {
		t.Errorf("the graph changed: %d nodes (was %d), %d initializers (was %d)", len(g.Nodes), len(nodes), len(g.Initializers), len(before))
	}
	for name, v := range before {
		if !slices.Equal(g.Initializers[name].Float32s(), v) {
			t.Errorf("initializer %q changed", name)
		}
	}
}

// TestRecalibrateBNOwnStatistics: in the export whose statistics are Identity nodes of other
// BatchNorms' weights and biases, each statistic becomes an initializer of its PyTorch
// buffer name, the Identity nodes that made them go, and the weights they shared stay; an
// initializer two nodes share is split.
func TestRecalibrateBNOwnStatistics(t *testing.T) {
	g := importModel(t, filepath.Join(adabnDir, "adabn_fresh.onnx"))
	w, stats, err := ownStatistics(g)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"bn1.running_mean", "bn1.running_var", "bn2.running_mean", "bn2.running_var", "bn3.running_mean", "bn3.running_var"}
	if !slices.Equal(stats, want) {
		t.Errorf("statistics %v, want %v", stats, want)
	}
	for _, n := range w.Nodes {
		if n.OpType == "Identity" && slices.ContainsFunc(want, func(s string) bool { return slices.Contains(n.Outputs, s) }) {
			t.Errorf("%s still computes a statistic", n)
		}
	}
	for _, name := range []string{"bn1.weight", "bn1.bias", "bn3.weight"} {
		if w.Initializers[name] == nil || readers(w, name) == 0 {
			t.Errorf("%s: lost", name)
		}
	}
	if len(g.Nodes) == len(w.Nodes) || g.Initializers["bn1.running_var"] != nil {
		t.Error("ownStatistics modified the graph it copied")
	}

	// Two nodes reading one initializer: the first gets its own, named after it.
	shared := importModel(t, filepath.Join(adabnDir, "adabn.onnx"))
	var bns []*graph.Node
	for _, n := range shared.Nodes {
		if isBN(n) {
			bns = append(bns, n)
		}
	}
	bns[1].Inputs[4] = bns[0].Inputs[4] // bn2 reads bn1.running_var (both have 4 channels)
	w, stats, err = ownStatistics(shared)
	if err != nil {
		t.Fatal(err)
	}
	if stats[1] != "/bn1/BatchNormalization.running_var" || stats[3] != "bn1.running_var" {
		t.Errorf("statistics %v: want bn1's variance split off", stats)
	}
	if w.Initializers[stats[1]] == w.Initializers[stats[3]] {
		t.Error("the split statistics share a tensor")
	}
}
