package loss_test

import (
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/loss"
	"github.com/onnxtune/onnxtune/tensor"
)

// regCase is one entry of the "cases" list of regression.npz (written by gen_regression.py).
type regCase struct {
	Name         string            `json:"name"`
	Loss         string            `json:"loss"`
	Opts         map[string]string `json:"opts"`
	ClassWeights []float64         `json:"class_weights"`
	Spec         string            `json:"spec"`
	Extreme      bool              `json:"extreme"`
}

// regLoad reads an .npz of loss references and its "cases" list.
func regLoad(t *testing.T, path string) (map[string]*tensor.Tensor, []regCase) {
	t.Helper()
	arrays, _, err := data.LoadNPZ(path)
	if err != nil {
		t.Fatal(err)
	}
	var cases []regCase
	if raw, ok := arrays["cases"]; ok {
		if err := json.Unmarshal(tensor.Data[uint8](raw), &cases); err != nil {
			t.Fatalf("%s: cases: %v", path, err)
		}
	}
	return arrays, cases
}

// regClose reports whether got is within 1e-5 of want relative to want's 2-norm, with an
// absolute floor of 1e-7 for zero references, and says by how much otherwise.
func regClose(got, want *tensor.Tensor) (bool, float64) {
	// A scalar reference may come back from the .npz as [1].
	scalars := got != nil && got.Len() == 1 && want.Len() == 1
	if got == nil || !scalars && !tensor.EqualShapes(got.Shape(), want.Shape()) {
		return false, math.Inf(1)
	}
	var d, n float64
	for i := 0; i < got.Len(); i++ {
		g, w := got.Float64At(i), want.Float64At(i)
		d += (g - w) * (g - w)
		n += w * w
	}
	d, n = math.Sqrt(d), math.Sqrt(n)
	if n == 0 {
		return d <= 1e-7, d
	}
	return d <= math.Max(1e-5*n, 1e-7), d / n
}

func regBuild(t *testing.T, c regCase, red string) loss.Loss {
	t.Helper()
	opts := map[string]string{"reduction": red}
	for k, v := range c.Opts {
		opts[k] = v
	}
	l, err := loss.Build(c.Loss, opts, loss.Params{ClassWeights: c.ClassWeights})
	if err != nil {
		t.Fatalf("%s: Build(%s, %v): %v", c.Name, c.Loss, opts, err)
	}
	return l
}

// TestRegressionTorch compares every case of regression.npz with PyTorch: value and gradient
// with reduction mean (against float64 and float32 autograd) and sum, and the unreduced
// values with reduction none, whose Eval must report the mean.
func TestRegressionTorch(t *testing.T) {
	arrays, cases := regLoad(t, filepath.Join("testdata", "regression.npz"))
	if len(cases) == 0 {
		t.Fatal("regression.npz lists no cases")
	}
	check := func(c regCase, what string, got *tensor.Tensor, key string) {
		t.Helper()
		want := arrays[c.Name+"/"+key]
		if ok, rel := regClose(got, want); !ok {
			t.Errorf("%s (%s): %s is %v, %.3g from PyTorch's %v", c.Name, c.Spec, what, got, rel, want)
		}
	}
	for _, c := range cases {
		y, target := arrays[c.Name+"/output"], arrays[c.Name+"/target"]
		for _, red := range []string{"mean", "sum", "none"} {
			l := regBuild(t, c, red)
			v, g, err := evalLoss(l, y, target)
			if err != nil {
				t.Errorf("%s: Eval with reduction %s: %v", c.Name, red, err)
				continue
			}
			key := red
			if red == "none" {
				key = "mean"
			}
			check(c, red+" loss", tensor.Scalar(v), key)
			check(c, red+" gradient", g, "grad_"+key)
			if g.DType() != y.DType() {
				t.Errorf("%s: gradient %v, want the output's dtype %v", c.Name, g, y.DType())
			}
			if red == "mean" {
				check(c, "mean loss (float32 autograd)", tensor.Scalar(v), "mean32")
				check(c, "mean gradient (float32 autograd)", g, "grad_mean32")
			}
			if c.Extreme {
				regCheckFinite(t, c.Name+" "+red, v, g, arrays[c.Name+"/grad_"+key])
			}
			if red != "none" {
				continue
			}
			u, ok := l.(loss.Unreducer)
			if !ok {
				t.Errorf("%s: %T does not implement loss.Unreducer", c.Name, l)
				continue
			}
			per, err := u.Unreduced(y, target)
			if err != nil {
				t.Errorf("%s: Unreduced: %v", c.Name, err)
				continue
			}
			check(c, "unreduced loss", per, "none")
		}
		// The spec string, read as an expression, gives the same loss.
		l, err := loss.Parse(c.Spec)
		if err != nil {
			t.Errorf("%s: Parse(%q): %v", c.Name, c.Spec, err)
			continue
		}
		v, _, err := evalLoss(l, y, target)
		if err != nil {
			t.Errorf("%s: Parse(%q).Eval: %v", c.Name, c.Spec, err)
			continue
		}
		check(c, "loss from Parse", tensor.Scalar(v), "mean")
	}
}

