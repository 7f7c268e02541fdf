// Package train fine-tunes an imported model as PyTorch would: Run is the whole job of
// `onnxtune train`, from an ONNX file and labelled data to a tuned ONNX file ready for any
// runtime.
//
// The pieces, each usable on its own:
//
//   - Gradients: one forward and backward pass of a loss expression over a model's outputs;
//   - Optimizer (sgd, adam, adamw) and Schedule, equal to torch.optim and its schedulers;
//   - SelectTrainable (--train-only, --freeze) and ReplaceHead (--num-classes);
//   - BNMode: which statistics BatchNormalization uses while training, with running
//     statistics updated as PyTorch's train mode updates them;
//   - Run's loop: one optimizer step per batch, validation, early stopping, checkpoints
//     after every epoch that a resumed run continues bit for bit, and cancellation between
//     batches that leaves the last checkpoint and the output untouched;
//   - UpdateModel and VerifyExport: the input model with new weights, BatchNorm and Dropout
//     back in inference mode and onnxtune.* metadata, checked against the engine once written;
//   - Metrics and Evaluate: loss, accuracy, per-class precision, recall and F1 and the
//     confusion matrix (`onnxtune eval`).
package train
