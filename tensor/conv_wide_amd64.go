//go:build amd64 && !purego

package tensor

//go:noescape
func convWideAVX512(taps int, w *float32, offs *int64, x *float32, segs *[convWideSegments]int64, y *float32, outs *[convWideSegments]int64, flags int, bias *float32, lo, hi float32, masks int, ldo int, channels int)

// convWideTile computes one tile of the row-wise convolution (see convWide) for all outC
// channels, over the taps whose byte offsets are offs and whose filters w holds
// (packWideFilters): the segments whose inputs start at the byte offsets segs from x, stored
// at the byte offsets outs from y, channel planes ldo values apart, each segment's 16 pixels
// under its 16 bits of masks. ep's bias, if any, holds wideFiltersLen(outC, 1) values.
func convWideTile(w []float32, offs []int64, x []float32, segs *[convWideSegments]int64, y []float32, outs *[convWideSegments]int64, ep gemmEpilogue, masks, ldo, outC int) {
	_ = w[wideFiltersLen(outC, len(offs))-1]
	flags, bias := ep.kernelFlags(wideFiltersLen(outC, 1))
	convWideAVX512(len(offs), &w[0], &offs[0], &x[0], segs, &y[0], outs, flags, bias, ep.lo, ep.hi, masks, 4*ldo, outC)
}
