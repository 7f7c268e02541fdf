package main

import (
	"encoding/csv"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/tensor"
)

// writeImages writes n random RGB PNGs of random sizes (larger than side, not square) into
// dir/<class>/, spread over the classes.
func writeImages(t *testing.T, dir string, classes []string, n, side int) {
	t.Helper()
	r := rand.New(rand.NewPCG(uint64(n), uint64(side)))
	for i := range n {
		class := classes[i%len(classes)]
		if err := os.MkdirAll(filepath.Join(dir, class), 0o755); err != nil {
			t.Fatal(err)
		}
		w, h := side+5+r.IntN(30), side+5+r.IntN(30)
		img := image.NewRGBA(image.Rect(0, 0, w, h))
		for y := range h {
			for x := range w {
				img.Set(x, y, color.RGBA{uint8(r.IntN(256)), uint8((x * 255) / w), uint8((y * 255) / h), 255})
			}
		}
		f, err := os.Create(filepath.Join(dir, class, "img"+strconv.Itoa(i)+".png"))
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, img); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
}

// torchvisionPy preprocesses each image as torchvision does: the mode (L or RGB),
// Resize(size), CenterCrop(size), ToTensor and, given, Normalize(mean, std); it saves the
// batch to out.npy.
const torchvisionPy = `
import sys, json, numpy as np
from PIL import Image
from torchvision import transforms
out, mode, size, norm = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
steps = [transforms.Resize(size), transforms.CenterCrop(size), transforms.ToTensor()]
if norm:
    steps.append(transforms.Normalize(norm[0], norm[1]))
t = transforms.Compose(steps)
x = np.stack([t(Image.open(p).convert(mode)).numpy() for p in sys.argv[5:]])
np.save(out, x)
`

// readPredictions reads predict's CSV: the header and the rows by path.
func readPredictions(t *testing.T, text string) ([]string, map[string][]string) {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(text)).ReadAll()
	if err != nil || len(recs) == 0 {
		t.Fatalf("predict's CSV %q: %v", text, err)
	}
	rows := map[string][]string{}
	for _, r := range recs[1:] {
		if _, dup := rows[r[0]]; dup {
			t.Errorf("%s is scored twice", r[0])
		}
		rows[r[0]] = r
	}
	return recs[0], rows
}

