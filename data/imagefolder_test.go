package data

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/onnxtune/onnxtune/internal/fixture"
)

// imageFolder is the committed image folder testdata/images/gen.py writes.
const imageFolder = "testdata/images/folder"

// torchvisionImageFolder runs torchvision's ImageFolder with the transform t describes on
// root (all of onnxtune's extensions accepted, since torchvision's list lacks .gif) and
// returns its classes and, per sample, the relative path, label and tensor.
const torchvisionImageFolder = `
import base64, json, os, sys, warnings
warnings.simplefilter("ignore")
from torchvision import transforms as T
from torchvision.datasets import ImageFolder
root, configs = sys.argv[1], json.loads(sys.argv[2])
exts = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff")
out = []
for c in configs:
    tf = [T.Grayscale(1)] if c["Channels"] == 1 else []
    tf += [T.Resize(c["Resize"]), T.CenterCrop((c["Height"], c["Width"])), T.ToTensor()]
    if c["Mean"] is not None:
        tf.append(T.Normalize(c["Mean"], c["Std"]))
    ds = ImageFolder(root, transform=T.Compose(tf), is_valid_file=lambda p: p.lower().endswith(exts))
    items = []
    for i, (path, label) in enumerate(ds.samples):
        x, y = ds[i]
        items.append({"path": os.path.relpath(path, root), "label": y, "shape": list(x.shape),
                      "x": base64.b64encode(x.numpy().astype("<f4").tobytes()).decode()})
    out.append({"classes": ds.classes, "items": items})
print(json.dumps(out))
`

type tvItem struct {
	Path  string `json:"path"`
	Label int64  `json:"label"`
	Shape []int  `json:"shape"`
	X     string `json:"x"`
}

type tvResult struct {
	Classes []string `json:"classes"`
	Items   []tvItem `json:"items"`
}

func decodeF32(t *testing.T, b64 string) []float32 {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, len(raw)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return out
}

// jpegTolerance bounds |onnxtune - torchvision| for JPEG files, in units of one 8-bit level
// (1/255) before normalisation. Chroma upsampling and colour conversion follow libjpeg
// exactly; Go's inverse DCT rounds differently from libjpeg's islow one, by one or two
// levels of Y, Cb or Cr, which colour conversion turns into up to about twice that in R, G
// or B, and the bilinear resize averages but can also carry.
const jpegTolerance = 4

func TestImageFolderMatchesTorchvision(t *testing.T) {
	t.Parallel()
	configs := []ImageTransform{
		{Channels: 3, Height: 24, Width: 24}, // ImageNet normalisation by default
		{Channels: 1, Height: 16, Width: 16, Mean: []float32{0.2860}, Std: []float32{0.3530}},
		{Channels: 3, Height: 20, Width: 28, Resize: 32, Mean: []float32{0.5, 0.5, 0.5}, Std: []float32{0.5, 0.5, 0.5}},
		{Channels: 3, Height: 16, Width: 16, Resize: 12}, // the crop pads
		{Channels: 3, Height: 64, Width: 64},             // every image grows
		{Channels: 1, Height: 30, Width: 30},             // no normalisation
	}
	type pyConfig struct {
		Channels, Height, Width, Resize int
		Mean, Std                       []float32
	}
	var py []pyConfig
	for _, c := range configs {
		resize := c.Resize
		if resize == 0 {
			resize = max(c.Height, c.Width)
		}
		mean, std, err := c.Normalization()
		if err != nil {
			t.Fatal(err)
		}
		py = append(py, pyConfig{c.Channels, c.Height, c.Width, resize, mean, std})
	}
	arg, _ := json.Marshal(py)
	var want []tvResult
	if err := json.Unmarshal([]byte(fixture.RunPython(t, torchvisionImageFolder, imageFolder, string(arg))), &want); err != nil {
		t.Fatal(err)
	}
	for ci, cfg := range configs {
		f, err := OpenImageFolder(imageFolder, cfg)
		if err != nil {
			t.Fatal(err)
		}
		w := want[ci]
		if !slices.Equal(f.Classes(), w.Classes) {
			t.Fatalf("config %d: classes %q, want %q", ci, f.Classes(), w.Classes)
		}
		if f.Len() != len(w.Items) {
			t.Fatalf("config %d: %d images, want %d", ci, f.Len(), len(w.Items))
		}
		worst := map[string]float64{} // by extension, in 8-bit levels before normalisation
		for i, item := range w.Items {
			rel, _ := filepath.Rel(imageFolder, f.Path(i))
			if rel != item.Path {
				t.Fatalf("config %d: image %d is %s, want %s", ci, i, rel, item.Path)
			}
			x, y, err := f.Example(i)
			if err != nil {
				t.Fatal(err)
			}
			if got := y.Int64s()[0]; got != item.Label {
				t.Errorf("config %d: %s: label %d, want %d", ci, rel, got, item.Label)
			}
			if !slices.Equal(x.Shape(), item.Shape) {
				t.Fatalf("config %d: %s: shape %v, want %v", ci, rel, x.Shape(), item.Shape)
			}
			ref := decodeF32(t, item.X)
			got := x.Float32s()
			_, std, _ := cfg.Normalization()
			plane := len(got) / cfg.Channels
			ext := strings.ToLower(filepath.Ext(rel))
			var maxDiff float64
			for k := range got {
				d := math.Abs(float64(got[k]) - float64(ref[k]))
				if std != nil {
					d *= float64(std[k/plane]) // back to [0, 1] units
				}
				maxDiff = max(maxDiff, d*255)
			}
			worst[ext] = max(worst[ext], maxDiff)
			lossy := ext == ".jpg" || ext == ".jpeg"
			switch {
			case !lossy && maxDiff > 0:
				t.Errorf("config %d: %s: differs from torchvision by up to %.3g levels; want bit-exact", ci, rel, maxDiff)
			case lossy && maxDiff > jpegTolerance+1e-3:
				t.Errorf("config %d: %s: differs from torchvision by up to %.3g levels; want <= %d", ci, rel, maxDiff, jpegTolerance)
			}
		}
		t.Logf("config %d %+v: max |onnxtune - torchvision| in 8-bit levels by format: %v", ci, cfg, worst)
	}
}

