package loss

import (
	"fmt"
	"math"

	"github.com/onnxtune/onnxtune/tensor"
)

// The regression losses: functions of d = output - target taken element by element (mse is in
// mse.go), and the Wasserstein critic loss, which multiplies instead.

var (
	_ Unreducer = MAE{}
	_ Unreducer = Huber{}
	_ Unreducer = SmoothL1{}
	_ Unreducer = Wasserstein{}
)

const targetLikeOutput = "floats (or integers) with the output's shape"

func init() {
	Register(Spec{
		Name:    "mae",
		Summary: "mean absolute error (L1), for regression robust to outliers",
		PyTorch: "nn.L1Loss()",
		Target:  targetLikeOutput,
		New: func(_ map[string]float64, p Params) (Loss, error) {
			return MAE{Reduction: p.Reduction}, nil
		},
	})
	Register(Spec{
		Name:    "huber",
		Summary: "squared error for |d| < delta, linear beyond: box and keypoint regression",
		PyTorch: "nn.HuberLoss(delta=delta)",
		Target:  targetLikeOutput,
		Options: []Option{{Key: "delta", Default: 1, Doc: "where the loss turns from quadratic to linear (> 0)"}},
		New: func(o map[string]float64, p Params) (Loss, error) {
			if !(o["delta"] > 0) {
				return nil, fmt.Errorf("loss huber: delta must be positive, got %g", o["delta"])
			}
			return Huber{Delta: o["delta"], Reduction: p.Reduction}, nil
		},
	})
	Register(Spec{
		Name:    "smooth-l1",
		Summary: "Huber divided by beta: 0.5 d^2/beta for |d| < beta, |d| - beta/2 beyond; beta=0 is L1",
		PyTorch: "nn.SmoothL1Loss(beta=beta)",
		Target:  targetLikeOutput,
		Options: []Option{{Key: "beta", Default: 1, Doc: "width of the quadratic zone (>= 0; 0 gives L1)"}},
		New: func(o map[string]float64, p Params) (Loss, error) {
			if !(o["beta"] >= 0) {
				return nil, fmt.Errorf("loss smooth-l1: beta must be >= 0, got %g", o["beta"])
			}
			return SmoothL1{Beta: o["beta"], Reduction: p.Reduction}, nil
		},
	})
	Register(Spec{
		Name:    "wasserstein",
		Summary: "WGAN critic loss mean(target * output), with target +1 for fakes and -1 for real samples",
		PyTorch: "(output * target).mean()",
		Target:  "critic labels +1/-1 with the output's shape ([N] for an [N, 1] output)",
		New: func(_ map[string]float64, p Params) (Loss, error) {
			return Wasserstein{Reduction: p.Reduction}, nil
		},
	})
}

// MAE is nn.L1Loss: the mean (or sum) of |y - t|. Its gradient is sign(y - t), 0 where y = t as
// in PyTorch. The zero Reduction means Mean.
type MAE struct{ Reduction Reduction }

// Name implements Loss.
func (MAE) Name() string { return "mae" }

// Eval implements Loss.
func (l MAE) Eval(y, target *tensor.Tensor) (Value, error) {
	return evalPointwise("mae", l.Reduction, y, target, absolute)
}

// Reading implements Loss: float labels; the output is no classifier's.
func (MAE) Reading() Reading { return Reading{Labels: FloatLabels} }

// Unreduced implements UnreducerXX: |y - t| with the output's shape.
func (MAE) Unreduced(y, target *tensor.Tensor) (*tensor.Tensor, error) {
	return unreducedPointwise("mae", y, target, absolute)
}

func absolute(y, t float64) (float64, float64) {
	switch d := y - t; {
	case d > 0:
		return d, 1
	case d < 0:
		return -d, -1
	}
	return 0, 0
}

// Huber is nn.HuberLoss(delta): 0.5 d^2 where |d| < Delta, Delta (|d| - Delta/2) elsewhere, for
// d = y - t. Delta must be positive.
type Huber struct {
	Delta     float64
	Reduction Reduction
}

// Name implements Loss.
func (Huber) Name() string { return "huber" }

// Reading implements Loss: float labels; the output is no classifier's.
func (Huber) Reading() Reading { return Reading{Labels: FloatLabels} }

// Eval implements Loss.
func (l Huber) Eval(y, target *tensor.Tensor) (Value, error) {
	if err := l.check(); err != nil {
		return Value{}, err
	}
	return evalPointwise("huber", l.Reduction, y, target, l.f)
}

// Unreduced implements Unreducer.
func (l Huber) Unreduced(y, target *tensor.Tensor) (*tensor.Tensor, error) {
	if err := l.check(); err != nil {
		return nil, err
	}
	return unreducedPointwise("huber", y, target, l.f)
}

func (l Huber) check() error {
	if !(l.Delta > 0) {
		return fmt.Errorf("loss huber: delta must be positive, got %g", l.Delta)
	}
	return nil
}

func (l Huber) f(y, t float64) (float64, float64) {
	d := y - t
	if a := math.Abs(d); a >= l.Delta {
		return l.Delta * (a - 0.5*l.Delta), math.Copysign(l.Delta, d)
	}
	return 0.5 * d * d, d
}

