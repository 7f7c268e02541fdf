package explain_test

import (
	"image/color"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/explain"
	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/onnx"
	"github.com/onnxtune/onnxtune/tensor"
)

// camFixture loads explain/testdata (gen_gradcam.py): the model and PyTorch's references.
func camFixture(t *testing.T) (*graph.Graph, map[string]*tensor.Tensor, string) {
	t.Helper()
	dir := filepath.Join(fixture.Root(t), "explain", "testdata")
	m, err := onnx.Load(filepath.Join(dir, "cam.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := onnx.Import(m)
	if err != nil {
		t.Fatal(err)
	}
	ref, _, err := data.LoadNPZ(filepath.Join(dir, "cam.ref.npz"))
	if err != nil {
		t.Fatal(err)
	}
	return g, ref, dir
}

// TestGradCAMMatchesPyTorch: the map at the last feature map for the predicted class, and at
// the first ReLU (--layer) for the least likely class, equal PyTorch's hook-based Grad-CAM
// (1e-4 of the map's maximum), upsampled heat included; the image goes through onnxtune's
// own image pipeline, as torchvision's transforms took it.
func TestGradCAMMatchesPyTorch(t *testing.T) {
	g, ref, dir := camFixture(t)
	x, err := data.ImageTransform{Channels: 3, Height: 32, Width: 32}.Load(filepath.Join(dir, "scene.png"))
	if err != nil {
		t.Fatal(err)
	}
	x, err = x.Reshape(1, 3, 32, 32)
	if err != nil {
		t.Fatal(err)
	}
	if d := fixture.RelDiffTensors(x, ref["x"]); d > 1e-6 {
		t.Fatalf("the image is %.3g from torchvision's", d)
	}
	last, err := explain.LastFeatureMap(g)
	if err != nil || last != "/relu2/Relu_output_0" {
		t.Errorf("LastFeatureMap = %q, %v; want the second ReLU's output", last, err)
	}
	for _, c := range []struct {
		tag, layer string
		class      int
	}{{"pred", "", -1}, {"other", "/relu1/Relu", int(ref["class_other"].Int64s()[0])}} {
		t.Run(c.tag, func(t *testing.T) {
			r, err := explain.GradCAM(g, x, explain.Options{Layer: c.layer, Class: c.class})
			if err != nil {
				t.Fatal(err)
			}
			if want := int(ref["class_"+c.tag].Int64s()[0]); r.Class != want {
				t.Errorf("class %d, want %d", r.Class, want)
			}
			if want := ref["score_"+c.tag].ToFloat64s()[0]; math.Abs(r.Score-want) > 1e-4*math.Abs(want) {
				t.Errorf("score %g, want %g", r.Score, want)
			}
			for _, m := range []struct {
				name      string
				got, want *tensor.Tensor
			}{{"cam", r.CAM, ref["cam_"+c.tag]}, {"heat", r.Heat, ref["heat_"+c.tag]}} {
				g, w := m.got.ToFloat64s(), m.want.ToFloat64s()
				if len(g) != len(w) {
					t.Fatalf("%s has %d values, want %d", m.name, len(g), len(w))
				}
				var worst, top float64
				for i := range w {
					worst, top = math.Max(worst, math.Abs(g[i]-w[i])), math.Max(top, math.Abs(w[i]))
				}
				if top == 0 || worst > 1e-4*top {
					t.Errorf("%s: worst difference %.3g, %.3g of PyTorch's maximum %.3g", m.name, worst, worst/top, top)
				}
			}
		})
	}
}

func TestGradCAMErrors(t *testing.T) {
	g, _, _ := camFixture(t)
	x := tensor.New(tensor.Float32, 1, 3, 32, 32)
	for _, c := range []struct {
		opt  explain.Options
		x    *tensor.Tensor
		want string
	}{
		{explain.Options{Layer: "nope", Class: -1}, x, `no node or value "nope"`},
		{explain.Options{Class: 9}, x, "class 9"},
		{explain.Options{Class: -1, Output: "probs"}, x, `no output "probs"`},
		{explain.Options{Class: -1}, tensor.New(tensor.Float32, 2, 3, 32, 32), "want one image"},
	} {
		if _, err := explain.GradCAM(g, c.x, c.opt); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.opt, err, c.want)
		}
	}
}

// TestOverlay: heat 0 tints a pixel blue, 1 red, half of each with the image.
func TestOverlay(t *testing.T) {
	pixels := tensor.From([]int{1, 1, 2}, []float32{0, 1})
	heat := tensor.From([]int{1, 2}, []float32{0, 1})
	img, err := explain.Overlay(pixels, heat)
	if err != nil {
		t.Fatal(err)
	}
	// jet(0) = (0, 0, 0.5), jet(1) = (0.5, 0, 0): half of it plus half the grey level.
	if got, want := img.RGBAAt(0, 0), (color.RGBA{0, 0, 64, 255}); got != want {
		t.Errorf("pixel 0: %v, want %v", got, want)
	}
	if got, want := img.RGBAAt(1, 0), (color.RGBA{191, 128, 128, 255}); got != want {
		t.Errorf("pixel 1: %v, want %v", got, want)
	}
	if _, err := explain.Overlay(pixels, tensor.New(tensor.Float32, 2, 2)); err == nil {
		t.Error("a heat map of another size: no error")
	}
}
