package data

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"

	// Decoders image.Decode dispatches to: PNG, JPEG, GIF and BMP, plus WebP and TIFF,
	// which torchvision's ImageFolder also accepts.
	_ "image/gif"
	_ "image/jpeg"
	_ "image/png"

	_ "golang.org/x/image/bmp"
	_ "golang.org/x/image/tiff"
	_ "golang.org/x/image/webp"

	"github.com/onnxtune/onnxtune/tensor"
)

// ImageNet's per-channel mean and standard deviation, the normalisation torchvision's
// pretrained classifiers expect (transforms.Normalize(mean, std)).
var (
	ImageNetMean = []float32{0.485, 0.456, 0.406}
	ImageNetStd  = []float32{0.229, 0.224, 0.225}
)

// ImageTransform turns a decoded image into a model input, as this torchvision pipeline does
// to the RGB image ImageFolder's loader returns:
//
//	Compose([Grayscale(1) if Channels == 1, Resize(Resize), CenterCrop((Height, Width)),
//	         ToTensor(), Normalize(Mean, Std)])
//
// The result is float32 [Channels, Height, Width]. Every step reproduces Pillow 9.4's integer
// arithmetic, so for losslessly stored images (PNG, GIF, BMP) the tensor equals torchvision's
// bit for bit; JPEG differs only where Go's decoder and libjpeg round differently.
type ImageTransform struct {
	// Channels is the model's channel count: 3 (RGB) or 1 (Pillow's "L": 299/587/114 weights
	// in 16-bit fixed point). Other images are converted to RGB first, as ImageFolder does.
	Channels int
	// Height and Width are the model's input size, the centre crop's size.
	Height, Width int
	// Resize is the length the shorter side is resized to before the crop (bilinear, with
	// Pillow's antialiasing when shrinking; the longer side keeps the aspect ratio, truncated
	// as torchvision truncates it). 0 means max(Height, Width), so the crop never pads.
	Resize int
	// Mean and Std normalise each channel: (x - Mean[c]) / Std[c], x in [0, 1]. Both nil
	// means ImageNetMean and ImageNetStd for 3 channels and no normalisation otherwise.
	Mean, Std []float32
}

// Normalization returns the mean and std Apply uses, nil for none, after checking them.
func (t ImageTransform) Normalization() (mean, std []float32, err error) {
	mean, std = t.Mean, t.Std
	if mean == nil && std == nil {
		if t.Channels == 3 {
			return ImageNetMean, ImageNetStd, nil
		}
		return nil, nil, nil
	}
	return checkMeanStd(mean, std, t.Channels)
}

// checkMeanStd checks a mean/std pair for c channels; a single value applies to every channel.
func checkMeanStd(mean, std []float32, c int) ([]float32, []float32, error) {
	if len(mean) == 1 && c > 1 {
		mean = repeat(mean[0], c)
	}
	if len(std) == 1 && c > 1 {
		std = repeat(std[0], c)
	}
	if len(mean) != c || len(std) != c {
		return nil, nil, fmt.Errorf("mean has %d values and std %d, want %d (one per channel)", len(mean), len(std), c)
	}
	for i, s := range std {
		if !(s > 0) || math.IsInf(float64(s), 0) || math.IsNaN(float64(mean[i])) || math.IsInf(float64(mean[i]), 0) {
			return nil, nil, fmt.Errorf("channel %d: mean %g, std %g: std must be positive and both finite", i, mean[i], s)
		}
	}
	return mean, std, nil
}

func repeat(v float32, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = v
	}
	return s
}

