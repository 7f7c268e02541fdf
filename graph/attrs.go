package graph

import "fmt"

// Attrs reads a node's attributes with defaults, remembering the first problem (an attribute
// of the wrong kind) so that a kernel's builder checks for errors once, at the end:
//
//	a := n.Attrs()
//	axis := a.Int("axis", 1)
//	if err := a.Err(); err != nil { ... }
type Attrs struct {
	n   *Node
	err error
}

// AttrReader returns a reader over n's attributes.
func (n *Node) AttrReader() *Attrs { return &Attrs{n: n} }

// Has reports whether the attribute is present.
func (a *Attrs) Has(name string) bool { _, ok := a.n.Attrs[name]; return ok }

// Err returns the first error met, naming the node and attribute.
func (a *Attrs) Err() error { return a.err }

func (a *Attrs) get(name string, want AttrType) (Attr, bool) {
	v, ok := a.n.Attrs[name]
	if !ok {
		return v, false
	}
	if v.Type != want {
		if a.err == nil {
			a.err = fmt.Errorf("%s: attribute %q has the wrong type", a.n, name)
		}
		return v, false
	}
	return v, true
}

// Int returns an INT attribute, or def.
func (a *Attrs) Int(name string, def int64) int64 {
	if v, ok := a.get(name, AttrInt); ok {
		return v.Int
	}
	return def
}

// Float returns a FLOAT attribute, or def.
func (a *Attrs) Float(name string, def float32) float32 {
	if v, ok := a.get(name, AttrFloat); ok {
		return v.Float
	}
	return def
}

// String returns a STRING attribute, or def.
func (a *Attrs) String(name, def string) string {
	if v, ok := a.get(name, AttrString); ok {
		return v.String
	}
	return def
}

// Ints returns an INTS attribute, or def.
func (a *Attrs) Ints(name string, def []int64) []int64 {
	if v, ok := a.get(name, AttrInts); ok {
		return v.Ints
	}
	return def
}

// Floats returns a FLOATS attribute, or def.
func (a *Attrs) Floats(name string, def []float32) []float32 {
	if v, ok := a.get(name, AttrFloats); ok {
		return v.Floats
	}
	return def
}

// Attr returns the raw attribute, for the kinds above do not cover (tensors, graphs).
func (a *Attrs) Attr(name string) (Attr, bool) {
	v, ok := a.n.Attrs[name]
	return v, ok
}

// Fail records err (with the node named) unless an error is already recorded, for builders
// that validate attribute values.
func (a *Attrs) Fail(format string, args ...any) {
	if a.err == nil {
		a.err = fmt.Errorf("%s: %s", a.n, fmt.Sprintf(format, args...))
	}
}
