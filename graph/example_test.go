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
