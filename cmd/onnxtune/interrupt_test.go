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
// each after saying so in one line, and leaves no output file behind.
func TestTrainInterruptExitStatus(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary: runs in the full (non -short) pass")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "onnxtune")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	r := rand.New(rand.NewPCG(13, 5))
	x := tensor.New(tensor.Float32, 256, 1, 28, 28)
	for i := range x.Float32s() {
		x.Float32s()[i] = r.Float32()
	}
	y := make([]int64, 256)
	for i := range y {
		y[i] = r.Int64N(10)
	}
	npz := filepath.Join(dir, "d.npz")
	if err := data.SaveNPZ(npz, []string{"x", "y"}, map[string]*tensor.Tensor{"x": x, "y": tensor.From([]int{256}, y)}); err != nil {
		t.Fatal(err)
	}
	model := filepath.Join("..", "..", "testdata", "demo", "fmnist_cnn.onnx")
	for _, c := range []struct {
		sig    syscall.Signal
		status int
	}{{syscall.SIGINT, 130}, {syscall.SIGTERM, 143}} {
		t.Run(c.sig.String(), func(t *testing.T) {
			out := filepath.Join(dir, "tuned.onnx")
			cmd := exec.Command(bin, "train", model, "--data", npz, "--epochs", "1000", "--batch-size", "8", "--out", out)
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
			if !strings.Contains(last, "interrupted in epoch") || !strings.Contains(last, "was not written") {
				t.Errorf("last line %q, want the interruption and the unwritten output named", last)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("%s exists after the interruption (%v)", out, err)
			}
		})
	}
}
