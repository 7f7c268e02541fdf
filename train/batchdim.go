package train

import (
	"fmt"
	"slices"

	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/onnx"
	"github.com/onnxtune/onnxtune/tensor"
)

// fixedBatch describes a model whose one input fixes its batch dimension (its first) at a
// number: what torch.onnx.export writes without dynamic_axes. Most such graphs compute the
// same for any batch, and relaxBatch makes the dimension symbolic for training and
// evaluation (ImportForData); ExportModel gives the written model its declared size back.
type fixedBatch struct {
	input  string
	size   int
	output []string // the outputs whose first dimension the file fixes at size too
	// bakedIn, when not empty, says why the graph cannot take another batch size (a node
	// that bakes size in); the graph is then left as it is.
	bakedIn string
}

// relaxBatch finds out whether g's batch dimension is fixed and, if the graph does not
// depend on its size, makes it symbolic in g (input and outputs) and returns what it did;
// when the graph does depend on it, fixedBatch.bakedIn says which node. It returns nil for a
// model whose batch dimension is symbolic already, or that has no single input of fully
// known shape. It runs the graph once on zeros at a batch size of 1 or 2 (and, when that
// fails, once at the declared size to find the culprit).
func relaxBatch(g *graph.Graph) *fixedBatch {
	size := fixedBatchSize(g)
	if size == 0 {
		return nil
	}
	in := g.Inputs[0]
	for _, d := range in.Shape[1:] {
		if d.Size < 0 {
			return nil
		}
	}
	f := &fixedBatch{input: in.Name, size: size}
	for _, o := range g.Outputs {
		if len(o.Shape) > 0 && o.Shape[0].Size == f.size {
			f.output = append(f.output, o.Name)
		}
	}
	relaxed := *g
	relaxed.Inputs = slices.Clone(g.Inputs)
	relaxed.Outputs = slices.Clone(g.Outputs)
	dim := graph.Dim{Size: -1, Param: batchParam(g)}
	relaxed.Inputs[0].Shape = slices.Clone(in.Shape)
	relaxed.Inputs[0].Shape[0] = dim
	for i, o := range relaxed.Outputs {
		if slices.Contains(f.output, o.Name) {
			relaxed.Outputs[i].Shape = slices.Clone(o.Shape)
			relaxed.Outputs[i].Shape[0] = dim
		}
	}
	probe := 1
	if f.size == 1 {
		probe = 2
	}
	if f.bakedIn = followsBatch(&relaxed, probe); f.bakedIn != "" {
		if culprit := bakedReshape(g, f.size); culprit != "" {
			f.bakedIn = culprit
		}
		return f
	}
	g.Inputs, g.Outputs = relaxed.Inputs, relaxed.Outputs
	return f
}

// fixedBatchSize is the batch size g's one input fixes, 0 when it fixes none (or g has
// several inputs). After ImportForData, a fixed size is one the graph bakes in.
func fixedBatchSize(g *graph.Graph) int {
	if len(g.Inputs) != 1 {
		return 0
	}
	in := g.Inputs[0]
	if len(in.Shape) < 2 || in.Shape[0].Size < 1 || in.DType == tensor.Undefined {
		return 0
	}
	return in.Shape[0].Size
}

// batchParam is a name for the batch dimension that no other dimension of g uses.
func batchParam(g *graph.Graph) string {
	used := map[string]bool{}
	for _, vs := range [][]graph.ValueInfo{g.Inputs, g.Outputs} {
		for _, v := range vs {
			for _, d := range v.Shape {
				used[d.Param] = true
			}
		}
	}
	name := "batch"
	for i := 2; used[name]; i++ {
		name = fmt.Sprintf("batch%d", i)
	}
	return name
}

// zeros is a batch of n all-zero examples for g's one input.
func zeros(g *graph.Graph, n int) map[string]*tensor.Tensor {
	in := g.Inputs[0]
	shape := []int{n}
	for _, d := range in.Shape[1:] {
		shape = append(shape, d.Size)
	}
	return map[string]*tensor.Tensor{in.Name: tensor.New(in.DType, shape...)}
}

// followsBatch runs g on n examples and returns "" if every output's first dimension is n;
// otherwise what went wrong, naming the node or output.
func followsBatch(g *graph.Graph, n int) string {
	plan, err := graph.NewPlan(g)
	if err != nil {
		return err.Error()
	}
	outs, err := plan.Run(nil, zeros(g, n))
	if err != nil {
		return err.Error()
	}
	for _, o := range g.Outputs {
		if t := outs[o.Name]; t != nil && (t.Rank() == 0 || t.Shape()[0] != n) {
			return fmt.Sprintf("output %q is %v for a batch of %d", o.Name, t, n)
		}
	}
	return ""
}

