package onnx_test

import (
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/onnx"
)

// fnNode is a NodeProto of domain d.
func fnNode(d, op, name string, in, out []string, attrs ...*onnx.AttributeProto) *onnx.NodeProto {
	n := &onnx.NodeProto{OpType: proto.String(op), Input: in, Output: out, Attribute: attrs}
	if d != "" {
		n.Domain = proto.String(d)
	}
	if name != "" {
		n.Name = proto.String(name)
	}
	return n
}

func fnFloat(name string, v float32) *onnx.AttributeProto {
	return &onnx.AttributeProto{Name: proto.String(name), Type: onnx.AttributeProto_FLOAT.Enum(), F: proto.Float32(v)}
}

func fnRef(name, ref string) *onnx.AttributeProto {
	return &onnx.AttributeProto{Name: proto.String(name), RefAttrName: proto.String(ref), Type: onnx.AttributeProto_FLOAT.Enum()}
}

// fnModel is a model of the given nodes and functions, input x and output y.
func fnModel(nodes []*onnx.NodeProto, fns ...*onnx.FunctionProto) *onnx.Model {
	return &onnx.Model{Proto: &onnx.ModelProto{
		IrVersion: proto.Int64(10),
		OpsetImport: []*onnx.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(18)},
			{Domain: proto.String("local"), Version: proto.Int64(1)}},
		Graph: &onnx.GraphProto{Name: proto.String("g"), Node: nodes,
			Input:  []*onnx.ValueInfoProto{{Name: proto.String("x")}},
			Output: []*onnx.ValueInfoProto{{Name: proto.String("y")}}},
		Functions: fns,
	}}
}

// withUnknown appends a length-delimited field to m's unknown fields: the fields of IR
// versions 9 and 10 that onnx.pb.go does not declare.
func withUnknown[M proto.Message](m M, field protowire.Number, value []byte) M {
	r := m.ProtoReflect()
	r.SetUnknown(protowire.AppendBytes(protowire.AppendTag(r.GetUnknown(), field, protowire.BytesType), value))
	return m
}

func describe(nodes []*graph.Node) string {
	var b strings.Builder
	for _, n := range nodes {
		b.WriteString(n.Name + ":" + n.OpType + "(" + strings.Join(n.Inputs, ",") + ")->" + strings.Join(n.Outputs, ","))
		if a, ok := n.Attrs["alpha"]; ok {
			b.WriteString("[alpha=" + strconv.FormatFloat(float64(a.Float), 'g', 3, 32) + "]")
		}
		b.WriteString(" ")
	}
	return strings.TrimSpace(b.String())
}

// TestInlineFunctions: calls bound to their values and attributes; two calls of one function
// get distinct internal names; a reference the call leaves out takes the function's default
// (attribute_proto, IR 9), or is absent without one; overloads (IR 10) tell functions of one
// name apart; a function calls another.
func TestInlineFunctions(t *testing.T) {
	act := &onnx.FunctionProto{Name: proto.String("Act"), Domain: proto.String("local"),
		Input: []string{"X"}, Output: []string{"Y"}, Attribute: []string{},
		Node: []*onnx.NodeProto{
			fnNode("", "Neg", "", []string{"X"}, []string{"t"}),
			fnNode("", "LeakyRelu", "act", []string{"t"}, []string{"Y"}, fnRef("alpha", "slope")),
		}}
	def, _ := proto.Marshal(fnFloat("slope", 0.5))
	withUnknown(act, 11, def)
	// Act overloaded as "plain": an Identity, told apart from Act by its overload only.
	plain := withUnknown(&onnx.FunctionProto{Name: proto.String("Act"), Domain: proto.String("local"),
		Input: []string{"X"}, Output: []string{"Y"},
		Node: []*onnx.NodeProto{fnNode("", "Identity", "", []string{"X"}, []string{"Y"})}}, 13, []byte("plain"))
	twice := &onnx.FunctionProto{Name: proto.String("Twice"), Domain: proto.String("local"),
		Input: []string{"A"}, Output: []string{"B"}, Attribute: []string{"s"},
		Node: []*onnx.NodeProto{
			fnNode("local", "Act", "first", []string{"A"}, []string{"m"}, fnRef("slope", "s")),
			fnNode("local", "Act", "second", []string{"m"}, []string{"B"}),
		}}
	m := fnModel([]*onnx.NodeProto{
		fnNode("local", "Act", "c1", []string{"x"}, []string{"a"}, fnFloat("slope", 0.1)),
		fnNode("local", "Twice", "c2", []string{"a"}, []string{"b"}, fnFloat("s", 0.2)),
		withUnknown(fnNode("local", "Act", "c3", []string{"b"}, []string{"y"}), 8, []byte("plain")),
	}, act, plain, twice)
	g, err := onnx.Import(m)
	if err != nil {
		t.Fatal(err)
	}
	got := describe(g.Nodes)
	want := "c1/Neg_0:Neg(x)->c1/t c1/act:LeakyRelu(c1/t)->a[alpha=0.1] " +
		"c2/first/Neg_0:Neg(a)->c2/first/t c2/first/act:LeakyRelu(c2/first/t)->c2/m[alpha=0.2] " +
		"c2/second/Neg_0:Neg(c2/m)->c2/second/t c2/second/act:LeakyRelu(c2/second/t)->b[alpha=0.5] " +
		"c3/Identity_0:Identity(b)->y"
	if got != want {
		t.Errorf("inlined to\n  %s\nwant\n  %s", got, want)
	}
	if len(m.Proto.GetFunctions()) != 3 {
		t.Errorf("import changed the model's functions")
	}
}

