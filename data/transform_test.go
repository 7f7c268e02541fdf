package data

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/tensor"
)

// pillowResize resizes seeded random 8-bit images with Pillow's Image.resize(BILINEAR), as
// torchvision's Resize does for PIL images, and returns inputs and outputs.
const pillowResize = `
import base64, json, sys
import numpy as np
from PIL import Image
out = []
for case in json.loads(sys.argv[1]):
    w, h, ow, oh, mode, seed = case
    rng = np.random.default_rng(seed)
    shape = (h, w) if mode == "L" else (h, w, 3)
    a = rng.integers(0, 256, shape, dtype=np.uint8)
    # Smooth half the image so that both noise and gradients are resampled.
    a[: h // 2] = np.sort(a[: h // 2], axis=1)
    r = np.asarray(Image.fromarray(a, mode).resize((ow, oh), Image.BILINEAR))
    out.append({"in": base64.b64encode(a.tobytes()).decode(), "out": base64.b64encode(r.tobytes()).decode()})
print(json.dumps(out))
`

func TestResizeMatchesPillow(t *testing.T) {
	t.Parallel()
	type rcase struct {
		w, h, ow, oh int
		mode         string
	}
	cases := []rcase{
		{37, 29, 13, 10, "RGB"}, {5, 7, 37, 3, "L"}, {200, 150, 23, 17, "RGB"}, {64, 64, 64, 31, "L"},
		{31, 64, 31, 200, "RGB"}, {1, 9, 4, 4, "L"}, {300, 7, 11, 1, "RGB"}, {45, 33, 32, 23, "RGB"},
		{17, 17, 16, 16, "L"}, {16, 16, 17, 17, "RGB"}, {500, 3, 7, 9, "L"},
	}
	var arg [][]any
	for i, c := range cases {
		arg = append(arg, []any{c.w, c.h, c.ow, c.oh, c.mode, i})
	}
	js, _ := json.Marshal(arg)
	var want []struct{ In, Out string }
	if err := json.Unmarshal([]byte(fixture.RunPython(t, pillowResize, string(js))), &want); err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		in, _ := base64.StdEncoding.DecodeString(want[i].In)
		ref, _ := base64.StdEncoding.DecodeString(want[i].Out)
		ch := 3
		if c.mode == "L" {
			ch = 1
		}
		got := pix8{w: c.w, h: c.h, c: ch, pix: in}.resize(c.ow, c.oh)
		if got.w != c.ow || got.h != c.oh || !slices.Equal(got.pix, ref) {
			diff := 0
			for k := range min(len(got.pix), len(ref)) {
				if got.pix[k] != ref[k] {
					diff++
				}
			}
			t.Errorf("%+v: %d of %d values differ from Pillow's", c, diff, len(ref))
		}
	}
}

func TestResizedSize(t *testing.T) {
	t.Parallel()
	const code = `
import json, sys
from torchvision.transforms.functional import _compute_resized_output_size
print(json.dumps([_compute_resized_output_size((h, w), [s]) for w, h, s in json.loads(sys.argv[1])]))
`
	cases := [][3]int{{640, 480, 256}, {480, 640, 256}, {100, 100, 32}, {37, 29, 24}, {3, 1000, 7}, {333, 1000, 224}, {1000, 333, 299}}
	js, _ := json.Marshal(cases)
	var want [][2]int // [h, w]
	if err := json.Unmarshal([]byte(fixture.RunPython(t, code, string(js))), &want); err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		if w, h := resizedSize(c[0], c[1], c[2]); w != want[i][1] || h != want[i][0] {
			t.Errorf("resizedSize(%d, %d, %d) = %d, %d; want %d, %d", c[0], c[1], c[2], w, h, want[i][1], want[i][0])
		}
	}
}

