package main

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/onnxtune/onnxtune/backprop"
	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/onnx"
	"github.com/onnxtune/onnxtune/tensor"
)

func init() {
	register(command{"inspect", "describe a model: opsets, inputs, outputs, parameters, ops, support", runInspect})
}

// modelSummary is what `onnxtune inspect` reports; its JSON form is the --json output.
type modelSummary struct {
	File            string         `json:"file"`
	IRVersion       int64          `json:"ir_version"`
	ProducerName    string         `json:"producer_name"`
	ProducerVersion string         `json:"producer_version"`
	Domain          string         `json:"domain,omitempty"`
	ModelVersion    int64          `json:"model_version,omitempty"`
	Opsets          []opsetInfo    `json:"opsets"`
	Inputs          []valueSummary `json:"inputs"`
	Outputs         []valueSummary `json:"outputs"`
	// Parameters counts the elements of the trainable initializers (what fine-tuning updates).
	Parameters          int64          `json:"parameters"`
	ParameterBytes      int64          `json:"parameter_bytes"`
	Initializers        int            `json:"initializers"`
	InitializerElements int64          `json:"initializer_elements"`
	InitializerBytes    int64          `json:"initializer_bytes"`
	Nodes               int            `json:"nodes"`
	Ops                 map[string]int `json:"ops"`
	Trainable           []valueSummary `json:"trainable"`
	Unsupported         []unsupported  `json:"unsupported"`
}

type opsetInfo struct {
	Domain  string `json:"domain"`
	Version int64  `json:"version"`
}

type valueSummary struct {
	Name  string `json:"name"`
	DType string `json:"dtype"`
	Shape []any  `json:"shape"` // int for a fixed size, string for a symbolic one, nil if unknown
}

type unsupported struct {
	Node   string `json:"node"`
	Op     string `json:"op"`
	Domain string `json:"domain,omitempty"`
	Opset  int    `json:"opset"`
}

func runInspect(args []string, stdout io.Writer) error {
	fs := newFlags("inspect", "MODEL.onnx [--json]", stdout)
	asJSON := fs.Bool("json", false, "print the summary as one JSON object")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := exactArgs(pos, 1, "MODEL.onnx"); err != nil {
		return err
	}
	m, err := onnx.Load(pos[0])
	if err != nil {
		return err
	}
	s, err := summarize(pos[0], m)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, s)
	}
	printSummary(stdout, s)
	return nil
}

