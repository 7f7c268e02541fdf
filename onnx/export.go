package onnx

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/tensor"

	"google.golang.org/protobuf/proto"
)

// Export writes g over base, the model g was imported from and then edited, and returns the
// result as a new Model; base is left as it was. Whatever g leaves unchanged keeps base's
// form: the model's own fields (IR version, producer, doc strings, metadata_props, functions),
// each unchanged node's NodeProto, each unchanged attribute, input, output and value_info
// entry, and each unchanged initializer's TensorProto with its external data. What g adds is
// added and what it drops is removed, in g's order:
//
//   - a node is matched to base's by name, or by its first output when unnamed; a changed one
//     keeps its name, doc string and the attributes whose values it keeps;
//   - a changed initializer is rewritten in the form it was stored in (raw_data, a typed field
//     or external data), except that one whose shape changed moves from external data inline;
//   - inputs, outputs and value_info follow g.Inputs, g.Outputs and g.ValueInfo (the last only
//     for values g's nodes compute); models of IR version 3 and earlier list every
//     initializer among the inputs too, as the format requires;
//   - opset_import follows g.Opsets.
func Export(base *Model, g *graph.Graph) (*Model, error) {
	m := &Model{Proto: proto.Clone(base.Proto).(*ModelProto), external: map[*TensorProto][]byte{}}
	// Clone keeps the structure, so the tensors of both models come in the same order.
	var src []*TensorProto
	forEachTensor(base.Proto, func(t *TensorProto) { src = append(src, t) })
	i := 0
	forEachTensor(m.Proto, func(t *TensorProto) {
		if data, ok := base.external[src[i]]; ok {
			m.external[t] = data
		}
		i++
	})
	if m.Proto.Graph == nil {
		m.Proto.Graph = &GraphProto{}
	}
	e := exporter{m: m}
	if err := e.graph(m.Proto.Graph, g, m.Proto.GetIrVersion() < 4); err != nil {
		return nil, fmt.Errorf("onnx: export: %w", err)
	}
	setOpsets(m.Proto, g.Opsets)
	reachable := map[*TensorProto]bool{}
	forEachTensor(m.Proto, func(t *TensorProto) { reachable[t] = true })
	for t := range m.external {
		if !reachable[t] {
			delete(m.external, t)
		}
	}
	return m, nil
}

// exporter writes graphs into m, a copy of the base model that holds its external data.
type exporter struct{ m *Model }

// graph rewrites gp, in place, to hold g; listInits lists the initializers among the inputs.
func (e exporter) graph(gp *GraphProto, g *graph.Graph, listInits bool) error {
	if gp.GetName() != g.Name {
		gp.Name = proto.String(g.Name)
	}
	baseInits := map[string]bool{}
	for _, t := range gp.GetInitializer() {
		baseInits[t.GetName()] = true
	}
	reshaped, err := e.initializers(gp, g)
	if err != nil {
		return err
	}
	if err := e.nodes(gp, g); err != nil {
		return err
	}
	gp.Input = inputs(gp, g, baseInits, reshaped, listInits)
	gp.Output = valueInfos(gp.GetOutput(), g.Outputs)
	computed := map[string]bool{}
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			computed[o] = true
		}
	}
	var declared []graph.ValueInfo
	for _, v := range g.ValueInfo {
		if computed[v.Name] {
			declared = append(declared, v)
		}
	}
	gp.ValueInfo = valueInfos(gp.GetValueInfo(), declared)
	return nil
}

// initializers writes g's initializers over gp's and returns the names of those whose dtype
// or shape changed.
func (e exporter) initializers(gp *GraphProto, g *graph.Graph) (map[string]bool, error) {
	old := make(map[string]*TensorProto, len(gp.GetInitializer()))
	for _, t := range gp.GetInitializer() {
		old[t.GetName()] = t
	}
	names := slices.Clone(g.InitializerNames)
	var extra []string
	for name := range g.Initializers {
		if !slices.Contains(names, name) {
			extra = append(extra, name)
		}
	}
	sort.Strings(extra)
	names = append(names, extra...)
	reshaped := map[string]bool{}
	out := make([]*TensorProto, 0, len(names))
	for _, name := range names {
		v := g.Initializers[name]
		if v == nil {
			return nil, fmt.Errorf("initializer %q is listed but has no value", name)
		}
		if old[name] != nil && !sameType(old[name], v) {
			reshaped[name] = true
		}
		t, err := e.store(old[name], name, v)
		if err != nil {
			return nil, fmt.Errorf("initializer %q: %w", name, unprefix(err))
		}
		out = append(out, t)
	}
	gp.Initializer = out
	return reshaped, nil
}

