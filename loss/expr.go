package loss

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Expr is a parsed loss expression (the value of --loss): a weighted sum of terms, each a loss
// on one graph output or a penalty on the weights.
type Expr struct {
	Terms []Term
}

// Term is one `[WEIGHT*]NAME[(KEY=VALUE,...)][@OUTPUT]` of an expression. Exactly one of Loss
// and Penalty is set.
type Term struct {
	Weight  float64
	Loss    Loss
	Penalty Penalty
	Output  string // the graph output Loss reads; "" for the default (the first); always "" for a Penalty
	Text    string // the term as written, trimmed: errors quote it
}

// String returns the expression's terms as written, joined by " + ".
func (e *Expr) String() string {
	texts := make([]string, len(e.Terms))
	for i, t := range e.Terms {
		texts[i] = t.Text
	}
	return strings.Join(texts, " + ")
}

// ParseExpr reads a loss expression: terms joined by '+', each
// `[WEIGHT*]NAME[(KEY=VALUE,...)][@OUTPUT]`, for example
// "0.7*cross-entropy(label_smoothing=0.1) + 0.3*focal(gamma=2)",
// "cross-entropy@logits + 0.5*huber(delta=1)@box" or "cross-entropy + 1e-4*l2". WEIGHT
// defaults to 1, options to their documented defaults, OUTPUT to the model's first output.
// p.ClassWeights go to the terms whose loss takes class weights; it is an error if none does.
// Every error is one line that quotes the term.
func ParseExpr(spec string, p Params) (*Expr, error) {
	if strings.TrimSpace(spec) == "" {
		return nil, fmt.Errorf("loss: empty loss expression (see 'onnxtune losses')")
	}
	texts := splitTerms(spec)
	e := &Expr{}
	weighted := false // some term took the class weights
	for i, text := range texts {
		if text == "" {
			return nil, fmt.Errorf("loss: term %d of %q is empty", i+1, spec)
		}
		t, took, err := parseTerm(text, p)
		if err != nil {
			return nil, fmt.Errorf("loss: term %q: %w", text, err)
		}
		weighted = weighted || took
		e.Terms = append(e.Terms, t)
	}
	if len(p.ClassWeights) > 0 && !weighted {
		return nil, fmt.Errorf("loss: class weights given, but no term of %q takes them", spec)
	}
	return e, nil
}

// splitTerms splits an expression at the '+' signs that separate terms: not those inside
// parentheses, nor the exponent sign of a leading weight such as "1e+3*l2".
func splitTerms(spec string) []string {
	var terms []string
	depth, start := 0, 0
	for i, r := range spec {
		switch r {
		case '(':
			depth++
		case ')':
			depth--
		case '+':
			if depth > 0 || isExponentSign(strings.TrimSpace(spec[start:i])) {
				continue
			}
			terms = append(terms, strings.TrimSpace(spec[start:i]))
			start = i + 1
		}
	}
	return append(terms, strings.TrimSpace(spec[start:]))
}

// isExponentSign reports whether a '+' after prefix continues a number, as in "1e+3".
func isExponentSign(prefix string) bool {
	n := len(prefix)
	if n < 2 || (prefix[n-1] != 'e' && prefix[n-1] != 'E') {
		return false
	}
	_, err := strconv.ParseFloat(prefix[:n-1], 64)
	return err == nil
}

