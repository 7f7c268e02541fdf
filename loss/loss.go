package loss

import (
	"fmt"
	"strings"

	"github.com/onnxtune/onnxtune/tensor"
)

// Loss is a training loss on one model output: its value and its gradient with respect to the
// output, computed in one pass (float64 accumulation, the gradient in the output's dtype).
type Loss interface {
	// Name is the loss's spelling in a loss expression, e.g. "cross-entropy".
	Name() string
	// Eval returns the loss, reduced as its Reduction says (with None: the mean), and
	// dLoss/dOutput, shaped like the output. Errors say how the target does not fit the output.
	Eval(output, target *tensor.Tensor) (float64, *tensor.Tensor, error)
}

// Parse reads a loss expression of a single unweighted term on the default output, such as
// "huber(delta=2)", and returns its loss. Expressions of several terms need ParseExpr.
func Parse(spec string) (Loss, error) {
	e, err := ParseExpr(spec, Params{})
	if err != nil {
		return nil, err
	}
	if t := e.Terms[0]; len(e.Terms) == 1 && t.Loss != nil && t.Weight == 1 && t.Output == "" {
		return t.Loss, nil
	}
	return nil, fmt.Errorf("loss: %q is not a single loss on the default output: use ParseExpr", spec)
}

func unprefix(err error) error {
	if s, ok := strings.CutPrefix(err.Error(), "loss: "); ok {
		return fmt.Errorf("%s", s)
	}
	return err
}
