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
