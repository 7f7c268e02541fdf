package onnx

import (
	"errors"
	"fmt"
	"slices"

	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/tensor"
)

// Import converts a loaded model into a graph.Graph: initializers decoded into tensors,
// attributes into graph.Attr, inputs, outputs and value_info with their types, and the calls
// of model-local functions replaced by the functions' nodes (function.go). It checks that
// every node input names a value that exists before the node (ONNX requires topological
// order).
func Import(m *Model) (*graph.Graph, error) {
	opsets := map[string]int{}
	for _, o := range m.Proto.GetOpsetImport() {
		opsets[normDomain(o.GetDomain())] = int(o.GetVersion())
	}
	if _, ok := opsets[""]; !ok && m.Proto.GetIrVersion() < 3 {
		opsets[""] = 1 // IR version 1 and 2 models predate opset_import
	}
	g, err := importGraph(m, m.Proto.GetGraph(), opsets, nil)
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	return g, nil
}

func normDomain(d string) string {
	if d == "ai.onnx" {
		return ""
	}
	return d
}

func importGraph(m *Model, gp *GraphProto, opsets map[string]int, outer map[string]bool) (*graph.Graph, error) {
	g := &graph.Graph{
		Name:         gp.GetName(),
		Initializers: map[string]*tensor.Tensor{},
		Opsets:       opsets,
	}
	known := map[string]bool{}
	for k := range outer {
		known[k] = true
	}
	for _, tp := range gp.GetInitializer() {
		t, err := m.Tensor(tp)
		if err != nil {
			return nil, fmt.Errorf("initializer %q: %w", tp.GetName(), unprefix(err))
		}
		if _, dup := g.Initializers[tp.GetName()]; dup {
			return nil, fmt.Errorf("initializer %q is defined twice", tp.GetName())
		}
		g.Initializers[tp.GetName()] = t
		g.InitializerNames = append(g.InitializerNames, tp.GetName())
		known[tp.GetName()] = true
	}
	for _, vi := range gp.GetInput() {
		known[vi.GetName()] = true
		if _, isInit := g.Initializers[vi.GetName()]; isInit {
			continue // IR < 4 lists initializers among the inputs; they are not fed by callers
		}
		v, err := valueInfo(vi)
		if err != nil {
			return nil, fmt.Errorf("graph input %q: %w", vi.GetName(), err)
		}
		g.Inputs = append(g.Inputs, v)
	}
	fns, err := modelFunctions(m)
	if err != nil {
		return nil, err
	}
	nodes, err := inlineFunctions(gp.GetNode(), fns, 0)
	if err != nil {
		return nil, err
	}
	for _, np := range nodes {
		n := &graph.Node{
			Name:    np.GetName(),
			OpType:  np.GetOpType(),
			Domain:  normDomain(np.GetDomain()),
			Inputs:  slices.Clone(np.GetInput()), // an edit of the graph must not reach the proto
			Outputs: slices.Clone(np.GetOutput()),
			Attrs:   map[string]graph.Attr{},
		}
		for _, ap := range np.GetAttribute() {
			a, err := attr(m, ap, opsets, known)
			if err != nil {
				return nil, fmt.Errorf("%s: attribute %q: %w", n, ap.GetName(), err)
			}
			n.Attrs[ap.GetName()] = a
		}
		for _, in := range n.Inputs {
			if in != "" && !known[in] {
				return nil, fmt.Errorf("%s: input %q is not a graph input, an initializer or the output of an earlier node", n, in)
			}
		}
		for _, out := range n.Outputs {
			if out == "" {
				continue
			}
			if known[out] && !outer[out] {
				return nil, fmt.Errorf("%s: output %q is already defined", n, out)
			}
			known[out] = true
		}
		g.Nodes = append(g.Nodes, n)
	}
	outputs := map[string]bool{}
	for _, vi := range gp.GetOutput() {
		if outputs[vi.GetName()] {
			return nil, fmt.Errorf("graph output %q is listed twice", vi.GetName())
		}
		outputs[vi.GetName()] = true
		if !known[vi.GetName()] {
			return nil, fmt.Errorf("graph output %q is produced by no node", vi.GetName())
		}
		v, err := valueInfo(vi)
		if err != nil {
			return nil, fmt.Errorf("graph output %q: %w", vi.GetName(), err)
		}
		g.Outputs = append(g.Outputs, v)
	}
	for _, vi := range gp.GetValueInfo() {
		g.ValueInfo = append(g.ValueInfo, declared(vi))
	}
	return g, nil
}

// declared reads a value_info entry, which only documents a value: one whose type onnxtune
// cannot represent is kept by name, with an undefined type.
func declared(vi *ValueInfoProto) graph.ValueInfo {
	v, err := valueInfo(vi)
	if err != nil {
		return graph.ValueInfo{Name: vi.GetName()}
	}
	return v
}

func valueInfo(vi *ValueInfoProto) (graph.ValueInfo, error) {
	v := graph.ValueInfo{Name: vi.GetName()}
	tt := vi.GetType().GetTensorType()
	if tt == nil {
		if vi.GetType() == nil {
			return v, nil // type left out: allowed for outputs of some exporters
		}
		return v, fmt.Errorf("only tensor values are supported, not %T", vi.GetType().GetValue())
	}
	dt, err := DType(tt.GetElemType())
	if err != nil {
		return v, unprefix(err)
	}
	v.DType = dt
	if tt.GetShape() != nil {
		v.Shape = make([]graph.Dim, len(tt.GetShape().GetDim()))
		for i, d := range tt.GetShape().GetDim() {
			v.Shape[i] = graph.Dim{Size: -1, Param: d.GetDimParam()}
			if _, ok := d.GetValue().(*TensorShapeProto_Dimension_DimValue); ok {
				v.Shape[i].Size = int(d.GetDimValue())
			}
		}
	}
	return v, nil
}

func attr(m *Model, ap *AttributeProto, opsets map[string]int, scope map[string]bool) (graph.Attr, error) {
	var a graph.Attr
	switch ap.GetType() {
	case AttributeProto_FLOAT:
		a.Type, a.Float = graph.AttrFloat, ap.GetF()
	case AttributeProto_INT:
		a.Type, a.Int = graph.AttrInt, ap.GetI()
	case AttributeProto_STRING:
		a.Type, a.String = graph.AttrString, string(ap.GetS())
	case AttributeProto_FLOATS:
		a.Type, a.Floats = graph.AttrFloats, slices.Clone(ap.GetFloats())
	case AttributeProto_INTS:
		a.Type, a.Ints = graph.AttrInts, slices.Clone(ap.GetInts())
	case AttributeProto_STRINGS:
		a.Type = graph.AttrStrings
		for _, s := range ap.GetStrings() {
			a.Strings = append(a.Strings, string(s))
		}
	case AttributeProto_TENSOR:
		if ap.GetT() == nil {
			return a, errors.New("of type TENSOR, it holds no tensor")
		}
		t, err := m.Tensor(ap.GetT())
		if err != nil {
			return a, unprefix(err)
		}
		a.Type, a.Tensor = graph.AttrTensor, t
	case AttributeProto_GRAPH:
		if ap.GetG() == nil {
			return a, errors.New("of type GRAPH, it holds no graph")
		}
		sub, err := importGraph(m, ap.GetG(), opsets, scope)
		if err != nil {
			return a, err
		}
		a.Type, a.Graph = graph.AttrGraph, sub
	default:
		return a, fmt.Errorf("attribute type %s is not supported", ap.GetType())
	}
	return a, nil
}
