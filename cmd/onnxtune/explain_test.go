package main

import (
	"image"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/explain"
	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/onnx"
	"github.com/onnxtune/onnxtune/tensor"
)

// explainReport matches what `onnxtune explain` prints: the class, its score, the feature map
// and its size, then the file written and its size.
var explainReport = regexp.MustCompile(`^class (\d+) \([^)]*\): score (\S+); Grad-CAM at (\S+) \((\d+)x(\d+)\)\nwrote (.+) \((\d+)x(\d+)\)\n$`)

// TestExplainCLI runs `onnxtune explain` on explain/testdata (gen_gradcam.py) as a user would,
// for the predicted class at the last feature map and for the least likely class at the first
// ReLU: the class, score and map size it prints are PyTorch's, and the PNG it writes is the
// overlay of PyTorch's heat map on PyTorch's image, to one colour level.
func TestExplainCLI(t *testing.T) {
	dir := filepath.Join(fixture.Root(t), "explain", "testdata")
	ref, _, err := data.LoadNPZ(filepath.Join(dir, "cam.ref.npz"))
	if err != nil {
		t.Fatal(err)
	}
	// The image as the model saw it, before ImageNet's normalisation.
	x := ref["x"].ToFloat64s()
	pixels := make([]float64, len(x))
	for i, v := range x {
		c := i / (32 * 32)
		pixels[i] = v*float64(data.ImageNetStd[c]) + float64(data.ImageNetMean[c])
	}
	seen := tensor.FromFloat64s(tensor.Float32, []int{3, 32, 32}, pixels)
	for _, c := range []struct {
		tag, layer, args string
	}{
		{"pred", "/relu2/Relu_output_0", ""},
		{"other", "/relu1/Relu_output_0", "--class " + strconv.FormatInt(ref["class_other"].Int64s()[0], 10) + " --layer /relu1/Relu"},
	} {
		t.Run(c.tag, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "heat.png")
			args := append([]string{"explain", filepath.Join(dir, "cam.onnx"), "--input", filepath.Join(dir, "scene.png"), "--out", out}, strings.Fields(c.args)...)
			stdout, stderr, status := onnxtune(args...)
			if status != 0 {
				t.Fatalf("status %d: %s", status, stderr)
			}
			m := explainReport.FindStringSubmatch(stdout)
			if m == nil {
				t.Fatalf("printed %q", stdout)
			}
			if want := strconv.FormatInt(ref["class_"+c.tag].Int64s()[0], 10); m[1] != want {
				t.Errorf("class %s, want %s", m[1], want)
			}
			score, err := strconv.ParseFloat(m[2], 64)
			if want := ref["score_"+c.tag].ToFloat64s()[0]; err != nil || !(abs(score-want) <= 1e-4*abs(want)) {
				t.Errorf("score %s, want %g", m[2], want)
			}
			camShape := ref["cam_"+c.tag].Shape()
			if m[3] != c.layer || m[4] != strconv.Itoa(camShape[1]) || m[5] != strconv.Itoa(camShape[0]) {
				t.Errorf("map %s (%sx%s), want %s (%dx%d)", m[3], m[4], m[5], c.layer, camShape[1], camShape[0])
			}
			if m[6] != out || m[7] != "32" || m[8] != "32" {
				t.Errorf("wrote %s (%sx%s), want %s (32x32)", m[6], m[7], m[8], out)
			}

			got := decodePNG(t, out)
			want, err := explain.Overlay(seen, ref["heat_"+c.tag])
			if err != nil {
				t.Fatal(err)
			}
			if got.Bounds() != want.Bounds() {
				t.Fatalf("the PNG is %v, want %v", got.Bounds(), want.Bounds())
			}
			worst := 0
			for y := range 32 {
				for x := range 32 {
					g, w := got.At(x, y), want.RGBAAt(x, y)
					r, gr, b, a := g.RGBA()
					for i, v := range []int{int(r >> 8), int(gr >> 8), int(b >> 8), int(a >> 8)} {
						worst = max(worst, abs(v-int([]uint8{w.R, w.G, w.B, w.A}[i])))
					}
				}
			}
			if worst > 1 {
				t.Errorf("the PNG differs from the overlay of PyTorch's heat map by %d colour levels", worst)
			}
		})
	}
}

func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img
}

func abs[T int | float64](v T) T { return max(v, -v) }

// TestExplainErrors: a bad layer, class, image, model or command line fails with one line
// naming it, and writes nothing.
func TestExplainErrors(t *testing.T) {
	dir := filepath.Join(fixture.Root(t), "explain", "testdata")
	model, img := filepath.Join(dir, "cam.onnx"), filepath.Join(dir, "scene.png")
	tmp := t.TempDir()
	// A model with an image input and no convolution: logits = mean of Relu(x) per channel.
	noConv := filepath.Join(tmp, "noconv.onnx")
	err := onnx.Save(&onnx.Model{Proto: &onnx.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnx.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(13)}},
		Graph: &onnx.GraphProto{
			Name:   proto.String("no_conv"),
			Input:  []*onnx.ValueInfoProto{floatValue("x", 1, 3, 32, 32)},
			Output: []*onnx.ValueInfoProto{floatValue("logits", 1, 3)},
			Node: []*onnx.NodeProto{
				nodeProto("Relu", []string{"x"}, "a"),
				nodeProto("GlobalAveragePool", []string{"a"}, "p"),
				nodeProto("Flatten", []string{"p"}, "logits"),
			},
		},
	}}, noConv)
	if err != nil {
		t.Fatal(err)
	}
	outDir := t.TempDir()
	out := filepath.Join(outDir, "heat.png")
	for _, c := range []struct {
		args   []string
		status int
		want   []string
	}{
		{[]string{model, "--input", img, "--out", out, "--layer", "nope"}, 1, []string{`no node or value "nope"`, "/relu2/Relu"}},
		{[]string{model, "--input", img, "--out", out, "--class", "4"}, 1, []string{"class 4", "4 scores"}},
		{[]string{model, "--input", filepath.Join(tmp, "missing.png"), "--out", out}, 1, []string{"missing.png", "no such file"}},
		{[]string{model, "--input", filepath.Join(dir, "gen_gradcam.py"), "--out", out}, 1, []string{"gen_gradcam.py", "not a PNG"}},
		{[]string{noConv, "--input", img, "--out", out}, 1, []string{"no Conv node", "--layer"}},
		{[]string{model, "--input", img, "--out", filepath.Join(tmp, "nodir", "heat.png")}, 1, []string{filepath.Join(tmp, "nodir") + " does not exist"}},
		{[]string{model, "--input", img}, 2, []string{"missing --out"}},
		{[]string{model, "--out", out}, 2, []string{"missing --input"}},
		{[]string{model, "--input", img, "--out", filepath.Join(outDir, "heat.jpg")}, 2, []string{"heat.jpg", ".png"}},
	} {
		_, stderr, status := onnxtune(append([]string{"explain"}, c.args...)...)
		if status != c.status || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: status %d, stderr %q; want status %d and one line", c.args, status, stderr, c.status)
		}
		for _, w := range c.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%v: stderr %q does not mention %q", c.args, stderr, w)
			}
		}
	}
	if left, _ := os.ReadDir(outDir); len(left) > 0 {
		t.Errorf("failed runs left %s in the output directory", left[0].Name())
	}
	// The same model explains at a feature map named by hand.
	if _, stderr, status := onnxtune("explain", noConv, "--input", img, "--out", out, "--layer", "a"); status != 0 {
		t.Errorf("--layer a: status %d: %s", status, stderr)
	}
}
