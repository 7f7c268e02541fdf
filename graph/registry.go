package graph

import (
	"fmt"
	"sort"
	"strings"
	"sync"
)

// OpDef is one definition of an operator: the version Since which it applies, up to the next
// definition of the same operator.
type OpDef struct {
	Domain string // "" for the default domain
	Type   string
	Since  int
	Build  BuildFunc
}

var (
	registryMu sync.RWMutex
	registry   = map[string][]OpDef{} // key: domain + "." + type; sorted by Since
)

func registryKey(domain, opType string) string { return domain + "." + opType }

// Register adds a definition. Each op family's file calls it from init(). It panics on a
// duplicate (domain, type, since): two files claiming the same definition is a programming
// error caught at start-up.
func Register(def OpDef) {
	registryMu.Lock()
	defer registryMu.Unlock()
	k := registryKey(def.Domain, def.Type)
	defs := registry[k]
	for _, d := range defs {
		if d.Since == def.Since {
			panic(fmt.Sprintf("graph: %s since %d registered twice", def.Type, def.Since))
		}
	}
	defs = append(defs, def)
	sort.Slice(defs, func(i, j int) bool { return defs[i].Since < defs[j].Since })
	registry[k] = defs
}

// Lookup returns the newest definition of (domain, opType) whose Since is at or below opset.
func Lookup(domain, opType string, opset int) (OpDef, bool) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	defs := registry[registryKey(domain, opType)]
	for i := len(defs) - 1; i >= 0; i-- {
		if defs[i].Since <= opset {
			return defs[i], true
		}
	}
	return OpDef{}, false
}

// UnsupportedOpError lists the nodes of a graph whose operator has no definition at the
// graph's opset.
type UnsupportedOpError struct {
	Nodes []*Node
	Opset map[string]int
}

func (e *UnsupportedOpError) Error() string {
	parts := make([]string, len(e.Nodes))
	for i, n := range e.Nodes {
		parts[i] = fmt.Sprintf("%s at opset %d", n, e.Opset[n.Domain])
	}
	return "graph: unsupported operators: " + strings.Join(parts, ", ")
}

// Unsupported returns the nodes of g (subgraphs included) whose operator the registry cannot
// run at g's opsets, in graph order.
func Unsupported(g *Graph) []*Node {
	var out []*Node
	for _, n := range g.Nodes {
		opset, imported := g.Opsets[n.Domain]
		if _, ok := Lookup(n.Domain, n.OpType, opset); !ok || !imported {
			out = append(out, n)
		}
		for _, a := range n.Attrs {
			if a.Graph != nil {
				out = append(out, Unsupported(a.Graph)...)
			}
		}
	}
	return out
}

// Registered returns every registered definition, sorted by domain, type and version.
func Registered() []OpDef {
	registryMu.RLock()
	defer registryMu.RUnlock()
	var out []OpDef
	for _, defs := range registry {
		out = append(out, defs...)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Domain != b.Domain {
			return a.Domain < b.Domain
		}
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		return a.Since < b.Since
	})
	return out
}
