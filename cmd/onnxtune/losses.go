package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/onnxtune/onnxtune/loss"
)

func init() {
	register(command{"losses", "list the losses a --loss expression can name, with their options and PyTorch equivalents", runLosses})
}

// lossInfo is one loss as `onnxtune losses --json` prints it.
type lossInfo struct {
	Name    string       `json:"name"`
	Summary string       `json:"summary"`
	PyTorch string       `json:"pytorch"`
	Target  string       `json:"target"`
	Options []optionInfo `json:"options"`
}

// optionInfo is an option as --json prints it: a numeric default, or for an option that
// takes one of several words, the word and the choices.
type optionInfo struct {
	Key     string   `json:"key"`
	Default any      `json:"default"`
	Doc     string   `json:"doc"`
	Choices []string `json:"choices,omitempty"`
}

func runLosses(args []string, stdout io.Writer) error {
	fs := newFlags("losses", "[--json]", stdout)
	asJSON := fs.Bool("json", false, "print a JSON array: name, summary, pytorch, target and options (key, default, doc) of each loss")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := exactArgs(pos, 0, ""); err != nil {
		return err
	}
	specs := loss.Specs()
	if *asJSON {
		infos := make([]lossInfo, len(specs))
		for i, s := range specs {
			infos[i] = lossInfo{Name: s.Name, Summary: s.Summary, PyTorch: s.PyTorch, Target: s.Target, Options: []optionInfo{}}
			for _, o := range s.Options {
				info := optionInfo{Key: o.Key, Default: o.Default, Doc: o.Doc, Choices: o.Choices}
				if o.Choices != nil {
					info.Default = o.DefaultText()
				}
				infos[i].Options = append(infos[i].Options, info)
			}
		}
		return printJSON(stdout, infos)
	}
	fmt.Fprintln(stdout, "Losses for --loss: terms [WEIGHT*]NAME[(KEY=VALUE,...)][@OUTPUT] joined by +,")
	fmt.Fprintln(stdout, "e.g. 'cross-entropy@logits + 0.5*huber(delta=1)@box + 1e-4*l2'. Every loss also takes")
	fmt.Fprintln(stdout, "reduction=mean (the default), sum, or none (per-element values, for evaluation).")
	for _, s := range specs {
		fmt.Fprintf(stdout, "\n%s\n", usageOf(s))
		fmt.Fprintf(stdout, "    %s\n", s.Summary)
		for _, o := range s.Options {
			fmt.Fprintf(stdout, "    %s=%s: %s\n", o.Key, o.DefaultText(), o.Doc)
		}
		fmt.Fprintf(stdout, "    target:  %s\n", s.Target)
		fmt.Fprintf(stdout, "    PyTorch: %s\n", s.PyTorch)
	}
	return nil
}

// usageOf is a loss as it is written with its defaults: "huber(delta=1)".
func usageOf(s loss.Spec) string {
	if len(s.Options) == 0 {
		return s.Name
	}
	opts := make([]string, len(s.Options))
	for i, o := range s.Options {
		opts[i] = o.Key + "=" + o.DefaultText()
	}
	return s.Name + "(" + strings.Join(opts, ",") + ")"
}
