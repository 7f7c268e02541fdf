//go:build amd64 && !purego

package tensor

//go:noescape
func convDirectAVX512B1(taps int, w *float32, offs *int64, x *float32, pix *[convDirectPixels]int64, out *float32, ldo int, flags int, bias *float32, lo, hi float32, masks int, part *float32, rows int)

//go:noescape
func convDirectAVX512B2(taps int, w *float32, offs *int64, x *float32, pix *[convDirectPixels]int64, out *float32, ldo int, flags int, bias *float32, lo, hi float32, masks int, part *float32, rows int)

//go:noescape
func convDirectAVX512B3(taps int, w *float32, offs *int64, x *float32, pix *[convDirectPixels]int64, out *float32, ldo int, flags int, bias *float32, lo, hi float32, masks int, part *float32, rows int)

//go:noescape
func convDirectAVX512B4(taps int, w *float32, offs *int64, x *float32, pix *[convDirectPixels]int64, out *float32, ldo int, flags int, bias *float32, lo, hi float32, masks int, part *float32, rows int)

// convDirectSIMD reports whether the direct convolution's kernels run here: they are
// AVX-512, as the GEMM kernel they stand in for.
func convDirectSIMD() bool { return gemmCurrent() == &gemmAVX512Arch }

// convDirectTile computes one tile of the direct convolution (see convDirect), or one run of
// taps of it: n ≤ 6 output pixels, whose inputs start at the byte offsets pix from x (a last
// pixel repeated to fill the six), by rows ≤ 16*blocks output channels, over the taps whose
// byte offsets are offs and whose filters w holds, 16*blocks values a tap. The sums of the
// taps before (first false) are in part; unless the run is the last (last), the sums so far
// go back there. The last run applies ep (whose bias has 16*blocks values) and stores
// channel c's pixels to out[c*ldo:].
func convDirectTile(n, rows, blocks int, w []float32, offs []int64, x []float32, pix *[convDirectPixels]int64, out []float32, ldo int, ep gemmEpilogue, part *[convDirectPixels * convDirectChannels]float32, first, last bool) {
	taps, width := len(offs), 16*blocks
	if rows < 1 || rows > width {
		panic("tensor: convDirectTile of a tile of no rows or more than its blocks hold")
	}
	_, _ = w[taps*width-1], out[(rows-1)*ldo+n-1]
	flags, bias := ep.kernelFlags(width)
	if !first {
		flags |= 64
	}
	if !last {
		flags |= 128
	}
	masks := (1<<n - 1) & 0x3f
	// Direct calls, not through a func value, so that part stays on the caller's stack.
	switch blocks {
	case 1:
		convDirectAVX512B1(taps, &w[0], &offs[0], &x[0], pix, &out[0], ldo*4, flags, bias, ep.lo, ep.hi, masks, &part[0], rows)
	case 2:
		convDirectAVX512B2(taps, &w[0], &offs[0], &x[0], pix, &out[0], ldo*4, flags, bias, ep.lo, ep.hi, masks, &part[0], rows)
	case 3:
		convDirectAVX512B3(taps, &w[0], &offs[0], &x[0], pix, &out[0], ldo*4, flags, bias, ep.lo, ep.hi, masks, &part[0], rows)
	default:
		convDirectAVX512B4(taps, &w[0], &offs[0], &x[0], pix, &out[0], ldo*4, flags, bias, ep.lo, ep.hi, masks, &part[0], rows)
	}
}
