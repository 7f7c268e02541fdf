package train

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/internal/atomicfile"
	"github.com/onnxtune/onnxtune/loss"
	"github.com/onnxtune/onnxtune/tensor"
)

// A checkpoint directory holds, after every epoch (and, within one, every --checkpoint-every
// steps and when a signal stops the run):
//
//	checkpoint.json       the record below, written last: it names the other files of the
//	                      checkpoint and their SHA-256, so a run that dies while writing
//	                      leaves the previous checkpoint whole
//	weights-eNNNN.npz     every tensor training changes (trained initializers, running
//	                      statistics), keyed by initializer name; -eNNNN-bBBBBBB.npz
//	                      for a checkpoint BBBBBB batches into epoch NNNN+1
//	optimizer-eNNNN.npz   Optimizer.State
//	best-eNNNN.npz        the weights of the best validation epoch (with --patience)
//	checkpoint.onnx       the model as of the epoch, exported as the final model would be
//
// Each file is written atomically (to a temporary name, then renamed); the files of older
// epochs are removed once checkpoint.json names the new ones.
const (
	checkpointFile   = "checkpoint.json"
	checkpointModel  = "checkpoint.onnx"
	checkpointFormat = 1
)

// rngScheme documents, in the checkpoint, why epoch and seed are the whole random state: the
// Loader draws each epoch's order from PCG(seed, epoch) and each example's augmentation from
// (seed, epoch, index); each training Dropout node's masks from a seed derived from (seed,
// epoch, node index), the node's n-th run in the epoch drawing from PCG(that seed, n).
const rngScheme = "shuffle: PCG(seed, epoch); augment: PCG(seed, epoch, example); dropout: PCG(mix64(seed ^ mix64(epoch<<20 ^ node)), run in epoch)"

// checkpoint is checkpoint.json.
type checkpoint struct {
	Format int `json:"format"`
	// Epoch is the number of epochs completed; training continues with epoch Epoch (0-based).
	Epoch int `json:"epoch"`
	// Step is the number of optimizer steps taken, the schedule's position.
	Step int      `json:"step"`
	RNG  rngState `json:"rng"`
	// BaseSHA256 is the SHA-256 of the model file training started from.
	BaseSHA256 string   `json:"base_sha256"`
	Optimizer  string   `json:"optimizer"`
	BatchSize  int      `json:"batch_size"`
	Examples   int      `json:"examples"`
	Trained    []string `json:"trained"`
	// Within, when set, places the checkpoint inside epoch Epoch (0-based) rather than at its
	// start: training continues with that epoch's next batch.
	Within *partialEpoch `json:"within,omitempty"`
	// Best is the early-stopping state (nil without validation data).
	Best    *bestState   `json:"best,omitempty"`
	History []EpochStats `json:"history"`
	// Command is Config.Command: the command line that started the run.
	Command map[string]string `json:"command,omitempty"`
	// Files maps each file of the checkpoint to its SHA-256, by role: weights, optimizer, best.
	Files map[string]checkpointFileRef `json:"files"`
}

type rngState struct {
	Seed    uint64 `json:"seed"`
	Shuffle bool   `json:"shuffle"`
	Scheme  string `json:"scheme"`
}

type bestState struct {
	Epoch int `json:"epoch"` // 1-based; 0 before any validation
	// Monitor is what "best" follows (Monitor.String), Value its best value so far.
	Monitor   string  `json:"monitor"`
	Value     float64 `json:"value"`
	SinceBest int     `json:"since_best"` // epochs since Epoch without improvement
}

// partialEpoch is how far an epoch had gone when a checkpoint was taken within it (on
// SIGINT or SIGTERM, or every --checkpoint-every steps): the batches done, and what its
// record sums over them.
type partialEpoch struct {
	Batches  int        `json:"batches"`
	Examples int        `json:"examples"`
	LR       float64    `json:"lr"`
	Loss     loss.Total `json:"loss"`
}

type checkpointFileRef struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
}

// saveCheckpoint writes a checkpoint into dir: the arrays of each role, then the model (by
// writeModel, given the path), then checkpoint.json, then removes files of older epochs.
func saveCheckpoint(dir string, ck *checkpoint, arrays map[string]map[string]*tensor.Tensor, writeModel func(path string) error) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("train: checkpoint: %w", err)
	}
	ck.Format = checkpointFormat
	ck.Files = map[string]checkpointFileRef{}
	roles := make([]string, 0, len(arrays))
	for role := range arrays {
		roles = append(roles, role)
	}
	sort.Strings(roles)
	for _, role := range roles {
		name := fmt.Sprintf("%s-e%04d.npz", role, ck.Epoch)
		if ck.Within != nil {
			name = fmt.Sprintf("%s-e%04d-b%06d.npz", role, ck.Epoch, ck.Within.Batches)
		}
		path := filepath.Join(dir, name)
		if err := saveArrays(path, arrays[role]); err != nil {
			return fmt.Errorf("train: checkpoint: %w", err)
		}
		sum, err := fileSHA256(path)
		if err != nil {
			return fmt.Errorf("train: checkpoint: %w", err)
		}
		ck.Files[role] = checkpointFileRef{Name: name, SHA256: sum}
	}
	if writeModel != nil {
		if err := writeModel(filepath.Join(dir, checkpointModel)); err != nil {
			return fmt.Errorf("train: checkpoint: %w", err)
		}
	}
	b, err := json.MarshalIndent(ck, "", " ")
	if err != nil {
		return fmt.Errorf("train: checkpoint: %w", err)
	}
	if err := atomicfile.WriteBytes(filepath.Join(dir, checkpointFile), append(b, '\n')); err != nil {
		return fmt.Errorf("train: checkpoint: %w", err)
	}
	// The new record is in place: the arrays of older checkpoints are no longer named by it,
	// and temporary files a killed run left behind belong to no checkpoint.
	keep := map[string]bool{}
	for _, f := range ck.Files {
		keep[f.Name] = true
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		name := e.Name()
		if !keep[name] && (isCheckpointArrays(name) || isLeftover(name)) {
			os.Remove(filepath.Join(dir, name))
		}
	}
	return nil
}

