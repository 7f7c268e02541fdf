package loss_test

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/loss"
	"github.com/onnxtune/onnxtune/tensor"
)

// classificationLosses are the losses testdata/classification.npz covers.
var classificationLosses = []string{"cross-entropy", "nll", "bce", "bce-logits", "medical-bce", "focal", "hinge"}

// clsCase is one entry of the fixture's "cases" list (see gen_classification.py).
type clsCase struct {
	Name         string            `json:"name"`
	Loss         string            `json:"loss"`
	Opts         map[string]string `json:"opts"`
	ClassWeights []float64         `json:"class_weights"`
	Spec         string            `json:"spec"`
	Extreme      bool              `json:"extreme"`
}

func loadClassification(t *testing.T) (map[string]*tensor.Tensor, []clsCase) {
	t.Helper()
	arrays, _, err := data.LoadNPZ("testdata/classification.npz")
	if err != nil {
		t.Fatal(err)
	}
	raw := arrays["cases"]
	if raw == nil {
		t.Fatal("testdata/classification.npz has no \"cases\" list")
	}
	var cases []clsCase
	if err := json.Unmarshal(tensor.Data[uint8](raw), &cases); err != nil {
		t.Fatalf("cases: %v", err)
	}
	return arrays, cases
}

// build makes a case's loss with the given reduction through the registry, as --loss does.
func (c clsCase) build(t *testing.T, r loss.Reduction) loss.Loss {
	t.Helper()
	opts := map[string]string{"reduction": string(r)}
	for k, v := range c.Opts {
		opts[k] = v
	}
	l, err := loss.Build(c.Loss, opts, loss.Params{ClassWeights: c.ClassWeights})
	if err != nil {
		t.Fatalf("%s: %v", c.Spec, err)
	}
	return l
}

// relDiff is |got - want| / |want| over the elements where want is finite (the 2-norm), or
// the absolute difference when want is all zero. Non-finite references must be matched
// exactly (NaN by NaN); a mismatch there gives +Inf.
// evalLoss returns l's reduced loss and gradient, as the tests compare them with PyTorch's.
func evalLoss(l loss.Loss, out, target *tensor.Tensor) (float64, *tensor.Tensor, error) {
	v, err := l.Eval(out, target)
	return v.Loss(), v.Grad, err
}

func relDiff(got, want []float64) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	var d, n float64
	for i, w := range want {
		g := got[i]
		switch {
		case math.IsNaN(w):
			if !math.IsNaN(g) {
				return math.Inf(1)
			}
		case math.IsInf(w, 0):
			if g != w {
				return math.Inf(1)
			}
		default:
			if math.IsNaN(g) || math.IsInf(g, 0) {
				return math.Inf(1)
			}
			d += (g - w) * (g - w)
			n += w * w
		}
	}
	if n == 0 {
		return math.Sqrt(d) / 1e-2 // so that the 1e-5 bound is an absolute 1e-7
	}
	return math.Sqrt(d / n)
}

const tol = 1e-5

func checkClose(t *testing.T, what string, got, want []float64) {
	t.Helper()
	if d := relDiff(got, want); !(d <= tol) {
		if len(want) <= 12 {
			t.Errorf("%s: got %v, want %v (relative difference %.3g)", what, got, want, d)
		} else {
			t.Errorf("%s: relative difference %.3g > %g", what, d, tol)
		}
	}
}

