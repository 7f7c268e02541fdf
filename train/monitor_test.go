package train_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/train"
)

func TestParseMonitor(t *testing.T) {
	for spec, want := range map[string]string{
		"": "val_loss", "val_loss": "val_loss", "val_auc": "val_roc_auc", "val_macro_f1": "val_macro_f1",
		"val_sensitivity@spec=0.90": "val_sensitivity@spec=0.9", "val_specificity@sens=1": "val_specificity@sens=1",
	} {
		m, err := train.ParseMonitor(spec)
		if err != nil || m.String() != want {
			t.Errorf("ParseMonitor(%q) = %v, %v; want %s", spec, m, err, want)
		}
	}
	for _, spec := range []string{"loss", "val_nope", "val_sensitivity@sens=0.9", "val_sensitivity@spec=2", "val_sensitivity@spec=x"} {
		if _, err := train.ParseMonitor(spec); err == nil || !strings.HasPrefix(err.Error(), "train: monitor") {
			t.Errorf("ParseMonitor(%q): error %v, want one", spec, err)
		}
	}
}

// TestMonitorChoosesBestEpoch: with --monitor val_roc_auc and patience, the best epoch is the
// first with the highest validation ROC AUC of the log, not the lowest loss, and the model
// records what it followed. A binary monitor on data that is not binary fails before training.
func TestMonitorChoosesBestEpoch(t *testing.T) {
	dir := filepath.Join(fixture.Root(t), "train", "testdata", "binary")
	cfg := train.Config{
		Model: filepath.Join(dir, "bin1.onnx"), Data: filepath.Join(dir, "scans"), Val: filepath.Join(dir, "scans_val"),
		Loss: "bce-logits", Optimizer: train.OptimizerConfig{Name: "sgd", Momentum: 0.9}, LR: 0.05,
		Epochs: 6, BatchSize: 4, Seed: 3, Shuffle: true, Patience: 6, Monitor: "val_roc_auc", Workers: 2,
	}
	res, err := train.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	best, bestAUC, bestLoss := 0, -1.0, 0
	lowest := 1e300
	for _, h := range res.History {
		if v := h.Metrics["roc_auc"]; v > bestAUC {
			best, bestAUC = h.Epoch, v
		}
		if *h.ValLoss < lowest {
			bestLoss, lowest = h.Epoch, *h.ValLoss
		}
	}
	t.Logf("best roc_auc epoch %d, lowest loss epoch %d", best, bestLoss)
	if res.BestEpoch != best {
		t.Errorf("best epoch %d, want %d, the first with the highest roc_auc %g (the lowest loss is epoch %d)", res.BestEpoch, best, bestAUC, bestLoss)
	}
	meta := map[string]string{}
	for _, p := range res.Model.Proto.GetMetadataProps() {
		meta[p.GetKey()] = p.GetValue()
	}
	if meta["onnxtune.monitor"] != "val_roc_auc" || meta["onnxtune.val_roc_auc"] == "" {
		t.Errorf("metadata monitor %q = %q, want val_roc_auc and its value", meta["onnxtune.monitor"], meta["onnxtune.val_roc_auc"])
	}
	cfg.Data, cfg.Val = filepath.Join(dir, "tri3.npz"), ""
	cfg.Model, cfg.Loss, cfg.Patience, cfg.ValSplit = filepath.Join(dir, "tri3.onnx"), "cross-entropy", 0, 0.3
	if _, err := train.Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "needs a binary classifier") {
		t.Errorf("val_roc_auc on three classes: error %v", err)
	}
}
