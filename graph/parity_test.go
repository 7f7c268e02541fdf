package graph_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/onnx"
	"github.com/onnxtune/onnxtune/tensor"
)

// parityTol is the acceptance bound: norm of the difference over norm of the reference.
const parityTol = 1e-4

// checkParity runs model on the input recorded beside it (NAME.io.npz, written by gen.py from
// PyTorch) and compares every output with PyTorch's and with ONNX Runtime's on the same file.
func checkParity(t *testing.T, model string) {
	t.Helper()
	ioPath := strings.TrimSuffix(model, ".onnx") + ".io.npz"
	ref, _, err := data.LoadNPZ(ioPath)
	if err != nil {
		t.Fatal(err)
	}
	m, err := onnx.Load(model)
	if err != nil {
		t.Fatal(err)
	}
	g, err := onnx.Import(m)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := graph.NewPlan(g)
	if err != nil {
		t.Fatal(err)
	}
	got, err := plan.Run(nil, map[string]*tensor.Tensor{g.Inputs[0].Name: ref["x"]})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	x := filepath.Join(dir, "x.npy")
	if err := data.SaveNPY(x, ref["x"]); err != nil {
		t.Fatal(err)
	}
	fixture.RunORT(t, model, dir, g.Inputs[0].Name+"="+x)
	for _, out := range g.Outputs {
		y := got[out.Name]
		want, ok := ref[out.Name]
		if !ok {
			t.Fatalf("no PyTorch reference for output %q in %s", out.Name, ioPath)
		}
		if !tensor.EqualShapes(y.Shape(), want.Shape()) {
			t.Fatalf("output %q: shape %v, PyTorch's is %v", out.Name, y.Shape(), want.Shape())
		}
		if rel := fixture.RelDiff(y.ToFloat64s(), want.ToFloat64s()); rel > parityTol {
			t.Errorf("output %q: %.3g relative to PyTorch, want <= %g", out.Name, rel, parityTol)
		}
		ort, err := data.LoadNPY(filepath.Join(dir, out.Name+".npy"))
		if err != nil {
			t.Fatal(err)
		}
		if rel := fixture.RelDiff(y.ToFloat64s(), ort.ToFloat64s()); rel > parityTol {
			t.Errorf("output %q: %.3g relative to ONNX Runtime, want <= %g", out.Name, rel, parityTol)
		}
	}
}

// TestParityFixtures: the committed small CNNs, each covering awkward attributes.
func TestParityFixtures(t *testing.T) {
	for _, rel := range fixture.SmallModels(t) {
		t.Run(strings.TrimSuffix(rel, ".onnx"), func(t *testing.T) {
			checkParity(t, filepath.Join(fixture.Models(t), rel))
		})
	}
}

// TestParityTorchvision: resnet18, mobilenet_v2 and squeezenet1_1 at opsets 11, 13 and 17,
// with BatchNorm folded into Conv (PyTorch's default export) and kept.
// ONNXTUNE_PARITY_MODELS=vgg11,densenet121 runs other torchvision families instead.
func TestParityTorchvision(t *testing.T) {
	if testing.Short() {
		t.Skip("model-sized case: runs in the full (non -short) pass")
	}
	models := []string{"resnet18", "mobilenet_v2", "squeezenet1_1"}
	if env := os.Getenv("ONNXTUNE_PARITY_MODELS"); env != "" {
		models = strings.Split(env, ",")
	}
	for _, name := range models {
		for _, opset := range []string{"11", "13", "17"} {
			for _, bn := range []bool{false, true} {
				variant := []string{"--opset", opset}
				if bn {
					variant = append(variant, "--preserve-bn")
				}
				t.Run(strings.TrimSuffix(fixture.LargeName(name, variant...), ".onnx"), func(t *testing.T) {
					checkParity(t, fixture.Large(t, name, variant...))
				})
			}
		}
	}
}

// TestParityModernOpsets: torchvision families at opsets 18 to 21 (gen.py rewrites their
// opset-17 export into each: the reductions' axes as inputs, the opset and IR version
// raised), at 64x64, against PyTorch and ONNX Runtime.
func TestParityModernOpsets(t *testing.T) {
	if testing.Short() {
		t.Skip("model-sized case: runs in the full (non -short) pass")
	}
	for _, name := range modernFamilies {
		for _, opset := range []string{"18", "19", "20", "21"} {
			variant := []string{"--opset", opset, "--size", "64"}
			t.Run(strings.TrimSuffix(fixture.LargeName(name, variant...), ".onnx"), func(t *testing.T) {
				checkParity(t, fixture.Large(t, name, variant...))
			})
		}
	}
}

// modernFamilies are the torchvision families the opset 18-21 tests export: shufflenet_v2
// reaches ReduceMean (its x.mean([2, 3])), whose form changed at 18, and Split; convnext
// LayerNormalization; efficientnet SiLU and squeeze-excitation.
var modernFamilies = []string{"resnet18", "mobilenet_v2", "squeezenet1_1", "shufflenet_v2_x0_5", "efficientnet_b0", "convnext_tiny"}
