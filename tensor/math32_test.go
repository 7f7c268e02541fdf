package tensor

import (
	"math"
	"testing"
)

// math32Sweep calls f on every stride-th float32 (by bit pattern) of both signs, and on the
// special values, with stride smaller when the test is not -short.
func math32Sweep(t *testing.T, f func(x float32)) {
	stride := uint32(997)
	if testing.Short() {
		stride = 16411
	}
	for bits := uint32(0); bits < 0x7f800000; bits += stride {
		f(math.Float32frombits(bits))
		f(math.Float32frombits(bits | 1<<31))
	}
	for _, v := range []float64{0, math.Inf(1), math.Inf(-1), math.NaN(), 88.72283, 88.72284, -87.33655, -103.97208, -103.97207, 0.625, 0.62499994} {
		f(float32(v))
		f(float32(-v))
	}
}

// math32Check fails if got is not want rounded to float32 within rtol relative error, or, where
// that float32 is subnormal, within one step of the subnormals. NaN must give NaN, and
// results beyond float32's range must round to ±Inf or 0 exactly as want does.
func math32Check(t *testing.T, name string, x, got float32, want float64, rtol float64) {
	t.Helper()
	w := float32(want)
	switch {
	case math.IsNaN(want):
		if !math.IsNaN(float64(got)) {
			t.Fatalf("%s(%v) = %v, want NaN", name, x, got)
		}
	case math.IsInf(float64(w), 0) || w == 0:
		// Near the thresholds the float64 reference may round either way.
		if got != w && math.Abs(float64(got)-want) > rtol*math.Abs(want)+1.5e-45 {
			t.Fatalf("%s(%v) = %v, want %v", name, x, got, want)
		}
	case math.Abs(float64(w)) < 0x1p-126:
		if math.Abs(float64(got)-float64(w)) > 1.5e-45 {
			t.Fatalf("%s(%v) = %v, want %v (subnormal)", name, x, got, w)
		}
	default:
		if d := math.Abs(float64(got)-want) / math.Abs(want); d > rtol || math.IsNaN(float64(got)) {
			t.Fatalf("%s(%v) = %v, want %v: relative error %.3g", name, x, got, want, d)
		}
	}
}

func TestExp32Accuracy(t *testing.T) {
	worst := 0.0
	math32Sweep(t, func(x float32) {
		want := math.Exp(float64(x))
		got := exp32(x)
		math32Check(t, "exp32", x, got, want, 1e-6)
		if want > 0x1p-126 && want < math.MaxFloat32 {
			worst = max(worst, math.Abs(float64(got)-want)/want)
		}
	})
	t.Logf("worst relative error %.3g", worst)
}

func TestSigmoid32Accuracy(t *testing.T) {
	worst := 0.0
	math32Sweep(t, func(x float32) {
		want := 1 / (1 + math.Exp(-float64(x)))
		got := sigmoid32(x)
		math32Check(t, "sigmoid32", x, got, want, 1e-6)
		if want > 0x1p-126 {
			worst = max(worst, math.Abs(float64(got)-want)/want)
		}
	})
	t.Logf("worst relative error %.3g", worst)
}

func TestTanh32Accuracy(t *testing.T) {
	worst := 0.0
	math32Sweep(t, func(x float32) {
		want := math.Tanh(float64(x))
		got := tanh32(x)
		math32Check(t, "tanh32", x, got, want, 1e-6)
		if math.Signbit(float64(got)) != math.Signbit(want) && !math.IsNaN(want) {
			t.Fatalf("tanh32(%v) = %v, want %v: the sign differs", x, got, want)
		}
		if math.Abs(want) > 0x1p-126 {
			worst = max(worst, math.Abs(float64(got)-want)/math.Abs(want))
		}
	})
	t.Logf("worst relative error %.3g", worst)
}
