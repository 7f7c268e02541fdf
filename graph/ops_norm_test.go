package graph_test

import (
	"strings"
	"testing"

	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/tensor"
)

// TestNormORT compares the normalisation ops with ONNX Runtime: BatchNormalization in
// inference at several opsets (spatial=0 included) and in training mode with its running
// statistics, InstanceNormalization on 1-D and 3-D inputs, LayerNormalization with and
// without B and its Mean/InvStdDev outputs, GroupNormalization 18 and 21, and LRN. (ONNX Runtime lacks BatchNormalization
// 6, InstanceNormalization 1 and LRN with an even size or on other than 4-D inputs; tensor's
// TestLRNEvenSize checks the even window against ONNX's formula.)
func TestNormORT(t *testing.T) {
	bn := func(name string, opset int, attrs map[string]any, outs []string, x []int, param ...int) convORTCase {
		if param == nil {
			param = []int{x[1]}
		}
		v := convIn("var", param...)
		v.Positive = true
		return convORTCase{Name: name, Op: "BatchNormalization", Opset: opset, Attrs: attrs, Outputs: outs,
			Inputs: []convORTInput{convIn("x", x...), convIn("scale", param...), convIn("b", param...), convIn("mean", param...), v}}
	}
	ln := func(name string, attrs map[string]any, outs []string, x []int, scale []int, bias bool) convORTCase {
		c := convORTCase{Name: name, Op: "LayerNormalization", Opset: 17, Attrs: attrs, Outputs: outs,
			Inputs: []convORTInput{convIn("x", x...), convIn("scale", scale...)}}
		if bias {
			c.Inputs = append(c.Inputs, convIn("b", scale...))
		}
		return c
	}
	in3 := func(name string, opset int, x ...int) convORTCase {
		return convORTCase{Name: name, Op: "InstanceNormalization", Opset: opset, Attrs: map[string]any{"epsilon": 1e-3}, Outputs: []string{"y"},
			Inputs: []convORTInput{convIn("x", x...), convIn("scale", x[1]), convIn("b", x[1])}}
	}
	// GroupNormalization's scale and bias: one per group at opset 18, one per channel at 21.
	gn := func(name string, opset, groups int, eps float64, params int, x ...int) convORTCase {
		return convORTCase{Name: name, Op: "GroupNormalization", Opset: opset, Attrs: map[string]any{"num_groups": groups, "epsilon": eps},
			Outputs: []string{"y"}, Inputs: []convORTInput{convIn("x", x...), convIn("scale", params), convIn("b", params)}}
	}
	cases := []convORTCase{
		bn("bn15_infer", 15, map[string]any{"epsilon": 1e-3}, []string{"y"}, []int{2, 3, 4, 5}),
		bn("bn15_train", 15, map[string]any{"training_mode": 1, "momentum": 0.8}, []string{"y", "rm", "rv"}, []int{3, 4, 3, 2}),
		bn("bn14_train_2d", 14, map[string]any{"training_mode": 1}, []string{"y", "rm", "rv"}, []int{5, 3}),
		bn("bn9_train", 9, nil, []string{"y", "rm", "rv", "sm", "sv"}, []int{3, 2, 4}),
		bn("bn9_3d", 9, nil, []string{"y"}, []int{2, 3, 2, 3, 4}),
		bn("bn7_nonspatial", 7, map[string]any{"spatial": 0}, []string{"y"}, []int{2, 3, 4}, 3, 4),
		in3("instance_1d", 6, 2, 3, 7),
		in3("instance_3d", 6, 2, 2, 3, 4, 5),
		ln("ln_axis1_stats", map[string]any{"axis": 1}, []string{"y", "mean", "invstd"}, []int{2, 3, 4}, []int{3, 4}, true),
		ln("ln_last_no_bias", map[string]any{"epsilon": 1e-2}, []string{"y"}, []int{3, 5}, []int{5}, false),
		ln("ln_neg2_stats_only_mean", map[string]any{"axis": -2}, []string{"y", "mean", ""}, []int{2, 3, 4, 2}, []int{4, 2}, true),
		gn("gn18_per_group", 18, 3, 1e-5, 3, 2, 6, 3, 3),
		gn("gn21_per_channel", 21, 2, 1e-3, 6, 2, 6, 3, 3),
		gn("gn21_3d_instance_like", 21, 4, 1e-5, 4, 3, 4, 5),
		{Name: "lrn", Op: "LRN", Opset: 13, Attrs: map[string]any{"size": 5, "alpha": 0.3, "beta": 0.6, "bias": 1.5}, Outputs: []string{"y"},
			Inputs: []convORTInput{convIn("x", 2, 6, 3, 3)}},
	}
	for i := range cases {
		if cases[i].Op == "LayerNormalization" {
			cases[i].OutTypes = []string{"float32", "float32", "float32"}[:len(cases[i].Outputs)]
		}
	}
	convORT(t, cases, 1e-4)
}

