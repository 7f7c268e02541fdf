package main

import (
	"io"
	"strings"

	"github.com/onnxtune/onnxtune/backprop"
	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/loss"
	"github.com/onnxtune/onnxtune/tensor"
	"github.com/onnxtune/onnxtune/train"
)

func init() {
	register(command{"grad", "compute a loss and the gradient of every trainable initializer", runGrad})
}

func runGrad(args []string, stdout io.Writer) error {
	fs := newFlags("grad", "MODEL.onnx --input [NAME=]X.npy --target Y.npy --loss SPEC [--output NAME] --out G.npz", stdout)
	var inputs inputFlags
	fs.Var(&inputs, "input", "an input as `[NAME=]FILE.npy`; repeat for several inputs")
	targetPath := fs.String("target", "", "the target as `Y.npy` (class indices for cross-entropy)")
	spec := fs.String("loss", "", "the loss: `cross-entropy` or mse")
	output := fs.String("output", "", "the graph output the loss reads (default: the first)")
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
	case *targetPath == "":
		return usagef("missing --target")
	case *spec == "":
		return usagef("missing --loss")
	case *out == "":
		return usagef("missing --out")
	case !strings.HasSuffix(*out, ".npz"):
		return usagef("--out %s: want a .npz file name", *out)
	}
	l, err := loss.Parse(*spec)
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
	target, err := data.LoadNPY(*targetPath)
	if err != nil {
		return err
	}
	grads, err := train.NewGradients(plan, train.Objective{Loss: l, Output: *output}, nil)
	if err != nil {
		return err
	}
	value, g, err := grads.Compute(nil, feeds, target)
	if err != nil {
		return err
	}
	names := append([]string{"loss"}, backprop.Trainable(plan.Graph)...)
	arrays := map[string]*tensor.Tensor{"loss": tensor.Scalar(float32(value))}
	for _, name := range names[1:] {
		arrays[name] = g[name]
	}
	return data.SaveNPZ(*out, names, arrays)
}
