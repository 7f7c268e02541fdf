package loss_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxtune/onnxtune/loss"
	"github.com/onnxtune/onnxtune/tensor"
)

// TestL2Torch compares l2 with PyTorch's 0.5*sum(p.pow(2).sum()) and its autograd gradient.
// gen_regression.py also checks there that SGD(weight_decay=wd) steps as loss + wd*l2 does.
func TestL2Torch(t *testing.T) {
	arrays, _ := regLoad(t, filepath.Join("testdata", "regression.npz"))
	weights := map[string]*tensor.Tensor{}
	for k, v := range arrays {
		if name, ok := strings.CutPrefix(k, "l2/w/"); ok {
			weights[name] = v
		}
	}
	if len(weights) == 0 {
		t.Fatal("regression.npz has no l2/w/ weights")
	}
	v, grads := loss.L2{}.Eval(weights, true)
	if ok, rel := regClose(tensor.Scalar(v), arrays["l2/loss"]); !ok {
		t.Errorf("l2 = %v, %.3g from PyTorch's %v", v, rel, arrays["l2/loss"].Float64At(0))
	}
	for name, w := range weights {
		g := grads[name]
		if ok, rel := regClose(g, arrays["l2/grad/"+name]); !ok || g.DType() != w.DType() {
			t.Errorf("gradient of %s: %v, %.3g from PyTorch's", name, g, rel)
		}
		if g == w {
			t.Errorf("gradient of %s is the weight tensor itself, not a copy", name)
		}
	}
}

// TestL1Torch compares l1 with PyTorch's sum(p.abs().sum()) and its autograd gradient, which
// is 0 where a weight is exactly 0.
func TestL1Torch(t *testing.T) {
	arrays, _ := regLoad(t, filepath.Join("testdata", "regression.npz"))
	weights := map[string]*tensor.Tensor{}
	for k, v := range arrays {
		if name, ok := strings.CutPrefix(k, "l1/w/"); ok {
			weights[name] = v
		}
	}
	if len(weights) == 0 {
		t.Fatal("regression.npz has no l1/w/ weights")
	}
	v, grads := loss.L1{}.Eval(weights, true)
	if ok, rel := regClose(tensor.Scalar(v), arrays["l1/loss"]); !ok {
		t.Errorf("l1 = %v, %.3g from PyTorch's %v", v, rel, arrays["l1/loss"].Float64At(0))
	}
	for name, w := range weights {
		g := grads[name]
		if ok, rel := regClose(g, arrays["l1/grad/"+name]); !ok || g.DType() != w.DType() {
			t.Errorf("gradient of %s: %v, %.3g from PyTorch's", name, g.ToFloat64s(), rel)
		}
	}
}
