// Package backprop computes gradients of a loss with respect to the trainable initializers of
// an imported graph: one vector-Jacobian product per operator, kept apart from the forward
// kernels of package graph and keyed by the same operator type, and the reverse walk over a
// plan.
//
// It also decides which initializers are trainable (Trainable), the rule that both fine-tuning
// and `onnxtune inspect` use.
package backprop