func TestGrayMatchesPillow(t *testing.T) {
	t.Parallel()
	// Every colour of a 64^3 grid, converted by Pillow's convert("L").
	const code = `
import base64, sys
import numpy as np
from PIL import Image
v = np.arange(0, 256, 4, dtype=np.uint8)
a = np.stack(np.meshgrid(v, v, v, indexing="ij"), -1).reshape(512, 512, 3)
print(base64.b64encode(np.asarray(Image.fromarray(a, "RGB").convert("L")).tobytes()).decode())
`
	ref, _ := base64.StdEncoding.DecodeString(fixture.RunPython(t, code))
	p := pix8{w: 512, h: 512, c: 3, pix: make([]uint8, 512*512*3)}
	i := 0
	for r := 0; r < 256; r += 4 {
		for g := 0; g < 256; g += 4 {
			for b := 0; b < 256; b += 4 {
				p.pix[3*i], p.pix[3*i+1], p.pix[3*i+2] = uint8(r), uint8(g), uint8(b)
				i++
			}
		}
	}
	if got := p.gray().pix; !slices.Equal(got, ref) {
		t.Error("RGB to L differs from Pillow's")
	}
}

func TestApplyErrors(t *testing.T) {
	if _, err := (ImageTransform{Channels: 3, Height: 4, Width: 4}).Apply(image.NewRGBA(image.Rect(0, 0, 0, 3))); err == nil {
		t.Error("empty image: no error")
	} else {
		checkOneLine(t, err, "empty")
	}
	_, err := (ImageTransform{Channels: 3, Height: 0, Width: 4}).Apply(image.NewRGBA(image.Rect(0, 0, 2, 3)))
	checkOneLine(t, err, "size")
	_, err = (ImageTransform{Channels: 3, Height: 4, Width: 4}).Load("testdata/images/none.png")
	checkOneLine(t, err, "testdata/images/none.png", "no such file")
}

// torchvisionAugment applies torchvision's functional pad, crop and hflip (RandomCrop's and
// RandomHorizontalFlip's steps for given draws) to a seeded random RGB image, then ToTensor
// and Normalize.
const torchvisionAugment = `
import base64, json, sys
import numpy as np
from PIL import Image
import torchvision.transforms.functional as F
cases = json.loads(sys.argv[1])
rng = np.random.default_rng(7)
a = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
img = Image.fromarray(a, "RGB")
out = {"x": base64.b64encode(F.normalize(F.to_tensor(img), mean, std).numpy().tobytes()).decode(), "aug": []}
for pad, top, left, flip in cases:
    im = F.crop(F.pad(img, pad, fill=0), top, left, 6, 5)
    if flip:
        im = F.hflip(im)
    out["aug"].append(base64.b64encode(F.normalize(F.to_tensor(im), mean, std).numpy().tobytes()).decode())
print(json.dumps(out))
`

func TestAugmentMatchesTorchvision(t *testing.T) {
	t.Parallel()
	cases := [][4]int{{4, 0, 0, 0}, {4, 8, 8, 1}, {4, 4, 4, 0}, {4, 4, 4, 1}, {2, 1, 3, 1}, {3, 6, 0, 0}}
	js, _ := json.Marshal(cases)
	var want struct {
		X   string   `json:"x"`
		Aug []string `json:"aug"`
	}
	if err := json.Unmarshal([]byte(fixture.RunPython(t, torchvisionAugment, string(js))), &want); err != nil {
		t.Fatal(err)
	}
	x := tensor.From([]int{3, 6, 5}, decodeF32(t, want.X))
	fill := ImageTransform{Channels: 3, Height: 6, Width: 5}.PadFill()
	for i, c := range cases {
		a := Augment{Pad: c[0], Flip: true, Fill: fill}
		got := a.cropFlip(x, c[1], c[2], c[3] == 1)
		if ref := decodeF32(t, want.Aug[i]); !slices.Equal(got.Float32s(), ref) {
			t.Errorf("pad %d top %d left %d flip %d: differs from torchvision\ngot  %v\nwant %v", c[0], c[1], c[2], c[3], got.Float32s(), ref)
		}
	}
}

