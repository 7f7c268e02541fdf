package graph_test

import (
	"testing"

	"github.com/onnxtune/onnxtune/internal/fixture"
)

// TestLargeFrozenWeights: torchvision's mobilenet_v2, squeezenet1_1 and resnet18 (224x224)
// give bit for bit the same outputs from a plan whose filters are prepared once
// (FreezeWeights: the 1×1 ones packed, the Winograd transforms of resnet18's 3×3 ones and
// the direct convolution's layouts kept) as from one that prepares them on every run, at
// batch 1 (which reads the packed filters) and 2, twice (the second run reads the kept
// transforms and layouts).
func TestLargeFrozenWeights(t *testing.T) {
	if testing.Short() {
		t.Skip("model-sized case: runs in the full (non -short) pass")
	}
	for _, name := range []string{"mobilenet_v2", "squeezenet1_1", "resnet18"} {
		for _, batch := range []int{1, 2} {
			path := fixture.Large(t, name)
			plain, in := planWithInput(t, path, []int{batch, 3, 224, 224}, 3)
			frozen := planFile(t, path)
			if err := frozen.FreezeWeights(); err != nil {
				t.Fatal(err)
			}
			want, err := plain.Run(nil, in)
			if err != nil {
				t.Fatal(err)
			}
			for run := range 2 {
				got, err := frozen.Run(nil, in)
				if err != nil {
					t.Fatal(err)
				}
				for k, v := range want {
					if !equalBits(got[k].Float32s(), v.Float32s()) {
						t.Errorf("%s, batch %d, run %d: output %q differs once the weights are frozen", name, batch, run, k)
					}
				}
			}
		}
	}
}
