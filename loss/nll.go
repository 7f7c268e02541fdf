package loss

import (
	"fmt"
	"math"
)

// Reduction says how per-element losses combine: "mean" (weighted by the class weights of the
// counted targets), "sum", or "none" (one loss per target position).
type Reduction string

// The reductions PyTorch and ONNX share.
const (
	Mean Reduction = "mean"
	Sum  Reduction = "sum"
	None Reduction = "none"
)

// ParseReduction checks a reduction name.
func ParseReduction(s string) (Reduction, error) {
	switch r := Reduction(s); r {
	case Mean, Sum, None:
		return r, nil
	}
	return "", fmt.Errorf("loss: unknown reduction %q (want mean, sum or none)", s)
}

// NLLInput describes a negative log-likelihood problem in the layout ONNX and PyTorch use:
// LogProb has shape [N, C, d1, ..., dk] and Target [N, d1, ..., dk] holds class indices.
type NLLInput struct {
	LogProb []float64
	Shape   []int
	Target  []int64
	Weight  []float64 // per class, or nil for all ones
	// IgnoreIndex, when set, names a target value that contributes neither loss nor weight.
	IgnoreIndex *int64
}

// NLL computes nn.NLLLoss (ONNX NegativeLogLikelihoodLoss): loss_i = -w[t_i] * logp[i, t_i]. With
// Mean, the sum is divided by the sum of the weights of the counted targets, not by their
// number. With None, the result has the target's shape.
func NLL(in NLLInput, r Reduction) ([]float64, error) {
	if len(in.Shape) < 2 {
		return nil, fmt.Errorf("loss: input must be [N, C, ...], got shape %v", in.Shape)
	}
	n, c := in.Shape[0], in.Shape[1]
	inner := 1
	for _, d := range in.Shape[2:] {
		inner *= d
	}
	if len(in.Target) != n*inner {
		return nil, fmt.Errorf("loss: target has %d elements, want %d for input shape %v", len(in.Target), n*inner, in.Shape)
	}
	if in.Weight != nil && len(in.Weight) != c {
		return nil, fmt.Errorf("loss: %d class weights for %d classes", len(in.Weight), c)
	}
	per := make([]float64, len(in.Target))
	var total, wsum float64
	for i := 0; i < n; i++ {
		for j := 0; j < inner; j++ {
			t := in.Target[i*inner+j]
			if in.IgnoreIndex != nil && t == *in.IgnoreIndex {
				continue
			}
			if t < 0 || t >= int64(c) {
				return nil, fmt.Errorf("loss: target %d is out of range for %d classes", t, c)
			}
			w := 1.0
			if in.Weight != nil {
				w = in.Weight[t]
			}
			l := -w * in.LogProb[(i*c+int(t))*inner+j]
			per[i*inner+j] = l
			total += l
			wsum += w
		}
	}
	switch r {
	case None:
		return per, nil
	case Sum:
		return []float64{total}, nil
	}
	if wsum == 0 {
		return []float64{math.NaN()}, nil // as PyTorch: 0/0 when every target is ignored
	}
	return []float64{total / wsum}, nil
}

// countedWeight is the sum of the class weights of the targets that are not ignored: what
// Mean divides by. The targets must have been checked (NLL does).
func (in NLLInput) countedWeight() float64 {
	var wsum float64
	for _, t := range in.Target {
		switch {
		case in.IgnoreIndex != nil && t == *in.IgnoreIndex:
		case in.Weight != nil:
			wsum += in.Weight[t]
		default:
			wsum++
		}
	}
	return wsum
}

// LogSoftmax returns log(softmax(z)) along axis 1 of a [N, C, d1, ..., dk] array, computed as
// z - max - log(sum(exp(z - max))) so that large logits neither overflow nor lose precision.
func LogSoftmax(z []float64, shape []int) []float64 {
	n, c := shape[0], shape[1]
	inner := len(z) / max(n*c, 1)
	out := make([]float64, len(z))
	for i := 0; i < n; i++ {
		for j := 0; j < inner; j++ {
			base := i*c*inner + j
			m := math.Inf(-1)
			for k := 0; k < c; k++ {
				m = math.Max(m, z[base+k*inner])
			}
			var s float64
			for k := 0; k < c; k++ {
				s += math.Exp(z[base+k*inner] - m)
			}
			lse := m + math.Log(s)
			for k := 0; k < c; k++ {
				out[base+k*inner] = z[base+k*inner] - lse
			}
		}
	}
	return out
}
