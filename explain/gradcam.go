// Package explain shows where a model looks: Grad-CAM class-activation maps (Selvaraju et al.
// 2017), computed with the engine's own backward passes, and their overlay on the image.
package explain

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/onnxtune/onnxtune/backprop"
	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/tensor"
)

// Options says what GradCAM explains.
type Options struct {
	// Layer is the feature map: a value of the graph, or a node (its first output). "" picks
	// the last convolutional feature map (LastFeatureMap).
	Layer string
	// Class is the class whose score is explained; -1 means the predicted one (the arg-max; a
	// one-logit output's logit is its only score).
	Class int
	// Output is the graph output holding the class scores (logits); "" for the first.
	Output string
}

// Result is a Grad-CAM of one image.
type Result struct {
	// Layer is the value the map was taken at; Class the class explained and Score its score
	// (the logit, before any softmax).
	Layer string
	Class int
	Score float64
	// CAM is relu(sum_k alpha_k A_k) at the feature map A [K, h, w], alpha_k the spatial mean
	// of d Score / d A_k: [h, w].
	CAM *tensor.Tensor
	// Heat is CAM upsampled to the image's height and width as PyTorch's
	// F.interpolate(mode="bilinear", align_corners=False) does, divided by its maximum (all
	// zeros when the map is): [H, W], in [0, 1].
	Heat *tensor.Tensor
}

// shapeKeeping are the operators that LastFeatureMap follows past a Conv: they keep the
// feature map's shape (activations, normalisation, residual adds).
var shapeKeeping = []string{"Relu", "LeakyRelu", "PRelu", "Elu", "Selu", "Sigmoid", "HardSigmoid", "HardSwish",
	"Tanh", "Clip", "BatchNormalization", "InstanceNormalization", "Add", "Mul", "Identity", "Dropout"}

// LastFeatureMap returns the last convolutional feature map of g: the output of its last Conv
// node, followed forward through the shape-keeping operators after it (the activation,
// BatchNorm, a residual Add), as a PyTorch Grad-CAM hooks the last convolutional block.
func LastFeatureMap(g *graph.Graph) (string, error) {
	value := ""
	for _, n := range g.Nodes {
		if n.OpType == "Conv" && n.Domain == "" {
			value = n.Outputs[0]
		}
	}
	if value == "" {
		return "", fmt.Errorf("explain: the model has no Conv node; name the feature map with --layer")
	}
	for {
		next := ""
		for _, n := range g.Nodes {
			if n.Domain == "" && slices.Contains(shapeKeeping, n.OpType) && slices.Contains(n.Inputs, value) {
				next = n.Outputs[0]
				break
			}
		}
		if next == "" {
			return value, nil
		}
		value = next
	}
}

// layerValue resolves Options.Layer to a value name.
func layerValue(g *graph.Graph, layer string) (string, error) {
	if layer == "" {
		return LastFeatureMap(g)
	}
	for _, n := range g.Nodes {
		if slices.Contains(n.Outputs, layer) {
			return layer, nil
		}
	}
	for _, n := range g.Nodes {
		if n.Name == layer && len(n.Outputs) > 0 {
			return n.Outputs[0], nil
		}
	}
	return "", fmt.Errorf("explain: the model has no node or value %q; feature maps near its end: %s", layer, strings.Join(lastMaps(g, 4), ", "))
}

// lastMaps names up to n of g's last Conv and shape-keeping nodes (activations, normalisation,
// residual adds), the usual choices of a feature map, for an error to suggest.
func lastMaps(g *graph.Graph, n int) []string {
	var names []string
	for _, node := range g.Nodes {
		if node.Domain != "" || len(node.Outputs) == 0 || (node.OpType != "Conv" && !slices.Contains(shapeKeeping, node.OpType)) {
			continue
		}
		name := node.Name
		if name == "" {
			name = node.Outputs[0]
		}
		names = append(names, name)
	}
	if len(names) == 0 {
		return []string{"none (no Conv or activation nodes)"}
	}
	return names[max(0, len(names)-n):]
}

