package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/onnx"
)

// TestLoadRefusesMalformedModels: models that parse as protobuf but break ONNX's rules are
// refused by inspect and train with status 1 and one line naming what is wrong, before any
// training and without writing --out.
func TestLoadRefusesMalformedModels(t *testing.T) {
	base, err := onnx.Load(fixture.Small(t, "tiny_cnn.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	node := func(g *onnx.GraphProto, name string) *onnx.NodeProto {
		for _, n := range g.Node {
			if n.GetName() == name {
				return n
			}
		}
		t.Fatalf("no node %q", name)
		return nil
	}
	nested := func(depth int) func(*onnx.ModelProto) {
		return func(m *onnx.ModelProto) {
			inner := &onnx.GraphProto{Name: proto.String("leaf")}
			for range depth {
				inner = &onnx.GraphProto{Name: proto.String("level"), Node: []*onnx.NodeProto{{
					OpType: proto.String("If"), Input: []string{"c"}, Output: []string{"o"},
					Attribute: []*onnx.AttributeProto{{Name: proto.String("then_branch"), Type: onnx.AttributeProto_GRAPH.Enum(), G: inner}},
				}}}
			}
			n := node(m.Graph, "/Relu")
			n.Attribute = append(n.Attribute, &onnx.AttributeProto{Name: proto.String("body"), Type: onnx.AttributeProto_GRAPH.Enum(), G: inner})
		}
	}
	for _, c := range []struct {
		name   string
		change func(*onnx.ModelProto)
		want   string
	}{
		{"duplicate output", func(m *onnx.ModelProto) {
			m.Graph.Output = append(m.Graph.Output, proto.Clone(m.Graph.Output[0]).(*onnx.ValueInfoProto))
		}, `graph output "logits" is listed twice`},
		{"arity", func(m *onnx.ModelProto) {
			n := node(m.Graph, "/Relu")
			n.Input = append(n.Input, "x")
		}, `"/Relu"`},
		{"attribute type", func(m *onnx.ModelProto) {
			for _, a := range node(m.Graph, "/conv1/Conv").Attribute {
				if a.GetName() == "kernel_shape" {
					a.Type, a.Ints, a.F = onnx.AttributeProto_FLOAT.Enum(), nil, proto.Float32(3)
				}
			}
		}, `node "/conv1/Conv" (Conv): attribute "kernel_shape" has the wrong type`},
		{"typed data", func(m *onnx.ModelProto) {
			for _, tp := range m.Graph.Initializer {
				if tp.GetName() == "fc.bias" {
					tp.RawData, tp.FloatData = nil, []float32{1, 2}
				}
			}
		}, `tensor "fc.bias": 2 values`},
		{"dims", func(m *onnx.ModelProto) {
			for _, tp := range m.Graph.Initializer {
				if tp.GetName() == "fc.weight" {
					tp.Dims = []int64{1 << 40, 1 << 40}
				}
			}
		}, `"fc.weight"`},
		{"nesting", nested(2000), "nested more than 64 deep"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			m := proto.Clone(base.Proto).(*onnx.ModelProto)
			c.change(m)
			b, err := proto.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			bad := filepath.Join(dir, "bad.onnx")
			if err := os.WriteFile(bad, b, 0o644); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "out.onnx")
			for _, args := range [][]string{
				{"inspect", bad},
				{"train", bad, "--data", filepath.Join(fixture.Root(t), "train", "testdata", "train28.npz"), "--out", out},
			} {
				_, stderr, status := onnxtune(args...)
				if status != 1 || !strings.Contains(stderr, c.want) || strings.Count(stderr, "\n") != 1 {
					t.Errorf("%s: status %d, stderr %q; want status 1 and one line containing %q", args[0], status, stderr, c.want)
				}
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("%s exists (%v)", out, err)
			}
		})
	}
}