// Check reports whether the transform can be applied: 1 or 3 channels, a positive size, and
// a mean and std of one value per channel (or one value for all), std positive.
func (t ImageTransform) Check() error {
	if t.Channels != 1 && t.Channels != 3 {
		return fmt.Errorf("data: image transform: %d channels; images convert to 1 (gray) or 3 (RGB)", t.Channels)
	}
	if t.Height <= 0 || t.Width <= 0 {
		return fmt.Errorf("data: image transform: size %dx%d; want a positive height and width", t.Height, t.Width)
	}
	if t.Resize < 0 {
		return fmt.Errorf("data: image transform: resize %d is negative", t.Resize)
	}
	if _, _, err := t.Normalization(); err != nil {
		return fmt.Errorf("data: image transform: %w", err)
	}
	return nil
}

// PadFill returns the value each channel of a black pixel has after the transform's
// normalisation: what torchvision's RandomCrop(padding=..., fill=0) pads a PIL image with,
// seen after ToTensor and Normalize. Loaders use it for Augment's padding.
func (t ImageTransform) PadFill() []float32 {
	mean, std, err := t.Normalization()
	if err != nil || mean == nil {
		return nil
	}
	fill := make([]float32, len(mean))
	for c := range fill {
		fill[c] = (0 - mean[c]) / std[c]
	}
	return fill
}

// Load decodes the image file at path (PNG, JPEG, GIF, BMP, WebP or TIFF, recognised by its
// content) and applies the transform. Errors name the file.
func (t ImageTransform) Load(path string) (*tensor.Tensor, error) {
	if err := t.Check(); err != nil {
		return nil, err
	}
	img, err := decodeFile(path)
	if err != nil {
		return nil, err
	}
	x, err := t.apply(img)
	if err != nil {
		return nil, fmt.Errorf("data: %s: %w", path, err)
	}
	return x, nil
}

// Apply converts img to the model's channel count, resizes, centre-crops and normalises it.
func (t ImageTransform) Apply(img image.Image) (*tensor.Tensor, error) {
	if err := t.Check(); err != nil {
		return nil, err
	}
	x, err := t.apply(img)
	if err != nil {
		return nil, fmt.Errorf("data: image transform: %w", err)
	}
	return x, nil
}

// apply is Apply after Check.
func (t ImageTransform) apply(img image.Image) (*tensor.Tensor, error) {
	b := img.Bounds()
	if b.Empty() {
		return nil, fmt.Errorf("image is empty (%dx%d)", b.Dx(), b.Dy())
	}
	p := toRGB8(img)
	if t.Channels == 1 {
		p = p.gray()
	}
	size := t.Resize
	if size == 0 {
		size = max(t.Height, t.Width)
	}
	w, h := resizedSize(p.w, p.h, size)
	p = p.resize(w, h)
	mean, std, _ := t.Normalization()
	return p.centerCrop(t.Height, t.Width, mean, std), nil
}

// decodeFile opens and decodes one image file.
func decodeFile(path string) (image.Image, error) {
	f, _, err := openRegular(path)
	if err != nil {
		return nil, fileError(path, err)
	}
	defer f.Close()
	img, format, err := image.Decode(f)
	if err != nil {
		return nil, decodeError(path, format, err)
	}
	return img, nil
}

// checkImageFile reads no more of an image file than its header (format and size), which
// the decoders must understand: the cheap check before training that a file is an image at
// all.
func checkImageFile(path string) error {
	f, _, err := openRegular(path)
	if err != nil {
		return fileError(path, err)
	}
	defer f.Close()
	if _, format, err := image.DecodeConfig(f); err != nil {
		return decodeError(path, format, err)
	}
	return nil
}

// decodeError is the one-line error of a file that format's decoder (none found: format "")
// could not read.
func decodeError(path, format string, err error) error {
	if errors.Is(err, image.ErrFormat) {
		return fmt.Errorf("data: %s: not a PNG, JPEG, GIF, BMP, WebP or TIFF image", path)
	}
	return fmt.Errorf("data: %s: decode %s: %w", path, format, noEOF(err))
}

// resizedSize is torchvision's _compute_resized_output_size for Resize(size) with an int:
// the shorter side becomes size and the longer int(size * long / short), in float64 as
// Python computes it.
func resizedSize(w, h, size int) (int, int) {
	if w <= h {
		return size, int(float64(size*h) / float64(w))
	}
	return int(float64(size*w) / float64(h)), size
}

