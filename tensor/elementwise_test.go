package tensor_test

import (
	"math/rand"
	"testing"

	"github.com/onnxtune/onnxtune/tensor"
)

func ewRandom(n int) []float32 {
	r := rand.New(rand.NewSource(int64(n)))
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

// BenchmarkElementwise measures the element-wise kernels on the shapes of ResNet-18 at batch
// 8: a residual add, a per-channel bias, the ReLU after every convolution, the global average
// over 7x7 and a classifier's softmax.
func BenchmarkElementwise(b *testing.B) {
	act := []int{8, 64, 56, 56}
	n := tensor.Size(act)
	x, y := ewRandom(n), ewRandom(n)
	bias := ewRandom(64)
	dst := make([]float32, n)
	bench := func(name string, elems int, f func()) {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(elems) * 4)
			for b.Loop() {
				f()
			}
		})
	}
	same, _ := tensor.NewBroadcast(act, act)
	bench("add-8x64x56x56", n, func() { tensor.Add(same, dst, x, y) })
	perChannel, _ := tensor.NewBroadcast(act, []int{64, 1, 1})
	bench("add-bias-8x64x56x56", n, func() { tensor.Add(perChannel, dst, x, bias) })
	bench("relu-8x64x56x56", n, func() { tensor.Relu(dst, x) })
	bench("sigmoid-8x64x56x56", n, func() { tensor.Sigmoid(dst, x) })
	pooled := make([]float32, 8*512)
	bench("reducemean-8x512x7x7", 8*512*49, func() { tensor.ReduceMean(pooled, x[:8*512*49], []int{8, 512, 7, 7}, []int{2, 3}) })
	bench("softmax-8x1000", 8000, func() { tensor.Softmax(dst[:8000], x[:8000], 8, 1000, 1) })
}