// store returns t holding v: t itself when its values are v's, rewritten in its own form when
// only the values changed, and a new inline TensorProto (keeping the doc string) when an
// external tensor changes shape. t nil makes a new one.
func (e exporter) store(t *TensorProto, name string, v *tensor.Tensor) (*TensorProto, error) {
	switch {
	case t == nil:
		return TensorToProto(name, v), nil
	case sameType(t, v):
		if same, err := e.sameValues(t, v); err != nil || same {
			return t, err
		}
		return t, e.m.SetTensor(t, v)
	case t.GetDataLocation() == TensorProto_EXTERNAL:
		// A tensor of another size cannot take the old one's place in the external file.
		nt := TensorToProto(name, v)
		nt.DocString = t.DocString
		return nt, nil
	}
	typed := len(t.RawData) == 0 && hasTypedData(t)
	nt := TensorToProto(name, v)
	t.Dims, t.DataType, t.RawData = nt.Dims, nt.DataType, nt.RawData
	clearTyped(t)
	if typed {
		t.RawData = nil
		setTyped(t, v)
	}
	return t, nil
}

// sameType reports whether t has v's dtype and shape.
func sameType(t *TensorProto, v *tensor.Tensor) bool {
	dt, err := DType(t.GetDataType())
	return err == nil && dt == v.DType() && slices.Equal(t.GetDims(), dims(v))
}

// sameValues reports whether t holds v's values bit for bit (t of v's dtype and shape).
func (e exporter) sameValues(t *TensorProto, v *tensor.Tensor) (bool, error) {
	var raw []byte
	switch {
	case t.GetDataLocation() == TensorProto_EXTERNAL:
		data, ok := e.m.external[t]
		if !ok {
			return false, fmt.Errorf("its external data was never loaded")
		}
		raw = data
	case len(t.RawData) > 0 || !hasTypedData(t):
		raw = t.RawData
	default:
		var err error
		if raw, err = typedToRaw(t); err != nil {
			return false, err
		}
	}
	return bytes.Equal(raw, encodeRaw(v)), nil
}

func dims(v *tensor.Tensor) []int64 {
	d := make([]int64, v.Rank())
	for i, s := range v.Shape() {
		d[i] = int64(s)
	}
	return d
}

// nodes writes g's nodes over gp's.
func (e exporter) nodes(gp *GraphProto, g *graph.Graph) error {
	byName := map[string]*NodeProto{}
	byOutput := map[string]*NodeProto{}
	for _, np := range gp.GetNode() {
		if name := np.GetName(); name != "" && byName[name] == nil {
			byName[name] = np
		}
		if o := firstOutput(np.GetOutput()); o != "" {
			byOutput[o] = np
		}
	}
	taken := map[*NodeProto]bool{}
	out := make([]*NodeProto, 0, len(g.Nodes))
	for _, n := range g.Nodes {
		np := byName[n.Name]
		if n.Name == "" || np == nil || taken[np] {
			np = byOutput[firstOutput(n.Outputs)]
			if np != nil && (np.GetName() != n.Name || taken[np]) {
				np = nil
			}
		}
		if np == nil {
			np = &NodeProto{}
			if n.Name != "" {
				np.Name = proto.String(n.Name)
			}
		}
		taken[np] = true
		if err := e.node(np, n); err != nil {
			return fmt.Errorf("%s: %w", n, err)
		}
		out = append(out, np)
	}
	gp.Node = out
	return nil
}

func firstOutput(outs []string) string {
	for _, o := range outs {
		if o != "" {
			return o
		}
	}
	return ""
}

