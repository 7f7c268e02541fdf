package main

import (
	"fmt"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/onnxtune/onnxtune/explain"
	"github.com/onnxtune/onnxtune/internal/atomicfile"
	"github.com/onnxtune/onnxtune/train"
)

func init() {
	register(command{"explain", "draw where a model looks for a class in an image: a Grad-CAM heat map over it, as a PNG", runExplain})
}

func runExplain(args []string, stdout io.Writer) error {
	fs := newFlags("explain", "MODEL.onnx --input IMG [--class K] [--layer NAME] [--output NAME] [--mean M1,M2,...] [--std S1,S2,...] --out heat.png", stdout)
	input := fs.String("input", "", "the image `IMG` (PNG, JPEG, GIF, BMP, WebP or TIFF), resized, centre-cropped and normalised as train and eval load an image folder's")
	class := fs.Int("class", -1, "the class index `K` to explain; -1 for the predicted class")
	layer := fs.String("layer", "", "the feature map, a node or value `NAME` (default: the last Conv's output, after the activation and normalisation that follow it)")
	output := fs.String("output", "", "the graph output `NAME` holding the class scores (default: the first)")
	norm := addNormFlags(fs)
	out := fs.String("out", "", "write the image with the heat map over it to `heat.png`")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := exactArgs(pos, 1, "MODEL.onnx"); err != nil {
		return err
	}
	switch {
	case *input == "":
		return usagef("missing --input IMG")
	case *out == "":
		return usagef("missing --out heat.png")
	case !strings.EqualFold(filepath.Ext(*out), ".png"):
		return usagef("--out %s: want a .png file name", *out)
	case *class < -1:
		return usagef("--class %d: want a class index, or -1 for the predicted class", *class)
	}
	meanV, stdV, err := norm.values()
	if err != nil {
		return err
	}
	// Said now rather than after the backward pass; atomicfile would say it too.
	if dir := filepath.Dir(*out); !isDir(dir) {
		return fmt.Errorf("--out %s: the directory %s does not exist", *out, dir)
	}
	_, plan, pre, err := loadDataModel(pos[0])
	if err != nil {
		return err
	}
	meanV, stdV = pre.Defaults(meanV, stdV)
	g := plan.Graph
	if len(g.Inputs) != 1 {
		return fmt.Errorf("%s: the model has %d inputs; explain feeds it one image", pos[0], len(g.Inputs))
	}
	in := g.Inputs[0]
	load := train.InputTransform(g, meanV, stdV)
	if load.Channels == 0 {
		return fmt.Errorf("%s: input %q is %v: explain loads the image at the input's channels, height and width, which must be fixed", pos[0], in.Name, in.Shape)
	}
	if err := load.Check(); err != nil {
		return fmt.Errorf("%s: input %q is %v: %w", pos[0], in.Name, in.Shape, err)
	}
	x, err := load.Load(*input)
	if err != nil {
		return err
	}
	if x, err = x.Reshape(1, load.Channels, load.Height, load.Width); err != nil {
		return err
	}
	// The overlay shows the image as the model saw it, resized and cropped, but not normalised.
	view := load
	view.Mean, view.Std = []float32{0}, []float32{1}
	pixels, err := view.Load(*input)
	if err != nil {
		return err
	}
	r, err := explain.GradCAM(g, x, explain.Options{Layer: *layer, Class: *class, Output: *output})
	if err != nil {
		return err
	}
	heat, err := explain.Overlay(pixels, r.Heat)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(*out, func(w io.Writer) error { return png.Encode(w, heat) }); err != nil {
		return err
	}
	how := "the predicted class"
	if *class >= 0 {
		how = "as asked"
	}
	cam := r.CAM.Shape()
	fmt.Fprintf(stdout, "class %d (%s): score %.6g; Grad-CAM at %s (%dx%d)\n", r.Class, how, r.Score, r.Layer, cam[1], cam[0])
	fmt.Fprintf(stdout, "wrote %s (%dx%d)\n", *out, load.Width, load.Height)
	return nil
}

// isDir reports whether path is an existing directory.
func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}
