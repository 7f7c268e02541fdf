package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// diskFullScript mounts a tmpfs of SIZE bytes on MNT in a mount namespace of its own, puts the
// previous output there, runs train with --out on it, and copies out what the test checks:
// the exit status, stderr, the output file after the run and the folder's listing.
const diskFullScript = `set -u
mount -t tmpfs -o size="$SIZE" tmpfs "$MNT" || exit 90
cp "$PREV" "$MNT/out.onnx"
"$BIN" train "$MODEL" --data "$NPZ" --epochs 1 --batch-size 8 --out "$MNT/out.onnx" 2>"$RESULTS/stderr"
echo $? >"$RESULTS/status"
cp "$MNT/out.onnx" "$RESULTS/after.onnx"
ls -A "$MNT" >"$RESULTS/listing"
`

// TestTrainDiskFull: when the disk fills while the tuned model is written, train exits 1
// saying the disk is full, and the previous output file is intact, with no temporary file
// left beside it. The disk is a small tmpfs in a user and mount namespace (unshare), which
// needs no root.
func TestTrainDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary: runs in the full (non -short) pass")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Fatalf("unshare (util-linux) is needed to mount a small tmpfs: %v", err)
	}
	dir := t.TempDir()
	bin := buildCLI(t, dir)
	npz := randomFashionData(t, dir, 32)
	model, err := filepath.Abs(filepath.Join("..", "..", "testdata", "demo", "fmnist_cnn.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	prev, err := os.ReadFile(model) // the previous output: any model file will do
	if err != nil {
		t.Fatal(err)
	}
	mnt, results := filepath.Join(dir, "mnt"), filepath.Join(dir, "results")
	for _, d := range []string{mnt, results} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(unshare, "--user", "--map-root-user", "--mount", "sh", "-c", diskFullScript)
	// Room for the previous output and half of another.
	cmd.Env = append(os.Environ(), "SIZE="+fmt.Sprint(len(prev)*3/2), "MNT="+mnt, "PREV="+model, "BIN="+bin,
		"MODEL="+model, "NPZ="+npz, "RESULTS="+results)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("unshare and mount a tmpfs: %v\n%s", err, out)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(results, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	lines := strings.Split(strings.TrimSpace(read("stderr")), "\n") // the epoch's line, then the error
	last := lines[len(lines)-1]
	if status := strings.TrimSpace(read("status")); status != "1" || !strings.HasPrefix(last, "onnxtune train: ") ||
		!strings.Contains(last, "out.onnx") || !strings.Contains(last, "the disk is full") {
		t.Errorf("status %s, last line %q; want 1 and a line naming out.onnx and saying the disk is full", status, last)
	}
	if after := read("after.onnx"); !bytes.Equal([]byte(after), prev) {
		t.Errorf("the previous output changed: %d bytes, were %d", len(after), len(prev))
	}
	if listing := strings.Fields(read("listing")); len(listing) != 1 || listing[0] != "out.onnx" {
		t.Errorf("the output folder holds %v, want only out.onnx", listing)
	}
}
