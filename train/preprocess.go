package train

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/onnx"
	"github.com/onnxtune/onnxtune/tensor"
)

// PixelLayout is how an embedded-preprocessing input lays out an image batch's uint8 pixels.
type PixelLayout string

// The layouts: channels first, as PyTorch's tensors, or last, as decoded images and most
// serving stacks hold them.
const (
	NCHW PixelLayout = "nchw"
	NHWC PixelLayout = "nhwc"
)

// ParsePixelLayout reads a layout name (either case).
func ParsePixelLayout(s string) (PixelLayout, error) {
	switch l := PixelLayout(strings.ToLower(strings.TrimSpace(s))); l {
	case NCHW, NHWC:
		return l, nil
	}
	return "", fmt.Errorf("train: pixel layout %q: want nchw or nhwc", s)
}

// preprocessPrefix begins the names of the nodes and initializers EmbedPreprocessing adds.
const preprocessPrefix = "onnxtune_preprocess/"

// PixelInput is the input name EmbedPreprocessing gives the model (with a suffix if taken).
const PixelInput = "pixels"

// Preprocessing is the input a model with embedded preprocessing takes, and what it computes
// from it.
type Preprocessing struct {
	Input      graph.ValueInfo // uint8 pixels, [N, C, H, W] or [N, H, W, C]
	Layout     PixelLayout
	Replaces   string    // the float input it computes
	Mean, Std  []float32 // nil for none
	inputShape []int     // [C, H, W]
}

// EmbedPreprocessing returns a copy of g whose (only) input takes uint8 pixels in layout and
// computes g's float input from them as t does after resizing and cropping: each value divided
// by 255, then (x - mean) / std per channel with t's normalisation (ImageNet's by default for
// three channels). A serving stack then feeds the resized image's bytes. g is not modified;
// the copy shares its nodes and tensors.
func EmbedPreprocessing(g *graph.Graph, t data.ImageTransform, layout PixelLayout) (*graph.Graph, *Preprocessing, error) {
	if len(g.Inputs) != 1 {
		return nil, nil, fmt.Errorf("train: embed preprocessing: the model has %d inputs; want one image input", len(g.Inputs))
	}
	in := g.Inputs[0]
	s := in.Shape
	if len(s) != 4 || s[1].Size <= 0 || s[2].Size <= 0 || s[3].Size <= 0 || in.DType != tensor.Float32 {
		return nil, nil, fmt.Errorf("train: embed preprocessing: input %q is %v %v; want float32 [N, C, H, W] with C, H and W fixed", in.Name, in.DType, in.ShapeString())
	}
	if opset := g.Opset(); opset < 7 {
		return nil, nil, fmt.Errorf("train: embed preprocessing: the model imports opset %d; preprocessing is written for opset 7 and later", opset)
	}
	t.Channels, t.Height, t.Width = s[1].Size, s[2].Size, s[3].Size
	mean, std, err := t.Normalization()
	if err != nil {
		return nil, nil, fmt.Errorf("train: embed preprocessing: %w", err)
	}
	c := *g
	c.Nodes, c.Inputs = slices.Clone(g.Nodes), slices.Clone(g.Inputs)
	names := c.Namer()
	p := &Preprocessing{Layout: layout, Replaces: in.Name, Mean: mean, Std: std, inputShape: []int{s[1].Size, s[2].Size, s[3].Size}}
	p.Input = graph.ValueInfo{Name: names.Fresh(PixelInput), DType: tensor.Uint8, Shape: []graph.Dim{s[0], s[1], s[2], s[3]}}
	if layout == NHWC {
		p.Input.Shape = []graph.Dim{s[0], s[2], s[3], s[1]}
	}
	var nodes []*graph.Node
	x := p.Input.Name
	step := func(op string, attrs map[string]graph.Attr, inputs ...string) {
		out := names.Fresh(preprocessPrefix + op + "_out")
		nodes = append(nodes, &graph.Node{Name: names.Fresh(preprocessPrefix + op), OpType: op, Inputs: append([]string{x}, inputs...), Outputs: []string{out}, Attrs: attrs})
		x = out
	}
	constant := func(name string, v *tensor.Tensor) string { // a node: an initializer would be trained
		out := names.Fresh(preprocessPrefix + name)
		n := constantNode(out, v)
		n.Name = names.Fresh(preprocessPrefix + "Constant")
		nodes = append(nodes, n)
		return out
	}
	if layout == NHWC {
		step("Transpose", map[string]graph.Attr{"perm": {Type: graph.AttrInts, Ints: []int64{0, 3, 1, 2}}})
	}
	step("Cast", map[string]graph.Attr{"to": {Type: graph.AttrInt, Int: int64(onnx.TensorProto_FLOAT)}})
	step("Div", nil, constant("scale", tensor.Scalar(float32(255))))
	if mean != nil {
		perChannel := []int{1, len(mean), 1, 1}
		step("Sub", nil, constant("mean", tensor.From(perChannel, slices.Clone(mean))))
		step("Div", nil, constant("std", tensor.From(perChannel, slices.Clone(std))))
	}
	nodes[len(nodes)-1].Outputs[0] = in.Name
	if err := c.PrependInput(in.Name, p.Input, nodes...); err != nil {
		return nil, nil, fmt.Errorf("train: embed preprocessing: %w", err)
	}
	return &c, p, nil
}

