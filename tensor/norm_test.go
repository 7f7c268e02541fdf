package tensor_test

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/tensor"
)

func normRandom(r *rand.Rand, n int, scale, shift float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64()*scale + shift)
	}
	return v
}

func normClose(t *testing.T, what string, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d values, want %d", what, len(got), len(want))
	}
	for i := range want {
		if math.Abs(float64(got[i])-want[i]) > tol*(1+math.Abs(want[i])) {
			t.Fatalf("%s: element %d: got %v, want %v", what, i, got[i], want[i])
		}
	}
}

// TestNormTorch compares the normalisation kernels with PyTorch: batch_norm in eval mode and
// the batch statistics of train mode, instance_norm, layer_norm (with the row statistics
// that its gradient needs) and local_response_norm.
func TestNormTorch(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	const n, c, h, w = 3, 4, 5, 6
	spatial := h * w
	// A large mean checks that the variance is not computed as E[x²] - E[x]².
	x := normRandom(r, n*c*spatial, 2, 100)
	scale, bias := normRandom(r, c, 1, 0), normRandom(r, c, 1, 0)
	mean, variance := normRandom(r, c, 1, 100), normRandom(r, c, 0.5, 2)
	lnScale, lnBias := normRandom(r, h*w, 1, 0), normRandom(r, h*w, 1, 0)
	args, _ := json.Marshal([][]float32{x, scale, bias, mean, variance, lnScale, lnBias})
	out := fixture.RunPython(t, `
import sys, json, torch
F = torch.nn.functional
x, s, b, m, v, ls, lb = (torch.tensor(a, dtype=torch.float64) for a in json.loads(sys.argv[1]))
x = x.view(3, 4, 5, 6)
xp = x.permute(1, 0, 2, 3).reshape(4, -1)
ln = F.layer_norm(x, (5, 6), ls.view(5, 6), lb.view(5, 6), eps=1e-5)
rows = x.reshape(12, 30)
print(json.dumps({
  "bn": F.batch_norm(x, m, v, s, b, training=False, eps=1e-3).flatten().tolist(),
  "bn_train": F.batch_norm(x, None, None, s, b, training=True, eps=1e-3).flatten().tolist(),
  "batch_mean": xp.mean(1).tolist(),
  "batch_var": xp.var(1, unbiased=False).tolist(),
  "in": F.instance_norm(x, weight=s, bias=b, eps=1e-2).flatten().tolist(),
  "ln": ln.flatten().tolist(),
  "ln_mean": rows.mean(1).tolist(),
  "ln_invstd": (1 / (rows.var(1, unbiased=False) + 1e-5).sqrt()).tolist(),
  "lrn": F.local_response_norm(x - 100, 3, alpha=0.5, beta=0.75, k=2.0).flatten().tolist(),
}))
`, string(args))
	var want map[string][]float64
	if err := json.Unmarshal([]byte(out), &want); err != nil {
		t.Fatal(err)
	}
	y := make([]float32, len(x))
	tensor.BatchNorm(y, x, scale, bias, mean, variance, n, c, spatial, 1e-3)
	normClose(t, "BatchNorm", y, want["bn"], 1e-5)

	bm, bv := make([]float32, c), make([]float32, c)
	tensor.BatchNormStats(bm, bv, x, n, c, spatial)
	normClose(t, "batch mean", bm, want["batch_mean"], 1e-6)
	normClose(t, "batch variance", bv, want["batch_var"], 1e-5)
	tensor.BatchNorm(y, x, scale, bias, bm, bv, n, c, spatial, 1e-3)
	// float32 x around 100 carries about 1e-5 of relative error into x - mean.
	normClose(t, "BatchNorm with batch statistics", y, want["bn_train"], 1e-3)

	tensor.InstanceNorm(y, x, scale, bias, n, c, spatial, 1e-2)
	normClose(t, "InstanceNorm", y, want["in"], 1e-3)

	lm, li := make([]float32, n*c), make([]float32, n*c)
	tensor.LayerNorm(y, lm, li, x, lnScale, lnBias, n*c, spatial, 1e-5)
	normClose(t, "LayerNorm", y, want["ln"], 1e-3)
	normClose(t, "LayerNorm mean", lm, want["ln_mean"], 1e-6)
	normClose(t, "LayerNorm inverse std", li, want["ln_invstd"], 1e-5)

	shifted := make([]float32, len(x))
	for i, v := range x {
		shifted[i] = v - 100
	}
	tensor.LRN(y, shifted, n, c, spatial, 3, 0.5, 0.75, 2)
	normClose(t, "LRN", y, want["lrn"], 1e-4)
}

// TestLRNEvenSize checks ONNX's window for an even size, where it differs from PyTorch's
// (ONNX takes floor((size-1)/2) channels before and ceil((size-1)/2) after; PyTorch the
// reverse), against the ONNX formula evaluated directly in float64.
func TestLRNEvenSize(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	const n, c, spatial, size = 2, 5, 3, 4
	x := normRandom(r, n*c*spatial, 1, 0)
	y := make([]float32, len(x))
	tensor.LRN(y, x, n, c, spatial, size, 1e-1, 0.75, 1)
	for img := range n {
		for ch := range c {
			for s := range spatial {
				sq := 0.0
				for k := max(0, ch-(size-1)/2); k <= min(c-1, ch+size/2); k++ {
					v := float64(x[(img*c+k)*spatial+s])
					sq += v * v
				}
				i := (img*c+ch)*spatial + s
				want := float64(x[i]) / math.Pow(1+1e-1/size*sq, 0.75)
				if math.Abs(float64(y[i])-want) > 1e-6 {
					t.Fatalf("image %d channel %d cell %d: got %v, want %v", img, ch, s, y[i], want)
				}
			}
		}
	}
}
