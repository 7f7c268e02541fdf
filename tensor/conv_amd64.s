//go:build amd64 && !purego

#include "textflag.h"

// The depthwise convolution's kernels (dwVector in conv.go), eight output columns per step.
// The caller lays the input rows out so that every tap is a unit-stride vector load: at
// stride 1 each row is padded with its zero border (3×3 taps at +0, +1, +2 cells); at stride 2
// each row is split into its even cells E and odd cells O, so that the 3×3 taps of output
// column c are E[c], O[c] and E[c+1]. The 3×3 kernels keep the nine weights in registers and
// give each input row (or tap column) its own accumulator, which keeps the chains of
// dependent FMAs short; any other size walks its taps. A last partial step stores through a
// lane mask. deinterleaveAVX2 makes the stride-2 layout.

// simdTailMask: lanes [8-k, 16-k) of it select the first k lanes of a vector.
DATA simdTailMask<>+0(SB)/4, $0xffffffff
DATA simdTailMask<>+4(SB)/4, $0xffffffff
DATA simdTailMask<>+8(SB)/4, $0xffffffff
DATA simdTailMask<>+12(SB)/4, $0xffffffff
DATA simdTailMask<>+16(SB)/4, $0xffffffff
DATA simdTailMask<>+20(SB)/4, $0xffffffff
DATA simdTailMask<>+24(SB)/4, $0xffffffff
DATA simdTailMask<>+28(SB)/4, $0xffffffff
DATA simdTailMask<>+32(SB)/8, $0
DATA simdTailMask<>+40(SB)/8, $0
DATA simdTailMask<>+48(SB)/8, $0
DATA simdTailMask<>+56(SB)/8, $0
GLOBL simdTailMask<>(SB), RODATA|NOPTR, $64

// DWLOADW broadcasts the nine weights at DX into Y0-Y8.
#define DWLOADW \
	VBROADCASTSS 0(DX), Y0 \
	VBROADCASTSS 4(DX), Y1 \
	VBROADCASTSS 8(DX), Y2 \
	VBROADCASTSS 12(DX), Y3 \
	VBROADCASTSS 16(DX), Y4 \
	VBROADCASTSS 20(DX), Y5 \
	VBROADCASTSS 24(DX), Y6 \
	VBROADCASTSS 28(DX), Y7 \
	VBROADCASTSS 32(DX), Y8

// DWSUM sums the three row accumulators and the bias into Y10.
#define DWSUM \
	VADDPS Y9, Y10, Y10 \
	VADDPS Y12, Y11, Y11 \
	VADDPS Y11, Y10, Y10

// DWS1 computes the eight outputs at byte offset AX from the padded rows R8, R9, R10.
#define DWS1 \
	VMULPS      0(R8)(AX*1), Y0, Y10 \
	VMULPS      0(R9)(AX*1), Y3, Y11 \
	VMULPS      0(R10)(AX*1), Y6, Y12 \
	VFMADD231PS 4(R8)(AX*1), Y1, Y10 \
	VFMADD231PS 4(R9)(AX*1), Y4, Y11 \
	VFMADD231PS 4(R10)(AX*1), Y7, Y12 \
	VFMADD231PS 8(R8)(AX*1), Y2, Y10 \
	VFMADD231PS 8(R9)(AX*1), Y5, Y11 \
	VFMADD231PS 8(R10)(AX*1), Y8, Y12 \
	DWSUM

// DWS2 computes the eight outputs at byte offset AX from the even halves R8, R9, R10 and
// the odd halves R11, R12, R13 of the rows.
#define DWS2 \
	VMULPS      0(R8)(AX*1), Y0, Y10 \
	VMULPS      0(R9)(AX*1), Y3, Y11 \
	VMULPS      0(R10)(AX*1), Y6, Y12 \
	VFMADD231PS 0(R11)(AX*1), Y1, Y10 \
	VFMADD231PS 0(R12)(AX*1), Y4, Y11 \
	VFMADD231PS 0(R13)(AX*1), Y7, Y12 \
	VFMADD231PS 4(R8)(AX*1), Y2, Y10 \
	VFMADD231PS 4(R9)(AX*1), Y5, Y11 \
	VFMADD231PS 4(R10)(AX*1), Y8, Y12 \
	DWSUM

