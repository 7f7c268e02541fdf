package graph_test

import (
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/onnx"
	"github.com/onnxtune/onnxtune/tensor"
)

// The ONNX backend conformance suite that Debian's libonnx-testdata installs: each test is a
// model.onnx with test_data_set_*/input_*.pb and output_*.pb.
const conformanceRoot = "/usr/include/onnx/backend/test/data"

var conformanceSuites = []string{"node", "pytorch-converted", "pytorch-operator"}

var updateConformance = flag.Bool("update-conformance", false,
	"rewrite testdata/conformance/expected_pass.txt with every conformance test that passes")

// engineOps are the operators the engine promises to run. A conformance
// test whose operators all belong here is in scope: it must pass, or be excluded with a reason.
var engineOps = setOf(`Conv ConvTranspose MaxPool AveragePool GlobalAveragePool GlobalMaxPool LRN
Gemm MatMul BatchNormalization Dropout Relu LeakyRelu PRelu Elu Selu Sigmoid HardSigmoid HardSwish
Tanh Softplus Erf Clip Softmax LogSoftmax Add Sub Mul Div Pow Sqrt Exp Log Neg Abs Max Min Sum Mean
Flatten Reshape Transpose Concat Split Slice Pad Squeeze Unsqueeze Expand Shape Gather Cast
Constant ConstantOfShape Range Where Equal Less LessOrEqual Greater GreaterOrEqual Not Tile Identity
ReduceMean ReduceSum ReduceMax ReduceMin ReduceProd ReduceL1 ReduceL2 ReduceLogSum ReduceLogSumExp
ReduceSumSquare Resize ScatterElements LayerNormalization
InstanceNormalization SoftmaxCrossEntropyLoss NegativeLogLikelihoodLoss`)

func setOf(s string) map[string]bool {
	m := map[string]bool{}
	for _, f := range strings.Fields(s) {
		m[f] = true
	}
	return m
}

