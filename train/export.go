package train

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/onnx"
	"github.com/onnxtune/onnxtune/tensor"

	"google.golang.org/protobuf/proto"
)

// MetadataPrefix begins every metadata_props key onnxtune adds to the models it writes.
const MetadataPrefix = "onnxtune."

// metaFloat formats a number for the metadata: the fewest digits that read back as v.
func metaFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// ExportModel returns the model a tuning run writes: base, the model g was imported from,
// with g's weights and edits (a new head, say) and the inference rewrite of the evaluation
// plan (inferenceGraph: BatchNormalization nodes exported in training mode become inference
// nodes, Dropout loses its training_mode input), written by onnx.Export, which keeps
// everything g does not change (opsets, names, doc strings, the external data layout of
// unchanged initializers); and metadata, whose keys must start with MetadataPrefix: earlier
// keys with that prefix are dropped, the others kept. base is not modified.
func ExportModel(base *onnx.Model, g *graph.Graph, metadata map[string]string) (*onnx.Model, error) {
	keys := make([]string, 0, len(metadata))
	for k := range metadata {
		if !strings.HasPrefix(k, MetadataPrefix) {
			return nil, fmt.Errorf("train: export: metadata key %q does not start with %q", k, MetadataPrefix)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	ig, err := inferenceGraph(g)
	if err != nil {
		return nil, err
	}
	m, err := onnx.Export(base, ig)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	restoreDeclaredBatch(base, m)
	props := m.Proto.MetadataProps[:0]
	for _, p := range m.Proto.MetadataProps {
		if !strings.HasPrefix(p.GetKey(), MetadataPrefix) {
			props = append(props, p)
		}
	}
	for _, k := range keys {
		props = append(props, &onnx.StringStringEntryProto{Key: proto.String(k), Value: proto.String(metadata[k])})
	}
	m.Proto.MetadataProps = props
	return m, nil
}

// SampleInputs returns the first examples of ds, up to 8, fed to input: what a written model is
// checked on (VerifyExport).
func SampleInputs(ctx context.Context, ds data.Dataset, input string) (map[string]*tensor.Tensor, error) {
	for b, err := range data.NewLoader(ds, min(8, ds.Len()), false, 0, 1).Epoch(ctx, 0) {
		if err != nil {
			return nil, err
		}
		return map[string]*tensor.Tensor{input: b.X}, nil
	}
	return nil, errors.New("train: no example to check the exported model with")
}

// VerifyExport loads the model written to path, runs it on inputs and compares every output
// with want's on the same inputs (the in-memory model the file was written from): each must
// agree within tol, the norm of the difference over the norm of want's output.
func VerifyExport(path string, want *graph.Plan, inputs map[string]*tensor.Tensor, tol float64) error {
	m, err := onnx.Load(path)
	if err != nil {
		return fmt.Errorf("train: checking the exported model: %w", err)
	}
	g, err := onnx.Import(m)
	if err != nil {
		return fmt.Errorf("train: checking the exported model %s: %w", path, err)
	}
	plan, err := graph.NewPlan(g)
	if err != nil {
		return fmt.Errorf("train: checking the exported model %s: %w", path, err)
	}
	if inputs, err = fitDeclaredBatch(g, inputs); err != nil {
		return fmt.Errorf("train: checking the exported model %s: %w", path, err)
	}
	got, err := plan.Run(nil, inputs)
	if err != nil {
		return fmt.Errorf("train: checking the exported model %s: %w", path, err)
	}
	ref, err := want.Run(nil, inputs)
	if err != nil {
		return fmt.Errorf("train: checking the exported model: the in-memory model: %w", err)
	}
	for _, o := range want.Graph.Outputs {
		a, b := got[o.Name], ref[o.Name]
		if a == nil {
			return fmt.Errorf("train: checking the exported model %s: it has no output %q", path, o.Name)
		}
		if !tensor.EqualShapes(a.Shape(), b.Shape()) {
			return fmt.Errorf("train: checking the exported model %s: output %q is %v, the in-memory model's %v", path, o.Name, a, b)
		}
		if d := relDiff(a, b); !(d <= tol) {
			return fmt.Errorf("train: checking the exported model %s: output %q differs from the in-memory model's by %.3g relative (tolerance %g)", path, o.Name, d, tol)
		}
	}
	return nil
}

// fitDeclaredBatch gives each input the number of examples g declares, where it fixes its
// batch dimension (RestoreBatch wrote it so): the first examples, repeated if there are fewer.
func fitDeclaredBatch(g *graph.Graph, inputs map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
	out := maps.Clone(inputs)
	for _, vi := range g.Inputs {
		t := out[vi.Name]
		if t == nil || len(vi.Shape) == 0 || vi.Shape[0].Size < 1 || t.Rank() == 0 || t.Shape()[0] == vi.Shape[0].Size || t.Shape()[0] == 0 {
			continue
		}
		rows := make([]int64, vi.Shape[0].Size)
		for i := range rows {
			rows[i] = int64(i % t.Shape()[0])
		}
		fitted, err := tensor.GatherTensor(nil, t, 0, tensor.From([]int{len(rows)}, rows))
		if err != nil {
			return nil, err
		}
		out[vi.Name] = fitted
	}
	return out, nil
}

// relDiff is the norm of a-b over the norm of b (the norm of a-b when b is zero); NaN when
// either holds a NaN.
func relDiff(a, b *tensor.Tensor) float64 {
	var d, n float64
	for i := range b.Len() {
		x, y := a.Float64At(i), b.Float64At(i)
		d += (x - y) * (x - y)
		n += y * y
	}
	if n == 0 {
		return math.Sqrt(d)
	}
	return math.Sqrt(d / n)
}

// SaveBeside writes m to path with onnx.Save, first renaming m's external data files when
// path lies in the directory of base, the model file m was loaded from, and is not base
// itself: saving keeps each tensor's location, so the tuned weights would otherwise overwrite
// the data file base reads. The data then goes to "<name of path>.data" (one file), or
// "<name of path>.<old location>" (several).
func SaveBeside(m *onnx.Model, base, path string) error {
	sameDir, err := sameFileDir(base, path)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if sameDir {
		var refs []*onnx.StringStringEntryProto
		locations := map[string]bool{}
		visit := func(t *onnx.TensorProto) {
			if t == nil || t.GetDataLocation() != onnx.TensorProto_EXTERNAL {
				return
			}
			for _, e := range t.ExternalData {
				if e.GetKey() == "location" {
					refs = append(refs, e)
					locations[e.GetValue()] = true
				}
			}
		}
		gp := m.Proto.GetGraph()
		for _, t := range gp.GetInitializer() {
			visit(t)
		}
		for _, n := range gp.GetNode() {
			for _, a := range n.GetAttribute() {
				visit(a.GetT())
				for _, t := range a.GetTensors() {
					visit(t)
				}
			}
		}
		name := filepath.Base(path)
		for _, e := range refs {
			loc := name + ".data"
			if len(locations) > 1 {
				loc = name + "." + filepath.Base(e.GetValue())
			}
			e.Value = proto.String(loc)
		}
	}
	return onnx.Save(m, path)
}

// CheckOutput refuses to write the file what (the output, say) to path when path is model,
// the model it is made from.
func CheckOutput(model, what, path string) error {
	same, err := sameFile(model, path)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if same {
		return fmt.Errorf("train: the %s %s would overwrite the model it is made from; write it elsewhere", what, path)
	}
	return nil
}

// sameFile reports whether two paths name the same file (the same absolute path).
func sameFile(a, b string) (bool, error) {
	x, err := filepath.Abs(a)
	if err != nil {
		return false, err
	}
	y, err := filepath.Abs(b)
	if err != nil {
		return false, err
	}
	return x == y, nil
}

// sameFileDir reports whether path is another file in base's directory.
func sameFileDir(base, path string) (bool, error) {
	a, err := filepath.Abs(base)
	if err != nil {
		return false, err
	}
	b, err := filepath.Abs(path)
	if err != nil {
		return false, err
	}
	return a != b && filepath.Dir(a) == filepath.Dir(b), nil
}