// pix8 is an 8-bit image with c interleaved channels, the layout Pillow resamples.
type pix8 struct {
	w, h, c int
	pix     []uint8
}

// toRGB8 converts img to 8-bit RGB as Pillow's Image.convert("RGB") does to the mode Pillow
// opens the file in (which is what ImageFolder's loader calls): alpha is dropped, not
// composited; palettes are looked up; 16-bit channels keep their high byte, except 16-bit
// grayscale, which Pillow opens as mode "I" and clips to 255 when converting. Known
// differences, all rare in training data: a GIF's transparent palette entry is black here
// (Go's decoder discards its colour, Pillow keeps it), CMYK JPEGs use Go's CMYK conversion,
// and only the first frame of an animated GIF is read, as Pillow does, but without the
// rest of the logical screen when the frame is smaller.
func toRGB8(img image.Image) pix8 {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	p := pix8{w: w, h: h, c: 3, pix: make([]uint8, w*h*3)}
	set := func(i int, r, g, bl uint8) { p.pix[3*i], p.pix[3*i+1], p.pix[3*i+2] = r, g, bl }
	switch m := img.(type) {
	case *image.Gray:
		for y := range h {
			row := m.Pix[(y)*m.Stride:]
			for x := range w {
				v := row[x]
				set(y*w+x, v, v, v)
			}
		}
	case *image.Gray16:
		for y := range h {
			for x := range w {
				v := m.Gray16At(b.Min.X+x, b.Min.Y+y).Y
				set(y*w+x, clip255(v), clip255(v), clip255(v))
			}
		}
	case *image.NRGBA:
		for y := range h {
			row := m.Pix[y*m.Stride:]
			for x := range w {
				set(y*w+x, row[4*x], row[4*x+1], row[4*x+2])
			}
		}
	case *image.NRGBA64:
		for y := range h {
			row := m.Pix[y*m.Stride:]
			for x := range w {
				set(y*w+x, row[8*x], row[8*x+2], row[8*x+4]) // big-endian: high bytes
			}
		}
	case *image.Paletted:
		pal := make([][3]uint8, len(m.Palette))
		for i, c := range m.Palette {
			n := color.NRGBAModel.Convert(c).(color.NRGBA)
			pal[i] = [3]uint8{n.R, n.G, n.B}
		}
		for y := range h {
			row := m.Pix[y*m.Stride:]
			for x := range w {
				var c [3]uint8
				if int(row[x]) < len(pal) {
					c = pal[row[x]]
				}
				set(y*w+x, c[0], c[1], c[2])
			}
		}
	case *image.RGBA: // PNG and BMP without alpha: opaque, so premultiplied equals straight
		for y := range h {
			row := m.Pix[y*m.Stride:]
			for x := range w {
				if a := row[4*x+3]; a != 255 {
					n := color.NRGBAModel.Convert(color.RGBA{row[4*x], row[4*x+1], row[4*x+2], a}).(color.NRGBA)
					set(y*w+x, n.R, n.G, n.B)
					continue
				}
				set(y*w+x, row[4*x], row[4*x+1], row[4*x+2])
			}
		}
	case *image.YCbCr:
		ycbcrToRGB(m, p.pix)
	default:
		// Opaque RGBA64 (16-bit PNG without alpha) converts exactly; premultiplied pixels
		// with alpha are un-premultiplied, the closest Go can get to Pillow's values.
		for y := range h {
			for x := range w {
				n := color.NRGBA64Model.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA64)
				set(y*w+x, uint8(n.R>>8), uint8(n.G>>8), uint8(n.B>>8))
			}
		}
	}
	return p
}

func clip255(v uint16) uint8 { return uint8(min(v, 255)) }

