//go:build amd64 && !purego

#include "textflag.h"

// The transforms of Winograd's F(2×2, 3×3) (conv_winograd.go), eight tiles per step.

// WINOT computes one row q of T = Bᵀ d for eight tiles: Yj = d_aj OP d_bj for the columns
// j < 4 of the patches, where a patch row's columns 0-3 are its row's even cells E[k], odd
// cells O[k], E[k+1] and O[k+1]. EA, OA, EB and OB address rows a and b at k, and EA1 ...
// OB1 the same rows one cell on.
#define WINOT(OP, EA, OA, EB, OB, EA1, OA1, EB1, OB1) \
	VMOVUPS EA, Y0 \
	OP      EB, Y0, Y0 \
	VMOVUPS OA, Y1 \
	OP      OB, Y1, Y1 \
	VMOVUPS EA1, Y2 \
	OP      EB1, Y2, Y2 \
	VMOVUPS OA1, Y3 \
	OP      OB1, Y3, Y3

// WINOV stores row q of V = T B at Q, Q+S, Q+2S and Q+3S (S = R10, 3S = R11):
// (t0 - t2, t1 + t2, t2 - t1, t1 - t3).
#define WINOV(Q) \
	VSUBPS  Y2, Y0, Y4 \
	VADDPS  Y2, Y1, Y5 \
	VSUBPS  Y1, Y2, Y6 \
	VSUBPS  Y3, Y1, Y7 \
	VMOVUPS Y4, (Q) \
	VMOVUPS Y5, (Q)(R10*1) \
	VMOVUPS Y6, (Q)(R10*2) \
	VMOVUPS Y7, (Q)(R11*1)

// func winogradInputAVX2(v *float32, stride int, eo *float32, rowStride, n int)
//
// For tiles k < n (a positive multiple of 8) writes the 16 values of Bᵀ d B, value ξ at
// v + ξ*stride + k (strides in floats), where patch row i of tile k is E_i[k], O_i[k],
// E_i[k+1], O_i[k+1] and E_i, O_i are rows 2i and 2i+1 of eo, rowStride apart. Row q of Bᵀ d
// is d_0 - d_2, d_1 + d_2, d_2 - d_1, d_1 - d_3 for q = 0..3.
TEXT ·winogradInputAVX2(SB), NOSPLIT, $0-40
	MOVQ v+0(FP), DI
	MOVQ stride+8(FP), R10
	MOVQ eo+16(FP), R8
	MOVQ rowStride+24(FP), DX
	MOVQ n+32(FP), CX
	SHLQ $2, R10             // S in bytes
	LEAQ (R10)(R10*2), R11   // 3S
	SHLQ $2, DX              // row stride in bytes
	LEAQ (DX)(DX*2), BX      // 3 rows
	LEAQ (R8)(DX*4), R9      // rows 4-7: E2 O2 E3 O3
	SHRQ $3, CX

wi_loop:
	MOVQ DI, SI
	// q = 0: d0 - d2 (E0 O0 against E2 O2)
	WINOT(VSUBPS, (R8), (R8)(DX*1), (R9), (R9)(DX*1), 4(R8), 4(R8)(DX*1), 4(R9), 4(R9)(DX*1))
	WINOV(SI)
	LEAQ (SI)(R10*4), SI
	// q = 1: d1 + d2 (E1 O1 and E2 O2)
	WINOT(VADDPS, (R8)(DX*2), (R8)(BX*1), (R9), (R9)(DX*1), 4(R8)(DX*2), 4(R8)(BX*1), 4(R9), 4(R9)(DX*1))
	WINOV(SI)
	LEAQ (SI)(R10*4), SI
	// q = 2: d2 - d1
	WINOT(VSUBPS, (R9), (R9)(DX*1), (R8)(DX*2), (R8)(BX*1), 4(R9), 4(R9)(DX*1), 4(R8)(DX*2), 4(R8)(BX*1))
	WINOV(SI)
	LEAQ (SI)(R10*4), SI
	// q = 3: d1 - d3 (E1 O1 against E3 O3)
	WINOT(VSUBPS, (R8)(DX*2), (R8)(BX*1), (R9)(DX*2), (R9)(BX*1), 4(R8)(DX*2), 4(R8)(BX*1), 4(R9)(DX*2), 4(R9)(BX*1))
	WINOV(SI)
	ADDQ $32, DI
	ADDQ $32, R8
	ADDQ $32, R9
	DECQ CX
	JNZ  wi_loop
	VZEROUPPER
	RET