func summarize(path string, m *onnx.Model) (*modelSummary, error) {
	g, err := onnx.Import(m)
	if err != nil {
		return nil, err
	}
	mp := m.Proto
	s := &modelSummary{
		File:            path,
		IRVersion:       mp.GetIrVersion(),
		ProducerName:    mp.GetProducerName(),
		ProducerVersion: mp.GetProducerVersion(),
		Domain:          mp.GetDomain(),
		ModelVersion:    mp.GetModelVersion(),
		Nodes:           len(g.Nodes),
		Ops:             map[string]int{},
		Inputs:          valueSummaries(g.Inputs),
		Outputs:         valueSummaries(g.Outputs),
		Trainable:       []valueSummary{},
		Unsupported:     []unsupported{},
	}
	for _, o := range mp.GetOpsetImport() {
		s.Opsets = append(s.Opsets, opsetInfo{o.GetDomain(), o.GetVersion()})
	}
	for _, n := range g.Nodes {
		s.Ops[n.OpType]++
	}
	for _, name := range g.InitializerNames {
		t := g.Initializers[name]
		s.Initializers++
		s.InitializerElements += int64(t.Len())
		s.InitializerBytes += int64(t.Len() * t.DType().Size())
	}
	for _, name := range backprop.Trainable(g) {
		t := g.Initializers[name]
		s.Parameters += int64(t.Len())
		s.ParameterBytes += int64(t.Len() * t.DType().Size())
		s.Trainable = append(s.Trainable, valueSummary{Name: name, DType: t.DType().String(), Shape: intsAny(t.Shape())})
	}
	for _, n := range graph.Unsupported(g) {
		s.Unsupported = append(s.Unsupported, unsupported{Node: n.Name, Op: n.OpType, Domain: n.Domain, Opset: g.Opsets[n.Domain]})
	}
	if len(s.Unsupported) == 0 {
		// Every op is known: building the plan checks each node's arity and attributes, so
		// that "the engine can run every node" is true when inspect says it.
		if _, err := graph.NewPlan(g); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func valueSummaries(vs []graph.ValueInfo) []valueSummary {
	out := []valueSummary{}
	for _, v := range vs {
		vsum := valueSummary{Name: v.Name, DType: v.DType.String()}
		if v.DType == tensor.Undefined {
			vsum.DType = "?"
		}
		if v.Shape != nil {
			vsum.Shape = make([]any, len(v.Shape))
			for i, d := range v.Shape {
				switch {
				case d.Size >= 0:
					vsum.Shape[i] = d.Size
				case d.Param != "":
					vsum.Shape[i] = d.Param
				}
			}
		}
		out = append(out, vsum)
	}
	return out
}

func intsAny(s []int) []any {
	out := make([]any, len(s))
	for i, d := range s {
		out[i] = d
	}
	return out
}

func printSummary(w io.Writer, s *modelSummary) {
	fmt.Fprintf(w, "model         %s\n", s.File)
	fmt.Fprintf(w, "ir version    %d\n", s.IRVersion)
	fmt.Fprintf(w, "producer      %s\n", strings.TrimSpace(s.ProducerName+" "+s.ProducerVersion))
	var opsets []string
	for _, o := range s.Opsets {
		d := o.Domain
		if d == "" {
			d = "ai.onnx"
		}
		opsets = append(opsets, fmt.Sprintf("%s %d", d, o.Version))
	}
	fmt.Fprintf(w, "opsets        %s\n", strings.Join(opsets, ", "))
	for i, v := range s.Inputs {
		fmt.Fprintf(w, "%-14s%s %s %s\n", label(i, "inputs"), v.Name, v.DType, shapeText(v.Shape))
	}
	for i, v := range s.Outputs {
		fmt.Fprintf(w, "%-14s%s %s %s\n", label(i, "outputs"), v.Name, v.DType, shapeText(v.Shape))
	}
	fmt.Fprintf(w, "parameters    %s trainable (%s) in %d initializers\n", thousands(s.Parameters), byteSize(s.ParameterBytes), len(s.Trainable))
	fmt.Fprintf(w, "initializers  %d holding %s elements (%s)\n", s.Initializers, thousands(s.InitializerElements), byteSize(s.InitializerBytes))
	ops := make([]string, 0, len(s.Ops))
	for op := range s.Ops {
		ops = append(ops, op)
	}
	sort.Slice(ops, func(i, j int) bool {
		if s.Ops[ops[i]] != s.Ops[ops[j]] {
			return s.Ops[ops[i]] > s.Ops[ops[j]]
		}
		return ops[i] < ops[j]
	})
	hist := make([]string, len(ops))
	for i, op := range ops {
		hist[i] = fmt.Sprintf("%s %d", op, s.Ops[op])
	}
	fmt.Fprintf(w, "ops           %d nodes: %s\n", s.Nodes, strings.Join(hist, ", "))
	for i, t := range s.Trainable {
		fmt.Fprintf(w, "%-14s%s %s %s\n", label(i, "trainable"), t.Name, t.DType, shapeText(t.Shape))
	}
	if len(s.Unsupported) == 0 {
		fmt.Fprintf(w, "unsupported   none: the engine can run every node\n")
	}
	// Group by operator: a model missing one op has it at dozens of nodes.
	var order []string
	byOp := map[string][]string{}
	for _, u := range s.Unsupported {
		op := u.Op
		if u.Domain != "" {
			op = u.Domain + "." + op
		}
		op = fmt.Sprintf("%s (opset %d)", op, u.Opset)
		if _, seen := byOp[op]; !seen {
			order = append(order, op)
		}
		byOp[op] = append(byOp[op], fmt.Sprintf("%q", u.Node))
	}
	for i, op := range order {
		nodes := byOp[op]
		more := ""
		if len(nodes) > 3 {
			nodes, more = nodes[:3], ", ..."
		}
		fmt.Fprintf(w, "%-14s%s at %d node(s): %s%s\n", label(i, "unsupported"), op, len(byOp[op]), strings.Join(nodes, ", "), more)
	}
}

func label(i int, name string) string {
	if i == 0 {
		return name
	}
	return ""
}

func shapeText(shape []any) string {
	if shape == nil {
		return "[?]"
	}
	parts := make([]string, len(shape))
	for i, d := range shape {
		if d == nil {
			parts[i] = "?"
		} else {
			parts[i] = fmt.Sprint(d)
		}
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func thousands(n int64) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
