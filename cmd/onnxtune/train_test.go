package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/onnx"
	"github.com/onnxtune/onnxtune/tensor"
)

// trainArgs spells a case of train/testdata/train.json (see gen_train.py) as the command
// line the issue defines.
func trainArgs(t *testing.T, root string, c map[string]any, out string) []string {
	t.Helper()
	num := func(v any) string { return fmt.Sprint(v) }
	args := []string{"train", filepath.Join(root, c["model"].(string)),
		"--data", filepath.Join(root, c["data"].(string)), "--loss", c["loss"].(string), "--out", out,
		"--lr", num(c["lr"]), "--epochs", num(c["epochs"]), "--batch-size", num(c["batch_size"]),
		"--bn", c["bn"].(string), "--workers", "2"}
	if strings.HasPrefix(c["name"].(string), "bn") {
		args = append(args, "--shuffle", "false") // both spellings reach the flag
	} else {
		args = append(args, "--shuffle=false")
	}
	for k, v := range c["optimizer"].(map[string]any) {
		switch k {
		case "name":
			args = append(args, "--optimizer", v.(string))
		case "betas":
			b := v.([]any)
			args = append(args, "--betas", num(b[0])+","+num(b[1]))
		case "nesterov":
			args = append(args, fmt.Sprintf("--nesterov=%v", v))
		default: // momentum, weight_decay, eps
			args = append(args, "--"+strings.ReplaceAll(k, "_", "-"), num(v))
		}
	}
	for _, k := range []string{"schedule", "step_size", "gamma", "warmup_steps"} {
		if v, ok := c[k]; ok {
			args = append(args, "--"+strings.ReplaceAll(k, "_", "-"), num(v))
		}
	}
	if w, ok := c["class_weights"].([]any); ok {
		parts := make([]string, len(w))
		for i, x := range w {
			parts[i] = num(x)
		}
		args = append(args, "--class-weights", strings.Join(parts, ","))
	}
	return args
}