// WINOS loads column j of M (planes j, 4+j, 8+j, 12+j at A, B, C, D) and leaves
// s0 = m0 + m1 + m2 in S0 and s1 = m1 - m2 - m3 in S1.
#define WINOS(A, B, C, D, S0, S1) \
	VMOVUPS B, Y8 \
	VMOVUPS C, Y9 \
	VADDPS  A, Y8, S0 \
	VADDPS  Y9, S0, S0 \
	VSUBPS  Y9, Y8, S1 \
	VSUBPS  D, S1, S1

// WINOROW interleaves y0 (even columns) and y1 (odd columns) of eight tiles into the 16
// cells at P.
#define WINOROW(Y0_, Y1_, P) \
	VUNPCKLPS  Y1_, Y0_, Y10 \
	VUNPCKHPS  Y1_, Y0_, Y11 \
	VPERM2F128 $0x20, Y11, Y10, Y8 \
	VPERM2F128 $0x31, Y11, Y10, Y9 \
	VMOVUPS    Y8, (P) \
	VMOVUPS    Y9, 32(P)

// func winogradOutputAVX2(row0, row1, m *float32, stride, n int)
//
// For tiles k < n (a positive multiple of 8) writes the 2×2 block Aᵀ M A of tile k, where
// value ξ of M is at m + ξ*stride + k (in floats), to row0[2k], row0[2k+1], row1[2k] and
// row1[2k+1]; Aᵀ = [1 1 1 0; 0 1 -1 -1].
TEXT ·winogradOutputAVX2(SB), NOSPLIT, $0-40
	MOVQ row0+0(FP), DI
	MOVQ row1+8(FP), SI
	MOVQ m+16(FP), R8
	MOVQ stride+24(FP), R10
	MOVQ n+32(FP), CX
	SHLQ $2, R10
	LEAQ (R10)(R10*2), R11
	LEAQ (R8)(R10*4), R9  // planes 4-7
	LEAQ (R9)(R10*4), R12 // planes 8-11
	LEAQ (R12)(R10*4), R13 // planes 12-15
	SHRQ $3, CX

wo_loop:
	WINOS((R8), (R9), (R12), (R13), Y0, Y4)
	WINOS((R8)(R10*1), (R9)(R10*1), (R12)(R10*1), (R13)(R10*1), Y1, Y5)
	WINOS((R8)(R10*2), (R9)(R10*2), (R12)(R10*2), (R13)(R10*2), Y2, Y6)
	WINOS((R8)(R11*1), (R9)(R11*1), (R12)(R11*1), (R13)(R11*1), Y3, Y7)
	// y00 = s00 + s01 + s02, y01 = s01 - s02 - s03, and the same of s1 for row 1.
	VADDPS Y1, Y0, Y12
	VADDPS Y2, Y12, Y12
	VSUBPS Y2, Y1, Y13
	VSUBPS Y3, Y13, Y13
	VADDPS Y5, Y4, Y14
	VADDPS Y6, Y14, Y14
	VSUBPS Y6, Y5, Y15
	VSUBPS Y7, Y15, Y15
	WINOROW(Y12, Y13, DI)
	WINOROW(Y14, Y15, SI)
	ADDQ $64, DI
	ADDQ $64, SI
	ADDQ $32, R8
	ADDQ $32, R9
	ADDQ $32, R12
	ADDQ $32, R13
	DECQ CX
	JNZ  wo_loop
	VZEROUPPER
	RET

// WINOG stores row i of (A dY) Aᵀ, from the row (p, q) of A dY in P and Q, at R, R+S, R+2S
// and R+3S (S = R10, 3S = R11): (p, p + q, p - q, -q). Y15 holds zeros.
#define WINOG(P, Q, R) \
	VADDPS  Q, P, Y4 \
	VSUBPS  Q, P, Y5 \
	VSUBPS  Q, Y15, Y6 \
	VMOVUPS P, (R) \
	VMOVUPS Y4, (R)(R10*1) \
	VMOVUPS Y5, (R)(R10*2) \
	VMOVUPS Y6, (R)(R11*1)

