package loss

import (
	"fmt"
	"math"
)

// nllCoef returns, per target position, the factor c with dL/dlogp[i, t_i] = -c: the class
// weight of the target times the upstream gradient of that position's loss (grad[0] / the
// weight sum for Mean, grad[0] for Sum, grad[i] for None), and 0 for ignored targets. It
// checks the input as NLL does.
func nllCoef(in NLLInput, r Reduction, grad []float64) (coef []float64, n, c, inner int, err error) {
	if len(in.Shape) < 2 {
		return nil, 0, 0, 0, fmt.Errorf("loss: input must be [N, C, ...], got shape %v", in.Shape)
	}
	n, c = in.Shape[0], in.Shape[1]
	inner = 1
	for _, d := range in.Shape[2:] {
		inner *= d
	}
	if len(in.Target) != n*inner {
		return nil, 0, 0, 0, fmt.Errorf("loss: target has %d elements, want %d for input shape %v", len(in.Target), n*inner, in.Shape)
	}
	if len(in.LogProb) != n*c*inner {
		return nil, 0, 0, 0, fmt.Errorf("loss: %d log-probabilities for input shape %v", len(in.LogProb), in.Shape)
	}
	if in.Weight != nil && len(in.Weight) != c {
		return nil, 0, 0, 0, fmt.Errorf("loss: %d class weights for %d classes", len(in.Weight), c)
	}
	want := 1
	if r == None {
		want = len(in.Target)
	}
	if len(grad) != want {
		return nil, 0, 0, 0, fmt.Errorf("loss: %d upstream gradients for reduction %q over %d targets, want %d", len(grad), r, len(in.Target), want)
	}
	coef = make([]float64, len(in.Target))
	var wsum float64
	for p, t := range in.Target {
		if in.IgnoreIndex != nil && t == *in.IgnoreIndex {
			continue
		}
		if t < 0 || t >= int64(c) {
			return nil, 0, 0, 0, fmt.Errorf("loss: target %d is out of range for %d classes", t, c)
		}
		w := 1.0
		if in.Weight != nil {
			w = in.Weight[t]
		}
		wsum += w
		if r == None {
			coef[p] = w * grad[p]
		} else {
			coef[p] = w * grad[0]
		}
	}
	// Mean divides by the weight sum of the counted targets. When none is counted the loss is
	// NaN (0/0) but, as in PyTorch, no position receives a gradient: coef stays all zero.
	if r == Mean && wsum != 0 {
		for p := range coef {
			coef[p] /= wsum
		}
	}
	return coef, n, c, inner, nil
}

// NLLGrad returns the gradient of NLL(in, r) with respect to in.LogProb, given grad, the
// gradient of the loss NLL returns (one element for Mean and Sum, one per target for None). It
// is -w[t_i] * grad_i at each counted target position (with grad_i divided by the weight sum
// for Mean) and 0 everywhere else. The result goes into dst when it has len(in.LogProb)
// elements, into a new slice when dst is nil.
func NLLGrad(dst []float64, in NLLInput, r Reduction, grad []float64) ([]float64, error) {
	coef, n, c, inner, err := nllCoef(in, r, grad)
	if err != nil {
		return nil, err
	}
	if dst, err = gradDst(dst, len(in.LogProb)); err != nil {
		return nil, err
	}
	clear(dst)
	for i := 0; i < n; i++ {
		for j := 0; j < inner; j++ {
			p := i*inner + j
			if coef[p] != 0 {
				dst[(i*c+int(in.Target[p]))*inner+j] = -coef[p]
			}
		}
	}
	return dst, nil
}

// SoftmaxCrossEntropyGrad returns the gradient of the softmax cross-entropy (NLL of the log-
// softmax of scores z along axis 1) with respect to the scores, from in.LogProb holding
// LogSoftmax(z) and grad as for NLLGrad: w[t_i] * grad_i * (softmax(z) - onehot(t_i)) at each
// counted position, 0 at ignored ones. dst is used as by NLLGrad.
func SoftmaxCrossEntropyGrad(dst []float64, in NLLInput, r Reduction, grad []float64) ([]float64, error) {
	coef, n, c, inner, err := nllCoef(in, r, grad)
	if err != nil {
		return nil, err
	}
	if dst, err = gradDst(dst, len(in.LogProb)); err != nil {
		return nil, err
	}
	for i := 0; i < n; i++ {
		for j := 0; j < inner; j++ {
			p := i*inner + j
			base := i*c*inner + j
			k := coef[p]
			if k == 0 {
				for cl := 0; cl < c; cl++ {
					dst[base+cl*inner] = 0
				}
				continue
			}
			for cl := 0; cl < c; cl++ {
				dst[base+cl*inner] = k * math.Exp(in.LogProb[base+cl*inner])
			}
			dst[base+int(in.Target[p])*inner] -= k
		}
	}
	return dst, nil
}

// LogSoftmaxGrad returns the gradient with respect to the scores z of a [N, C, d1, ..., dk]
// array of LogSoftmax(z) along axis 1, given logProb = LogSoftmax(z) and grad, the gradient
// with respect to logProb: grad - softmax(z) * sum over classes of grad. dst is used as by
// NLLGrad and may be grad itself.
func LogSoftmaxGrad(dst, grad, logProb []float64, shape []int) ([]float64, error) {
	if len(shape) < 2 {
		return nil, fmt.Errorf("loss: input must be [N, C, ...], got shape %v", shape)
	}
	n, c := shape[0], shape[1]
	size := 1
	for _, d := range shape {
		size *= d
	}
	if len(grad) != size || len(logProb) != size {
		return nil, fmt.Errorf("loss: %d gradients and %d log-probabilities for shape %v", len(grad), len(logProb), shape)
	}
	dst, err := gradDst(dst, size)
	if err != nil {
		return nil, err
	}
	inner := size / max(n*c, 1)
	for i := 0; i < n; i++ {
		for j := 0; j < inner; j++ {
			base := i*c*inner + j
			var s float64
			for k := 0; k < c; k++ {
				s += grad[base+k*inner]
			}
			for k := 0; k < c; k++ {
				dst[base+k*inner] = grad[base+k*inner] - math.Exp(logProb[base+k*inner])*s
			}
		}
	}
	return dst, nil
}

// gradDst returns dst if it holds n elements, a new slice if it is nil.
func gradDst(dst []float64, n int) ([]float64, error) {
	if dst == nil {
		return make([]float64, n), nil
	}
	if len(dst) != n {
		return nil, fmt.Errorf("loss: destination has %d elements, want %d", len(dst), n)
	}
	return dst, nil
}