// DWFLAT computes the eight outputs at byte offset AX of a flat plane whose three padded
// input rows start at R8, R9 and R10, masking the wrapped column taps with R11 and R12.
#define DWFLAT \
	VMULPS      0(R8)(AX*1), Y0, Y10 \
	VMULPS      4(R8)(AX*1), Y1, Y11 \
	VMULPS      8(R8)(AX*1), Y2, Y12 \
	VFMADD231PS 0(R9)(AX*1), Y3, Y10 \
	VFMADD231PS 4(R9)(AX*1), Y4, Y11 \
	VFMADD231PS 8(R9)(AX*1), Y5, Y12 \
	VFMADD231PS 0(R10)(AX*1), Y6, Y10 \
	VFMADD231PS 4(R10)(AX*1), Y7, Y11 \
	VFMADD231PS 8(R10)(AX*1), Y8, Y12 \
	VANDPS      0(R11)(AX*1), Y10, Y10 \
	VANDPS      0(R12)(AX*1), Y12, Y12 \
	DWSUM

// DWTAILMASK loads into Y13 the mask of the BX-AX bytes (a multiple of 4, below 32) left;
// it reuses DX, whose weights are loaded by then.
#define DWTAILMASK \
	MOVQ    BX, SI \
	SUBQ    AX, SI \
	LEAQ    simdTailMask<>+32(SB), DX \
	SUBQ    SI, DX \
	VMOVDQU (DX), Y13

// func dw3x3S1AVX2(dst, r0, r1, r2 *float32, n int, w *[9]float32, bias float32)
//
// dst[c] = bias + Σ w[3i+j]*ri[c+j] over i, j < 3, for c < n; ri must hold ceil(n/8)*8+2 cells.
TEXT ·dw3x3S1AVX2(SB), NOSPLIT, $0-52
	MOVQ         dst+0(FP), DI
	MOVQ         r0+8(FP), R8
	MOVQ         r1+16(FP), R9
	MOVQ         r2+24(FP), R10
	MOVQ         n+32(FP), BX
	MOVQ         w+40(FP), DX
	DWLOADW
	VBROADCASTSS bias+48(FP), Y9
	SHLQ         $2, BX
	XORQ         AX, AX

s1_loop:
	LEAQ    32(AX), CX
	CMPQ    CX, BX
	JGT     s1_tail
	DWS1
	VMOVUPS Y10, (DI)(AX*1)
	MOVQ    CX, AX
	JMP     s1_loop

s1_tail:
	CMPQ       AX, BX
	JGE        s1_done
	DWS1
	DWTAILMASK
	VMASKMOVPS Y10, Y13, (DI)(AX*1)

s1_done:
	VZEROUPPER
	RET

// func dw3x3S2AVX2(dst, e0, e1, e2, o0, o1, o2 *float32, n int, w *[9]float32, bias float32)
//
// dst[c] = bias + Σ w[3i]*ei[c] + w[3i+1]*oi[c] + w[3i+2]*ei[c+1] over i < 3, for c < n; ei
// must hold ceil(n/8)*8+1 cells and oi ceil(n/8)*8.
TEXT ·dw3x3S2AVX2(SB), NOSPLIT, $0-76
	MOVQ         dst+0(FP), DI
	MOVQ         e0+8(FP), R8
	MOVQ         e1+16(FP), R9
	MOVQ         e2+24(FP), R10
	MOVQ         o0+32(FP), R11
	MOVQ         o1+40(FP), R12
	MOVQ         o2+48(FP), R13
	MOVQ         n+56(FP), BX
	MOVQ         w+64(FP), DX
	DWLOADW
	VBROADCASTSS bias+72(FP), Y9
	SHLQ         $2, BX
	XORQ         AX, AX

s2_loop:
	LEAQ    32(AX), CX
	CMPQ    CX, BX
	JGT     s2_tail
	DWS2
	VMOVUPS Y10, (DI)(AX*1)
	MOVQ    CX, AX
	JMP     s2_loop

s2_tail:
	CMPQ       AX, BX
	JGE        s2_done
	DWS2
	DWTAILMASK
	VMASKMOVPS Y10, Y13, (DI)(AX*1)

s2_done:
	VZEROUPPER
	RET

