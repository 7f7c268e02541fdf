package loss

import (
	"fmt"
	"math"
	"strings"

	"github.com/onnxtune/onnxtune/tensor"
)

// Loss is a training loss on one model output: its value and its gradient with respect to the
// output, computed in one pass (float64 accumulation, float32 gradient).
type Loss interface {
	// Name is the loss's spelling in a loss expression, e.g. "cross-entropy".
	Name() string
	// Eval returns the loss and dLoss/dOutput for an output and its target. Errors say how the
	// target does not fit the output.
	Eval(output, target *tensor.Tensor) (float64, *tensor.Tensor, error)
}

// Parse reads a loss specification. This version knows "cross-entropy" and "mse"; the loss
// library extends it.
func Parse(spec string) (Loss, error) {
	switch strings.TrimSpace(spec) {
	case "cross-entropy":
		return CrossEntropy{}, nil
	case "mse":
		return MSE{}, nil
	}
	return nil, fmt.Errorf("loss: unknown loss %q (known: cross-entropy, mse)", spec)
}

var (
	_ Loss = CrossEntropy{}
	_ Loss = MSE{}
)

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

// MSE is nn.MSELoss with mean reduction: mean((y - t)^2), gradient 2(y - t)/count.
type MSE struct{}

// Name implements Loss.
func (MSE) Name() string { return "mse" }

// Eval implements Loss.
func (MSE) Eval(y, target *tensor.Tensor) (float64, *tensor.Tensor, error) {
	if !y.DType().IsFloat() {
		return 0, nil, fmt.Errorf("loss mse: output must be floating point, got %v", y)
	}
	if !tensor.EqualShapes(y.Shape(), target.Shape()) {
		return 0, nil, fmt.Errorf("loss mse: target shape %v does not fit output shape %v", target.Shape(), y.Shape())
	}
	count := float64(y.Len())
	var sum float64
	g := make([]float64, y.Len())
	for i := range g {
		d := y.Float64At(i) - target.Float64At(i)
		sum += d * d
		g[i] = 2 * d / count
	}
	return sum / count, tensor.FromFloat64s(y.DType(), y.Shape(), g), nil
}

func unprefix(err error) error {
	if s, ok := strings.CutPrefix(err.Error(), "loss: "); ok {
		return fmt.Errorf("%s", s)
	}
	return err
}
