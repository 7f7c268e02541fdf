package data

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/onnxtune/onnxtune/tensor"
)

// imageExts are the file extensions ImageFolder reads, compared case-insensitively: the
// png, jpg, jpeg, gif and bmp, plus webp, tif and tiff, which torchvision's
// ImageFolder also reads. torchvision does not read .gif; onnxtune does.
var imageExts = []string{".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff"}

// unsupportedExts are extensions torchvision's ImageFolder reads and onnxtune cannot
// decode: a folder holding them is refused rather than read as a different data set.
var unsupportedExts = []string{".ppm", ".pgm"}

// ImageFolder is a labelled image data set laid out as torchvision's ImageFolder expects:
// DIR/<class>/**/<image>. Classes are the subdirectories of DIR in sorted order (class i is
// the i-th name); the images of a class are found by walking its folder, symbolic links
// followed, and ordered as torchvision's make_dataset orders them: by directory path, then
// by file name, both sorted as strings. Images are decoded and transformed only when
// Example asks for them, so memory does not grow with the number of files.
//
// Opened without targets (Open with Options.Unlabelled), it may also be a flat folder,
// DIR/<image>, read in sorted name order with no classes and a nil y.
type ImageFolder struct {
	root      string
	classes   []string
	files     []string
	labels    []int64
	transform ImageTransform
}

var (
	_ Dataset   = (*ImageFolder)(nil)
	_ Labeler   = (*ImageFolder)(nil)
	_ PadFiller = (*ImageFolder)(nil)
)

// OpenImageFolder lists the images under dir and checks t. It fails, naming the path, when
// dir does not exist or has no class folders, when a class folder holds no image, and when
// a class folder holds a .ppm or .pgm file (which torchvision would read and onnxtune
// cannot).
func OpenImageFolder(dir string, t ImageTransform) (*ImageFolder, error) {
	if err := t.Check(); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fileError(dir, err)
	}
	f := &ImageFolder{root: dir, transform: t}
	for _, e := range entries {
		if isDir(filepath.Join(dir, e.Name()), e) {
			f.classes = append(f.classes, e.Name())
		}
	}
	slices.Sort(f.classes) // os.ReadDir sorts already; Python's sorted compares code points, as this does
	if len(f.classes) == 0 {
		return nil, fmt.Errorf("data: %s: no class folders (want %s/<class>/<image>)", dir, dir)
	}
	for label, class := range f.classes {
		files, err := classFiles(filepath.Join(dir, class))
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("data: %s: no images in class folder (want %s files)",
				filepath.Join(dir, class), strings.Join(imageExts, ", "))
		}
		f.files = append(f.files, files...)
		for range files {
			f.labels = append(f.labels, int64(label))
		}
	}
	return f, nil
}

// openImages opens an image folder whose labels are not needed: DIR/<class>/<image> as
// OpenImageFolder reads it, or, when DIR has no class folders, the images directly in DIR.
// A folder holding both images and class folders is refused rather than half read.
func openImages(dir string, t ImageTransform) (*ImageFolder, error) {
	if err := t.Check(); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fileError(dir, err)
	}
	var class, image string // the first of each, to name in an error
	for _, e := range entries {
		switch p := filepath.Join(dir, e.Name()); {
		case isDir(p, e):
			class = cmp.Or(class, p)
		case slices.Contains(imageExts, strings.ToLower(filepath.Ext(p))):
			image = cmp.Or(image, p)
		}
	}
	switch {
	case class != "" && image != "":
		return nil, fmt.Errorf("data: %s: holds images (%s) and class folders (%s); put the images all in class folders or all directly in the folder", dir, filepath.Base(image), filepath.Base(class))
	case class != "":
		return OpenImageFolder(dir, t)
	}
	files, err := classFiles(dir) // no subfolders: the folder's own images, sorted
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("data: %s: no images (want %s/<image> or %s/<class>/<image>, with %s files)",
			dir, dir, dir, strings.Join(imageExts, ", "))
	}
	return &ImageFolder{root: dir, files: files, transform: t}, nil
}

