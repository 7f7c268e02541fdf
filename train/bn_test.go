package train

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/onnx"
)

func importModel(t *testing.T, path string) *graph.Graph {
	t.Helper()
	m, err := onnx.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	g, err := onnx.Import(m)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// bnTraining lists, per BatchNormalization node, whether the engine runs it on batch
// statistics in a run with Context.Training = training.
func bnTraining(t *testing.T, g *graph.Graph, training bool) []bool {
	t.Helper()
	var out []bool
	for _, n := range g.Nodes {
		if !isBN(n) {
			continue
		}
		k, err := bnKernel(g, n)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, k.TrainingMode || training)
	}
	return out
}

// TestBNModes: which statistics each mode gives the nodes of a model exported in inference
// mode and of training-mode exports at opsets 13 (extra outputs) and 14 (training_mode).
func TestBNModes(t *testing.T) {
	root := fixture.Root(t)
	models := map[string]string{
		"inference": fixture.Small(t, "tiny_cnn_bn.onnx"),
		"train14":   filepath.Join(root, "train", "testdata", "bn_train.onnx"),
		"train13":   filepath.Join(root, "train", "testdata", "bn_train13.onnx"),
	}
	for _, c := range []struct {
		model    string
		mode     BNMode
		batch    bool // every node on batch statistics (false: every node frozen)
		training bool // Context.Training
	}{
		{"inference", BNAuto, false, false},
		{"inference", BNTrain, true, true},
		{"inference", BNFrozen, false, false},
		{"train14", BNAuto, true, true},
		{"train14", BNTrain, true, true},
		{"train14", BNFrozen, false, false},
		{"train13", BNAuto, true, true},
		{"train13", BNFrozen, false, false},
	} {
		g := importModel(t, models[c.model])
		tg, training, err := trainingGraph(g, c.mode)
		if err != nil {
			t.Fatalf("%s %s: %v", c.model, c.mode, err)
		}
		if training != c.training {
			t.Errorf("%s %s: Context.Training %t, want %t", c.model, c.mode, training, c.training)
		}
		for i, b := range bnTraining(t, tg, training) {
			if b != c.batch {
				t.Errorf("%s %s: BatchNormalization %d on batch statistics %t, want %t", c.model, c.mode, i, b, c.batch)
			}
		}
		// The inference graph is a copy: the imported graph keeps its nodes.
		ig, err := inferenceGraph(g)
		if err != nil {
			t.Fatal(err)
		}
		for i, b := range bnTraining(t, ig, false) {
			if b {
				t.Errorf("%s: inference graph: BatchNormalization %d still trains", c.model, i)
			}
		}
		if c.model != "inference" && !bnTraining(t, g, false)[0] {
			t.Errorf("%s: inferenceGraph modified the graph it copied", c.model)
		}
	}
}

// TestParseBNMode accepts the three spellings and "" and names them in its error.
func TestParseBNMode(t *testing.T) {
	for in, want := range map[string]BNMode{"": BNAuto, "auto": BNAuto, "Train": BNTrain, " frozen ": BNFrozen} {
		if got, err := ParseBNMode(in); got != want || err != nil {
			t.Errorf("ParseBNMode(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseBNMode("eval"); err == nil || !strings.Contains(err.Error(), "auto, train, frozen") {
		t.Errorf("ParseBNMode(eval): %v", err)
	}
}

// TestBNStatsOneValue: like PyTorch, batch statistics over one value per channel are refused.
func TestBNStatsOneValue(t *testing.T) {
	g := importModel(t, filepath.Join(fixture.Root(t), "train", "testdata", "bn_train.onnx"))
	s, err := newBNStats(g, true)
	if err != nil {
		t.Fatal(err)
	}
	for n, r := range s.nodes {
		s.hook(n, make([]float64, len(r.mean)), make([]float64, len(r.mean)), 1)
		break
	}
	if err := s.apply(); err == nil || !strings.Contains(err.Error(), "more than 1 value per channel") {
		t.Errorf("got %v", err)
	}
}
