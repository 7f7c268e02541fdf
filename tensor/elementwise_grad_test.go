package tensor_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/onnxtune/onnxtune/tensor"
)

// gkExpand materialises an operand of shape from at the broadcast shape of bc (operand k).
func gkExpand(t *testing.T, v []float64, from, to []int) []float64 {
	t.Helper()
	bc, err := tensor.NewBroadcast(from, to)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float64, tensor.Size(to))
	tensor.Expand(bc, out, v)
	return out
}

// TestBinaryGradFiniteDifferences checks the broadcasting gradient kernels of Div and Pow, with
// both operands broadcast, against central differences of tensor.Div and tensor.Pow on the
// operands expanded to the output's shape (there every output element depends on one element
// of each operand, so one perturbation gives every partial derivative).
func TestBinaryGradFiniteDifferences(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	aShape, bShape := []int{8, 1, 100}, []int{50, 1}
	bc, err := tensor.NewBroadcast(aShape, bShape)
	if err != nil {
		t.Fatal(err)
	}
	out := bc.Shape()
	n := bc.Len()
	a := gkRandom(r, tensor.Size(aShape), 0.2, 2, nil)
	b := gkRandom(r, tensor.Size(bShape), -2, 2, []float64{0})
	g := gkRandom(r, n, -1, 1, nil)
	ae, be := gkExpand(t, a, aShape, out), gkExpand(t, b, bShape, out)
	flat, _ := tensor.NewBroadcast([]int{n}, []int{n})

	for _, c := range []struct {
		name  string
		fwd   func(bc *tensor.Broadcast, dst, a, b []float64)
		grad  func(bc *tensor.Broadcast, dst, g, a, b []float64)
		wrtB  bool
		grad3 func(bc *tensor.Broadcast, dst, g, a, b []float32)
	}{
		{"Div/b", tensor.Div[float64], tensor.DivGradB[float64], true, tensor.DivGradB[float32]},
		{"Pow/base", tensor.Pow[float64, float64], tensor.PowGradBase[float64], false, tensor.PowGradBase[float32]},
		{"Pow/exponent", tensor.Pow[float64, float64], tensor.PowGradExp[float64], true, tensor.PowGradExp[float32]},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := make([]float64, n)
			c.grad(bc, got, g, a, b)
			const h = 1e-6
			p, m := append([]float64(nil), ae...), append([]float64(nil), ae...)
			q, w := be, be
			if c.wrtB {
				p, m = ae, ae
				q, w = append([]float64(nil), be...), append([]float64(nil), be...)
			}
			for i := range n {
				if c.wrtB {
					q[i] += h
					w[i] -= h
				} else {
					p[i] += h
					m[i] -= h
				}
			}
			yp, ym := make([]float64, n), make([]float64, n)
			c.fwd(flat, yp, p, q)
			c.fwd(flat, ym, m, w)
			for i := range n {
				want := g[i] * (yp[i] - ym[i]) / (2 * h)
				if !(math.Abs(got[i]-want) <= 1e-5*math.Max(1, math.Abs(want))) {
					t.Fatalf("[%d] (a %v, b %v): got %v, want %v", i, ae[i], be[i], got[i], want)
				}
			}
			got32 := make([]float32, n)
			c.grad3(bc, got32, gkTo32(g), gkTo32(a), gkTo32(b))
			for i := range n {
				if !(math.Abs(float64(got32[i])-got[i]) <= 1e-4*math.Max(1, math.Abs(got[i]))) {
					t.Fatalf("float32 [%d]: got %v, the float64 kernel %v", i, got32[i], got[i])
				}
			}
		})
	}
}

// TestPowGradZeros pins PyTorch's values where the formulas break down: no gradient for a zero
// exponent (even at base 0) and none to the exponent at base 0 with a non-negative exponent.
func TestPowGradZeros(t *testing.T) {
	a, b := []float64{0, 0, 0, 2, 0}, []float64{0, 2, 0.5, 0, -1}
	bc, _ := tensor.NewBroadcast([]int{5}, []int{5})
	g := []float64{1, 1, 1, 1, 1}
	base, exp := make([]float64, 5), make([]float64, 5)
	tensor.PowGradBase(bc, base, g, a, b)
	tensor.PowGradExp(bc, exp, g, a, b)
	wantBase := []float64{0, 0, math.Inf(1), 0, math.Inf(-1)}
	wantExp := []float64{0, 0, 0, math.Log(2), math.Inf(-1)}
	for i := range a {
		if base[i] != wantBase[i] {
			t.Errorf("d/da %v**%v: got %v, want %v", a[i], b[i], base[i], wantBase[i])
		}
		if exp[i] != wantExp[i] && !(math.IsNaN(exp[i]) && math.IsNaN(wantExp[i])) {
			t.Errorf("d/db %v**%v: got %v, want %v", a[i], b[i], exp[i], wantExp[i])
		}
	}
}

// TestSelectGrad checks the tie-sharing gradient of Max: operands broadcast against the
// output, some of their elements tied at the maximum.
func TestSelectGrad(t *testing.T) {
	shapes := [][]int{{4, 3}, {3}, {4, 1}}
	xs := [][]float64{
		{1, 5, 2, 0, 0, 7, 3, 3, 3, 9, 1, 1},
		{1, 5, 3},
		{2, 7, 3, 9},
	}
	out := []int{4, 3}
	y := make([]float64, 12)
	for i := range y {
		y[i] = math.Inf(-1)
	}
	bcs := make([]*tensor.Broadcast, len(xs))
	for j, x := range xs {
		var err error
		if bcs[j], err = tensor.NewBroadcast(out, shapes[j]); err != nil {
			t.Fatal(err)
		}
		tensor.Max(bcs[j], y, y, x)
	}
	cnt := make([]float64, 12)
	for j, x := range xs {
		tensor.CountEqual(bcs[j], cnt, y, x)
	}
	g := make([]float64, 12)
	for i := range g {
		g[i] = float64(i + 1)
	}
	// By hand: which operands attain y at each output element.
	wantCnt := []float64{1, 2, 1, 1, 1, 2, 2, 1, 3, 2, 1, 1}
	for i := range cnt {
		if cnt[i] != wantCnt[i] {
			t.Fatalf("counts: got %v, want %v", cnt, wantCnt)
		}
	}
	var total float64
	for j, x := range xs {
		d := make([]float64, 12)
		tensor.SelectGrad(bcs[j], d, g, y, x, cnt)
		for i := range d {
			total += d[i]
		}
	}
	// Every output's gradient is shared out whole.
	var want float64
	for _, v := range g {
		want += v
	}
	if math.Abs(total-want) > 1e-12 {
		t.Errorf("the operands' gradients sum to %v, the output's to %v", total, want)
	}
	d := make([]float64, 12)
	tensor.SelectGrad(bcs[2], d, g, y, xs[2], cnt)
	wantD := []float64{1, 0, 0, 4, 5, 3, 3.5, 0, 3, 5, 11, 12}
	for i := range d {
		if math.Abs(d[i]-wantD[i]) > 1e-12 {
			t.Fatalf("operand 2: got %v, want %v", d, wantD)
		}
	}
}