// TestTrainMatchesTorch runs every PyTorch parity case of the library's tests through the
// command line: the flags must reach the same weights (within 1e-4 relative of PyTorch's).
func TestTrainMatchesTorch(t *testing.T) {
	root := fixture.Root(t)
	b, err := os.ReadFile(filepath.Join(root, "train", "testdata", "train.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Cases []map[string]any }
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	refs, _, err := data.LoadNPZ(filepath.Join(root, "train", "testdata", "train.ref.npz"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range f.Cases {
		name := c["name"].(string)
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "tuned.onnx")
			args := trainArgs(t, root, c, out)
			stdout, stderr, status := onnxtune(args...)
			if status != 0 {
				t.Fatalf("%s: status %d: %s", strings.Join(args, " "), status, stderr)
			}
			if !strings.HasPrefix(stdout, "wrote "+out) {
				t.Errorf("stdout %q", stdout)
			}
			if n := checkTorchWeights(t, out, refs, name); n == 0 {
				t.Fatal("no reference weights")
			}
		})
	}
}

// checkTorchWeights holds the initializers of the model at path to PyTorch's weights for the
// case name, the refs keyed "name/parameter", within 1e-4 relative, and returns how many it
// compared.
func checkTorchWeights(t *testing.T, path string, refs map[string]*tensor.Tensor, name string) int {
	t.Helper()
	got := modelInitializers(t, path)
	n := 0
	for key, want := range refs {
		param, ok := strings.CutPrefix(key, name+"/")
		if !ok {
			continue
		}
		n++
		if rel := fixture.RelDiffTensors(got[param], want); !(rel <= 1e-4) {
			t.Errorf("%s: %s is %.3g relative from PyTorch's", name, param, rel)
		}
	}
	return n
}

func modelInitializers(t *testing.T, path string) map[string]*tensor.Tensor {
	t.Helper()
	m, err := onnx.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	g, err := onnx.Import(m)
	if err != nil {
		t.Fatal(err)
	}
	return g.Initializers
}

// TestTrainNewHeadCheckpointResume: --num-classes with --train-only on the classifier, a
// validation split, a log and checkpoints; then --resume to more epochs continues the log
// and the checkpoint, and the model gets the new class count.
func TestTrainNewHeadCheckpointResume(t *testing.T) {
	root := fixture.Root(t)
	arrays, _, err := data.LoadNPZ(filepath.Join(root, "train", "testdata", "train28.npz"))
	if err != nil {
		t.Fatal(err)
	}
	y := arrays["y"].ToInt64s()
	for i := range y {
		y[i] %= 3
	}
	dir := t.TempDir()
	npz := filepath.Join(dir, "three.npz")
	if err := data.SaveNPZ(npz, []string{"x", "y"}, map[string]*tensor.Tensor{"x": arrays["x"], "y": tensor.From([]int{len(y)}, y)}); err != nil {
		t.Fatal(err)
	}
	out, ck, log := filepath.Join(dir, "three.onnx"), filepath.Join(dir, "ck"), filepath.Join(dir, "log.jsonl")
	base := []string{"train", fixture.Small(t, "tiny_cnn_bn.onnx"), "--data", npz, "--out", out,
		"--num-classes", "3", "--train-only", `^fc\.`, "--val-split", "0.3", "--batch-size", "4",
		"--optimizer", "sgd", "--momentum", "0.9", "--lr", "0.1", "--seed", "3", "--log", log}
	if _, stderr, status := onnxtune(append(base, "--epochs", "2", "--checkpoint-dir", ck)...); status != 0 {
		t.Fatalf("status %d: %s", status, stderr)
	}
	if _, stderr, status := onnxtune(append(base, "--epochs", "3", "--resume", ck)...); status != 0 {
		t.Fatalf("resume: status %d: %s", status, stderr)
	}
	m, err := onnx.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	g, err := onnx.Import(m)
	if err != nil {
		t.Fatal(err)
	}
	if s := g.Outputs[0].Shape; len(s) != 2 || s[1].Size != 3 {
		t.Errorf("output shape %v, want [batch 3]", s)
	}
	if w := g.Initializers["fc.weight"]; w == nil || w.Shape()[0] != 3 {
		t.Errorf("fc.weight is %v, want 3 rows", w)
	}
	meta := map[string]string{}
	for _, p := range m.Proto.GetMetadataProps() {
		meta[p.GetKey()] = p.GetValue()
	}
	if meta["onnxtune.num_classes"] != "3" || meta["onnxtune.epochs"] != "3" || meta["onnxtune.train_only"] != `^fc\.` {
		t.Errorf("metadata %v", meta)
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 3 {
		t.Fatalf("log has %d records, want 3:\n%s", len(lines), b)
	}
	for i, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("log line %d: %v", i+1, err)
		}
		for _, k := range []string{"epoch", "train_loss", "val_loss", "metrics", "lr", "seconds"} {
			if _, ok := rec[k]; !ok {
				t.Errorf("log line %d lacks %q: %s", i+1, k, l)
			}
		}
		if rec["epoch"] != float64(i+1) {
			t.Errorf("log line %d is epoch %v", i+1, rec["epoch"])
		}
	}
	if b, err := os.ReadFile(filepath.Join(ck, "checkpoint.json")); err != nil || !strings.Contains(string(b), `"epoch": 3`) {
		t.Errorf("checkpoint.json after the resume: %v\n%s", err, b)
	}
}

