package backprop_test

import (
	"testing"

	"github.com/onnxtune/onnxtune/tensor"
)

func TestActivationVJP(t *testing.T) {
	r := egRng(2)
	// kinks holds the points where the activations switch formula, for the PyTorch comparison
	// of the one-sided choices there.
	// They fill 32 elements, so that PyTorch takes its vectorised loops, those every real
	// activation goes through (its scalar tail loops differ at some kinks: see HardSwishGrad).
	kinks := egF32([]int{2, 16}, -3, -1, 0, 1, 3, -0.5, 0.5, -2.5, 2.5, 0.25, -3, -1, 0, 1, 3, -0.5,
		0.5, -2.5, 2.5, 0.25, -3, -1, 0, 1, 3, -0.5, 0.5, -2.5, 2.5, 0.25, 3, -3)
	third := float32(1.0 / 6)
	cases := []egCase{
		{name: "Relu", op: "Relu", in: []*tensor.Tensor{egAway(r, 0.05, 2, 2, 3, 4)}, wrt: []int{0}, torch: "F.relu(x[0])"},
		{name: "Relu/kinks", op: "Relu", in: []*tensor.Tensor{kinks}, wrt: []int{0}, noFD: true, torch: "F.relu(x[0])"},
		{name: "LeakyRelu", op: "LeakyRelu", attrs: egAttrs("alpha", egFloat(0.1)), in: []*tensor.Tensor{egAway(r, 0.05, 2, 2, 3, 4)}, wrt: []int{0}, torch: "F.leaky_relu(x[0], 0.1)"},
		{name: "LeakyRelu/default", op: "LeakyRelu", in: []*tensor.Tensor{kinks}, wrt: []int{0}, noFD: true, torch: "F.leaky_relu(x[0], 0.01)"},
		{name: "PRelu/channel", op: "PRelu", opset: 9, in: []*tensor.Tensor{egAway(r, 0.05, 2, 2, 3, 2, 2), egUniform(r, 0, 0.5, 3, 1, 1)}, wrt: []int{0, 1}, init: []int{1}, torch: "F.prelu(x[0], x[1].reshape(3))"},
		{name: "PRelu/legacy", op: "PRelu", opset: 6, in: []*tensor.Tensor{egAway(r, 0.05, 2, 2, 3, 4), egUniform(r, 0, 0.5, 3)}, wrt: []int{0, 1}, torch: "F.prelu(x[0], x[1])"},
		{name: "PRelu/shared", op: "PRelu", in: []*tensor.Tensor{egAway(r, 0.05, 2, 2, 3, 4), egUniform(r, 0, 0.5, 1)}, wrt: []int{0, 1}, torch: "F.prelu(x[0], x[1])"},
		{name: "PRelu/last-axis", op: "PRelu", in: []*tensor.Tensor{egAway(r, 0.05, 2, 2, 3, 4), egUniform(r, 0, 0.5, 4)}, wrt: []int{0, 1}, torch: "torch.where(x[0] > 0, x[0], x[1] * x[0])"},
		{name: "PRelu/kinks", op: "PRelu", in: []*tensor.Tensor{kinks, egF32([]int{1}, 0.25)}, wrt: []int{0, 1}, noFD: true, torch: "F.prelu(x[0], x[1])"},
		{name: "Elu", op: "Elu", attrs: egAttrs("alpha", egFloat(0.5)), in: []*tensor.Tensor{egAway(r, 0.05, 2, 2, 3, 4)}, wrt: []int{0}, torch: "F.elu(x[0], 0.5)"},
		{name: "Gelu", op: "Gelu", opset: 20, in: []*tensor.Tensor{egUniform(r, -4, 4, 2, 3, 4)}, wrt: []int{0}, torch: "F.gelu(x[0])"},
		{name: "Gelu/tanh", op: "Gelu", opset: 20, attrs: egAttrs("approximate", egString("tanh")), in: []*tensor.Tensor{egUniform(r, -4, 4, 2, 3, 4)}, wrt: []int{0}, torch: "F.gelu(x[0], approximate='tanh')"},
		{name: "Elu/kinks", op: "Elu", in: []*tensor.Tensor{kinks}, wrt: []int{0}, noFD: true, torch: "F.elu(x[0])"},
		{name: "Selu", op: "Selu", in: []*tensor.Tensor{egAway(r, 0.05, 2, 2, 3, 4)}, wrt: []int{0}, torch: "F.selu(x[0])"},
		{name: "Selu/kinks", op: "Selu", in: []*tensor.Tensor{kinks}, wrt: []int{0}, noFD: true, torch: "F.selu(x[0])"},
		{name: "Sigmoid", op: "Sigmoid", in: []*tensor.Tensor{egUniform(r, -4, 4, 2, 3, 4)}, wrt: []int{0}, torch: "torch.sigmoid(x[0])"},
		{name: "Tanh", op: "Tanh", in: []*tensor.Tensor{egUniform(r, -3, 3, 2, 3, 4)}, wrt: []int{0}, torch: "torch.tanh(x[0])"},
		{name: "Softplus", op: "Softplus", in: []*tensor.Tensor{egUniform(r, -5, 5, 2, 3, 4)}, wrt: []int{0}, torch: "F.softplus(x[0])"},
		{name: "HardSigmoid/torch", op: "HardSigmoid", attrs: egAttrs("alpha", egFloat(third), "beta", egFloat(0.5)),
			in: []*tensor.Tensor{egUniform(r, -5, 5, 2, 3, 4)}, wrt: []int{0}, torch: "F.hardsigmoid(x[0])"},
		{name: "HardSigmoid/default", op: "HardSigmoid", in: []*tensor.Tensor{egUniform(r, -4, 4, 2, 3, 4)}, wrt: []int{0}, torch: "torch.clamp(0.2 * x[0] + 0.5, 0, 1)"},
		{name: "HardSigmoid/kinks", op: "HardSigmoid", attrs: egAttrs("alpha", egFloat(third), "beta", egFloat(0.5)), in: []*tensor.Tensor{kinks}, wrt: []int{0}, noFD: true, torch: "F.hardsigmoid(x[0])"},
		{name: "HardSwish", op: "HardSwish", opset: 14, in: []*tensor.Tensor{egUniform(r, -5, 5, 2, 3, 4)}, wrt: []int{0}, torch: "F.hardswish(x[0])"},
		{name: "HardSwish/kinks", op: "HardSwish", opset: 14, in: []*tensor.Tensor{kinks}, wrt: []int{0}, noFD: true, torch: "F.hardswish(x[0])"},
		{name: "Clip/attrs", op: "Clip", opset: 6, attrs: egAttrs("min", egFloat(-0.5), "max", egFloat(0.5)),
			in: []*tensor.Tensor{egAway(r, 0.05, 1, 2, 3, 4)}, wrt: []int{0}, torch: "torch.clamp(x[0], -0.5, 0.5)"},
		{name: "Clip/attrs-kinks", op: "Clip", opset: 6, attrs: egAttrs("min", egFloat(-0.5), "max", egFloat(0.5)),
			in: []*tensor.Tensor{kinks}, wrt: []int{0}, noFD: true, torch: "torch.clamp(x[0], -0.5, 0.5)"},
		{name: "Clip/inputs", op: "Clip", opset: 12, in: []*tensor.Tensor{kinks, egF32(nil, -1), egF32(nil, 2.5)}, wrt: []int{0}, noFD: true, torch: "torch.clamp(x[0], x[1], x[2])"},
		{name: "Clip/min-only", op: "Clip", opset: 11, in: []*tensor.Tensor{egAway(r, 0.05, 1, 2, 3, 4), egF32(nil, 0)}, wrt: []int{0}, torch: "torch.clamp(x[0], min=x[1])"},
		{name: "Clip/max-only", op: "Clip", opset: 13, in: []*tensor.Tensor{egAway(r, 0.05, 1, 2, 3, 4), nil, egF32(nil, 0)}, wrt: []int{0}, torch: "torch.clamp(x[0], max=x[2])"},
		{name: "Clip/unbounded", op: "Clip", opset: 13, in: []*tensor.Tensor{egUniform(r, -1, 1, 2, 3)}, wrt: []int{0}, torch: "x[0] * 1"},
		{name: "Softmax/13-axis1", op: "Softmax", attrs: egAttrs("axis", egInt(1)), in: []*tensor.Tensor{egUniform(r, -2, 2, 2, 3, 4)}, wrt: []int{0}, torch: "torch.softmax(x[0], 1)"},
		{name: "Softmax/13-default", op: "Softmax", in: []*tensor.Tensor{egUniform(r, -2, 2, 2, 3, 4)}, wrt: []int{0}, torch: "torch.softmax(x[0], -1)"},
		{name: "Softmax/11-coerce", op: "Softmax", opset: 11, in: []*tensor.Tensor{egUniform(r, -2, 2, 2, 3, 4)}, wrt: []int{0}, torch: "torch.softmax(x[0].reshape(2, 12), 1).reshape(2, 3, 4)"},
		{name: "Softmax/11-axis2", op: "Softmax", opset: 11, attrs: egAttrs("axis", egInt(2)), in: []*tensor.Tensor{egUniform(r, -2, 2, 2, 3, 4)}, wrt: []int{0}, torch: "torch.softmax(x[0], 2)"},
		{name: "LogSoftmax/13-negative", op: "LogSoftmax", attrs: egAttrs("axis", egInt(-2)), in: []*tensor.Tensor{egUniform(r, -2, 2, 2, 3, 4)}, wrt: []int{0}, torch: "torch.log_softmax(x[0], -2)"},
		{name: "LogSoftmax/11-coerce", op: "LogSoftmax", opset: 11, in: []*tensor.Tensor{egUniform(r, -2, 2, 2, 3, 4)}, wrt: []int{0}, torch: "torch.log_softmax(x[0].reshape(2, 12), 1).reshape(2, 3, 4)"},
		{name: "LogSoftmax/11-axis0", op: "LogSoftmax", opset: 11, attrs: egAttrs("axis", egInt(0)), in: []*tensor.Tensor{egUniform(r, -2, 2, 2, 3, 4)}, wrt: []int{0}, torch: "torch.log_softmax(x[0].reshape(1, 24), 1).reshape(2, 3, 4)"},
	}
	egRun(t, cases)
}
