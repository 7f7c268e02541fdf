package loss

import (
	"fmt"

	"github.com/onnxtune/onnxtune/tensor"
)

var _ Loss = MSE{}

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
