package data

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/onnxtune/onnxtune/tensor"
)

func saveNPZ(t *testing.T, path string, arrays map[string]*tensor.Tensor) {
	t.Helper()
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range arrays {
			if !yield(k) {
				return
			}
		}
	})
	if err := SaveNPZ(path, names, arrays); err != nil {
		t.Fatal(err)
	}
}

func TestNPZ(t *testing.T) {
	dir := t.TempDir()
	// The fixture savez.npz from gen_npy.py (real numpy) has no x/y: it must be refused with
	// the arrays it does have.
	_, err := OpenNPZ("testdata/savez.npz", "")
	checkOneLine(t, err, "testdata/savez.npz", `no input array "x"`, "arrays: ")

	p := filepath.Join(dir, "d.npz")
	saveNPZ(t, p, map[string]*tensor.Tensor{
		"x":     tensor.From([]int{3, 2}, []float64{0.5, 1, 1.5, 2, 2.5, 3}),
		"input": tensor.From([]int{3, 1, 2}, []uint8{1, 2, 3, 4, 5, 6}),
		"y":     tensor.From([]int{3}, []int32{2, 0, 1}),
	})
	ds, err := OpenNPZ(p, "")
	if err != nil {
		t.Fatal(err)
	}
	x, y, err := ds.Example(1)
	if err != nil {
		t.Fatal(err)
	}
	if ds.InputName() != "x" || !slices.Equal(x.Shape(), []int{2}) || !slices.Equal(x.Float32s(), []float32{1.5, 2}) {
		t.Errorf("x from %q: %v %v", ds.InputName(), x, x.Data())
	}
	if y.Rank() != 0 || y.Int64s()[0] != 0 || !slices.Equal(ds.Labels(), []int64{2, 0, 1}) {
		t.Errorf("y %v, labels %v", y.Data(), ds.Labels())
	}
	ds, err = OpenNPZ(p, "input") // the graph input's name wins over "x"
	if err != nil {
		t.Fatal(err)
	}
	if x, _, _ := ds.Example(2); ds.InputName() != "input" || !slices.Equal(x.Shape(), []int{1, 2}) || !slices.Equal(x.Float32s(), []float32{5, 6}) {
		t.Errorf("x from %q: %v %v", ds.InputName(), x, x.Data())
	}
	if _, err := OpenNPZ(p, "other"); err != nil {
		t.Errorf("unknown input name with an x array: %v", err)
	}

	bad := filepath.Join(dir, "mismatch.npz")
	saveNPZ(t, bad, map[string]*tensor.Tensor{
		"x": tensor.New(tensor.Float32, 4, 2),
		"y": tensor.New(tensor.Int64, 3),
	})
	_, err = OpenNPZ(bad, "")
	checkOneLine(t, err, bad, `"x" holds 4 examples but "y" holds 3`)

	noY := filepath.Join(dir, "noy.npz")
	saveNPZ(t, noY, map[string]*tensor.Tensor{"x": tensor.New(tensor.Float32, 4, 2)})
	_, err = OpenNPZ(noY, "")
	checkOneLine(t, err, noY, `no target array "y"`)

	noX := filepath.Join(dir, "nox.npz")
	saveNPZ(t, noX, map[string]*tensor.Tensor{"a": tensor.New(tensor.Float32, 4, 2), "y": tensor.New(tensor.Int64, 4)})
	_, err = OpenNPZ(noX, "img")
	checkOneLine(t, err, noX, `no input array "img" or "x"`, "arrays: a, y")

	_, err = OpenNPZ(filepath.Join(dir, "missing.npz"), "")
	checkOneLine(t, err, "missing.npz", "no such file")

	notZip := filepath.Join(dir, "text.npz")
	os.WriteFile(notZip, []byte("hello"), 0o644)
	_, err = OpenNPZ(notZip, "")
	checkOneLine(t, err, notZip, "not an npz archive")
}

// classDataset has the given labels; x = [i].
type classDataset struct{ labels []int64 }

func (d classDataset) Len() int          { return len(d.labels) }
func (d classDataset) Classes() []string { return nil }
func (d classDataset) Example(i int) (x, y *tensor.Tensor, err error) {
	return tensor.From([]int{1}, []float32{float32(i)}), tensor.Scalar(d.labels[i]), nil
}

