package data

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/tensor"
)

// fashionMNIST is where Debian's dataset-fashion-mnist installs the data set.
const fashionMNIST = "/usr/share/datasets/fashion-mnist"

func requireFashionMNIST(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(fashionMNIST, "train-images-idx3-ubyte.gz")); err != nil {
		t.Fatalf("Fashion-MNIST is missing (%v); install it with scripts/setup.sh "+
			"(apt-get install dataset-fashion-mnist)", err)
	}
}

// numpyFashionMNIST reads a split with numpy, as torchvision's read_sn3_pascalvincent_tensor
// does (big-endian header, data from offset 16 or 8), and returns all labels and, for the
// requested indices, ToTensor of the PIL "L" image torchvision.datasets.FashionMNIST builds.
const numpyFashionMNIST = `
import base64, gzip, json, sys
import numpy as np
from PIL import Image
from torchvision.transforms import ToTensor
def read(path, offset):
    with gzip.open(path, "rb") as f:
        data = f.read()
    return np.frombuffer(data, dtype=np.uint8, offset=offset), np.frombuffer(data[4:offset], dtype=">u4")
results = []
for arg in sys.argv[1:]:  # PREFIX=I,J,...
    prefix, idx = arg.split("=")
    images, dims = read(prefix + "-images-idx3-ubyte.gz", 16)
    labels, _ = read(prefix + "-labels-idx1-ubyte.gz", 8)
    images = images.reshape(*dims)
    out = {"dims": dims.tolist(), "labels": base64.b64encode(labels.astype("<i8").tobytes()).decode(), "x": []}
    for i in idx.split(","):
        x = ToTensor()(Image.fromarray(images[int(i)], mode="L"))
        out["x"].append(base64.b64encode(x.numpy().astype("<f4").tobytes()).decode())
    results.append(out)
print(json.dumps(results))
`

func TestFashionMNISTMatchesNumpy(t *testing.T) {
	t.Parallel()
	requireFashionMNIST(t)
	type idxCase struct {
		name  string
		open  func() (*IDX, error)
		split string // the reference's file prefix
		idx   []int  // examples compared image by image
	}
	cases := []idxCase{
		{"train prefix", func() (*IDX, error) { return OpenIDX(filepath.Join(fashionMNIST, "train")) }, "train", []int{0, 1, 12345, 59999}},
		{"directory", func() (*IDX, error) { return OpenIDX(fashionMNIST) }, "train", []int{7}},
		{"test alias", func() (*IDX, error) { return OpenIDX(filepath.Join(fashionMNIST, "test")) }, "t10k", []int{0, 9999}},
		{"split t10k", func() (*IDX, error) { return OpenIDXSplit(fashionMNIST, "t10k") }, "t10k", []int{42}},
		{"images file", func() (*IDX, error) {
			return OpenIDX(filepath.Join(fashionMNIST, "t10k-images-idx3-ubyte.gz"))
		}, "t10k", []int{5000}},
	}
	if testing.Short() { // the 10,000-image test split only: the training split takes seconds under -race
		cases = slices.DeleteFunc(cases, func(c idxCase) bool { return c.split != "t10k" })
	}
	type split struct {
		Dims   []int    `json:"dims"`
		Labels string   `json:"labels"`
		X      []string `json:"x"`
	}
	var args []string
	for _, c := range cases {
		var idx []string
		for _, i := range c.idx {
			idx = append(idx, strconv.Itoa(i))
		}
		args = append(args, filepath.Join(fashionMNIST, c.split)+"="+strings.Join(idx, ","))
	}
	var refs []split
	if err := json.Unmarshal([]byte(fixture.RunPython(t, numpyFashionMNIST, args...)), &refs); err != nil {
		t.Fatal(err)
	}
	for ci, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ds, err := c.open()
			if err != nil {
				t.Fatal(err)
			}
			want := refs[ci]
			if ds.Len() != want.Dims[0] {
				t.Fatalf("%d examples, want %d", ds.Len(), want.Dims[0])
			}
			raw, _ := base64.StdEncoding.DecodeString(want.Labels)
			wantLabels := make([]int64, len(raw)/8)
			for i := range wantLabels {
				wantLabels[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
			}
			if !slices.Equal(ds.Labels(), wantLabels) {
				t.Errorf("labels differ from numpy's")
			}
			for k, i := range c.idx {
				x, y, err := ds.Example(i)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(x.Shape(), []int{1, 28, 28}) || x.DType() != tensor.Float32 {
					t.Fatalf("example %d: x is %v, want float32[1 28 28]", i, x)
				}
				if y.Rank() != 0 || y.Int64s()[0] != wantLabels[i] {
					t.Errorf("example %d: y %v, want %d", i, y.Int64s(), wantLabels[i])
				}
				if ref := decodeF32(t, want.X[k]); !slices.Equal(x.Float32s(), ref) {
					t.Errorf("example %d: image differs from ToTensor of numpy's", i)
				}
			}
			if got := ds.Classes(); !slices.Equal(got, FashionMNISTClasses) {
				t.Errorf("classes %q", got)
			}
		})
	}
}