// TestTrainUsage: bad command lines exit with status 2 and one line on stderr, before any
// training; failures of the run exit with 1.
func TestTrainUsage(t *testing.T) {
	root := fixture.Root(t)
	model := fixture.Small(t, "tiny_cnn_bn.onnx")
	npz := filepath.Join(root, "train", "testdata", "train28.npz")
	out := filepath.Join(t.TempDir(), "o.onnx")
	for _, c := range []struct {
		args   []string
		status int
		want   string
	}{
		{[]string{model, "--out", out}, 2, "missing --data"},
		{[]string{model, "--data", npz}, 2, "missing --out"},
		{[]string{model, "--data", npz, "--out", "o.txt"}, 2, "want an .onnx file name"},
		{[]string{"--data", npz, "--out", out}, 2, "missing MODEL.onnx"},
		{[]string{model, "--data", npz, "--out", out, "--betas", "0.9"}, 2, "want two values"},
		{[]string{model, "--data", npz, "--out", out, "--betas", "0.9,x"}, 2, `"x" is not a number`},
		{[]string{model, "--data", npz, "--out", out, "--bn", "sometimes"}, 2, "want auto, train or frozen"},
		{[]string{model, "--data", npz, "--out", out, "--epochs", "0"}, 2, "--epochs 0"},
		{[]string{model, "--data", npz, "--out", out, "--augment", "rotate"}, 2, "unknown item"},
		{[]string{model, "--data", npz, "--out", out, "--optimizer", "rmsprop"}, 1, `unknown optimizer "rmsprop"`},
		{[]string{model, "--data", npz, "--out", out, "--optimizer", "adam", "--momentum", "0.9"}, 1, "has no option momentum"},
		{[]string{model, "--data", npz, "--out", out, "--train-only", "^nothing"}, 1, "matches no trainable initializer"},
		{[]string{model, "--data", npz, "--out", out, "--patience", "2"}, 1, "needs validation data"},
		{[]string{model, "--data", npz, "--out", out, "--resume", t.TempDir()}, 1, "no checkpoint there"},
		{[]string{model, "--data", filepath.Join(root, "nonexistent.npz"), "--out", out}, 1, "nonexistent.npz"},
		{[]string{model, "--data", npz, "--out", out, "--sampler", "random"}, 2, "want m-per-class"},
		{[]string{model, "--data", npz, "--out", out, "--normalize"}, 1, "normalize applies to an embedding"},
		{[]string{model, "--data", npz, "--out", out, "--embedding", "auto", "--num-classes", "3"}, 1, "both an embedding and a new classifier head"},
		{[]string{model, "--data", npz, "--out", out, "--embedding", "nothing"}, 1, `no node of the model computes "nothing"`},
		{[]string{model, "--data", npz, "--out", out, "--sampler", "m-per-class"}, 2, "needs --m-per-class"},
		{[]string{model, "--data", npz, "--out", out, "--m-per-class", "2"}, 2, "without --sampler"},
		{[]string{model, "--data", npz, "--out", out, "--sampler", "m-per-class", "--m-per-class", "3", "--batch-size", "4"}, 1, "do not divide the batch size 4"},
	} {
		_, stderr, status := onnxtune(append([]string{"train"}, c.args...)...)
		if status != c.status || !strings.Contains(stderr, c.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("train %s: status %d, stderr %q; want status %d and one line containing %q", strings.Join(c.args, " "), status, stderr, c.status, c.want)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("a failed run wrote %s", out)
	}
}

// TestTrainModernOpsetExport: fine-tuning an opset-21 model (IR version 10) writes an
// opset-21, IR-10 file whose reductions keep their opset-18 form, and ONNX Runtime's output
// on it equals the engine's.
func TestTrainModernOpsetExport(t *testing.T) {
	if testing.Short() {
		t.Skip("model-sized case: runs in the full (non -short) pass")
	}
	model := fixture.Large(t, "shufflenet_v2_x0_5", "--opset", "21", "--preserve-bn", "--size", "64", "--grads")
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(21, 10))
	x := tensor.New(tensor.Float32, 8, 3, 64, 64)
	for i := range x.Float32s() {
		x.Float32s()[i] = float32(r.NormFloat64())
	}
	y := make([]int64, 8)
	for i := range y {
		y[i] = r.Int64N(1000)
	}
	npz := filepath.Join(dir, "d.npz")
	if err := data.SaveNPZ(npz, []string{"x", "y"}, map[string]*tensor.Tensor{"x": x, "y": tensor.From([]int{8}, y)}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "tuned.onnx")
	if _, errOut, status := onnxtune("train", model, "--data", npz, "--epochs", "1", "--batch-size", "4", "--out", out); status != 0 {
		t.Fatalf("train: exit %d: %s", status, errOut)
	}
	m, err := onnx.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if ir := m.Proto.GetIrVersion(); ir != 10 {
		t.Errorf("the export has IR version %d, want 10", ir)
	}
	for _, o := range m.Proto.GetOpsetImport() {
		if o.GetDomain() == "" && o.GetVersion() != 21 {
			t.Errorf("the export imports opset %d, want 21", o.GetVersion())
		}
	}
	for _, n := range m.Proto.GetGraph().GetNode() {
		if n.GetOpType() == "ReduceMean" && len(n.GetInput()) != 2 {
			t.Errorf("node %q: ReduceMean with inputs %v, want the opset-18 form with axes", n.GetName(), n.GetInput())
		}
	}
	xin := filepath.Join(dir, "x.npy")
	first := tensor.From([]int{2, 3, 64, 64}, append([]float32(nil), x.Float32s()[:2*3*64*64]...))
	if err := data.SaveNPY(xin, first); err != nil {
		t.Fatal(err)
	}
	engine := filepath.Join(dir, "engine.npy")
	if _, errOut, status := onnxtune("run", out, "--input", "x="+xin, "--out", engine); status != 0 {
		t.Fatalf("run: exit %d: %s", status, errOut)
	}
	got, err := data.LoadNPY(engine)
	if err != nil {
		t.Fatal(err)
	}
	ortDir := filepath.Join(dir, "ort")
	fixture.RunORT(t, out, ortDir, "x="+xin)
	want, err := data.LoadNPY(filepath.Join(ortDir, "logits.npy"))
	if err != nil {
		t.Fatal(err)
	}
	if rel := fixture.RelDiffTensors(got, want); rel > 1e-4 {
		t.Errorf("the export's logits are %.3g relative from ONNX Runtime's", rel)
	}
}

