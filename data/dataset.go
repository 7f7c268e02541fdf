package data

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/onnxtune/onnxtune/tensor"
)

// Dataset is an indexed collection of labelled examples, the Go counterpart of
// torch.utils.data.Dataset. Implementations must allow concurrent calls to Example: a
// Loader decodes with several goroutines.
type Dataset interface {
	// Len returns the number of examples.
	Len() int
	// Example returns example i, 0 <= i < Len(): x without a batch dimension (float32 for
	// the data sets of this package) and y, an int64 scalar class index or a target tensor,
	// or nil for a data set without targets (see Options.Unlabelled). Errors name the file
	// the example comes from.
	Example(i int) (x, y *tensor.Tensor, err error)
	// Classes returns the class names, index i naming class i, or nil when unknown.
	Classes() []string
}

// Labeler is implemented by data sets that know every example's class index without
// decoding it. Labels returns nil when the targets are not class indices.
type Labeler interface {
	Labels() []int64
}

// PadFiller is implemented by data sets whose examples are normalised images: PadFill
// returns, per channel, the value a black pixel has after the normalisation (nil for 0).
// Augment pads with it, as torchvision pads the image before normalising it.
type PadFiller interface {
	PadFill() []float32
}

// Labels returns every example's class index: the data set's own Labels when it implements
// Labeler and returns them, otherwise y of each example (each one decoded). ok is false when
// the targets are not int64 scalars.
func Labels(ds Dataset) (labels []int64, ok bool, err error) {
	if l, is := ds.(Labeler); is {
		if labels = l.Labels(); labels != nil {
			return labels, true, nil
		}
	}
	labels = make([]int64, ds.Len())
	for i := range labels {
		_, y, err := ds.Example(i)
		if err != nil {
			return nil, false, err
		}
		if y == nil || y.Rank() != 0 || y.DType() != tensor.Int64 {
			return nil, false, nil
		}
		labels[i] = y.Int64s()[0]
	}
	return labels, true, nil
}

// NPZ is a data set held in an .npz archive: an array of inputs whose first dimension
// counts the examples, and an array "y" of targets with the same first dimension (not read
// when the archive is opened without targets, Options.Unlabelled: every y is then nil). Integer
// (and bool) targets of shape [N] are class indices, returned as int64 scalars; other
// targets are returned per example as float32 (floating-point) or int64 (integer) tensors.
// Inputs are converted to float32 once, when the archive is opened.
type NPZ struct {
	path, xName string
	x, y        *tensor.Tensor
	xShape      []int
	yShape      []int
	classIdx    []int64 // y as class indices, nil when the targets are not
}

var (
	_ Dataset = (*NPZ)(nil)
	_ Labeler = (*NPZ)(nil)
)

// OpenNPZ reads the archive at path. The inputs are the array named inputName (the model's
// graph input name) when the archive has one, otherwise the array "x"; the targets are "y".
func OpenNPZ(path, inputName string) (*NPZ, error) { return openNPZ(path, inputName, true) }

