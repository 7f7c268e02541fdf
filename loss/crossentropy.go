package loss

import (
	"fmt"
	"math"

	"github.com/onnxtune/onnxtune/tensor"
)

var _ Loss = CrossEntropy{}

// CrossEntropy is nn.CrossEntropyLoss with mean reduction on logits [N, C, d1, ...] and int64
// class-index targets [N, d1, ...]: the mean over positions of logsumexp(z) - z[target]. Its
// gradient is (softmax(z) - onehot(target)) / count, fused rather than a softmax backward.
type CrossEntropy struct{}

// Name implements Loss.
func (CrossEntropy) Name() string { return "cross-entropy" }

// Eval implements Loss.
func (CrossEntropy) Eval(z, target *tensor.Tensor) (float64, *tensor.Tensor, error) {
	if z.Rank() < 2 || !z.DType().IsFloat() {
		return 0, nil, fmt.Errorf("loss cross-entropy: output must be float logits [N, C, ...], got %v", z)
	}
	want := append([]int{z.Shape()[0]}, z.Shape()[2:]...)
	if target.DType() != tensor.Int64 && target.DType() != tensor.Int32 {
		return 0, nil, fmt.Errorf("loss cross-entropy: target must hold int64 class indices, got %v", target)
	}
	if !tensor.EqualShapes(target.Shape(), want) {
		return 0, nil, fmt.Errorf("loss cross-entropy: target shape %v does not fit output shape %v (want %v)", target.Shape(), z.Shape(), want)
	}
	in := NLLInput{LogProb: LogSoftmax(z.ToFloat64s(), z.Shape()), Shape: z.Shape(), Target: target.ToInt64s()}
	v, err := NLL(in, Mean)
	if err != nil {
		return 0, nil, fmt.Errorf("loss cross-entropy: %w", unprefix(err))
	}
	n, c := z.Shape()[0], z.Shape()[1]
	inner := z.Len() / (n * c)
	count := float64(n * inner)
	g := make([]float64, z.Len())
	for i, lp := range in.LogProb {
		g[i] = math.Exp(lp) / count
	}
	for i, t := range in.Target {
		b, j := i/inner, i%inner
		g[(b*c+int(t))*inner+j] -= 1 / count
	}
	return v[0], tensor.FromFloat64s(z.DType(), z.Shape(), g), nil
}
