package graph_test

import (
	"fmt"
	"testing"

	"github.com/onnxtune/onnxtune/internal/fixture"
)

// TestKernelsFollowShapes runs one plan on inputs of changing batch size, back and forth,
// so that each convolution and pooling kernel meets shapes other than those it kept the
// geometry of: every run equals the same run on a plan that never saw another shape.
func TestKernelsFollowShapes(t *testing.T) {
	path := fixture.Small(t, "resblock.onnx")
	shared := planFile(t, path)
	for i, shape := range [][]int{{4, 3, 32, 32}, {2, 3, 32, 32}, {1, 3, 32, 32}, {4, 3, 32, 32}} {
		t.Run(fmt.Sprint(shape), func(t *testing.T) {
			fresh, in := planWithInput(t, path, shape, uint64(i+1))
			want, err := fresh.Run(nil, in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := shared.Run(nil, in)
			if err != nil {
				t.Fatal(err)
			}
			for name, v := range want {
				if !equalBits(got[name].Float32s(), v.Float32s()) {
					t.Errorf("output %q differs from a fresh plan's", name)
				}
			}
		})
	}
}
