package main

import (
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

	"google.golang.org/protobuf/proto"
)

// adabnFixture returns the directory of train/testdata/gen_adabn.py's fixtures.
func adabnFixture(t *testing.T) string {
	return filepath.Join(fixture.Root(t), "train", "testdata", "adabn")
}

// TestRecalibrateMatchesTorch runs the command line on the flat folder of target
// images: the written model holds PyTorch's momentum=None statistics and gives PyTorch's
// eval-mode logits, within 1e-5 each, keeps the model's earlier onnxtune records and adds
// the recalibration's.
func TestRecalibrateMatchesTorch(t *testing.T) {
	dir := adabnFixture(t)
	ref, _, err := data.LoadNPZ(filepath.Join(dir, "adabn.ref.npz"))
	if err != nil {
		t.Fatal(err)
	}
	// A model an earlier `onnxtune train` wrote: its record of the loss must survive.
	base, err := onnx.Load(filepath.Join(dir, "adabn.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	base.Proto.MetadataProps = append(base.Proto.MetadataProps,
		&onnx.StringStringEntryProto{Key: proto.String("onnxtune.loss"), Value: proto.String("cross-entropy")})
	tmp := t.TempDir()
	model, out := filepath.Join(tmp, "model.onnx"), filepath.Join(tmp, "adapted.onnx")
	if err := onnx.Save(base, model); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, status := onnxtune("recalibrate-bn", model, "--data", filepath.Join(dir, "target"), "--out", out,
		"--batch-size", "4", "--workers", "2")
	if status != 0 {
		t.Fatalf("status %d: %s", status, stderr)
	}
	want := "wrote " + out + ": the running statistics of 3 BatchNormalization nodes re-estimated on the 10 examples of " +
		filepath.Join(dir, "target") + " (3 batches of 4, the last of 2,"
	if !strings.HasPrefix(stdout, want) {
		t.Errorf("printed %q, want it to begin %q", stdout, want)
	}
	m, err := onnx.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	meta := map[string]string{}
	for _, p := range m.Proto.GetMetadataProps() {
		meta[p.GetKey()] = p.GetValue()
	}
	for k, v := range map[string]string{
		"onnxtune.loss":                      "cross-entropy",
		"onnxtune.recalibrate_bn.data":       filepath.Join(dir, "target"),
		"onnxtune.recalibrate_bn.examples":   "10",
		"onnxtune.recalibrate_bn.batches":    "3",
		"onnxtune.recalibrate_bn.base_model": "model.onnx",
	} {
		if meta[k] != v {
			t.Errorf("metadata %s = %q, want %q", k, meta[k], v)
		}
	}
	g, err := onnx.Import(m)
	if err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	diff := func(got, want *tensor.Tensor) float64 {
		if got == nil || got.Len() != want.Len() {
			return math.Inf(1)
		}
		d := 0.0
		for i := range want.Len() {
			d = math.Max(d, math.Abs(got.Float64At(i)-want.Float64At(i)))
		}
		return d
	}
	for key, w := range ref {
		name, ok := strings.CutPrefix(key, "adabn/")
		if !ok || name == "logits" {
			continue
		}
		d := diff(g.Initializers[name], w)
		worst = math.Max(worst, d)
		if !(d <= 1e-5) {
			t.Errorf("%s: max difference from PyTorch %.3g", name, d)
		}
	}
	plan, err := graph.NewPlan(g)
	if err != nil {
		t.Fatal(err)
	}
	outs, err := plan.Run(nil, map[string]*tensor.Tensor{"x": ref["probe"]})
	if err != nil {
		t.Fatal(err)
	}
	if d := diff(outs["logits"], ref["adabn/logits"]); !(d <= 1e-5) {
		t.Errorf("logits: max difference from PyTorch %.3g", d)
	}
	t.Logf("largest difference from PyTorch's running statistics: %.3g", worst)
}

// TestRecalibrateErrors: a bad command line is a usage error (status 2), a pass PyTorch
// refuses fails (status 1) with one line naming the culprit, and writes nothing.
func TestRecalibrateErrors(t *testing.T) {
	dir := adabnFixture(t)
	model, images := filepath.Join(dir, "adabn.onnx"), filepath.Join(dir, "target")
	out := filepath.Join(t.TempDir(), "out.onnx")
	mixed := t.TempDir()
	for _, p := range []string{filepath.Join(mixed, "img.png"), filepath.Join(mixed, "cls", "img.png")} {
		b, err := os.ReadFile(filepath.Join(images, "img00.png"))
		if err == nil {
			err = os.MkdirAll(filepath.Dir(p), 0o755)
		}
		if err == nil {
			err = os.WriteFile(p, b, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		args   []string
		status int
		want   string
	}{
		{[]string{model, "--out", out}, 2, "onnxtune recalibrate-bn: missing --data"},
		{[]string{model, "--data", images}, 2, "onnxtune recalibrate-bn: missing --out"},
		{[]string{model, "--data", images, "--out", "x.npz"}, 2, "onnxtune recalibrate-bn: --out x.npz: want an .onnx file name"},
		{[]string{model, "--data", images, "--out", out, "--batch-size", "0"}, 2, "onnxtune recalibrate-bn: --batch-size 0: want at least 1"},
		{[]string{model, "--data", images, "--out", out, "--mean", "0.5"}, 2, "onnxtune recalibrate-bn: --mean and --std go together"},
		{[]string{model, "--data", images, "--out", out, "--batch-size", "3"}, 1,
			`onnxtune recalibrate-bn: train: node "/bn3/BatchNormalization" (BatchNormalization): expected more than 1 value per channel`},
		{[]string{model, "--data", mixed, "--out", out}, 1, "onnxtune recalibrate-bn: data: " + mixed + ": holds images (img.png) and class folders (cls)"},
		{[]string{fixture.Small(t, "tiny_cnn.onnx"), "--data", images, "--out", out}, 1,
			"onnxtune recalibrate-bn: train: recalibrate BatchNorm: the model has no BatchNormalization node"},
	} {
		_, errOut, status := onnxtune(append([]string{"recalibrate-bn"}, c.args...)...)
		if status != c.status || !strings.HasPrefix(errOut, c.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: got status %d, %q; want %d, %q", c.args[1:], status, errOut, c.status, c.want)
		}
		if _, err := os.Stat(out); err == nil {
			t.Fatalf("%v: wrote %s", c.args[1:], out)
		}
	}
}
