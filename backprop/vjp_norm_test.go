package backprop_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/onnxtune/onnxtune/tensor"
)

// cpnNormCases covers BatchNormalization in inference and in training (training_mode at
// opsets 14 and 15, the optional outputs at opsets 9 and 7, spatial=0, and a Context asking
// for training), InstanceNormalization on 1-D, 2-D and 3-D planes, LayerNormalization with
// positive and negative axes, without B and with broadcast Scale and B, GroupNormalization
// at opsets 21 and 18, and LRN with odd and even windows.
func cpnNormCases() []cpnCase {
	rng := rand.New(rand.NewPCG(7, 8))
	x := func(shape ...int) cpnVal { return cpnRand(rng, "X", false, 1.5, 0.7, shape...) }
	p := func(name string, shape ...int) cpnVal { return cpnRand(rng, name, true, 0.5, 1, shape...) }
	// Running statistics: a variance must be positive.
	stats := func(shape ...int) []cpnVal {
		m, v := cpnRand(rng, "M", true, 0.3, 0.5, shape...), cpnRand(rng, "V", true, 0.3, 0, shape...)
		for i := range v.data {
			v.data[i] = 0.5 + math.Abs(v.data[i])
		}
		return []cpnVal{m, v}
	}
	bn := func(name string, opset int, attrs map[string]any, outs []string, in cpnVal, param []int, torch string) cpnCase {
		vals := append([]cpnVal{in, p("S", param...), p("B", param...)}, stats(param...)...)
		return cpnCase{name: "bn-" + name, op: "BatchNormalization", opset: opset, attrs: attrs, outs: outs, in: vals,
			wrt: []string{"X", "S", "B"}, torch: torch}
	}
	// PyTorch's momentum 0.1 is ONNX's 0.9; the running statistics take no gradient anyway.
	train := func(eps string) string {
		return "F.batch_norm(T['X'], T['M'].clone(), T['V'].clone(), T['S'], T['B'], training=True, momentum=0.1, eps=" + eps + ")"
	}
	ctxTrain := bn("15-context-training", 15, nil, nil, x(3, 4, 3, 2), []int{4}, train("1e-5"))
	ctxTrain.training, ctxTrain.noFD = true, true
	frozen := bn("15-train-frozen-affine", 15, map[string]any{"training_mode": 1}, []string{"Y", "RM", "RV"}, x(4, 3, 2, 3), []int{3}, train("1e-5"))
	frozen.wrt = []string{"X"}
	affineOnly := bn("15-infer-affine-only", 15, nil, nil, x(2, 3, 4, 5), []int{3},
		"F.batch_norm(T['X'], T['M'], T['V'], T['S'], T['B'], training=False, eps=1e-5)")
	affineOnly.wrt = []string{"S", "B"}
	ln := func(name string, attrs map[string]any, outs []string, in cpnVal, scale []int, bias []int, torch string) cpnCase {
		vals := []cpnVal{in, p("S", scale...)}
		wrt := []string{"X", "S"}
		if bias != nil {
			vals = append(vals, p("B", bias...))
			wrt = append(wrt, "B")
		}
		return cpnCase{name: "ln-" + name, op: "LayerNormalization", opset: 17, attrs: attrs, outs: outs, in: vals, wrt: wrt, torch: torch}
	}
	in := func(name string, shape ...int) cpnCase {
		return cpnCase{name: "instance-" + name, op: "InstanceNormalization", opset: 6, attrs: map[string]any{"epsilon": 1e-3},
			in: []cpnVal{x(shape...), p("S", shape[1]), p("B", shape[1])}, wrt: []string{"X", "S", "B"},
			torch: "F.instance_norm(T['X'], weight=T['S'], bias=T['B'], eps=1e-3)"}
	}
	gn := func(name string, opset, groups int, eps float64, in cpnVal, params int, torch string) cpnCase {
		return cpnCase{name: "group-" + name, op: "GroupNormalization", opset: opset, attrs: map[string]any{"num_groups": groups, "epsilon": eps},
			in: []cpnVal{in, p("S", params), p("B", params)}, wrt: []string{"X", "S", "B"}, torch: torch}
	}
	lrn := func(name string, size int, alpha, beta, bias float64, in cpnVal, torch string) cpnCase {
		return cpnCase{name: "lrn-" + name, op: "LRN", attrs: map[string]any{"size": size, "alpha": alpha, "beta": beta, "bias": bias},
			in: []cpnVal{in}, wrt: []string{"X"}, torch: torch}
	}
	return []cpnCase{
		bn("15-infer", 15, map[string]any{"epsilon": 1e-3}, nil, x(2, 3, 4, 5), []int{3},
			"F.batch_norm(T['X'], T['M'], T['V'], T['S'], T['B'], training=False, eps=1e-3)"),
		affineOnly,
		bn("9-infer-3d", 9, nil, nil, x(2, 3, 2, 3, 4), []int{3},
			"F.batch_norm(T['X'], T['M'], T['V'], T['S'], T['B'], training=False, eps=1e-5)"),
		bn("15-train", 15, map[string]any{"training_mode": 1, "momentum": 0.8}, []string{"Y", "RM", "RV"}, x(3, 4, 3, 2), []int{4}, train("1e-5")),
		bn("14-train-2d", 14, map[string]any{"training_mode": 1, "epsilon": 1e-3}, []string{"Y", "RM", "RV"}, x(6, 3), []int{3}, train("1e-3")),
		bn("15-train-no-stat-outputs", 15, map[string]any{"training_mode": 1}, nil, x(2, 2, 5, 3), []int{2}, train("1e-5")),
		bn("9-train-saved-outputs", 9, nil, []string{"Y", "RM", "RV", "SM", "SV"}, x(3, 2, 4), []int{2}, train("1e-5")),
		bn("7-train-nonspatial", 7, map[string]any{"spatial": 0}, []string{"Y", "RM", "RV"}, x(5, 3, 4), []int{3, 4},
			"F.batch_norm(T['X'].reshape(5, -1), T['M'].reshape(-1).clone(), T['V'].reshape(-1).clone(), T['S'].reshape(-1), T['B'].reshape(-1), training=True, eps=1e-5).reshape(5, 3, 4)"),
		frozen,
		ctxTrain,
		in("2d", 2, 3, 4, 5),
		in("1d", 2, 3, 7),
		in("3d", 2, 2, 3, 2, 4),
		ln("last-axis", nil, nil, x(2, 3, 5), []int{5}, []int{5}, "F.layer_norm(T['X'], (5,), T['S'], T['B'], eps=1e-5)"),
		ln("axis1-stats-outputs", map[string]any{"axis": 1}, []string{"Y", "Mean", "InvStd"}, x(2, 3, 4), []int{3, 4}, []int{3, 4},
			"F.layer_norm(T['X'], (3, 4), T['S'], T['B'], eps=1e-5)"),
		ln("neg2-no-bias", map[string]any{"axis": -2, "epsilon": 1e-2}, nil, x(2, 3, 4, 2), []int{4, 2}, nil,
			"F.layer_norm(T['X'], (4, 2), T['S'], None, eps=1e-2)"),
		ln("broadcast-params", map[string]any{"axis": 1}, nil, x(2, 3, 4, 2), []int{4, 1}, []int{2},
			"F.layer_norm(T['X'], (3, 4, 2), eps=1e-5) * T['S'] + T['B']"),
		gn("21-2d", 21, 2, 1e-5, x(2, 4, 3, 3), 4, "F.group_norm(T['X'], 2, T['S'], T['B'], eps=1e-5)"),
		gn("21-1d", 21, 3, 1e-3, x(2, 6, 5), 6, "F.group_norm(T['X'], 3, T['S'], T['B'], eps=1e-3)"),
		gn("21-one-group", 21, 1, 1e-5, x(3, 3, 4), 3, "F.group_norm(T['X'], 1, T['S'], T['B'], eps=1e-5)"),
		gn("21-instance-like", 21, 4, 1e-5, x(2, 4, 2, 3), 4, "F.group_norm(T['X'], 4, T['S'], T['B'], eps=1e-5)"),
		// Opset 18: one scale and bias per group, shared by its channels.
		gn("18-per-group", 18, 2, 1e-5, x(2, 4, 3, 2), 2,
			"F.group_norm(T['X'], 2, T['S'].repeat_interleave(2), T['B'].repeat_interleave(2), eps=1e-5)"),
		lrn("size3", 3, 0.02, 0.75, 2, x(2, 7, 3, 4), "F.local_response_norm(T['X'], 3, alpha=0.02, beta=0.75, k=2.0)"),
		lrn("size5", 5, 0.3, 0.6, 1.5, x(2, 6, 3, 3), "F.local_response_norm(T['X'], 5, alpha=0.3, beta=0.6, k=1.5)"),
		lrn("size1-3d", 1, 0.5, 0.9, 1, x(1, 3, 2, 2, 3), "F.local_response_norm(T['X'], 1, alpha=0.5, beta=0.9, k=1.0)"),
		// PyTorch centres an even window one channel lower than ONNX: finite differences only.
		lrn("size4-even", 4, 0.4, 0.75, 1, x(2, 6, 3, 2), ""),
		lrn("2d-input", 3, 0.4, 0.75, 1, x(3, 5), ""),
	}
}

// TestNormVJPFiniteDifferences checks the normalisations in float64.
func TestNormVJPFiniteDifferences(t *testing.T) {
	cpnFD(t, cpnNormCases(), tensor.Float64, 0, 1e-6, 0)
}

// TestNormVJPTorch compares the normalisations' gradients with torch.autograd through
// batch_norm (training False and True), instance_norm, layer_norm and local_response_norm.
func TestNormVJPTorch(t *testing.T) {
	cpnTorch(t, cpnNormCases(), 1e-5)
}