func TestClassificationMatchesPyTorch(t *testing.T) {
	arrays, cases := loadClassification(t)
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			out, target := arrays[c.Name+"/output"], arrays[c.Name+"/target"]
			for _, r := range []loss.Reduction{loss.Mean, loss.Sum} {
				v, g, err := evalLoss(c.build(t, r), out, target)
				if err != nil {
					t.Fatalf("%s reduction=%s: %v", c.Spec, r, err)
				}
				if g.DType() != out.DType() || !tensor.EqualShapes(g.Shape(), out.Shape()) {
					t.Fatalf("%s: gradient %v for output %v", c.Spec, g, out)
				}
				key := c.Name + "/" + string(r)
				checkClose(t, fmt.Sprintf("%s reduction=%s: loss", c.Spec, r), []float64{v}, arrays[key].ToFloat64s())
				checkClose(t, fmt.Sprintf("%s reduction=%s: gradient", c.Spec, r), g.ToFloat64s(), arrays[c.Name+"/grad_"+string(r)].ToFloat64s())
				if r != loss.Mean {
					continue
				}
				// The same numbers as a float32 PyTorch run gives, and for medical-bce the
				// second formula, fp_cost * BCEWithLogitsLoss(pos_weight=fn_cost/fp_cost).
				for _, alt := range []string{"32", "_alt"} {
					if ref, ok := arrays[c.Name+"/mean"+alt]; ok {
						checkClose(t, c.Spec+": loss vs mean"+alt, []float64{v}, ref.ToFloat64s())
						checkClose(t, c.Spec+": gradient vs grad_mean"+alt, g.ToFloat64s(), arrays[c.Name+"/grad_mean"+alt].ToFloat64s())
					}
				}
				if c.Extreme {
					checkFiniteWhereTorchIs(t, c.Spec, v, g, arrays[c.Name+"/mean32"], arrays[c.Name+"/grad_mean32"])
				}
			}
			// reduction=none: Eval still reports the mean and its gradient (for training);
			// Unreduced has PyTorch's reduction='none' values and shape.
			l := c.build(t, loss.None)
			v, g, err := evalLoss(l, out, target)
			if err != nil {
				t.Fatalf("%s reduction=none: %v", c.Spec, err)
			}
			checkClose(t, c.Spec+" reduction=none: Eval's loss", []float64{v}, arrays[c.Name+"/mean"].ToFloat64s())
			checkClose(t, c.Spec+" reduction=none: Eval's gradient", g.ToFloat64s(), arrays[c.Name+"/grad_mean"].ToFloat64s())
			u, ok := l.(loss.Unreducer)
			if !ok {
				t.Fatalf("%s does not implement loss.Unreducer", c.Loss)
			}
			per, err := u.Unreduced(out, target)
			if err != nil {
				t.Fatalf("%s Unreduced: %v", c.Spec, err)
			}
			want := arrays[c.Name+"/none"]
			if !tensor.EqualShapes(per.Shape(), want.Shape()) || per.DType() != out.DType() {
				t.Fatalf("%s Unreduced: got %v, want %v %s", c.Spec, per, out.DType(), tensor.ShapeString(want.Shape()))
			}
			checkClose(t, c.Spec+" Unreduced", per.ToFloat64s(), want.ToFloat64s())
		})
	}
}

// checkFiniteWhereTorchIs checks that the loss and every gradient element are finite wherever
// float32 PyTorch's are.
func checkFiniteWhereTorchIs(t *testing.T, spec string, v float64, g, tv, tg *tensor.Tensor) {
	t.Helper()
	finite := func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
	if finite(tv.Float64At(0)) && !finite(v) {
		t.Errorf("%s: loss %v, PyTorch's is finite (%v)", spec, v, tv.Float64At(0))
	}
	for i := 0; i < g.Len(); i++ {
		if finite(tg.Float64At(i)) && !finite(g.Float64At(i)) {
			t.Errorf("%s: gradient element %d is %v, PyTorch's is finite (%v)", spec, i, g.Float64At(i), tg.Float64At(i))
		}
	}
}

