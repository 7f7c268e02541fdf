package tensor_test

import (
	"fmt"
	"testing"

	"github.com/onnxtune/onnxtune/tensor"
)

// BenchmarkActivation measures the activations of MobileNet and EfficientNet at batch 8 on
// their largest tensor: ReLU6 (Clip), HardSwish and HardSigmoid, Sigmoid (SiLU), Tanh, Exp,
// and a squeeze-excitation gate (a per-channel multiply).
func BenchmarkActivation(b *testing.B) {
	act := []int{8, 96, 112, 112}
	n := tensor.Size(act)
	x := ewRandom(n)
	dst := make([]float32, n)
	bench := func(name string, f func()) {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(n) * 4)
			for b.Loop() {
				f()
			}
		})
	}
	bench("clip6-8x96x112x112", func() { tensor.Clip(dst, x, 0, 6) })
	bench("hardswish-8x96x112x112", func() { tensor.HardSwish(dst, x) })
	bench("hardsigmoid-8x96x112x112", func() { tensor.HardSigmoid(dst, x, 1.0/6, 0.5) })
	bench("sigmoid-8x96x112x112", func() { tensor.Sigmoid(dst, x) })
	bench("tanh-8x96x112x112", func() { tensor.Tanh(dst, x) })
	bench("exp-8x96x112x112", func() { tensor.Exp(dst, x) })
	gate := ewRandom(8 * 96)
	se, _ := tensor.NewBroadcast(act, []int{8, 96, 1, 1})
	bench("mul-se-8x96x112x112", func() { tensor.Mul(se, dst, x, gate) })
}

// BenchmarkSqueezeExcite measures the per-channel gate multiply of squeeze-excitation
// blocks, from the first stage's planes to the last's.
func BenchmarkSqueezeExcite(b *testing.B) {
	for _, s := range [][]int{{8, 96, 112, 112}, {8, 240, 28, 28}, {8, 960, 7, 7}} {
		n := tensor.Size(s)
		x, dst := ewRandom(n), make([]float32, n)
		gate := ewRandom(s[0] * s[1])
		bc, _ := tensor.NewBroadcast(s, []int{s[0], s[1], 1, 1})
		b.Run(fmt.Sprintf("mul-%dx%dx%dx%d", s[0], s[1], s[2], s[3]), func(b *testing.B) {
			b.SetBytes(int64(n) * 4)
			for b.Loop() {
				tensor.Mul(bc, dst, x, gate)
			}
		})
	}
}