// dwNotFirst selects every lane but the first.
DATA dwNotFirst<>+0(SB)/4, $0
DATA dwNotFirst<>+4(SB)/4, $0xffffffff
DATA dwNotFirst<>+8(SB)/4, $0xffffffff
DATA dwNotFirst<>+12(SB)/4, $0xffffffff
DATA dwNotFirst<>+16(SB)/4, $0xffffffff
DATA dwNotFirst<>+20(SB)/4, $0xffffffff
DATA dwNotFirst<>+24(SB)/4, $0xffffffff
DATA dwNotFirst<>+28(SB)/4, $0xffffffff
GLOBL dwNotFirst<>(SB), RODATA|NOPTR, $32

// DWS2PLANE computes the eight outputs at byte offset AX of an output row of a stride-2
// plane from the split rows: even cells at R8, R9, R10 and odd cells at R11, R12, R13. Tap
// column 0 (odd[c-1], which for c = 0 is the last odd cell of the row before, where the
// padding belongs) sums into Y10, which Y14 masks; column 1 (even[c]) into Y11, column 2
// (odd[c]) into Y12.
#define DWS2PLANE \
	VMULPS      -4(R11)(AX*1), Y0, Y10 \
	VMULPS      0(R8)(AX*1), Y1, Y11 \
	VMULPS      0(R11)(AX*1), Y2, Y12 \
	VFMADD231PS -4(R12)(AX*1), Y3, Y10 \
	VFMADD231PS 0(R9)(AX*1), Y4, Y11 \
	VFMADD231PS 0(R12)(AX*1), Y5, Y12 \
	VFMADD231PS -4(R13)(AX*1), Y6, Y10 \
	VFMADD231PS 0(R10)(AX*1), Y7, Y11 \
	VFMADD231PS 0(R13)(AX*1), Y8, Y12 \
	VANDPS      Y14, Y10, Y10 \
	DWSUM

// func dw3x3S2PlaneAVX2(dst, e, o *float32, oh, ow int, w *[9]float32, bias float32)
//
// A whole output plane (oh rows of ow) of a 3×3 depthwise convolution at stride 2 with a
// padding of 1, in one call: e and o hold the rows of the padded input (input rows -1 on,
// ow cells each, one after another) split into their even and odd cells (see
// dwVector.planeS2), so that output row r reads split rows 2r, 2r+1 and 2r+2 of each. Each
// reads ceil(ow/8)*8 cells from a row's start on, o also the cell before it.
TEXT ·dw3x3S2PlaneAVX2(SB), NOSPLIT, $0-52
	MOVQ         w+40(FP), DX
	DWLOADW
	VBROADCASTSS bias+48(FP), Y9
	MOVQ         dst+0(FP), DI
	MOVQ         e+8(FP), R8
	MOVQ         o+16(FP), R11
	MOVQ         oh+24(FP), R14
	MOVQ         ow+32(FP), BX
	SHLQ         $2, BX

s2p_row:
	LEAQ    (R8)(BX*1), R9
	LEAQ    (R9)(BX*1), R10
	LEAQ    (R11)(BX*1), R12
	LEAQ    (R12)(BX*1), R13
	VMOVUPS dwNotFirst<>(SB), Y14
	XORQ    AX, AX

s2p_loop:
	LEAQ     32(AX), CX
	CMPQ     CX, BX
	JGT      s2p_tail
	DWS2PLANE
	VMOVUPS  Y10, (DI)(AX*1)
	VPCMPEQD Y14, Y14, Y14
	MOVQ     CX, AX
	JMP      s2p_loop

s2p_tail:
	CMPQ       AX, BX
	JGE        s2p_next
	DWS2PLANE
	DWTAILMASK
	VMASKMOVPS Y10, Y13, (DI)(AX*1)

s2p_next:
	ADDQ BX, DI
	MOVQ R10, R8  // two split rows down: this row's third is the next row's first
	MOVQ R13, R11
	DECQ R14
	JNZ  s2p_row
	VZEROUPPER
	RET