// TestClassificationCoverage checks that the fixture exercises every classification loss the
// registry holds, every option at a value other than its default, both reductions PyTorch
// reduces with, class weights where a loss takes them, and logits of magnitude 1e4.
func TestClassificationCoverage(t *testing.T) {
	_, cases := loadClassification(t)
	family := map[string]bool{}
	for _, n := range classificationLosses {
		family[n] = true
		if _, ok := loss.Lookup(n); !ok {
			t.Errorf("loss %s is not registered", n)
		}
	}
	covered := map[string]bool{}
	nonDefault := map[string]bool{} // "loss/key"
	weighted := map[string]bool{}
	extreme := map[string]bool{}
	specs := map[string]loss.Spec{}
	for _, s := range loss.Specs() {
		specs[s.Name] = s
	}
	for _, c := range cases {
		s, ok := specs[c.Loss]
		if !ok {
			t.Errorf("case %s: loss %q is not registered", c.Name, c.Loss)
			continue
		}
		covered[c.Loss] = true
		if len(c.ClassWeights) > 0 {
			weighted[c.Loss] = true
		}
		if c.Extreme {
			extreme[c.Loss] = true
		}
		for _, o := range s.Options {
			if v, ok := c.Opts[o.Key]; ok && v != fmt.Sprint(o.Default) {
				nonDefault[c.Loss+"/"+o.Key] = true
			}
		}
	}
	for _, s := range loss.Specs() {
		if !family[s.Name] {
			continue // another family's loss, with its own fixture
		}
		if !covered[s.Name] {
			t.Errorf("loss %s has no case in testdata/classification.npz", s.Name)
		}
		if !extreme[s.Name] {
			t.Errorf("loss %s has no case with extreme inputs", s.Name)
		}
		for _, o := range s.Options {
			if !nonDefault[s.Name+"/"+o.Key] {
				t.Errorf("loss %s: no case sets %s to a value other than its default %v", s.Name, o.Key, o.Default)
			}
		}
	}
	for _, n := range []string{"cross-entropy", "nll"} {
		if !weighted[n] {
			t.Errorf("loss %s: no case with class weights", n)
		}
	}
}

