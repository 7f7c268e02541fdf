package main

import (
	"encoding/json"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/tensor"
)

// tinyCNNFLOPs is the FLOPs of one tiny_cnn example, worked out by hand from gen.py's TinyCNN:
// the 3x3 convolutions with padding 1 keep their input's size, 28x28 and then 14x14 after the
// 2x2 max pool, and each output element is a dot product over Cin*3*3 weights; the Linear
// layer is 10 dot products of 16. It first checks that the file's Conv and Gemm weights have
// the shapes the working assumes, so a changed fixture fails here rather than in the sum.
func tinyCNNFLOPs(t *testing.T, path string) int64 {
	t.Helper()
	plan, err := loadPlan(path)
	if err != nil {
		t.Fatal(err)
	}
	g := plan.Graph
	var weights [][]int
	for _, n := range g.Nodes {
		if n.OpType == "Conv" || n.OpType == "Gemm" {
			weights = append(weights, g.Initializers[n.Inputs[1]].Shape())
		}
	}
	if want := [][]int{{8, 1, 3, 3}, {16, 8, 3, 3}, {10, 16}}; !slices.EqualFunc(weights, want, slices.Equal) {
		t.Fatalf("%s: Conv and Gemm weights %v, want %v", path, weights, want)
	}
	return 2*(8*28*28)*(1*3*3) + 2*(16*14*14)*(8*3*3) + 2*10*16
}

// benchJSON runs bench with --json and returns the object it printed.
func benchJSON(t *testing.T, args ...string) map[string]any {
	t.Helper()
	out, errOut, status := onnxtune(append([]string{"bench", "--json"}, args...)...)
	if status != 0 {
		t.Fatalf("bench %v: status %d: %s", args, status, errOut)
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("bench --json printed %q: %v", out, err)
	}
	for _, k := range []string{"model", "mode", "batch", "size", "threads", "iters", "warmup", "median_ms", "min_ms",
		"images_per_s", "flops", "gflops", "gflop_per_s", "peak_rss_bytes"} {
		if _, ok := r[k]; !ok {
			t.Errorf("bench --json: no key %q in %s", k, out)
		}
	}
	if !(r["min_ms"].(float64) <= r["median_ms"].(float64)) || !(r["min_ms"].(float64) > 0) {
		t.Errorf("min_ms %v, median_ms %v: want 0 < min <= median", r["min_ms"], r["median_ms"])
	}
	if runtime.GOOS == "linux" && !(r["peak_rss_bytes"].(float64) > 0) {
		t.Errorf("peak_rss_bytes %v, want the process's peak", r["peak_rss_bytes"])
	}
	return r
}

// TestBenchInference counts tiny_cnn's FLOPs at batch 2 against the hand-worked value and
// checks what the JSON says of the run. Times are not checked: only that they are ordered.
func TestBenchInference(t *testing.T) {
	path := fixture.Small(t, "tiny_cnn.onnx")
	r := benchJSON(t, path, "--batch", "2", "--iters", "2")
	want := map[string]any{"model": path, "mode": "inference", "batch": 2.0, "size": "28x28",
		"threads": float64(runtime.GOMAXPROCS(0)), "iters": 2.0, "flops": float64(2 * tinyCNNFLOPs(t, path))}
	for k, v := range want {
		if r[k] != v {
			t.Errorf("%s: got %v, want %v", k, r[k], v)
		}
	}
	if w := r["warmup"].(float64); w < 1 || w > 3 {
		t.Errorf("warmup %v, want 1 to 3 iterations", w)
	}
	if got, want := r["gflops"].(float64), float64(2*tinyCNNFLOPs(t, path))/1e9; got != want {
		t.Errorf("gflops: got %v, want %v", got, want)
	}
}

// TestBenchTrain times training steps of the model with BatchNorm kept; a step counts three
// forward passes.
func TestBenchTrain(t *testing.T) {
	path := fixture.Small(t, "tiny_cnn_bn.onnx")
	r := benchJSON(t, path, "--train", "--iters", "2")
	if r["mode"] != "train" || r["batch"] != 1.0 {
		t.Errorf("mode %v, batch %v; want train, 1", r["mode"], r["batch"])
	}
	if got, want := r["flops"], float64(3*tinyCNNFLOPs(t, path)); got != want {
		t.Errorf("flops: got %v, want %v (3x the forward pass)", got, want)
	}
}