// regCheckFinite fails when the value or a gradient element is not finite where PyTorch's is.
func regCheckFinite(t *testing.T, what string, v float64, g, want *tensor.Tensor) {
	t.Helper()
	if math.IsInf(v, 0) || math.IsNaN(v) {
		t.Errorf("%s: loss %v at |z| = 1e4", what, v)
	}
	for i := 0; i < g.Len(); i++ {
		gi, wi := g.Float64At(i), want.Float64At(i)
		if !math.IsInf(wi, 0) && !math.IsNaN(wi) && (math.IsInf(gi, 0) || math.IsNaN(gi)) {
			t.Errorf("%s: gradient element %d is %v, PyTorch's %v", what, i, gi, wi)
			return
		}
	}
}

// TestLossCoverage: every registered loss has at least one PyTorch case in an .npz under
// testdata (this file's cases, gen_classification.py's, and the penalties' own cases).
func TestLossCoverage(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.npz"))
	if err != nil {
		t.Fatal(err)
	}
	covered := map[string]bool{}
	for _, f := range files {
		arrays, cases := regLoad(t, f)
		for _, c := range cases {
			covered[c.Loss] = true
		}
		for _, penalty := range []string{"l1", "l2"} {
			if _, ok := arrays[penalty+"/loss"]; ok {
				covered[penalty] = true
			}
		}
	}
	for _, s := range loss.Specs() {
		if !covered[s.Name] {
			t.Errorf("loss %s has no PyTorch case in %s", s.Name, strings.Join(files, ", "))
		}
	}
}

// TestRegressionTargetErrors: a target that does not fit gives one line naming the loss, what
// the target should be and what it is; the output must be floating point.
func TestRegressionTargetErrors(t *testing.T) {
	f23 := tensor.New(tensor.Float32, 2, 3)
	cases := []struct {
		spec           string
		output, target *tensor.Tensor
		want           []string
	}{
		{"mse", f23, tensor.New(tensor.Float32, 3), []string{"loss mse:", "target shape [3] does not fit output shape [2 3]", "want [2 3] float values", "got float32[3]"}},
		{"mae", f23, tensor.New(tensor.Bool, 2, 3), []string{"loss mae:", "target bool[2 3] holds bool values", "want [2 3] float values"}},
		{"huber", tensor.New(tensor.Int64, 2, 3), f23, []string{"loss huber:", "floating point", "int64[2 3]"}},
		{"smooth-l1", f23, nil, []string{"loss smooth-l1:", "no target", "[2 3]"}},
		{"kl-div", f23, tensor.New(tensor.Int64, 2, 3), []string{"loss kl-div:", "target int64[2 3] holds int64 values", "want [2 3] float probabilities"}},
		{"kl-div", f23, tensor.New(tensor.Float32, 2), []string{"loss kl-div:", "target shape [2] does not fit output shape [2 3]", "want [2 3] float probabilities"}},
		{"kl-div", tensor.New(tensor.Float32, 3), tensor.New(tensor.Float32, 3), []string{"loss kl-div:", "logits [N, C, ...]", "float32[3]"}},
		{"wasserstein", tensor.New(tensor.Float32, 4, 1), tensor.New(tensor.Float32, 3), []string{"loss wasserstein:", "target shape [3] does not fit output shape [4 1]", "want [4 1] float values"}},
		{"triplet", tensor.New(tensor.Float32, 4, 5), nil, []string{"loss triplet:", "[N, 3, D]", "[3N, D]", "float32[4 5]"}},
		{"triplet", tensor.New(tensor.Float32, 2, 2, 5), nil, []string{"loss triplet:", "anchor, positive, negative", "float32[2 2 5]"}},
		{"contrastive", tensor.New(tensor.Float32, 3, 2, 4), tensor.New(tensor.Float32, 4), []string{"loss contrastive:", "target shape [4] does not fit output shape [3 2 4]", "want [3] float, int or bool values"}},
		{"contrastive", tensor.New(tensor.Float32, 3, 4), tensor.New(tensor.Float32, 2), []string{"loss contrastive:", "[N, 2, D]", "[2N, D]", "float32[3 4]"}},
		{"contrastive", tensor.New(tensor.Float32, 3, 2, 4), nil, []string{"loss contrastive:", "no target"}},
	}
	for _, c := range cases {
		l, err := loss.Parse(c.spec)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = evalLoss(l, c.output, c.target)
		if err == nil {
			t.Errorf("%s: Eval(%v, %v) succeeded", c.spec, c.output, c.target)
			continue
		}
		msg := err.Error()
		if strings.Contains(msg, "\n") {
			t.Errorf("%s: error is not one line: %q", c.spec, msg)
		}
		for _, w := range c.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: error %q does not say %q", c.spec, msg, w)
			}
		}
		if _, err := l.(loss.Unreducer).Unreduced(c.output, c.target); err == nil || err.Error() != msg {
			t.Errorf("%s: Unreduced error %v, Eval's %q", c.spec, err, msg)
		}
	}
}