// gray converts RGB to Pillow's "L": (19595 R + 38470 G + 7471 B + 0x8000) >> 16, the 16-bit
// fixed-point form of ITU-R 601-2's 0.299/0.587/0.114 that Pillow 9 uses (an exact
// 299/587/114 division rounds differently for about 1 colour in 1500).
func (p pix8) gray() pix8 {
	out := pix8{w: p.w, h: p.h, c: 1, pix: make([]uint8, p.w*p.h)}
	for i := range out.pix {
		r, g, b := uint32(p.pix[3*i]), uint32(p.pix[3*i+1]), uint32(p.pix[3*i+2])
		out.pix[i] = uint8((r*19595 + g*38470 + b*7471 + 0x8000) >> 16)
	}
	return out
}

// Pillow's resampling (libImaging/Resample.c) is a separable convolution: a horizontal pass,
// rounded to uint8, then a vertical pass. Each output pixel centre maps back to the input;
// when shrinking, the filter is stretched by the scale factor, which is Pillow's
// antialiasing. Weights are normalised to sum to 1 and stored as integers with 22 fraction
// bits; sums start at one half so the final shift rounds. Reproducing these steps exactly,
// including the uint8 rounding between the passes, is what makes the result equal Pillow's.
const resamplePrecision = 32 - 8 - 2

// resampleCoeffs holds, for each output position, the first input index, the number of
// inputs it reads and their fixed-point weights (ksize per output).
type resampleCoeffs struct {
	start, count []int
	k            []int32
	ksize        int
}

// bilinearCoeffs is Pillow's precompute_coeffs with the bilinear (triangle) filter, support
// 1, for the box (0, inSize), followed by normalize_coeffs_8bpc.
func bilinearCoeffs(inSize, outSize int) resampleCoeffs {
	scale := float64(inSize) / float64(outSize)
	filterscale := max(scale, 1)
	support := 1.0 * filterscale
	ksize := int(math.Ceil(support))*2 + 1
	c := resampleCoeffs{
		start: make([]int, outSize),
		count: make([]int, outSize),
		k:     make([]int32, outSize*ksize),
		ksize: ksize,
	}
	w := make([]float64, ksize)
	ss := 1.0 / filterscale
	for xx := range outSize {
		center := (float64(xx) + 0.5) * scale
		xmin := max(int(center-support+0.5), 0) // C's (int) truncates, as Go's conversion does
		xmax := min(int(center+support+0.5), inSize) - xmin
		var ww float64
		for x := range xmax {
			v := triangle((float64(x+xmin) - center + 0.5) * ss)
			w[x] = v
			ww += v
		}
		for x := range xmax {
			v := w[x]
			if ww != 0 {
				v /= ww
			}
			if v < 0 {
				c.k[xx*ksize+x] = int32(-0.5 + v*(1<<resamplePrecision))
			} else {
				c.k[xx*ksize+x] = int32(0.5 + v*(1<<resamplePrecision))
			}
		}
		c.start[xx], c.count[xx] = xmin, xmax
	}
	return c
}

func triangle(x float64) float64 {
	x = math.Abs(x)
	if x < 1 {
		return 1 - x
	}
	return 0
}

