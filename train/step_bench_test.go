package train_test

import (
	"math/rand/v2"
	"testing"

	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/loss"
	"github.com/onnxtune/onnxtune/tensor"
	"github.com/onnxtune/onnxtune/train"
)

// BenchmarkStep times the training step that BENCHMARKS.md sets beside PyTorch's (resnet18
// as exported with its BatchNorm, batch 8, 224x224, cross-entropy, Adam on every weight), for
// profiling one layer of it: go test ./train -run '^$' -bench Step -cpuprofile cpu.out.
func BenchmarkStep(b *testing.B) {
	g := importModel(b, fixture.Large(b, "resnet18", "--preserve-bn"))
	expr, err := loss.ParseExpr("cross-entropy", loss.Params{})
	if err != nil {
		b.Fatal(err)
	}
	s, err := train.NewStep(g, train.StepConfig{Objective: train.Objective{Expr: expr, Output: g.Outputs[0].Name}})
	if err != nil {
		b.Fatal(err)
	}
	const batch, classes = 8, 1000
	r := rand.New(rand.NewPCG(1, 2))
	x := tensor.New(tensor.Float32, batch, 3, 224, 224)
	for i := range x.Float32s() {
		x.Float32s()[i] = float32(r.NormFloat64())
	}
	labels := make([]int64, batch)
	for i := range labels {
		labels[i] = r.Int64N(classes)
	}
	feeds := map[string]*tensor.Tensor{g.Inputs[0].Name: x}
	targets := map[string]*tensor.Tensor{g.Outputs[0].Name: tensor.From([]int{batch}, labels)}
	lr := train.DefaultLR("adam")
	for i := range b.N + 1 { // the first step, untimed, warms the pools
		if i == 1 {
			b.ResetTimer()
		}
		if _, err := s.Take(feeds, targets, loss.Labels{Classes: classes}, lr); err != nil {
			b.Fatal(err)
		}
	}
}
