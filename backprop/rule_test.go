package backprop_test

import (
	"testing"

	"github.com/onnxtune/onnxtune/backprop"
	_ "github.com/onnxtune/onnxtune/graph" // the forward registry the check walks
)

// TestEveryOpDeclared walks the forward registry: every operator the engine runs must have a
// backward rule or be declared not differentiable.
func TestEveryOpDeclared(t *testing.T) {
	if missing := backprop.Undeclared(); len(missing) > 0 {
		t.Errorf("operators with neither a VJP nor a NotDifferentiable declaration: %v", missing)
	}
}