// TestCrossEntropyZeroValue checks that CrossEntropy{} is nn.CrossEntropyLoss() with
// PyTorch's defaults (mean, ignore_index -100, no smoothing, no weights).
func TestCrossEntropyZeroValue(t *testing.T) {
	arrays, _ := loadClassification(t)
	for _, name := range []string{"ce/basic", "ce/ignore_default", "ce/prob", "ce/extreme", "ce/spatial"} {
		out, target := arrays[name+"/output"], arrays[name+"/target"]
		v, g, err := evalLoss(loss.CrossEntropy{}, out, target)
		if name == "ce/spatial" {
			// Not the defaults: the case has smoothing and weights. Only the call must work.
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		checkClose(t, name+": CrossEntropy{} loss", []float64{v}, arrays[name+"/mean"].ToFloat64s())
		checkClose(t, name+": CrossEntropy{} gradient", g.ToFloat64s(), arrays[name+"/grad_mean"].ToFloat64s())
	}
}

// TestMedicalBCEIsWeightedBCELogits checks medical-bce(fn_cost=a, fp_cost=b) against
// b * bce-logits(pos_weight=a/b) in Go, value and gradient, for each reduction.
func TestMedicalBCEIsWeightedBCELogits(t *testing.T) {
	z := tensor.From([]int{3, 4}, []float32{-1e4, -7, -2, -0.5, 0, 0.25, 1, 3, 8, 1e4, -0.1, 2.5})
	y := tensor.From([]int{3, 4}, []float32{1, 0, 1, 0.3, 1, 0, 0.9, 0, 1, 0, 1, 1})
	for _, costs := range [][2]float64{{5, 1}, {2, 3}, {0, 2}, {1, 1}} {
		for _, r := range []string{"mean", "sum"} {
			fn, fp := fmt.Sprint(costs[0]), fmt.Sprint(costs[1])
			med, err := loss.Build("medical-bce", map[string]string{"fn_cost": fn, "fp_cost": fp, "reduction": r}, loss.Params{})
			if err != nil {
				t.Fatal(err)
			}
			bl, err := loss.Build("bce-logits", map[string]string{"pos_weight": fmt.Sprint(costs[0] / costs[1]), "reduction": r}, loss.Params{})
			if err != nil {
				t.Fatal(err)
			}
			mv, mg, err := evalLoss(med, z, y)
			if err != nil {
				t.Fatal(err)
			}
			bv, bg, err := evalLoss(bl, z, y)
			if err != nil {
				t.Fatal(err)
			}
			want := bg.ToFloat64s()
			for i := range want {
				want[i] *= costs[1]
			}
			what := fmt.Sprintf("medical-bce(fn_cost=%s,fp_cost=%s) reduction=%s", fn, fp, r)
			checkClose(t, what+": loss", []float64{mv}, []float64{costs[1] * bv})
			checkClose(t, what+": gradient", mg.ToFloat64s(), want)
		}
	}
}

func i64(shape []int, v ...int64) *tensor.Tensor   { return tensor.From(shape, v) }
func f32(shape []int, v ...float32) *tensor.Tensor { return tensor.From(shape, v) }

// halves returns a float32 tensor of the shape filled with 0.5, a valid probability.
func halves(shape ...int) *tensor.Tensor {
	v := make([]float32, tensor.Size(shape))
	for i := range v {
		v[i] = 0.5
	}
	return tensor.From(shape, v)
}

// targetError is an output and target a loss must refuse, and what its error must say.
type targetError struct {
	spec           string
	opts           map[string]string
	output, target *tensor.Tensor
	want           []string
}

func TestClassificationTargetErrors(t *testing.T) {
	logits := halves(4, 3)
	tests := []targetError{
		{"cross-entropy", nil, logits, i64([]int{5}, 0, 1, 2, 0, 1),
			[]string{"target shape [5] does not fit output shape [4 3]", "want [4] int64 class indices or [4 3] float probabilities, got int64[5]"}},
		{"cross-entropy", nil, logits, f32([]int{4}, 0, 1, 2, 0),
			[]string{"target float32[4] holds float32 values", "want [4] int64 class indices"}},
		{"cross-entropy", nil, logits, i64([]int{4, 3}, make([]int64, 12)...),
			[]string{"target int64[4 3] holds int64 values", "want [4 3] float probabilities"}},
		{"cross-entropy", nil, logits, i64([]int{4}, 0, 1, 3, 0),
			[]string{"target 3 at position 2 is out of range for 3 classes", "want 0..2 or ignore_index -100"}},
		{"cross-entropy", map[string]string{"ignore_index": "3"}, logits, i64([]int{4}, 0, -1, 3, 0),
			[]string{"target -1 at position 1 is out of range for 3 classes", "ignore_index 3"}},
		{"cross-entropy", map[string]string{"ignore_index": "0"}, logits, halves(4, 3),
			[]string{"ignore_index 0 applies to class-index targets"}},
		{"cross-entropy", nil, i64([]int{4, 3}, make([]int64, 12)...), i64([]int{4}, 0, 0, 0, 0),
			[]string{"output must be float logits", "got int64[4 3]"}},
		{"cross-entropy", nil, tensor.From([]int{}, []float32{1}), i64([]int{}, 0),
			[]string{"output must be float logits"}},
		{"nll", nil, logits, i64([]int{4, 1}, 0, 1, 2, 0),
			[]string{"target shape [4 1] does not fit output shape [4 3]", "want [4] int64 class indices, got int64[4 1]"}},
		{"nll", nil, logits, f32([]int{4}, 0, 1, 2, 0),
			[]string{"target float32[4] holds float32 values", "want [4] int64 class indices"}},
		{"nll", nil, logits, i64([]int{4}, 0, 1, 7, 0),
			[]string{"target 7 at position 2 is out of range for 3 classes"}},
		{"bce", nil, logits, f32([]int{4}, 0, 1, 1, 0),
			[]string{"target shape [4] does not fit output shape [4 3]", "want [4 3] float labels, got float32[4]"}},
		{"bce", nil, logits, i64([]int{4, 3}, make([]int64, 12)...),
			[]string{"target int64[4 3] holds int64 values", "want [4 3] float labels"}},
		{"bce", nil, f32([]int{2}, 0.5, 1.5), f32([]int{2}, 0, 1),
			[]string{"output 1.5 at element 1 is not a probability in [0, 1]"}},
		{"bce-logits", nil, logits, f32([]int{4, 1}, 0, 1, 1, 0),
			[]string{"target shape [4 1] does not fit output shape [4 3]", "want [4 3] float labels"}},
		{"bce-logits", nil, logits, i64([]int{4, 3}, make([]int64, 12)...),
			[]string{"holds int64 values"}},
		{"medical-bce", nil, logits, i64([]int{4, 3}, make([]int64, 12)...),
			[]string{"target int64[4 3] holds int64 values", "want [4 3] float labels"}},
		{"medical-bce", nil, logits, f32([]int{3}, 0, 1, 1),
			[]string{"target shape [3] does not fit output shape [4 3]"}},
		{"focal", nil, logits, f32([]int{4}, 0, 1, 1, 0),
			[]string{"target float32[4] holds float32 values", "want [4] int64 class indices or [4 3] float labels"}},
		{"focal", nil, logits, i64([]int{4, 3}, make([]int64, 12)...),
			[]string{"target int64[4 3] holds int64 values", "want [4 3] float labels"}},
		{"focal", nil, logits, i64([]int{4}, 0, 1, 2, 3),
			[]string{"target 3 at position 3 is out of range for 3 classes", "want 0..2)"}},
		{"focal", nil, logits, i64([]int{2}, 0, 1),
			[]string{"target shape [2] does not fit output shape [4 3]", "want [4] int64 class indices or [4 3] float labels"}},
		{"hinge", nil, logits, i64([]int{4}, 0, 1, 2, 5),
			[]string{"target 5 at position 3 is out of range for 3 classes"}},
		{"hinge", nil, logits, f32([]int{4}, 0, 1, 2, 1),
			[]string{"target float32[4] holds float32 values", "want [4] int64 class indices or [4 3] binary labels"}},
		{"hinge", nil, f32([]int{3}, 1, 2, 3), f32([]int{3}, 0, 0.5, 1),
			[]string{"holds 0.5 at element 1: want binary labels 0/1 or -1/1"}},
		{"hinge", nil, f32([]int{3, 1}, 1, 2, 3), i64([]int{3}, 1, 2, 1),
			[]string{"holds 2 at element 1"}},
		{"hinge", nil, halves(2, 3, 2), i64([]int{2, 2}, 0, 0, 0, 0),
			[]string{"target shape [2 2] does not fit output shape [2 3 2]", "multi-class hinge takes scores [N, C]"}},
		{"hinge", nil, logits, i64([]int{3}, 0, 1, 2),
			[]string{"target shape [3] does not fit output shape [4 3]", "want [4] int64 class indices"}},
	}
	for _, n := range classificationLosses {
		tests = append(tests, targetError{n, nil, logits, nil, []string{"no target for output float32[4 3]"}})
	}
	for _, tt := range tests {
		opts := map[string]string{}
		for k, v := range tt.opts {
			opts[k] = v
		}
		for _, r := range []string{"mean", "none"} {
			opts["reduction"] = r
			l, err := loss.Build(tt.spec, opts, loss.Params{})
			if err != nil {
				t.Fatalf("%s %v: %v", tt.spec, opts, err)
			}
			_, _, err = evalLoss(l, tt.output, tt.target)
			checkErr(t, fmt.Sprintf("%s%v.Eval(%v, %v)", tt.spec, tt.opts, tt.output, tt.target), err, "loss "+tt.spec+": ", tt.want)
			if r == "none" {
				_, err = l.(loss.Unreducer).Unreduced(tt.output, tt.target)
				checkErr(t, fmt.Sprintf("%s%v.Unreduced(%v, %v)", tt.spec, tt.opts, tt.output, tt.target), err, "loss "+tt.spec+": ", tt.want)
			}
		}
	}
}

func checkErr(t *testing.T, what string, err error, prefix string, want []string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: got no error, want one containing %q", what, want)
		return
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, prefix) || strings.Contains(msg, "\n") {
		t.Errorf("%s: got %q, want one line starting %q", what, msg, prefix)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("%s: got %q, want it to contain %q", what, msg, w)
		}
	}
}

