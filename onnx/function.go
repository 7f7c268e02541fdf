package onnx

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// Model-local functions (ModelProto.functions, IR version 8 on) are inlined at import: each
// node that calls one is replaced by the function's nodes, its formal inputs and outputs bound
// to the call's values, its other values renamed under the call's name, and its attribute
// references bound to the call's attributes or to the function's defaults. The engine, the
// VJPs and inspect then see plain nodes; the functions stay in the file, and an export writes
// their bodies where the calls were.
//
// The fields added after onnx 1.12's onnx.proto, from which onnx.pb.go is generated, are read
// from the messages' unknown fields: FunctionProto's attribute_proto (11, IR version 9: the
// defaults of its attributes) and overload (13, IR version 10), and NodeProto's overload (8).
const (
	functionAttributeProtoField = 11
	functionOverloadField       = 13
	nodeOverloadField           = 8
)

// inlineDepth bounds how deep functions may call functions (a cycle would never end).
const inlineDepth = 32

// functionKey identifies a function, or the function a node calls: domain, name, overload.
func functionKey(domain, name, overload string) string {
	return normDomain(domain) + "\x00" + name + "\x00" + overload
}

// modelFunctions returns m's functions by key; an error names a function defined twice.
func modelFunctions(m *Model) (map[string]*FunctionProto, error) {
	fns := map[string]*FunctionProto{}
	for _, f := range m.Proto.GetFunctions() {
		over, err := unknownString(f, functionOverloadField)
		if err != nil {
			return nil, fmt.Errorf("function %q: %w", f.GetName(), err)
		}
		k := functionKey(f.GetDomain(), f.GetName(), over)
		if fns[k] != nil {
			return nil, fmt.Errorf("function %s.%s is defined twice", f.GetDomain(), f.GetName())
		}
		fns[k] = f
	}
	return fns, nil
}

// inlineFunctions returns nodes with every call of one of fns replaced by the function's body,
// recursively; nodes is returned as it is when it calls none.
func inlineFunctions(nodes []*NodeProto, fns map[string]*FunctionProto, depth int) ([]*NodeProto, error) {
	if len(fns) == 0 {
		return nodes, nil
	}
	var out []*NodeProto
	for i, np := range nodes {
		over, err := unknownString(np, nodeOverloadField)
		if err != nil {
			return nil, fmt.Errorf("node %q: %w", np.GetName(), err)
		}
		f := fns[functionKey(np.GetDomain(), np.GetOpType(), over)]
		if f == nil {
			if out != nil {
				out = append(out, np)
			}
			continue
		}
		if out == nil {
			out = append([]*NodeProto(nil), nodes[:i]...)
		}
		if depth >= inlineDepth {
			return nil, fmt.Errorf("node %q: functions call each other more than %d deep (a cycle?)", np.GetName(), inlineDepth)
		}
		body, err := inlineCall(np, f, i)
		if err != nil {
			return nil, fmt.Errorf("node %q (function %s.%s): %w", np.GetName(), f.GetDomain(), f.GetName(), err)
		}
		if body, err = inlineFunctions(body, fns, depth+1); err != nil {
			return nil, err
		}
		out = append(out, body...)
	}
	if out == nil {
		return nodes, nil
	}
	return out, nil
}

