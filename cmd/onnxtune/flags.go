package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/onnxtune/onnxtune/train"
)

// flagSet is a subcommand's flags with the help text that -h prints.
type flagSet struct {
	*flag.FlagSet
	usage func()
}

// newFlags returns a FlagSet for a subcommand whose usage text shows synopsis and the flags.
func newFlags(name, synopsis string, stdout io.Writer) *flagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported once, by run; -h prints to stdout
	fs.Usage = func() {}     // flag calls Usage on every parse error; parseArgs prints it for -h only
	usage := func() {
		fmt.Fprintf(stdout, "Usage: onnxtune %s %s\n", name, synopsis)
		var b strings.Builder
		fs.SetOutput(&b)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
		if b.Len() > 0 {
			fmt.Fprintf(stdout, "\nFlags:\n%s", b.String())
		}
	}
	return &flagSet{fs, usage}
}

// parseArgs parses flags that may appear anywhere among the positional arguments, as users type
// `onnxtune run model.onnx --input x.npy`; everything after "--" is positional. It returns the
// positional arguments, errHelp after printing usage for -h, or a usage error.
func parseArgs(fs *flagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.usage()
				return nil, errHelp
			}
			return nil, usagef("%v", err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		// fs.Parse stops at the first positional argument, or consumes a "--" and stops.
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// exactArgs checks the number of positional arguments.
func exactArgs(pos []string, n int, what string) error {
	if len(pos) != n {
		if len(pos) < n {
			return usagef("missing %s", what)
		}
		return usagef("unexpected argument %q", pos[n])
	}
	return nil
}

// normFlags are --mean and --std: how the commands that read images normalise them.
type normFlags struct{ mean, std *string }

// addNormFlags registers --mean and --std on fs.
func addNormFlags(fs *flagSet) normFlags {
	return normFlags{
		mean: fs.String("mean", "", "per-channel mean `M1,M2,...` (or one value) to normalise inputs by; default ImageNet's for 3-channel image folders, none otherwise"),
		std:  fs.String("std", "", "per-channel standard deviation `S1,S2,...` (or one value), with --mean"),
	}
}

// values returns the parsed flags, nil for the defaults (train.InputTransform's); the two
// go together.
func (n normFlags) values() (mean, std []float32, err error) {
	if mean, err = parseFloat32s("mean", *n.mean); err != nil {
		return nil, nil, err
	}
	if std, err = parseFloat32s("std", *n.std); err != nil {
		return nil, nil, err
	}
	if (mean == nil) != (std == nil) {
		return nil, nil, usagef("--mean and --std go together")
	}
	return mean, std, nil
}

// pixelLayoutFlag is --embed-preprocessing: given alone it means NCHW pixels;
// --embed-preprocessing=nhwc (or "--embed-preprocessing nhwc", see joinFlagValues) picks the
// layout.
type pixelLayoutFlag struct{ layout train.PixelLayout }

func (f *pixelLayoutFlag) String() string   { return string(f.layout) }
func (f *pixelLayoutFlag) IsBoolFlag() bool { return true }

func (f *pixelLayoutFlag) Set(s string) error {
	switch strings.ToLower(s) {
	case "true":
		f.layout = train.NCHW
	case "false":
		f.layout = ""
	default:
		l, err := train.ParsePixelLayout(s)
		if err != nil {
			return errors.New("want nchw or nhwc")
		}
		f.layout = l
	}
	return nil
}

// embedPreprocessingUsage is the help text of --embed-preprocessing.
const embedPreprocessingUsage = "make the written model take uint8 pixels of the resized image, NCHW (or =nhwc), and compute the /255 and mean/std normalisation onnxtune applied to the image folder inside it"

// operatingPointError checks --threshold and --target-sensitivity, which eval and calibrate
// both take: at most one of them, a probability in (0, 1) and a sensitivity in (0, 1].
func operatingPointError(threshold, targetSens float64) error {
	switch {
	case threshold != 0 && targetSens != 0:
		return usagef("--threshold and --target-sensitivity both choose the threshold; give one")
	case threshold < 0 || threshold >= 1:
		return usagef("--threshold %g: want a probability in (0, 1)", threshold)
	case targetSens < 0 || targetSens > 1:
		return usagef("--target-sensitivity %g: want a value in (0, 1]", targetSens)
	}
	return nil
}