// func winogradOutputGradAVX2(v *float32, stride int, eo *float32, rowStride, n int)
//
// For tiles k < n (a positive multiple of 8) writes the 16 values of A dY Aᵀ, value ξ at
// v + ξ*stride + k (strides in floats), where tile k's block is [a b; c d] = [E0[k] O0[k];
// E1[k] O1[k]], the rows of eo rowStride apart. The rows of A dY are (a, b), (a + c, b + d),
// (a - c, b - d) and (-c, -d).
TEXT ·winogradOutputGradAVX2(SB), NOSPLIT, $0-40
	MOVQ   v+0(FP), DI
	MOVQ   stride+8(FP), R10
	MOVQ   eo+16(FP), R8
	MOVQ   rowStride+24(FP), DX
	MOVQ   n+32(FP), CX
	SHLQ   $2, R10           // S in bytes
	LEAQ   (R10)(R10*2), R11 // 3S
	SHLQ   $2, DX            // row stride in bytes
	LEAQ   (DX)(DX*2), BX    // 3 rows
	SHRQ   $3, CX
	VXORPS Y15, Y15, Y15

wg_loop:
	VMOVUPS (R8), Y0        // a
	VMOVUPS (R8)(DX*1), Y1  // b
	VMOVUPS (R8)(DX*2), Y2  // c
	VMOVUPS (R8)(BX*1), Y3  // d
	MOVQ    DI, SI
	WINOG(Y0, Y1, SI)
	LEAQ    (SI)(R10*4), SI
	VADDPS  Y2, Y0, Y8
	VADDPS  Y3, Y1, Y9
	WINOG(Y8, Y9, SI)
	LEAQ    (SI)(R10*4), SI
	VSUBPS  Y2, Y0, Y8
	VSUBPS  Y3, Y1, Y9
	WINOG(Y8, Y9, SI)
	LEAQ    (SI)(R10*4), SI
	VSUBPS  Y2, Y15, Y8
	VSUBPS  Y3, Y15, Y9
	WINOG(Y8, Y9, SI)
	ADDQ    $32, DI
	ADDQ    $32, R8
	DECQ    CX
	JNZ     wg_loop
	VZEROUPPER
	RET

// The transforms of Winograd's F(4×4, 3×3) (conv_winograd4.go), eight tiles per step, in
// two passes over the tiles' 6×6 values: down the columns into 36 vectors of scratch, then
// along its rows. Y13, Y14 and Y15 hold 4, 2 and 8 in every lane.

DATA winograd4Consts<>+0(SB)/4, $0x40800000 // 4
DATA winograd4Consts<>+4(SB)/4, $0x40000000 // 2
DATA winograd4Consts<>+8(SB)/4, $0x41000000 // 8
GLOBL winograd4Consts<>(SB), RODATA|NOPTR, $12

// deinterleave4's lane order: after the in-lane transposes, cell k of a phase is in lane
// (k%2)*4 + k/2.
DATA winograd4Gather<>+0(SB)/4, $0
DATA winograd4Gather<>+4(SB)/4, $4
DATA winograd4Gather<>+8(SB)/4, $1
DATA winograd4Gather<>+12(SB)/4, $5
DATA winograd4Gather<>+16(SB)/4, $2
DATA winograd4Gather<>+20(SB)/4, $6
DATA winograd4Gather<>+24(SB)/4, $3
DATA winograd4Gather<>+28(SB)/4, $7
GLOBL winograd4Gather<>(SB), RODATA|NOPTR, $32

// and its inverse, for the output rows
DATA winograd4Scatter<>+0(SB)/4, $0
DATA winograd4Scatter<>+4(SB)/4, $2
DATA winograd4Scatter<>+8(SB)/4, $4
DATA winograd4Scatter<>+12(SB)/4, $6
DATA winograd4Scatter<>+16(SB)/4, $1
DATA winograd4Scatter<>+20(SB)/4, $3
DATA winograd4Scatter<>+24(SB)/4, $5
DATA winograd4Scatter<>+28(SB)/4, $7
GLOBL winograd4Scatter<>(SB), RODATA|NOPTR, $32

#define WINO4CONSTS \
	VBROADCASTSS winograd4Consts<>+0(SB), Y13 \
	VBROADCASTSS winograd4Consts<>+4(SB), Y14 \
	VBROADCASTSS winograd4Consts<>+8(SB), Y15

