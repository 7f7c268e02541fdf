//go:build amd64 && !purego

#include "textflag.h"

// exp32, sigmoid32 and tanh32 of math32.go, eight lanes at a time, as the same sequence of
// float32 operations (no fused multiply-adds), so that the results match the Go functions
// bit for bit.

DATA math32Consts<>+0(SB)/4, $0xc2d00000  // exp32Lo
DATA math32Consts<>+4(SB)/4, $0x42b1999a  // exp32Hi
DATA math32Consts<>+8(SB)/4, $0x3fb8aa3b  // exp32Log2e
DATA math32Consts<>+12(SB)/4, $0x4b400000 // exp32Round
DATA math32Consts<>+16(SB)/4, $0x3f318000 // exp32C1
DATA math32Consts<>+20(SB)/4, $0xb95e8083 // exp32C2
DATA math32Consts<>+24(SB)/4, $0x39506967 // exp32P0
DATA math32Consts<>+28(SB)/4, $0x3ab743ce // exp32P1
DATA math32Consts<>+32(SB)/4, $0x3c088908 // exp32P2
DATA math32Consts<>+36(SB)/4, $0x3d2aa9c1 // exp32P3
DATA math32Consts<>+40(SB)/4, $0x3e2aaaaa // exp32P4
DATA math32Consts<>+44(SB)/4, $0x3f000000 // exp32P5
DATA math32Consts<>+48(SB)/4, $0x3f800000 // 1
DATA math32Consts<>+52(SB)/4, $0x40000000 // 2
DATA math32Consts<>+56(SB)/4, $0x0000007f // the exponent bias, 127
DATA math32Consts<>+60(SB)/4, $0xbbbaf0ea // tanh32T0
DATA math32Consts<>+64(SB)/4, $0x3ca9134e // tanh32T1
DATA math32Consts<>+68(SB)/4, $0xbd5c1e2d // tanh32T2
DATA math32Consts<>+72(SB)/4, $0x3e088393 // tanh32T3
DATA math32Consts<>+76(SB)/4, $0xbeaaaa99 // tanh32T4
DATA math32Consts<>+80(SB)/4, $0x3f200000 // 0.625, where tanh32 switches
GLOBL math32Consts<>(SB), RODATA|NOPTR, $84

// EXPSETUP loads the constants EXP8 keeps in registers, and the sign mask into Y6.
#define EXPSETUP \
	VBROADCASTSS math32Consts<>+0(SB), Y9 \
	VBROADCASTSS math32Consts<>+4(SB), Y8 \
	VBROADCASTSS math32Consts<>+8(SB), Y15 \
	VBROADCASTSS math32Consts<>+12(SB), Y14 \
	VBROADCASTSS math32Consts<>+16(SB), Y13 \
	VBROADCASTSS math32Consts<>+20(SB), Y12 \
	VBROADCASTSS math32Consts<>+24(SB), Y7 \
	VBROADCASTSS math32Consts<>+48(SB), Y11 \
	VBROADCASTSS math32Consts<>+56(SB), Y10 \
	VPCMPEQD     Y6, Y6, Y6 \
	VPSLLD       $31, Y6, Y6

// HORNER(c) sets Y2 = Y2*r + c, r in Y0, c a constant at math32Consts+c.
#define HORNER(c) \
	VMULPS       Y0, Y2, Y2 \
	VBROADCASTSS math32Consts<>+c(SB), Y4 \
	VADDPS       Y4, Y2, Y2

// EXP8 sets Y0 = exp32(Y0) lane-wise, using Y1-Y4.
#define EXP8 \
	VMAXPS     Y0, Y9, Y0 \
	VMINPS     Y0, Y8, Y0 \
	VMULPS     Y15, Y0, Y1 \
	VADDPS     Y14, Y1, Y1 \
	VSUBPS     Y14, Y1, Y1 \
	VMULPS     Y13, Y1, Y2 \
	VSUBPS     Y2, Y0, Y0 \
	VMULPS     Y12, Y1, Y2 \
	VSUBPS     Y2, Y0, Y0 \
	VMULPS     Y0, Y0, Y3 \
	VMULPS     Y7, Y0, Y2 \
	VBROADCASTSS math32Consts<>+28(SB), Y4 \
	VADDPS     Y4, Y2, Y2 \
	HORNER(32) \
	HORNER(36) \
	HORNER(40) \
	HORNER(44) \
	VMULPS     Y3, Y2, Y2 \
	VADDPS     Y0, Y2, Y2 \
	VADDPS     Y11, Y2, Y2 \
	VCVTTPS2DQ Y1, Y1 \
	VPSRAD     $1, Y1, Y4 \
	VPSUBD     Y4, Y1, Y1 \
	VPADDD     Y10, Y4, Y4 \
	VPSLLD     $23, Y4, Y4 \
	VPADDD     Y10, Y1, Y1 \
	VPSLLD     $23, Y1, Y1 \
	VMULPS     Y4, Y2, Y2 \
	VMULPS     Y1, Y2, Y0