// func dw3x3FlatPlanesAVX2(dst, f *float32, maskL, maskR *uint32, n, iw, planes, stride int, w, bias *float32)
//
// Whole "same" stride-1 planes of n = ih*iw outputs, each as one flat loop: plane p's input
// is laid out in f from cell p*stride on, with iw+1 zeros before it and enough after, so
// that tap (i, j) of output o is f[p*stride+o+i*iw+j]; its outputs go to dst from p*n on,
// and its weights and bias are w[9p:] and bias[p]. Only the column taps wrap around the row
// ends; maskL and maskR (n rounded up to 8 lanes) clear the left taps of column 0 and the
// right taps of column iw-1. The arguments past the masks are advanced in their slots from
// plane to plane.
TEXT ·dw3x3FlatPlanesAVX2(SB), NOSPLIT, $0-80
	MOVQ dst+0(FP), DI
	MOVQ maskL+16(FP), R11
	MOVQ maskR+24(FP), R12
	MOVQ n+32(FP), BX
	SHLQ $2, BX

planes_next:
	MOVQ         w+64(FP), DX
	DWLOADW
	ADDQ         $36, DX
	MOVQ         DX, w+64(FP)
	MOVQ         bias+72(FP), CX
	VBROADCASTSS (CX), Y9
	ADDQ         $4, CX
	MOVQ         CX, bias+72(FP)
	MOVQ         iw+40(FP), CX
	SHLQ         $2, CX
	MOVQ         f+8(FP), R8
	LEAQ         (R8)(CX*1), R9
	LEAQ         (R9)(CX*1), R10
	MOVQ         stride+56(FP), CX
	LEAQ         (R8)(CX*4), CX
	MOVQ         CX, f+8(FP)
	XORQ         AX, AX

planes_loop:
	LEAQ    32(AX), CX
	CMPQ    CX, BX
	JGT     planes_tail
	DWFLAT
	VMOVUPS Y10, (DI)(AX*1)
	MOVQ    CX, AX
	JMP     planes_loop

planes_tail:
	CMPQ       AX, BX
	JGE        planes_done
	DWFLAT
	DWTAILMASK
	VMASKMOVPS Y10, Y13, (DI)(AX*1)

planes_done:
	ADDQ BX, DI
	DECQ planes+48(FP)
	JNZ  planes_next
	VZEROUPPER
	RET

// func deinterleaveAVX2(even, odd, src *float32, n int)
//
// even[m] = src[2m] and odd[m] = src[2m+1] for m < n, n a positive multiple of 8.
TEXT ·deinterleaveAVX2(SB), NOSPLIT, $0-32
	MOVQ even+0(FP), DI
	MOVQ odd+8(FP), DX
	MOVQ src+16(FP), SI
	MOVQ n+24(FP), CX
	SHLQ $2, CX
	XORQ AX, AX

deint_loop:
	VMOVUPS (SI)(AX*2), Y0
	VMOVUPS 32(SI)(AX*2), Y1
	VSHUFPS $0x88, Y1, Y0, Y2 // per 128-bit lane: s0 s2 s8 s10 | s4 s6 s12 s14
	VSHUFPS $0xdd, Y1, Y0, Y3 // the odd cells in the same order
	VPERMPD $0xd8, Y2, Y2     // swap the middle 64-bit quarters: s0 s2 s4 ... s14
	VPERMPD $0xd8, Y3, Y3
	VMOVUPS Y2, (DI)(AX*1)
	VMOVUPS Y3, (DX)(AX*1)
	ADDQ    $32, AX
	CMPQ    AX, CX
	JLT     deint_loop
	VZEROUPPER
	RET

// func dwRowAVX2(dst *float32, rows **float32, taps *int, w *float32, kh, kw, n int, bias float32)
//
// One output row of a kh×kw depthwise convolution, any kernel size:
// dst[c] = bias + Σ w[i*kw+j] * cell(rows[i] + taps[j] + 4c) over i < kh, j < kw, for c < n,
// where taps[j] is tap j's byte offset within a laid-out row (see dwVector). The weights are
// broadcast from memory as the taps go by, one accumulator per column of eight outputs.
TEXT ·dwRowAVX2(SB), NOSPLIT, $0-60
	MOVQ         dst+0(FP), DI
	MOVQ         rows+8(FP), SI
	MOVQ         taps+16(FP), DX
	MOVQ         kh+32(FP), R9
	MOVQ         kw+40(FP), R10
	MOVQ         n+48(FP), BX
	VBROADCASTSS bias+56(FP), Y15
	SHLQ         $2, BX
	XORQ         AX, AX

