package graph_test

import (
	"fmt"
	"log"

	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/onnx"
	"github.com/onnxtune/onnxtune/tensor"
)

// Load a model exported from PyTorch, plan its graph once, and run it on a batch: the Plan is
// safe for concurrent runs and checks each input against the model's declaration.
func ExamplePlan_Run() {
	m, err := onnx.Load("../testdata/models/tiny_cnn.onnx")
	if err != nil {
		log.Fatal(err)
	}
	g, err := onnx.Import(m)
	if err != nil {
		log.Fatal(err)
	}
	plan, err := graph.NewPlan(g)
	if err != nil {
		log.Fatal(err)
	}
	in := g.Inputs[0]
	fmt.Printf("input %s %s\n", in.Name, in.ShapeString())
	x := tensor.New(tensor.Float32, 2, 1, 28, 28) // two all-black 28x28 images
	out, err := plan.Run(nil, map[string]*tensor.Tensor{in.Name: x})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("logits", out["logits"].Shape())
	// Output:
	// input x [batch 1 28 28]
	// logits [2 10]
}

// A server runs one plan again and again: RunInto writes each run's outputs into the tensors
// of the map it got the first time, and a run after the first allocates nothing.
func ExamplePlan_RunInto() {
	m, err := onnx.Load("../testdata/models/tiny_cnn.onnx")
	if err != nil {
		log.Fatal(err)
	}
	g, err := onnx.Import(m)
	if err != nil {
		log.Fatal(err)
	}
	plan, err := graph.NewPlan(g)
	if err != nil {
		log.Fatal(err)
	}
	if err := plan.FreezeWeights(); err != nil { // as ONNX Runtime fixes a session's weights
		log.Fatal(err)
	}
	inputs := map[string]*tensor.Tensor{g.Inputs[0].Name: tensor.New(tensor.Float32, 1, 1, 28, 28)}
	outputs := map[string]*tensor.Tensor{}
	for range 3 { // a new image in inputs each time
		if err := plan.RunInto(nil, inputs, outputs); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println("logits", outputs["logits"].Shape())
	// Output:
	// logits [1 10]
}