// openNPZ is OpenNPZ; without targets, "y" is not read (nor needed) and every y is nil.
func openNPZ(path, inputName string, targets bool) (*NPZ, error) {
	arrays, keys, err := LoadNPZ(path)
	if err != nil {
		return nil, err
	}
	d := &NPZ{path: path}
	switch {
	case inputName != "" && arrays[inputName] != nil:
		d.xName = inputName
	case arrays["x"] != nil:
		d.xName = "x"
	default:
		want := `"x"`
		if inputName != "" && inputName != "x" {
			want = fmt.Sprintf("%q or \"x\"", inputName)
		}
		return nil, fmt.Errorf("data: %s: no input array %s (arrays: %s)", path, want, strings.Join(keys, ", "))
	}
	x, y := arrays[d.xName], arrays["y"]
	switch {
	case !targets:
		y = nil
		if x.Rank() == 0 {
			return nil, fmt.Errorf("data: %s: %q is %v; it needs a first dimension counting the examples", path, d.xName, x)
		}
	case y == nil:
		return nil, fmt.Errorf("data: %s: no target array \"y\" (arrays: %s)", path, strings.Join(keys, ", "))
	case x.Rank() == 0 || y.Rank() == 0:
		return nil, fmt.Errorf("data: %s: %q is %v and \"y\" is %v; both need a first dimension counting the examples", path, d.xName, x, y)
	case x.Shape()[0] != y.Shape()[0]:
		return nil, fmt.Errorf("data: %s: %q holds %d examples but \"y\" holds %d", path, d.xName, x.Shape()[0], y.Shape()[0])
	}
	if d.x, err = toDType(x, tensor.Float32); err != nil {
		return nil, fmt.Errorf("data: %s: array %q: %w", path, d.xName, err)
	}
	d.xShape = x.Shape()[1:]
	if err := firstNonFinite(path, d.xName, d.x); err != nil {
		return nil, err
	}
	if y == nil {
		return d, nil
	}
	d.yShape = y.Shape()[1:]
	yt := tensor.Float32
	if y.DType().IsInteger() || y.DType() == tensor.Bool {
		yt = tensor.Int64
	}
	if d.y, err = toDType(y, yt); err != nil {
		return nil, fmt.Errorf("data: %s: array \"y\": %w", path, err)
	}
	if yt == tensor.Int64 && y.Rank() == 1 {
		d.classIdx = d.y.Int64s()
	}
	if yt == tensor.Float32 {
		if err := firstNonFinite(path, "y", d.y); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// firstNonFinite reports the first example of a float32 array (examples along its first
// dimension) that holds a NaN or an infinity, by its index: the loss would otherwise turn NaN
// in whatever batch drew it, and the message would blame the learning rate.
func firstNonFinite(path, name string, t *tensor.Tensor) error {
	v := t.Float32s()
	n := t.Shape()[0]
	if n == 0 {
		return nil
	}
	per := len(v) / n
	for i, f := range v {
		if f-f != 0 { // NaN or ±Inf
			return fmt.Errorf("data: %s: example %d holds %v in %q (element %d of it); fix or drop it before training", path, i/per, f, name, i%per)
		}
	}
	return nil
}

// toDType converts t to float32 or int64, sharing t's elements when it has that dtype.
func toDType(t *tensor.Tensor, dt tensor.DType) (*tensor.Tensor, error) {
	if t.DType() == dt {
		return t, nil
	}
	switch dt {
	case tensor.Int64:
		return tensor.From(t.Shape(), t.ToInt64s()), nil
	case tensor.Float32:
		if !t.DType().IsFloat() && !t.DType().IsInteger() && t.DType() != tensor.Bool {
			return nil, fmt.Errorf("dtype %v cannot be converted to float32", t.DType())
		}
		out := make([]float32, t.Len())
		for i := range out {
			out[i] = float32(t.Float64At(i))
		}
		return tensor.From(t.Shape(), out), nil
	}
	return nil, fmt.Errorf("no conversion to %v", dt)
}

// Len returns the number of examples.
func (d *NPZ) Len() int { return d.x.Shape()[0] }

// Example returns row i of the inputs (float32) and of "y" (nil when opened without targets).
func (d *NPZ) Example(i int) (x, y *tensor.Tensor, err error) {
	if i < 0 || i >= d.Len() {
		return nil, nil, fmt.Errorf("data: %s: example %d out of range [0, %d)", d.path, i, d.Len())
	}
	x = tensor.From(d.xShape, slices.Clone(tensor.Data[float32](d.x)[i*tensor.Size(d.xShape):][:tensor.Size(d.xShape)]))
	if d.y == nil {
		return x, nil, nil
	}
	if d.classIdx != nil {
		return x, tensor.Scalar(d.classIdx[i]), nil
	}
	n := tensor.Size(d.yShape)
	switch s := d.y.Data().(type) {
	case []float32:
		y = tensor.From(d.yShape, slices.Clone(s[i*n:(i+1)*n]))
	case []int64:
		y = tensor.From(d.yShape, slices.Clone(s[i*n:(i+1)*n]))
	}
	return x, y, nil
}

// Classes returns nil: an archive does not name its classes.
func (d *NPZ) Classes() []string { return nil }

// Labels returns the class indices when "y" is an integer array [N], nil otherwise.
func (d *NPZ) Labels() []int64 { return d.classIdx }

// InputName returns the name of the array the inputs come from.
func (d *NPZ) InputName() string { return d.xName }

// Subset is the examples Indices of Parent, in that order, as torch.utils.data.Subset.
type Subset struct {
	Parent  Dataset
	Indices []int
}

var (
	_ Dataset   = (*Subset)(nil)
	_ Labeler   = (*Subset)(nil)
	_ PadFiller = (*Subset)(nil)
)

// Len returns len(Indices).
func (s *Subset) Len() int { return len(s.Indices) }

// Example returns Parent's example Indices[i].
func (s *Subset) Example(i int) (x, y *tensor.Tensor, err error) {
	if i < 0 || i >= len(s.Indices) {
		return nil, nil, fmt.Errorf("data: subset: example %d out of range [0, %d)", i, len(s.Indices))
	}
	return s.Parent.Example(s.Indices[i])
}

// Classes returns Parent's classes.
func (s *Subset) Classes() []string { return s.Parent.Classes() }

// Labels returns Parent's labels of the subset's examples, nil if Parent has none.
func (s *Subset) Labels() []int64 {
	l, ok := s.Parent.(Labeler)
	if !ok {
		return nil
	}
	all := l.Labels()
	if all == nil {
		return nil
	}
	out := make([]int64, len(s.Indices))
	for i, j := range s.Indices {
		out[i] = all[j]
	}
	return out
}

// PadFill returns Parent's PadFill, nil if it has none.
func (s *Subset) PadFill() []float32 { return padFill(s.Parent) }

func padFill(ds Dataset) []float32 {
	if p, ok := ds.(PadFiller); ok {
		return p.PadFill()
	}
	return nil
}

// Split divides ds into a training and a validation subset for --val-split frac, stratified
// by class and repeatable for a seed:
//
//   - the examples of each class c, in data set order, are shuffled by one
//     rand.New(rand.NewPCG(seed, 0x5b117)) stream, classes taken in ascending order;
//   - the first n_c = round(frac * count_c) of them (halves rounded away from zero), but at
//     most count_c - 1 so every class keeps a training example, go to validation;
//   - both subsets then list their examples in ascending data set order, so an unshuffled
//     Loader still reads them in file order.
//
// Per-class rounding means the validation set can differ from round(frac * Len()) by up
// to half the number of classes. Data sets whose targets are not class indices are split
// the same way as one class. frac must lie in (0, 1).
func Split(ds Dataset, frac float64, seed uint64) (train, val *Subset, err error) {
	if !(frac > 0 && frac < 1) {
		return nil, nil, fmt.Errorf("data: validation split %g: want a fraction strictly between 0 and 1", frac)
	}
	labels, ok, err := Labels(ds)
	if err != nil {
		return nil, nil, err
	}
	n := ds.Len()
	if !ok {
		labels = make([]int64, n) // one class
	}
	byClass := map[int64][]int{}
	for i, c := range labels[:n] {
		byClass[c] = append(byClass[c], i)
	}
	classes := make([]int64, 0, len(byClass))
	for c := range byClass {
		classes = append(classes, c)
	}
	slices.Sort(classes)
	rng := rand.New(rand.NewPCG(seed, 0x5b117))
	inVal := make([]bool, n)
	for _, c := range classes {
		idx := byClass[c]
		rng.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
		k := min(int(math.Round(frac*float64(len(idx)))), len(idx)-1)
		for _, i := range idx[:k] {
			inVal[i] = true
		}
	}
	train, val = &Subset{Parent: ds}, &Subset{Parent: ds}
	for i, v := range inVal {
		if v {
			val.Indices = append(val.Indices, i)
		} else {
			train.Indices = append(train.Indices, i)
		}
	}
	if len(val.Indices) == 0 {
		return nil, nil, fmt.Errorf("data: validation split %g of %d examples leaves no validation example", frac, n)
	}
	return train, val, nil
}

// Normalized is a data set whose inputs are another's, normalised per channel:
// (x - Mean[c]) / Std[c], with c the first dimension of x, as transforms.Normalize.
type Normalized struct {
	Parent    Dataset
	Mean, Std []float32
}

var (
	_ Dataset   = (*Normalized)(nil)
	_ Labeler   = (*Normalized)(nil)
	_ PadFiller = (*Normalized)(nil)
)

// Normalize returns ds normalised by mean and std (one value per channel of x, or one for
// all), for --mean/--std on data sets other than image folders, whose transform normalises.
func Normalize(ds Dataset, mean, std []float32) (*Normalized, error) {
	if ds.Len() == 0 {
		return nil, errors.New("data: normalize: empty data set")
	}
	x, _, err := ds.Example(0)
	if err != nil {
		return nil, err
	}
	if x.Rank() == 0 || x.DType() != tensor.Float32 {
		return nil, fmt.Errorf("data: normalize: examples are %v; want float32 with a channel dimension", x)
	}
	if mean, std, err = checkMeanStd(mean, std, x.Shape()[0]); err != nil {
		return nil, fmt.Errorf("data: normalize: %w", err)
	}
	return &Normalized{Parent: ds, Mean: mean, Std: std}, nil
}

// Len returns Parent's length.
func (n *Normalized) Len() int { return n.Parent.Len() }

// Example returns Parent's example i with x normalised (a new tensor).
func (n *Normalized) Example(i int) (x, y *tensor.Tensor, err error) {
	x, y, err = n.Parent.Example(i)
	if err != nil {
		return nil, nil, err
	}
	src := x.Float32s()
	if src == nil || x.Rank() == 0 || x.Shape()[0] != len(n.Mean) {
		return nil, nil, fmt.Errorf("data: normalize: example %d is %v; want float32 with %d channels", i, x, len(n.Mean))
	}
	out := make([]float32, len(src))
	per := len(src) / len(n.Mean)
	for c := range n.Mean {
		m, s := n.Mean[c], n.Std[c]
		for j, v := range src[c*per : (c+1)*per] {
			out[c*per+j] = (v - m) / s
		}
	}
	return tensor.From(x.Shape(), out), y, nil
}

// Classes returns Parent's classes.
func (n *Normalized) Classes() []string { return n.Parent.Classes() }

// Labels returns Parent's labels, nil if it has none.
func (n *Normalized) Labels() []int64 {
	if l, ok := n.Parent.(Labeler); ok {
		return l.Labels()
	}
	return nil
}

// PadFill returns the normalised value of Parent's padding (0 unless Parent has its own).
func (n *Normalized) PadFill() []float32 {
	base := padFill(n.Parent)
	fill := make([]float32, len(n.Mean))
	for c := range fill {
		var v float32
		if len(base) == 1 {
			v = base[0]
		} else if c < len(base) {
			v = base[c]
		}
		fill[c] = (v - n.Mean[c]) / n.Std[c]
	}
	return fill
}

// Options says how Open reads a data set for a model.
type Options struct {
	// InputName is the model's graph input name, tried before "x" in an .npz archive.
	InputName string
	// Split is the IDX split Open reads when path is a directory: "train" (the default),
	// "t10k" or "test".
	Split string
	// Image is the model's input, [Channels, Height, Width], and how images are resized and
	// normalised (see ImageTransform). Image folders need it. For the other kinds, a nonzero
	// size is checked against the examples' shape, and Mean/Std, when given, normalise them.
	Image ImageTransform
	// Unlabelled opens the inputs alone, for a reader that ignores targets: an .npz needs no
	// "y" (and its y is not read), and an image folder may hold its images directly,
	// DIR/<image>, with no class folders. Examples without targets have a nil y, and their
	// batches a nil Y. IDX data sets still need their labels file.
	Unlabelled bool
}

// Open opens the data set at path, choosing the kind from what is there:
//
//   - a file whose name ends in .npz (any case): OpenNPZ(path, opt.InputName);
//   - an IDX image/label pair, as OpenIDX finds one (a prefix such as .../fashion-mnist/train,
//     the images file, or a directory holding opt.Split's files);
//   - any other directory: OpenImageFolder(path, opt.Image).
//
// With opt.Unlabelled, an .npz may lack "y" and an image folder may be flat (see Options).
//
// Errors name the path.
func Open(path string, opt Options) (Dataset, error) {
	var ds Dataset
	st, statErr := os.Stat(path)
	isDir := statErr == nil && st.IsDir()
	split := opt.Split
	if split == "" {
		split = "train"
	}
	idxPath := path
	if isDir {
		idxPath = filepath.Join(path, split)
	}
	switch {
	case statErr == nil && !isDir && strings.EqualFold(filepath.Ext(path), ".npz"):
		d, err := openNPZ(path, opt.InputName, !opt.Unlabelled)
		if err != nil {
			return nil, err
		}
		ds = d
	case IsIDX(idxPath):
		d, err := OpenIDX(idxPath)
		if err != nil {
			return nil, err
		}
		ds = d
	case isDir && opt.Unlabelled:
		return openImages(path, opt.Image)
	case isDir:
		return OpenImageFolder(path, opt.Image)
	case statErr != nil:
		if errors.Is(statErr, os.ErrNotExist) {
			return nil, fmt.Errorf("data: %s: no such file or directory, nor IDX files with that prefix", path)
		}
		return nil, fileError(path, statErr)
	default:
		return nil, fmt.Errorf("data: %s: not an .npz archive, an IDX data set or an image folder", path)
	}
	return fitModel(ds, path, opt.Image)
}

// fitModel checks an NPZ or IDX data set's example shape against the model's input size,
// when given, and applies an explicit Mean/Std.
func fitModel(ds Dataset, path string, t ImageTransform) (Dataset, error) {
	if ds.Len() == 0 {
		return ds, nil
	}
	x, _, err := ds.Example(0)
	if err != nil {
		return nil, err
	}
	if t.Channels > 0 && t.Height > 0 && t.Width > 0 && x.Rank() == 3 {
		want := []int{t.Channels, t.Height, t.Width}
		if !slices.Equal(x.Shape(), want) {
			return nil, fmt.Errorf("data: %s: examples are %v, the model takes %v", path, x.Shape(), want)
		}
	}
	if t.Mean == nil && t.Std == nil {
		return ds, nil
	}
	if x.Rank() == 0 || x.DType() != tensor.Float32 {
		return nil, fmt.Errorf("data: %s: examples are %v; --mean/--std need float32 with a channel dimension", path, x)
	}
	mean, std, err := checkMeanStd(t.Mean, t.Std, x.Shape()[0])
	if err != nil {
		return nil, fmt.Errorf("data: %s: %w", path, err)
	}
	return &Normalized{Parent: ds, Mean: mean, Std: std}, nil
}
