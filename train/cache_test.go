package train_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/onnx"
	"github.com/onnxtune/onnxtune/tensor"
	"github.com/onnxtune/onnxtune/train"
)

// TestBackboneCacheSameSteps: with everything before the classifier frozen, the run computes
// the backbone's output once and steps through the head only, and ends with bit for bit the
// weights of the run without the cache (shuffled batches, --balance, a partial last batch),
// also when the outputs go to disk past the limit; a BatchNorm in the backbone that trains
// leaves the run as it is.
func TestBackboneCacheSameSteps(t *testing.T) {
	bin := filepath.Join(fixture.Root(t), "train", "testdata", "binary")
	demo := filepath.Join(fixture.Root(t), "testdata", "demo", "images")
	run := func(t *testing.T, model, data string, limit int64, bn train.BNMode, balance bool) (map[string]*tensor.Tensor, string) {
		t.Helper()
		var log bytes.Buffer
		loss, classes := "bce-logits", 1
		if data == demo {
			loss, classes = "cross-entropy", 3
		}
		res, err := train.Run(context.Background(), train.Config{
			Model: model, Data: data, Loss: loss, NumClasses: classes,
			Epochs: 3, BatchSize: 5, Shuffle: true, Seed: 4, Balance: balance, BN: bn,
			Optimizer: train.OptimizerConfig{Name: "adam"},
			TrainOnly: `^fc\.|^onnxtune`, CacheLimit: limit, Progress: &log, Workers: 2,
		})
		if err != nil {
			t.Fatal(err)
		}
		g, err := onnx.Import(res.Model)
		if err != nil {
			t.Fatal(err)
		}
		w := map[string]*tensor.Tensor{}
		for _, name := range res.Trained {
			w[name] = g.Initializers[name]
		}
		return w, log.String()
	}
	for _, c := range []struct {
		name    string
		model   string
		data    string
		bn      train.BNMode
		limit   int64
		balance bool
		cached  string // what the log says of the cache
	}{
		{"cached", filepath.Join(bin, "bin1.onnx"), filepath.Join(bin, "scans"), "", 0, false, "computed once"},
		{"cached, balanced", filepath.Join(bin, "bin1.onnx"), filepath.Join(bin, "scans"), "", 0, true, "computed once"},
		{"over the limit, on disk", filepath.Join(bin, "bin1.onnx"), filepath.Join(bin, "scans"), "", 1000, false, "MiB of --cache-limit) computed once"},
		{"cached, BatchNorm frozen", fixture.Small(t, "tiny_cnn_bn.onnx"), demo, train.BNFrozen, 0, false, "computed once"},
		{"BatchNorm training in the backbone", fixture.Small(t, "tiny_cnn_bn.onnx"), demo, train.BNTrain, 0, false, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, log := run(t, c.model, c.data, c.limit, c.bn, c.balance)
			if c.cached == "" && strings.Contains(log, "frozen backbone") || !strings.Contains(log, c.cached) {
				t.Errorf("the log says nothing %q of the cache:\n%s", c.cached, log)
			}
			want, plain := run(t, c.model, c.data, -1, c.bn, c.balance)
			if strings.Contains(plain, "frozen backbone") {
				t.Errorf("a cache limit of -1 cached:\n%s", plain)
			}
			if len(got) == 0 {
				t.Fatal("nothing trained")
			}
			for name, w := range want {
				a, b := got[name].Float32s(), w.Float32s()
				for i := range b {
					if a[i] != b[i] {
						t.Fatalf("%s[%d]: %g with the cache, %g without", name, i, a[i], b[i])
					}
				}
			}
		})
	}
}