func TestSplitStratified(t *testing.T) {
	counts := []int{50, 30, 7, 1, 12, 2}
	var labels []int64
	// Interleave the classes so that stratification cannot come from position.
	for round := 0; len(labels) < 102; round++ {
		for c, n := range counts {
			if round < n {
				labels = append(labels, int64(c))
			}
		}
	}
	ds := classDataset{labels}
	const frac = 0.2
	train, val, err := Split(ds, frac, 9)
	if err != nil {
		t.Fatal(err)
	}
	// Every example exactly once, each subset in ascending order.
	all := slices.Concat(train.Indices, val.Indices)
	slices.Sort(all)
	for i, v := range all {
		if v != i {
			t.Fatalf("train and val do not partition the data set: %v", all)
		}
	}
	if !slices.IsSorted(train.Indices) || !slices.IsSorted(val.Indices) {
		t.Error("subsets are not in data set order")
	}
	valCount := make([]int, len(counts))
	valLabels, ok, err := Labels(val) // decodes: classDataset is no Labeler
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	for _, l := range valLabels {
		valCount[l]++
	}
	for c, n := range counts {
		want := min(int(math.Round(frac*float64(n))), n-1)
		if valCount[c] != want {
			t.Errorf("class %d: %d of %d in validation, want %d", c, valCount[c], n, want)
		}
	}
	// Labels come through the subset; the same seed gives the same split, another seed another.
	if x, y, _ := val.Example(0); x.Float32s()[0] != float32(val.Indices[0]) || y.Int64s()[0] != labels[val.Indices[0]] {
		t.Error("val.Example(0) is not the parent's example")
	}
	_, val2, _ := Split(ds, frac, 9)
	if !slices.Equal(val.Indices, val2.Indices) {
		t.Error("same seed, different split")
	}
	_, val3, _ := Split(ds, frac, 10)
	if slices.Equal(val.Indices, val3.Indices) {
		t.Error("seeds 9 and 10 give the same split")
	}

	// The image folder (a Labeler) splits without decoding: 3 classes of 6, 4 and 6 images.
	f, err := OpenImageFolder(imageFolder, ImageTransform{Channels: 3, Height: 8, Width: 8})
	if err != nil {
		t.Fatal(err)
	}
	tr, va, err := Split(f, 0.25, 1)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Len()+va.Len() != f.Len() || va.Len() != 2+1+2 || !slices.Equal(tr.Classes(), f.Classes()) {
		t.Errorf("image folder split: %d + %d of %d", tr.Len(), va.Len(), f.Len())
	}
	if fill := tr.PadFill(); !slices.Equal(fill, f.PadFill()) {
		t.Error("subset does not forward PadFill")
	}

	for _, bad := range []float64{0, 1, -0.5, math.NaN()} {
		_, _, err := Split(ds, bad, 1)
		checkOneLine(t, err, "validation split")
	}
}

func TestSplitRegression(t *testing.T) {
	// Float targets are not classes: the split treats the set as one class.
	dir := t.TempDir()
	p := filepath.Join(dir, "r.npz")
	saveNPZ(t, p, map[string]*tensor.Tensor{"x": tensor.New(tensor.Float32, 10, 2), "y": tensor.New(tensor.Float32, 10)})
	ds, err := OpenNPZ(p, "")
	if err != nil {
		t.Fatal(err)
	}
	train, val, err := Split(ds, 0.3, 5)
	if err != nil {
		t.Fatal(err)
	}
	if train.Len() != 7 || val.Len() != 3 || val.Labels() != nil {
		t.Errorf("%d + %d, labels %v", train.Len(), val.Len(), val.Labels())
	}
}

func TestNormalize(t *testing.T) {
	ds := classDataset{[]int64{0, 1, 0}}
	n, err := Normalize(ds, []float32{0.5}, []float32{0.25})
	if err != nil {
		t.Fatal(err)
	}
	x, y, err := n.Example(2)
	if err != nil {
		t.Fatal(err)
	}
	if want := (float32(2) - 0.5) / 0.25; x.Float32s()[0] != want || y.Int64s()[0] != 0 {
		t.Errorf("x %v, want %v", x.Float32s(), want)
	}
	if fill := n.PadFill(); !slices.Equal(fill, []float32{(0 - 0.5) / 0.25}) {
		t.Errorf("PadFill %v", fill)
	}
	if _, err := Normalize(ds, []float32{0.5, 0.5}, []float32{1, 1}); err == nil {
		t.Error("2 means for 1 channel: no error")
	}
}