// inlineCall returns the nodes of f bound to the call np, the index-th node of its graph.
func inlineCall(np *NodeProto, f *FunctionProto, index int) ([]*NodeProto, error) {
	if len(np.GetInput()) > len(f.GetInput()) || len(np.GetOutput()) > len(f.GetOutput()) {
		return nil, fmt.Errorf("the call has %d inputs and %d outputs, the function %d and %d",
			len(np.GetInput()), len(np.GetOutput()), len(f.GetInput()), len(f.GetOutput()))
	}
	// The call's own values keep their names; the function's others get the call's prefix.
	prefix := np.GetName()
	if prefix == "" {
		prefix = fmt.Sprintf("%s_%d", f.GetName(), index)
	}
	bound := map[string]string{}
	for i, formal := range f.GetInput() {
		bound[formal] = ""
		if i < len(np.GetInput()) {
			bound[formal] = np.GetInput()[i]
		}
	}
	for i, formal := range f.GetOutput() {
		if i < len(np.GetOutput()) && np.GetOutput()[i] != "" {
			bound[formal] = np.GetOutput()[i]
		}
	}
	rename := func(v string) string {
		if v == "" {
			return ""
		}
		if b, ok := bound[v]; ok {
			return b
		}
		return prefix + "/" + v
	}
	// Attribute values: the call's, else the function's defaults.
	values := map[string]*AttributeProto{}
	defaults, err := unknownAttributes(f, functionAttributeProtoField)
	if err != nil {
		return nil, err
	}
	for _, ap := range defaults {
		values[ap.GetName()] = ap
	}
	for _, ap := range np.GetAttribute() {
		values[ap.GetName()] = ap
	}
	body := make([]*NodeProto, 0, len(f.GetNode()))
	for j, inner := range f.GetNode() {
		n := &NodeProto{
			OpType:    inner.OpType,
			Domain:    inner.Domain,
			DocString: inner.DocString,
		}
		name := inner.GetName()
		if name == "" {
			name = fmt.Sprintf("%s_%d", inner.GetOpType(), j)
		}
		n.Name = proto.String(prefix + "/" + name)
		for _, v := range inner.GetInput() {
			n.Input = append(n.Input, rename(v))
		}
		for _, v := range inner.GetOutput() {
			n.Output = append(n.Output, rename(v))
		}
		if over, err := unknownString(inner, nodeOverloadField); err != nil || over != "" {
			if err != nil {
				return nil, err
			}
			// Keep the overload, so that the recursion finds the function it names.
			n.ProtoReflect().SetUnknown(protowire.AppendString(protowire.AppendTag(nil, nodeOverloadField, protowire.BytesType), over))
		}
		for _, ap := range inner.GetAttribute() {
			if ap.GetType() == AttributeProto_GRAPH || ap.GetType() == AttributeProto_GRAPHS {
				return nil, fmt.Errorf("node %q of the function has a subgraph attribute %q, which inlining does not support", inner.GetName(), ap.GetName())
			}
			ref := ap.GetRefAttrName()
			if ref == "" {
				n.Attribute = append(n.Attribute, ap)
				continue
			}
			v, ok := values[ref]
			if !ok {
				continue // neither given nor defaulted: the attribute is absent
			}
			bind := proto.Clone(v).(*AttributeProto)
			bind.Name = proto.String(ap.GetName())
			bind.RefAttrName = nil
			n.Attribute = append(n.Attribute, bind)
		}
		body = append(body, n)
	}
	return body, nil
}

// unknownString returns the string field number field of m's unknown fields ("" when absent).
func unknownString(m proto.Message, field protowire.Number) (string, error) {
	var s string
	err := eachUnknown(m, field, func(b []byte) error { s = string(b); return nil })
	return s, err
}

// unknownAttributes decodes the repeated AttributeProto field number field of m's unknown
// fields.
func unknownAttributes(m proto.Message, field protowire.Number) ([]*AttributeProto, error) {
	var out []*AttributeProto
	err := eachUnknown(m, field, func(b []byte) error {
		ap := &AttributeProto{}
		if err := proto.Unmarshal(b, ap); err != nil {
			return fmt.Errorf("attribute default: %w", err)
		}
		out = append(out, ap)
		return nil
	})
	return out, err
}

// eachUnknown calls f with the bytes of every length-delimited occurrence of field in m's
// unknown fields.
func eachUnknown(m proto.Message, field protowire.Number, f func([]byte) error) error {
	b := m.ProtoReflect().GetUnknown()
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("malformed unknown field: %w", protowire.ParseError(n))
		}
		b = b[n:]
		if num == field && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return fmt.Errorf("malformed field %d: %w", field, protowire.ParseError(n))
			}
			if err := f(v); err != nil {
				return err
			}
			b = b[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return fmt.Errorf("malformed field %d: %w", num, protowire.ParseError(n))
		}
		b = b[n:]
	}
	return nil
}