// func expAVX2(dst, src *float32, n int)
//
// dst[i] = exp32(src[i]) for i < n, n a positive multiple of 8.
TEXT ·expAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	EXPSETUP
	SHLQ $2, CX
	XORQ AX, AX

exp_loop:
	VMOVUPS (SI)(AX*1), Y0
	EXP8
	VMOVUPS Y0, (DI)(AX*1)
	ADDQ    $32, AX
	CMPQ    AX, CX
	JLT     exp_loop
	VZEROUPPER
	RET

// func sigmoidAVX2(dst, src *float32, n int)
//
// dst[i] = sigmoid32(src[i]) for i < n, n a positive multiple of 8.
TEXT ·sigmoidAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	EXPSETUP
	SHLQ $2, CX
	XORQ AX, AX

sigmoid_loop:
	VMOVUPS   (SI)(AX*1), Y5
	VORPS     Y6, Y5, Y0      // -|x|
	EXP8                      // e = exp32(-|x|)
	VADDPS    Y11, Y0, Y1     // 1 + e
	VBLENDVPS Y5, Y0, Y11, Y0 // e where x's sign bit is set, else 1
	VDIVPS    Y1, Y0, Y0
	VMOVUPS   Y0, (DI)(AX*1)
	ADDQ      $32, AX
	CMPQ      AX, CX
	JLT       sigmoid_loop
	VZEROUPPER
	RET

// func tanhAVX2(dst, src *float32, n int)
//
// dst[i] = tanh32(src[i]) for i < n, n a positive multiple of 8. Both of tanh32's branches
// are computed and the lanes pick one.
TEXT ·tanhAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	EXPSETUP
	SHLQ $2, CX
	XORQ AX, AX

tanh_loop:
	VMOVUPS      (SI)(AX*1), Y5
	VANDNPS      Y5, Y6, Y0 // a = |x|
	VADDPS       Y0, Y0, Y0
	EXP8                     // exp32(2a)
	VADDPS       Y11, Y0, Y0
	VBROADCASTSS math32Consts<>+52(SB), Y1
	VDIVPS       Y0, Y1, Y0
	VSUBPS       Y0, Y11, Y0 // 1 - 2/(exp32(2a) + 1)
	VANDNPS      Y5, Y6, Y1  // a again
	VMULPS       Y1, Y1, Y2  // z
	VBROADCASTSS math32Consts<>+60(SB), Y3
	VMULPS       Y2, Y3, Y3
	VBROADCASTSS math32Consts<>+64(SB), Y4
	VADDPS       Y4, Y3, Y3
	VMULPS       Y2, Y3, Y3
	VBROADCASTSS math32Consts<>+68(SB), Y4
	VADDPS       Y4, Y3, Y3
	VMULPS       Y2, Y3, Y3
	VBROADCASTSS math32Consts<>+72(SB), Y4
	VADDPS       Y4, Y3, Y3
	VMULPS       Y2, Y3, Y3
	VBROADCASTSS math32Consts<>+76(SB), Y4
	VADDPS       Y4, Y3, Y3
	VMULPS       Y2, Y3, Y3
	VMULPS       Y1, Y3, Y3
	VADDPS       Y1, Y3, Y3  // the polynomial
	VBROADCASTSS math32Consts<>+80(SB), Y4
	VCMPPS       $1, Y4, Y1, Y4 // a < 0.625 (false for NaN)
	VBLENDVPS    Y4, Y3, Y0, Y0
	VANDPS       Y6, Y5, Y1
	VORPS        Y1, Y0, Y0  // x's sign
	VMOVUPS      Y0, (DI)(AX*1)
	ADDQ         $32, AX
	CMPQ         AX, CX
	JLT          tanh_loop
	VZEROUPPER
	RET
