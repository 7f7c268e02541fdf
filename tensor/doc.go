// Package tensor holds the Tensor type that every layer of onnxtune passes around (float32
// row-major as the working type, plus the integer, boolean and other floating-point dtypes
// that ONNX models carry for shapes, indices and masks), shape and broadcasting arithmetic,
// and the numeric kernels (GEMM, convolution, pooling, element-wise, reductions) that the
// engine runs on.
//
// tensor imports nothing else of onnxtune.
package tensor