// Metadata is what the model records of its preprocessing, under MetadataPrefix.
func (p *Preprocessing) Metadata() map[string]string {
	floats := func(v []float32) string {
		if v == nil {
			return "none"
		}
		s := make([]string, len(v))
		for i, x := range v {
			s[i] = metaFloat(float64(x))
		}
		return strings.Join(s, ",")
	}
	return map[string]string{
		MetadataPrefix + "pixel_input":  p.Input.Name,
		MetadataPrefix + "pixel_layout": string(p.Layout),
		MetadataPrefix + "pixel_mean":   floats(p.Mean),
		MetadataPrefix + "pixel_std":    floats(p.Std),
		MetadataPrefix + "pixel_feeds":  p.Replaces,
		MetadataPrefix + "preprocessing": fmt.Sprintf("uint8 %s pixels of the image resized and cropped to %dx%d, divided by 255, then (x - mean) / std per channel; feeds %q",
			strings.ToUpper(string(p.Layout)), p.inputShape[1], p.inputShape[2], p.Replaces),
	}
}

// Sample returns n random pixel images for the input, fixed by seed: what a model with the
// preprocessing embedded is checked on.
func (p *Preprocessing) Sample(n int, seed uint64) map[string]*tensor.Tensor {
	c, h, w := p.inputShape[0], p.inputShape[1], p.inputShape[2]
	shape := []int{n, c, h, w}
	if p.Layout == NHWC {
		shape = []int{n, h, w, c}
	}
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b9))
	v := make([]uint8, tensor.Size(shape))
	for i := range v {
		v[i] = uint8(rng.IntN(256))
	}
	return map[string]*tensor.Tensor{p.Input.Name: tensor.From(shape, v)}
}

// ImportForData imports m for feeding it onnxtune's data and fitting it: a model written with
// its preprocessing embedded gets its float input back (Unembed; the preprocessing it carried
// is returned, nil for none), and one carrying a decision loses it (the metadata still
// records it: ReadRecorded), since tuning or calibrating the model again refits it. A batch
// dimension the file fixes at a number becomes symbolic where the graph computes the same
// for any batch (relaxBatch); CheckBatch says what batches a graph that bakes it in takes.
func ImportForData(m *onnx.Model) (*graph.Graph, *Preprocessing, error) {
	return importFor(m, true)
}

// ImportForScoring is ImportForData keeping the decision the model carries: its calibrated
// probability and decision outputs are what predict reports.
func ImportForScoring(m *onnx.Model) (*graph.Graph, *Preprocessing, error) {
	return importFor(m, false)
}

func importFor(m *onnx.Model, withoutDecision bool) (*graph.Graph, *Preprocessing, error) {
	g, err := onnx.Import(m)
	if err != nil {
		return nil, nil, err
	}
	if withoutDecision {
		if g, err = dropDecision(m, g); err != nil {
			return nil, nil, err
		}
	}
	g, pre, err := Unembed(m, g)
	if err != nil {
		return nil, nil, err
	}
	relaxBatch(g)
	return g, pre, nil
}

// Unembed returns g, imported from m, without the preprocessing EmbedPreprocessing wrote into
// it: the nodes and constants it added removed and the float input they computed a graph input
// again, with the preprocessing as m's metadata records it. A model without one is returned
// as it is, with a nil Preprocessing.
func Unembed(m *onnx.Model, g *graph.Graph) (*graph.Graph, *Preprocessing, error) {
	meta := OwnMetadata(m)
	key := func(k string) string { return meta[MetadataPrefix+k] }
	if key("pixel_input") == "" {
		return g, nil, nil
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("train: the model's embedded preprocessing: %s", fmt.Sprintf(format, args...))
	}
	layout, err := ParsePixelLayout(key("pixel_layout"))
	if err != nil {
		return nil, nil, bad("%v", err)
	}
	p := &Preprocessing{Layout: layout, Replaces: key("pixel_feeds")}
	if p.Replaces == "" {
		return nil, nil, bad("%spixel_feeds does not name the value the pixels feed", MetadataPrefix)
	}
	for _, f := range []struct {
		key string
		dst *[]float32
	}{{"pixel_mean", &p.Mean}, {"pixel_std", &p.Std}} {
		if v := key(f.key); v != "none" {
			for _, x := range strings.Split(v, ",") {
				y, err := strconv.ParseFloat(x, 32)
				if err != nil {
					return nil, nil, bad("%s%s %q is not a list of numbers", MetadataPrefix, f.key, v)
				}
				*f.dst = append(*f.dst, float32(y))
			}
		}
	}
	at := slices.IndexFunc(g.Inputs, func(v graph.ValueInfo) bool { return v.Name == key("pixel_input") })
	if at < 0 || len(g.Inputs) != 1 || len(g.Inputs[0].Shape) != 4 {
		return nil, nil, bad("no 4-dimensional input %q", key("pixel_input"))
	}
	p.Input = g.Inputs[0]
	s := p.Input.Shape
	if layout == NHWC {
		s = []graph.Dim{s[0], s[3], s[1], s[2]}
	}
	p.inputShape = []int{s[1].Size, s[2].Size, s[3].Size}
	c := *g
	c.Inputs = []graph.ValueInfo{{Name: p.Replaces, DType: tensor.Float32, Shape: s}}
	c.Nodes = slices.DeleteFunc(slices.Clone(g.Nodes), func(n *graph.Node) bool { return strings.HasPrefix(n.Name, preprocessPrefix) })
	for _, n := range c.Nodes {
		for _, in := range n.Inputs {
			if in == p.Input.Name || strings.HasPrefix(in, preprocessPrefix) {
				return nil, nil, bad("node %s still reads %q", n, in)
			}
		}
	}
	return &c, p, nil
}

// Defaults returns mean and std, or where neither is given the preprocessing's: what a model
// with embedded preprocessing was given its images with.
func (p *Preprocessing) Defaults(mean, std []float32) ([]float32, []float32) {
	if p == nil || mean != nil || std != nil {
		return mean, std
	}
	return p.Mean, p.Std
}
