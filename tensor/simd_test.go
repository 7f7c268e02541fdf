package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"
)

// simdInputs returns n float32 values that mix the special cases (NaNs with assorted
// payloads and signs, signed zeros, infinities, subnormals, the extremes) with ordinary
// values, so that a kernel with an assembly path can be compared with its Go loop bit for bit.
func simdInputs(n int, seed uint64) []float32 {
	special := []uint32{
		0x7fc00000, 0xffc00000, 0x7f800001, 0xff800123, 0x7fc12345, 0xffffffff, // NaNs
		0x00000000, 0x80000000, 0x7f800000, 0xff800000, // ±0, ±Inf
		0x00000001, 0x80000001, 0x007fffff, 0x807fffff, // subnormals
		0x7f7fffff, 0xff7fffff, 0x00800000, 0x80800000, // largest and smallest normals
	}
	r := rand.New(rand.NewPCG(seed, 7))
	x := make([]float32, n)
	for i := range x {
		switch r.IntN(4) {
		case 0:
			x[i] = math.Float32frombits(special[r.IntN(len(special))])
		case 1:
			x[i] = float32(r.IntN(17) - 8) // exact bounds and ties with them
		default:
			x[i] = float32(r.NormFloat64() * 5)
		}
	}
	return x
}

// simdCompare runs f through the assembly path and through the Go loop over inputs of many
// lengths and alignments and fails on the first result whose bits differ; with anyNaN, a NaN
// may come out with another payload.
func simdCompare(t *testing.T, name string, f func(dst, src []float32), anyNaN bool) {
	t.Helper()
	defer func() { simdForceGo = false }()
	for _, n := range []int{0, 1, 7, 8, 9, 15, 16, 17, 23, 24, 31, 33, 64, 100, 1000, 40000} {
		for off := range 3 {
			x := simdInputs(n+off, uint64(n*3+off))[off:]
			got, want := make([]float32, n), make([]float32, n)
			simdForceGo = false
			f(got, x)
			simdForceGo = true
			f(want, x)
			for i := range got {
				if anyNaN && got[i] != got[i] && want[i] != want[i] {
					continue
				}
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%s, n=%d offset %d: element %d (%v, %#x): got %v (%#x), the Go loop gives %v (%#x)",
						name, n, off, i, x[i], math.Float32bits(x[i]), got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
				}
			}
		}
	}
}

func TestClampSIMDMatchesGo(t *testing.T) {
	simdCompare(t, "Relu", Relu[float32], false)
	inf := float32(math.Inf(1))
	negZero := float32(math.Copysign(0, -1))
	for _, b := range [][2]float32{{0, 6}, {-2, 3}, {negZero, 0}, {0, negZero}, {-inf, inf}, {5, -5}, {1, 1}} {
		simdCompare(t, "Clip", func(d, s []float32) { Clip(d, s, b[0], b[1]) }, false)
	}
	simdCompare(t, "Clip NaN bound", func(d, s []float32) { Clip(d, s, float32(math.NaN()), 1) }, false)
	simdCompare(t, "HardSigmoid", func(d, s []float32) { HardSigmoid(d, s, 1.0/6, 0.5) }, false)
	simdCompare(t, "HardSigmoid", func(d, s []float32) { HardSigmoid(d, s, 0.2, 0.5) }, false)
	simdCompare(t, "HardSwish", HardSwish[float32], false)
	// In place, as the graph's half-precision path runs them.
	simdCompare(t, "Clip in place", func(d, s []float32) { copy(d, s); Clip(d, d, 0, 6) }, false)
}

// TestBiasEpilogueSIMDMatchesGo covers the convolution's bias-and-clamp pass, alone and with
// a residual added in the same pass (read from the offset of the stretch in the output).
func TestBiasEpilogueSIMDMatchesGo(t *testing.T) {
	for _, clamp := range [][]float32{nil, {0, 6}, {0, float32(math.Inf(1))}, {-0.5, 0.25}} {
		g := &ConvGeom{Clamp: clamp}
		simdCompare(t, "bias epilogue", func(d, s []float32) { g.addBiasEpilogue(d, s, 0.375, 0) }, false)
		simdCompare(t, "bias and residual epilogue", func(d, s []float32) {
			res := make([]float32, len(s)+5)
			for i := range s {
				res[5+i] = s[len(s)-1-i] // the specials meet each other and ordinary values
			}
			rg := &ConvGeom{Clamp: clamp, Residual: res}
			rg.addBiasEpilogue(d, s, 0.375, 5)
		}, false)
	}
}