rowk_loop:
	CMPQ    AX, BX
	JGE     rowk_done
	VMOVAPS Y15, Y0
	MOVQ    w+24(FP), R8
	XORQ    R11, R11

rowk_rows:
	MOVQ (SI)(R11*8), R12
	ADDQ AX, R12
	XORQ R13, R13

rowk_taps:
	MOVQ         (DX)(R13*8), CX
	VBROADCASTSS (R8), Y1
	VFMADD231PS  (R12)(CX*1), Y1, Y0
	ADDQ         $4, R8
	INCQ         R13
	CMPQ         R13, R10
	JLT          rowk_taps
	INCQ         R11
	CMPQ         R11, R9
	JLT          rowk_rows

	LEAQ       32(AX), CX
	CMPQ       CX, BX
	JGT        rowk_tail
	VMOVUPS    Y0, (DI)(AX*1)
	MOVQ       CX, AX
	JMP        rowk_loop

rowk_tail:
	DWTAILMASK
	VMASKMOVPS Y0, Y13, (DI)(AX*1)

rowk_done:
	VZEROUPPER
	RET

// PMAX8(a, b, t, u) sets a = max(a, b) lane-wise as Go's builtin max does (NaN wins, +0
// above -0), the sequence of ew_amd64.s's MAX8: -min(-a, -b), each min spelt MINSS-wise
// both ways round and ORed. b, t and u are scratch; Y0 holds the sign mask.
#define PMAX8(a, b, t, u) \
	VXORPS Y0, a, a \
	VXORPS Y0, b, b \
	VMINPS b, a, t \
	VMINPS a, t, u \
	VORPS  t, u, a \
	VXORPS Y0, a, a

// VMAX3(off, a, t, u, v) sets a to the lane-wise max of the 8 cells at byte offset off (from
// 2*AX) of the rows R8, R9 and R10.
#define VMAX3(off, a, t, u, v) \
	VMOVUPS off(R8)(AX*2), a \
	VMOVUPS off(R9)(AX*2), t \
	PMAX8(a, t, u, v) \
	VMOVUPS off(R10)(AX*2), t \
	PMAX8(a, t, u, v)

// POOL3S2 sets Y1 to the max over the 3×3 windows at stride 2 of outputs AX/4 to AX/4+7:
// the columns' maxima over the three rows at cells 2c..2c+15 (Y1, Y2) and 2c+2..2c+17 (Y3,
// Y4), then the even cells of the first pair, its odd cells and the even cells of the second.
#define POOL3S2 \
	VMAX3(0, Y1, Y5, Y6, Y7) \
	VMAX3(32, Y2, Y5, Y6, Y7) \
	VMAX3(8, Y3, Y5, Y6, Y7) \
	VMAX3(40, Y4, Y5, Y6, Y7) \
	VSHUFPS $0xdd, Y2, Y1, Y8 \
	VSHUFPS $0x88, Y2, Y1, Y1 \
	VSHUFPS $0x88, Y4, Y3, Y3 \
	PMAX8(Y1, Y8, Y5, Y6) \
	PMAX8(Y1, Y3, Y5, Y6) \
	VPERMPD $0xd8, Y1, Y1

// func maxPool3x3S2AVX2(dst, r0, r1, r2 *float32, n int)
//
// dst[c] = the max of ri[2c+j] over i, j < 3, for c < n; each ri must hold 2*ceil(n/8)*8+2
// cells. (The shuffles work within 128-bit lanes, so the max is taken before the one
// permutation that puts the lanes in order.)
TEXT ·maxPool3x3S2AVX2(SB), NOSPLIT, $0-40
	MOVQ     dst+0(FP), DI
	MOVQ     r0+8(FP), R8
	MOVQ     r1+16(FP), R9
	MOVQ     r2+24(FP), R10
	MOVQ     n+32(FP), BX
	VPCMPEQD Y0, Y0, Y0
	VPSLLD   $31, Y0, Y0
	SHLQ     $2, BX
	XORQ     AX, AX

pool_loop:
	LEAQ    32(AX), CX
	CMPQ    CX, BX
	JGT     pool_tail
	POOL3S2
	VMOVUPS Y1, (DI)(AX*1)
	MOVQ    CX, AX
	JMP     pool_loop

