package loss

import "github.com/onnxtune/onnxtune/tensor"

// Unreducer is a Loss that can report one loss per sample or element (reduction=none), for evaluation.
type Unreducer interface {
	Loss
	Unreduced(output, target *tensor.Tensor) (*tensor.Tensor, error)
}