// checkAgainstORT compares predict's probabilities with the softmax of ONNX Runtime's logits
// on the same images preprocessed by torchvision.
func checkAgainstORT(t *testing.T, model, mode string, size int, norm string, header []string, rows map[string][]string) {
	t.Helper()
	dir := t.TempDir()
	paths := make([]string, 0, len(rows))
	for p := range rows {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	x := filepath.Join(dir, "x.npy")
	fixture.RunPython(t, torchvisionPy, append([]string{x, mode, strconv.Itoa(size), norm}, paths...)...)
	fixture.RunORT(t, model, dir, x)
	logits, err := data.LoadNPY(filepath.Join(dir, "logits.npy"))
	if err != nil {
		t.Fatal(err)
	}
	width := logits.Shape()[1]
	if len(header) != 2+width {
		t.Fatalf("header %v for %d classes", header, width)
	}
	v := logits.ToFloat64s()
	worst := 0.0
	for i, p := range paths {
		row := v[i*width : (i+1)*width]
		m := slices.Max(row)
		var sum float64
		for _, z := range row {
			sum += math.Exp(z - m)
		}
		for c, z := range row {
			got, _ := strconv.ParseFloat(rows[p][2+c], 64)
			worst = max(worst, math.Abs(got-math.Exp(z-m)/sum))
		}
	}
	if worst > 1e-5 {
		t.Errorf("%s: probabilities differ from ONNX Runtime's on torchvision's tensors by up to %.3g", model, worst)
	}
	t.Logf("%s: %d images, probabilities within %.2g of ONNX Runtime's on torchvision's tensors", filepath.Base(model), len(paths), worst)
}

// TestPredictMatchesTorchvisionAndORT: predict on class folders of odd-sized images gives
// the probabilities ONNX Runtime gives on torchvision's preprocessing of them, for a 1-channel
// model tuned by train (its class names are the folder names) and a 3-channel torchvision
// model (ImageNet normalisation); shards, by flag, Kubernetes index and Slurm array, add up
// to the unsharded rows (equalRows).
func TestPredictMatchesTorchvisionAndORT(t *testing.T) {
	dir := t.TempDir()
	classes := []string{"alpha", "beta", "gamma"}
	gray := filepath.Join(dir, "gray")
	writeImages(t, gray, classes, 24, 28)
	tuned := filepath.Join(dir, "tuned.onnx")
	if _, stderr, status := onnxtune("train", filepath.Join(fixture.Root(t), "testdata", "demo", "fmnist_cnn.onnx"),
		"--data", gray, "--num-classes", "3", "--epochs", "1", "--batch-size", "8", "--out", tuned); status != 0 {
		t.Fatalf("train: status %d: %s", status, stderr)
	}
	all, stderr, status := onnxtune("predict", tuned, "--data", gray)
	if status != 0 {
		t.Fatalf("predict: status %d: %s", status, stderr)
	}
	header, rows := readPredictions(t, all)
	if want := []string{"path", "predicted", "p_alpha", "p_beta", "p_gamma"}; !slices.Equal(header, want) {
		t.Errorf("header %v, want %v: the class names are the folders'", header, want)
	}
	if len(rows) != 24 {
		t.Errorf("%d rows for 24 images", len(rows))
	}
	checkAgainstORT(t, tuned, "L", 28, "null", header, rows)

	// eval of the same images as an .npz, which has only class indices, names the classes as
	// the model records them.
	x, y := grayBatch(t, gray, 1)
	npz := filepath.Join(dir, "gray.npz")
	if err := data.SaveNPZ(npz, []string{"x", "y"}, map[string]*tensor.Tensor{"x": x, "y": tensor.From([]int{len(y)}, y)}); err != nil {
		t.Fatal(err)
	}
	report, stderr, status := onnxtune("eval", tuned, "--data", npz, "--json")
	if status != 0 || !strings.Contains(report, `"name":"alpha"`) || !strings.Contains(report, `"name":"gamma"`) {
		t.Errorf("eval of the .npz: status %d, stderr %q, report %.300s; want the classes named alpha, beta, gamma", status, stderr, report)
	}

	// The shards together are the whole, each file once.
	union := map[string][]string{}
	add := func(what, text string) {
		_, part := readPredictions(t, text)
		for p, r := range part {
			if _, dup := union[p]; dup {
				t.Errorf("%s: %s is in two shards", what, p)
			}
			union[p] = r
		}
	}
	for i := range 3 {
		out, stderr, status := onnxtune("predict", tuned, "--data", gray, "--shard", strconv.Itoa(i)+"/3")
		if status != 0 {
			t.Fatalf("--shard %d/3: status %d: %s", i, status, stderr)
		}
		add("--shard", out)
	}
	if !equalRows(union, rows) {
		t.Errorf("the rows of --shard 0/3, 1/3 and 2/3 are not those of one unsharded run")
	}
	for _, env := range []struct{ name, flag string }{{"JOB_COMPLETION_INDEX", "--shards"}, {"SLURM_ARRAY_TASK_ID", ""}} {
		union = map[string][]string{}
		for i := range 3 {
			args := []string{"predict", tuned, "--data", gray, "--out", filepath.Join(dir, "p.csv")}
			t.Setenv(env.name, strconv.Itoa(i+1)) // Slurm arrays often count from 1
			if env.flag != "" {
				t.Setenv(env.name, strconv.Itoa(i))
				args = append(args, env.flag, "3")
			} else {
				t.Setenv("SLURM_ARRAY_TASK_MIN", "1")
				t.Setenv("SLURM_ARRAY_TASK_COUNT", "3")
			}
			if _, stderr, status := onnxtune(args...); status != 0 {
				t.Fatalf("%s=%d: status %d: %s", env.name, i, status, stderr)
			}
			b, err := os.ReadFile(filepath.Join(dir, "p.shard-"+strconv.Itoa(i)+"-of-3.csv"))
			if err != nil {
				t.Fatal(err)
			}
			add(env.name, string(b))
		}
		if !equalRows(union, rows) {
			t.Errorf("%s: the three shards' rows are not those of one unsharded run", env.name)
		}
		os.Unsetenv(env.name)
		os.Unsetenv("SLURM_ARRAY_TASK_COUNT")
	}

	rgb := filepath.Join(dir, "rgb")
	writeImages(t, rgb, []string{"x"}, 6, 64)
	model := fixture.Large(t, "resnet18", "--size", "64")
	all, stderr, status = onnxtune("predict", model, "--data", rgb)
	if status != 0 {
		t.Fatalf("predict resnet18: status %d: %s", status, stderr)
	}
	header, rows = readPredictions(t, all)
	checkAgainstORT(t, model, "RGB", 64, "[[0.485, 0.456, 0.406], [0.229, 0.224, 0.225]]", header, rows)
}

// equalRows reports whether two predictions hold the same files with the same predicted
// class and probabilities within 1e-6: a file's scores may differ in the last bits with the
// batch it ran in (a batch of up to 4, or a part of one split over the cores, takes the
// classifier's product as dot products, a larger one as the blocked GEMM).
func equalRows(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w := b[k]
		if len(v) != len(w) || v[0] != w[0] || v[1] != w[1] {
			return false
		}
		for i := 2; i < len(v); i++ {
			x, errX := strconv.ParseFloat(v[i], 64)
			y, errY := strconv.ParseFloat(w[i], 64)
			if errX != nil || errY != nil || math.Abs(x-y) > 1e-6 {
				return false
			}
		}
	}
	return true
}
