package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/onnxtune/onnxtune/internal/fixture"
)

// onnxtune runs the CLI in-process and returns stdout, stderr and the exit status.
func onnxtune(args ...string) (string, string, int) {
	var stdout, stderr bytes.Buffer
	status := run(args, &stdout, &stderr)
	return stdout.String(), stderr.String(), status
}

func inspectJSON(t *testing.T, args ...string) modelSummary {
	t.Helper()
	out, errOut, status := onnxtune(append([]string{"inspect"}, args...)...)
	if status != 0 {
		t.Fatalf("inspect %v: status %d: %s", args, status, errOut)
	}
	var s modelSummary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("inspect --json printed %q: %v", out, err)
	}
	return s
}

// histogramPy prints the op histogram and trainable parameter count the way Python's onnx sees
// the file: collections.Counter over graph.node, and the elements of the initializers that
// torch.nn.Module.parameters() would list (every float initializer except BatchNorm running
// statistics).
const histogramPy = `
import sys, json, collections, onnx, numpy as np
m = onnx.load(sys.argv[1])
ops = collections.Counter(n.op_type for n in m.graph.node)
print(json.dumps(dict(ops)))
`

// TestInspectResnet18 holds inspect to torchvision's parameter count and to Python's op
// histogram for the same file.
func TestInspectResnet18(t *testing.T) {
	if testing.Short() {
		t.Skip("model-sized case: runs in the full (non -short) pass")
	}
	path := fixture.Large(t, "resnet18", "--preserve-bn")
	s := inspectJSON(t, path, "--json") // flag after the path, as users type it
	if s.Parameters != 11689512 {
		t.Errorf("parameters: got %d, want 11689512 (torchvision resnet18)", s.Parameters)
	}
	var want map[string]int
	if err := json.Unmarshal([]byte(fixture.RunPython(t, histogramPy, path)), &want); err != nil {
		t.Fatal(err)
	}
	if !equalHist(s.Ops, want) {
		t.Errorf("op histogram: got %v, want %v (python onnx)", s.Ops, want)
	}
	// Folded BatchNorm: every op torch exported is still counted like Python does.
	folded := fixture.Large(t, "resnet18")
	want = nil // Unmarshal into a filled map would merge the two histograms
	if err := json.Unmarshal([]byte(fixture.RunPython(t, histogramPy, folded)), &want); err != nil {
		t.Fatal(err)
	}
	if got := inspectJSON(t, "--json", folded).Ops; !equalHist(got, want) {
		t.Errorf("folded op histogram: got %v, want %v (python onnx)", got, want)
	}
}

func equalHist(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestInspectSmall checks shapes with a symbolic batch, the trainable set (BatchNorm running
// statistics excluded) and the text form, against the committed fixtures.
func TestInspectSmall(t *testing.T) {
	s := inspectJSON(t, "--json", fixture.Small(t, "tiny_cnn_bn.onnx"))
	if len(s.Inputs) != 1 || s.Inputs[0].Name != "x" || s.Inputs[0].Shape[0] != "batch" {
		t.Fatalf("inputs: got %+v, want x with a symbolic batch dimension", s.Inputs)
	}
	for _, tr := range s.Trainable {
		if strings.Contains(tr.Name, "running_") {
			t.Errorf("BatchNorm statistic %s listed as trainable", tr.Name)
		}
	}
	var want map[string]int
	if err := json.Unmarshal([]byte(fixture.RunPython(t, `
import sys, json, onnx
m = onnx.load(sys.argv[1])
print(json.dumps({"initializers": len(m.graph.initializer),
  "trainable": sum(1 for i in m.graph.initializer if "running_" not in i.name)}))
`, fixture.Small(t, "tiny_cnn_bn.onnx"))), &want); err != nil {
		t.Fatal(err)
	}
	if s.Initializers != want["initializers"] || len(s.Trainable) != want["trainable"] {
		t.Errorf("got %d initializers, %d trainable; want %v", s.Initializers, len(s.Trainable), want)
	}
	out, _, status := onnxtune("inspect", fixture.Small(t, "tiny_cnn_bn.onnx"))
	if status != 0 || !strings.Contains(out, "x float32 [batch 1 28 28]") {
		t.Errorf("text output (status %d):\n%s", status, out)
	}
}

// TestBadInputs: usage errors exit 2, failures exit 1, each with one line on stderr.
func TestBadInputs(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.onnx")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	trunc := filepath.Join(dir, "trunc.onnx")
	b, _ := os.ReadFile(fixture.Small(t, "resblock.onnx"))
	if err := os.WriteFile(trunc, b[:len(b)/3], 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args   []string
		status int
		want   string
	}{
		{[]string{"inspect"}, 2, "missing MODEL.onnx"},
		{[]string{"inspect", "a.onnx", "b.onnx"}, 2, "unexpected argument"},
		{[]string{"inspect", "--bogus", empty}, 2, "flag provided but not defined"},
		{[]string{"nosuchcommand"}, 2, "unknown command"},
		{[]string{"inspect", empty}, 1, empty + ": empty file"},
		{[]string{"inspect", trunc}, 1, trunc},
		{[]string{"inspect", dir}, 1, "is a directory"},
		{[]string{"inspect", filepath.Join(dir, "nope.onnx")}, 1, "no such file"},
	}
	for _, c := range cases {
		stdout, stderr, status := onnxtune(c.args...)
		if status != c.status || !strings.Contains(stderr, c.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: status %d, stderr %q; want status %d and one line containing %q", c.args, status, stderr, c.status, c.want)
		}
		if stdout != "" {
			t.Errorf("%v: printed %q on stdout", c.args, stdout)
		}
	}
	if out, _, status := onnxtune("inspect", "-h"); status != 0 || !strings.Contains(out, "Usage: onnxtune inspect") {
		t.Errorf("inspect -h: status %d, output %q", status, out)
	}
}

// TestVersion: `onnxtune version` and `--version` print the module version, the commit the
// binary was built from (as git names HEAD) and the Go toolchain.
func TestVersion(t *testing.T) {
	for _, arg := range []string{"version", "--version"} {
		out, errOut, status := onnxtune(arg)
		if status != 0 || !strings.HasPrefix(out, "onnxtune ") || !strings.Contains(out, runtime.Version()) || errOut != "" {
			t.Errorf("%s: status %d, stdout %q, stderr %q", arg, status, out, errOut)
		}
	}
	if testing.Short() {
		return // the rest builds the binary
	}
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatalf("git rev-parse HEAD: %v", err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "onnxtune")
	if b, err := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil || !strings.Contains(string(out), "(commit "+strings.TrimSpace(string(head))) {
		t.Errorf("--version of a build from this checkout: %q (%v); want commit %s", out, err, head)
	}
}
