// Package train fine-tunes an imported model: optimizers and learning-rate schedules equal to
// PyTorch's, the training loop, checkpoints and metrics. It arrives with the fine-tuning issue;
// the package exists now so that the layout of the house is complete.
package train