func TestImageFolderOrder(t *testing.T) {
	f, err := OpenImageFolder(imageFolder, ImageTransform{Channels: 3, Height: 8, Width: 8})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := range f.Len() {
		rel, _ := filepath.Rel(imageFolder, f.Path(i))
		got = append(got, filepath.ToSlash(rel))
	}
	// make_dataset sorts directory paths as strings: nest, nest-x, nest/deep.
	want := []string{"bird/B03.PNG", "bird/b01.png", "bird/b02.jpg", "bird/nest/b04.gif",
		"bird/nest-x/b05.png", "bird/nest/deep/b06.png",
		"cat/c01.bmp", "cat/c02.png", "cat/c03.jpeg", "cat/c04.jpg",
		"dog/d01.gif", "dog/d02.png", "dog/d03.bmp", "dog/d04.png", "dog/d05.jpg", "dog/d06.png"}
	if !slices.Equal(got, want) {
		t.Errorf("files\n%q\nwant\n%q", got, want)
	}
	if l := f.Labels(); !slices.Equal(l, []int64{0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2}) {
		t.Errorf("labels %v", l)
	}
}

func TestImageFolderErrors(t *testing.T) {
	tr := ImageTransform{Channels: 3, Height: 8, Width: 8}
	dir := t.TempDir()
	write := func(rel string, data []byte) string {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	png, err := os.ReadFile(filepath.Join(imageFolder, "bird", "b01.png"))
	if err != nil {
		t.Fatal(err)
	}

	missing := filepath.Join(dir, "missing")
	_, err = OpenImageFolder(missing, tr)
	checkOneLine(t, err, missing, "no such file")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %v does not wrap fs.ErrNotExist", err)
	}

	noClasses := filepath.Join(dir, "flat")
	write("flat/a.png", png)
	_, err = OpenImageFolder(noClasses, tr)
	checkOneLine(t, err, noClasses, "no class folders")

	write("empty/a/x.png", png)
	if err := os.MkdirAll(filepath.Join(dir, "empty", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	write("empty/b/readme.txt", []byte("hi"))
	_, err = OpenImageFolder(filepath.Join(dir, "empty"), tr)
	checkOneLine(t, err, filepath.Join(dir, "empty", "b"), "no images")

	write("ppm/a/x.png", png)
	ppm := write("ppm/a/y.ppm", []byte("P6\n1 1\n255\n\x00\x00\x00"))
	_, err = OpenImageFolder(filepath.Join(dir, "ppm"), tr)
	checkOneLine(t, err, ppm, "not supported")

	write("bad/a/good.png", png)
	corrupt := write("bad/a/z-corrupt.png", png[:len(png)/2])
	garbage := write("bad/b/garbage.jpg", []byte("this is not a JPEG file at all"))
	f, err := OpenImageFolder(filepath.Join(dir, "bad"), tr)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.Example(0); err != nil {
		t.Errorf("good image: %v", err)
	}
	_, _, err = f.Example(1)
	checkOneLine(t, err, corrupt, "decode png")
	_, _, err = f.Example(2)
	checkOneLine(t, err, garbage, "not a PNG, JPEG")
	_, _, err = f.Example(3)
	checkOneLine(t, err, "out of range")

	if _, err := OpenImageFolder(imageFolder, ImageTransform{Channels: 4, Height: 8, Width: 8}); err == nil {
		t.Error("4 channels: no error")
	} else {
		checkOneLine(t, err, "4 channels")
	}
	if _, err := OpenImageFolder(imageFolder, ImageTransform{Channels: 3, Height: 8, Width: 8,
		Mean: []float32{0.5, 0.5}, Std: []float32{1, 1, 1}}); err == nil {
		t.Error("2 means for 3 channels: no error")
	}
	if _, err := OpenImageFolder(imageFolder, ImageTransform{Channels: 1, Height: 8, Width: 8,
		Mean: []float32{0.5}, Std: []float32{0}}); err == nil {
		t.Error("zero std: no error")
	}
}

// checkOneLine fails unless err is a one-line "data: " error containing every fragment.
func checkOneLine(t *testing.T, err error, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", fragments)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "data: ") || strings.Contains(msg, "\n") {
		t.Errorf("error %q is not a one-line data: error", msg)
	}
	for _, f := range fragments {
		if !strings.Contains(msg, f) {
			t.Errorf("error %q does not contain %q", msg, f)
		}
	}
}