// TestNormSumsSIMD checks the float64 sums of BatchNorm's statistics and gradients against a
// plain loop: they add in another order, so within a few units in the last place of the
// float64 result, over lengths that leave every tail and across simdEach's blocks; and
// writing dx = g·k in the same pass gives g·k exactly and the same sums.
func TestNormSumsSIMD(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, n := range []int{0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 100, 4096, 10001} {
		g, x := make([]float32, n), make([]float32, n)
		for i := range g {
			g[i], x[i] = float32(r.NormFloat64()*3+1), float32(r.NormFloat64()*2-0.5)
		}
		m := 0.375
		var s, q, sg, sgx float64
		for i := range g {
			s += float64(x[i])
			d := float64(x[i]) - m
			q += d * d
			sg += float64(g[i])
			sgx += float64(g[i]) * d
		}
		gotSG, gotSGX := normSums(g, x, nil, m, 0, true)
		// Writing BatchNorm's affine input gradient on the way changes neither sum.
		const k = float32(-0.7)
		dx := make([]float32, n)
		if sg2, sgx2 := normSums(g, x, dx, m, k, true); sg2 != gotSG || sgx2 != gotSGX {
			t.Errorf("n=%d: sums %v %v while writing dx, %v %v without", n, sg2, sgx2, gotSG, gotSGX)
		}
		for i := range dx {
			if dx[i] != g[i]*k {
				t.Fatalf("n=%d: dx[%d] = %v, want g·k = %v", n, i, dx[i], g[i]*k)
			}
		}
		for _, c := range []struct {
			name      string
			got, want float64
		}{{"sum", sumF64(x), s}, {"squared deviations", sqDevF64(x, m), q}, {"gradient sum", gotSG, sg}, {"gradient·x̂ sum", gotSGX, sgx}} {
			if math.Abs(c.got-c.want) > 1e-12*(1+math.Abs(c.want)) {
				t.Errorf("n=%d: %s %v, the plain loop gives %v", n, c.name, c.got, c.want)
			}
		}
	}
}

// TestAffineSIMDMatchesGo covers BatchNorm's scale and shift.
func TestAffineSIMDMatchesGo(t *testing.T) {
	for _, ab := range [][2]float32{{0.5, -1.25}, {-3, 0}, {0, 2}, {float32(math.Inf(1)), 1}} {
		simdCompare(t, "affine", func(d, s []float32) { affine(d, s, ab[0], ab[1]) }, false)
	}
}

// TestGradSIMDMatchesGo covers Relu's gradient (NaN outputs pass or stop the gradient by
// their sign bit, as posMask32 decides) and BatchNorm's input gradient with batch statistics.
func TestGradSIMDMatchesGo(t *testing.T) {
	grad := func(s []float32) []float32 {
		o := make([]float32, len(s))
		for i := range s {
			o[i] = s[len(s)-1-i] * 0.5
		}
		return o
	}
	simdCompare(t, "ReluGrad", func(d, s []float32) { ReluGrad(d, grad(s), s) }, false)
	simdCompare(t, "BatchNormGrad dx", func(d, s []float32) {
		n := len(s) / 2
		if n == 0 {
			return
		}
		x := make([]float32, 2*n) // finite: one NaN would make a whole channel's sums NaN
		for i, v := range s[:2*n] {
			if !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) && math.Abs(float64(v)) < 1e30 {
				x[i] = v
			}
		}
		scale, mean, variance := []float32{1.5, -0.25}, []float32{0.125, -2}, []float32{0.5, 3}
		BatchNormGrad(d[:2*n], nil, nil, grad(x), x, scale, mean, variance, 1, 2, n, 1e-5, true)
	}, false)
}

// TestMaxSIMDMatchesGo compares the vector max with Go's builtin max, bit for bit, with the
// operands both ways round (NaN payloads and signed zeros depend on the order).
func TestMaxSIMDMatchesGo(t *testing.T) {
	other := func(s []float32) []float32 {
		o := make([]float32, len(s))
		for i := range s {
			o[i] = s[len(s)-1-i]
		}
		return o
	}
	simdCompare(t, "max", func(d, s []float32) { maxInto(d, s, other(s)) }, false)
	simdCompare(t, "max swapped", func(d, s []float32) { maxInto(d, other(s), s) }, false)
}

// TestAddSIMDMatchesGo: the vector sum of two slices (element-wise Add and the gradients'
// sums) is the Go loop's bit for bit, NaN and infinities (simdInputs') included, in place too;
// AddSame splits long slices over the cores and refuses slices of different lengths.
func TestAddSIMDMatchesGo(t *testing.T) {
	other := func(s []float32) []float32 {
		o := make([]float32, len(s))
		for i := range s {
			o[i] = s[len(s)-1-i] * 1.5
		}
		return o
	}
	simdCompare(t, "add", func(d, s []float32) { addVV(d, s, other(s)) }, true)
	simdCompare(t, "add in place", func(d, s []float32) { copy(d, s); addVV(d, d, other(s)) }, true)
	simdCompare(t, "AddSame", func(d, s []float32) { AddSame(d, s, other(s)) }, true)
	defer func() {
		if recover() == nil {
			t.Error("AddSame accepted slices of 3, 3 and 2 elements")
		}
	}()
	AddSame(make([]float32, 3), make([]float32, 3), make([]float32, 2))
}

