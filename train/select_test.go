package train_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/onnxtune/onnxtune/backprop"
	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/onnx"
	"github.com/onnxtune/onnxtune/train"
)

func resblockTrainable(t *testing.T) []string {
	t.Helper()
	m, err := onnx.Load(fixture.Small(t, "resblock.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := onnx.Import(m)
	if err != nil {
		t.Fatal(err)
	}
	return backprop.Trainable(g)
}

func TestSelectTrainable(t *testing.T) {
	all := resblockTrainable(t)
	matching := func(keep func(string) bool) []string {
		var out []string
		for _, n := range all {
			if keep(n) {
				out = append(out, n)
			}
		}
		return out
	}
	for _, c := range []struct {
		only, freeze string
		want         []string
	}{
		{"", "", all},
		{`^fc\.`, "", []string{"fc.weight", "fc.bias"}},
		{"fc", "", []string{"fc.weight", "fc.bias"}}, // unanchored, as re.search
		{"", `^layer`, matching(func(n string) bool { return !strings.HasPrefix(n, "layer") })},
		{`^layer2\.`, `downsample`, matching(func(n string) bool {
			return strings.HasPrefix(n, "layer2.") && !strings.Contains(n, "downsample")
		})},
		{`bn\d\.bias$|^fc`, `weight`, matching(func(n string) bool {
			return strings.HasSuffix(n, "bias") && (strings.Contains(n, "bn") || strings.HasPrefix(n, "fc"))
		})},
	} {
		got, err := train.SelectTrainable(all, c.only, c.freeze)
		if err != nil {
			t.Errorf("train-only %q freeze %q: %v", c.only, c.freeze, err)
			continue
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("train-only %q freeze %q: got %q, want %q", c.only, c.freeze, got, c.want)
		}
	}
}

func TestSelectTrainableErrors(t *testing.T) {
	all := resblockTrainable(t)
	for _, c := range []struct {
		only, freeze string
		want         string
	}{
		{`^head\.`, "", `train: train-only pattern "^head\\." matches no trainable initializer (they are: "conv1.weight", "bn1.weight", "bn1.bias", "layer1.conv1.weight", ... (14 more), "fc.weight", "fc.bias")`},
		{"", "running_mean", `train: freeze pattern "running_mean" matches no trainable initializer`},
		{"", ".", `train: freeze pattern "." freezes every trainable initializer: nothing is left to train (trainable: "conv1.weight"`},
		{"^fc", "fc", `train: freeze pattern "fc" freezes every initializer train-only pattern "^fc" selects: nothing is left to train`},
		{"fc(", "", `train: train-only pattern "fc(": error parsing regexp: missing closing ): ` + "`fc(`"},
	} {
		_, err := train.SelectTrainable(all, c.only, c.freeze)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("train-only %q freeze %q: got error %v, want %s", c.only, c.freeze, err, c.want)
		}
	}
	if _, err := train.SelectTrainable(nil, "", ""); err == nil {
		t.Errorf("no trainable initializers: no error")
	}
}