// TestTrainLabelOutOfRange: a label the model cannot score is reported before training by its
// example's index in the file (not its place in a shuffled batch), and nothing is written.
func TestTrainLabelOutOfRange(t *testing.T) {
	dir := t.TempDir()
	x := tensor.New(tensor.Float32, 40, 1, 28, 28)
	y := make([]int64, 40)
	for i := range y {
		y[i] = int64(i % 10)
	}
	y[23] = 12
	npz := filepath.Join(dir, "d.npz")
	if err := data.SaveNPZ(npz, []string{"x", "y"}, map[string]*tensor.Tensor{"x": x, "y": tensor.From([]int{40}, y)}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "tuned.onnx")
	_, errOut, status := onnxtune("train", filepath.Join(fixture.Root(t), "testdata", "demo", "fmnist_cnn.onnx"), "--data", npz, "--epochs", "1", "--out", out)
	want := "example 23 has label 12, outside the model's classes 0..9"
	if status != 1 || !strings.Contains(errOut, want) || strings.Count(errOut, "\n") != 1 {
		t.Errorf("exit %d, stderr %q; want 1 and one line with %q", status, errOut, want)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("%s was written (%v)", out, err)
	}
}

// TestTrainOutputFolderChecked: an --out whose folder is missing fails before the first
// epoch, with one line naming the folder.
func TestTrainOutputFolderChecked(t *testing.T) {
	dir := t.TempDir()
	npz := filepath.Join(dir, "d.npz")
	y := make([]int64, 8)
	if err := data.SaveNPZ(npz, []string{"x", "y"}, map[string]*tensor.Tensor{"x": tensor.New(tensor.Float32, 8, 1, 28, 28), "y": tensor.From([]int{8}, y)}); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	stdout, errOut, status := onnxtune("train", filepath.Join(fixture.Root(t), "testdata", "demo", "fmnist_cnn.onnx"), "--data", npz, "--epochs", "1", "--out", filepath.Join(missing, "out.onnx"))
	want := missing + ": no such file or directory"
	if status != 1 || !strings.Contains(errOut, want) || strings.Contains(stdout+errOut, "epoch 1/") {
		t.Errorf("exit %d, stdout %q, stderr %q; want 1, no epoch, and %q", status, stdout, errOut, want)
	}
	// A checkpoint folder below a file cannot be made: said before the first epoch too.
	stdout, errOut, status = onnxtune("train", filepath.Join(fixture.Root(t), "testdata", "demo", "fmnist_cnn.onnx"), "--data", npz, "--epochs", "1",
		"--out", filepath.Join(dir, "out.onnx"), "--checkpoint-dir", filepath.Join(npz, "ck"))
	want = "the checkpoint folder " + filepath.Join(npz, "ck") + " cannot be written: " + npz + ": not a directory"
	if status != 1 || !strings.Contains(errOut, want) || strings.Contains(stdout+errOut, "epoch 1/") {
		t.Errorf("checkpoint folder: exit %d, stdout %q, stderr %q; want 1, no epoch, and %q", status, stdout, errOut, want)
	}
}