// TestMaxPoolSeparable runs the separable float32 max pool over a sweep of kernels, strides,
// dilations, paddings and ceil modes, with the vector kernels and without, against the
// window-at-a-time loop that also computes indices: equal values, NaN where it has NaN.
func TestMaxPoolSeparable(t *testing.T) {
	defer func() { simdForceGo = false }()
	for _, ih := range []int{1, 5, 13} {
		for _, iw := range []int{1, 6, 17, 55} {
			for _, k := range []int{1, 2, 3, 5} {
				for _, s := range []int{1, 2, 3} {
					for _, d := range []int{1, 2} {
						for _, pad := range [][2]int{{0, 0}, {1, 1}, {k / 2, 0}, {0, k - 1}} {
							for _, ceil := range []bool{false, true} {
								oh := ConvOutSize(ih, k, s, d, pad[0], pad[1], ceil)
								ow := ConvOutSize(iw, k, s, d, pad[0], pad[1], ceil)
								if oh < 1 || ow < 1 || pad[0] >= k*d || pad[1] >= k*d {
									continue
								}
								g := &PoolGeom{Planes: 3, InShape: []int{ih, iw}, Kernel: []int{k, k}, OutShape: []int{oh, ow},
									Strides: []int{s, s}, Dilations: []int{d, d}, Pads: []int{pad[0], pad[0]}, PadsEnd: []int{pad[1], pad[1]}}
								x := simdInputs(g.Planes*ih*iw, uint64(ih*iw+k*s))
								want := make([]float32, g.Planes*oh*ow)
								MaxPool(want, make([]int64, len(want)), x, g, false)
								for _, force := range []bool{false, true} {
									simdForceGo = force
									got := make([]float32, len(want))
									MaxPool(got, nil, x, g, false)
									for i := range got {
										if got[i] != want[i] && (got[i] == got[i] || want[i] == want[i]) {
											t.Fatalf("%dx%d, kernel %d, stride %d, dilation %d, pads %v, ceil %v, Go loops %v: output %d: got %v, want %v",
												ih, iw, k, s, d, pad, ceil, force, i, got[i], want[i])
										}
									}
								}
							}
						}
					}
				}
			}
		}
	}
}

// TestDepthwiseSIMDMatchesGo runs depthwise convolutions over a sweep of kernel and plane
// sizes, strides and paddings (including asymmetric and oversized ones) through the vector
// kernels and through the Go loops. The two sum the taps in different orders, with and
// without fused multiply-adds, so they agree to float32 rounding of the sum of |terms|.
func TestDepthwiseSIMDMatchesGo(t *testing.T) {
	defer func() { simdForceGo = false }()
	r := rand.New(rand.NewPCG(3, 4))
	for _, k := range [][2]int{{3, 3}, {5, 5}, {1, 1}, {2, 4}, {7, 7}} {
		sizes := []int{1, 2, 5, 7, 8, 9, 14, 16, 23, 28, 33, 41}
		if k != [2]int{3, 3} {
			sizes = []int{1, 4, 7, 14, 17, 40}
		}
		for _, ih := range sizes {
			for _, iw := range sizes {
				for _, sh := range []int{1, 2, 3} {
					for _, sw := range []int{1, 2} {
						for _, pad := range [][4]int{{1, 1, 1, 1}, {0, 0, 0, 0}, {1, 0, 0, 1}, {2, 2, 3, 1}, {0, 1, 1, 0}, {3, 3, 3, 3}} {
							depthwiseCompare(t, r, k, ih, iw, sh, sw, pad, dwChannels{2, 3, 2, true, false})
						}
					}
				}
			}
		}
	}
	// One output channel per input channel, as in MobileNets: the flat kernel takes runs of
	// an image's planes in one call, across the chunks' and the images' boundaries, with and
	// without a bias, with a clamp fused.
	for _, size := range []int{1, 2, 5, 7, 14, 28, 41} {
		for _, ch := range []dwChannels{{3, 37, 1, true, false}, {2, 70, 1, false, true}} {
			depthwiseCompare(t, r, [2]int{3, 3}, size, size, 1, 1, [4]int{1, 1, 1, 1}, ch)
		}
	}
}

