// Package data reads and writes the data onnxtune trains and evaluates on: NumPy .npy arrays
// and .npz archives, the usual way to move arrays between Python and onnxtune, converted to
// and from tensor.Tensor.
package data