// parseTerm builds one term. took reports that its loss took p.ClassWeights.
func parseTerm(text string, p Params) (t Term, took bool, err error) {
	t = Term{Weight: 1, Text: text}
	rest := text
	paren := strings.IndexByte(rest, '(')
	if star := strings.IndexByte(rest, '*'); star >= 0 && (paren < 0 || star < paren) {
		w := strings.TrimSpace(rest[:star])
		if t.Weight, err = strconv.ParseFloat(w, 64); err != nil || math.IsInf(t.Weight, 0) || math.IsNaN(t.Weight) {
			return t, false, fmt.Errorf("weight %q is not a number", w)
		}
		rest = strings.TrimSpace(rest[star+1:])
	}
	end := strings.IndexAny(rest, "(@ \t")
	if end < 0 {
		end = len(rest)
	}
	name := rest[:end]
	rest = strings.TrimSpace(rest[end:])
	if name == "" {
		return t, false, fmt.Errorf("no loss name (want [WEIGHT*]NAME[(KEY=VALUE,...)][@OUTPUT])")
	}
	var keys []string
	opts := map[string]string{}
	if strings.HasPrefix(rest, "(") {
		closing := strings.IndexByte(rest, ')')
		if closing < 0 {
			return t, false, fmt.Errorf("missing ')' after the options of %s", name)
		}
		if inner := strings.TrimSpace(rest[1:closing]); inner != "" {
			for _, kv := range strings.Split(inner, ",") {
				k, v, ok := strings.Cut(kv, "=")
				k, v = strings.TrimSpace(k), strings.TrimSpace(v)
				if !ok || k == "" || v == "" {
					return t, false, fmt.Errorf("option %q of %s is not KEY=VALUE", strings.TrimSpace(kv), name)
				}
				if _, dup := opts[k]; dup {
					return t, false, fmt.Errorf("option %s of %s given twice", k, name)
				}
				opts[k] = v
				keys = append(keys, k)
			}
		}
		rest = strings.TrimSpace(rest[closing+1:])
	}
	if strings.HasPrefix(rest, "@") {
		t.Output = strings.TrimSpace(rest[1:])
		if t.Output == "" {
			return t, false, fmt.Errorf("no output name after '@'")
		}
		rest = ""
	}
	if rest != "" {
		return t, false, fmt.Errorf("unexpected %q after %s (want [WEIGHT*]NAME[(KEY=VALUE,...)][@OUTPUT])", rest, name)
	}

	if newPenalty, ok := penalties[name]; ok {
		switch {
		case len(keys) > 0:
			return t, false, fmt.Errorf("%s takes no options", name)
		case t.Output != "":
			return t, false, fmt.Errorf("%s reads the trainable weights, not an output: drop '@%s'", name, t.Output)
		}
		t.Penalty = newPenalty()
		return t, false, nil
	}
	spec, ok := Lookup(name)
	if !ok {
		return t, false, fmt.Errorf("unknown loss %q (known: %s)", name, strings.Join(knownNames(), ", "))
	}
	for _, k := range keys {
		v := opts[k]
		if k == "reduction" {
			if _, err := ParseReduction(v); err != nil {
				return t, false, fmt.Errorf("%s(reduction=%s): want mean, sum or none", name, v)
			}
			continue
		}
		o, ok := optionOf(spec, k)
		if !ok {
			return t, false, fmt.Errorf("%s has no option %q (its options: %s)", name, k, strings.Join(optionKeys(spec), ", "))
		}
		f, err := o.value(v)
		if err == nil && (math.IsInf(f, 0) || math.IsNaN(f)) {
			err = fmt.Errorf("%q is not a number", v)
		}
		if err != nil {
			return t, false, fmt.Errorf("%s(%s=%s): %v", name, k, v, err)
		}
	}
	if !spec.ClassWeights {
		// A loss that has no use for class weights still works in an expression whose other
		// terms take them: ParseExpr fails only when no term does.
		p.ClassWeights = nil
	}
	l, err := Build(name, opts, p)
	if err != nil {
		return t, false, unprefix(err)
	}
	t.Loss = l
	return t, len(p.ClassWeights) > 0, nil
}

func optionOf(s Spec, key string) (Option, bool) {
	for _, o := range s.Options {
		if o.Key == key {
			return o, true
		}
	}
	return Option{}, false
}

// optionKeys lists a loss's option keys, reduction last.
func optionKeys(s Spec) []string {
	keys := make([]string, 0, len(s.Options)+1)
	for _, o := range s.Options {
		keys = append(keys, o.Key)
	}
	return append(keys, "reduction")
}

// knownNames lists every loss and penalty name, sorted.
func knownNames() []string {
	seen := map[string]bool{}
	var names []string
	for _, s := range Specs() {
		seen[s.Name] = true
		names = append(names, s.Name)
	}
	for name := range penalties {
		if !seen[name] {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}