// SmoothL1 is nn.SmoothL1Loss(beta): 0.5 d^2 / Beta where |d| < Beta, |d| - Beta/2 elsewhere.
// Beta = 0 is L1, with PyTorch's gradient -1 at d = 0 (its backward tests d <= -beta first).
type SmoothL1 struct {
	Beta      float64
	Reduction Reduction
}

// Name implements Loss.
func (SmoothL1) Name() string { return "smooth-l1" }

// Reading implements Loss: float labels; the output is no classifier's.
func (SmoothL1) Reading() Reading { return Reading{Labels: FloatLabels} }

// Eval implements Loss.
func (l SmoothL1) Eval(y, target *tensor.Tensor) (Value, error) {
	if err := l.check(); err != nil {
		return Value{}, err
	}
	return evalPointwise("smooth-l1", l.Reduction, y, target, l.f)
}

// Unreduced implements Unreducer.
func (l SmoothL1) Unreduced(y, target *tensor.Tensor) (*tensor.Tensor, error) {
	if err := l.check(); err != nil {
		return nil, err
	}
	return unreducedPointwise("smooth-l1", y, target, l.f)
}

func (l SmoothL1) check() error {
	if !(l.Beta >= 0) {
		return fmt.Errorf("loss smooth-l1: beta must be >= 0, got %g", l.Beta)
	}
	return nil
}

func (l SmoothL1) f(y, t float64) (float64, float64) {
	d := y - t
	a := math.Abs(d)
	v := a - 0.5*l.Beta
	if a < l.Beta {
		v = 0.5 * d * d / l.Beta
	}
	switch {
	case d <= -l.Beta:
		return v, -1
	case d >= l.Beta:
		return v, 1
	}
	return v, d / l.Beta
}

// Wasserstein is the WGAN critic loss mean(t * y) for critic targets t = +1 (generated) and -1
// (real): minimising it pushes the critic's score up on real samples and down on fakes. The
// target has the output's shape, or [N] for an [N, 1] output.
type Wasserstein struct{ Reduction Reduction }

// Name implements Loss.
func (Wasserstein) Name() string { return "wasserstein" }

// Eval implements Loss.
func (l Wasserstein) Eval(y, target *tensor.Tensor) (Value, error) {
	if err := checkCritic(y, target); err != nil {
		return Value{}, err
	}
	return evalByElement(l.Reduction, y, target, critic), nil
}

// Reading implements Loss: critic labels of its own.
func (Wasserstein) Reading() Reading { return Reading{Labels: OwnTarget} }

// Unreduced implements Unreducer: t * y with the output's shape.
func (Wasserstein) Unreduced(y, target *tensor.Tensor) (*tensor.Tensor, error) {
	if err := checkCritic(y, target); err != nil {
		return nil, err
	}
	return unreducedByElement(y, target, critic), nil
}

func critic(y, t float64) (float64, float64) { return t * y, t }

func checkCritic(y, t *tensor.Tensor) error {
	if err := checkFloatOutput("wasserstein", y); err != nil {
		return err
	}
	s := y.Shape()
	if t != nil && len(s) == 2 && s[1] == 1 && tensor.EqualShapes(t.Shape(), s[:1]) {
		return checkTargetDType("wasserstein", t, s)
	}
	return checkTargetLike("wasserstein", y, t)
}

// evalPointwise checks a target shaped like the output and evaluates f over the elements.
func evalPointwise(name string, r Reduction, y, t *tensor.Tensor, f elementLoss) (Value, error) {
	if err := checkTargetLike(name, y, t); err != nil {
		return Value{}, err
	}
	return evalByElement(r, y, t, f), nil
}

// unreducedPointwise is evalPointwise's reduction=none: f per element, shaped like the output.
func unreducedPointwise(name string, y, t *tensor.Tensor, f elementLoss) (*tensor.Tensor, error) {
	if err := checkTargetLike(name, y, t); err != nil {
		return nil, err
	}
	return unreducedByElement(y, t, f), nil
}

func checkFloatOutput(name string, y *tensor.Tensor) error {
	if y == nil {
		return fmt.Errorf("loss %s: no output", name)
	}
	if !y.DType().IsFloat() {
		return fmt.Errorf("loss %s: output must be floating point, got %v", name, y)
	}
	return nil
}

// checkTargetLike checks a float output and a numeric target of the same shape.
func checkTargetLike(name string, y, t *tensor.Tensor) error {
	if err := checkFloatOutput(name, y); err != nil {
		return err
	}
	want := tensor.ShapeString(y.Shape()) + " float values"
	if t == nil {
		return fmt.Errorf("loss %s: no target: want %s", name, want)
	}
	if !tensor.EqualShapes(t.Shape(), y.Shape()) {
		return shapeError(name, y, t, want)
	}
	return checkTargetDType(name, t, y.Shape())
}

// checkTargetDType accepts float and integer targets (PyTorch promotes integer targets of the
// regression losses to the output's type).
func checkTargetDType(name string, t *tensor.Tensor, shape []int) error {
	if !t.DType().IsFloat() && !t.DType().IsInteger() {
		return fmt.Errorf("loss %s: target %v holds %v values: want %s float values", name, t, t.DType(), tensor.ShapeString(shape))
	}
	return nil
}
