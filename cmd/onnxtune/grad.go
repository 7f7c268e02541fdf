package main

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/onnxtune/onnxtune/backprop"
	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/loss"
	"github.com/onnxtune/onnxtune/tensor"
	"github.com/onnxtune/onnxtune/train"
)

func init() {
	register(command{"grad", "compute a loss and the gradient of every trainable initializer", runGrad})
}

func runGrad(args []string, stdout io.Writer) error {
	fs := newFlags("grad", "MODEL.onnx --input [NAME=]X.npy --target [OUTPUT=]Y.npy [--loss SPEC] [--class-weights W1,W2,...] [--output NAME] --out G.npz", stdout)
	var inputs, targets inputFlags
	fs.Var(&inputs, "input", "an input as `[NAME=]FILE.npy`; repeat for several inputs")
	fs.Var(&targets, "target", "the target as `[OUTPUT=]Y.npy` (class indices for cross-entropy); repeat as OUTPUT=Y.npy when the loss reads several outputs")
	spec := fs.String("loss", "cross-entropy", "the loss expression `SPEC` (train's default): terms [WEIGHT*]NAME[(KEY=VALUE,...)][@OUTPUT] joined by +, e.g. 'cross-entropy@logits + 0.5*huber(delta=1)@box + 1e-4*l2' (see 'onnxtune losses')")
	classWeights := fs.String("class-weights", "", "per-class weights `W1,W2,...` for the losses that take them (cross-entropy, nll, ...)")
	output := fs.String("output", "", "the graph output `NAME` of the terms without @OUTPUT (default: the first)")
	out := fs.String("out", "", "write `G.npz`: \"loss\" (0-d float32) and one gradient per trainable initializer, keyed by its name")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := exactArgs(pos, 1, "MODEL.onnx"); err != nil {
		return err
	}
	switch {
	case len(inputs) == 0:
		return usagef("missing --input")
	case len(targets) == 0:
		return usagef("missing --target")
	case *spec == "":
		return usagef("--loss: an empty expression")
	case *out == "":
		return usagef("missing --out")
	case !strings.HasSuffix(*out, ".npz"):
		return usagef("--out %s: want a .npz file name", *out)
	}
	weights, err := parseClassWeights(*classWeights)
	if err != nil {
		return err
	}
	expr, err := loss.ParseExpr(*spec, loss.Params{ClassWeights: weights})
	if err != nil {
		return usagef("--loss: %v", err)
	}
	plan, err := loadPlan(pos[0])
	if err != nil {
		return err
	}
	feeds, err := readInputs(plan.Graph, inputs)
	if err != nil {
		return err
	}
	grads, err := train.NewGradients(plan, train.Objective{Expr: expr, Output: *output}, nil)
	if err != nil {
		return err
	}
	ys, err := readTargets(plan.Graph, grads.Outputs(), targets)
	if err != nil {
		return err
	}
	value, g, err := grads.Compute(nil, feeds, ys, loss.Labels{})
	if err != nil {
		return err
	}
	names := append([]string{"loss"}, backprop.Trainable(plan.Graph)...)
	arrays := map[string]*tensor.Tensor{"loss": tensor.Scalar(float32(value.Value))}
	for _, name := range names[1:] {
		arrays[name] = g[name]
	}
	return data.SaveNPZ(*out, names, arrays)
}

// parseClassWeights reads --class-weights W1,W2,...; "" gives none.
func parseClassWeights(s string) ([]float64, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var w []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
			return nil, usagef("--class-weights %s: %q is not a number", s, strings.TrimSpace(f))
		}
		w = append(w, v)
	}
	return w, nil
}

// readTargets loads each --target [OUTPUT=]Y.npy. A value is OUTPUT=FILE when the text before
// its first '=' names a graph output. An unnamed target belongs to the one output the loss
// reads that has no named target.
func readTargets(g *graph.Graph, read []string, specs []string) (map[string]*tensor.Tensor, error) {
	isOutput := map[string]bool{}
	for _, o := range g.Outputs {
		isOutput[o.Name] = true
	}
	isRead := map[string]bool{}
	for _, name := range read {
		isRead[name] = true
	}
	files := map[string]string{}
	unnamed := ""
	for _, spec := range specs {
		name, file, named := strings.Cut(spec, "=")
		if !named || !isOutput[name] {
			if unnamed != "" {
				return nil, usagef("--target %s: a second target without OUTPUT=: give --target OUTPUT=Y.npy for each output the loss reads (%s)", spec, strings.Join(read, ", "))
			}
			unnamed = spec
			continue
		}
		if !isRead[name] {
			return nil, usagef("--target %s: no term of --loss reads output %q (it reads %s)", spec, name, strings.Join(read, ", "))
		}
		if _, dup := files[name]; dup {
			return nil, usagef("--target: output %q given twice", name)
		}
		files[name] = file
	}
	if unnamed != "" {
		var left []string
		for _, name := range read {
			if _, ok := files[name]; !ok {
				left = append(left, name)
			}
		}
		switch len(left) {
		case 0:
			return nil, usagef("--target %s: every output the loss reads (%s) already has a named target", unnamed, strings.Join(read, ", "))
		case 1:
			files[left[0]] = unnamed
		default:
			return nil, usagef("--target %s: the loss reads outputs %s: give --target OUTPUT=Y.npy for each", unnamed, strings.Join(left, ", "))
		}
	}
	ys := make(map[string]*tensor.Tensor, len(files))
	for name, file := range files {
		t, err := data.LoadNPY(file)
		if err != nil {
			return nil, fmt.Errorf("target of output %q: %w", name, err)
		}
		ys[name] = t
	}
	return ys, nil
}
