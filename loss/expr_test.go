package loss_test

import (
	"strings"
	"testing"

	"github.com/onnxtune/onnxtune/loss"
	"github.com/onnxtune/onnxtune/tensor"
)

// TestParseExpr: the spellings of the issue and the edge cases of the grammar.
func TestParseExpr(t *testing.T) {
	type term struct {
		weight  float64
		name    string
		output  string
		penalty bool
	}
	cases := []struct {
		spec string
		want []term
	}{
		{"mse", []term{{1, "mse", "", false}}},
		{"0.7*cross-entropy(label_smoothing=0.1) + 0.3*focal(gamma=2)", []term{{0.7, "cross-entropy", "", false}, {0.3, "focal", "", false}}},
		{"cross-entropy@logits + 0.5*huber(delta=1)@box", []term{{1, "cross-entropy", "logits", false}, {0.5, "huber", "box", false}}},
		{"cross-entropy + 1e-4*l2", []term{{1, "cross-entropy", "", false}, {1e-4, "l2", "", true}}},
		{"1e+3*mse+2E+1 * huber ( delta = 2 , reduction=sum ) @ box", []term{{1e3, "mse", "", false}, {20, "huber", "box", false}}},
		{" -0.5 * wasserstein ", []term{{-0.5, "wasserstein", "", false}}},
		{"smooth-l1()@out.1", []term{{1, "smooth-l1", "out.1", false}}},
	}
	for _, c := range cases {
		e, err := loss.ParseExpr(c.spec, loss.Params{})
		if err != nil {
			t.Errorf("ParseExpr(%q): %v", c.spec, err)
			continue
		}
		if len(e.Terms) != len(c.want) {
			t.Errorf("ParseExpr(%q): %d terms, want %d", c.spec, len(e.Terms), len(c.want))
			continue
		}
		for i, w := range c.want {
			g := e.Terms[i]
			name := ""
			switch {
			case g.Loss != nil && g.Penalty == nil:
				name = g.Loss.Name()
			case g.Penalty != nil && g.Loss == nil:
				name = g.Penalty.Name()
			}
			if g.Weight != w.weight || name != w.name || g.Output != w.output || (g.Penalty != nil) != w.penalty {
				t.Errorf("ParseExpr(%q) term %d: weight %v, %q, output %q, penalty %v; want %+v", c.spec, i, g.Weight, name, g.Output, g.Penalty != nil, w)
			}
		}
	}
	e, err := loss.ParseExpr("huber(delta=2,reduction=sum)", loss.Params{})
	if err != nil {
		t.Fatal(err)
	}
	if h, ok := e.Terms[0].Loss.(loss.Huber); !ok || h.Delta != 2 || h.Reduction != loss.Sum {
		t.Errorf("huber(delta=2,reduction=sum) gives %#v", e.Terms[0].Loss)
	}
	if got := e.String(); got != "huber(delta=2,reduction=sum)" {
		t.Errorf("String() = %q", got)
	}
}