pool_tail:
	CMPQ       AX, BX
	JGE        pool_done
	POOL3S2
	DWTAILMASK
	VMASKMOVPS Y1, Y13, (DI)(AX*1)

pool_done:
	VZEROUPPER
	RET

// maxPoolArgIndex holds the window positions 0..9 (9: none), each in all eight lanes.
DATA maxPoolArgIndex<>+0(SB)/4, $0
DATA maxPoolArgIndex<>+4(SB)/4, $0
DATA maxPoolArgIndex<>+8(SB)/4, $0
DATA maxPoolArgIndex<>+12(SB)/4, $0
DATA maxPoolArgIndex<>+16(SB)/4, $0
DATA maxPoolArgIndex<>+20(SB)/4, $0
DATA maxPoolArgIndex<>+24(SB)/4, $0
DATA maxPoolArgIndex<>+28(SB)/4, $0
DATA maxPoolArgIndex<>+32(SB)/4, $1
DATA maxPoolArgIndex<>+36(SB)/4, $1
DATA maxPoolArgIndex<>+40(SB)/4, $1
DATA maxPoolArgIndex<>+44(SB)/4, $1
DATA maxPoolArgIndex<>+48(SB)/4, $1
DATA maxPoolArgIndex<>+52(SB)/4, $1
DATA maxPoolArgIndex<>+56(SB)/4, $1
DATA maxPoolArgIndex<>+60(SB)/4, $1
DATA maxPoolArgIndex<>+64(SB)/4, $2
DATA maxPoolArgIndex<>+68(SB)/4, $2
DATA maxPoolArgIndex<>+72(SB)/4, $2
DATA maxPoolArgIndex<>+76(SB)/4, $2
DATA maxPoolArgIndex<>+80(SB)/4, $2
DATA maxPoolArgIndex<>+84(SB)/4, $2
DATA maxPoolArgIndex<>+88(SB)/4, $2
DATA maxPoolArgIndex<>+92(SB)/4, $2
DATA maxPoolArgIndex<>+96(SB)/4, $3
DATA maxPoolArgIndex<>+100(SB)/4, $3
DATA maxPoolArgIndex<>+104(SB)/4, $3
DATA maxPoolArgIndex<>+108(SB)/4, $3
DATA maxPoolArgIndex<>+112(SB)/4, $3
DATA maxPoolArgIndex<>+116(SB)/4, $3
DATA maxPoolArgIndex<>+120(SB)/4, $3
DATA maxPoolArgIndex<>+124(SB)/4, $3
DATA maxPoolArgIndex<>+128(SB)/4, $4
DATA maxPoolArgIndex<>+132(SB)/4, $4
DATA maxPoolArgIndex<>+136(SB)/4, $4
DATA maxPoolArgIndex<>+140(SB)/4, $4
DATA maxPoolArgIndex<>+144(SB)/4, $4
DATA maxPoolArgIndex<>+148(SB)/4, $4
DATA maxPoolArgIndex<>+152(SB)/4, $4
DATA maxPoolArgIndex<>+156(SB)/4, $4
DATA maxPoolArgIndex<>+160(SB)/4, $5
DATA maxPoolArgIndex<>+164(SB)/4, $5
DATA maxPoolArgIndex<>+168(SB)/4, $5
DATA maxPoolArgIndex<>+172(SB)/4, $5
DATA maxPoolArgIndex<>+176(SB)/4, $5
DATA maxPoolArgIndex<>+180(SB)/4, $5
DATA maxPoolArgIndex<>+184(SB)/4, $5
DATA maxPoolArgIndex<>+188(SB)/4, $5
DATA maxPoolArgIndex<>+192(SB)/4, $6
DATA maxPoolArgIndex<>+196(SB)/4, $6
DATA maxPoolArgIndex<>+200(SB)/4, $6
DATA maxPoolArgIndex<>+204(SB)/4, $6
DATA maxPoolArgIndex<>+208(SB)/4, $6
DATA maxPoolArgIndex<>+212(SB)/4, $6
DATA maxPoolArgIndex<>+216(SB)/4, $6
DATA maxPoolArgIndex<>+220(SB)/4, $6
DATA maxPoolArgIndex<>+224(SB)/4, $7
DATA maxPoolArgIndex<>+228(SB)/4, $7
DATA maxPoolArgIndex<>+232(SB)/4, $7
DATA maxPoolArgIndex<>+236(SB)/4, $7
DATA maxPoolArgIndex<>+240(SB)/4, $7
DATA maxPoolArgIndex<>+244(SB)/4, $7
DATA maxPoolArgIndex<>+248(SB)/4, $7
DATA maxPoolArgIndex<>+252(SB)/4, $7
DATA maxPoolArgIndex<>+256(SB)/4, $8
DATA maxPoolArgIndex<>+260(SB)/4, $8
DATA maxPoolArgIndex<>+264(SB)/4, $8
DATA maxPoolArgIndex<>+268(SB)/4, $8
DATA maxPoolArgIndex<>+272(SB)/4, $8
DATA maxPoolArgIndex<>+276(SB)/4, $8
DATA maxPoolArgIndex<>+280(SB)/4, $8
DATA maxPoolArgIndex<>+284(SB)/4, $8
DATA maxPoolArgIndex<>+288(SB)/4, $9
DATA maxPoolArgIndex<>+292(SB)/4, $9
DATA maxPoolArgIndex<>+296(SB)/4, $9
DATA maxPoolArgIndex<>+300(SB)/4, $9
DATA maxPoolArgIndex<>+304(SB)/4, $9
DATA maxPoolArgIndex<>+308(SB)/4, $9
DATA maxPoolArgIndex<>+312(SB)/4, $9
DATA maxPoolArgIndex<>+316(SB)/4, $9
GLOBL maxPoolArgIndex<>(SB), RODATA|NOPTR, $320