// GradCAM computes the Grad-CAM of one image x [1, C, H, W] under g, in inference mode.
func GradCAM(g *graph.Graph, x *tensor.Tensor, opt Options) (*Result, error) {
	if len(g.Inputs) != 1 || len(g.Outputs) == 0 {
		return nil, fmt.Errorf("explain: the model has %d inputs and %d outputs; Grad-CAM needs one image input and a scores output", len(g.Inputs), len(g.Outputs))
	}
	if s := x.Shape(); len(s) != 4 || s[0] != 1 {
		return nil, fmt.Errorf("explain: input %v; want one image [1, C, H, W]", x)
	}
	layer, err := layerValue(g, opt.Layer)
	if err != nil {
		return nil, err
	}
	output := opt.Output
	if output == "" {
		output = g.Outputs[0].Name
	}
	if !slices.ContainsFunc(g.Outputs, func(v graph.ValueInfo) bool { return v.Name == output }) {
		return nil, fmt.Errorf("explain: the model has no output %q", output)
	}
	// The feature map becomes an output too, so that the forward pass returns it.
	c := *g
	c.Outputs = append(slices.Clone(g.Outputs), graph.ValueInfo{Name: layer})
	plan, err := graph.NewPlan(&c)
	if err != nil {
		return nil, fmt.Errorf("explain: %w", err)
	}
	prog, err := backprop.NewProgramFor(plan, []string{layer}, []string{output})
	if err != nil {
		return nil, fmt.Errorf("explain: the scores %q do not depend on %q: %w", output, layer, err)
	}
	tape, err := prog.Forward(nil, map[string]*tensor.Tensor{g.Inputs[0].Name: x})
	if err != nil {
		return nil, err
	}
	outs := tape.Outputs()
	z, a := outs[output], outs[layer]
	if s := a.Shape(); len(s) != 4 || s[0] != 1 {
		return nil, fmt.Errorf("explain: the feature map %q is %v; want [1, K, h, w]", layer, a)
	}
	scores := z.ToFloat64s()
	class := opt.Class
	switch {
	case class < 0:
		class = max(0, slices.Index(scores, slices.Max(scores)))
	case class >= len(scores):
		return nil, fmt.Errorf("explain: class %d is out of range: the output %q has %d scores (classes 0 to %d)", class, output, len(scores), len(scores)-1)
	}
	seed := make([]float64, len(scores))
	seed[class] = 1
	grads, err := tape.Backward(map[string]*tensor.Tensor{output: tensor.FromFloat64s(z.DType(), z.Shape(), seed)})
	if err != nil {
		return nil, err
	}
	s := a.Shape()
	k, h, w := s[1], s[2], s[3]
	av, gv := a.ToFloat64s(), grads[layer].ToFloat64s()
	cam := make([]float64, h*w)
	for ch := range k {
		var alpha float64
		for _, v := range gv[ch*h*w : (ch+1)*h*w] {
			alpha += v
		}
		alpha /= float64(h * w)
		for p := range cam {
			cam[p] += alpha * av[ch*h*w+p]
		}
	}
	for p, v := range cam {
		cam[p] = math.Max(v, 0)
	}
	height, width := x.Shape()[2], x.Shape()[3]
	heat := bilinear(cam, h, w, height, width)
	if top := slices.Max(heat); top > 0 {
		for i := range heat {
			heat[i] /= top
		}
	}
	return &Result{
		Layer: layer, Class: class, Score: scores[class],
		CAM:  tensor.FromFloat64s(tensor.Float32, []int{h, w}, cam),
		Heat: tensor.FromFloat64s(tensor.Float32, []int{height, width}, heat),
	}, nil
}

// bilinear resizes an h x w map to oh x ow as F.interpolate(mode="bilinear",
// align_corners=False): output pixel i samples the input at (i + 0.5) * h / oh - 0.5, clamped
// at 0, between its two neighbours.
func bilinear(src []float64, h, w, oh, ow int) []float64 {
	type tap struct {
		lo, hi int
		f      float64
	}
	taps := func(in, out int) []tap {
		t := make([]tap, out)
		scale := float64(in) / float64(out)
		for i := range t {
			p := math.Max((float64(i)+0.5)*scale-0.5, 0)
			lo := min(int(p), in-1)
			t[i] = tap{lo, min(lo+1, in-1), p - float64(lo)}
		}
		return t
	}
	ty, tx := taps(h, oh), taps(w, ow)
	out := make([]float64, oh*ow)
	for i, y := range ty {
		for j, x := range tx {
			top := src[y.lo*w+x.lo]*(1-x.f) + src[y.lo*w+x.hi]*x.f
			bottom := src[y.hi*w+x.lo]*(1-x.f) + src[y.hi*w+x.hi]*x.f
			out[i*ow+j] = top*(1-y.f) + bottom*y.f
		}
	}
	return out
}