// node rewrites np, in place, to hold n, keeping whatever n did not change.
func (e exporter) node(np *NodeProto, n *graph.Node) error {
	if np.GetOpType() != n.OpType {
		np.OpType = proto.String(n.OpType)
	}
	if normDomain(np.GetDomain()) != n.Domain {
		np.Domain = nil
		if n.Domain != "" {
			np.Domain = proto.String(n.Domain)
		}
	}
	if !slices.Equal(np.Input, n.Inputs) {
		np.Input = slices.Clone(n.Inputs)
	}
	if !slices.Equal(np.Output, n.Outputs) {
		np.Output = slices.Clone(n.Outputs)
	}
	attrs := make([]*AttributeProto, 0, len(n.Attrs))
	had := map[string]bool{}
	for _, ap := range np.Attribute {
		a, ok := n.Attrs[ap.GetName()]
		if !ok || had[ap.GetName()] {
			continue
		}
		had[ap.GetName()] = true
		kept, err := e.attr(ap, ap.GetName(), a)
		if err != nil {
			return err
		}
		attrs = append(attrs, kept)
	}
	names := make([]string, 0, len(n.Attrs))
	for name := range n.Attrs {
		if !had[name] {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		ap, err := e.attr(nil, name, n.Attrs[name])
		if err != nil {
			return err
		}
		attrs = append(attrs, ap)
	}
	np.Attribute = attrs
	return nil
}

// attr returns the AttributeProto for a: ap itself when it holds a's value (a subgraph is
// written over ap's), else a new one that keeps ap's doc string.
func (e exporter) attr(ap *AttributeProto, name string, a graph.Attr) (*AttributeProto, error) {
	if ap != nil && a.Type == graph.AttrGraph && ap.GetType() == AttributeProto_GRAPH && ap.G != nil {
		if err := e.graph(ap.G, a.Graph, false); err != nil {
			return nil, fmt.Errorf("attribute %q: %w", name, err)
		}
		return ap, nil
	}
	if ap != nil {
		same, err := e.sameAttr(ap, a)
		if err != nil || same {
			return ap, err
		}
	}
	out, err := e.attrProto(name, a)
	if err != nil {
		return nil, err
	}
	if ap != nil {
		out.DocString = ap.DocString
	}
	return out, nil
}

// sameAttr reports whether ap holds a's value, bit for bit.
func (e exporter) sameAttr(ap *AttributeProto, a graph.Attr) (bool, error) {
	bits := func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) }
	switch t := ap.GetType(); a.Type {
	case graph.AttrFloat:
		return t == AttributeProto_FLOAT && bits(ap.GetF(), a.Float), nil
	case graph.AttrInt:
		return t == AttributeProto_INT && ap.GetI() == a.Int, nil
	case graph.AttrString:
		return t == AttributeProto_STRING && string(ap.GetS()) == a.String, nil
	case graph.AttrFloats:
		return t == AttributeProto_FLOATS && slices.EqualFunc(ap.GetFloats(), a.Floats, bits), nil
	case graph.AttrInts:
		return t == AttributeProto_INTS && slices.Equal(ap.GetInts(), a.Ints), nil
	case graph.AttrStrings:
		return t == AttributeProto_STRINGS && slices.EqualFunc(ap.GetStrings(), a.Strings, func(x []byte, y string) bool { return string(x) == y }), nil
	case graph.AttrTensor:
		if t != AttributeProto_TENSOR || ap.GetT() == nil || a.Tensor == nil || !sameType(ap.GetT(), a.Tensor) {
			return false, nil
		}
		return e.sameValues(ap.GetT(), a.Tensor)
	}
	return false, nil
}

// attrProto converts a graph.Attr, the reverse of Import's attribute conversion.
func (e exporter) attrProto(name string, a graph.Attr) (*AttributeProto, error) {
	ap := &AttributeProto{Name: proto.String(name)}
	typ := func(t AttributeProto_AttributeType) { ap.Type = t.Enum() }
	switch a.Type {
	case graph.AttrFloat:
		typ(AttributeProto_FLOAT)
		ap.F = proto.Float32(a.Float)
	case graph.AttrInt:
		typ(AttributeProto_INT)
		ap.I = proto.Int64(a.Int)
	case graph.AttrString:
		typ(AttributeProto_STRING)
		ap.S = []byte(a.String)
	case graph.AttrFloats:
		typ(AttributeProto_FLOATS)
		ap.Floats = slices.Clone(a.Floats)
	case graph.AttrInts:
		typ(AttributeProto_INTS)
		ap.Ints = slices.Clone(a.Ints)
	case graph.AttrStrings:
		typ(AttributeProto_STRINGS)
		for _, s := range a.Strings {
			ap.Strings = append(ap.Strings, []byte(s))
		}
	case graph.AttrTensor:
		if a.Tensor == nil {
			return nil, fmt.Errorf("attribute %q: tensor attribute without a tensor", name)
		}
		typ(AttributeProto_TENSOR)
		ap.T = TensorToProto("", a.Tensor)
		ap.T.Name = nil
	case graph.AttrGraph:
		if a.Graph == nil {
			return nil, fmt.Errorf("attribute %q: graph attribute without a graph", name)
		}
		typ(AttributeProto_GRAPH)
		ap.G = &GraphProto{}
		if err := e.graph(ap.G, a.Graph, false); err != nil {
			return nil, fmt.Errorf("attribute %q: %w", name, err)
		}
	default:
		return nil, fmt.Errorf("attribute %q: undefined attribute type", name)
	}
	return ap, nil
}