// clip8 is Pillow's clip8: drop the fraction bits and clamp to [0, 255].
func clip8(ss int32) uint8 {
	v := ss >> resamplePrecision
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// resize resamples p to w x h as Pillow's Image.resize(size, BILINEAR) does.
func (p pix8) resize(w, h int) pix8 {
	if w == p.w && h == p.h {
		return p // torchvision returns the image unchanged when the size already fits
	}
	if w != p.w {
		p = p.resizeHorizontal(w)
	}
	if h != p.h {
		p = p.resizeVertical(h)
	}
	return p
}

func (p pix8) resizeHorizontal(w int) pix8 {
	co := bilinearCoeffs(p.w, w)
	out := pix8{w: w, h: p.h, c: p.c, pix: make([]uint8, w*p.h*p.c)}
	for y := range p.h {
		in := p.pix[y*p.w*p.c : (y+1)*p.w*p.c]
		o := out.pix[y*w*p.c : (y+1)*w*p.c]
		for xx := range w {
			k := co.k[xx*co.ksize : xx*co.ksize+co.count[xx]]
			src := in[co.start[xx]*p.c:]
			if p.c == 3 { // RGB, the common case, with the three sums in one pass
				const half = int32(1 << (resamplePrecision - 1))
				r, g, b := half, half, half
				src = src[:3*len(k)]
				for x, kx := range k {
					r += int32(src[3*x]) * kx
					g += int32(src[3*x+1]) * kx
					b += int32(src[3*x+2]) * kx
				}
				o[3*xx], o[3*xx+1], o[3*xx+2] = clip8(r), clip8(g), clip8(b)
				continue
			}
			for ch := range p.c {
				ss := int32(1 << (resamplePrecision - 1))
				for x, kx := range k {
					ss += int32(src[x*p.c+ch]) * kx
				}
				o[xx*p.c+ch] = clip8(ss)
			}
		}
	}
	return out
}

func (p pix8) resizeVertical(h int) pix8 {
	co := bilinearCoeffs(p.h, h)
	row := p.w * p.c
	out := pix8{w: p.w, h: h, c: p.c, pix: make([]uint8, row*h)}
	for yy := range h {
		k := co.k[yy*co.ksize : yy*co.ksize+co.count[yy]]
		in := p.pix[co.start[yy]*row:]
		o := out.pix[yy*row : (yy+1)*row]
		for i := range o {
			ss := int32(1 << (resamplePrecision - 1))
			for y, ky := range k {
				ss += int32(in[y*row+i]) * ky
			}
			o[i] = clip8(ss)
		}
	}
	return out
}

// byteToUnit[v] is float32(v)/255, torchvision's ToTensor for 8-bit images.
var byteToUnit = func() (t [256]float32) {
	for v := range t {
		t[v] = float32(v) / 255
	}
	return t
}()

// centerCrop crops the h x w centre of p as torchvision's CenterCrop does (offsets rounded
// half to even, as Python's round; a crop larger than the image pads it with black, the
// extra column or row going right or bottom), then converts to float32 CHW in [0, 1] and
// normalises: (x - mean[c]) / std[c], each step rounded to float32 as torch computes it.
func (p pix8) centerCrop(h, w int, mean, std []float32) *tensor.Tensor {
	// Padding first, as torchvision pads the image to at least the crop size.
	padL, padT := 0, 0
	ih, iw := p.h, p.w
	if w > iw {
		padL = (w - iw) / 2
		iw = w
	}
	if h > ih {
		padT = (h - ih) / 2
		ih = h
	}
	top := int(math.RoundToEven(float64(ih-h)/2)) - padT
	left := int(math.RoundToEven(float64(iw-w)/2)) - padL
	out := make([]float32, p.c*h*w)
	for c := range p.c {
		var m, s float32 = 0, 1
		if mean != nil {
			m, s = mean[c], std[c]
		}
		black := (0 - m) / s
		plane := out[c*h*w : (c+1)*h*w]
		for y := range h {
			sy := top + y
			for x := range w {
				sx := left + x
				if sy < 0 || sy >= p.h || sx < 0 || sx >= p.w {
					plane[y*w+x] = black
					continue
				}
				v := byteToUnit[p.pix[(sy*p.w+sx)*p.c+c]]
				if mean != nil {
					v = (v - m) / s
				}
				plane[y*w+x] = v
			}
		}
	}
	return tensor.From([]int{p.c, h, w}, out)
}

// Augment describes the random training augmentation a Loader applies to each example after
// the dataset's own transform, in the order of torchvision's CIFAR recipe
// Compose([RandomCrop(size, padding=Pad), RandomHorizontalFlip(), ...]). The random draws
// come from math/rand/v2 seeded per example, so they are repeatable but are not torch's.
type Augment struct {
	// Pad > 0 enables the random crop: the example is padded by Pad on every side and a
	// window of its original height and width is taken at a uniformly random offset in
	// [0, 2*Pad] along each axis.
	Pad int
	// Flip mirrors the example left to right with probability 0.5.
	Flip bool
	// Fill is the per-channel padding value (one value, or one per channel). nil means the
	// dataset's PadFill (a black pixel after its normalisation, as torchvision pads the
	// image before ToTensor and Normalize), or 0 for datasets without one.
	Fill []float32
}

// DefaultCropPad is the padding `--augment crop` uses: 4, the usual CIFAR-10 recipe
// (RandomCrop(32, padding=4)).
const DefaultCropPad = 4

// ParseAugment parses the --augment spelling: a comma-separated list of "flip", "crop"
// (padding DefaultCropPad) and "crop=N" (padding N), or "" or "none" for no augmentation.
func ParseAugment(spec string) (Augment, error) {
	var a Augment
	spec = strings.TrimSpace(spec)
	if spec == "" || spec == "none" {
		return a, nil
	}
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		name, val, hasVal := strings.Cut(item, "=")
		switch {
		case name == "flip" && !hasVal:
			a.Flip = true
		case name == "crop" && !hasVal:
			a.Pad = DefaultCropPad
		case name == "crop":
			n, err := strconv.Atoi(val)
			if err != nil || n <= 0 {
				return Augment{}, fmt.Errorf("data: augment %q: crop padding %q is not a positive integer", spec, val)
			}
			a.Pad = n
		default:
			return Augment{}, fmt.Errorf("data: augment %q: unknown item %q (want flip, crop or crop=N)", spec, item)
		}
	}
	return a, nil
}

