package loss_test

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/loss"
)

// nllGradCase is one problem for the gradients of NLL and of the softmax cross-entropy.
type nllGradCase struct {
	Shape     []int     `json:"shape"`
	Scores    []float64 `json:"scores"`
	Target    []int64   `json:"target"`
	Weight    []float64 `json:"weight"`
	Ignore    *int64    `json:"ignore"`
	Reduction string    `json:"reduction"`
	Grad      []float64 `json:"grad"` // the upstream gradient of the loss
}

func nllGradCases() []nllGradCase {
	r := rand.New(rand.NewPCG(11, 12))
	ig := func(v int64) *int64 { return &v }
	mk := func(shape []int, target []int64, weighted bool, ignore *int64, red string) nllGradCase {
		c := nllGradCase{Shape: shape, Target: target, Ignore: ignore, Reduction: red}
		size := 1
		for _, d := range shape {
			size *= d
		}
		for range size {
			c.Scores = append(c.Scores, 4*r.Float64()-2)
		}
		if weighted {
			for range shape[1] {
				c.Weight = append(c.Weight, 0.2+r.Float64())
			}
		}
		ng := 1
		if red == "none" {
			ng = len(target)
		}
		for range ng {
			c.Grad = append(c.Grad, 2*r.Float64()-1)
		}
		return c
	}
	return []nllGradCase{
		mk([]int{3, 5}, []int64{4, 0, 2}, false, nil, "mean"),
		mk([]int{3, 5}, []int64{1, 1, 3}, true, nil, "sum"),
		mk([]int{2, 4, 3}, []int64{0, 3, 1, 2, 2, 0}, false, nil, "none"),
		mk([]int{2, 4, 3}, []int64{0, 1, 3, 1, 2, 0}, true, ig(1), "mean"),
		mk([]int{4, 3}, []int64{2, -1, 0, 1}, true, ig(-1), "none"),
		mk([]int{2, 3, 2, 2}, []int64{0, 1, 2, 2, 1, 0, 0, 2}, true, ig(2), "sum"),
		mk([]int{2, 3}, []int64{2, 2}, false, ig(2), "mean"), // every target ignored
	}
}

// nllGradTorch computes, in float64, the gradients of F.nll_loss with respect to its input and
// of F.cross_entropy with respect to the scores, and that of sum(s * log_softmax(z, 1)) for a
// fixed s (the upstream gradient of log-probabilities: its first len(scores) values of
// a seeded sequence).
const nllGradTorch = `
import json, sys
import numpy as np
import torch
import torch.nn.functional as F

out = []
for c in json.loads(sys.argv[1]):
    shape = c["shape"]
    kw = dict(reduction=c["reduction"])
    if c["weight"] is not None:
        kw["weight"] = torch.tensor(c["weight"], dtype=torch.float64)
    if c["ignore"] is not None:
        kw["ignore_index"] = c["ignore"]
    target = torch.tensor(c["target"]).reshape([shape[0]] + shape[2:])
    grad = torch.tensor(c["grad"], dtype=torch.float64).reshape([] if c["reduction"] != "none" else target.shape)
    res = {}
    for name, f in (("nll", F.nll_loss), ("ce", F.cross_entropy)):
        x = torch.tensor(c["scores"], dtype=torch.float64).reshape(shape).requires_grad_(True)
        (f(x, target, **kw) * grad).sum().backward()
        res[name] = x.grad.flatten().tolist()
    z = torch.tensor(c["scores"], dtype=torch.float64).reshape(shape).requires_grad_(True)
    s = torch.tensor(c["scores"][::-1], dtype=torch.float64).reshape(shape)
    (F.log_softmax(z, 1) * s).sum().backward()
    res["logsoftmax"] = z.grad.flatten().tolist()
    out.append(res)
print(json.dumps(out))
`