func TestAugmentDraws(t *testing.T) {
	x := tensor.From([]int{1, 1, 2}, []float32{1, 2})
	a := Augment{Pad: 1, Flip: true}
	rng := rand.New(rand.NewPCG(1, 2))
	seen := map[string]int{}
	const n = 9000
	for range n {
		y, err := a.Apply(x, rng)
		if err != nil {
			t.Fatal(err)
		}
		key, _ := json.Marshal(y.Float32s())
		seen[string(key)]++
	}
	// 3 x 3 offsets (rows 0 and 2 are all padding), each flipped or not.
	if len(seen) < 5 {
		t.Errorf("only %d distinct results: %v", len(seen), seen)
	}
	if got := seen["[1,2]"] + seen["[2,1]"]; got < n/9-300 || got > n/9+300 { // the unshifted window
		t.Errorf("unshifted window %d times in %d, want about %d", got, n, n/9)
	}
	if flips, plain := seen["[2,1]"], seen["[1,2]"]; flips < plain/2 || plain < flips/2 {
		t.Errorf("flipped %d, not flipped %d", flips, plain)
	}
	if y, _ := (Augment{}).Apply(x, nil); y != x {
		t.Error("no augmentation: x not returned as is")
	}
	if _, err := a.Apply(x, nil); err == nil {
		t.Error("nil rng: no error")
	}
	if _, err := (Augment{Pad: 1, Fill: []float32{1, 2}}).Apply(x, rng); err == nil {
		t.Error("2 fill values for 1 channel: no error")
	}
}

func TestParseAugment(t *testing.T) {
	for spec, want := range map[string]Augment{
		"":             {},
		"none":         {},
		"flip":         {Flip: true},
		"crop":         {Pad: 4},
		"flip,crop":    {Flip: true, Pad: 4},
		"crop=2,flip":  {Flip: true, Pad: 2},
		" flip , crop": {Flip: true, Pad: 4},
	} {
		got, err := ParseAugment(spec)
		if err != nil || got.Flip != want.Flip || got.Pad != want.Pad {
			t.Errorf("ParseAugment(%q) = %+v, %v; want %+v", spec, got, err, want)
		}
		if again, err := ParseAugment(got.String()); err != nil || again.Flip != got.Flip || again.Pad != got.Pad {
			t.Errorf("round trip of %q via %q: %+v, %v", spec, got.String(), again, err)
		}
	}
	for _, bad := range []string{"rotate", "crop=0", "crop=x", "flip=1"} {
		_, err := ParseAugment(bad)
		checkOneLine(t, err, bad)
	}
}

// BenchmarkImageTransform decodes and transforms one photo-sized image (500x375, the size
// of a typical ImageNet JPEG) to a model input, per format and input size.
func BenchmarkImageTransform(b *testing.B) {
	dir := b.TempDir()
	src := image.NewRGBA(image.Rect(0, 0, 500, 375))
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range src.Pix {
		src.Pix[i] = uint8(i/4%500/2) + uint8(rng.IntN(16))
		if i%4 == 3 {
			src.Pix[i] = 255
		}
	}
	files := map[string]func(*os.File) error{
		"jpeg": func(f *os.File) error { return jpeg.Encode(f, src, &jpeg.Options{Quality: 90}) },
		"png":  func(f *os.File) error { return png.Encode(f, src) },
	}
	for _, format := range []string{"jpeg", "png"} {
		path := filepath.Join(dir, "img."+format)
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		if err := files[format](f); err != nil {
			b.Fatal(err)
		}
		f.Close()
		for _, size := range []int{224, 32} {
			tr := ImageTransform{Channels: 3, Height: size, Width: size}
			b.Run(fmt.Sprintf("%s-500x375-to-%d", format, size), func(b *testing.B) {
				for b.Loop() {
					if _, err := tr.Load(path); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
