package graph_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/onnx"
	"github.com/onnxtune/onnxtune/tensor"
)

// BenchmarkModel times inference of torchvision models at batch 8 and 1, 224x224 (the
// figures BENCHMARKS.md sets beside ONNX Runtime's): go test ./graph -run '^$' -bench Model.
func BenchmarkModel(b *testing.B) {
	for _, name := range []string{"resnet18", "mobilenet_v2", "squeezenet1_1"} {
		for _, batch := range []int{8, 1} {
			benchModel(b, name, batch)
		}
	}
}

func benchModel(b *testing.B, name string, batch int) {
	{
		b.Run(fmt.Sprintf("%s/batch%d", name, batch), func(b *testing.B) {
			m, err := onnx.Load(fixture.Large(b, name))
			if err != nil {
				b.Fatal(err)
			}
			g, err := onnx.Import(m)
			if err != nil {
				b.Fatal(err)
			}
			plan, err := graph.NewPlan(g)
			if err != nil {
				b.Fatal(err)
			}
			if err := plan.FreezeWeights(); err != nil { // as onnxtune bench does
				b.Fatal(err)
			}
			x := tensor.New(tensor.Float32, batch, 3, 224, 224)
			r := rand.New(rand.NewPCG(1, 2))
			for i := range x.Float32s() {
				x.Float32s()[i] = float32(r.NormFloat64())
			}
			feeds := map[string]*tensor.Tensor{g.Inputs[0].Name: x}
			if _, err := plan.Run(nil, feeds); err != nil { // warm-up, as ORT's timing has one
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := plan.Run(nil, feeds); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
