// Package data reads the data onnxtune trains and evaluates on: NumPy .npy/.npz arrays, IDX
// files (MNIST, Fashion-MNIST), and image folders decoded and transformed as torchvision's
// ImageFolder pipeline does, with or without their labels (Options.Unlabelled); Datasets, seeded stratified splits, and a Loader that batches
// them with a bounded pool of decoding workers, in order, shuffled, or drawn by per-example
// weights (BalancedWeights, to see every class equally often).
package data