// WINO4B computes Bᵀ d of the column d0..d5 in Y0..Y5 as winograd4B does, through c = d4 -
// d2 (Y6), a = d4 - 4 d2 (Y9), b = d3 - 4 d1 (Y10) and e = 2(d3 - d1) (Y7), and leaves t0..t5
// in Y8, Y11, Y12, Y9, Y10 and Y6.
#define WINO4B \
	VSUBPS       Y2, Y4, Y6 \
	VSUBPS       Y2, Y0, Y7 \
	VMOVAPS      Y6, Y8 \
	VFMADD231PS  Y13, Y7, Y8 \
	VMOVAPS      Y4, Y9 \
	VFNMADD231PS Y13, Y2, Y9 \
	VMOVAPS      Y3, Y10 \
	VFNMADD231PS Y13, Y1, Y10 \
	VADDPS       Y10, Y9, Y11 \
	VSUBPS       Y10, Y9, Y12 \
	VSUBPS       Y1, Y3, Y7 \
	VADDPS       Y7, Y7, Y7 \
	VADDPS       Y7, Y6, Y9 \
	VSUBPS       Y7, Y6, Y10 \
	VSUBPS       Y3, Y5, Y6 \
	VFNMADD231PS Y14, Y7, Y6

// WINO4STORE6 stores t0..t5 (as WINO4B leaves them) at P, P+S, P+2S, P+3S, P+4S and Q.
#define WINO4STORE6(P, S, S3, Q) \
	VMOVUPS Y8, (P) \
	VMOVUPS Y11, (P)(S*1) \
	VMOVUPS Y12, (P)(S*2) \
	VMOVUPS Y9, (P)(S3*1) \
	VMOVUPS Y10, (P)(S*4) \
	VMOVUPS Y6, (Q)

// WINO4LOAD6 loads the six vectors at P, P+S, P+2S, P+3S, P+4S and Q into Y0..Y5.
#define WINO4LOAD6(P, S, S3, Q) \
	VMOVUPS (P), Y0 \
	VMOVUPS (P)(S*1), Y1 \
	VMOVUPS (P)(S*2), Y2 \
	VMOVUPS (P)(S3*1), Y3 \
	VMOVUPS (P)(S*4), Y4 \
	VMOVUPS (Q), Y5

// WINO4INCOL does pass one of the input transform for patch column j: its six rows are at
// R8 + OFF + i*R12 (R12 = 4 phase rows, R13 = 12), Bᵀ d goes to the scratch at AX, value q
// at AX + (6q + j)*32.
#define WINO4INCOL(OFF, J) \
	LEAQ OFF, SI \
	LEAQ (SI)(R12*4), R9 \
	ADDQ R12, R9 \
	WINO4LOAD6(SI, R12, R13, R9) \
	WINO4B \
	VMOVUPS Y8, (J*32)(AX) \
	VMOVUPS Y11, (192+J*32)(AX) \
	VMOVUPS Y12, (384+J*32)(AX) \
	VMOVUPS Y9, (576+J*32)(AX) \
	VMOVUPS Y10, (768+J*32)(AX) \
	VMOVUPS Y6, (960+J*32)(AX)

// WINO4INROW does pass two for row q of Bᵀ d, at AX + 6q*32: (Bᵀ d B)[6q+j] goes to
// SI + j*S (S = R10, 3S = R11), and SI moves on by 6S (BX).
#define WINO4INROW(Q) \
	VMOVUPS (Q*192)(AX), Y0 \
	VMOVUPS (Q*192+32)(AX), Y1 \
	VMOVUPS (Q*192+64)(AX), Y2 \
	VMOVUPS (Q*192+96)(AX), Y3 \
	VMOVUPS (Q*192+128)(AX), Y4 \
	VMOVUPS (Q*192+160)(AX), Y5 \
	WINO4B \
	LEAQ (SI)(R10*4), R9 \
	ADDQ R10, R9 \
	WINO4STORE6(SI, R10, R11, R9) \
	ADDQ BX, SI