// Enabled reports whether a changes anything.
func (a Augment) Enabled() bool { return a.Pad > 0 || a.Flip }

// String returns the spelling ParseAugment accepts.
func (a Augment) String() string {
	var parts []string
	if a.Pad == DefaultCropPad {
		parts = append(parts, "crop")
	} else if a.Pad > 0 {
		parts = append(parts, "crop="+strconv.Itoa(a.Pad))
	}
	if a.Flip {
		parts = append(parts, "flip")
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ",")
}

// Apply returns x, of shape [..., H, W] (float32), randomly cropped after padding and
// flipped with draws from rng: first the crop's row and column offsets, then the flip. The
// leading dimensions count as channels for Fill. x itself is not modified; without any
// augmentation enabled, x is returned as is.
func (a Augment) Apply(x *tensor.Tensor, rng *rand.Rand) (*tensor.Tensor, error) {
	if !a.Enabled() {
		return x, nil
	}
	if rng == nil {
		return nil, errors.New("data: augment: nil random generator")
	}
	src := x.Float32s()
	shape := x.Shape()
	if src == nil || len(shape) < 2 {
		return nil, fmt.Errorf("data: augment: example %v; want float32 with at least 2 dimensions (H, W)", x)
	}
	h, w := shape[len(shape)-2], shape[len(shape)-1]
	planes := 1
	if h > 0 && w > 0 {
		planes = len(src) / (h * w)
	}
	if len(a.Fill) != 0 && len(a.Fill) != 1 && len(a.Fill) != planes {
		return nil, fmt.Errorf("data: augment: %d fill values for %d channels", len(a.Fill), planes)
	}
	top, left := a.Pad, a.Pad // the window's offset in the padded image; (Pad, Pad) is the original
	if a.Pad > 0 {
		top, left = rng.IntN(2*a.Pad+1), rng.IntN(2*a.Pad+1)
	}
	flip := a.Flip && rng.Float64() < 0.5
	return a.cropFlip(x, top, left, flip), nil
}

