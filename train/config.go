package train

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/internal/atomicfile"
	"github.com/onnxtune/onnxtune/onnx"
)

// Config is one fine-tuning run: what `onnxtune train` does, flag for flag. Zero values
// mean the defaults given per field.
type Config struct {
	// Model is the ONNX file to fine-tune. Out is where the tuned model is written ("": not
	// written; Result.Model still holds it).
	Model, Out string

	// Data is the training data, opened with data.Open for the model's input: an .npz (x,
	// or the input's name, and y), IDX files, or an image folder. Train, when not nil, is
	// used instead (Data then only names it in the metadata).
	Data  string
	Train data.Dataset
	// Val is validation data opened like Data (a directory of IDX files gives its t10k
	// split), or ValData instead; or ValSplit, in (0, 1), holds that fraction of the
	// training data out (stratified by class, seeded by Seed).
	Val      string
	ValData  data.Dataset
	ValSplit float64
	// Mean and Std normalise each input channel (nil: ImageNet's for 3-channel image
	// folders, none otherwise; see data.ImageTransform).
	Mean, Std []float32
	// Augment is applied to training examples (not to validation ones).
	Augment data.Augment
	// Workers is the number of goroutines decoding examples (0: GOMAXPROCS).
	Workers int
	// SkipBad leaves out the images of an image folder whose header no decoder reads, and
	// says how many; without it, one such image stops the run before training.
	SkipBad bool

	// Loss is the loss expression (loss.ParseExpr), ClassWeights its class weights, and
	// Output the graph output its terms without @OUTPUT read ("": the first).
	// BalanceClassWeights sets the class weights from the training data instead:
	// N / (classes * count_c), scikit-learn's "balanced".
	Loss                string
	ClassWeights        []float64
	BalanceClassWeights bool
	Output              string
	// PositiveClass names the positive class of a binary classifier: a class name of the
	// data, or an index ("": class 1, the second in sorted folder order). Class-index
	// targets become 1 for it and 0 for the others on a one-logit output (loss.AdaptTarget),
	// and the validation metrics screen for it. Naming it lets a one-logit model train on a
	// data set of more than two classes, that class against the rest.
	PositiveClass string
	// Balance draws each epoch's examples with replacement, each with probability inversely
	// proportional to its class's frequency (data.BalancedWeights), so that every class is
	// drawn equally often on average.
	Balance bool
	// Embedding, when set, trains and exports the model cut at that value ("auto": the input
	// of the final classifier) as an embedding model whose output is named "embedding"
	// (CutAtEmbedding); Normalize L2-normalises it.
	Embedding string
	Normalize bool
	// MPerClass, when positive, makes every batch hold MPerClass examples of each of
	// BatchSize / MPerClass classes (data.Loader.MPerClass, pytorch-metric-learning's
	// MPerClassSampler), for losses that form pairs or triplets within a batch.
	MPerClass int

	// Optimizer is the optimizer and its hyper-parameters; LR its learning rate (0: 0.01
	// for sgd, 0.001 for adam and adamw).
	Optimizer OptimizerConfig
	LR        float64
	// Schedule is constant (""), step or cosine, with StepSize (epochs) and Gamma for step,
	// and WarmupSteps linear warm-up steps (see Schedule).
	Schedule    string
	StepSize    int
	Gamma       float64
	WarmupSteps int

	// Epochs (0: 10) of batches of BatchSize examples (0: 32), one optimizer step per batch;
	// the last batch of an epoch may be smaller. Shuffle draws a new order every epoch
	// (false: file order). Seed makes shuffling, augmentation, the validation split, a new
	// head and Dropout repeatable.
	Epochs, BatchSize int
	Shuffle           bool
	Seed              uint64

	// Trainable lists the initializers to train; nil selects them from
	// backprop.Trainable with TrainOnly and Freeze (SelectTrainable). Tensors not trained
	// are written back bit for bit.
	Trainable         []string
	TrainOnly, Freeze string
	// NumClasses, when > 0, replaces the classifier with a fresh NumClasses-way layer
	// (ReplaceHead) before training.
	NumClasses int
	// BN says which statistics BatchNormalization uses while training ("": BNAuto).
	BN BNMode
	// Patience, when > 0, stops training after that many epochs without a better monitored
	// value, and the best epoch's weights are the result (they are whenever Patience > 0).
	// Monitor is what "better" follows (ParseMonitor; "": val_loss, lower is better).
	Patience int
	Monitor  string
	// TargetSensitivity, when set, writes a decision into the tuned model (Calibrate): a
	// temperature fitted on the validation data and the highest threshold whose sensitivity
	// there is at least this, as a probability and a decision output.
	TargetSensitivity float64
	// CacheLimit is the most memory, in bytes, the frozen backbone's outputs may take when
	// they are computed once for the whole run (setupCache); 0 means DefaultCacheLimit, and a
	// negative limit turns the cache off.
	CacheLimit int64
	// EmbedPreprocessing, when set, makes the tuned model take uint8 pixels in this layout
	// (EmbedPreprocessing); the training data must be an image folder.
	EmbedPreprocessing PixelLayout

	// CheckpointDir receives a checkpoint after every epoch. Resume continues the run
	// checkpointed there (and keeps checkpointing there unless CheckpointDir says
	// otherwise); the result equals an uninterrupted run's bit for bit.
	CheckpointDir, Resume string
	// MaxMemory, when positive, is the most memory (bytes) the run may use: a batch size
	// whose estimated peak does not fit is refused before training, and the Go runtime's
	// soft limit is set to it. Without it, GOMEMLIMIT is the limit, if set.
	MaxMemory int64
	// CheckpointEvery, when positive, also checkpoints every that many optimizer steps
	// within an epoch. A run that SIGINT or SIGTERM stops checkpoints where it stands.
	CheckpointEvery int
	// Command is the command line that started the run (model and flags), recorded in each
	// checkpoint for `train --resume DIR` alone to read back (SavedCommand); train itself
	// does not read it.
	Command map[string]string
	// Log, when set, receives one JSON record per epoch (EpochStats), rewritten whole (and
	// atomically) after each epoch; a resumed run's log holds the checkpoint's epochs too.
	Log string

	// Progress receives progress reports (nil: none): with ProgressBar, a bar redrawn in
	// place during each epoch (for a terminal); otherwise one line per epoch.
	Progress    io.Writer
	ProgressBar bool
}

