package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/onnx"
)

// TestTrainKilledAndResumed: twenty training runs, each killed with SIGKILL at a random
// moment after its first checkpoint and continued with --resume (alone, or with the run's
// flags), end with the weights of an uninterrupted run, bit for bit; after each kill every
// file under a final name is whole.
func TestTrainKilledAndResumed(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and trains 41 times: runs in the full (non -short) pass")
	}
	dir := t.TempDir()
	bin := buildCLI(t, dir)
	npz := randomFashionData(t, dir, 96)
	model := filepath.Join("..", "..", "testdata", "demo", "fmnist_cnn.onnx")
	args := func(out, ck string) []string {
		return []string{"train", model, "--data", npz, "--epochs", "3", "--batch-size", "8", "--optimizer", "adam",
			"--lr", "0.003", "--schedule", "cosine", "--seed", "11", "--val-split", "0.25", "--out", out,
			"--checkpoint-dir", ck, "--checkpoint-every", "1", "--workers", "2"}
	}
	want := filepath.Join(dir, "want.onnx")
	began := time.Now()
	if out, err := exec.Command(bin, args(want, filepath.Join(dir, "ck-want"))...).CombinedOutput(); err != nil {
		t.Fatalf("uninterrupted run: %v\n%s", err, out)
	}
	took := time.Since(began)
	wantWeights := modelBytes(t, want)

	r := rand.New(rand.NewPCG(2026, 12))
	for trial := range 20 {
		ck, out := filepath.Join(dir, fmt.Sprintf("ck%d", trial)), filepath.Join(dir, fmt.Sprintf("out%d.onnx", trial))
		cmd := exec.Command(bin, args(out, ck)...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Once the first checkpoint is there, a kill at any moment of the rest of the run.
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(2 * time.Millisecond) {
			if _, err := os.Stat(filepath.Join(ck, "checkpoint.json")); err == nil {
				break
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatalf("trial %d: no checkpoint within a minute", trial)
			}
		}
		time.Sleep(time.Duration(r.Int64N(int64(took))))
		cmd.Process.Kill()
		cmd.Wait()
		step := checkWhole(t, ck, out)

		// Half the trials resume with the flags repeated, half with --resume alone (the
		// checkpoint records the command line).
		resume := []string{"train", "--resume", ck}
		if trial%2 == 0 {
			resume = append(args(out, ck), "--resume", ck)
		}
		if b, err := exec.Command(bin, resume...).CombinedOutput(); err != nil {
			t.Fatalf("trial %d: resume from step %d: %v\n%s", trial, step, err, b)
		}
		if got := modelBytes(t, out); !bytes.Equal(got, wantWeights) {
			t.Errorf("trial %d: killed after step %d and resumed: the weights differ from the uninterrupted run's", trial, step)
		}
		if left, _ := filepath.Glob(filepath.Join(ck, ".*")); len(left) > 0 {
			t.Errorf("trial %d: temporary files outlive the resumed run: %v", trial, left)
		}
		t.Logf("trial %d: killed after step %d", trial, step)
	}
}

// checkWhole checks that the files a killed run left under their final names are whole: the
// checkpoint's record, the arrays it names and its model, and the output if written. It
// returns the checkpoint's step.
func checkWhole(t *testing.T, ck, out string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(ck, "checkpoint.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rec struct {
		Step  int
		Files map[string]struct{ Name string }
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatalf("checkpoint.json after the kill: %v\n%s", err, b)
	}
	for _, f := range rec.Files {
		if _, _, err := data.LoadNPZ(filepath.Join(ck, f.Name)); err != nil {
			t.Errorf("after the kill: %v", err)
		}
	}
	for _, path := range []string{filepath.Join(ck, "checkpoint.onnx"), out} {
		if _, err := os.Stat(path); os.IsNotExist(err) && path == out {
			continue
		}
		if _, err := onnx.Load(path); err != nil {
			t.Errorf("after the kill: %v", err)
		}
	}
	entries, _ := os.ReadDir(ck)
	for _, e := range entries {
		if name := e.Name(); !strings.HasPrefix(name, ".") && !strings.HasSuffix(name, ".npz") && name != "checkpoint.json" && name != "checkpoint.onnx" {
			t.Errorf("after the kill: unexpected file %s in the checkpoint folder", name)
		}
	}
	return rec.Step
}

// modelBytes is the tuned weights of a model file: its initializers' bytes in file order.
func modelBytes(t *testing.T, path string) []byte {
	t.Helper()
	m, err := onnx.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var b []byte
	for _, tp := range m.Proto.GetGraph().GetInitializer() {
		w, err := m.Tensor(tp)
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, tp.GetName()...)
		for _, v := range w.ToFloat64s() {
			b = fmt.Appendf(b, "%x,", v)
		}
	}
	return b
}
