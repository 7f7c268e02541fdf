package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/onnxtune/onnxtune/loss"
)

// TestLosses: `onnxtune losses` lists every registered loss with its options, target and
// PyTorch equivalent, as text and as JSON.
func TestLosses(t *testing.T) {
	out, stderr, status := onnxtune("losses")
	if status != 0 {
		t.Fatalf("status %d: %s", status, stderr)
	}
	specs := loss.Specs()
	for _, name := range []string{"cross-entropy", "nll", "bce", "bce-logits", "medical-bce", "focal", "mse", "mae", "huber", "smooth-l1", "hinge", "kl-div", "triplet", "contrastive", "wasserstein", "l2"} {
		if _, ok := loss.Lookup(name); !ok {
			t.Errorf("the issue's loss %s is not registered", name)
		}
	}
	for _, s := range specs {
		for _, w := range []string{"\n" + usageOf(s) + "\n", s.PyTorch, s.Target} {
			if !strings.Contains(out, w) {
				t.Errorf("losses does not print %q for %s", w, s.Name)
			}
		}
	}
	if !strings.Contains(out, "\nhuber(delta=1)\n") || !strings.Contains(out, "nn.HuberLoss(delta=delta)") {
		t.Errorf("losses does not show huber with its default: %s", out)
	}

	out, stderr, status = onnxtune("losses", "--json")
	if status != 0 {
		t.Fatalf("--json: status %d: %s", status, stderr)
	}
	var infos []lossInfo
	if err := json.Unmarshal([]byte(out), &infos); err != nil {
		t.Fatalf("--json printed %q: %v", out, err)
	}
	if len(infos) != len(specs) {
		t.Fatalf("--json lists %d losses, %d are registered", len(infos), len(specs))
	}
	for i, s := range specs {
		got := infos[i]
		if got.Name != s.Name || got.PyTorch != s.PyTorch || got.Target != s.Target || len(got.Options) != len(s.Options) {
			t.Errorf("--json entry %d = %+v, want %s", i, got, s.Name)
			continue
		}
		for j, o := range s.Options {
			var want any = o.Default // a number, or for a choice of words the word
			if o.Choices != nil {
				want = o.DefaultText()
			}
			if got.Options[j].Key != o.Key || got.Options[j].Default != want || !slices.Equal(got.Options[j].Choices, o.Choices) {
				t.Errorf("--json %s option %d = %+v, want %+v", s.Name, j, got.Options[j], o)
			}
		}
	}
	if _, _, status := onnxtune("losses", "extra"); status != 2 {
		t.Errorf("losses with an argument: status %d, want 2", status)
	}
}
