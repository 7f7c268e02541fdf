package train_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/onnx"
	"github.com/onnxtune/onnxtune/tensor"
	"github.com/onnxtune/onnxtune/train"

	"google.golang.org/protobuf/proto"
)

// memData is an in-memory data set of float32 examples and int64 labels.
type memData struct {
	x []*tensor.Tensor
	y []int64
}

func (d *memData) Len() int          { return len(d.x) }
func (d *memData) Classes() []string { return nil }
func (d *memData) Example(i int) (*tensor.Tensor, *tensor.Tensor, error) {
	return d.x[i], tensor.Scalar(d.y[i]), nil
}

// randomData is n seeded normal examples of shape with labels below classes.
func randomData(n, classes int, seed uint64, shape ...int) *memData {
	rng := rand.New(rand.NewPCG(seed, 1))
	d := &memData{}
	for range n {
		v := make([]float32, tensor.Size(shape))
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		d.x = append(d.x, tensor.From(append([]int(nil), shape...), v))
		d.y = append(d.y, int64(rng.IntN(classes)))
	}
	return d
}

func metadata(m *onnx.Model) map[string]string {
	out := map[string]string{}
	for _, p := range m.Proto.GetMetadataProps() {
		out[p.GetKey()] = p.GetValue()
	}
	return out
}

// TestExportKeepsModel: the exported model is the input with new weights and onnxtune.*
// metadata: IR version, producer, opsets, doc strings, value_info and the original
// metadata_props unchanged, and the metadata says how the model was tuned.
func TestExportKeepsModel(t *testing.T) {
	in := fixture.Small(t, "meta.onnx")
	out := filepath.Join(t.TempDir(), "tuned.onnx")
	cfg := train.Config{
		Model: in, Out: out, Train: randomData(6, 3, 1, 1, 16, 16), Data: "six random images",
		Loss: "cross-entropy + 1e-4*l2", Optimizer: train.OptimizerConfig{Name: "adamw"}, LR: 1e-2,
		Epochs: 2, BatchSize: 4, Seed: 42, Shuffle: true,
	}
	if _, err := train.Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	a, err := onnx.Load(in)
	if err != nil {
		t.Fatal(err)
	}
	b, err := onnx.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	ma, mb := metadata(a), metadata(b)
	for k, v := range ma {
		if mb[k] != v {
			t.Errorf("metadata %q: got %q, want %q (the input's)", k, mb[k], v)
		}
	}
	sum, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"onnxtune.base_sha256": sha256Hex(sum), "onnxtune.data": "six random images",
		"onnxtune.loss": "cross-entropy + 1e-4*l2", "onnxtune.optimizer": "adamw", "onnxtune.lr": "0.01",
		"onnxtune.weight_decay": "0.01", "onnxtune.betas": "0.9,0.999", "onnxtune.eps": "1e-08",
		"onnxtune.epochs": "2", "onnxtune.seed": "42", "onnxtune.batch_size": "4",
	}
	for k, v := range want {
		if mb[k] != v {
			t.Errorf("metadata %q: got %q, want %q", k, mb[k], v)
		}
	}
	// Everything but the initializers' values and the metadata is the input's, byte for byte.
	strip := func(m *onnx.Model) []byte {
		p := proto.Clone(m.Proto).(*onnx.ModelProto)
		p.MetadataProps = nil
		for _, i := range p.Graph.Initializer {
			i.RawData, i.FloatData = nil, nil
		}
		bs, err := proto.MarshalOptions{Deterministic: true}.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		return bs
	}
	if !bytes.Equal(strip(a), strip(b)) {
		t.Errorf("the exported model differs from the input in more than weights and metadata")
	}
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestExportExternalData: a model whose weights live in an external file is written the same
// way, its data file beside the output; frozen tensors (--train-only) keep their bytes, the
// others change; ONNX Runtime and onnx.checker accept the result.
func TestExportExternalData(t *testing.T) {
	root := fixture.Root(t)
	in := fixture.Small(t, "ext_data/model.onnx")
	dir := t.TempDir()
	out := filepath.Join(dir, "model.onnx")
	cfg := train.Config{
		Model: in, Out: out, Data: filepath.Join(root, "train", "testdata", "train28.npz"),
		Loss: "cross-entropy", Optimizer: train.OptimizerConfig{Name: "sgd", Momentum: 0.9}, LR: 0.05,
		Epochs: 1, BatchSize: 4, TrainOnly: `^(fc|bn2)\.`,
	}
	res, err := train.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(res.Trained, ","); got != "bn2.weight,bn2.bias,fc.weight,fc.bias" {
		t.Errorf("trained %s", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "model.onnx.data")); err != nil {
		t.Fatalf("no external data file beside the output: %v", err)
	}
	a, err := onnx.Load(in)
	if err != nil {
		t.Fatal(err)
	}
	b, err := onnx.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	trained := map[string]bool{}
	for _, n := range res.Trained {
		trained[n] = true
	}
	for i, ta := range a.Proto.Graph.Initializer {
		tb := b.Proto.Graph.Initializer[i]
		if tb.GetDataLocation() != onnx.TensorProto_EXTERNAL {
			t.Errorf("%s is no longer external data", tb.GetName())
		}
		va, err := a.Tensor(ta)
		if err != nil {
			t.Fatal(err)
		}
		vb, err := b.Tensor(tb)
		if err != nil {
			t.Fatal(err)
		}
		same := bytes.Equal(rawBytes(va), rawBytes(vb))
		if trained[ta.GetName()] == same {
			t.Errorf("%s: trained %t, but its values changed %t", ta.GetName(), trained[ta.GetName()], !same)
		}
	}
	checkExported(t, out, firstInputs(t, cfg.Data))
}

