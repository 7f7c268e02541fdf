package train_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/loss"
	"github.com/onnxtune/onnxtune/onnx"
	"github.com/onnxtune/onnxtune/tensor"
	"github.com/onnxtune/onnxtune/train"
)

// loadPlan loads a model for feeding onnxtune's data to it and plans its graph.
func loadPlan(path string) *graph.Plan {
	m, err := onnx.Load(path)
	if err != nil {
		log.Fatal(err)
	}
	g, _, err := train.ImportForData(m)
	if err != nil {
		log.Fatal(err)
	}
	plan, err := graph.NewPlan(g)
	if err != nil {
		log.Fatal(err)
	}
	return plan
}

// Compute a loss and the gradient of every trainable initializer, as PyTorch's backward()
// would: here cross-entropy on a batch of two images with classes 3 and 7.
func ExampleNewGradients() {
	plan := loadPlan("../testdata/models/tiny_cnn_bn.onnx")
	expr, err := loss.ParseExpr("cross-entropy", loss.Params{})
	if err != nil {
		log.Fatal(err)
	}
	grads, err := train.NewGradients(plan, train.Objective{Expr: expr}, nil) // nil: every trainable initializer
	if err != nil {
		log.Fatal(err)
	}
	x := tensor.New(tensor.Float32, 2, 1, 28, 28)
	y := tensor.From([]int{2}, []int64{3, 7})
	value, g, err := grads.Compute(nil, map[string]*tensor.Tensor{"x": x}, map[string]*tensor.Tensor{"logits": y}, loss.Labels{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("loss is finite: %t\n", value.Value > 0)
	fmt.Println("fc.weight gradient:", g["fc.weight"].Shape())
	// Output:
	// loss is finite: true
	// fc.weight gradient: [10 16]
}

// Fine-tune a model on an .npz of examples and write the result back to ONNX: the settings of
// `onnxtune train`, as a Config.
func ExampleRun() {
	dir, err := os.MkdirTemp("", "onnxtune-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	res, err := train.Run(context.Background(), train.Config{
		Model:     "../testdata/models/tiny_cnn_bn.onnx",
		Data:      "testdata/train28.npz",
		Loss:      "cross-entropy",
		Optimizer: train.OptimizerConfig{Name: "sgd", Momentum: 0.9},
		LR:        0.05, Epochs: 2, BatchSize: 4, Seed: 1,
		Out: filepath.Join(dir, "tuned.onnx"),
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d epochs; trained %d tensors, among them %s\n", res.Epochs, len(res.Trained), res.Trained[0])
	if _, err := os.Stat(filepath.Join(dir, "tuned.onnx")); err == nil {
		fmt.Println("wrote tuned.onnx")
	}
	// Output:
	// 2 epochs; trained 10 tensors, among them conv1.weight
	// wrote tuned.onnx
}

// Evaluate a classifier on a data set: the loss of the whole set and scikit-learn's metrics.
func ExampleEvaluate() {
	ctx := context.Background()
	plan := loadPlan("../testdata/models/tiny_cnn_bn.onnx")
	ds, err := data.Open("testdata/train28.npz", data.Options{InputName: "x"})
	if err != nil {
		log.Fatal(err)
	}
	expr, err := loss.ParseExpr("cross-entropy", loss.Params{})
	if err != nil {
		log.Fatal(err)
	}
	loader := data.NewLoader(ds, 4, false, 0, 1)
	rep, err := train.Evaluate(ctx, plan, loader.Epoch(ctx, 0), train.EvalOptions{Loss: expr, Labels: loss.Labels{Classes: 10}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d examples, %d classes in the confusion matrix\n", rep.Examples, len(rep.Confusion))
	// Output:
	// 10 examples, 10 classes in the confusion matrix
}

// Choose a binary classifier's operating point on validation images, the highest threshold
// whose sensitivity is at least 0.9, and write it into the model as a decision output.
func ExampleCalibrate() {
	ctx := context.Background()
	plan := loadPlan("testdata/binary/bin1.onnx")
	ds, err := data.Open("testdata/binary/scans_val", data.Options{Image: train.InputTransform(plan.Graph, nil, nil)})
	if err != nil {
		log.Fatal(err)
	}
	labels, err := train.DataLabels(ds, "tumor")
	if err != nil {
		log.Fatal(err)
	}
	expr, err := loss.ParseExpr("bce-logits", loss.Params{})
	if err != nil {
		log.Fatal(err)
	}
	cal, err := train.Calibrate(ctx, plan, data.NewLoader(ds, 16, false, 0, 1),
		train.EvalOptions{Loss: expr, Labels: labels, Classes: ds.Classes()},
		train.OperatingPoint{TargetSensitivity: 0.9}, "scans_val")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("positive class %s; sensitivity at least 0.9: %t\n", cal.PositiveClass, cal.Sensitivity >= 0.9)
	for _, o := range cal.Model.Graph.Outputs {
		fmt.Println("output", o.Name)
	}
	// Output:
	// positive class tumor; sensitivity at least 0.9: true
	// output logits
	// output probability
	// output decision
}
