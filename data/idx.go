package data

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/onnxtune/onnxtune/tensor"
)

// The IDX format (yann.lecun.com/exdb/mnist) is a big-endian header, two zero bytes, a type
// code and a dimension count, then one uint32 per dimension and the elements in row-major
// order. MNIST, Fashion-MNIST, KMNIST and EMNIST ship as IDX files, usually gzipped.

// idxDTypes maps an IDX type code to a dtype.
var idxDTypes = map[byte]tensor.DType{
	0x08: tensor.Uint8,
	0x09: tensor.Int8,
	0x0B: tensor.Int16,
	0x0C: tensor.Int32,
	0x0D: tensor.Float32,
	0x0E: tensor.Float64,
}

// ReadIDX reads one IDX array from r. Like ReadNPY, it allocates as data arrives, so a
// header that claims more data than r holds costs an error, not the claimed allocation. It
// does not look past the array's last element.
func ReadIDX(r io.Reader) (*tensor.Tensor, error) {
	h, err := readIDXHeader(r)
	if err != nil {
		return nil, fmt.Errorf("data: idx: %w", err)
	}
	t, err := readNPYData(r, h, false)
	if err != nil {
		return nil, fmt.Errorf("data: idx: %w", err)
	}
	return t, nil
}

// LoadIDX reads the IDX file at path, gzipped or not (recognised by content, not by name).
// Data after the last element is an error, as torchvision's reader treats it. Errors name
// the file.
func LoadIDX(path string) (*tensor.Tensor, error) {
	f, size, err := openRegular(path)
	if err != nil {
		return nil, fileError(path, err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<16)
	var r io.Reader = br
	magic, _ := br.Peek(2)
	gzipped := len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b
	if gzipped {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("data: %s: gzip: %w", path, noEOF(err))
		}
		defer zr.Close()
		r = zr
	}
	h, err := readIDXHeader(r)
	if err != nil {
		return nil, fmt.Errorf("data: %s: %w", path, err)
	}
	known := false
	if !gzipped {
		if have := size - h.size; h.nbytes != have {
			return nil, fmt.Errorf("data: %s: header declares %s%s, %d bytes of data, but the file holds %d",
				path, h.dtype, tensor.ShapeString(h.shape), h.nbytes, max(have, 0))
		}
		known = true
	}
	t, err := readNPYData(r, h, known)
	if err != nil {
		return nil, fmt.Errorf("data: %s: %w", path, err)
	}
	if gzipped {
		var one [1]byte
		if n, err := io.ReadFull(r, one[:]); n > 0 {
			return nil, fmt.Errorf("data: %s: data continues after the %d bytes the header declares", path, h.nbytes)
		} else if err != io.EOF {
			return nil, fmt.Errorf("data: %s: gzip: %w", path, err)
		}
	}
	return t, nil
}

// readIDXHeader reads the magic and dimensions, leaving r at the data. The header is
// returned as the npyHeader the element reader shared with NPY takes.
func readIDXHeader(r io.Reader) (npyHeader, error) {
	var magic [4]byte
	if _, err := io.ReadFull(r, magic[:]); err != nil {
		if err == io.EOF {
			return npyHeader{}, errors.New("empty input, not an IDX array")
		}
		return npyHeader{}, fmt.Errorf("truncated header: %w", noEOF(err))
	}
	dt, ok := idxDTypes[magic[2]]
	if magic[0] != 0 || magic[1] != 0 || !ok {
		return npyHeader{}, fmt.Errorf("not an IDX array (magic % x)", magic)
	}
	ndim := int(magic[3])
	dims := make([]byte, 4*ndim)
	if _, err := io.ReadFull(r, dims); err != nil {
		return npyHeader{}, fmt.Errorf("truncated header: %w", noEOF(err))
	}
	h := npyHeader{dtype: dt, order: binary.BigEndian, shape: make([]int, ndim), size: int64(4 + 4*ndim)}
	for i := range h.shape {
		d := binary.BigEndian.Uint32(dims[4*i:])
		if uint64(d) > math.MaxInt32 {
			return npyHeader{}, fmt.Errorf("dimension %d is %d, too large", i, d)
		}
		h.shape[i] = int(d)
	}
	n, err := tensor.SizeChecked(h.shape)
	if err != nil || n > math.MaxInt64/dt.Size() {
		return npyHeader{}, fmt.Errorf("bad shape %v", h.shape)
	}
	h.n, h.nbytes = n, int64(n)*int64(dt.Size())
	return h, nil
}

