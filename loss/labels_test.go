package loss_test

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/onnxtune/onnxtune/loss"
	"github.com/onnxtune/onnxtune/tensor"
)

// TestAdaptTarget: class indices become what each loss reads (BCEWithLogitsLoss's float 0/1
// column, one-hot rows, or the indices themselves), and pairings no loss can read fail with
// a LabelError that says what would fit.
func TestAdaptTarget(t *testing.T) {
	one, two := tensor.New(tensor.Float32, 4, 1), tensor.New(tensor.Float32, 4, 2)
	flat := tensor.New(tensor.Float32, 4)
	idx := tensor.From([]int{4}, []int64{0, 1, 1, 0})
	tri := tensor.From([]int{4}, []int64{0, 2, 1, 2})
	zero, two3 := 0, 2
	parse := func(spec string) loss.Loss {
		l, err := loss.Parse(spec)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	for _, c := range []struct {
		name, loss  string
		out, target *tensor.Tensor
		lab         loss.Labels
		shape       []int
		want        []float64
		err         string // part of the error, for the pairings that fail
	}{
		{"bce-logits one column", "bce-logits", one, idx, loss.Labels{Classes: 2}, []int{4, 1}, []float64{0, 1, 1, 0}, ""},
		{"positive class 0", "medical-bce", one, idx, loss.Labels{Classes: 2, Positive: &zero}, []int{4, 1}, []float64{1, 0, 0, 1}, ""},
		{"flat output", "bce-logits", flat, idx, loss.Labels{Classes: 2}, []int{4}, []float64{0, 1, 1, 0}, ""},
		{"sigmoid focal", "focal", one, idx, loss.Labels{Classes: 2}, []int{4, 1}, []float64{0, 1, 1, 0}, ""},
		{"one-hot", "bce-logits", two, idx, loss.Labels{Classes: 2}, []int{4, 2}, []float64{1, 0, 0, 1, 0, 1, 1, 0}, ""},
		{"softmax focal keeps indices", "focal", two, idx, loss.Labels{Classes: 2}, []int{4}, []float64{0, 1, 1, 0}, ""},
		{"cross-entropy keeps indices", "cross-entropy", two, idx, loss.Labels{Classes: 2}, []int{4}, []float64{0, 1, 1, 0}, ""},
		{"one against the rest", "bce-logits", one, tri, loss.Labels{Classes: 3, Positive: &two3}, []int{4, 1}, []float64{0, 1, 0, 1}, ""},
		{"float labels [N] for [N, 1]", "bce-logits", one, tensor.From([]int{4}, []float32{0, 1, 0.5, 1}), loss.Labels{}, []int{4, 1}, []float64{0, 1, 0.5, 1}, ""},
		{"three classes, one logit", "bce-logits", one, tri, loss.Labels{Classes: 3}, nil, nil, "--num-classes 3"},
		{"three classes, two columns", "bce-logits", two, tri, loss.Labels{Classes: 3}, nil, nil, "--num-classes 3"},
		{"positive class outside", "bce-logits", one, idx, loss.Labels{Classes: 2, Positive: &two3}, nil, nil, "positive class 2 is not a class of the data"},
		{"cross-entropy on one logit", "cross-entropy", one, idx, loss.Labels{Classes: 2}, nil, nil, "bce-logits"},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := parse(c.loss)
			got, err := loss.AdaptTarget(l, c.out, c.target, c.lab)
			if c.err != "" {
				var le *loss.LabelError
				if !errors.As(err, &le) || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want a LabelError saying %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Shape(), c.shape) || !slices.Equal(got.ToFloat64s(), c.want) {
				t.Errorf("got %v %v, want %v %v", got.Shape(), got.ToFloat64s(), c.shape, c.want)
			}
			// What AdaptTarget makes, the loss reads.
			if _, err := l.Eval(c.out, got); err != nil {
				t.Errorf("%s cannot read the adapted target: %v", c.loss, err)
			}
		})
	}
}

// TestTotalIsBatchInvariant: weighted cross-entropy with an ignored target and an l2
// penalty, accumulated over batches of 1, 2 and 3 examples, is the expression's value on the
// whole set in one batch; the mean of per-batch means would not be.
func TestTotalIsBatchInvariant(t *testing.T) {
	e, err := loss.ParseExpr("cross-entropy(label_smoothing=0.1) + 0.5*l2", loss.Params{ClassWeights: []float64{1, 4, 0.5}})
	if err != nil {
		t.Fatal(err)
	}
	z := []float32{2, 0, -1, 0.5, 0.3, 0.1, -1, 2, 0, 0, 0, 3, 1, 1, 1, 0.2, -0.4, 1.5}
	y := []int64{0, 1, -100, 2, 1, 2}
	w := map[string]*tensor.Tensor{"w": tensor.From([]int{2}, []float32{0.5, -1})}
	batch := func(from, to int) *loss.ExprValue {
		v, err := e.Eval(loss.Batch{
			Outputs: map[string]*tensor.Tensor{"z": tensor.From([]int{to - from, 3}, slices.Clone(z[3*from:3*to]))},
			Targets: map[string]*tensor.Tensor{"z": tensor.From([]int{to - from}, slices.Clone(y[from:to]))},
			Default: "z", Weights: w,
		})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	whole := batch(0, 6).Value
	var means float64
	for _, size := range []int{1, 2, 3} {
		var total loss.Total
		for from := 0; from < 6; from += size {
			v := batch(from, from+size)
			total.Add(v)
			if size == 2 {
				means += v.Value / 3
			}
		}
		if got := total.Value(e); math.Abs(got-whole) > 1e-12*math.Abs(whole) {
			t.Errorf("batches of %d: %.15g, want %.15g (the whole set in one batch)", size, got, whole)
		}
	}
	if math.Abs(means-whole) < 1e-3 {
		t.Errorf("the mean of batch means %.6g equals the whole set's %.6g: the test does not tell them apart", means, whole)
	}
}