// TestBenchText: the text form is three lines saying what ran and what it measured.
func TestBenchText(t *testing.T) {
	out, errOut, status := onnxtune("bench", fixture.Small(t, "tiny_cnn.onnx"), "--iters", "1")
	if status != 0 {
		t.Fatalf("status %d: %s", status, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "tiny_cnn.onnx: inference, batch 1, 28x28, ") ||
		!strings.Contains(lines[0], "1 iteration after ") || !strings.Contains(lines[1], "median ") ||
		!strings.Contains(lines[2], "0.000565 GFLOP per iteration") || !strings.Contains(lines[2], "peak memory") {
		t.Errorf("text output:\n%s", out)
	}
}

// TestBenchErrors: usage errors exit 2, failures 1, each with one line on stderr.
func TestBenchErrors(t *testing.T) {
	tiny := fixture.Small(t, "tiny_cnn.onnx")
	for _, c := range []struct {
		args   []string
		status int
		want   string
	}{
		{[]string{tiny, "--size", "224"}, 2, "--size 224: want HxW"},
		{[]string{tiny, "--size", "0x28"}, 2, "want HxW"},
		{[]string{tiny, "--size", "32x32"}, 1, "fixes its size at 28x28, so --size 32x32 cannot run"},
		{[]string{tiny, "--batch", "0"}, 2, "--batch 0: want at least 1"},
		{[]string{tiny, "--iters", "0"}, 2, "--iters 0: want at least 1"},
		{[]string{"nope.onnx"}, 1, "nope.onnx: no such file"},
		{nil, 2, "missing MODEL.onnx"},
	} {
		stdout, stderr, status := onnxtune(append([]string{"bench"}, c.args...)...)
		if status != c.status || !strings.Contains(stderr, c.want) || strings.Count(stderr, "\n") != 1 || stdout != "" {
			t.Errorf("bench %v: status %d, stdout %q, stderr %q; want status %d and one line containing %q", c.args, status, stdout, stderr, c.status, c.want)
		}
	}
}

// TestBenchShape: where each size of the input comes from, and the inputs bench cannot fill.
func TestBenchShape(t *testing.T) {
	sym := func(name string) graph.Dim { return graph.Dim{Size: -1, Param: name} }
	fixed := func(n int) graph.Dim { return graph.Dim{Size: n} }
	image := func(dims ...graph.Dim) graph.ValueInfo {
		return graph.ValueInfo{Name: "x", DType: tensor.Float32, Shape: dims}
	}
	for _, c := range []struct {
		name     string
		in       graph.ValueInfo
		batch    int
		batchSet bool
		hw       []int
		want     []int
		err      string
	}{
		{"symbolic batch", image(sym("batch"), fixed(3), fixed(32), fixed(32)), 4, true, nil, []int{4, 3, 32, 32}, ""},
		{"fixed batch", image(fixed(2), fixed(3), fixed(32), fixed(32)), 1, false, nil, []int{2, 3, 32, 32}, ""},
		{"fixed batch, other --batch", image(fixed(2), fixed(3), fixed(32), fixed(32)), 8, true, nil, nil, "fixes the batch at 2"},
		{"symbolic size", image(sym("batch"), fixed(3), sym("height"), sym("width")), 1, false, []int{64, 48}, []int{1, 3, 64, 48}, ""},
		{"symbolic size, no --size", image(sym("batch"), fixed(3), sym("height"), sym("width")), 1, false, nil, nil, "give --size HxW"},
		{"symbolic channels", image(sym("batch"), sym("c"), fixed(8), fixed(8)), 1, false, nil, nil, "dimension 1 is not fixed"},
		{"features", image(sym("batch"), fixed(784)), 3, true, nil, []int{3, 784}, ""},
		{"features with --size", image(sym("batch"), fixed(784)), 1, false, []int{28, 28}, nil, "not an image"},
		{"unknown shape", image(), 1, false, nil, nil, "needs a batch dimension"},
	} {
		if c.name == "unknown shape" {
			c.in.Shape = nil
		}
		got, err := benchShape(c.in, c.batch, c.batchSet, c.hw)
		switch {
		case c.err == "" && (err != nil || !slices.Equal(got, c.want)):
			t.Errorf("%s: got %v, %v; want %v", c.name, got, err, c.want)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: got %v, %v; want an error containing %q", c.name, got, err, c.err)
		}
	}
}