// EpochStats is what one epoch did: the record --log writes, one JSON object per line.
type EpochStats struct {
	Epoch     int      `json:"epoch"` // 1-based
	TrainLoss float64  `json:"train_loss"`
	ValLoss   *float64 `json:"val_loss"` // null without validation data
	// Metrics are validation metrics (Report.Metrics: accuracy, ..., and a binary
	// classifier's sensitivity, specificity, ppv, npv, f1, roc_auc and counts) where the loss
	// is a classifier's.
	Metrics  map[string]float64 `json:"metrics,omitempty"`
	LR       float64            `json:"lr"` // the learning rate of the epoch's last step
	Seconds  float64            `json:"seconds"`
	Examples int                `json:"examples"`
	Steps    int                `json:"steps"` // optimizer steps taken so far in the run
}

// Result is what a run produced.
type Result struct {
	// Model is the tuned model, as written to Config.Out.
	Model *onnx.Model
	// History holds every epoch of the run, those before a resume included.
	History []EpochStats
	// Epochs is the number of epochs trained; BestEpoch the 1-based epoch whose weights the
	// model holds when Patience > 0 (0 otherwise), and Stopped whether early stopping ended
	// the run.
	Epochs, BestEpoch int
	Stopped           bool
	// Trained names the initializers trained; Head describes the new classifier, if any.
	Trained []string
	Head    *HeadInfo
	// Calibration is the decision written into the model under TargetSensitivity, and
	// Preprocessing the input it takes under EmbedPreprocessing.
	Calibration   *Calibration
	Preprocessing *Preprocessing
}

