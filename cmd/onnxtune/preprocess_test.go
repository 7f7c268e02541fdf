package main

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
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

// TestEmbedPreprocessingMatchesORT: a model written with --embed-preprocessing, run in ONNX
// Runtime on the raw uint8 pixels of an image folder (NCHW or NHWC), gives the logits the
// engine gives on its own preprocessed images with the model written without it, within
// 1e-5: for a grey model with --mean/--std, an RGB model with ImageNet's default
// normalisation in NHWC, and a train run (the same seeded run twice, with and without).
func TestEmbedPreprocessingMatchesORT(t *testing.T) {
	bin := binaryDir(t)
	rgb := rgbFolder(t, 32, 32)
	cam := filepath.Join(fixture.Root(t), "explain", "testdata", "cam.onnx")
	trainArgs := []string{"train", filepath.Join(bin, "bin1.onnx"), "--data", filepath.Join(bin, "scans"), "--val", filepath.Join(bin, "scans_val"),
		"--loss", "bce-logits", "--epochs", "2", "--seed", "3", "--mean", "0.2", "--std", "0.5"}
	for _, c := range []struct {
		name   string
		args   []string // the command writing the model, less --out and --embed-preprocessing
		data   string
		layout string
		mean   []float32
		std    []float32
	}{
		{"grey nchw", []string{"calibrate", filepath.Join(bin, "bin1.onnx"), "--data", filepath.Join(bin, "scans_val"), "--mean", "0.5", "--std", "0.25", "--temperature=false"},
			filepath.Join(bin, "scans_val"), "nchw", []float32{0.5}, []float32{0.25}},
		{"rgb nhwc", []string{"calibrate", cam, "--data", rgb, "--positive-class", "1"}, rgb, "nhwc", nil, nil},
		{"train", trainArgs, filepath.Join(bin, "scans_val"), "nchw", []float32{0.2}, []float32{0.5}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tmp := t.TempDir()
			plain, embedded := filepath.Join(tmp, "plain.onnx"), filepath.Join(tmp, "embedded.onnx")
			for _, a := range [][]string{
				append(c.args, "--out", plain),
				append(c.args, "--out", embedded, "--embed-preprocessing", c.layout),
			} {
				if _, stderr, status := onnxtune(a...); status != 0 {
					t.Fatalf("%s: status %d: %s", strings.Join(a, " "), status, stderr)
				}
			}
			m, err := onnx.Load(plain)
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
			x := loadAll(t, c.data, train.InputTransform(g, c.mean, c.std))
			outs, err := plan.Run(nil, map[string]*tensor.Tensor{g.Inputs[0].Name: x})
			if err != nil {
				t.Fatal(err)
			}
			want := outs[g.Outputs[0].Name]

			unit := loadAll(t, c.data, train.InputTransform(g, []float32{0}, []float32{1})) // [0, 1]
			pixels := make([]uint8, unit.Len())
			for i, v := range unit.Float32s() {
				pixels[i] = uint8(math.Round(float64(v) * 255))
			}
			raw := tensor.From(unit.Shape(), pixels)
			if c.layout == "nhwc" {
				if raw, err = tensor.TransposeTensor(nil, raw, []int{0, 2, 3, 1}); err != nil {
					t.Fatal(err)
				}
			}
			in := filepath.Join(tmp, "pixels.npy")
			if err := data.SaveNPY(in, raw); err != nil {
				t.Fatal(err)
			}
			fixture.RunORT(t, embedded, tmp, "pixels="+in)
			got, err := data.LoadNPY(filepath.Join(tmp, g.Outputs[0].Name+".npy"))
			if err != nil {
				t.Fatal(err)
			}
			if !tensor.EqualShapes(got.Shape(), want.Shape()) {
				t.Fatalf("ONNX Runtime's logits %v, the engine's %v", got, want)
			}
			var worst, scale float64
			for i := range want.Len() {
				worst = max(worst, math.Abs(got.Float64At(i)-want.Float64At(i)))
				scale = max(scale, math.Abs(want.Float64At(i)))
			}
			if worst > 1e-5*max(1, scale) {
				t.Errorf("ONNX Runtime on uint8 pixels differs from the engine on its preprocessed images by %.3g (largest logit %.3g)", worst, scale)
			}

			// eval feeds the embedded model the images it normalises itself, with the mean and
			// std it records: the same loss as the plain model given them.
			norm := []string{}
			if c.mean != nil {
				norm = []string{"--mean", fmt.Sprint(c.mean[0]), "--std", fmt.Sprint(c.std[0])}
			}
			a := evalReport(t, append([]string{plain, "--data", c.data}, norm...)...)
			b := evalReport(t, embedded, "--data", c.data)
			if a["loss"] != b["loss"] || a["accuracy"] != b["accuracy"] {
				t.Errorf("eval of the embedded model: loss %v, accuracy %v; of the plain one: %v, %v", b["loss"], b["accuracy"], a["loss"], a["accuracy"])
			}
		})
	}
}

// rgbFolder writes an image folder of w x h RGB PNGs, two classes of six random images.
func rgbFolder(t *testing.T, w, h int) string {
	t.Helper()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	for _, class := range []string{"a", "b"} {
		if err := os.MkdirAll(filepath.Join(dir, class), 0o755); err != nil {
			t.Fatal(err)
		}
		for i := range 6 {
			img := image.NewNRGBA(image.Rect(0, 0, w, h))
			for y := range h {
				for x := range w {
					img.Set(x, y, color.NRGBA{uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256)), 255})
				}
			}
			f, err := os.Create(filepath.Join(dir, class, string(rune('0'+i))+".png"))
			if err != nil {
				t.Fatal(err)
			}
			if err := png.Encode(f, img); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

// loadAll reads every image of the folder dir with transform it, as one batch.
func loadAll(t *testing.T, dir string, it data.ImageTransform) *tensor.Tensor {
	t.Helper()
	ds, err := data.Open(dir, data.Options{Image: it})
	if err != nil {
		t.Fatal(err)
	}
	for b, err := range data.NewLoader(ds, ds.Len(), false, 0, 1).Epoch(t.Context(), 0) {
		if err != nil {
			t.Fatal(err)
		}
		return b.X
	}
	t.Fatal("no examples")
	return nil
}
