package train

import (
	"fmt"
	"regexp"
	"strings"
)

// SelectTrainable narrows the trainable initializers (backprop.Trainable's list) to those that
// fine-tuning updates: the ones matching trainOnly, when it is not "", and not matching
// freeze, when it is not "". Both are Go regular expressions (RE2 syntax) matched anywhere in
// the name, as Python's re.search: "^fc\." selects fc.weight and fc.bias, "layer[12]" every
// initializer of layer1 and layer2. The result keeps trainable's order.
//
// It is an error if a pattern does not compile, matches none of the trainable initializers,
// or if the selection leaves nothing to train; the error names the pattern and lists a few
// initializer names.
func SelectTrainable(trainable []string, trainOnly, freeze string) ([]string, error) {
	if len(trainable) == 0 {
		return nil, fmt.Errorf("train: the model has no trainable initializers")
	}
	only, err := compileSelector("train-only", trainOnly, trainable)
	if err != nil {
		return nil, err
	}
	frozen, err := compileSelector("freeze", freeze, trainable)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, name := range trainable {
		if (only == nil || only.MatchString(name)) && (frozen == nil || !frozen.MatchString(name)) {
			out = append(out, name)
		}
	}
	if len(out) == 0 {
		what := fmt.Sprintf("freeze pattern %q freezes every trainable initializer", freeze)
		if only != nil && frozen != nil {
			what = fmt.Sprintf("freeze pattern %q freezes every initializer train-only pattern %q selects", freeze, trainOnly)
		}
		return nil, fmt.Errorf("train: %s: nothing is left to train (trainable: %s)", what, sample(trainable))
	}
	return out, nil
}

// compileSelector compiles pattern (nil for "") and checks that it matches some name.
func compileSelector(what, pattern string, names []string) (*regexp.Regexp, error) {
	if pattern == "" {
		return nil, nil
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("train: %s pattern %q: %v", what, pattern, oneLineErr(err))
	}
	for _, name := range names {
		if re.MatchString(name) {
			return re, nil
		}
	}
	return nil, fmt.Errorf("train: %s pattern %q matches no trainable initializer (they are: %s)", what, pattern, sample(names))
}

// sample lists a few names, quoted: all of up to six, otherwise the first four and the last
// two (where a classifier's initializers usually are) with the count of those left out.
func sample(names []string) string {
	if len(names) <= 6 {
		return quoteList(names)
	}
	return fmt.Sprintf("%s, ... (%d more), %s", quoteList(names[:4]), len(names)-6, quoteList(names[len(names)-2:]))
}

// oneLineErr is err's message without line breaks.
func oneLineErr(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
