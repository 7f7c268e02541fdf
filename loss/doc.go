// Package loss computes every training loss onnxtune offers, each equal to its PyTorch
// namesake: the value and its gradient with respect to the model output in one fused pass, in
// float64 accumulation, stable for logits of magnitude 1e4. Losses register themselves
// (Register, Specs) and combine in loss expressions (ParseExpr): weighted terms, each on a
// graph output, plus weight penalties such as l2. The ONNX loss operators of package graph
// run through the same code.
package loss
