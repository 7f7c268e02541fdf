package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/tensor"
)

// imageNetData writes n random examples of 3 x size x size with labels 0 to 999.
func imageNetData(t *testing.T, dir string, n, size int) string {
	t.Helper()
	r := rand.New(rand.NewPCG(3, 9))
	x := tensor.New(tensor.Float32, n, 3, size, size)
	for i := range x.Float32s() {
		x.Float32s()[i] = r.Float32()
	}
	y := make([]int64, n)
	for i := range y {
		y[i] = r.Int64N(1000)
	}
	path := filepath.Join(dir, fmt.Sprintf("imagenet%d.npz", size))
	if err := data.SaveNPZ(path, []string{"x", "y"}, map[string]*tensor.Tensor{"x": x, "y": tensor.From([]int{n}, y)}); err != nil {
		t.Fatal(err)
	}
	return path
}

var estimateRE = regexp.MustCompile(`need an estimated ([0-9.]+) (MiB|GiB) at the peak`)

// estimate is the peak train estimates for args, read from its refusal under a 1 MiB limit.
func estimate(t *testing.T, args ...string) float64 {
	t.Helper()
	_, stderr, status := onnxtune(append(args, "--max-memory", "1MiB")...)
	m := estimateRE.FindStringSubmatch(stderr)
	if status != 1 || m == nil {
		t.Fatalf("%v under 1 MiB: status %d, stderr %q; want the estimate", args, status, stderr)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	if m[2] == "GiB" {
		v *= 1024
	}
	return v
}

// TestTrainMaxMemory: a batch size whose estimated peak exceeds --max-memory (or GOMEMLIMIT)
// is refused before training with the estimate, its parts and a batch size that fits; that
// batch size trains; a malformed size is a usage error.
func TestTrainMaxMemory(t *testing.T) {
	dir := t.TempDir()
	npz := imageNetData(t, dir, 16, 64)
	model := fixture.Large(t, "resnet18", "--preserve-bn", "--size", "64")
	out := filepath.Join(dir, "tuned.onnx")
	args := []string{"train", model, "--data", npz, "--epochs", "1", "--out", out, "--optimizer", "adam"}
	_, stderr, status := onnxtune(append(args, "--batch-size", "16", "--max-memory", "440MiB")...)
	fits := regexp.MustCompile(`--batch-size (\d+) fits`).FindStringSubmatch(stderr)
	if status != 1 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "batches of 16 need an estimated") ||
		!strings.Contains(stderr, "more than the 440 MiB of --max-memory") || fits == nil {
		t.Fatalf("status %d, stderr %q; want 1 and one line with the estimate and a batch size that fits", status, stderr)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("%s exists after the refusal (%v)", out, err)
	}
	if _, stderr, status := onnxtune(append(args, "--batch-size", fits[1], "--max-memory", "440MiB")...); status != 0 {
		t.Errorf("--batch-size %s, the one said to fit: status %d: %s", fits[1], status, stderr)
	}
	if _, stderr, status := onnxtune(append(args, "--max-memory", "lots")...); status != 2 || !strings.Contains(stderr, "--max-memory lots") {
		t.Errorf("--max-memory lots: status %d, stderr %q; want a usage error", status, stderr)
	}
	if testing.Short() {
		return // the rest builds the binary
	}
	cmd := exec.Command(buildCLI(t, dir), append(args, "--batch-size", "16")...)
	cmd.Env = append(os.Environ(), "GOMEMLIMIT=440MiB")
	b, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(b), "more than the 440 MiB of GOMEMLIMIT") {
		t.Errorf("GOMEMLIMIT=440MiB: %v: %s; want the refusal", err, b)
	}
}

var gcHeapRE = regexp.MustCompile(`(?m)^gc \d+ .*?, (\d+)->\d+->\d+ MB`)

// TestTrainMemoryEstimate holds the estimate to what training resnet18 at 64x64 holds: with
// GOGC=1 the collector runs whenever the heap grows by 1%, so the largest heap at the start
// of a collection (GODEBUG=gctrace=1) is the run's peak of live memory. The estimate must
// not be below it, nor more than 45% above: the classifier-only run's peak moves with when
// the collector catches the frozen part's pass, whose batches split over the cores
// (graph/split.go), 198-256 MiB over runs against an estimate of 272 MiB.
func TestTrainMemoryEstimate(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and trains under a collector that never rests: runs in the full (non -short) pass")
	}
	dir := t.TempDir()
	bin := buildCLI(t, dir)
	npz := imageNetData(t, dir, 64, 64)
	model := fixture.Large(t, "resnet18", "--preserve-bn", "--size", "64")
	for _, extra := range [][]string{
		{"--batch-size", "8", "--optimizer", "adam"},
		{"--batch-size", "32", "--optimizer", "adam"},
		{"--batch-size", "32", "--train-only", `^fc\.`, "--optimizer", "sgd", "--momentum", "0.9"},
	} {
		args := append([]string{"train", model, "--data", npz, "--epochs", "1", "--out", filepath.Join(dir, "tuned.onnx")}, extra...)
		est := estimate(t, args...)
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "GOGC=1", "GODEBUG=gctrace=1")
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", extra, err, b)
		}
		peak := 0.0
		for _, m := range gcHeapRE.FindAllStringSubmatch(string(b), -1) {
			v, _ := strconv.ParseFloat(m[1], 64)
			peak = max(peak, v)
		}
		if !(peak > 0 && est >= peak && est <= 1.45*peak) {
			t.Errorf("%v: estimated %.0f MiB, the heap peaked at %.0f MiB; want the estimate between 1 and 1.45 times the peak", extra, est, peak)
		}
		t.Logf("%v: estimated %.0f MiB, heap peak %.0f MiB (%.2fx)", extra, est, peak, est/peak)
	}
}
