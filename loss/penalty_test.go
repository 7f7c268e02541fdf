package loss_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxtune/onnxtune/loss"
	"github.com/onnxtune/onnxtune/tensor"
)

// checkPenalty compares a penalty's value and gradients with PyTorch's, from the weights,
// value and gradients regression.npz stores under NAME/.
func checkPenalty(t *testing.T, name string, p loss.Penalty) {
	t.Helper()
	arrays, _ := regLoad(t, filepath.Join("testdata", "regression.npz"))
	weights := map[string]*tensor.Tensor{}
	for k, v := range arrays {
		if w, ok := strings.CutPrefix(k, name+"/w/"); ok {
			weights[w] = v
		}
	}
	if len(weights) == 0 {
		t.Fatalf("regression.npz has no %s/w/ weights", name)
	}
	v, grads := p.Eval(weights, true)
	if ok, rel := regClose(tensor.Scalar(v), arrays[name+"/loss"]); !ok {
		t.Errorf("%s = %v, %.3g from PyTorch's %v", name, v, rel, arrays[name+"/loss"].Float64At(0))
	}
	for w, wt := range weights {
		g := grads[w]
		if ok, rel := regClose(g, arrays[name+"/grad/"+w]); !ok || g.DType() != wt.DType() {
			t.Errorf("%s: gradient of %s: %v, %.3g from PyTorch's", name, w, g, rel)
		}
		if g == wt {
			t.Errorf("%s: the gradient of %s is the weight tensor itself, not a copy", name, w)
		}
	}
}

// TestL2Torch compares l2 with PyTorch's 0.5*sum(p.pow(2).sum()) and its autograd gradient.
// gen_regression.py also checks there that SGD(weight_decay=wd) steps as loss + wd*l2 does.
func TestL2Torch(t *testing.T) { checkPenalty(t, "l2", loss.L2{}) }

// TestL1Torch compares l1 with PyTorch's sum(p.abs().sum()) and its autograd gradient, which
// is 0 where a weight is exactly 0.
func TestL1Torch(t *testing.T) { checkPenalty(t, "l1", loss.L1{}) }