func TestClassificationClassWeightErrors(t *testing.T) {
	for _, n := range []string{"bce", "bce-logits", "medical-bce", "focal", "hinge"} {
		_, err := loss.Build(n, nil, loss.Params{ClassWeights: []float64{1, 2}})
		checkErr(t, n+" with class weights", err, "loss "+n, []string{"loss " + n + " does not take class weights"})
	}
	for _, n := range []string{"cross-entropy", "nll"} {
		l, err := loss.Build(n, nil, loss.Params{ClassWeights: []float64{1, 2}})
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = evalLoss(l, halves(4, 3), i64([]int{4}, 0, 1, 2, 0))
		checkErr(t, n+" with 2 class weights for 3 classes", err, "loss "+n+": ", []string{"2 class weights for 3 classes"})
	}
}

func TestClassificationOptionErrors(t *testing.T) {
	tests := []struct {
		name string
		opts map[string]string
		want string
	}{
		{"cross-entropy", map[string]string{"label_smoothing": "1.5"}, "loss cross-entropy(label_smoothing=1.5): want a value in [0, 1]"},
		{"cross-entropy", map[string]string{"ignore_index": "1.5"}, "loss cross-entropy(ignore_index=1.5): want a whole number"},
		{"nll", map[string]string{"ignore_index": "0.5"}, "loss nll(ignore_index=0.5): want a whole number"},
		{"focal", map[string]string{"gamma": "-1"}, "loss focal(gamma=-1): want a finite gamma >= 0"},
		{"medical-bce", map[string]string{"fn_cost": "-1"}, "loss medical-bce(fn_cost=-1): want a finite cost >= 0"},
		{"bce-logits", map[string]string{"pos_weight": "inf"}, "loss bce-logits(pos_weight=+Inf): want a finite number"},
		{"hinge", map[string]string{"margin": "nan"}, "loss hinge(margin=NaN): want a finite number"},
	}
	for _, tt := range tests {
		_, err := loss.Build(tt.name, tt.opts, loss.Params{})
		if err == nil || err.Error() != tt.want {
			t.Errorf("Build(%s, %v): got %v, want %q", tt.name, tt.opts, err, tt.want)
		}
	}
}