// TestRegressionOptionErrors: invalid options and class weights are refused when the loss is
// built.
func TestRegressionOptionErrors(t *testing.T) {
	cases := []struct {
		name string
		opts map[string]string
		p    loss.Params
		want string
	}{
		{"huber", map[string]string{"delta": "0"}, loss.Params{}, "loss huber: delta must be positive, got 0"},
		{"smooth-l1", map[string]string{"beta": "-1"}, loss.Params{}, "loss smooth-l1: beta must be >= 0, got -1"},
		{"l2", nil, loss.Params{}, "loss l2: it is a penalty on the weights"},
	}
	for _, name := range []string{"mse", "mae", "huber", "smooth-l1", "kl-div", "triplet", "contrastive", "wasserstein"} {
		cases = append(cases, struct {
			name string
			opts map[string]string
			p    loss.Params
			want string
		}{name, nil, loss.Params{ClassWeights: []float64{1, 2}}, "loss " + name + " does not take class weights"})
	}
	for _, c := range cases {
		_, err := loss.Build(c.name, c.opts, c.p)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Build(%s, %v, %v): error %v, want %q", c.name, c.opts, c.p, err, c.want)
		}
	}
}

// TestZeroValueReduction: the losses' zero-value structs mean reduction mean.
func TestZeroValueReduction(t *testing.T) {
	y := tensor.From([]int{2}, []float32{1, 3})
	target := tensor.From([]int{2}, []float32{0, 0})
	for _, l := range []loss.Loss{loss.MSE{}, loss.MAE{}, loss.Huber{Delta: 10}, loss.SmoothL1{Beta: 0}, loss.Wasserstein{}} {
		v, g, err := evalLoss(l, y, target)
		if err != nil {
			t.Fatal(err)
		}
		var sum loss.Loss
		switch l.(type) {
		case loss.MSE:
			sum = loss.MSE{Reduction: loss.Sum}
		case loss.MAE:
			sum = loss.MAE{Reduction: loss.Sum}
		case loss.Huber:
			sum = loss.Huber{Delta: 10, Reduction: loss.Sum}
		case loss.SmoothL1:
			sum = loss.SmoothL1{Reduction: loss.Sum}
		case loss.Wasserstein:
			sum = loss.Wasserstein{Reduction: loss.Sum}
		}
		vs, gs, _ := evalLoss(sum, y, target)
		if math.Abs(2*v-vs) > 1e-12 || math.Abs(2*g.Float64At(1)-gs.Float64At(1)) > 1e-6 {
			t.Errorf("%s: zero-value reduction gives %v, %v; sum %v, %v", l.Name(), v, g.Float32s(), vs, gs.Float32s())
		}
	}
}