// bakedReshape looks for the node that bakes the batch size in, the way PyTorch's exporter
// does it without dynamic_axes: a Reshape of a value computed from the input to a shape
// computed from constants alone (x.view(x.size(0), -1) traced at a fixed size) that starts
// with size. It runs g at its declared size to read those shapes; "" when there is none.
func bakedReshape(g *graph.Graph, size int) string {
	fromInput := map[string]bool{g.Inputs[0].Name: true}
	var candidates []*graph.Node
	for _, n := range g.Nodes {
		dependent := false
		for _, in := range n.Inputs {
			dependent = dependent || fromInput[in]
		}
		if n.OpType == "Reshape" && len(n.Inputs) > 1 && fromInput[n.Inputs[0]] && !fromInput[n.Inputs[1]] {
			candidates = append(candidates, n)
		}
		if dependent {
			for _, out := range n.Outputs {
				fromInput[out] = true
			}
		}
	}
	if len(candidates) == 0 {
		return ""
	}
	probe := *g
	probe.Outputs = nil
	for _, n := range candidates {
		probe.Outputs = append(probe.Outputs, graph.ValueInfo{Name: n.Inputs[1]})
	}
	plan, err := graph.NewPlan(&probe)
	if err != nil {
		return ""
	}
	outs, err := plan.Run(nil, zeros(g, size))
	if err != nil {
		return ""
	}
	for _, n := range candidates {
		shape := outs[n.Inputs[1]]
		if shape == nil || shape.Len() == 0 || !shape.DType().IsInteger() {
			continue
		}
		if s := shape.ToInt64s(); s[0] == int64(size) {
			return fmt.Sprintf("%s reshapes to the constant shape %v", n, s)
		}
	}
	return ""
}

// CheckBatch says, before any work, whether batches of batchSize over data sets of the
// given sizes can be fed to g, imported by ImportForData: where g bakes its batch size in,
// only batches of exactly that size can, and the error names the node that bakes it in and
// the export option that frees the batch dimension. what names the model for the message.
func CheckBatch(g *graph.Graph, what string, batchSize int, examples ...int) error {
	size := fixedBatchSize(g)
	if size == 0 {
		return nil
	}
	problem := ""
	if batchSize != size {
		problem = fmt.Sprintf("cannot take batches of %d", batchSize)
	}
	for _, n := range examples {
		if problem == "" && n%size != 0 {
			problem = fmt.Sprintf("cannot take the last batch of %d that %d examples leave", n%size, n)
		}
	}
	if problem == "" {
		return nil
	}
	probe := *g // relaxBatch must not change g; the failure it finds is the culprit
	probe.Inputs, probe.Outputs = slices.Clone(g.Inputs), slices.Clone(g.Outputs)
	f := relaxBatch(&probe)
	culprit := ""
	if f != nil && f.bakedIn != "" {
		culprit = ": " + f.bakedIn
	}
	outputs := ""
	for _, o := range g.Outputs {
		if len(o.Shape) > 0 && o.Shape[0].Size == size {
			outputs += fmt.Sprintf(", %q: {0: \"batch\"}", o.Name)
		}
	}
	return fmt.Errorf("%s fixes its batch size at %d and %s%s; use --batch-size %d on data "+
		"whose size is a multiple of %d, or export the model again with torch.onnx.export(..., dynamic_axes={%q: {0: \"batch\"}%s})",
		what, size, problem, culprit, size, size, g.Inputs[0].Name, outputs)
}

// restoreDeclaredBatch gives the inputs and outputs of the written model m the batch size
// base declares for them where m's is symbolic (relaxBatch made it so): the tuned model
// takes what the original took.
func restoreDeclaredBatch(base, m *onnx.Model) {
	declared := map[string]*onnx.TensorShapeProto_Dimension{}
	for _, vis := range [][]*onnx.ValueInfoProto{base.Proto.GetGraph().GetInput(), base.Proto.GetGraph().GetOutput()} {
		for _, vi := range vis {
			if dims := vi.GetType().GetTensorType().GetShape().GetDim(); len(dims) > 1 && dims[0].GetDimValue() > 0 {
				declared[vi.GetName()] = dims[0]
			}
		}
	}
	for _, vis := range [][]*onnx.ValueInfoProto{m.Proto.GetGraph().GetInput(), m.Proto.GetGraph().GetOutput()} {
		for _, vi := range vis {
			dims := vi.GetType().GetTensorType().GetShape().GetDim()
			if d := declared[vi.GetName()]; d != nil && len(dims) > 0 && dims[0].GetDimValue() <= 0 {
				dims[0].Value = &onnx.TensorShapeProto_Dimension_DimValue{DimValue: d.GetDimValue()}
			}
		}
	}
}