// TestEarlyStopping: validating against labels the training moves away from, the validation
// loss rises after the first epoch; with patience 1 training stops after epoch 2 and the
// result holds epoch 1's weights, exactly those of a one-epoch run.
func TestEarlyStopping(t *testing.T) {
	root := fixture.Root(t)
	arrays, _, err := data.LoadNPZ(filepath.Join(root, "train", "testdata", "train28.npz"))
	if err != nil {
		t.Fatal(err)
	}
	x, y := arrays["x"], arrays["y"].ToInt64s()
	train28, wrong := &memData{}, &memData{}
	for i := range y {
		xi := tensor.From([]int{1, 28, 28}, append([]float32(nil), x.Float32s()[i*784:(i+1)*784]...))
		train28.x, train28.y = append(train28.x, xi), append(train28.y, y[i])
		wrong.x, wrong.y = append(wrong.x, xi), append(wrong.y, (y[i]+5)%10)
	}
	dir := t.TempDir()
	base := train.Config{
		Model: filepath.Join(root, "train", "testdata", "bn_train.onnx"), Train: train28, ValData: wrong,
		Loss: "cross-entropy", Optimizer: train.OptimizerConfig{Name: "adam"}, LR: 1e-2, BatchSize: 4,
	}
	stop := base
	stop.Epochs, stop.Patience, stop.Out = 5, 1, filepath.Join(dir, "stop.onnx")
	stop.Log = filepath.Join(dir, "log.jsonl")
	res, err := train.Run(context.Background(), stop)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range res.History {
		t.Logf("epoch %d: train %.4f val %.4f", h.Epoch, h.TrainLoss, *h.ValLoss)
	}
	if !res.Stopped || res.Epochs != 2 || res.BestEpoch != 1 {
		t.Fatalf("stopped %t after %d epochs, best %d; want a stop after 2 with epoch 1 best", res.Stopped, res.Epochs, res.BestEpoch)
	}
	one := base
	one.Epochs, one.Out = 1, filepath.Join(dir, "one.onnx")
	if _, err := train.Run(context.Background(), one); err != nil {
		t.Fatal(err)
	}
	compareWeights(t, "early-stopped vs one epoch", weightsOf(t, stop.Out), weightsOf(t, one.Out))
	log, err := os.ReadFile(stop.Log)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(log), "\n"); n != 2 || !strings.Contains(string(log), `"val_loss":`) || !strings.Contains(string(log), `"accuracy":`) {
		t.Errorf("log: %d records, want 2 with val_loss and accuracy:\n%s", n, log)
	}
}

// TestExportModelRejectsForeignMetadata: metadata keys must carry the onnxtune. prefix.
func TestExportModelRejectsForeignMetadata(t *testing.T) {
	m, err := onnx.Load(fixture.Small(t, "tiny_cnn_bn.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := onnx.Import(m)
	if err != nil {
		t.Fatal(err)
	}
	_, err = train.ExportModel(m, g, map[string]string{"author": "me"})
	if err == nil || !strings.HasPrefix(err.Error(), "train: ") || !strings.Contains(err.Error(), `"author"`) {
		t.Errorf("got %v, want an error naming the key", err)
	}
}

// TestExportBesideBase: writing the tuned model into the base model's directory must not
// overwrite the external data file the base model reads; the tuned model gets its own.
func TestExportBesideBase(t *testing.T) {
	root := fixture.Root(t)
	dir := t.TempDir()
	for _, f := range []string{"model.onnx", "model.onnx.data"} {
		b, err := os.ReadFile(filepath.Join(fixture.Models(t), "ext_data", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	base := filepath.Join(dir, "model.onnx")
	before := weightsOf(t, base)
	cfg := train.Config{
		Model: base, Out: filepath.Join(dir, "tuned.onnx"), CheckpointDir: dir,
		Data: filepath.Join(root, "train", "testdata", "train28.npz"), Loss: "cross-entropy",
		Optimizer: train.OptimizerConfig{Name: "adam"}, Epochs: 1, BatchSize: 4,
	}
	if _, err := train.Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	over := cfg
	over.Out, over.CheckpointDir = base, ""
	if _, err := train.Run(context.Background(), over); err == nil || !strings.Contains(err.Error(), "would overwrite the model it is made from") {
		t.Errorf("--out MODEL: got %v, want a refusal", err)
	}
	compareWeights(t, "the base model after the run", weightsOf(t, base), before)
	if _, err := os.Stat(filepath.Join(dir, "tuned.onnx.data")); err != nil {
		t.Errorf("the tuned model's data file: %v", err)
	}
	if bytes.Equal(weightsOf(t, cfg.Out)["fc.weight"], before["fc.weight"]) {
		t.Errorf("the tuned model holds the base model's weights")
	}
}