// ARGCELLS loads from row R the cells 2c+t of eight outputs for t = 0, 1, 2, even (t = 0)
// into Y1, odd (t = 1) into Y2 and t = 2 into Y3, each in the lane order of the in-lane
// shuffles (VPERMPD $0xd8 puts it right).
#define ARGCELLS(R) \
	VMOVUPS (R)(AX*2), Y4 \
	VMOVUPS 32(R)(AX*2), Y5 \
	VSHUFPS $0x88, Y5, Y4, Y1 \
	VSHUFPS $0xdd, Y5, Y4, Y2 \
	VMOVUPS 8(R)(AX*2), Y4 \
	VMOVUPS 40(R)(AX*2), Y5 \
	VSHUFPS $0x88, Y5, Y4, Y3

// ARGPICK makes window position K the winner where cell C equals the maximum (Y0).
#define ARGPICK(C, K) \
	VCMPPS    $0, C, Y0, Y6 \
	VBLENDVPS Y6, maxPoolArgIndex<>+(K*32)(SB), Y7, Y7

// func maxPoolArg3x3S2AVX2(idx *int32, r0, r1, r2, y *float32, n int)
//
// idx[c] = the first k (row-major over the window) for which cell ri[2c+j] (k = 3i+j) equals
// y[c], or 9 where none does, for c < n (a positive multiple of 8); each ri must hold 2n+2
// cells. The positions are taken last to first, each overwriting the winner where it
// matches, so the first match is left.
TEXT ·maxPoolArg3x3S2AVX2(SB), NOSPLIT, $0-48
	MOVQ idx+0(FP), DI
	MOVQ r0+8(FP), R8
	MOVQ r1+16(FP), R9
	MOVQ r2+24(FP), R10
	MOVQ y+32(FP), SI
	MOVQ n+40(FP), BX
	SHLQ $2, BX
	XORQ AX, AX

arg_loop:
	VMOVUPS (SI)(AX*1), Y0
	VPERMPD $0xd8, Y0, Y0
	VMOVUPS maxPoolArgIndex<>+288(SB), Y7
	ARGCELLS(R10)
	ARGPICK(Y3, 8)
	ARGPICK(Y2, 7)
	ARGPICK(Y1, 6)
	ARGCELLS(R9)
	ARGPICK(Y3, 5)
	ARGPICK(Y2, 4)
	ARGPICK(Y1, 3)
	ARGCELLS(R8)
	ARGPICK(Y3, 2)
	ARGPICK(Y2, 1)
	ARGPICK(Y1, 0)
	VPERMPD $0xd8, Y7, Y7
	VMOVDQU Y7, (DI)(AX*1)
	ADDQ    $32, AX
	CMPQ    AX, BX
	JLT     arg_loop
	VZEROUPPER
	RET