// idxBytes encodes an IDX uint8 array of the given shape, as the MNIST files are laid out.
func idxBytes(shape []int, data []byte) []byte {
	b := []byte{0, 0, 0x08, byte(len(shape))}
	for _, d := range shape {
		b = binary.BigEndian.AppendUint32(b, uint32(d))
	}
	return append(b, data...)
}

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func TestIDXSmall(t *testing.T) {
	dir := t.TempDir()
	pix := make([]byte, 3*2*2)
	for i := range pix {
		pix[i] = byte(i * 20)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// MNIST's original dotted names, uncompressed images and gzipped labels.
	write("train-images.idx3-ubyte", idxBytes([]int{3, 2, 2}, pix))
	write("train-labels.idx1-ubyte.gz", gzipBytes(idxBytes([]int{3}, []byte{2, 0, 1})))
	ds, err := OpenIDX(filepath.Join(dir, "train"))
	if err != nil {
		t.Fatal(err)
	}
	if ds.Len() != 3 || !slices.Equal(ds.Labels(), []int64{2, 0, 1}) || ds.Classes() != nil {
		t.Fatalf("len %d labels %v classes %v", ds.Len(), ds.Labels(), ds.Classes())
	}
	x, _, err := ds.Example(2)
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{160.0 / 255, 180.0 / 255, 200.0 / 255, 220.0 / 255}
	if !slices.Equal(x.Shape(), []int{1, 2, 2}) || !slices.Equal(x.Float32s(), want) {
		t.Errorf("example 2: %v %v, want [1 2 2] %v", x.Shape(), x.Float32s(), want)
	}
	if !IsIDX(dir) || IsIDX(filepath.Join(dir, "t10k")) {
		t.Error("IsIDX")
	}

	// Errors name the file and stay on one line.
	_, err = OpenIDX(filepath.Join(dir, "t10k"))
	checkOneLine(t, err, filepath.Join(dir, "t10k"), "no IDX files", "t10k-images-idx3-ubyte.gz")

	write("short-images-idx3-ubyte", idxBytes([]int{3, 2, 2}, pix[:10]))
	write("short-labels-idx1-ubyte", idxBytes([]int{3}, []byte{0, 1, 2}))
	_, err = OpenIDX(filepath.Join(dir, "short"))
	checkOneLine(t, err, "short-images-idx3-ubyte", "header declares")

	write("trail-images-idx3-ubyte.gz", gzipBytes(idxBytes([]int{3, 2, 2}, append(slices.Clone(pix), 1))))
	write("trail-labels-idx1-ubyte", idxBytes([]int{3}, []byte{0, 1, 2}))
	_, err = OpenIDX(filepath.Join(dir, "trail"))
	checkOneLine(t, err, "trail-images-idx3-ubyte.gz", "data continues")

	write("count-images-idx3-ubyte", idxBytes([]int{3, 2, 2}, pix))
	write("count-labels-idx1-ubyte", idxBytes([]int{2}, []byte{0, 1}))
	_, err = OpenIDX(filepath.Join(dir, "count"))
	checkOneLine(t, err, "count-images-idx3-ubyte", "3 images", "2 labels")

	write("nolabel-images-idx3-ubyte", idxBytes([]int{3, 2, 2}, pix))
	_, err = OpenIDX(filepath.Join(dir, "nolabel"))
	checkOneLine(t, err, "no labels")

	bad := write("bad-images-idx3-ubyte", []byte("PK\x03\x04 not idx"))
	write("bad-labels-idx1-ubyte", idxBytes([]int{3}, []byte{0, 1, 2}))
	_, err = OpenIDX(filepath.Join(dir, "bad"))
	checkOneLine(t, err, bad, "not an IDX array")

	corrupt := write("gz-images-idx3-ubyte.gz", gzipBytes(idxBytes([]int{3, 2, 2}, pix))[:20])
	write("gz-labels-idx1-ubyte", idxBytes([]int{3}, []byte{0, 1, 2}))
	_, err = OpenIDX(filepath.Join(dir, "gz"))
	checkOneLine(t, err, corrupt)
}

func TestReadIDXTypes(t *testing.T) {
	// An int16 array [2, 2], big-endian as IDX stores every type.
	b := []byte{0, 0, 0x0B, 2, 0, 0, 0, 2, 0, 0, 0, 2, 0xff, 0xfe, 0, 1, 0x01, 0x00, 0x7f, 0xff}
	got, err := ReadIDX(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if got.DType() != tensor.Int16 || !slices.Equal(tensor.Data[int16](got), []int16{-2, 1, 256, 32767}) {
		t.Errorf("got %v %v", got, got.Data())
	}
	if _, err := ReadIDX(bytes.NewReader(b[:15])); err == nil {
		t.Error("truncated: no error")
	}
}
