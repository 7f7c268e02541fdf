// Package loss computes every training loss onnxtune offers, each equal to its PyTorch
// namesake: the value and its gradient with respect to the model output in one fused pass, in
// float64 accumulation, stable for logits of magnitude 1e4. Losses register themselves
// (Register, Specs) and combine in loss expressions (ParseExpr): weighted terms, each on a
// graph output, plus weight penalties such as l2. An expression evaluates a batch once
// (Expr.Eval: its value, the seeds of the backward pass, the penalties' gradients), adapting
// class-index targets to what each loss reads (AdaptTarget, by the loss's Reading), and Total
// accumulates it over a data set exactly, whatever the batch size. The ONNX loss operators of
// package graph run through the same code.
package loss
