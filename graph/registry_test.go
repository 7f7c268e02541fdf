package graph

import "testing"

// TestLookupPicksNewestSince checks the opset rule: the newest definition whose Since is at or
// below the model's opset wins, and an opset below every Since finds nothing.
func TestLookupPicksNewestSince(t *testing.T) {
	for _, since := range []int{1, 13} {
		Register(OpDef{Domain: "test.domain", Type: "Softmax", Since: since})
	}
	for _, c := range []struct{ opset, want int }{{1, 1}, {12, 1}, {13, 13}, {17, 13}} {
		def, ok := Lookup("test.domain", "Softmax", c.opset)
		if !ok || def.Since != c.want {
			t.Errorf("opset %d: got since %d (found %v), want %d", c.opset, def.Since, ok, c.want)
		}
	}
	if _, ok := Lookup("test.domain", "Softmax", 0); ok {
		t.Error("opset 0 found a definition")
	}
}