// TestParseExprErrors: each error is one line that quotes the term and says what is wrong.
func TestParseExprErrors(t *testing.T) {
	cases := []struct {
		spec string
		p    loss.Params
		want []string
	}{
		{"", loss.Params{}, []string{"empty loss expression"}},
		{"mse + ", loss.Params{}, []string{"term 2", "is empty"}},
		{"mse + + mae", loss.Params{}, []string{"term 2", "is empty"}},
		{"0.3*focl(gamma=2)", loss.Params{}, []string{`term "0.3*focl(gamma=2)"`, `unknown loss "focl"`, "known: ", "cross-entropy", "huber", "l2", "mse"}},
		{"mse + huber(delt=1)", loss.Params{}, []string{`term "huber(delt=1)"`, `huber has no option "delt"`, "its options: delta, reduction"}},
		{"huber(delta=x)", loss.Params{}, []string{`term "huber(delta=x)"`, `"x" is not a number`}},
		{"huber(delta=nan)", loss.Params{}, []string{`"nan" is not a number`}},
		{"huber(delta=0)", loss.Params{}, []string{`term "huber(delta=0)"`, "delta must be positive"}},
		{"abc*mse", loss.Params{}, []string{`term "abc*mse"`, `weight "abc" is not a number`}},
		{"inf*mse", loss.Params{}, []string{`weight "inf" is not a number`}},
		{"mse(reduction=avg)", loss.Params{}, []string{`term "mse(reduction=avg)"`, "want mean, sum or none"}},
		{"huber(delta)", loss.Params{}, []string{`option "delta" of huber is not KEY=VALUE`}},
		{"huber(delta=1,delta=2)", loss.Params{}, []string{"option delta of huber given twice"}},
		{"huber(delta=1", loss.Params{}, []string{"missing ')'"}},
		{"huber(delta=1) box", loss.Params{}, []string{`unexpected "box" after huber`}},
		{"mse@", loss.Params{}, []string{"no output name after '@'"}},
		{"1e-4*l2@box", loss.Params{}, []string{`term "1e-4*l2@box"`, "reads the trainable weights, not an output", "@box"}},
		{"l2(scale=2)", loss.Params{}, []string{"l2 takes no options"}},
		{"*mse", loss.Params{}, []string{`weight "" is not a number`}},
		{"0.5*", loss.Params{}, []string{"no loss name"}},
		{"mse + 0.5*huber@box", loss.Params{ClassWeights: []float64{1, 2}}, []string{"class weights given, but no term", "takes them"}},
	}
	for _, c := range cases {
		_, err := loss.ParseExpr(c.spec, c.p)
		if err == nil {
			t.Errorf("ParseExpr(%q) succeeded", c.spec)
			continue
		}
		msg := err.Error()
		if strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "loss: ") {
			t.Errorf("ParseExpr(%q): error %q is not one line starting with \"loss: \"", c.spec, msg)
		}
		for _, w := range c.want {
			if !strings.Contains(msg, w) {
				t.Errorf("ParseExpr(%q): error %q does not say %q", c.spec, msg, w)
			}
		}
	}
}

// TestParseExprClassWeights: class weights go to the terms that take them; the others are built
// without.
func TestParseExprClassWeights(t *testing.T) {
	e, err := loss.ParseExpr("cross-entropy@logits + 0.5*huber(delta=1)@box + 1e-4*l2", loss.Params{ClassWeights: []float64{1, 3}})
	if err != nil {
		t.Fatal(err)
	}
	z := tensor.From([]int{2, 2}, []float32{0, 0, 0, 0})
	y := tensor.From([]int{2}, []int64{0, 1})
	// With weights 1 and 3 the weighted mean of log 2 is still log 2; sum reduction would
	// show the weights, but the gradient already does: (0.5 - 1) * 1/4 for class 0's target.
	_, g, err := evalLoss(e.Terms[0].Loss, z, y)
	if err != nil {
		t.Fatal(err)
	}
	if got := g.Float64At(0); got != -0.125 {
		t.Errorf("d/dz[0,0] of cross-entropy with class weights [1 3] = %v, want -0.125", got)
	}
	if _, ok := e.Terms[1].Loss.(loss.Huber); !ok {
		t.Errorf("huber term is %T", e.Terms[1].Loss)
	}
}

// TestParse: Parse takes one unweighted loss on the default output and nothing else.
func TestParse(t *testing.T) {
	if l, err := loss.Parse("smooth-l1(beta=0.5)"); err != nil || l.(loss.SmoothL1).Beta != 0.5 {
		t.Errorf("Parse(smooth-l1(beta=0.5)) = %v, %v", l, err)
	}
	for _, spec := range []string{"mse + mae", "0.5*mse", "mse@box", "l2"} {
		if _, err := loss.Parse(spec); err == nil || !strings.Contains(err.Error(), "ParseExpr") {
			t.Errorf("Parse(%q): error %v, want one pointing to ParseExpr", spec, err)
		}
	}
}