func TestNLLGradTorch(t *testing.T) {
	cases := nllGradCases()
	blob, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	var want []map[string][]float64
	if err := json.Unmarshal([]byte(fixture.RunPython(t, nllGradTorch, string(blob))), &want); err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		in := loss.NLLInput{LogProb: c.Scores, Shape: c.Shape, Target: c.Target, Weight: c.Weight, IgnoreIndex: c.Ignore}
		name := fmt.Sprintf("%v/%s/weighted=%v/ignore=%v", c.Shape, c.Reduction, c.Weight != nil, c.Ignore != nil)
		r := loss.Reduction(c.Reduction)
		got, err := loss.NLLGrad(nil, in, r, c.Grad)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		nllCompare(t, name+": NLLGrad", got, want[i]["nll"])

		ce := in
		ce.LogProb = loss.LogSoftmax(c.Scores, c.Shape)
		dst := make([]float64, len(c.Scores))
		got, err = loss.SoftmaxCrossEntropyGrad(dst, ce, r, c.Grad)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		nllCompare(t, name+": SoftmaxCrossEntropyGrad", got, want[i]["ce"])

		s := make([]float64, len(c.Scores))
		for j, v := range c.Scores {
			s[len(s)-1-j] = v
		}
		got, err = loss.LogSoftmaxGrad(nil, s, ce.LogProb, c.Shape)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		nllCompare(t, name+": LogSoftmaxGrad", got, want[i]["logsoftmax"])
	}
}

func nllCompare(t *testing.T, name string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d values, want %d", name, len(got), len(want))
		return
	}
	for i := range got {
		if !(math.Abs(got[i]-want[i]) <= 1e-12*math.Max(1, math.Abs(want[i]))) {
			t.Errorf("%s: [%d] got %v, want %v", name, i, got[i], want[i])
			return
		}
	}
}

// TestNLLGradFiniteDifferences checks the gradients against central differences of NLL itself
// (of NLL after LogSoftmax, for the cross-entropy).
func TestNLLGradFiniteDifferences(t *testing.T) {
	for _, c := range nllGradCases()[:6] {
		r := loss.Reduction(c.Reduction)
		in := loss.NLLInput{Shape: c.Shape, Target: c.Target, Weight: c.Weight, IgnoreIndex: c.Ignore}
		value := func(z []float64, softmax bool) float64 {
			p := in
			p.LogProb = z
			if softmax {
				p.LogProb = loss.LogSoftmax(z, c.Shape)
			}
			l, err := loss.NLL(p, r)
			if err != nil {
				t.Fatal(err)
			}
			var s float64
			for i, v := range l {
				s += v * c.Grad[i]
			}
			return s
		}
		for _, softmax := range []bool{false, true} {
			p := in
			p.LogProb = c.Scores
			grad := loss.NLLGrad
			if softmax {
				p.LogProb = loss.LogSoftmax(c.Scores, c.Shape)
				grad = loss.SoftmaxCrossEntropyGrad
			}
			got, err := grad(nil, p, r, c.Grad)
			if err != nil {
				t.Fatal(err)
			}
			const h = 1e-6
			for i := range c.Scores {
				zp, zm := append([]float64(nil), c.Scores...), append([]float64(nil), c.Scores...)
				zp[i] += h
				zm[i] -= h
				want := (value(zp, softmax) - value(zm, softmax)) / (2 * h)
				if !(math.Abs(got[i]-want) <= 1e-7) {
					t.Fatalf("%v %s softmax=%v: [%d] got %v, central differences %v", c.Shape, c.Reduction, softmax, i, got[i], want)
				}
			}
		}
	}
}

func TestNLLGradErrors(t *testing.T) {
	in := loss.NLLInput{LogProb: make([]float64, 6), Shape: []int{2, 3}, Target: []int64{0, 3}}
	if _, err := loss.NLLGrad(nil, in, loss.Mean, []float64{1}); err == nil {
		t.Error("a target out of range: no error")
	}
	in.Target = []int64{0, 1}
	if _, err := loss.NLLGrad(nil, in, loss.None, []float64{1}); err == nil {
		t.Error("one upstream gradient for reduction none over 2 targets: no error")
	}
	if _, err := loss.SoftmaxCrossEntropyGrad(make([]float64, 5), in, loss.Mean, []float64{1}); err == nil {
		t.Error("a destination of the wrong length: no error")
	}
}
