package loss_test

import (
	"testing"

	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/loss"
)

// FuzzParseExpr feeds the loss-expression parser arbitrary specs grown from the README's:
// it may refuse one with an error, never panic. CI runs it for a few seconds.
func FuzzParseExpr(f *testing.F) {
	for _, s := range []string{
		"mse", "0.7*cross-entropy(label_smoothing=0.1) + 0.3*focal(gamma=2)",
		"cross-entropy@logits + 0.5*huber(delta=1)@box", "cross-entropy + 1e-4*l2",
		"medical-bce(fn_cost=5)", "1e+3*mse+2E+1 * huber ( delta = 2 , reduction=sum ) @ box",
		"triplet(margin=0.2)", "(", "*", "mse(", "a@", "1e999*mse",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		fixture.BoundAllocs(t, func() { loss.ParseExpr(spec, loss.Params{}) })
	})
}
