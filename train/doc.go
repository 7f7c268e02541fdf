// Package train fine-tunes an imported model as PyTorch would: Run is the whole job of
// `onnxtune train`, from an ONNX file and labelled data to a tuned ONNX file ready for any
// runtime.
//
// The pieces, each usable on its own:
//
//   - Gradients: one forward and backward pass of a loss expression over a model's outputs;
//   - Step: one optimizer step on a batch the caller brings, what Run's loop does per batch;
//   - Optimizer (sgd, adam, adamw) and Schedule, equal to torch.optim and its schedulers;
//   - SelectTrainable (--train-only, --freeze) and ReplaceHead (--num-classes);
//   - BNMode: which statistics BatchNormalization uses while training, with running
//     statistics updated as PyTorch's train mode updates them;
//   - RecalibrateBN and RecalibrateModel (`onnxtune recalibrate-bn`): BatchNorm statistics
//     re-estimated on unlabelled data of a new domain (AdaBN), as PyTorch's momentum=None;
//   - Run's loop: one optimizer step per batch, validation, early stopping, checkpoints
//     after every epoch that a resumed run continues bit for bit, and cancellation between
//     batches that leaves the last checkpoint and the output untouched;
//   - ExportModel and VerifyExport: the input model with new weights, BatchNorm and Dropout
//     back in inference mode and onnxtune.* metadata, checked against the engine once written;
//   - DataLabels and ParsePositiveClass: a data set's classes and the positive class of a
//     binary classifier, for loss.AdaptTarget and the metrics;
//   - Evaluate and Metrics: the loss of a whole data set (the one path that `onnxtune eval`
//     and training's validation share), accuracy, per-class precision, recall and F1, the
//     confusion matrix and a binary classifier's screening numbers and ROC AUC;
//   - Recorded and DefaultLoss: what a tuned model's metadata says it was trained with, and
//     the loss an output is evaluated with when nothing says.
package train