// TestConformance runs the suite. Tests listed in expected_pass.txt must pass; an in-scope
// test must be either listed there or in one of the excluded*.txt files with its reason.
func TestConformance(t *testing.T) {
	if _, err := os.Stat(conformanceRoot); err != nil {
		t.Fatalf("the ONNX conformance suite is missing (%v): install it with scripts/setup.sh (apt-get install libonnx-testdata)", err)
	}
	expected := readList(t, "expected_pass.txt")
	excluded := map[string]string{}
	files, _ := filepath.Glob(filepath.Join("testdata", "conformance", "excluded*.txt"))
	for _, f := range files {
		for k, v := range readList(t, filepath.Base(f)) {
			excluded[k] = v
		}
	}
	var names []string
	for _, suite := range conformanceSuites {
		entries, err := os.ReadDir(filepath.Join(conformanceRoot, suite))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.IsDir() {
				names = append(names, suite+"/"+e.Name())
			}
		}
	}
	var passed []string
	inScope, passedInScope := 0, 0
	only := os.Getenv("CONFORMANCE_ONLY") // a substring, to run a few tests while working on an op
	for _, name := range names {
		if only != "" && !strings.Contains(name, only) {
			continue
		}
		scoped, err := runConformance(filepath.Join(conformanceRoot, name))
		if scoped {
			inScope++
		}
		if err == nil {
			passed = append(passed, name)
			if scoped {
				passedInScope++
			}
		}
		_, isExpected := expected[name]
		_, isExcluded := excluded[name]
		switch {
		case *updateConformance || only != "":
			if err != nil && only != "" {
				t.Logf("%s: %v", name, err)
			}
		case isExpected && err != nil:
			t.Errorf("%s: %v", name, err)
		case scoped && !isExpected && !isExcluded:
			t.Errorf("%s: in scope but neither in expected_pass.txt nor excluded.txt (result: %v)", name, errOrPass(err))
		}
		if isExpected && isExcluded {
			t.Errorf("%s: both expected to pass and excluded", name)
		}
	}
	t.Logf("conformance: %d passed, %d of %d in scope passed, %d tests in all", len(passed), passedInScope, inScope, len(names))
	if *updateConformance && only == "" {
		body := "# Conformance tests the engine passes; regenerate with\n# go test ./graph -run TestConformance -update-conformance\n" + strings.Join(passed, "\n") + "\n"
		if err := os.WriteFile(filepath.Join("testdata", "conformance", "expected_pass.txt"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func errOrPass(err error) string {
	if err == nil {
		return "passes"
	}
	return err.Error()
}

// readList reads "name" or "name: reason" lines, skipping comments.
func readList(t *testing.T, file string) map[string]string {
	b, err := os.ReadFile(filepath.Join("testdata", "conformance", file))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, reason, _ := strings.Cut(line, ":")
		out[strings.TrimSpace(name)] = strings.TrimSpace(reason)
	}
	return out
}

// runConformance runs one test directory; it reports whether the test is in scope and why it
// failed, if it did.
func runConformance(dir string) (inScope bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	m, err := onnx.Load(filepath.Join(dir, "model.onnx"))
	if err != nil {
		return false, err
	}
	inScope = true
	for _, n := range m.Proto.GetGraph().GetNode() {
		if (n.GetDomain() != "" && n.GetDomain() != "ai.onnx") || !engineOps[n.GetOpType()] {
			inScope = false
		}
	}
	g, err := onnx.Import(m)
	if err != nil {
		return inScope, err
	}
	plan, err := graph.NewPlan(g)
	if err != nil {
		return inScope, err
	}
	sets, _ := filepath.Glob(filepath.Join(dir, "test_data_set_*"))
	if len(sets) == 0 {
		return inScope, fmt.Errorf("no test data sets")
	}
	for _, set := range sets {
		inputs, err := readTensors(filepath.Join(set, "input_*.pb"))
		if err != nil {
			return inScope, err
		}
		feeds := map[string]*tensor.Tensor{}
		for i, in := range inputs {
			if i >= len(g.Inputs) {
				return inScope, fmt.Errorf("%d inputs given, the model has %d", len(inputs), len(g.Inputs))
			}
			feeds[g.Inputs[i].Name] = in.value
		}
		got, err := plan.Run(nil, feeds)
		if err != nil {
			return inScope, err
		}
		wants, err := readTensors(filepath.Join(set, "output_*.pb"))
		if err != nil {
			return inScope, err
		}
		for i, want := range wants {
			name := g.Outputs[i].Name
			if err := allClose(got[name], want.value, 1e-3, 1e-7); err != nil {
				return inScope, fmt.Errorf("%s: output %q: %v", filepath.Base(set), name, err)
			}
		}
	}
	return inScope, nil
}

type namedTensor struct {
	name  string
	value *tensor.Tensor
}

// readTensors reads input_0.pb, input_1.pb, ... in numeric order.
func readTensors(pattern string) ([]namedTensor, error) {
	files, _ := filepath.Glob(pattern)
	sort.Slice(files, func(i, j int) bool {
		if len(files[i]) != len(files[j]) {
			return len(files[i]) < len(files[j])
		}
		return files[i] < files[j]
	})
	var out []namedTensor
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		tp := new(onnx.TensorProto)
		if err := proto.Unmarshal(b, tp); err != nil {
			return nil, fmt.Errorf("%s: %v", filepath.Base(f), err)
		}
		v, err := onnx.TensorFromProto(tp)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", filepath.Base(f), err)
		}
		out = append(out, namedTensor{tp.GetName(), v})
	}
	return out, nil
}

// allClose is numpy.testing.assert_allclose as the ONNX backend runner calls it:
// |got - want| <= atol + rtol*|want| elementwise, NaN equal to NaN, exact for non-floats.
func allClose(got, want *tensor.Tensor, rtol, atol float64) error {
	if got == nil {
		return fmt.Errorf("not produced")
	}
	if !tensor.EqualShapes(got.Shape(), want.Shape()) {
		return fmt.Errorf("got shape %v, want %v", got.Shape(), want.Shape())
	}
	if got.DType() != want.DType() {
		return fmt.Errorf("got dtype %v, want %v", got.DType(), want.DType())
	}
	for i := 0; i < got.Len(); i++ {
		g, w := got.Float64At(i), want.Float64At(i)
		if math.IsNaN(w) && math.IsNaN(g) || g == w {
			continue
		}
		if !want.DType().IsFloat() || math.IsNaN(g) || math.IsNaN(w) || math.Abs(g-w) > atol+rtol*math.Abs(w) {
			return fmt.Errorf("element %d: got %v, want %v", i, g, w)
		}
	}
	return nil
}