// cropFlip pads x by a.Pad with a.Fill, takes the H x W window at (top, left) of the padded
// image, and mirrors it when flip is set: torchvision's F.hflip(F.crop(F.pad(img, Pad,
// fill), top, left, H, W)).
func (a Augment) cropFlip(x *tensor.Tensor, top, left int, flip bool) *tensor.Tensor {
	src, shape := x.Float32s(), x.Shape()
	h, w := shape[len(shape)-2], shape[len(shape)-1]
	planes := 0
	if h > 0 && w > 0 {
		planes = len(src) / (h * w)
	}
	out := make([]float32, len(src))
	for c := range planes {
		var fill float32
		switch len(a.Fill) {
		case 1:
			fill = a.Fill[0]
		case planes:
			fill = a.Fill[c]
		}
		in, o := src[c*h*w:(c+1)*h*w], out[c*h*w:(c+1)*h*w]
		for y := range h {
			sy := y + top - a.Pad
			for x := range w {
				sx := x + left - a.Pad
				v := fill
				if sy >= 0 && sy < h && sx >= 0 && sx < w {
					v = in[sy*w+sx]
				}
				if flip {
					o[y*w+w-1-x] = v
				} else {
					o[y*w+x] = v
				}
			}
		}
	}
	return tensor.From(shape, out)
}

// LoadImage decodes the image file at path as ImageFolder's loader sees it; it is exported
// for callers that want Go's image.Image rather than a tensor. Errors name the file.
func LoadImage(path string) (image.Image, error) { return decodeFile(path) }

// fileExists reports whether path names an existing regular file.
func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

// JPEG stores subsampled chroma. Pillow decodes with libjpeg(-turbo), which upsamples
// chroma with a triangle filter ("fancy upsampling": 3/4 of the nearer sample, 1/4 of the
// next, in integers with alternating rounding biases) and converts to RGB with 16-bit
// fixed-point tables (jdcolor.c). Go's image/jpeg leaves the planes subsampled and its
// color.YCbCrToRGB takes the nearest chroma sample, which differs by tens of levels at
// colour edges; ycbcrToRGB reproduces libjpeg's two steps instead. What still differs is
// the inverse DCT, a level or two here and there.

// libjpeg's ycc_rgb_convert tables, indexed by the chroma sample.
var crR, cbB, crG, cbG = func() (crR, cbB, crG, cbG [256]int32) {
	const scaleBits = 16
	const half = 1 << (scaleBits - 1)
	fix := func(x float64) int32 { return int32(x*(1<<scaleBits) + 0.5) }
	for i := range 256 {
		x := int32(i - 128)
		crR[i] = (fix(1.40200)*x + half) >> scaleBits
		cbB[i] = (fix(1.77200)*x + half) >> scaleBits
		crG[i] = -fix(0.71414) * x
		cbG[i] = -fix(0.34414)*x + half
	}
	return
}()

