package loss

import (
	"fmt"
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

func unprefix(err error) error {
	if s, ok := strings.CutPrefix(err.Error(), "loss: "); ok {
		return fmt.Errorf("%s", s)
	}
	return err
}