// dwChannels is the batch and channels of depthwiseCompare's convolution: inC input
// channels, mult output channels each, a bias or not, a fused clamp or not.
type dwChannels struct {
	batch, inC, mult int
	bias, clamp      bool
}

func depthwiseCompare(t *testing.T, r *rand.Rand, k [2]int, ih, iw, sh, sw int, pad [4]int, ch dwChannels) {
	t.Helper()
	ph, pwb, phe, pwe := pad[0], pad[1], pad[2], pad[3]
	oh := ConvOutSize(ih, k[0], sh, 1, ph, phe, false)
	ow := ConvOutSize(iw, k[1], sw, 1, pwb, pwe, false)
	if oh < 1 || ow < 1 {
		return
	}
	g := &ConvGeom{Batch: ch.batch, InC: ch.inC, OutC: ch.inC * ch.mult, Group: ch.inC, InShape: []int{ih, iw}, Kernel: k[:],
		OutShape: []int{oh, ow}, Strides: []int{sh, sw}, Dilations: []int{1, 1}, Pads: []int{ph, pwb}}
	x := make([]float32, g.Batch*g.InC*ih*iw)
	w := make([]float32, g.OutC*k[0]*k[1])
	var bias []float32
	if ch.bias {
		bias = make([]float32, g.OutC)
	}
	if ch.clamp {
		g.Clamp = []float32{-0.5, 0.5}
	}
	for _, s := range [][]float32{x, w, bias} {
		for i := range s {
			s[i] = float32(r.NormFloat64())
		}
	}
	got := make([]float32, g.Batch*g.OutC*oh*ow)
	want := make([]float32, len(got))
	simdForceGo = false
	Conv(got, x, w, bias, g)
	simdForceGo = true
	Conv(want, x, w, bias, g)
	simdForceGo = false
	for i := range got {
		tol := 1e-6 * float64(k[0]*k[1]) * (1 + math.Abs(float64(want[i])))
		if d := math.Abs(float64(got[i] - want[i])); d > tol || math.IsNaN(float64(got[i])) {
			t.Fatalf("kernel %v, input %dx%d, strides %d,%d, pads %v, %+v: output %d: got %v, the Go loops give %v", k, ih, iw, sh, sw, pad, ch, i, got[i], want[i])
		}
	}
}

func TestMath32SIMDMatchesGo(t *testing.T) {
	simdCompare(t, "Exp", Exp[float32], true)
	simdCompare(t, "Sigmoid", Sigmoid[float32], true)
	simdCompare(t, "Tanh", Tanh[float32], true)
	// Every float32 in a range where all three change fast, and the extremes.
	x := make([]float32, 0, 1<<16)
	for bits := uint32(0); bits < 0x7f800000; bits += 0x7f800000 / (1 << 15) {
		x = append(x, math.Float32frombits(bits), math.Float32frombits(bits|1<<31))
	}
	for name, f := range map[string]func(d, s []float32){"Exp": Exp[float32], "Sigmoid": Sigmoid[float32], "Tanh": Tanh[float32]} {
		got, want := make([]float32, len(x)), make([]float32, len(x))
		simdForceGo = false
		f(got, x)
		simdForceGo = true
		f(want, x)
		simdForceGo = false
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] != got[i] && want[i] != want[i]) {
				t.Fatalf("%s(%v): got %v, the Go loop gives %v", name, x[i], got[i], want[i])
			}
		}
	}
}

// TestAdamCoeffsLayout pins the field offsets that adamAVX2 reads.
func TestAdamCoeffsLayout(t *testing.T) {
	var c AdamCoeffs
	for _, f := range []struct {
		name      string
		got, want uintptr
	}{
		{"Beta1", unsafe.Offsetof(c.Beta1), 0}, {"OneMinusBeta1", unsafe.Offsetof(c.OneMinusBeta1), 4},
		{"Beta2", unsafe.Offsetof(c.Beta2), 8}, {"OneMinusBeta2", unsafe.Offsetof(c.OneMinusBeta2), 12},
		{"Eps", unsafe.Offsetof(c.Eps), 16}, {"SqrtBiasCorrection2", unsafe.Offsetof(c.SqrtBiasCorrection2), 20},
		{"NegStepSize", unsafe.Offsetof(c.NegStepSize), 24}, {"WeightDecay", unsafe.Offsetof(c.WeightDecay), 28},
		{"Decay", unsafe.Offsetof(c.Decay), 32}, {"Coupled", unsafe.Offsetof(c.Coupled), 36},
		{"Decoupled", unsafe.Offsetof(c.Decoupled), 37},
	} {
		if f.got != f.want {
			t.Errorf("AdamCoeffs.%s at offset %d; adamAVX2 reads it at %d", f.name, f.got, f.want)
		}
	}
}