// TestTrainUnreadableImages: an image folder with a file that is no image and one cut short
// stops before training, naming the first; with --skip-bad it trains on the rest and says how
// many it left out.
func TestTrainUnreadableImages(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(fixture.Root(t), "testdata", "demo", "images")
	for _, class := range []string{"bags", "tops"} {
		entries, err := os.ReadDir(filepath.Join(src, class))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dir, class), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, e := range entries[:6] {
			b, err := os.ReadFile(filepath.Join(src, class, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, class, e.Name()), b, 0o644); err != nil {
				t.Fatal(err)
			}
			if class == "tops" && e == entries[0] {
				os.WriteFile(filepath.Join(dir, class, "zz_cut.png"), b[:20], 0o644)
			}
		}
	}
	broken := filepath.Join(dir, "bags", "zz_broken.png")
	os.WriteFile(broken, []byte("not an image"), 0o644)
	model := filepath.Join(fixture.Root(t), "testdata", "demo", "fmnist_cnn.onnx")
	out := filepath.Join(t.TempDir(), "tuned.onnx")
	stdout, errOut, status := onnxtune("train", model, "--data", dir, "--num-classes", "2", "--epochs", "1", "--out", out)
	want := "2 of 14 images cannot be read (the first: " + broken + ": not a PNG"
	if status != 1 || !strings.Contains(errOut, want) || strings.Contains(stdout+errOut, "epoch 1/") {
		t.Errorf("exit %d, stdout %q, stderr %q; want 1 before any epoch, naming %q", status, stdout, errOut, want)
	}
	// train's progress goes to the process's stderr itself.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = w
	_, errOut, status = onnxtune("train", model, "--data", dir, "--num-classes", "2", "--epochs", "1", "--skip-bad", "--out", out)
	os.Stderr = saved
	w.Close()
	progress, _ := io.ReadAll(r)
	if status != 0 || !strings.Contains(string(progress), "left out 2 unreadable image(s) of 14") {
		t.Errorf("--skip-bad: exit %d, stderr %q, progress %q; want 0 and the count left out", status, errOut, progress)
	}
}

// TestTrainDivergedNamesBatchAndNode: a loss that goes NaN stops training with the epoch, the
// batch, its examples' indices and the first node whose output holds NaN or an infinity.
func TestTrainDivergedNamesBatchAndNode(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(3, 3))
	x := tensor.New(tensor.Float32, 32, 1, 28, 28)
	for i := range x.Float32s() {
		x.Float32s()[i] = r.Float32()
	}
	y := make([]int64, 32)
	for i := range y {
		y[i] = int64(i % 10)
	}
	npz := filepath.Join(dir, "d.npz")
	if err := data.SaveNPZ(npz, []string{"x", "y"}, map[string]*tensor.Tensor{"x": x, "y": tensor.From([]int{32}, y)}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "tuned.onnx")
	_, errOut, status := onnxtune("train", filepath.Join(fixture.Root(t), "testdata", "demo", "fmnist_cnn.onnx"),
		"--data", npz, "--epochs", "3", "--batch-size", "8", "--optimizer", "sgd", "--lr", "1e12", "--out", out)
	for _, want := range []string{"the loss is NaN in epoch 1, batch ", "(examples ", "the first output to hold NaN or an infinity is node ", "training diverged"} {
		if status != 1 || !strings.Contains(errOut, want) {
			t.Errorf("exit %d, stderr %q; want 1 and %q", status, errOut, want)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("%s was written (%v)", out, err)
	}
}

