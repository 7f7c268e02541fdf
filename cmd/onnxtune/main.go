// Command onnxtune runs, inspects and fine-tunes convolutional networks exported from PyTorch as
// ONNX, on onnxtune's native Go engine. Run `onnxtune help` for the subcommands.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// command is one subcommand: its name, a one-line summary for `onnxtune help`, and the function
// that parses its arguments and runs it.
type command struct {
	name    string
	summary string
	run     func(args []string, stdout io.Writer) error
}

var commands []command

func register(c command) { commands = append(commands, c) }

// usageError marks a bad command line: exit status 2 instead of 1.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// printJSON writes v to w as --json prints it: one indented JSON document.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// errHelp reports that -h was given and usage was printed: exit status 0.
var errHelp = errors.New("help requested")

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command line and returns the exit status: 0 on success, 1 on a failure, 2
// on a usage error, 128 plus the signal's number (130, 143) when SIGINT or SIGTERM stopped it. Errors are printed as one line on stderr, and a panic is reported the same
// way rather than as a stack trace.
func run(args []string, stdout, stderr io.Writer) (status int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "onnxtune: internal error: %s\n", oneLine(fmt.Sprint(r)))
			status = 1
		}
	}()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		printHelp(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] == "--version" || args[0] == "-version" {
		args[0] = "version"
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		err := c.run(args[1:], stdout)
		var ue *usageError
		switch {
		case err == nil:
			return 0
		case errors.Is(err, errHelp):
			return 0
		case errors.As(err, &ue):
			fmt.Fprintf(stderr, "onnxtune %s: %s (see 'onnxtune %s -h')\n", c.name, oneLine(ue.msg), c.name)
			return 2
		default:
			// "onnxtune train: train: ..." says the command twice: the package's prefix goes.
			msg := strings.TrimPrefix(err.Error(), c.name+": ")
			fmt.Fprintf(stderr, "onnxtune %s: %s\n", c.name, oneLine(msg))
			if s := interruptStatus(); s != 0 {
				return s
			}
			return 1
		}
	}
	fmt.Fprintf(stderr, "onnxtune: unknown command %q (see 'onnxtune help')\n", args[0])
	return 2
}

func printHelp(w io.Writer) {
	fmt.Fprintln(w, "onnxtune: run, inspect and fine-tune ONNX CNNs exported from PyTorch")
	fmt.Fprintln(w, "\nUsage: onnxtune COMMAND [flags] ARGS (flags may come before or after ARGS)")
	fmt.Fprintln(w, "\nCommands:")
	width := 10
	for _, c := range commands {
		width = max(width, len(c.name))
	}
	for _, c := range commands {
		fmt.Fprintf(w, "  %-*s %s\n", width, c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'onnxtune COMMAND -h' for a command's flags.")
}

// oneLine folds a multi-line message so every error is a single line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}
