// Package loss computes every training loss onnxtune offers, each equal to its PyTorch
// namesake: the value and its gradient with respect to the model output in one fused pass.
// The losses arrive with the loss-library issue; the package exists now so that the import
// direction of the layout (graph -> loss -> tensor) holds from the start.
package loss