// func winograd4InputAVX2(v *float32, stride int, phases *float32, rowStride, n int, pass *float32)
//
// For tiles k < n (a positive multiple of 8) writes the 36 values of Bᵀ d B, value ξ at
// v + ξ*stride + k (strides in floats), where column j of patch row i of tile k is
// P[4i + j%4][k + j/4] and the phase rows P are rowStride apart from phases on. pass holds
// 36 vectors of scratch.
TEXT ·winograd4InputAVX2(SB), NOSPLIT, $0-48
	MOVQ v+0(FP), DI
	MOVQ stride+8(FP), R10
	MOVQ phases+16(FP), R8
	MOVQ rowStride+24(FP), DX
	MOVQ n+32(FP), CX
	MOVQ pass+40(FP), AX
	SHLQ $2, R10           // S in bytes
	LEAQ (R10)(R10*2), R11 // 3S
	LEAQ (R11)(R11*1), BX  // 6S
	SHLQ $2, DX            // a phase row in bytes
	MOVQ DX, R12
	SHLQ $2, R12           // an input row's four phase rows
	LEAQ (R12)(R12*2), R13 // three input rows
	SHRQ $3, CX
	WINO4CONSTS

w4i_loop:
	WINO4INCOL((R8), 0)
	WINO4INCOL((R8)(DX*1), 1)
	WINO4INCOL((R8)(DX*2), 2)
	LEAQ (DX)(DX*2), R9
	WINO4INCOL((R8)(R9*1), 3)
	WINO4INCOL(4(R8), 4)
	WINO4INCOL(4(R8)(DX*1), 5)
	MOVQ DI, SI
	WINO4INROW(0)
	WINO4INROW(1)
	WINO4INROW(2)
	WINO4INROW(3)
	WINO4INROW(4)
	WINO4INROW(5)
	ADDQ $32, DI
	ADDQ $32, R8
	DECQ CX
	JNZ  w4i_loop
	VZEROUPPER
	RET

// WINO4A computes Aᵀ m of the column m0..m5 in Y0..Y5 as winograd4A does, through p = m1 +
// m2 (Y6), q = m1 - m2 (Y7), r = m3 + m4 (Y8) and s = m3 - m4 (Y9), and leaves y0..y3 in Y10,
// Y11, Y12 and Y6.
#define WINO4A \
	VADDPS      Y2, Y1, Y6 \
	VSUBPS      Y2, Y1, Y7 \
	VADDPS      Y4, Y3, Y8 \
	VSUBPS      Y4, Y3, Y9 \
	VADDPS      Y6, Y0, Y10 \
	VADDPS      Y8, Y10, Y10 \
	VMOVAPS     Y7, Y11 \
	VFMADD231PS Y14, Y9, Y11 \
	VMOVAPS     Y6, Y12 \
	VFMADD231PS Y13, Y8, Y12 \
	VADDPS      Y5, Y7, Y6 \
	VFMADD231PS Y15, Y9, Y6

// WINO4OUTCOL does pass one of the output transform for column j of M: its six values are
// the planes at SI + r*6S (R12 = 6S, R13 = 18S), and Aᵀ M goes to the scratch at AX, value
// i at AX + (6i + j)*32.
#define WINO4OUTCOL(J) \
	LEAQ (SI)(R12*4), R9 \
	ADDQ R12, R9 \
	WINO4LOAD6(SI, R12, R13, R9) \
	WINO4A \
	VMOVUPS Y10, (J*32)(AX) \
	VMOVUPS Y11, (192+J*32)(AX) \
	VMOVUPS Y12, (384+J*32)(AX) \
	VMOVUPS Y6, (576+J*32)(AX) \
	ADDQ    R10, SI

