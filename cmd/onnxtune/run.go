package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/onnx"
	"github.com/onnxtune/onnxtune/tensor"
	"github.com/onnxtune/onnxtune/train"
)

func init() {
	register(command{"run", "run a model on .npy inputs and write its outputs", runRun})
}

// inputFlags collects repeated --input [NAME=]FILE.npy values.
type inputFlags []string

func (f *inputFlags) String() string     { return strings.Join(*f, ",") }
func (f *inputFlags) Set(v string) error { *f = append(*f, v); return nil }

func runRun(args []string, stdout io.Writer) error {
	fs := newFlags("run", "MODEL.onnx [--input [NAME=]FILE.npy ...] [--out FILE.npy|FILE.npz]", stdout)
	var inputs inputFlags
	fs.Var(&inputs, "input", "an input as `[NAME=]FILE.npy`; repeat for several inputs (NAME may be left out when the model has one input)")
	out := fs.String("out", "", "write the first output to `FILE.npy`, or every output to FILE.npz keyed by output name; without it, print a summary")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := exactArgs(pos, 1, "MODEL.onnx"); err != nil {
		return err
	}
	if *out != "" && !strings.HasSuffix(*out, ".npy") && !strings.HasSuffix(*out, ".npz") {
		return usagef("--out %s: want a .npy or .npz file name", *out)
	}
	plan, err := loadPlan(pos[0])
	if err != nil {
		return err
	}
	if err := plan.FreezeWeights(); err != nil {
		return err
	}
	if len(inputs) == 0 && len(plan.Graph.Inputs) > 0 { // a model of constants needs none
		return usagef("missing --input")
	}
	feeds, err := readInputs(plan.Graph, inputs)
	if err != nil {
		return err
	}
	results, err := plan.Run(nil, feeds)
	if err != nil {
		return err
	}
	names := make([]string, len(plan.Graph.Outputs))
	for i, o := range plan.Graph.Outputs {
		names[i] = o.Name
	}
	switch {
	case strings.HasSuffix(*out, ".npy"):
		return data.SaveNPY(*out, results[names[0]])
	case strings.HasSuffix(*out, ".npz"):
		return data.SaveNPZ(*out, names, results)
	}
	for _, name := range names {
		fmt.Fprintf(stdout, "%s %v\n", name, results[name])
	}
	return nil
}

// loadPlan loads a model and plans its graph, as the file has it: what run, grad and
// gradcheck feed their .npy inputs to.
func loadPlan(path string) (*graph.Plan, error) {
	m, err := onnx.Load(path)
	if err != nil {
		return nil, err
	}
	g, err := onnx.Import(m)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	plan, err := graph.NewPlan(g)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return plan, nil
}

// loadDataModel loads a model to feed onnxtune's data to (train.ImportForData: without the
// preprocessing or decision it may carry) and plans its graph.
func loadDataModel(path string) (*onnx.Model, *graph.Plan, *train.Preprocessing, error) {
	m, err := onnx.Load(path)
	if err != nil {
		return nil, nil, nil, err
	}
	g, pre, err := train.ImportForData(m)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	plan, err := graph.NewPlan(g)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, plan, pre, nil
}

// readInputs loads each [NAME=]FILE.npy, matching it to a graph input.
func readInputs(g *graph.Graph, specs []string) (map[string]*tensor.Tensor, error) {
	feeds := map[string]*tensor.Tensor{}
	for _, spec := range specs {
		name, file, named := strings.Cut(spec, "=")
		if !named || strings.ContainsRune(name, filepath.Separator) {
			name, file = "", spec
		}
		if name == "" {
			if len(g.Inputs) != 1 {
				var all []string
				for _, in := range g.Inputs {
					all = append(all, in.Name)
				}
				return nil, usagef("--input %s: the model has %d inputs (%s): give NAME=FILE.npy", spec, len(g.Inputs), strings.Join(all, ", "))
			}
			name = g.Inputs[0].Name
		}
		if _, dup := feeds[name]; dup {
			return nil, usagef("--input: %q given twice", name)
		}
		t, err := data.LoadNPY(file)
		if err != nil {
			return nil, err
		}
		feeds[name] = t
	}
	return feeds, nil
}