// TestBatchNormContextTraining: a Context asking for training makes an inference-mode
// BatchNormalization normalise with the batch statistics, giving the same Y as
// training_mode=1.
func TestBatchNormContextTraining(t *testing.T) {
	x := make([]float32, 4*3*5)
	for i := range x {
		x[i] = float32(i%7) * 0.5
	}
	ones, zeros := []float32{1, 1, 1}, []float32{0, 0, 0}
	in := []*tensor.Tensor{tensor.From([]int{4, 3, 5}, x), tensor.From([]int{3}, ones), tensor.From([]int{3}, zeros),
		tensor.From([]int{3}, zeros), tensor.From([]int{3}, ones)}
	run := func(trainingMode int64, outputs []string, ctx *graph.Context) []*tensor.Tensor {
		t.Helper()
		n := &graph.Node{Name: "bn", OpType: "BatchNormalization", Inputs: []string{"x", "s", "b", "m", "v"}, Outputs: outputs,
			Attrs: map[string]graph.Attr{"training_mode": {Type: graph.AttrInt, Int: trainingMode}}}
		k, err := convBuild(n, 15)
		if err != nil {
			t.Fatal(err)
		}
		outs, err := k.Run(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return outs
	}
	train := run(1, []string{"y", "rm", "rv"}, &graph.Context{})
	ctxTrain := run(0, []string{"y"}, &graph.Context{Training: true})
	infer := run(0, []string{"y"}, &graph.Context{})
	if err := convClose(ctxTrain[0], train[0], 0); err != nil {
		t.Errorf("Context.Training: %v", err)
	}
	if err := convClose(infer[0], train[0], 1e-3); err == nil {
		t.Error("inference gave the training result: the test input does not tell them apart")
	}
	if err := convClose(infer[0], in[0], 1e-5); err != nil {
		t.Errorf("inference with mean 0, variance 1, scale 1 and bias 0 should be the identity: %v", err)
	}
}

// TestNormErrors: mismatched parameter shapes are errors saying what was given.
func TestNormErrors(t *testing.T) {
	f := func(shape ...int) *tensor.Tensor { return tensor.New(tensor.Float32, shape...) }
	for _, c := range []struct {
		op    string
		opset int
		in    []*tensor.Tensor
		want  string
	}{
		{"BatchNormalization", 15, []*tensor.Tensor{f(2, 3, 4), f(4), f(3), f(3), f(3)}, "scale has shape [4], want 3 values"},
		{"InstanceNormalization", 6, []*tensor.Tensor{f(2, 3, 4), f(3), f(2)}, "must hold 3 values"},
		{"LayerNormalization", 17, []*tensor.Tensor{f(2, 3, 4), f(3)}, "Scale: shape [3] does not broadcast to the normalised shape [4]"},
	} {
		n := &graph.Node{Name: "n", OpType: c.op, Inputs: make([]string, len(c.in)), Outputs: []string{"y"}}
		k, err := convBuild(n, c.opset)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := k.Run(&graph.Context{}, c.in); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got error %v, want one containing %q", c.op, err, c.want)
		}
	}
}
