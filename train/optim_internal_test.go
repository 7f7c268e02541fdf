package train

import (
	"math"
	"math/big"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/tensor"
)

// TestFMA32 checks fma32 against x*y+z computed exactly and rounded once, on random operands
// and on ones whose float64 sum would round twice.
func TestFMA32(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	one := func(x, y, z float32) {
		var p, s big.Rat
		p.Mul(new(big.Rat).SetFloat64(float64(x)), new(big.Rat).SetFloat64(float64(y)))
		s.Add(&p, new(big.Rat).SetFloat64(float64(z)))
		want, _ := s.Float32()
		if got := fma32(x, y, z); math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("fma32(%g, %g, %g): got %g, want %g", x, y, z, got, want)
		}
	}
	for i := 0; i < 200000; i++ {
		x := float32(r.NormFloat64() * math.Exp2(float64(r.IntN(40)-20)))
		y := float32(r.NormFloat64())
		z := float32(r.NormFloat64() * math.Exp2(float64(r.IntN(60)-30)))
		switch i % 4 {
		case 0:
			z = -x * y // cancellation
		case 1:
			x *= 0x1p-120 // results near and below float32's smallest normal
			z *= 0x1p-120
		}
		one(x, y, z)
	}
	// Products at a float32 halfway point of z, with tiny z-side perturbations either way.
	for i := 0; i < 100000; i++ {
		z := float32(1 + r.Float64())
		ulp := math.Nextafter32(z, 2*z) - z
		x := ulp / 2 * float32(1+r.IntN(3))
		one(x, 1+float32(r.IntN(5)-2)*0x1p-23, z)
	}
	// Double rounding: z = 1 and x*y just above half an ulp of 1 (2^-24 + 2^-48): rounding to
	// float64 first lands on the midpoint 1 + 2^-24, which float32 rounds to even (1); the
	// single rounding gives 1 + 2^-23.
	one(1+1.0/(1<<24), 1.0/(1<<24)*(1-1.0/(1<<23)), 1)
	one(float32(math.Exp2(-24)), 1+float32(math.Exp2(-23)), 1)
	one(float32(math.Exp2(-130)), 0.75, float32(math.Exp2(-140))) // subnormal result
	if got := fma32(float32(math.Inf(1)), 2, 1); !math.IsInf(float64(got), 1) {
		t.Errorf("fma32(+Inf, 2, 1): got %g, want +Inf", got)
	}
	if got := fma32(float32(math.Inf(1)), 2, float32(math.Inf(-1))); got == got {
		t.Errorf("fma32(+Inf, 2, -Inf): got %g, want NaN", got)
	}
}

// TestPowInt checks that the bias corrections use b**n as Python computes it.
func TestPowInt(t *testing.T) {
	bases := []float64{0.9, 0.999, 0.5, 0.8, 0.95, 0.99, 0.0, 0.3}
	ns := []int64{1, 2, 3, 7, 10, 100, 1000, 12345, 100000, 1 << 20}
	code := `
import sys
for b in sys.argv[1].split(","):
    for n in sys.argv[2].split(","):
        print((float(b) ** float(n)).hex())
`
	var bs, nss []string
	for _, b := range bases {
		bs = append(bs, strconv.FormatFloat(b, 'g', -1, 64))
	}
	for _, n := range ns {
		nss = append(nss, strconv.FormatInt(n, 10))
	}
	lines := strings.Fields(fixture.RunPython(t, code, strings.Join(bs, ","), strings.Join(nss, ",")))
	i := 0
	for _, b := range bases {
		for _, n := range ns {
			want, err := strconv.ParseFloat(lines[i], 64)
			if err != nil {
				t.Fatal(err)
			}
			if got := powInt(b, n); got != want {
				t.Errorf("powInt(%g, %d): got %x, want %x", b, n, got, want)
			}
			i++
		}
	}
}

// TestCosRounded checks cosRounded against Python's math.cos (glibc's cos) on the arguments
// a long cosine schedule takes. glibc's cos is not always correctly rounded (it is off by one
// ulp in some near-halfway cases, about 0.2% of these), so the test allows one ulp in 1%.
func TestCosRounded(t *testing.T) {
	const total = 20000
	code := `
import math, sys
T = int(sys.argv[1])
for s in range(0, 2 * T + 1):
    print(math.cos(math.pi * s / T).hex())
`
	lines := strings.Fields(fixture.RunPython(t, code, strconv.Itoa(total)))
	if len(lines) != 2*total+1 {
		t.Fatalf("got %d lines from Python, want %d", len(lines), 2*total+1)
	}
	differ, goDiffer := 0, 0
	for s, line := range lines {
		want, err := strconv.ParseFloat(line, 64)
		if err != nil {
			t.Fatal(err)
		}
		x := math.Pi * float64(s) / total
		if math.Cos(x) != want {
			goDiffer++
		}
		got := cosRounded(x)
		if got == want {
			continue
		}
		differ++
		if got != math.Nextafter(want, got) {
			t.Errorf("cos(pi*%d/%d): got %x, want %x (more than an ulp apart)", s, total, got, want)
		}
	}
	t.Logf("cosRounded differs from Python's math.cos by an ulp in %d of %d values (math.Cos: %d)", differ, len(lines), goDiffer)
	if differ > len(lines)/100 {
		t.Errorf("cosRounded differs from Python's math.cos in %d of %d values", differ, len(lines))
	}
}

// TestAdamVectorMatchesGo runs Adam, Adam with weight decay and AdamW through the vector
// kernel (tensor.AdamStep) and through the Go loop alone, on lengths with and without a
// tail, values spanning many magnitudes, zeros of both signs and infinities, and requires
// the same bits (NaN of any payload where both give NaN).
func TestAdamVectorMatchesGo(t *testing.T) {
	defer func() { adamVector = true }()
	r := rand.New(rand.NewPCG(3, 9))
	values := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			switch r.IntN(12) {
			case 0:
				v[i] = 0
			case 1:
				v[i] = float32(math.Copysign(0, -1))
			case 2:
				v[i] = float32(math.Inf(1 - 2*r.IntN(2)))
			default:
				v[i] = float32(r.NormFloat64() * math.Exp2(float64(r.IntN(40)-20)))
			}
		}
		return v
	}
	for _, cfg := range []OptimizerConfig{
		{Name: "adam"},
		{Name: "adam", WeightDecay: 0.01},
		{Name: "adamw", WeightDecay: 0.05, Beta1: 0.8, Beta2: 0.99, BetasSet: true, Eps: 1e-6, EpsSet: true},
	} {
		for _, n := range []int{7, 8, 1000, 70001} {
			p0, grads := values(n), [][]float32{values(n), values(n), values(n)}
			var got [2][]float32
			for k, vector := range []bool{true, false} {
				adamVector = vector
				opt, err := NewOptimizer(cfg)
				if err != nil {
					t.Fatal(err)
				}
				p := tensor.From([]int{n}, append([]float32(nil), p0...))
				for _, g := range grads {
					if err := opt.Step(map[string]*tensor.Tensor{"p": p}, map[string]*tensor.Tensor{"p": tensor.From([]int{n}, g)}, 1e-2); err != nil {
						t.Fatal(err)
					}
				}
				got[k] = p.Float32s()
			}
			for i := range got[0] {
				a, b := got[0][i], got[1][i]
				if math.Float32bits(a) != math.Float32bits(b) && !(a != a && b != b) {
					t.Fatalf("%+v, n=%d: element %d is %g with the vector kernel, %g with the Go loop", cfg, n, i, a, b)
				}
			}
		}
	}
}
