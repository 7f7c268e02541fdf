package loss_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxtune/onnxtune/loss"
	"github.com/onnxtune/onnxtune/tensor"
)

// TestInBatchMetricLosses: triplet for every mining and distance, and contrastive, on [N, D]
// embeddings with class indices, equal in value and gradient to pytorch-metric-learning's
// formulas (testdata/gen_metric.py), on batches with a class of one example, with a zero
// distance, with no valid triplet and with no positive pair.
func TestInBatchMetricLosses(t *testing.T) {
	arrays, _ := regLoad(t, filepath.Join("testdata", "metric.npz"))
	var cases []struct{ Case, Spec string }
	if err := json.Unmarshal(tensor.Data[uint8](arrays["cases"]), &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 60 {
		t.Fatalf("metric.npz has %d cases", len(cases))
	}
	for _, c := range cases {
		e, err := loss.ParseExpr(c.Spec, loss.Params{})
		if err != nil {
			t.Fatalf("%s: %v", c.Spec, err)
		}
		y, target := arrays[c.Case+"/output"], arrays[c.Case+"/target"]
		v, err := e.Terms[0].Loss.Eval(y, target)
		if err != nil {
			t.Errorf("%s: %v", c.Case, err)
			continue
		}
		if ok, rel := regClose(tensor.Scalar(v.Loss()), arrays[c.Case+"/loss"]); !ok {
			t.Errorf("%s: loss %.8g, PyTorch %.8g (%.3g)", c.Case, v.Loss(), arrays[c.Case+"/loss"].Float64At(0), rel)
		}
		if ok, rel := regClose(v.Grad, arrays[c.Case+"/grad"]); !ok {
			t.Errorf("%s: gradient %.3g from PyTorch's", c.Case, rel)
		}
	}
}

// TestInBatchOptionErrors: mining and distance on the forms that carry their triplets are an
// error naming what they apply to; an unknown mining names the choices; reduction=none is
// refused in the batch.
func TestInBatchOptionErrors(t *testing.T) {
	if _, err := loss.ParseExpr("triplet(mining=hardest)", loss.Params{}); err == nil || !strings.Contains(err.Error(), `"hardest" is not one of all, batch-hard, semi-hard`) {
		t.Errorf("mining=hardest: %v", err)
	}
	e, err := loss.ParseExpr("triplet(mining=batch-hard)", loss.Params{})
	if err != nil {
		t.Fatal(err)
	}
	y := tensor.New(tensor.Float32, 2, 3, 4)
	if _, err := e.Terms[0].Loss.Eval(y, tensor.New(tensor.Float32, 2)); err == nil || !strings.Contains(err.Error(), "apply to [N, D] embeddings") {
		t.Errorf("batch-hard on [N, 3, D]: %v", err)
	}
	e, _ = loss.ParseExpr("contrastive(reduction=none)", loss.Params{})
	if _, err := e.Terms[0].Loss.Eval(tensor.New(tensor.Float32, 4, 3), tensor.From([]int{4}, []int64{0, 0, 1, 1})); err == nil || !strings.Contains(err.Error(), "reduction=none") {
		t.Errorf("reduction=none in the batch: %v", err)
	}
}
