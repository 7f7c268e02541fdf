package graph_test

import (
	"math/rand/v2"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/onnx"
	"github.com/onnxtune/onnxtune/tensor"
)

func BenchmarkConvTmpModel(b *testing.B) {
	path := os.Getenv("TMP_MODEL")
	if path == "" {
		b.Skip()
	}
	m, err := onnx.Load(path)
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
	x := tensor.New(tensor.Float32, 8, 3, 224, 224)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range x.Float32s() {
		x.Float32s()[i] = float32(r.NormFloat64())
	}
	feeds := map[string]*tensor.Tensor{g.Inputs[0].Name: x}
	plan.Run(nil, feeds)
	var times []float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := plan.Run(nil, feeds); err != nil {
			b.Fatal(err)
		}
		times = append(times, float64(time.Since(t0).Milliseconds()))
	}
	sort.Float64s(times)
	b.ReportMetric(times[0], "min-ms")
	b.ReportMetric(times[len(times)/2], "median-ms")
}
