package graph

import (
	"fmt"
	"slices"

	"github.com/onnxtune/onnxtune/tensor"
)

// Namer hands out names that no value or node of a graph uses, nor any name it handed out
// before, so that several fresh names can be taken before the values they name are added.
type Namer struct{ used map[string]bool }

// Namer returns a Namer for g's names: values (inputs, outputs, initializers, node outputs,
// value_info), node names, and those of subgraphs, which may see g's values.
func (g *Graph) Namer() *Namer {
	n := &Namer{used: map[string]bool{}}
	n.addGraph(g)
	return n
}

func (n *Namer) addGraph(g *Graph) {
	for _, v := range slices.Concat(g.Inputs, g.Outputs, g.ValueInfo) {
		n.used[v.Name] = true
	}
	for name := range g.Initializers {
		n.used[name] = true
	}
	for _, node := range g.Nodes {
		n.used[node.Name] = true
		for _, o := range node.Outputs {
			n.used[o] = true
		}
		for _, a := range node.Attrs {
			if a.Graph != nil {
				n.addGraph(a.Graph)
			}
		}
	}
}

// Fresh returns base if it is free, else base_1, base_2, ..., the first that is; either way
// the name is taken from then on.
func (n *Namer) Fresh(base string) string {
	name := base
	for i := 1; name == "" || n.used[name]; i++ {
		name = fmt.Sprintf("%s_%d", base, i)
	}
	n.used[name] = true
	return name
}

// defined returns the values g's nodes can read: graph inputs, initializers and node outputs.
func (g *Graph) defined() map[string]bool {
	known := map[string]bool{}
	for _, v := range g.Inputs {
		known[v.Name] = true
	}
	for name := range g.Initializers {
		known[name] = true
	}
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			if o != "" {
				known[o] = true
			}
		}
	}
	return known
}

// checkNew checks that nodes, run in order with the values in known, read only values
// defined before them and define only new ones; it adds their outputs to known.
func checkNew(nodes []*Node, known map[string]bool) error {
	for _, n := range nodes {
		for _, in := range n.Inputs {
			if in != "" && !known[in] {
				return fmt.Errorf("graph: %s: input %q is not defined before it", n, in)
			}
		}
		for _, o := range n.Outputs {
			if o == "" {
				continue
			}
			if known[o] {
				return fmt.Errorf("graph: %s: output %q is already defined", n, o)
			}
			known[o] = true
		}
	}
	return nil
}

// AddInitializer adds a constant tensor named name, which must be new.
func (g *Graph) AddInitializer(name string, t *tensor.Tensor) error {
	if g.defined()[name] {
		return fmt.Errorf("graph: initializer %q: the name is already defined", name)
	}
	if g.Initializers == nil {
		g.Initializers = map[string]*tensor.Tensor{}
	}
	g.Initializers[name] = t
	g.InitializerNames = append(g.InitializerNames, name)
	return nil
}

// AddOutput appends nodes after every node of g and makes out, a value they (or g already)
// compute, a new graph output: a decision or calibrated score computed from the logits, say.
// The nodes may read any value of g and each other's outputs in order; their outputs must be
// new names (see Namer). g is unchanged when AddOutput fails.
func (g *Graph) AddOutput(out ValueInfo, nodes ...*Node) error {
	known := g.defined()
	if err := checkNew(nodes, known); err != nil {
		return err
	}
	if !known[out.Name] {
		return fmt.Errorf("graph: new output %q is computed by no node", out.Name)
	}
	for _, o := range g.Outputs {
		if o.Name == out.Name {
			return fmt.Errorf("graph: %q is already a graph output", out.Name)
		}
	}
	g.Nodes = append(g.Nodes, nodes...)
	g.Outputs = append(g.Outputs, out)
	return nil
}

// PrependInput replaces the graph input named old by in, a new input of any type and shape,
// and puts nodes before every node of g to compute old from it: preprocessing such as a Cast
// of uint8 pixels and a scaling. The nodes may read in, initializers and each other's outputs
// in order; one of them must output old, and the others new names (see Namer). in takes old's
// place among the inputs. g is unchanged when PrependInput fails.
func (g *Graph) PrependInput(old string, in ValueInfo, nodes ...*Node) error {
	at := slices.IndexFunc(g.Inputs, func(v ValueInfo) bool { return v.Name == old })
	if at < 0 {
		return fmt.Errorf("graph: %q is not a graph input", old)
	}
	defined := g.defined()
	if in.Name == old || defined[in.Name] {
		return fmt.Errorf("graph: new input %q: the name is already defined", in.Name)
	}
	known := map[string]bool{in.Name: true}
	for name := range g.Initializers {
		known[name] = true
	}
	for _, n := range nodes {
		for _, o := range n.Outputs {
			if o != "" && o != old && defined[o] {
				return fmt.Errorf("graph: %s: output %q is already defined", n, o)
			}
		}
	}
	if err := checkNew(nodes, known); err != nil {
		return err
	}
	if !known[old] {
		return fmt.Errorf("graph: no new node computes %q, the input it replaces", old)
	}
	g.Inputs = slices.Clone(g.Inputs) // a copy of g may share the slice
	g.Inputs[at] = in
	g.Nodes = append(slices.Clone(nodes), g.Nodes...)
	return nil
}