// isDir reports whether the entry is a directory, following a symbolic link as Python's
// DirEntry.is_dir does.
func isDir(path string, e os.DirEntry) bool {
	if e.IsDir() {
		return true
	}
	if e.Type()&os.ModeSymlink == 0 {
		return false
	}
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

// classFiles lists the images under one class folder in make_dataset's order:
// sorted(os.walk(root, followlinks=True)), then sorted names within each directory.
func classFiles(root string) ([]string, error) {
	type dirFiles struct {
		dir   string
		names []string
	}
	var dirs []dirFiles
	var walk func(dir string, ancestors []os.FileInfo) error
	walk = func(dir string, ancestors []os.FileInfo) error {
		st, err := os.Stat(dir)
		if err != nil {
			return fileError(dir, err)
		}
		for _, a := range ancestors {
			if os.SameFile(a, st) {
				return nil // a link back up the tree; os.walk would loop, we stop
			}
		}
		ancestors = append(ancestors, st)
		entries, err := os.ReadDir(dir)
		if err != nil {
			return fileError(dir, err)
		}
		df := dirFiles{dir: dir}
		var subdirs []string
		for _, e := range entries {
			p := filepath.Join(dir, e.Name())
			if isDir(p, e) {
				subdirs = append(subdirs, p)
				continue
			}
			ext := strings.ToLower(filepath.Ext(e.Name()))
			if slices.Contains(unsupportedExts, ext) {
				return fmt.Errorf("data: %s: %s images are not supported; convert them to PNG", p, ext)
			}
			if slices.Contains(imageExts, ext) {
				df.names = append(df.names, e.Name())
			}
		}
		dirs = append(dirs, df)
		for _, sub := range subdirs {
			if err := walk(sub, ancestors); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(root, nil); err != nil {
		return nil, err
	}
	// Python sorts the walk's (root, dirs, files) tuples, that is by root path as a string:
	// "a/b-c" comes before "a/b/c", which a depth-first walk would visit first.
	slices.SortFunc(dirs, func(a, b dirFiles) int { return strings.Compare(a.dir, b.dir) })
	var files []string
	for _, d := range dirs {
		slices.Sort(d.names)
		for _, n := range d.names {
			files = append(files, filepath.Join(d.dir, n))
		}
	}
	return files, nil
}

// Unreadable returns the indices of the images whose header no decoder reads (not an image,
// or cut short before its size) with the error of each, in order. The pixels are not decoded,
// so this costs a small read per file next to an epoch's decoding.
func (f *ImageFolder) Unreadable() ([]int, []error) {
	var idx []int
	var errs []error
	for i, p := range f.files {
		if err := checkImageFile(p); err != nil {
			idx, errs = append(idx, i), append(errs, err)
		}
	}
	return idx, errs
}

// Without returns a copy of f without the images at the indices drop (ascending), keeping the
// classes.
func (f *ImageFolder) Without(drop []int) *ImageFolder {
	g := *f
	g.files, g.labels = nil, nil
	d := 0
	for i, p := range f.files {
		if d < len(drop) && drop[d] == i {
			d++
			continue
		}
		g.files = append(g.files, p)
		if f.labels != nil {
			g.labels = append(g.labels, f.labels[i])
		}
	}
	return &g
}

// Len returns the number of images.
func (f *ImageFolder) Len() int { return len(f.files) }

// Example decodes and transforms image i: x is float32 [C, H, W], y an int64 scalar, the
// class index (nil in a flat folder). Errors name the file.
func (f *ImageFolder) Example(i int) (x, y *tensor.Tensor, err error) {
	if i < 0 || i >= len(f.files) {
		return nil, nil, fmt.Errorf("data: %s: example %d out of range [0, %d)", f.root, i, len(f.files))
	}
	x, err = f.transform.Load(f.files[i])
	if err != nil {
		return nil, nil, err
	}
	if f.labels == nil {
		return x, nil, nil
	}
	return x, tensor.Scalar(f.labels[i]), nil
}

// Classes returns the class names, the folder names in sorted order (nil in a flat folder).
func (f *ImageFolder) Classes() []string { return f.classes }

// Labels returns the class index of every image, without decoding any (nil in a flat
// folder).
func (f *ImageFolder) Labels() []int64 { return f.labels }

// PadFill returns the transform's PadFill: a black pixel after normalisation.
func (f *ImageFolder) PadFill() []float32 { return f.transform.PadFill() }

// Path returns the file of image i.
func (f *ImageFolder) Path(i int) string { return f.files[i] }

// Root returns the folder the data set was opened from.
func (f *ImageFolder) Root() string { return f.root }

// Transform returns the transform applied to every image.
func (f *ImageFolder) Transform() ImageTransform { return f.transform }
