package graph_test

import (
	"testing"

	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/onnx"
)

// planFile loads, imports and plans the model at path, failing the test on any error.
func planFile(t testing.TB, path string) *graph.Plan {
	t.Helper()
	m, err := onnx.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	g, err := onnx.Import(m)
	if err != nil {
		t.Fatal(err)
	}
	p, err := graph.NewPlan(g)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