// withDefaults returns c with its defaults filled in (Epochs, BatchSize, BN, and
// CheckpointDir from Resume), after the checks that need neither the model nor the data:
// counts not negative, one source of validation data, some training data, and no file the
// run writes in place of the model being tuned.
func (c Config) withDefaults() (Config, error) {
	if c.Model == "" {
		return Config{}, errors.New("train: no model")
	}
	if c.Epochs == 0 {
		c.Epochs = 10
	}
	if c.BatchSize == 0 {
		c.BatchSize = 32
	}
	switch {
	case c.Epochs < 0:
		return Config{}, fmt.Errorf("train: %d epochs (want at least 1)", c.Epochs)
	case c.BatchSize < 0:
		return Config{}, fmt.Errorf("train: batch size %d (want at least 1)", c.BatchSize)
	case c.Patience < 0:
		return Config{}, fmt.Errorf("train: patience %d (want 0 for none, or more)", c.Patience)
	case c.TargetSensitivity < 0 || c.TargetSensitivity > 1:
		return Config{}, fmt.Errorf("train: target sensitivity %g (want a value in (0, 1])", c.TargetSensitivity)
	case c.NumClasses < 0:
		return Config{}, fmt.Errorf("train: %d classes (want at least 1)", c.NumClasses)
	case c.Embedding != "" && c.NumClasses > 0:
		return Config{}, errors.New("train: both an embedding and a new classifier head; want one")
	case c.Normalize && c.Embedding == "":
		return Config{}, errors.New("train: normalize applies to an embedding: give --embedding auto or a value's name")
	case c.MPerClass < 0:
		return Config{}, fmt.Errorf("train: %d examples per class (want at least 1)", c.MPerClass)
	case c.MPerClass > 0 && c.Balance:
		return Config{}, errors.New("train: both balanced sampling and an m-per-class sampler; want one")
	case c.MaxMemory < 0:
		return Config{}, fmt.Errorf("train: memory limit %d bytes (want 0 for none, or more)", c.MaxMemory)
	case c.CheckpointEvery < 0:
		return Config{}, fmt.Errorf("train: checkpoint every %d steps (want 0 for none, or more)", c.CheckpointEvery)
	case c.CheckpointEvery > 0 && c.CheckpointDir == "" && c.Resume == "":
		return Config{}, errors.New("train: --checkpoint-every without --checkpoint-dir: where should the checkpoints go?")
	case c.ValSplit != 0 && (c.Val != "" || c.ValData != nil):
		return Config{}, errors.New("train: both validation data and a validation split given; want one")
	case c.Train == nil && c.Data == "":
		return Config{}, errors.New("train: no training data")
	case c.BalanceClassWeights && len(c.ClassWeights) > 0:
		return Config{}, errors.New("train: both class weights and balanced class weights given; want one")
	}
	mode, err := ParseBNMode(string(c.BN))
	if err != nil {
		return Config{}, err
	}
	c.BN = mode
	if c.CheckpointDir == "" {
		c.CheckpointDir = c.Resume
	}
	writes := map[string]string{} // what -> path of each file the run writes in place of another
	if c.Out != "" {
		writes["output"] = c.Out
	}
	if c.CheckpointDir != "" {
		writes["checkpoint model"] = filepath.Join(c.CheckpointDir, checkpointModel)
	}
	for what, path := range writes {
		if err := CheckOutput(c.Model, what, path); err != nil {
			return Config{}, err
		}
	}
	if c.Out != "" {
		// Before training, not after it: a missing or read-only folder loses no epochs.
		if err := atomicfile.CheckWritable(c.Out); err != nil {
			return Config{}, fmt.Errorf("train: the output %s cannot be written: %w", c.Out, err)
		}
	}
	if c.CheckpointDir != "" {
		// The folder is made at the first checkpoint: the nearest one that exists must take it.
		dir := c.CheckpointDir
		for {
			if _, err := os.Stat(dir); err == nil || filepath.Dir(dir) == dir {
				break
			}
			dir = filepath.Dir(dir)
		}
		if err := atomicfile.CheckWritable(filepath.Join(dir, checkpointFile)); err != nil {
			return Config{}, fmt.Errorf("train: the checkpoint folder %s cannot be written: %w", c.CheckpointDir, err)
		}
	}
	return c, nil
}