// WINO4OUTROW does pass two for row i of Aᵀ M, at AX + 6i*32, and interleaves its four
// columns of eight tiles into the 32 cells at register P.
#define WINO4OUTROW(I, P) \
	VMOVUPS    (I*192)(AX), Y0 \
	VMOVUPS    (I*192+32)(AX), Y1 \
	VMOVUPS    (I*192+64)(AX), Y2 \
	VMOVUPS    (I*192+96)(AX), Y3 \
	VMOVUPS    (I*192+128)(AX), Y4 \
	VMOVUPS    (I*192+160)(AX), Y5 \
	WINO4A \
	VMOVUPS    winograd4Scatter<>(SB), Y0 \
	VPERMPS    Y10, Y0, Y10 \
	VPERMPS    Y11, Y0, Y11 \
	VPERMPS    Y12, Y0, Y12 \
	VPERMPS    Y6, Y0, Y6 \
	VUNPCKLPS  Y11, Y10, Y1 \
	VUNPCKHPS  Y11, Y10, Y2 \
	VUNPCKLPS  Y6, Y12, Y3 \
	VUNPCKHPS  Y6, Y12, Y4 \
	VUNPCKLPD  Y3, Y1, Y5 \
	VUNPCKHPD  Y3, Y1, Y7 \
	VUNPCKLPD  Y4, Y2, Y8 \
	VUNPCKHPD  Y4, Y2, Y9 \
	VMOVUPS    Y5, (P) \
	VMOVUPS    Y7, 32(P) \
	VMOVUPS    Y8, 64(P) \
	VMOVUPS    Y9, 96(P)

// func winograd4OutputAVX2(rows *float32, rowStride int, m *float32, stride, n int, pass *float32)
//
// For tiles k < n (a positive multiple of 8) writes the 4×4 block Aᵀ M A of tile k, where
// value ξ of M is at m + ξ*stride + k (in floats), to cells 4k to 4k+3 of the four rows at
// rows + i*rowStride. pass holds 24 vectors of scratch.
TEXT ·winograd4OutputAVX2(SB), NOSPLIT, $0-48
	MOVQ rows+0(FP), DI
	MOVQ rowStride+8(FP), DX
	MOVQ m+16(FP), R8
	MOVQ stride+24(FP), R10
	MOVQ n+32(FP), CX
	MOVQ pass+40(FP), AX
	SHLQ $2, R10           // S in bytes
	LEAQ (R10)(R10*2), R12
	SHLQ $1, R12           // 6S
	LEAQ (R12)(R12*2), R13 // 18S
	SHLQ $2, DX
	LEAQ (DX)(DX*2), BX    // three rows
	SHRQ $3, CX
	WINO4CONSTS

w4o_loop:
	MOVQ R8, SI
	WINO4OUTCOL(0)
	WINO4OUTCOL(1)
	WINO4OUTCOL(2)
	WINO4OUTCOL(3)
	WINO4OUTCOL(4)
	WINO4OUTCOL(5)
	WINO4OUTROW(0, DI)
	LEAQ (DI)(DX*1), R9
	WINO4OUTROW(1, R9)
	LEAQ (DI)(DX*2), R9
	WINO4OUTROW(2, R9)
	LEAQ (DI)(BX*1), R9
	WINO4OUTROW(3, R9)
	ADDQ $128, DI
	ADDQ $32, R8
	DECQ CX
	JNZ  w4o_loop
	VZEROUPPER
	RET

// func deinterleave4AVX2(dst *float32, stride int, src *float32, n int)
//
// For k < n (a positive multiple of 8) writes src[4k+p] to dst[p*stride+k].
TEXT ·deinterleave4AVX2(SB), NOSPLIT, $0-32
	MOVQ    dst+0(FP), DI
	MOVQ    stride+8(FP), DX
	MOVQ    src+16(FP), SI
	MOVQ    n+24(FP), CX
	SHLQ    $2, DX
	LEAQ    (DX)(DX*2), BX
	SHRQ    $3, CX
	VMOVUPS winograd4Gather<>(SB), Y15

d4_loop:
	VMOVUPS   (SI), Y0
	VMOVUPS   32(SI), Y1
	VMOVUPS   64(SI), Y2
	VMOVUPS   96(SI), Y3
	VUNPCKLPS Y1, Y0, Y4
	VUNPCKHPS Y1, Y0, Y5
	VUNPCKLPS Y3, Y2, Y6
	VUNPCKHPS Y3, Y2, Y7
	VUNPCKLPD Y6, Y4, Y0
	VUNPCKHPD Y6, Y4, Y1
	VUNPCKLPD Y7, Y5, Y2
	VUNPCKHPD Y7, Y5, Y3
	VPERMPS   Y0, Y15, Y0
	VPERMPS   Y1, Y15, Y1
	VPERMPS   Y2, Y15, Y2
	VPERMPS   Y3, Y15, Y3
	VMOVUPS   Y0, (DI)
	VMOVUPS   Y1, (DI)(DX*1)
	VMOVUPS   Y2, (DI)(DX*2)
	VMOVUPS   Y3, (DI)(BX*1)
	ADDQ      $128, SI
	ADDQ      $32, DI
	DECQ      CX
	JNZ       d4_loop
	VZEROUPPER
	RET

