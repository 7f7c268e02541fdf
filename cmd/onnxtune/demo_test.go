package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/tensor"
)

// withoutPythonOrNode returns a PATH of one folder linking every program on this one but
// Python, Node and their package managers: a machine with only Go (and a shell) installed.
func withoutPythonOrNode(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			name := e.Name()
			for _, banned := range []string{"python", "node", "npm", "npx", "pip", "corepack"} {
				if strings.HasPrefix(name, banned) {
					name = ""
				}
			}
			if name == "" {
				continue
			}
			if _, err := os.Lstat(filepath.Join(bin, name)); err == nil {
				continue // the first on PATH wins, as for a lookup
			}
			os.Symlink(filepath.Join(dir, name), filepath.Join(bin, name))
		}
	}
	return bin
}

// TestDemo runs the README's first command, scripts/demo.sh, with Python and Node off the
// PATH: it must run to its end and write the report. Then ONNX Runtime runs the model it
// exported on the held-out images and agrees with the engine.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary: runs in the full (non -short) pass")
	}
	root := fixture.Root(t)
	out := t.TempDir()
	cmd := exec.Command(filepath.Join(root, "scripts", "demo.sh"))
	cmd.Env = append(os.Environ(), "PATH="+withoutPythonOrNode(t), "OUT="+out)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("demo.sh without Python or Node: %v\n%s", err, b)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if last := lines[len(lines)-1]; last != "demo: ok; the report is "+filepath.Join(out, "report", "index.html") {
		t.Errorf("the demo ends with %q", last)
	}
	if _, err := os.Stat(filepath.Join(out, "report", "index.html")); err != nil {
		t.Errorf("no report: %v", err)
	}

	model := filepath.Join(out, "bag_screen.onnx")
	x, _ := grayBatch(t, filepath.Join(root, "testdata", "demo", "images_val"), 1)
	agreesWithORT(t, model, x, "logits", "probability", "decision")
}

// agreesWithORT runs model on the input x in ONNX Runtime and on the engine, and fails t
// where an output differs by more than 1e-5 relative.
func agreesWithORT(t *testing.T, model string, x *tensor.Tensor, outputs ...string) {
	t.Helper()
	dir := t.TempDir()
	xPath := filepath.Join(dir, "x.npy")
	if err := data.SaveNPY(xPath, x); err != nil {
		t.Fatal(err)
	}
	fixture.RunORT(t, model, dir, xPath)
	plan, err := loadPlan(model)
	if err != nil {
		t.Fatal(err)
	}
	got, err := plan.Run(nil, map[string]*tensor.Tensor{plan.Graph.Inputs[0].Name: x})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range outputs {
		ort, err := data.LoadNPY(filepath.Join(dir, name+".npy"))
		if err != nil {
			t.Fatal(err)
		}
		if d := fixture.RelDiffTensors(got[name], ort); d > 1e-5 {
			t.Errorf("%s: output %s differs from ONNX Runtime's by %.3g relative", filepath.Base(model), name, d)
		}
	}
}

// grayBatch reads every stride-th image of a class folder as the demo's 1x28x28 models take
// them: the batch x [N 1 28 28] and the class labels.
func grayBatch(t *testing.T, folder string, stride int) (*tensor.Tensor, []int64) {
	t.Helper()
	ds, err := data.OpenImageFolder(folder, data.ImageTransform{Channels: 1, Height: 28, Width: 28})
	if err != nil {
		t.Fatal(err)
	}
	n := (ds.Len() + stride - 1) / stride
	x, y := tensor.New(tensor.Float32, n, 1, 28, 28), make([]int64, n)
	for i := range n {
		xi, yi, err := ds.Example(i * stride)
		if err != nil {
			t.Fatal(err)
		}
		copy(x.Float32s()[i*28*28:], xi.Float32s())
		y[i] = yi.Int64s()[0]
	}
	return x, y
}