func clampByte(v int32) uint8 {
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// ycbcrToRGB writes m's pixels to dst as interleaved RGB, upsampling and converting as
// libjpeg-turbo does (see above).
func ycbcrToRGB(m *image.YCbCr, dst []uint8) {
	b := m.Rect
	w, h := b.Dx(), b.Dy()
	cb := upsampleChroma(m, m.Cb)
	cr := upsampleChroma(m, m.Cr)
	for y := range h {
		yrow := m.Y[m.YOffset(b.Min.X, b.Min.Y+y):]
		for x := range w {
			i := y*w + x
			yy := int32(yrow[x])
			cbv, crv := cb[i], cr[i]
			dst[3*i] = clampByte(yy + crR[crv])
			dst[3*i+1] = clampByte(yy + (cbG[cbv]+crG[crv])>>16)
			dst[3*i+2] = clampByte(yy + cbB[cbv])
		}
	}
}

// upsampleChroma returns one chroma plane of m at full resolution, w*h samples, with
// libjpeg-turbo's fancy upsampling for 4:2:0, 4:2:2 and 4:4:0 (jdsample.c; 4:2:x only when
// the subsampled row is wider than 2, as there) and replication otherwise.
func upsampleChroma(m *image.YCbCr, plane []uint8) []uint8 {
	b := m.Rect
	w, h := b.Dx(), b.Dy()
	out := make([]uint8, w*h)
	ox, oy := b.Min.X, b.Min.Y
	hsub, vsub := 1, 1
	switch m.SubsampleRatio {
	case image.YCbCrSubsampleRatio420:
		hsub, vsub = 2, 2
	case image.YCbCrSubsampleRatio422:
		hsub = 2
	case image.YCbCrSubsampleRatio440:
		vsub = 2
	}
	cw, ch := (w+hsub-1)/hsub, (h+vsub-1)/vsub // subsampled size, rounded up as libjpeg does
	fancy := (ox == 0 && oy == 0) && (hsub == 1 || cw > 2)
	// row returns chroma row cy (subsampled coordinates); used on the fancy paths only, where
	// the image starts at (0, 0) and sample (cx, cy) is plane[cy*CStride+cx].
	row := func(cy int) []uint8 { return plane[cy*m.CStride : cy*m.CStride+cw] }
	switch {
	case m.SubsampleRatio == image.YCbCrSubsampleRatio444:
		for y := range h {
			copy(out[y*w:(y+1)*w], plane[m.COffset(ox, oy+y):])
		}
	case !fancy || (m.SubsampleRatio != image.YCbCrSubsampleRatio420 &&
		m.SubsampleRatio != image.YCbCrSubsampleRatio422 &&
		m.SubsampleRatio != image.YCbCrSubsampleRatio440):
		for y := range h {
			for x := range w {
				out[y*w+x] = plane[m.COffset(ox+x, oy+y)]
			}
		}
	case hsub == 2 && vsub == 1: // h2v1_fancy_upsample
		for y := range h {
			in, o := row(y), out[y*w:(y+1)*w]
			for x := range o {
				cx := x / 2
				this := int32(in[cx]) * 3
				switch {
				case x%2 == 0 && cx == 0:
					o[x] = in[0]
				case x%2 == 0:
					o[x] = uint8((this + int32(in[cx-1]) + 1) >> 2)
				case cx == cw-1:
					o[x] = in[cx]
				default:
					o[x] = uint8((this + int32(in[cx+1]) + 2) >> 2)
				}
			}
		}
	case hsub == 1 && vsub == 2: // h1v2_fancy_upsample
		for y := range h {
			cy := y / 2
			nb, bias := max(cy-1, 0), int32(1)
			if y%2 == 1 {
				nb, bias = min(cy+1, ch-1), 2
			}
			near, far, o := row(cy), row(nb), out[y*w:(y+1)*w]
			for x := range o {
				o[x] = uint8((int32(near[x])*3 + int32(far[x]) + bias) >> 2)
			}
		}
	default: // h2v2_fancy_upsample
		colsum := make([]int32, cw)
		for y := range h {
			cy := y / 2
			nb := max(cy-1, 0) // the row above for even rows, replicated at the top
			if y%2 == 1 {
				nb = min(cy+1, ch-1) // the row below for odd rows, replicated at the bottom
			}
			near, far := row(cy), row(nb)
			for cx := range colsum {
				colsum[cx] = int32(near[cx])*3 + int32(far[cx])
			}
			o := out[y*w : (y+1)*w]
			for x := range o {
				cx := x / 2
				switch {
				case x%2 == 0 && cx == 0:
					o[x] = uint8((colsum[0]*4 + 8) >> 4)
				case x%2 == 0:
					o[x] = uint8((colsum[cx]*3 + colsum[cx-1] + 8) >> 4)
				case cx == cw-1:
					o[x] = uint8((colsum[cx]*4 + 7) >> 4)
				default:
					o[x] = uint8((colsum[cx]*3 + colsum[cx+1] + 7) >> 4)
				}
			}
		}
	}
	return out
}
