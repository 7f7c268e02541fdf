package backprop_test

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/onnxtune/onnxtune/backprop"
	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/tensor"
)

// ONNX element type codes for Cast's to attribute.
const (
	tensorCastFloat   = 1
	tensorCastInt32   = 6
	tensorCastFloat16 = 10
	tensorCastDouble  = 11
)

func tensorCast(in, out string, to int64) *graph.Node {
	return shapeNode("Cast", []string{in}, []string{out}, map[string]graph.Attr{"to": shapeAttrInt(to)})
}

// TestTensorVJPFiniteDifferences checks Identity, Cast and inference-mode Dropout against
// central differences: float64 where the values are float64, and float32 (with the default
// step of 1e-2, which leaves float32 rounding far below the tolerance) for the casts from it.
func TestTensorVJPFiniteDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 52))
	x64 := func(shape ...int) map[string]*tensor.Tensor {
		return map[string]*tensor.Tensor{"x": shapeRand(rng, tensor.Float64, shape...)}
	}
	wx := []string{"x"}
	shapeCheckFD(t, []shapeCase{
		{
			name: "Identity", opset: 16,
			nodes: []*graph.Node{shapeNode("Identity", []string{"x"}, []string{"y"}, nil)},
			feeds: x64(2, 3), wrt: wx,
		},
		{
			name: "Cast/same-type", opset: 13,
			nodes: []*graph.Node{tensorCast("x", "y", tensorCastDouble)},
			feeds: x64(2, 3), wrt: wx,
		},
		{
			// Concatenating x itself makes Dropout's gradient meet the direct one.
			name: "Dropout/inference-ratio-input", opset: 13,
			nodes: []*graph.Node{
				shapeNode("Dropout", []string{"x", "r", "m"}, []string{"d", "mask"}, nil),
				shapeNode("Concat", []string{"d", "x"}, []string{"y"}, map[string]graph.Attr{"axis": shapeAttrInt(0)}),
			},
			feeds:  x64(2, 3),
			consts: map[string]*tensor.Tensor{"r": tensor.Scalar(0.5), "m": tensor.Scalar(true)},
			wrt:    wx,
		},
		{
			name: "Dropout/inference-attribute", opset: 7,
			nodes: []*graph.Node{shapeNode("Dropout", []string{"x"}, []string{"y"}, map[string]graph.Attr{"ratio": {Type: graph.AttrFloat, Float: 0.3}})},
			feeds: x64(4), wrt: wx,
		},
	})
	for _, to := range []int64{tensorCastDouble, tensorCastFloat} {
		c := shapeCase{
			name: "Cast/from-float32", opset: 13,
			nodes: []*graph.Node{tensorCast("x", "y", to)},
			feeds: map[string]*tensor.Tensor{"x": shapeRand(rng, tensor.Float32, 3, 4)}, wrt: wx,
		}
		res, err := backprop.Check(c.plan(t), c.feeds, c.wrt, backprop.CheckOptions{Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		if r := res[0]; r.RelErr > 1e-4 {
			t.Errorf("Cast float32 to %d: relative error %g, want <= 1e-4", to, r.RelErr)
		}
	}
}

// TestCastGradientDType: the gradient comes back in the input's dtype, the output gradient
// converted (exactly here: every float16 value is a float64 one); a cast to an integer type
// passes none, so only the other path's gradient arrives.
func TestCastGradientDType(t *testing.T) {
	rng := rand.New(rand.NewPCG(53, 54))
	c := shapeCase{
		name: "Cast", opset: 13,
		nodes: []*graph.Node{
			tensorCast("x", "h", tensorCastFloat16),
			tensorCast("x", "i", tensorCastInt32),
			tensorCast("i", "f", tensorCastDouble),
		},
		feeds:   map[string]*tensor.Tensor{"x": shapeRand(rng, tensor.Float64, 2, 3)},
		outputs: []string{"h", "f"},
		wrt:     []string{"x"},
	}
	prog, err := backprop.NewProgram(c.plan(t), c.wrt)
	if err != nil {
		t.Fatal(err)
	}
	tape, err := prog.Forward(nil, c.feeds)
	if err != nil {
		t.Fatal(err)
	}
	seedH := shapeRand(rng, tensor.Float16, 2, 3)
	seedF := shapeRand(rng, tensor.Float64, 2, 3)
	grads, err := tape.Backward(map[string]*tensor.Tensor{"h": seedH, "f": seedF})
	if err != nil {
		t.Fatal(err)
	}
	want, err := tensor.CastTensor(nil, seedH, tensor.Float64)
	if err != nil {
		t.Fatal(err)
	}
	shapeClose(t, "d/dx", grads["x"], want, 0)
}

// TestTensorVJPMatchesPyTorch compares Identity and Cast with PyTorch autograd (Tensor.to
// casts the gradient back), and training-mode Dropout with the backward function PyTorch's
// autograd applies to dropout, native_dropout_backward(grad, mask, 1/(1-p)) (0 for p = 1),
// given the mask the Go forward pass drew.
func TestTensorVJPMatchesPyTorch(t *testing.T) {
	rng := rand.New(rand.NewPCG(55, 56))
	x32 := func(shape ...int) map[string]*tensor.Tensor {
		return map[string]*tensor.Tensor{"x": shapeRandAway(rng, tensor.Float32, shape...)}
	}
	wx := []string{"x"}
	seed := map[string]graph.Attr{"seed": shapeAttrInt(7)}
	dropout13 := func(name string, ratio float32, mode bool, outputs ...string) shapeCase {
		return shapeCase{
			name: name, opset: 13,
			nodes:  []*graph.Node{shapeNode("Dropout", []string{"x", "r", "m"}, outputs, seed)},
			feeds:  x32(4, 50),
			consts: map[string]*tensor.Tensor{"r": tensor.Scalar(ratio), "m": tensor.Scalar(mode)},
			wrt:    wx,
		}
	}
	backward := func(p float64) string {
		scale := "0.0"
		if p < 1 {
			scale = fmt.Sprintf("1 / (1 - np.float32(%v))", p)
		}
		return `mask = torch.from_numpy(np.load(dir + "/mask.npy")).bool()
grads = {"x": torch.ops.aten.native_dropout_backward(seeds["y"], mask, float(` + scale + `))}`
	}
	cases := []shapeCase{
		{
			name: "Identity", opset: 14,
			nodes: []*graph.Node{shapeNode("Identity", []string{"x"}, []string{"y"}, nil)},
			feeds: x32(3, 4), wrt: wx,
			torch: "ys = [torch.nn.Identity()(x)]",
		},
		{
			name: "Cast-to-double", opset: 13,
			nodes: []*graph.Node{tensorCast("x", "y", tensorCastDouble)},
			feeds: x32(3, 4), wrt: wx,
			torch: "ys = [x.double()]",
		},
		{
			name: "Cast-to-float", opset: 13,
			nodes: []*graph.Node{tensorCast("x", "y", tensorCastFloat)},
			feeds: map[string]*tensor.Tensor{"x": shapeRand(rng, tensor.Float64, 3, 4)}, wrt: wx,
			torch: "ys = [x.float()]",
		},
		tensorWithTorch(dropout13("Dropout-mask-output", 0.3, true, "y", "mask"), backward(0.3)),
		tensorWithTorch(dropout13("Dropout-no-mask-output", 0.3, true, "y"), backward(0.3)),
		tensorWithTorch(dropout13("Dropout-ratio-1", 1, true, "y"), backward(1)),
		tensorWithTorch(dropout13("Dropout-training-mode-false", 0.3, false, "y"), `grads = {"x": seeds["y"]}`),
		tensorWithTorch(shapeCase{
			name: "Dropout-opset7-float-mask", opset: 7,
			nodes: []*graph.Node{shapeNode("Dropout", []string{"x"}, []string{"y", "mask"}, map[string]graph.Attr{
				"seed": shapeAttrInt(7), "ratio": {Type: graph.AttrFloat, Float: 0.25}})},
			feeds: x32(4, 50), wrt: wx,
		}, backward(0.25)),
	}
	// The mask the Go forward pass drew, from a twin of the node that outputs it: a fresh plan
	// of a seeded Dropout draws the same mask on its first run.
	saveMask := func(t *testing.T, c shapeCase, tape *backprop.Tape, dir string) {
		n := c.nodes[len(c.nodes)-1]
		if n.OpType != "Dropout" {
			return
		}
		twin := c
		tn := *n
		tn.Outputs = []string{"y", "mask"}
		twin.nodes = []*graph.Node{&tn}
		out, err := twin.plan(t).Run(&graph.Context{Training: true}, c.feeds)
		if err != nil {
			t.Fatal(err)
		}
		if m := tape.Outputs()["mask"]; m != nil {
			shapeClose(t, c.name+" replayed mask", out["mask"], m, 0)
		}
		kept := 0
		for i := 0; i < out["mask"].Len(); i++ {
			if out["mask"].Float64At(i) != 0 {
				kept++
			}
		}
		if kept == 0 && c.name != "Dropout-ratio-1" || kept == out["mask"].Len() && c.name != "Dropout-training-mode-false" {
			t.Errorf("%s: %d of %d kept: the forward pass did not train", c.name, kept, out["mask"].Len())
		}
		if err := data.SaveNPY(filepath.Join(dir, "mask.npy"), out["mask"]); err != nil {
			t.Fatal(err)
		}
	}
	shapeCompareTorch(t, &graph.Context{Training: true}, cases, saveMask)
}

func tensorWithTorch(c shapeCase, code string) shapeCase {
	c.torch = code
	return c
}