// isLeftover reports a temporary file atomicfile.Write makes for a checkpoint's file
// (.NAME.tmpRANDOM), which outlives a process killed while writing.
func isLeftover(name string) bool {
	base, _, ok := strings.Cut(strings.TrimPrefix(name, "."), ".tmp")
	return ok && strings.HasPrefix(name, ".") && (isCheckpointArrays(base) || strings.HasPrefix(base, "checkpoint."))
}

// isCheckpointArrays reports a file name saveCheckpoint writes: ROLE-eNNNN[-bBBBBBB].npz.
func isCheckpointArrays(name string) bool {
	for _, role := range []string{"weights", "optimizer", "best"} {
		if strings.HasPrefix(name, role+"-e") && strings.HasSuffix(name, ".npz") {
			return true
		}
	}
	return false
}

// saveArrays writes arrays to an .npz in sorted key order.
func saveArrays(path string, arrays map[string]*tensor.Tensor) error {
	names := make([]string, 0, len(arrays))
	for name := range arrays {
		names = append(names, name)
	}
	sort.Strings(names)
	return data.SaveNPZ(path, names, arrays)
}

// loadCheckpoint reads checkpoint.json from dir and the arrays of every file it names,
// checking each file's SHA-256.
func loadCheckpoint(dir string) (*checkpoint, map[string]map[string]*tensor.Tensor, error) {
	path := filepath.Join(dir, checkpointFile)
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, fmt.Errorf("train: resume: %s: no checkpoint there (no %s)", dir, checkpointFile)
		}
		return nil, nil, fmt.Errorf("train: resume: %w", err)
	}
	ck := new(checkpoint)
	if err := json.Unmarshal(b, ck); err != nil {
		return nil, nil, fmt.Errorf("train: resume: %s: %v", path, err)
	}
	if ck.Format != checkpointFormat {
		return nil, nil, fmt.Errorf("train: resume: %s: format %d, this onnxtune reads format %d", path, ck.Format, checkpointFormat)
	}
	arrays := map[string]map[string]*tensor.Tensor{}
	for role, ref := range ck.Files {
		if !filepath.IsLocal(ref.Name) {
			return nil, nil, fmt.Errorf("train: resume: %s: file %q is outside the checkpoint directory", path, ref.Name)
		}
		fp := filepath.Join(dir, ref.Name)
		sum, err := fileSHA256(fp)
		if err != nil {
			return nil, nil, fmt.Errorf("train: resume: %w", err)
		}
		if sum != ref.SHA256 {
			return nil, nil, fmt.Errorf("train: resume: %s does not match the SHA-256 %s records for it", fp, checkpointFile)
		}
		a, _, err := data.LoadNPZ(fp)
		if err != nil {
			return nil, nil, fmt.Errorf("train: resume: %w", err)
		}
		arrays[role] = a
	}
	return ck, arrays, nil
}

// SavedCommand returns the command line the checkpoint in dir records (Config.Command): nil
// for a checkpoint that records none.
func SavedCommand(dir string) (map[string]string, error) {
	path := filepath.Join(dir, checkpointFile)
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("train: resume: %s: no checkpoint there (no %s)", dir, checkpointFile)
		}
		return nil, fmt.Errorf("train: resume: %w", err)
	}
	var ck struct {
		Command map[string]string `json:"command"`
	}
	if err := json.Unmarshal(b, &ck); err != nil {
		return nil, fmt.Errorf("train: resume: %s: %v", path, err)
	}
	return ck.Command, nil
}

// checkResume compares a checkpoint with the run about to continue it: what must be equal
// for the continuation to give the uninterrupted run's result.
func checkResume(ck, now *checkpoint) error {
	var diffs []string
	if ck.BaseSHA256 != now.BaseSHA256 {
		diffs = append(diffs, "it was made from another model file")
	}
	if ck.Optimizer != now.Optimizer {
		diffs = append(diffs, fmt.Sprintf("optimizer %s, not %s", ck.Optimizer, now.Optimizer))
	}
	if ck.BatchSize != now.BatchSize {
		diffs = append(diffs, fmt.Sprintf("batch size %d, not %d", ck.BatchSize, now.BatchSize))
	}
	if ck.Examples != now.Examples {
		diffs = append(diffs, fmt.Sprintf("%d training examples, not %d", ck.Examples, now.Examples))
	}
	if ck.RNG.Seed != now.RNG.Seed || ck.RNG.Shuffle != now.RNG.Shuffle {
		diffs = append(diffs, fmt.Sprintf("seed %d shuffle %t, not seed %d shuffle %t", ck.RNG.Seed, ck.RNG.Shuffle, now.RNG.Seed, now.RNG.Shuffle))
	}
	if ck.Best != nil && now.Best != nil && ck.Best.Monitor != now.Best.Monitor {
		diffs = append(diffs, fmt.Sprintf("its best weights follow %q, not %s", ck.Best.Monitor, now.Best.Monitor))
	}
	if !slices.Equal(ck.Trained, now.Trained) {
		diffs = append(diffs, fmt.Sprintf("%d trained tensors, not the %d selected now", len(ck.Trained), len(now.Trained)))
	}
	if len(diffs) > 0 {
		return fmt.Errorf("train: resume: the checkpoint does not fit this run: %s", strings.Join(diffs, "; "))
	}
	return nil
}

// fileSHA256 returns the hex SHA-256 of a file's contents.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