func TestOpen(t *testing.T) {
	img := ImageTransform{Channels: 3, Height: 8, Width: 8}
	ds, err := Open(imageFolder, Options{Image: img})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ds.(*ImageFolder); !ok || ds.Len() != 16 {
		t.Errorf("image folder opened as %T with %d examples", ds, ds.Len())
	}

	dir := t.TempDir()
	p := filepath.Join(dir, "data.NPZ")
	saveNPZ(t, p, map[string]*tensor.Tensor{"x": tensor.New(tensor.Float32, 4, 3, 8, 8), "y": tensor.New(tensor.Int64, 4)})
	if ds, err = Open(p, Options{Image: img}); err != nil {
		t.Fatal(err)
	}
	if _, ok := ds.(*NPZ); !ok {
		t.Errorf("npz opened as %T", ds)
	}
	_, err = Open(p, Options{Image: ImageTransform{Channels: 1, Height: 28, Width: 28}})
	checkOneLine(t, err, p, "examples are [3 8 8], the model takes [1 28 28]")
	ds, err = Open(p, Options{Image: ImageTransform{Channels: 3, Height: 8, Width: 8, Mean: []float32{0.5}, Std: []float32{2}}})
	if err != nil {
		t.Fatal(err)
	}
	if x, _, _ := ds.Example(0); x.Float32s()[0] != (0-0.5)/float32(2) {
		t.Errorf("explicit mean/std not applied: %v", x.Float32s()[0])
	}

	_, err = Open(p, Options{Image: ImageTransform{Mean: []float32{0.5, 0.5}, Std: []float32{1, 1}}})
	checkOneLine(t, err, p, "want 3 (one per channel)")
	if strings.Count(err.Error(), "data: ") != 1 {
		t.Errorf("error %q repeats its prefix", err)
	}

	idxDir := filepath.Join(dir, "mnist")
	os.MkdirAll(idxDir, 0o755)
	os.WriteFile(filepath.Join(idxDir, "t10k-images-idx3-ubyte"), idxBytes([]int{2, 2, 2}, make([]byte, 8)), 0o644)
	os.WriteFile(filepath.Join(idxDir, "t10k-labels-idx1-ubyte"), idxBytes([]int{2}, []byte{1, 0}), 0o644)
	if ds, err = Open(idxDir, Options{Split: "test"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := ds.(*IDX); !ok || ds.Len() != 2 {
		t.Errorf("IDX directory opened as %T", ds)
	}
	if ds, err = Open(filepath.Join(idxDir, "t10k"), Options{}); err != nil || ds.Len() != 2 {
		t.Errorf("IDX prefix: %v", err)
	}
	// Without Split, a directory means train, which is missing here: the folder is then read
	// as an image folder, which has no class folders.
	_, err = Open(idxDir, Options{Image: img})
	checkOneLine(t, err, idxDir, "no class folders")

	missing := filepath.Join(dir, "nothing", "train")
	_, err = Open(missing, Options{Image: img})
	checkOneLine(t, err, missing, "no such file or directory")
}

// TestOpenUnlabelled: with Options.Unlabelled an .npz needs no y (and one it has is not read),
// an image folder may be flat, in sorted name order, and batches of such examples have a nil
// Y; a folder mixing images and class folders is refused. Without it both are still errors.
func TestOpenUnlabelled(t *testing.T) {
	dir := t.TempDir()
	xOnly := filepath.Join(dir, "x.npz")
	saveNPZ(t, xOnly, map[string]*tensor.Tensor{"x": tensor.From([]int{3, 2}, []float32{1, 2, 3, 4, 5, 6})})
	if _, err := Open(xOnly, Options{}); err == nil || !strings.Contains(err.Error(), `no target array "y"`) {
		t.Errorf("labelled open of an .npz without y: %v", err)
	}
	badY := filepath.Join(dir, "xy.npz")
	saveNPZ(t, badY, map[string]*tensor.Tensor{"x": tensor.From([]int{3, 2}, []float32{1, 2, 3, 4, 5, 6}),
		"y": tensor.From([]int{2}, []int64{0, 1})})
	for _, path := range []string{xOnly, badY} {
		ds, err := Open(path, Options{Unlabelled: true})
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		x, y, err := ds.Example(2)
		if err != nil || y != nil || !slices.Equal(x.Float32s(), []float32{5, 6}) {
			t.Errorf("%s: example 2 = %v, %v, %v; want [5 6], no target", path, x, y, err)
		}
	}

	png, err := os.ReadFile(filepath.Join(imageFolder, "bird", "b01.png"))
	if err != nil {
		t.Fatal(err)
	}
	flat := filepath.Join(dir, "flat")
	for _, name := range []string{"b.png", "a.png", "C.png", "notes.txt"} {
		if err := os.MkdirAll(flat, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(flat, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	opt := Options{Image: ImageTransform{Channels: 3, Height: 8, Width: 8}}
	if _, err := Open(flat, opt); err == nil || !strings.Contains(err.Error(), "no class folders") {
		t.Errorf("labelled open of a flat folder: %v", err)
	}
	opt.Unlabelled = true
	ds, err := Open(flat, opt)
	if err != nil {
		t.Fatal(err)
	}
	f := ds.(*ImageFolder)
	var names []string
	for i := range f.Len() {
		names = append(names, filepath.Base(f.Path(i)))
	}
	if !slices.Equal(names, []string{"C.png", "a.png", "b.png"}) || f.Classes() != nil || f.Labels() != nil {
		t.Errorf("flat folder: files %v, classes %v, labels %v", names, f.Classes(), f.Labels())
	}
	for b, err := range NewLoader(ds, 2, false, 0, 1).Epoch(t.Context(), 0) {
		if err != nil {
			t.Fatal(err)
		}
		if b.Y != nil || b.X.Shape()[1] != 3 {
			t.Errorf("batch %v: X %v, Y %v; want no Y", b.Indices, b.X, b.Y)
		}
	}

	if err := os.MkdirAll(filepath.Join(flat, "cls"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err = Open(flat, opt)
	checkOneLine(t, err, flat, "holds images (C.png) and class folders (cls)")

	// Class folders read as usual, labels and all.
	ds, err = Open(imageFolder, opt)
	if err != nil || ds.Len() != 16 || len(ds.Classes()) != 3 {
		t.Errorf("class folders, unlabelled: %v", err)
	}
}
