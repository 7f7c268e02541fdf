package main

import (
	"bufio"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/tensor"
)

// TestTrainInterruptExitStatus: a training run stopped by SIGINT exits 130, by SIGTERM 143,
// each after saying so in one line; it leaves no output file behind, and a checkpoint of the
// step it stopped after, which --resume continues.
func TestTrainInterruptExitStatus(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary: runs in the full (non -short) pass")
	}
	dir := t.TempDir()
	bin := buildCLI(t, dir)
	npz := randomFashionData(t, dir, 256)
	model := filepath.Join("..", "..", "testdata", "demo", "fmnist_cnn.onnx")
	for _, c := range []struct {
		sig    syscall.Signal
		status int
	}{{syscall.SIGINT, 130}, {syscall.SIGTERM, 143}} {
		t.Run(c.sig.String(), func(t *testing.T) {
			out, ck := filepath.Join(dir, "tuned.onnx"), filepath.Join(dir, "ck-"+c.sig.String())
			cmd := exec.Command(bin, "train", model, "--data", npz, "--epochs", "1000", "--batch-size", "8", "--out", out, "--checkpoint-dir", ck)
			pr, pw := io.Pipe()
			cmd.Stdout, cmd.Stderr = pw, pw
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			lines := make(chan string, 100)
			go func() {
				sc := bufio.NewScanner(pr)
				for sc.Scan() {
					lines <- sc.Text()
				}
				close(lines)
			}()
			var said []string
			deadline := time.After(60 * time.Second)
		wait:
			for {
				select {
				case l, ok := <-lines:
					if !ok {
						t.Fatalf("train ended before its first epoch: %v", said)
					}
					said = append(said, l)
					if strings.HasPrefix(l, "epoch 1/") {
						break wait
					}
				case <-deadline:
					cmd.Process.Kill()
					t.Fatalf("no epoch line within a minute: %v", said)
				}
			}
			if err := cmd.Process.Signal(c.sig); err != nil {
				t.Fatal(err)
			}
			err := cmd.Wait()
			pw.Close()
			for l := range lines {
				said = append(said, l)
			}
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != c.status {
				t.Fatalf("exit %v, want status %d; printed %q", err, c.status, said)
			}
			last := said[len(said)-1]
			if !strings.Contains(last, "interrupted in epoch") || !strings.Contains(last, "was not written") || !strings.Contains(last, "--resume "+ck) {
				t.Errorf("last line %q, want the interruption, the unwritten output and --resume %s named", last, ck)
			}
			// The step under way finished and was checkpointed: the run continues from it.
			resumed := exec.Command(bin, "train", model, "--data", npz, "--epochs", "2", "--batch-size", "8", "--out", out, "--resume", ck)
			if b, err := resumed.CombinedOutput(); err != nil {
				t.Errorf("--resume %s: %v\n%s", ck, err, b)
			}
			os.Remove(out)
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("%s exists after the interruption (%v)", out, err)
			}
		})
	}
}

// buildCLI builds the onnxtune binary into dir, for tests that signal or kill the process.
func buildCLI(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "onnxtune")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// randomFashionData writes n random 28x28 examples with labels 0 to 9 to dir/d.npz, for the
// demo's Fashion-MNIST model.
func randomFashionData(t *testing.T, dir string, n int) string {
	t.Helper()
	r := rand.New(rand.NewPCG(13, 5))
	x := tensor.New(tensor.Float32, n, 1, 28, 28)
	for i := range x.Float32s() {
		x.Float32s()[i] = r.Float32()
	}
	y := make([]int64, n)
	for i := range y {
		y[i] = r.Int64N(10)
	}
	npz := filepath.Join(dir, "d.npz")
	if err := data.SaveNPZ(npz, []string{"x", "y"}, map[string]*tensor.Tensor{"x": x, "y": tensor.From([]int{n}, y)}); err != nil {
		t.Fatal(err)
	}
	return npz
}
