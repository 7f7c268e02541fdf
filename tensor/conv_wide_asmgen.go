//go:build ignore

// This file is part of the generator gemm_asmgen.go (run them together: see gemm_amd64.go's
// go:generate line): the micro-kernel of the row-wise convolution (conv_wide.go).
package main

import (
	"bytes"
	"fmt"
)

// convWideSegments is how many segments of 16 output pixels a tile of the row-wise
// convolution holds, and convWideChannels how many output channels it computes at a time:
// 24 accumulators.
const (
	convWideSegments = 3
	convWideChannels = 8
)

// genConvWide writes convWideAVX512, the micro-kernel of the row-wise convolution for a tile
// of three segments of 16 output pixels, each along one output row, by all the output
// channels, 8 at a time:
//
//	func convWideAVX512(taps int, w *float32, offs *int64, x *float32, segs *[3]int64,
//		y *float32, outs *[3]int64, flags int, bias *float32, lo, hi float32, masks int,
//		ldo int, channels int)
//
// Register 3*c+s holds channel c's 16 pixels of segment s. Each tap loads the 16 input
// values of each segment, at x + segs[s] + offs[tap] (byte offsets: the input is laid out so
// that a segment's pixels read consecutive values for every tap), broadcasts the filter
// value of each of the 8 channels (w, 8 values a tap, channels 8 at a time one after
// another) and multiplies them in: 24 FMAs for 11 loads. After the taps come the bias
// (flags&2: bias holds a value for each channel, rounded up to 8) and the clamp (flags&4, as the GEMM kernels do); channel
// c of segment s is stored to y + outs[s] + c*ldo bytes under the mask (masks >> 16s) &
// 0xffff, for the channels below channels. Then the next 8 channels, until all are done.
func genConvWide(w *bytes.Buffer) {
	const name = "convWideAVX512"
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	z := func(i int) string { return fmt.Sprintf("Z%d", i) }
	acc := func(c, s int) string { return z(c*convWideSegments + s) }
	in := []string{"Z24", "Z25", "Z26"}
	bcast := []string{"Z27", "Z28"}
	segRegs := []string{"R8", "R9", "R10"}
	outRegs := []string{"R12", "R13", "R14"}
	var accs []string
	for c := range convWideChannels {
		for s := range convWideSegments {
			accs = append(accs, acc(c, s))
		}
	}

	p("")
	p("// func %s(taps int, w *float32, offs *int64, x *float32, segs *[3]int64, y *float32, outs *[3]int64, flags int, bias *float32, lo, hi float32, masks int, ldo int, channels int)", name)
	p("TEXT ·%s(SB), NOSPLIT, $0-104", name)
	p("\tMOVQ x+24(FP), AX")
	p("\tMOVQ segs+32(FP), DX")
	for s, r := range segRegs {
		p("\tMOVQ %d(DX), %s", 8*s, r)
		p("\tADDQ AX, %s", r)
	}
	p("\tMOVQ y+40(FP), AX")
	p("\tMOVQ outs+48(FP), DX")
	for s, r := range outRegs {
		p("\tMOVQ %d(DX), %s", 8*s, r)
		p("\tADDQ AX, %s", r)
	}
	p("\tMOVQ masks+80(FP), AX")
	p("\tKMOVW AX, K1")
	p("\tSHRQ $16, AX")
	p("\tKMOVW AX, K2")
	p("\tSHRQ $16, AX")
	p("\tKMOVW AX, K3")
	p("\tMOVQ w+8(FP), SI")
	p("\tMOVQ channels+96(FP), R11")

	p("%s_run:", name)
	for i, r := range accs {
		if i < 16 {
			p("\tVXORPS Y%d, Y%d, Y%d", i, i, i)
		} else {
			p("\tVPXORD %s, %s, %s", r, r, r)
		}
	}
	p("\tMOVQ taps+0(FP), CX")
	p("\tMOVQ offs+16(FP), DI")
	p("%s_tap:", name)
	p("\tMOVQ (DI), AX")
	for s, r := range segRegs {
		p("\tVMOVUPS (%s)(AX*1), %s", r, in[s])
	}
	for c := range convWideChannels {
		b := bcast[c%2]
		p("\tVBROADCASTSS %d(SI), %s", 4*c, b)
		for s := range convWideSegments {
			p("\tVFMADD231PS %s, %s, %s", in[s], b, acc(c, s))
		}
	}
	p("\tADDQ $%d, SI", 4*convWideChannels)
	p("\tADDQ $8, DI")
	p("\tDECQ CX")
	p("\tJNE %s_tap", name)

	p("\tMOVQ flags+56(FP), AX")
	p("\tTESTQ $2, AX")
	p("\tJEQ %s_clamp", name)
	// This run's bias: bias + 4*(channels - R11).
	p("\tMOVQ channels+96(FP), DX")
	p("\tSUBQ R11, DX")
	p("\tSHLQ $2, DX")
	p("\tADDQ bias+64(FP), DX")
	for c := range convWideChannels {
		p("\tVBROADCASTSS %d(DX), Z27", 4*c)
		for s := range convWideSegments {
			p("\tVADDPS Z27, %s, %s", acc(c, s), acc(c, s))
		}
	}
	p("%s_clamp:", name)
	clamp(p, name, accs, "Z27", "Z28", "Z29", "Z30", "Z31")
	p("%s_store:", name)
	p("\tMOVQ ldo+88(FP), BX")
	p("\tXORQ DX, DX")
	for c := range convWideChannels {
		if c > 0 {
			p("\tCMPQ R11, $%d", c)
			p("\tJLE %s_stored", name)
		}
		for s, r := range outRegs {
			p("\tVMOVUPS %s, K%d, (%s)(DX*1)", acc(c, s), s+1, r)
		}
		p("\tADDQ BX, DX")
	}
	p("%s_stored:", name)
	p("\tSUBQ $%d, R11", convWideChannels)
	p("\tJLE %s_done", name)
	p("\tSHLQ $3, BX")
	for _, r := range outRegs {
		p("\tADDQ BX, %s", r)
	}
	p("\tJMP %s_run", name)
	p("%s_done:", name)
	p("\tVZEROUPPER")
	p("\tRET")
}
