package backprop_test

import (
	"testing"

	"github.com/onnxtune/onnxtune/backprop"
	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/onnx"
)

func loadPlan(t *testing.T, path string) *graph.Plan {
	t.Helper()
	m, err := onnx.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	g, err := onnx.Import(m)
	if err != nil {
		t.Fatal(err)
	}
	p, err := graph.NewPlan(g)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestFrozenBackboneRunsForwardOnly: differentiating only the classifier of tiny_cnn_bn runs
// one VJP (its Gemm) and keeps one activation (the Gemm's input), whatever the depth before it.
func TestFrozenBackboneRunsForwardOnly(t *testing.T) {
	plan := loadPlan(t, fixture.Small(t, "tiny_cnn_bn.onnx"))
	prog, err := backprop.NewProgram(plan, []string{"fc.weight", "fc.bias"})
	if err != nil {
		t.Fatal(err)
	}
	if steps, kept := prog.Stats(); steps != 1 || kept != 1 {
		t.Errorf("classifier only: %d VJP steps and %d kept activations, want 1 and 1", steps, kept)
	}
	full, err := backprop.NewProgram(plan, backprop.Trainable(plan.Graph))
	if err != nil {
		t.Fatal(err)
	}
	if steps, _ := full.Stats(); steps != len(plan.Graph.Nodes) {
		t.Errorf("every parameter: %d VJP steps, want all %d nodes", steps, len(plan.Graph.Nodes))
	}
}

// TestTrainableExcludesNonDiffInputs: BatchNorm running statistics are no parameters; every
// other float initializer of tiny_cnn_bn is.
func TestTrainableExcludesNonDiffInputs(t *testing.T) {
	plan := loadPlan(t, fixture.Small(t, "tiny_cnn_bn.onnx"))
	got := backprop.Trainable(plan.Graph)
	want := map[string]bool{}
	for _, name := range plan.Graph.InitializerNames {
		if !(len(name) > 12 && (name[len(name)-12:] == "running_mean" || name[len(name)-11:] == "running_var")) {
			want[name] = true
		}
	}
	if len(got) != len(want) {
		t.Fatalf("trainable %v, want the %d initializers other than running statistics", got, len(want))
	}
	for _, name := range got {
		if !want[name] {
			t.Errorf("%s is listed as trainable", name)
		}
	}
}