// FashionMNISTClasses are torchvision's FashionMNIST.classes, the names of labels 0 to 9.
var FashionMNISTClasses = []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
	"Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}

// IDX is an image data set stored as a pair of IDX files, images [N, H, W] (or [N, C, H, W])
// and labels [N], as MNIST and Fashion-MNIST ship. Both are read into memory once, as
// bytes; examples are converted to float32 as they are asked for.
type IDX struct {
	images, labels string // the files
	data           *tensor.Tensor
	y              []int64
	xShape         []int
	classes        []string
}

var (
	_ Dataset = (*IDX)(nil)
	_ Labeler = (*IDX)(nil)
)

// OpenIDX opens an IDX image/label pair. path is one of:
//
//   - a prefix such as /usr/share/datasets/fashion-mnist/train: the images are the first of
//     PREFIX-images-idx3-ubyte, PREFIX-images.idx3-ubyte, and either with ".gz" appended,
//     that exists, and the labels likewise with "labels-idx1". The prefix's last element
//     "test" also tries "t10k", MNIST's name for the test split;
//   - a directory: the "train" split in it (OpenIDXSplit(dir, "train"));
//   - the images file itself (a name containing "images"): the labels file is the same
//     name with "images-idx3"/"images.idx3" replaced by "labels-idx1"/"labels.idx1".
//
// Images are uint8, converted by Example to float32 [1, H, W] in [0, 1] as torchvision's
// ToTensor converts the PIL image MNIST datasets return. Classes are the names of
// torchvision's FashionMNIST when the images file's path contains "fashion"
// (case-insensitive), and unknown (nil) otherwise.
func OpenIDX(path string) (*IDX, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return OpenIDXSplit(path, "train")
	}
	images, labels, err := findIDX(path)
	if err != nil {
		return nil, err
	}
	return openIDXPair(images, labels)
}

// OpenIDXSplit opens the split ("train", "t10k", or "test" for t10k) of an IDX data set in
// dir: OpenIDX(dir/split).
func OpenIDXSplit(dir, split string) (*IDX, error) {
	images, labels, err := findIDX(filepath.Join(dir, split))
	if err != nil {
		return nil, err
	}
	return openIDXPair(images, labels)
}

// findIDX resolves OpenIDX's path rule (for anything but a directory) to two files.
func findIDX(path string) (images, labels string, err error) {
	base := filepath.Base(path)
	if st, err := os.Stat(path); err == nil && st.Mode().IsRegular() {
		for _, pair := range [][2]string{{"images-idx3", "labels-idx1"}, {"images.idx3", "labels.idx1"}} {
			if strings.Contains(base, pair[0]) {
				l := filepath.Join(filepath.Dir(path), strings.Replace(base, pair[0], pair[1], 1))
				if !fileExists(l) {
					return "", "", fmt.Errorf("data: %s: no labels file %s beside it", path, l)
				}
				return path, l, nil
			}
		}
		return "", "", fmt.Errorf("data: %s: not an IDX images file (the name should contain images-idx3)", path)
	}
	prefixes := []string{path}
	if base == "test" {
		prefixes = append(prefixes, filepath.Join(filepath.Dir(path), "t10k"))
	}
	// candidates lists the names tried for one kind ("images" or "labels"), in order.
	candidates := func(kind, idx string) []string {
		var names []string
		for _, p := range prefixes {
			for _, sep := range []string{"-", "."} {
				names = append(names, p+"-"+kind+sep+idx+"-ubyte", p+"-"+kind+sep+idx+"-ubyte.gz")
			}
		}
		return names
	}
	first := func(names []string) string {
		for _, n := range names {
			if fileExists(n) {
				return n
			}
		}
		return ""
	}
	baseNames := func(names []string) string {
		for i, n := range names {
			names[i] = filepath.Base(n)
		}
		return strings.Join(names, ", ")
	}
	imgNames, labNames := candidates("images", "idx3"), candidates("labels", "idx1")
	images, labels = first(imgNames), first(labNames)
	switch {
	case images == "" && labels == "":
		return "", "", fmt.Errorf("data: %s: no IDX files (looked for %s in %s)", path, baseNames(imgNames), filepath.Dir(path))
	case images == "":
		return "", "", fmt.Errorf("data: %s: found IDX labels %s but no images (looked for %s)", path, labels, baseNames(imgNames))
	case labels == "":
		return "", "", fmt.Errorf("data: %s: found IDX images %s but no labels (looked for %s)", path, images, baseNames(labNames))
	}
	return images, labels, nil
}