// TestTrainGradientNotFinite: y = Sqrt(x·w) with w at zero has a finite loss but an infinite
// gradient (the square root's slope at 0): train stops at the first step naming the weight,
// the batch's examples and the node that reads the weight, and writes nothing.
func TestTrainGradientNotFinite(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "sqrt.onnx")
	m := &onnx.Model{Proto: &onnx.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnx.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(13)}},
		Graph: &onnx.GraphProto{
			Name:        proto.String("sqrt"),
			Input:       []*onnx.ValueInfoProto{floatValue("x", 8, 4)},
			Output:      []*onnx.ValueInfoProto{floatValue("y", 8, 1)},
			Initializer: []*onnx.TensorProto{onnx.TensorToProto("w", tensor.New(tensor.Float32, 4, 1))},
			Node:        []*onnx.NodeProto{nodeProto("MatMul", []string{"x", "w"}, "z"), nodeProto("Sqrt", []string{"z"}, "y")},
		},
	}}
	if err := onnx.Save(m, model); err != nil {
		t.Fatal(err)
	}
	x := tensor.New(tensor.Float32, 8, 4)
	for i := range x.Float32s() {
		x.Float32s()[i] = 0.5 + float32(i%5)/10
	}
	y := tensor.New(tensor.Float32, 8, 1)
	for i := range y.Float32s() {
		y.Float32s()[i] = 1
	}
	npz := filepath.Join(dir, "d.npz")
	if err := data.SaveNPZ(npz, []string{"x", "y"}, map[string]*tensor.Tensor{"x": x, "y": y}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "tuned.onnx")
	_, errOut, status := onnxtune("train", model, "--data", npz, "--loss", "mse", "--batch-size", "8", "--shuffle=false", "--out", out)
	want := `onnxtune train: the loss is 1 but the gradient of "w" holds -Inf in epoch 1, batch 1 (examples 0, 1, 2, 3, 4, 5, 6, 7); ` +
		`the model's outputs are finite; the weight is read by node "z" (MatMul): training diverged` + "\n"
	if status != 1 || errOut != want {
		t.Errorf("exit %d, stderr %q; want 1 and %q", status, errOut, want)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("%s was written (%v)", out, err)
	}
}

// TestTrainResumeAlone: `train --resume DIR` alone continues with the model and flags the
// checkpoint records, here to more epochs, giving the weights of an uninterrupted run; a flag
// that changes what the run computes must agree with the record, or the usage error lists it.
func TestTrainResumeAlone(t *testing.T) {
	dir := t.TempDir()
	npz := filepath.Join(fixture.Root(t), "train", "testdata", "train28.npz")
	model := fixture.Small(t, "tiny_cnn_bn.onnx")
	args := func(epochs, out string) []string {
		return []string{"train", model, "--data", npz, "--epochs", epochs, "--batch-size", "4", "--optimizer", "sgd",
			"--momentum", "0.9", "--lr", "0.05", "--seed", "5", "--val-split", "0.3", "--out", out}
	}
	want := filepath.Join(dir, "want.onnx")
	if _, stderr, status := onnxtune(args("3", want)...); status != 0 {
		t.Fatalf("status %d: %s", status, stderr)
	}
	ck := filepath.Join(dir, "ck")
	if _, stderr, status := onnxtune(append(args("2", filepath.Join(dir, "two.onnx")), "--checkpoint-dir", ck)...); status != 0 {
		t.Fatalf("status %d: %s", status, stderr)
	}
	_, stderr, status := onnxtune("train", "--resume", ck, "--lr", "0.01", "--seed", "5", "--epochs", "3")
	if status != 2 || !strings.Contains(stderr, "--lr 0.01 (the checkpoint's run: 0.05)") || strings.Contains(stderr, "--seed") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("--lr 0.01: status %d, stderr %q; want 2 and the --lr difference alone", status, stderr)
	}
	// From another working directory: the record holds absolute paths.
	t.Chdir(dir)
	out := filepath.Join(dir, "resumed.onnx")
	if _, stderr, status := onnxtune("train", "--resume", "ck", "--epochs", "3", "--out", out); status != 0 {
		t.Fatalf("--resume alone: status %d: %s", status, stderr)
	}
	if !bytes.Equal(modelBytes(t, out), modelBytes(t, want)) {
		t.Errorf("resumed with --resume alone: the weights differ from the uninterrupted run's")
	}
}

