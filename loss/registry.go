package loss

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Spec describes one loss for the registry: how a loss expression names it, its options and
// what PyTorch calls it. `onnxtune losses` prints the registry.
type Spec struct {
	Name    string   // spelling in a loss expression, e.g. "cross-entropy"
	Summary string   // one line: what it is for
	PyTorch string   // the PyTorch equivalent, e.g. "nn.CrossEntropyLoss(label_smoothing=e)"
	Target  string   // what the target holds, e.g. "int64 class indices [N, ...] or probabilities like the output"
	Options []Option // KEY=VALUE options, in the order they are documented
	// ClassWeights says that the loss takes Params.ClassWeights (--class-weights).
	ClassWeights bool
	// New builds the loss from parsed options (every key of Options present, defaults filled
	// in) and the run's Params.
	New func(opts map[string]float64, p Params) (Loss, error)
}

// Option is one KEY=VALUE option of a loss: a number, or with Choices one of those words,
// which New receives as its index in Choices (Default is an index too).
type Option struct {
	Key     string
	Default float64
	Doc     string
	Choices []string
}

// DefaultText is the option's default as an expression writes it.
func (o Option) DefaultText() string {
	if o.Choices != nil {
		return o.Choices[int(o.Default)]
	}
	return strconv.FormatFloat(o.Default, 'g', -1, 64)
}

// value reads an option's value: a number, or the index of one of Choices.
func (o Option) value(v string) (float64, error) {
	if o.Choices != nil {
		for i, c := range o.Choices {
			if v == c {
				return float64(i), nil
			}
		}
		return 0, fmt.Errorf("%q is not one of %s", v, strings.Join(o.Choices, ", "))
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", v)
	}
	return f, nil // an infinity or NaN is the loss's to refuse
}

// Params carries what a loss takes besides its numeric options: the reduction (the "reduction"
// option of every loss: mean, the default, sum, or none for evaluation) and what comes from the
// command line rather than the expression.
type Params struct {
	Reduction Reduction
	// ClassWeights, from --class-weights, weight each class as nn.CrossEntropyLoss's weight.
	ClassWeights []float64
}

var (
	specsMu sync.RWMutex
	specs   = map[string]Spec{}
)

// Register adds a loss. Each family's file calls it from init(); a duplicate name panics at
// start-up.
func Register(s Spec) {
	specsMu.Lock()
	defer specsMu.Unlock()
	if _, dup := specs[s.Name]; dup {
		panic(fmt.Sprintf("loss: %s registered twice", s.Name))
	}
	specs[s.Name] = s
}

// Lookup returns the spec of a loss by name.
func Lookup(name string) (Spec, bool) {
	specsMu.RLock()
	defer specsMu.RUnlock()
	s, ok := specs[name]
	return s, ok
}

// Specs returns every registered loss, sorted by name.
func Specs() []Spec {
	specsMu.RLock()
	defer specsMu.RUnlock()
	out := make([]Spec, 0, len(specs))
	for _, s := range specs {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Build makes a registered loss from KEY=VALUE options given as strings: unknown keys and bad
// numbers are errors naming the loss; missing keys take their defaults.
func Build(name string, opts map[string]string, p Params) (Loss, error) {
	s, ok := Lookup(name)
	if !ok {
		return nil, fmt.Errorf("loss: unknown loss %q (see 'onnxtune losses')", name)
	}
	if len(p.ClassWeights) > 0 && !s.ClassWeights {
		return nil, &ClassWeightsError{Loss: name}
	}
	p.Reduction = Mean
	if r, ok := opts["reduction"]; ok {
		red, err := ParseReduction(r)
		if err != nil {
			return nil, fmt.Errorf("loss: %s(reduction=%s): want mean, sum or none", name, r)
		}
		p.Reduction = red
	}
	vals := map[string]float64{}
	byKey := map[string]Option{}
	for _, o := range s.Options {
		vals[o.Key], byKey[o.Key] = o.Default, o
	}
	for k, v := range opts {
		if k == "reduction" {
			continue
		}
		o, known := byKey[k]
		if !known {
			return nil, fmt.Errorf("loss: %s has no option %q%s", name, k, optionList(s))
		}
		f, err := o.value(v)
		if err != nil {
			return nil, fmt.Errorf("loss: %s(%s=%s): %v", name, k, v, err)
		}
		vals[k] = f
	}
	return s.New(vals, p)
}

// ClassWeightsError is Build's error for class weights given to a loss that does not take
// them.
type ClassWeightsError struct{ Loss string }

func (e *ClassWeightsError) Error() string {
	return fmt.Sprintf("loss %s does not take class weights", e.Loss)
}

func optionList(s Spec) string {
	if len(s.Options) == 0 {
		return " (it takes none)"
	}
	keys := ""
	for i, o := range s.Options {
		if i > 0 {
			keys += ", "
		}
		keys += o.Key
	}
	return " (its options: " + keys + ")"
}
