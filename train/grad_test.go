package train_test

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxtune/onnxtune/backprop"
	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/loss"
	"github.com/onnxtune/onnxtune/onnx"
	"github.com/onnxtune/onnxtune/tensor"
	"github.com/onnxtune/onnxtune/train"
)

// twoHeads loads testdata/models/two_heads.onnx (outputs logits [2, 5] and box [2, 4]) with
// its recorded input and the expression targets of loss/testdata/regression.npz.
func twoHeads(t *testing.T) (*graph.Plan, map[string]*tensor.Tensor, map[string]*tensor.Tensor) {
	t.Helper()
	m, err := onnx.Load(fixture.Small(t, "two_heads.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := onnx.Import(m)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := graph.NewPlan(g)
	if err != nil {
		t.Fatal(err)
	}
	io, _, err := data.LoadNPZ(fixture.Small(t, "two_heads.io.npz"))
	if err != nil {
		t.Fatal(err)
	}
	ref, _, err := data.LoadNPZ(filepath.Join(fixture.Root(t), "loss", "testdata", "regression.npz"))
	if err != nil {
		t.Fatal(err)
	}
	return plan, map[string]*tensor.Tensor{g.Inputs[0].Name: io["x"]}, ref
}

func compute(t *testing.T, plan *graph.Plan, spec string, p loss.Params, inputs, targets map[string]*tensor.Tensor) (float64, map[string]*tensor.Tensor) {
	t.Helper()
	e, err := loss.ParseExpr(spec, p)
	if err != nil {
		t.Fatal(err)
	}
	g, err := train.NewGradients(plan, train.Objective{Expr: e}, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, grads, err := g.Compute(nil, inputs, targets, loss.Labels{})
	if err != nil {
		t.Fatalf("%s: %v", spec, err)
	}
	return v.Value, grads
}

// TestGradientsExpressionTorch: a weighted expression over both outputs, with class weights,
// label smoothing and l2, against PyTorch autograd.
func TestGradientsExpressionTorch(t *testing.T) {
	plan, inputs, ref := twoHeads(t)
	targets := map[string]*tensor.Tensor{"logits": ref["two_heads/target_logits"], "box": ref["two_heads/target_box"]}
	spec := "cross-entropy(label_smoothing=0.1)@logits + 0.5*smooth-l1(beta=0.5)@box + 1e-3*l2"
	v, grads := compute(t, plan, spec, loss.Params{ClassWeights: []float64{0.5, 1, 2, 1, 3}}, inputs, targets)
	if want := ref["two_heads/ce_weighted_l2/loss"].Float64At(0); math.Abs(v-want) > 1e-5*math.Abs(want) {
		t.Errorf("loss %.8g, PyTorch %.8g", v, want)
	}
	for _, name := range backprop.Trainable(plan.Graph) {
		if rel := fixture.RelDiffTensors(grads[name], ref["two_heads/ce_weighted_l2/grad/"+name]); rel > 1e-4 {
			t.Errorf("gradient of %s is %.3g relative from PyTorch's", name, rel)
		}
	}
}

// TestGradientsLinear: weights scale values and gradients, terms on one output add, and l2
// adds weight*w to each gradient and weight*0.5*|w|^2 to the value.
func TestGradientsLinear(t *testing.T) {
	plan, inputs, ref := twoHeads(t)
	targets := map[string]*tensor.Tensor{"logits": ref["two_heads/target_logits_float"], "box": ref["two_heads/target_box"]}
	v1, g1 := compute(t, plan, "mse", loss.Params{}, inputs, targets)
	v2, g2 := compute(t, plan, "0.5*mse@logits + 2*mse", loss.Params{}, inputs, targets)
	if math.Abs(v2-2.5*v1) > 1e-9*math.Abs(v1) {
		t.Errorf("0.5*mse + 2*mse = %v, 2.5*mse = %v", v2, 2.5*v1)
	}
	const wd = 0.1
	v3, g3 := compute(t, plan, "mse + 0.1*l2", loss.Params{}, inputs, targets)
	var sq float64
	for _, name := range backprop.Trainable(plan.Graph) {
		w := plan.Graph.Initializers[name]
		scaled := tensor.New(tensor.Float32, g1[name].Shape()...)
		decayed := tensor.New(tensor.Float32, g1[name].Shape()...)
		for i := 0; i < w.Len(); i++ {
			sq += w.Float64At(i) * w.Float64At(i)
			scaled.Float32s()[i] = float32(2.5 * g1[name].Float64At(i))
			decayed.Float32s()[i] = float32(g1[name].Float64At(i) + wd*w.Float64At(i))
		}
		if rel := fixture.RelDiffTensors(g2[name], scaled); rel > 1e-6 {
			t.Errorf("gradient of %s under 0.5*mse + 2*mse is %.3g from 2.5 times mse's", name, rel)
		}
		if rel := fixture.RelDiffTensors(g3[name], decayed); rel > 1e-6 {
			t.Errorf("gradient of %s under mse + 0.1*l2 is %.3g from mse's + 0.1*w", name, rel)
		}
	}
	if want := v1 + wd*0.5*sq; math.Abs(v3-want) > 1e-9*want {
		t.Errorf("mse + 0.1*l2 = %v, want %v", v3, want)
	}
	// A term on box leaves the logits head's gradient at zero and reaches box's.
	_, g4 := compute(t, plan, "huber@box", loss.Params{}, inputs, targets)
	if fixture.RelDiffTensors(g4["cls.weight"], tensor.New(tensor.Float32, 5, 16)) != 0 || fixture.RelDiffTensors(g4["box.weight"], tensor.New(tensor.Float32, 4, 16)) == 0 {
		t.Errorf("huber@box: cls.weight gradient %v, box.weight %v", g4["cls.weight"].Float32s()[:3], g4["box.weight"].Float32s()[:3])
	}
}

// TestGradientsErrors: what NewGradients and Compute refuse, each saying which term.
func TestGradientsErrors(t *testing.T) {
	plan, inputs, ref := twoHeads(t)
	e, _ := loss.ParseExpr("cross-entropy@logits + 0.5*huber@box", loss.Params{})
	g, err := train.NewGradients(plan, train.Objective{Expr: e}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(g.Outputs(), ","); got != "logits,box" {
		t.Errorf("Outputs() = %s, want logits,box", got)
	}
	_, _, err = g.Compute(nil, inputs, map[string]*tensor.Tensor{"logits": ref["two_heads/target_logits"]}, loss.Labels{})
	if err == nil || !strings.Contains(err.Error(), `term "0.5*huber@box" on output "box": no target was given for it`) {
		t.Errorf("missing box target: %v", err)
	}
	_, _, err = g.Compute(nil, inputs, map[string]*tensor.Tensor{"logits": ref["two_heads/target_logits"], "box": tensor.New(tensor.Float32, 2)}, loss.Labels{})
	if err == nil || !strings.Contains(err.Error(), `term "0.5*huber@box" on output "box": loss huber: target shape [2]`) {
		t.Errorf("box target of the wrong shape: %v", err)
	}
	for spec, want := range map[string]string{
		"mse@nope":    `train: term "mse@nope": the model has no output "nope" (its outputs: logits, box)`,
		"1e-4*l2":     "has no term on a model output",
		"mse + 1*l2 ": "",
	} {
		e, err := loss.ParseExpr(spec, loss.Params{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = train.NewGradients(plan, train.Objective{Expr: e}, nil)
		if (err == nil) != (want == "") || err != nil && !strings.Contains(err.Error(), want) {
			t.Errorf("NewGradients(%q): %v, want %q", spec, err, want)
		}
	}
}