// inputs lists g's inputs, each in the place of the fed input of gp it replaces (the i-th
// fed input of g takes the i-th one of gp), among the initializers gp lists that g keeps,
// whose types follow their values when reshaped. listInits adds g's other initializers.
func inputs(gp *GraphProto, g *graph.Graph, baseInits, reshaped map[string]bool, listInits bool) []*ValueInfoProto {
	byName := map[string]*ValueInfoProto{}
	for _, vi := range gp.GetInput() {
		byName[vi.GetName()] = vi
	}
	var out []*ValueInfoProto
	listed := map[string]bool{}
	initInput := func(vi *ValueInfoProto, name string) *ValueInfoProto {
		listed[name] = true
		v := g.Initializers[name]
		if vi != nil && !reshaped[name] {
			return vi
		}
		shape := make([]graph.Dim, v.Rank())
		for i, d := range v.Shape() {
			shape[i] = graph.Dim{Size: d}
		}
		return valueInfoProto(vi, graph.ValueInfo{Name: name, DType: v.DType(), Shape: shape})
	}
	next := 0
	for _, vi := range gp.GetInput() {
		name := vi.GetName()
		switch {
		case baseInits[name]:
			if g.Initializers[name] != nil && !listed[name] {
				out = append(out, initInput(vi, name))
			}
		case next < len(g.Inputs):
			out = append(out, valueInfoProto(byName[g.Inputs[next].Name], g.Inputs[next]))
			next++
		}
	}
	for _, v := range g.Inputs[next:] {
		out = append(out, valueInfoProto(byName[v.Name], v))
	}
	if listInits {
		for _, t := range gp.GetInitializer() {
			if !listed[t.GetName()] {
				out = append(out, initInput(nil, t.GetName()))
			}
		}
	}
	return out
}

// valueInfos lists vs, each as its entry in old when that declares it as it is.
func valueInfos(old []*ValueInfoProto, vs []graph.ValueInfo) []*ValueInfoProto {
	byName := make(map[string]*ValueInfoProto, len(old))
	for _, vi := range old {
		byName[vi.GetName()] = vi
	}
	out := make([]*ValueInfoProto, 0, len(vs))
	for _, v := range vs {
		out = append(out, valueInfoProto(byName[v.Name], v))
	}
	return out
}

// valueInfoProto returns old if it declares v as it is, else a ValueInfoProto for v that keeps
// old's doc string.
func valueInfoProto(old *ValueInfoProto, v graph.ValueInfo) *ValueInfoProto {
	if old != nil && sameValueInfo(declared(old), v) {
		return old
	}
	out := &ValueInfoProto{Name: proto.String(v.Name)}
	if old != nil {
		out.DocString = old.DocString
	}
	if v.DType == tensor.Undefined && v.Shape == nil {
		return out
	}
	elem := int32(ElemType(v.DType))
	tt := &TypeProto_Tensor{ElemType: &elem}
	if v.Shape != nil {
		tt.Shape = &TensorShapeProto{Dim: make([]*TensorShapeProto_Dimension, len(v.Shape))}
		for i, d := range v.Shape {
			dim := &TensorShapeProto_Dimension{}
			switch {
			case d.Size >= 0:
				dim.Value = &TensorShapeProto_Dimension_DimValue{DimValue: int64(d.Size)}
			case d.Param != "":
				dim.Value = &TensorShapeProto_Dimension_DimParam{DimParam: d.Param}
			}
			tt.Shape.Dim[i] = dim
		}
	}
	out.Type = &TypeProto{Value: &TypeProto_TensorType{TensorType: tt}}
	return out
}

func sameValueInfo(a, b graph.ValueInfo) bool {
	return a.Name == b.Name && a.DType == b.DType && (a.Shape == nil) == (b.Shape == nil) && slices.Equal(a.Shape, b.Shape)
}

// setOpsets makes mp's opset_import list opsets, keeping its entries (and their order) for
// the domains and versions it already had.
func setOpsets(mp *ModelProto, opsets map[string]int) {
	if len(mp.OpsetImport) == 0 && len(opsets) == 1 && opsets[""] == 1 && mp.GetIrVersion() < 3 {
		return // Import's stand-in for a model from before opset_import
	}
	out := make([]*OperatorSetIdProto, 0, len(opsets))
	seen := map[string]bool{}
	for _, o := range mp.OpsetImport {
		d := normDomain(o.GetDomain())
		v, ok := opsets[d]
		if !ok || seen[d] {
			continue
		}
		seen[d] = true
		if o.GetVersion() != int64(v) {
			o.Version = proto.Int64(int64(v))
		}
		out = append(out, o)
	}
	domains := make([]string, 0, len(opsets))
	for d := range opsets {
		if !seen[d] {
			domains = append(domains, d)
		}
	}
	sort.Strings(domains)
	for _, d := range domains {
		o := &OperatorSetIdProto{Version: proto.Int64(int64(opsets[d]))}
		if d != "" {
			o.Domain = proto.String(d)
		}
		out = append(out, o)
	}
	mp.OpsetImport = out
}