// TestInlineFunctionErrors: a cycle of calls, a call with more inputs than the function, and
// a function defined twice fail with one line naming the culprit.
func TestInlineFunctionErrors(t *testing.T) {
	loop := &onnx.FunctionProto{Name: proto.String("Loop"), Domain: proto.String("local"), Input: []string{"X"}, Output: []string{"Y"},
		Node: []*onnx.NodeProto{fnNode("local", "Loop", "again", []string{"X"}, []string{"Y"})}}
	one := &onnx.FunctionProto{Name: proto.String("One"), Domain: proto.String("local"), Input: []string{"X"}, Output: []string{"Y"},
		Node: []*onnx.NodeProto{fnNode("", "Identity", "", []string{"X"}, []string{"Y"})}}
	for name, c := range map[string]struct {
		m    *onnx.Model
		want string
	}{
		"cycle":      {fnModel([]*onnx.NodeProto{fnNode("local", "Loop", "l", []string{"x"}, []string{"y"})}, loop), "more than 32 deep"},
		"arity":      {fnModel([]*onnx.NodeProto{fnNode("local", "One", "o", []string{"x", "x"}, []string{"y"})}, one), `node "o" (function local.One): the call has 2 inputs`},
		"duplicated": {fnModel([]*onnx.NodeProto{fnNode("local", "One", "o", []string{"x"}, []string{"y"})}, one, one), "function local.One is defined twice"},
	} {
		_, err := onnx.Import(c.m)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: got %v, want one line with %q", name, err, c.want)
		}
	}
}

// TestIR10FieldsKept: the fields of IR versions 9 and 10 that onnx.pb.go does not declare (a
// node's metadata_props, a function's value_info and metadata_props) survive a load, an
// import and an export untouched, and the IR version stays 10.
func TestIR10FieldsKept(t *testing.T) {
	entry := func(k, v string) []byte {
		b := protowire.AppendTag(nil, 1, protowire.BytesType)
		b = protowire.AppendString(b, k)
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		return protowire.AppendString(b, v)
	}
	relu := withUnknown(fnNode("", "Relu", "r", []string{"x"}, []string{"y"}), 9, entry("source", "layer1"))
	fn := withUnknown(&onnx.FunctionProto{Name: proto.String("Unused"), Domain: proto.String("local"),
		Input: []string{"X"}, Output: []string{"Y"},
		Node: []*onnx.NodeProto{fnNode("", "Identity", "", []string{"X"}, []string{"Y"})}}, 14, entry("origin", "test"))
	base := fnModel([]*onnx.NodeProto{relu}, fn)
	path := t.TempDir() + "/ir10.onnx"
	if err := onnx.Save(base, path); err != nil {
		t.Fatal(err)
	}
	loaded, err := onnx.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	g, err := onnx.Import(loaded)
	if err != nil {
		t.Fatal(err)
	}
	out, err := onnx.Export(loaded, g)
	if err != nil {
		t.Fatal(err)
	}
	if err := onnx.Save(out, path); err != nil {
		t.Fatal(err)
	}
	again, err := onnx.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if v := again.Proto.GetIrVersion(); v != 10 {
		t.Errorf("IR version %d after the round trip, want 10", v)
	}
	node := again.Proto.GetGraph().GetNode()[0]
	if got, want := node.ProtoReflect().GetUnknown(), relu.ProtoReflect().GetUnknown(); string(got) != string(want) {
		t.Errorf("the node's metadata_props became %x, want %x", got, want)
	}
	f := again.Proto.GetFunctions()[0]
	if got, want := f.ProtoReflect().GetUnknown(), fn.ProtoReflect().GetUnknown(); string(got) != string(want) {
		t.Errorf("the function's metadata_props became %x, want %x", got, want)
	}
}
