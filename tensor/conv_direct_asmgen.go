//go:build ignore

// This file is part of the generator gemm_asmgen.go (run them together: see gemm_amd64.go's
// go:generate line): the direct convolution's micro-kernels.
package main

import (
	"bytes"
	"fmt"
)

// convDirectPixels is how many output pixels a direct-convolution tile holds: six, each in
// blocks registers of 16 output channels, 24 accumulators at four blocks.
const convDirectPixels = 6

// convDirectUnroll is how many taps one turn of the kernel's loop takes.
const convDirectUnroll = 2

// genConvDirect writes convDirectAVX512B<blocks>, the micro-kernel of the direct convolution
// for a tile of six output pixels by 16*blocks output channels (see conv_direct.go):
//
//	func convDirectAVX512B4(taps int, w *float32, offs *int64, x *float32, pix *[6]int64,
//		out *float32, ldo int, flags int, bias *float32, lo, hi float32, masks int,
//		part *float32, rows int)
//
// The tile lives in Z0-Z23, register p*blocks+f holding channels 16f to 16f+15 of pixel p.
// Each tap loads the blocks vectors of its filter values (w, 16*blocks a tap) and, for each
// pixel, broadcasts the input value at x + pix[p] + offs[tap] (byte offsets) and multiplies
// it into the pixel's blocks registers: 6*blocks FMAs for blocks+6 loads. A tile's taps may
// come in several runs: flags&64 adds the sums of the runs before, kept in part (the tile's
// 6*blocks registers in order), and flags&128 stores the tile's sums there and returns, for
// a run before the last. The epilogue adds the bias (flags&2) and clamps (flags&4, as the
// GEMM kernels do), then transposes each block in registers and stores channel c's pixels to
// out + c*ldo bytes for the first rows channels: pixels 0-3 under the mask masks&15, pixels
// 4-5 under (masks>>4)&3, so that a tile at the end of the output writes only its pixels.
func genConvDirect(w *bytes.Buffer, blocks int) {
	name := fmt.Sprintf("convDirectAVX512B%d", blocks)
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	z := func(i int) string { return fmt.Sprintf("Z%d", i) }
	acc := func(px, f int) string { return z(px*blocks + f) }
	filt := func(f int) string { return z(24 + f) }
	bcast := [2]string{"Z28", "Z29"}
	pixRegs := []string{"R8", "R9", "R10", "R11", "R12", "R13"}

	p("")
	p("// func %s(taps int, w *float32, offs *int64, x *float32, pix *[6]int64, out *float32, ldo int, flags int, bias *float32, lo, hi float32, masks int, part *float32, rows int)", name)
	p("TEXT ·%s(SB), NOSPLIT, $0-104", name)
	p("\tMOVQ taps+0(FP), CX")
	p("\tMOVQ w+8(FP), SI")
	p("\tMOVQ offs+16(FP), DI")
	p("\tMOVQ x+24(FP), AX")
	p("\tMOVQ pix+32(FP), DX")
	for px, r := range pixRegs {
		p("\tMOVQ %d(DX), %s", 8*px, r)
		p("\tADDQ AX, %s", r)
	}
	for px := range convDirectPixels {
		for f := range blocks {
			if r := px*blocks + f; r < 16 {
				p("\tVXORPS Y%d, Y%d, Y%d", r, r, r)
			} else {
				p("\tVPXORD %s, %s, %s", z(r), z(r), z(r))
			}
		}
	}
	tap := func(u int) {
		p("\tMOVQ %d(DI), AX", 8*u)
		for f := range blocks {
			p("\tVMOVUPS %d(SI), %s", 64*(u*blocks+f), filt(f))
		}
		for px, r := range pixRegs {
			b := bcast[px%2]
			p("\tVBROADCASTSS (%s)(AX*1), %s", r, b)
			for f := range blocks {
				p("\tVFMADD231PS %s, %s, %s", filt(f), b, acc(px, f))
			}
		}
	}
	// convDirectUnroll taps a turn of the loop, then the rest one by one.
	p("\tCMPQ CX, $%d", convDirectUnroll)
	p("\tJLT %s_tail", name)
	p("%s_loop:", name)
	for u := range convDirectUnroll {
		tap(u)
	}
	p("\tADDQ $%d, SI", convDirectUnroll*64*blocks)
	p("\tADDQ $%d, DI", 8*convDirectUnroll)
	p("\tSUBQ $%d, CX", convDirectUnroll)
	p("\tCMPQ CX, $%d", convDirectUnroll)
	p("\tJGE %s_loop", name)
	p("%s_tail:", name)
	p("\tTESTQ CX, CX")
	p("\tJEQ %s_done", name)
	p("%s_tailloop:", name)
	tap(0)
	p("\tADDQ $%d, SI", 64*blocks)
	p("\tADDQ $8, DI")
	p("\tDECQ CX")
	p("\tJNE %s_tailloop", name)
	p("%s_done:", name)

	var accs []string
	for px := range convDirectPixels {
		for f := range blocks {
			accs = append(accs, acc(px, f))
		}
	}
	p("\tMOVQ flags+56(FP), AX")
	p("\tMOVQ part+88(FP), BX")
	p("\tTESTQ $64, AX")
	p("\tJEQ %s_kept", name)
	for i, r := range accs {
		p("\tVADDPS %d(BX), %s, %s", 64*i, r, r)
	}
	p("%s_kept:", name)
	p("\tTESTQ $128, AX")
	p("\tJEQ %s_bias", name)
	for i, r := range accs {
		p("\tVMOVUPS %s, %d(BX)", r, 64*i)
	}
	p("\tVZEROUPPER")
	p("\tRET")
	p("%s_bias:", name)
	p("\tTESTQ $2, AX")
	p("\tJEQ %s_clamp", name)
	p("\tMOVQ bias+64(FP), BX")
	for f := range blocks {
		p("\tVMOVUPS %d(BX), %s", 64*f, filt(f))
		for px := range convDirectPixels {
			p("\tVADDPS %s, %s, %s", filt(f), acc(px, f), acc(px, f))
		}
	}
	p("%s_clamp:", name)
	clamp(p, name, accs, "Z27", "Z28", "Z29", "Z30", "Z31")
	p("%s_store:", name)
	p("\tMOVQ masks+80(FP), AX")
	p("\tKMOVW AX, K1")
	p("\tSHRQ $4, AX")
	p("\tKMOVW AX, K2")
	p("\tKSHIFTLW $2, K2, K3")
	p("\tMOVQ out+40(FP), DX")
	p("\tMOVQ ldo+48(FP), BX")
	p("\tMOVQ rows+96(FP), CX")
	// Per block: t0..t5 interleave pixel pairs within each 128-bit lane, u0..u3 (over the
	// pixel registers 0-3 of the block, dead by then) gather pixels 0-3 of channel 4L+j in
	// lane L of u_j, and t4, t5 hold pixels 4-5 of channels 4L, 4L+1 (t4) and 4L+2, 4L+3
	// (t5) in the low and high halves of lane L.
	t := []string{"Z24", "Z25", "Z26", "Z27", "Z28", "Z29"}
	for f := range blocks {
		for pair := range 3 {
			a, b := acc(2*pair, f), acc(2*pair+1, f)
			p("\tVUNPCKLPS %s, %s, %s", b, a, t[2*pair])
			p("\tVUNPCKHPS %s, %s, %s", b, a, t[2*pair+1])
		}
		u := []string{acc(0, f), acc(1, f), acc(2, f), acc(3, f)}
		p("\tVSHUFPS $0x44, %s, %s, %s", t[2], t[0], u[0])
		p("\tVSHUFPS $0xEE, %s, %s, %s", t[2], t[0], u[1])
		p("\tVSHUFPS $0x44, %s, %s, %s", t[3], t[1], u[2])
		p("\tVSHUFPS $0xEE, %s, %s, %s", t[3], t[1], u[3])
		for lane := range 4 {
			for j := range 4 {
				if ch := 16*f + 4*lane + j; ch > 0 {
					p("\tCMPQ CX, $%d", ch)
					p("\tJLE %s_stored", name)
				}
				p("\tVEXTRACTF32X4 $%d, %s, K1, (DX)", lane, u[j])
				if j%2 == 0 {
					p("\tVEXTRACTF32X4 $%d, %s, K2, 16(DX)", lane, t[4+j/2])
				} else {
					p("\tVEXTRACTF32X4 $%d, %s, K3, 8(DX)", lane, t[4+j/2])
				}
				p("\tADDQ BX, DX")
			}
		}
	}
	p("%s_stored:", name)
	p("\tVZEROUPPER")
	p("\tRET")
}
