package data

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
)

// balanceCase is one case of testdata/balance.json, written by testdata/gen_balance.py.
type balanceCase struct {
	Name    string    `json:"name"`
	Classes int       `json:"classes"`
	Labels  []int64   `json:"labels"`
	Weights []float64 `json:"weights"` // scikit-learn's; nil when it refuses the labels
	Error   string    `json:"error"`   // scikit-learn's message when it does
}

func balanceCases(t *testing.T) []balanceCase {
	t.Helper()
	b, err := os.ReadFile("testdata/balance.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []balanceCase
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	return cases
}

// TestBalancedClassWeightsMatchesScikitLearn: compute_class_weight("balanced") does the same
// float64 operations, so the weights must be equal, not merely close.
func TestBalancedClassWeightsMatchesScikitLearn(t *testing.T) {
	for _, c := range balanceCases(t) {
		got, err := BalancedClassWeights(c.Labels, c.Classes)
		switch {
		case c.Error != "":
			if err == nil {
				t.Errorf("%s: weights %v, want an error as scikit-learn's %q", c.Name, got, c.Error)
			}
		case err != nil:
			t.Errorf("%s: %v, want %v", c.Name, err, c.Weights)
		case !slices.Equal(got, c.Weights):
			t.Errorf("%s: %v, want %v", c.Name, got, c.Weights)
		}
	}
}

// TestBalancedWeights: each example weighs 1/count of its class, so every class's weights sum
// to 1.
func TestBalancedWeights(t *testing.T) {
	for _, c := range balanceCases(t) {
		got, err := BalancedWeights(c.Labels, c.Classes)
		if c.Error != "" && c.Name != "missing class" {
			if err == nil {
				t.Errorf("%s: weights %v, want an error", c.Name, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.Name, err)
			continue
		}
		if len(got) != len(c.Labels) {
			t.Fatalf("%s: %d weights for %d labels", c.Name, len(got), len(c.Labels))
		}
		counts := make([]int, c.Classes)
		for _, y := range c.Labels {
			counts[y]++
		}
		sums := make([]float64, c.Classes)
		for i, y := range c.Labels {
			if want := 1 / float64(counts[y]); got[i] != want {
				t.Errorf("%s: example %d (class %d): weight %g, want %g", c.Name, i, y, got[i], want)
			}
			sums[y] += got[i]
		}
		for k, s := range sums {
			if want := min(float64(counts[k]), 1); s < want-1e-12 || s > want+1e-12 {
				t.Errorf("%s: class %d's weights sum to %g, want %g", c.Name, k, s, want)
			}
		}
	}
}

func TestBalancedWeightsErrors(t *testing.T) {
	for _, c := range []struct {
		name    string
		labels  []int64
		classes int
		class   bool // BalancedClassWeights only: BalancedWeights accepts the labels
		want    string
	}{
		{"label too large", []int64{0, 1, 2, 3, 1}, 3, false, "example 3 has label 3; want a class index in [0, 3)"},
		{"negative label", []int64{0, -1}, 2, false, "example 1 has label -1"},
		{"ignore index", []int64{1, 0, -100}, 2, false, "example 2 has label -100"},
		{"no classes", nil, 0, false, "0 classes; want at least 1"},
		{"class without example", []int64{0, 2, 2}, 4, true, "class 1 of 4 has no example"},
		{"no labels", nil, 2, true, "class 0 of 2 has no example"},
	} {
		if _, err := BalancedClassWeights(c.labels, c.classes); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("BalancedClassWeights, %s: error %v, want one containing %q", c.name, err, c.want)
		}
		_, err := BalancedWeights(c.labels, c.classes)
		if c.class {
			if err != nil {
				t.Errorf("BalancedWeights, %s: %v, want no error", c.name, err)
			}
		} else if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("BalancedWeights, %s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}
