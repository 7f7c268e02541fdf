package backprop

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/tensor"
)

// CheckOptions tunes Check.
type CheckOptions struct {
	// Eps is the central-difference step, relative to max(1, |x|). Zero tries 1e-2, 1e-3 and
	// 1e-4 for float32 values, each element keeping the closest, and uses 1e-6 for float64.
	Eps float64
	// Samples bounds the elements checked per value (chosen at random); zero checks all.
	Samples int
	// Seed fixes the output projection and the sampled elements.
	Seed uint64
}

// CheckResult is the comparison for one differentiated value.
type CheckResult struct {
	Name string // the value (an initializer or graph input)
	Node string // the first node that reads it, for reports
	// RelErr is |analytic - numeric| / |numeric| over the sampled elements (vector norms).
	RelErr  float64
	Checked int
}

// Check compares the gradients the program computes with central finite differences of the
// scalar L = sum over float outputs of r * y, for a fixed random projection r. Values may be
// initializers or graph inputs; initializers are perturbed in place and restored.
func Check(plan *graph.Plan, inputs map[string]*tensor.Tensor, wrt []string, opts CheckOptions) ([]CheckResult, error) {
	prog, err := NewProgram(plan, wrt)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(opts.Seed, 0x5eed))
	tape, err := prog.Forward(nil, inputs)
	if err != nil {
		return nil, err
	}
	proj := map[string]*tensor.Tensor{}
	for name, y := range tape.Outputs() {
		if !y.DType().IsFloat() {
			continue
		}
		r := tensor.New(y.DType(), y.Shape()...)
		for i := 0; i < r.Len(); i++ {
			setFloat(r, i, rng.NormFloat64())
		}
		proj[name] = r
	}
	grads, err := tape.Backward(proj)
	if err != nil {
		return nil, err
	}
	// The finite differences go through the forward pass the gradients came from (Plan.Run
	// may take faster algorithms that round differently, such as F(4×4, 3×3)).
	lossAt := func() (float64, error) {
		tape, err := prog.Forward(nil, inputs)
		if err != nil {
			return 0, err
		}
		out := tape.Outputs()
		var l float64
		for name, r := range proj {
			y := out[name]
			for i := 0; i < y.Len(); i++ {
				l += y.Float64At(i) * r.Float64At(i)
			}
		}
		return l, nil
	}
	var results []CheckResult
	for _, name := range wrt {
		v := plan.Graph.Initializers[name]
		if v == nil {
			v = inputs[name]
		}
		if v == nil {
			return nil, fmt.Errorf("backprop: no initializer or input %q", name)
		}
		idx := rng.Perm(v.Len())
		if opts.Samples > 0 && len(idx) > opts.Samples {
			idx = idx[:opts.Samples]
		}
		steps := []float64{opts.Eps}
		switch {
		case opts.Eps != 0:
		case v.DType() == tensor.Float64:
			steps = []float64{1e-6}
		default:
			// Float32 has no single good step: rounding noise grows as the step shrinks, and a
			// larger step crosses more ReLU and max-pool kinks.
			steps = []float64{1e-2, 1e-3, 1e-4}
		}
		// Each element keeps the difference quotient closest to the analytic value over the
		// steps tried: a wrong gradient is far from all of them, while a correct one is near
		// at least the step that neither rounds away nor crosses a kink.
		var num, diff float64
		for _, i := range idx {
			x := v.Float64At(i)
			a := grads[name].Float64At(i)
			best, bestFD := math.Inf(1), 0.0
			for _, eps := range steps {
				h := eps * math.Max(1, math.Abs(x))
				setFloat(v, i, x+h)
				lp, err := lossAt()
				if err != nil {
					setFloat(v, i, x)
					return nil, err
				}
				setFloat(v, i, x-h)
				lm, err := lossAt()
				setFloat(v, i, x)
				if err != nil {
					return nil, err
				}
				fd := (lp - lm) / (2 * h)
				if d := math.Abs(a - fd); d < best {
					best, bestFD = d, fd
				}
			}
			num += bestFD * bestFD
			diff += best * best
		}
		rel := math.Sqrt(diff) / math.Max(math.Sqrt(num), 1e-12)
		results = append(results, CheckResult{Name: name, Node: firstReader(plan, name), RelErr: rel, Checked: len(idx)})
	}
	return results, nil
}

func firstReader(plan *graph.Plan, name string) string {
	for _, n := range plan.Graph.Nodes {
		for _, in := range n.Inputs {
			if in == name {
				return n.String()
			}
		}
	}
	return ""
}

// setFloat stores v at element i of a floating-point tensor.
func setFloat(t *tensor.Tensor, i int, v float64) {
	switch d := t.Data().(type) {
	case []float32:
		d[i] = float32(v)
	case []float64:
		d[i] = v
	case []uint16:
		if t.DType() == tensor.BFloat16 {
			d[i] = tensor.Float32ToBFloat16(float32(v))
		} else {
			d[i] = tensor.Float32ToFloat16(float32(v))
		}
	}
}
