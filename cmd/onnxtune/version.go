package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

func init() {
	register(command{"version", "print onnxtune's version, the commit it was built from and the Go toolchain", runVersion})
}

func runVersion(args []string, stdout io.Writer) error {
	pos, err := parseArgs(newFlags("version", "", stdout), args)
	if err != nil {
		return err
	}
	if err := exactArgs(pos, 0, ""); err != nil {
		return err
	}
	fmt.Fprintln(stdout, versionLine())
	return nil
}

// versionLine describes the binary from its build information: the module version ("(devel)"
// for a build from a checkout), the VCS revision and time and whether the tree had changes,
// and the Go toolchain and platform.
func versionLine() string {
	version, revision := "(unknown)", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		version = bi.Main.Version
		var rev, when, modified string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				when = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					modified = ", with uncommitted changes"
				}
			}
		}
		if rev != "" {
			revision = fmt.Sprintf(" (commit %s, %s%s)", rev, when, modified)
		}
	}
	return fmt.Sprintf("onnxtune %s%s %s %s/%s", version, revision, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