// TestClassificationNeverPanics feeds every classification loss odd outputs and targets; each
// must answer with a value or an error.
func TestClassificationNeverPanics(t *testing.T) {
	tensors := []*tensor.Tensor{
		nil,
		tensor.From([]int{}, []float32{0.5}),
		tensor.From([]int{}, []int64{1}),
		tensor.From([]int{0}, []float32{}),
		tensor.From([]int{0, 3}, []float32{}),
		tensor.From([]int{0}, []int64{}),
		halves(3),
		halves(3, 1),
		halves(2, 3),
		halves(2, 3, 2),
		halves(2, 0, 2),
		i64([]int{2}, 0, 5),
		i64([]int{2}, -100, 1),
		i64([]int{2, 2}, 0, 1, 1, 0),
		i64([]int{3}, 0, 1, 1),
		tensor.From([]int{2, 3}, []bool{true, false, true, false, true, false}),
		tensor.From([]int{2, 3}, []float64{1, 2, 3, 4, 5, 6}),
	}
	for _, n := range classificationLosses {
		for _, r := range []string{"mean", "sum", "none"} {
			l, err := loss.Build(n, map[string]string{"reduction": r}, loss.Params{})
			if err != nil {
				t.Fatal(err)
			}
			for _, z := range tensors {
				for _, y := range tensors {
					func() {
						defer func() {
							if p := recover(); p != nil {
								t.Errorf("%s reduction=%s: Eval(%v, %v) panicked: %v", n, r, z, y, p)
							}
						}()
						_, _, _ = evalLoss(l, z, y)
						_, _ = l.(loss.Unreducer).Unreduced(z, y)
					}()
				}
			}
		}
	}
}