// IsIDX reports whether OpenIDX would find an IDX pair at path (files are not read).
func IsIDX(path string) bool {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, "train")
	}
	_, _, err := findIDX(path)
	return err == nil
}

func openIDXPair(images, labels string) (*IDX, error) {
	data, err := LoadIDX(images)
	if err != nil {
		return nil, err
	}
	lab, err := LoadIDX(labels)
	if err != nil {
		return nil, err
	}
	shape := data.Shape()
	if len(shape) != 3 && len(shape) != 4 {
		return nil, fmt.Errorf("data: %s: images have shape %v, want [N, H, W] or [N, C, H, W]", images, shape)
	}
	if lab.Rank() != 1 || !lab.DType().IsInteger() {
		return nil, fmt.Errorf("data: %s: labels are %v, want integers [N]", labels, lab)
	}
	if lab.Len() != shape[0] {
		return nil, fmt.Errorf("data: %s holds %d images but %s holds %d labels", images, shape[0], labels, lab.Len())
	}
	ds := &IDX{images: images, labels: labels, data: data, y: lab.ToInt64s()}
	ds.xShape = shape[1:]
	if len(shape) == 3 {
		ds.xShape = []int{1, shape[1], shape[2]}
	}
	for i, v := range ds.y {
		if v < 0 {
			return nil, fmt.Errorf("data: %s: label %d of example %d is negative", labels, v, i)
		}
	}
	if strings.Contains(strings.ToLower(images), "fashion") {
		ds.classes = FashionMNISTClasses
	}
	return ds, nil
}

// Len returns the number of examples.
func (d *IDX) Len() int { return len(d.y) }

// Example returns image i as float32 [1, H, W] (or [C, H, W]), uint8 images scaled by 1/255
// as ToTensor scales them (other element types converted unscaled), and its label as an
// int64 scalar.
func (d *IDX) Example(i int) (x, y *tensor.Tensor, err error) {
	if i < 0 || i >= len(d.y) {
		return nil, nil, fmt.Errorf("data: %s: example %d out of range [0, %d)", d.images, i, len(d.y))
	}
	n := tensor.Size(d.xShape)
	out := make([]float32, n)
	if px := tensor.Data[uint8](d.data); px != nil {
		for j, v := range px[i*n : (i+1)*n] {
			out[j] = byteToUnit[v]
		}
	} else {
		for j := range out {
			out[j] = float32(d.data.Float64At(i*n + j))
		}
	}
	return tensor.From(d.xShape, out), tensor.Scalar(d.y[i]), nil
}

// Classes returns FashionMNISTClasses for Fashion-MNIST files, nil otherwise.
func (d *IDX) Classes() []string { return d.classes }

// Labels returns every example's label.
func (d *IDX) Labels() []int64 { return d.y }

// Files returns the images and labels files.
func (d *IDX) Files() (images, labels string) { return d.images, d.labels }