// TestTrainDataPreflight: bad training data stops train before the first epoch with status 1
// and one line naming the file and, where it is one example's fault, the example; the output
// is not written.
func TestTrainDataPreflight(t *testing.T) {
	dir := t.TempDir()
	save := func(name string, arrays map[string]*tensor.Tensor) string {
		path := filepath.Join(dir, name)
		names := []string{"x", "y"}
		if _, ok := arrays["y"]; !ok {
			names = names[:1]
		}
		if err := data.SaveNPZ(path, names, arrays); err != nil {
			t.Fatal(err)
		}
		return path
	}
	labels := func(n int) *tensor.Tensor {
		y := make([]int64, n)
		for i := range y {
			y[i] = int64(i % 10)
		}
		return tensor.From([]int{n}, y)
	}
	nan := tensor.New(tensor.Float32, 10, 1, 28, 28)
	nan.Float32s()[7*28*28+90] = float32(math.Inf(1))
	emptyClass := filepath.Join(dir, "folders")
	for _, d := range []string{"a", "b"} {
		if err := os.MkdirAll(filepath.Join(emptyClass, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	png := filepath.Join(fixture.Root(t), "testdata", "demo", "images", "bags")
	entries, _ := os.ReadDir(png)
	b, _ := os.ReadFile(filepath.Join(png, entries[0].Name()))
	os.WriteFile(filepath.Join(emptyClass, "a", "x.png"), b, 0o644)
	for _, c := range []struct {
		name, data, want string
	}{
		{"infinity", save("inf.npz", map[string]*tensor.Tensor{"x": nan, "y": labels(10)}), `example 7 holds +Inf in "x"`},
		{"shape", save("shape.npz", map[string]*tensor.Tensor{"x": tensor.New(tensor.Float32, 10, 3, 28, 28), "y": labels(10)}), "examples are [3 28 28], the model takes [1 28 28]"},
		{"lengths", save("lengths.npz", map[string]*tensor.Tensor{"x": tensor.New(tensor.Float32, 10, 1, 28, 28), "y": labels(9)}), `"x" holds 10 examples but "y" holds 9`},
		{"no targets", save("unlabelled.npz", map[string]*tensor.Tensor{"x": tensor.New(tensor.Float32, 10, 1, 28, 28)}), `no target array "y"`},
		{"empty class", emptyClass, filepath.Join(emptyClass, "b") + ": no images in class folder"},
	} {
		out := filepath.Join(dir, "out.onnx")
		stdout, stderr, status := onnxtune("train", filepath.Join(fixture.Root(t), "testdata", "demo", "fmnist_cnn.onnx"), "--data", c.data, "--out", out)
		if status != 1 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, c.want) || !strings.Contains(stderr, c.data) || strings.Contains(stdout+stderr, "epoch 1/") {
			t.Errorf("%s: status %d, stderr %q; want 1 and one line naming %s with %q, before any epoch", c.name, status, stderr, c.data, c.want)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("%s: %s was written (%v)", c.name, out, err)
		}
	}
}
