package loss

import "github.com/onnxtune/onnxtune/tensor"

var _ Unreducer = MSE{}

func init() {
	Register(Spec{
		Name:    "mse",
		Summary: "mean squared error, for regression",
		PyTorch: "nn.MSELoss()",
		Target:  targetLikeOutput,
		New: func(_ map[string]float64, p Params) (Loss, error) {
			return MSE{Reduction: p.Reduction}, nil
		},
	})
}

// MSE is nn.MSELoss: the mean (or sum) over elements of (y - t)^2, with gradient 2(y - t)
// divided by the element count for Mean. The zero Reduction means Mean.
type MSE struct{ Reduction Reduction }

// Name implements Loss.
func (MSE) Name() string { return "mse" }

// Eval implements Loss.
func (l MSE) Eval(y, target *tensor.Tensor) (Value, error) {
	return evalPointwise("mse", l.Reduction, y, target, squared)
}

// Reading implements Loss: float labels; the output is no classifier's.
func (MSE) Reading() Reading { return Reading{Labels: FloatLabels} }

// Unreduced implements Unreducer: (y - t)^2 with the output's shape.
func (MSE) Unreduced(y, target *tensor.Tensor) (*tensor.Tensor, error) {
	return unreducedPointwise("mse", y, target, squared)
}

func squared(y, t float64) (float64, float64) { d := y - t; return d * d, 2 * d }
