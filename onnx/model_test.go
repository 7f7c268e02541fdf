package onnx_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/onnx"
)

// roundTripModels returns every committed fixture and the torchvision models, as paths.
func roundTripModels(t *testing.T) []string {
	var paths []string
	for _, rel := range fixture.SmallModels(t) {
		paths = append(paths, filepath.Join(fixture.Models(t), rel))
	}
	if !testing.Short() {
		for _, name := range []string{"resnet18", "mobilenet_v2", "squeezenet1_1"} {
			paths = append(paths, fixture.Large(t, name))
		}
		paths = append(paths, fixture.Large(t, "resnet18", "--preserve-bn"))
	}
	return paths
}

// TestRoundTrip loads and saves every fixture, then holds the copy to three references: the
// original proto (proto.Equal, unknown fields included), onnx.checker, and ONNX Runtime, whose
// outputs on the copy must match PyTorch's recorded outputs.
func TestRoundTrip(t *testing.T) {
	var saved []string
	outDir := t.TempDir() // outlives the subtests: the checker reads every copy at the end
	for _, path := range roundTripModels(t) {
		name := modelName(path)
		t.Run(name, func(t *testing.T) {
			m, err := onnx.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(outDir, name, filepath.Base(path))
			if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := onnx.Save(m, out); err != nil {
				t.Fatal(err)
			}
			want, got := parseRaw(t, path), parseRaw(t, out)
			if !proto.Equal(got, want) {
				t.Fatalf("saved model differs from %s", path)
			}
			compareExternalFiles(t, want, filepath.Dir(path), filepath.Dir(out))
			saved = append(saved, out)
			checkWithORT(t, out, strings.TrimSuffix(path, ".onnx")+".io.npz")
		})
	}
	// One Python start for all checker runs.
	fixture.RunPython(t, `
import sys, onnx
for p in sys.argv[1:]:
    onnx.checker.check_model(p, full_check=True)
`, saved...)
}

// modelName names a fixture's subtest: its file name, or its directory for ext_data.
func modelName(path string) string {
	if filepath.Base(filepath.Dir(path)) == "ext_data" {
		return "ext_data"
	}
	return strings.TrimSuffix(filepath.Base(path), ".onnx")
}

func parseRaw(t *testing.T, path string) *onnx.ModelProto {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	mp := new(onnx.ModelProto)
	if err := proto.Unmarshal(b, mp); err != nil {
		t.Fatal(err)
	}
	return mp
}

func compareExternalFiles(t *testing.T, mp *onnx.ModelProto, origDir, outDir string) {
	t.Helper()
	seen := map[string]bool{}
	for _, init := range mp.GetGraph().GetInitializer() {
		for _, e := range init.GetExternalData() {
			if e.GetKey() != "location" || seen[e.GetValue()] {
				continue
			}
			seen[e.GetValue()] = true
			want, err := os.ReadFile(filepath.Join(origDir, e.GetValue()))
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(outDir, e.GetValue()))
			if err != nil {
				t.Fatalf("external data was not written: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("external data %s: %d bytes written differ from the original %d", e.GetValue(), len(got), len(want))
			}
		}
	}
}

// checkWithORT runs model in ONNX Runtime on the input recorded in ioPath and compares every
// output with PyTorch's.
func checkWithORT(t *testing.T, model, ioPath string) {
	t.Helper()
	io, _, err := data.LoadNPZ(ioPath)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	x := filepath.Join(dir, "x.npy")
	if err := data.SaveNPY(x, io["x"]); err != nil {
		t.Fatal(err)
	}
	res := fixture.RunORT(t, model, dir, "x="+x)
	if len(res.Outputs) == 0 {
		t.Fatal("onnxruntime produced no outputs")
	}
	for name := range res.Outputs {
		want, ok := io[name]
		if !ok {
			t.Fatalf("output %q has no PyTorch reference in %s", name, ioPath)
		}
		got, err := data.LoadNPY(filepath.Join(dir, name+".npy"))
		if err != nil {
			t.Fatal(err)
		}
		if rel := fixture.RelDiff(got.ToFloat64s(), want.ToFloat64s()); rel > 1e-4 {
			t.Errorf("output %q: onnxruntime on the saved model differs from PyTorch by %.3g relative", name, rel)
		}
	}
}

// TestLoadBadFiles checks that each kind of broken input gives one line naming the file and the
// problem, and no panic.
func TestLoadBadFiles(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile(fixture.Small(t, "tiny_cnn.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	random := make([]byte, 4096)
	seed := uint32(1)
	for i := range random {
		seed = seed*1664525 + 1013904223
		random[i] = byte(seed >> 24)
	}
	cases := []struct {
		name, path, want string
	}{
		{"truncated", write("truncated.onnx", good[:len(good)/2]), "truncated"},
		{"truncated-early", write("early.onnx", good[:40]), "truncated"},
		{"random", write("random.onnx", random), "not an ONNX model"},
		{"empty", write("empty.onnx", nil), "empty file"},
		{"text", write("text.onnx", []byte("hello, this is not a model\n")), "ONNX model"},
		{"directory", dir, "is a directory"},
		{"missing", filepath.Join(dir, "missing.onnx"), "no such file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := onnx.Load(c.path)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			msg := err.Error()
			if !strings.Contains(msg, c.path) || !strings.Contains(msg, c.want) || strings.Contains(msg, "\n") {
				t.Fatalf("error %q: want one line naming %s and saying %q", msg, c.path, c.want)
			}
		})
	}
}

// TestExternalDataMissing: a model whose data file is gone names that file.
func TestExternalDataMissing(t *testing.T) {
	dir := t.TempDir()
	b, err := os.ReadFile(fixture.Small(t, "ext_data/model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "model.onnx")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = onnx.Load(p)
	if err == nil || !strings.Contains(err.Error(), "model.onnx.data") {
		t.Fatalf("got %v, want an error naming model.onnx.data", err)
	}
}
