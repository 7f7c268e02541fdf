package main

import (
	"flag"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/onnxtune/onnxtune/train"
)

// The flags of train that say where things go or how fast they run, not what is computed:
// a resumed run may give them anew. --epochs may change too, to train a run further.
var resumeMayChange = map[string]bool{
	"out": true, "log": true, "report": true, "workers": true, "checkpoint-dir": true,
	"checkpoint-every": true, "max-memory": true, "cache-limit": true, "epochs": true, "resume": true,
}

// pathFlags hold file or folder names: recorded as absolute paths, so that a run resumes from
// any working directory, and compared as such.
var pathFlags = map[string]bool{"data": true, "val": true, "out": true, "log": true, "report": true, "checkpoint-dir": true}

// commandOf records a train command line for its checkpoint: the model and every flag given
// (paths made absolute), as Config.Command.
func commandOf(fs *flag.FlagSet, model string) map[string]string {
	cmd := map[string]string{"model": absPath(model)}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "resume" {
			return
		}
		v := f.Value.String()
		if pathFlags[f.Name] && v != "" {
			v = absPath(v)
		}
		cmd["--"+f.Name] = v
	})
	return cmd
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// resumeCommand completes the command line of `train --resume DIR [flags]` with the one the
// checkpoint records: every flag not given now takes its recorded value, and the model its
// recorded path when none is given. A flag given now that changes what the run computes must
// agree with the record; the usage error lists each one that does not. It returns the model.
func resumeCommand(fs *flag.FlagSet, dir string, pos []string) (string, error) {
	saved, err := train.SavedCommand(dir)
	if err != nil {
		return "", err
	}
	if saved == nil { // a checkpoint written before commands were recorded
		if len(pos) == 0 {
			return "", usagef("--resume %s: the checkpoint records no command line; give the model and the flags of the run", dir)
		}
		return pos[0], nil
	}
	given := map[string]bool{}
	var diffs []string
	fs.Visit(func(f *flag.Flag) {
		given[f.Name] = true
		if resumeMayChange[f.Name] {
			return
		}
		now, was := f.Value.String(), saved["--"+f.Name]
		if pathFlags[f.Name] && now != "" {
			now = absPath(now)
		}
		if _, recorded := saved["--"+f.Name]; !recorded {
			was = f.DefValue
		}
		if now != was {
			diffs = append(diffs, fmt.Sprintf("--%s %s (the checkpoint's run: %s)", f.Name, now, was))
		}
	})
	var names []string
	for k := range saved {
		if name, ok := strings.CutPrefix(k, "--"); ok && !given[name] {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		if fs.Lookup(name) == nil {
			continue // a flag this onnxtune no longer has
		}
		if err := fs.Set(name, saved["--"+name]); err != nil {
			return "", usagef("--resume %s: the recorded --%s %s: %v", dir, name, saved["--"+name], err)
		}
	}
	model := saved["model"]
	if len(pos) > 0 {
		model = pos[0] // the checkpoint's SHA-256 of the model file judges it
	}
	if len(diffs) > 0 {
		sort.Strings(diffs)
		return "", usagef("--resume %s: flags differ from the checkpoint's run: %s", dir, strings.Join(diffs, "; "))
	}
	return model, nil
}
