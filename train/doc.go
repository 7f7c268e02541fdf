// Package train fine-tunes an imported model. Today it computes the gradients of a loss
// expression over a model's outputs (Gradients); optimizers, schedules, the training loop,
// checkpoints and metrics come with the fine-tuning issue.
package train