// WINO4AT computes A y of the column y0..y3 in Y0..Y3 as winograd4AT does, through e = y0 +
// y2 (Y4), o = y1 + y3 (Y5), e4 = y0 + 4 y2 (Y8) and o4 = 2(y1 + 4 y3) (Y9), and leaves
// u1..u4 in Y6, Y7, Y10 and Y11 (u0 is y0, u5 is y3).
#define WINO4AT \
	VADDPS      Y2, Y0, Y4 \
	VADDPS      Y3, Y1, Y5 \
	VADDPS      Y5, Y4, Y6 \
	VSUBPS      Y5, Y4, Y7 \
	VMOVAPS     Y0, Y8 \
	VFMADD231PS Y13, Y2, Y8 \
	VMOVAPS     Y1, Y9 \
	VFMADD231PS Y13, Y3, Y9 \
	VADDPS      Y9, Y9, Y9 \
	VADDPS      Y9, Y8, Y10 \
	VSUBPS      Y9, Y8, Y11

// func winograd4OutputGradAVX2(v *float32, stride int, phases *float32, rowStride, n int, pass *float32)
//
// For tiles k < n (a positive multiple of 8) writes the 36 values of A dY Aᵀ, value ξ at
// v + ξ*stride + k (strides in floats), where column j of row i of tile k's block is
// P[4i + j][k] and the phase rows P are rowStride apart from phases on. pass holds 24
// vectors of scratch: pass one leaves (A dY)[q][j] at pass + (4q + j)*32 bytes.
TEXT ·winograd4OutputGradAVX2(SB), NOSPLIT, $0-48
	MOVQ v+0(FP), DI
	MOVQ stride+8(FP), R10
	MOVQ phases+16(FP), R8
	MOVQ rowStride+24(FP), DX
	MOVQ n+32(FP), CX
	MOVQ pass+40(FP), AX
	SHLQ $2, R10           // S in bytes
	LEAQ (R10)(R10*2), R11 // 3S
	SHLQ $2, DX            // a phase row in bytes
	MOVQ DX, R12
	SHLQ $2, R12           // a row's four phase rows
	LEAQ (R12)(R12*2), R13 // three rows
	SHRQ $3, CX
	WINO4CONSTS

w4g_loop:
	MOVQ R8, SI
	MOVQ $0, R9

w4g_col:
	VMOVUPS (SI), Y0
	VMOVUPS (SI)(R12*1), Y1
	VMOVUPS (SI)(R12*2), Y2
	VMOVUPS (SI)(R13*1), Y3
	WINO4AT
	VMOVUPS Y0, (AX)(R9*1)
	VMOVUPS Y6, 128(AX)(R9*1)
	VMOVUPS Y7, 256(AX)(R9*1)
	VMOVUPS Y10, 384(AX)(R9*1)
	VMOVUPS Y11, 512(AX)(R9*1)
	VMOVUPS Y3, 640(AX)(R9*1)
	ADDQ    DX, SI
	ADDQ    $32, R9
	CMPQ    R9, $128
	JNE     w4g_col

	MOVQ DI, SI
	MOVQ $0, R9

w4g_row:
	VMOVUPS (AX)(R9*1), Y0
	VMOVUPS 32(AX)(R9*1), Y1
	VMOVUPS 64(AX)(R9*1), Y2
	VMOVUPS 96(AX)(R9*1), Y3
	WINO4AT
	VMOVUPS Y0, (SI)
	VMOVUPS Y6, (SI)(R10*1)
	VMOVUPS Y7, (SI)(R10*2)
	VMOVUPS Y10, (SI)(R11*1)
	VMOVUPS Y11, (SI)(R10*4)
	ADDQ    R11, SI
	VMOVUPS Y3, (SI)(R10*2)
	ADDQ    R11, SI
	ADDQ    $128, R9
	CMPQ    R9, $768
	JNE     w4g_row

	ADDQ $32, DI
	ADDQ $32, R8
	DECQ CX
	JNZ  w4g_loop
	VZEROUPPER
	RET
