//go:build amd64 && !purego

#include "textflag.h"

// The clamping kernels of activation.go, eight lanes at a time. Go's builtin min and max on
// floats propagate NaN and order the zeros; the compiler spells min(x, y) as
// MINSS(t, x) | t with t = MINSS(x, y), and max(x, y) as -min(-x, -y). VMINPS lanes behave
// as MINSS does, so the macros below run that same sequence and match the Go loops bit for
// bit, NaN payloads and signed zeros included. Arithmetic before the clamp is a separate
// multiply and add, as Go computes it on amd64 (it fuses them only with GOAMD64=v3).
//
// Registers: Y0 holds the sign mask, Y1 the negated lower bound, Y2 the upper bound.

// CLAMP8(x, t, u) sets x = min(max(x, lo), hi) lane-wise; t and u are scratch.
#define CLAMP8(x, t, u) \
	VXORPS  Y0, x, x \
	VMINPS  Y1, x, t \
	VMINPS  x, t, u \
	VORPS   t, u, u \
	VXORPS  Y0, u, u \
	VMINPS  Y2, u, t \
	VMINPS  u, t, x \
	VORPS   t, x, x

// CLAMPSETUP loads Y0, Y1 and Y2 from the lower bound in X1 and the upper one in X2.
#define CLAMPSETUP \
	VPCMPEQD     Y0, Y0, Y0 \
	VPSLLD       $31, Y0, Y0 \
	VBROADCASTSS X1, Y1 \
	VXORPS       Y0, Y1, Y1 \
	VBROADCASTSS X2, Y2

// func clampAVX2(dst, src *float32, n int, lo, hi float32)
//
// dst[i] = min(max(src[i], lo), hi) for i < n, n a positive multiple of 8.
TEXT ·clampAVX2(SB), NOSPLIT, $0-32
	MOVQ  dst+0(FP), DI
	MOVQ  src+8(FP), SI
	MOVQ  n+16(FP), CX
	MOVSS lo+24(FP), X1
	MOVSS hi+28(FP), X2
	CLAMPSETUP
	SHLQ  $2, CX
	XORQ  AX, AX

clamp_loop16:
	LEAQ    64(AX), DX
	CMPQ    DX, CX
	JGT     clamp_tail
	VMOVUPS (SI)(AX*1), Y4
	VMOVUPS 32(SI)(AX*1), Y7
	CLAMP8(Y4, Y5, Y6)
	CLAMP8(Y7, Y8, Y9)
	VMOVUPS Y4, (DI)(AX*1)
	VMOVUPS Y7, 32(DI)(AX*1)
	MOVQ    DX, AX
	JMP     clamp_loop16

clamp_tail:
	CMPQ    AX, CX
	JGE     clamp_done
	VMOVUPS (SI)(AX*1), Y4
	CLAMP8(Y4, Y5, Y6)
	VMOVUPS Y4, (DI)(AX*1)

clamp_done:
	VZEROUPPER
	RET

// func hardSigmoidAVX2(dst, src *float32, n int, alpha, beta float32)
//
// dst[i] = min(max(alpha*src[i] + beta, 0), 1) for i < n, n a positive multiple of 8.
TEXT ·hardSigmoidAVX2(SB), NOSPLIT, $0-32
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS alpha+24(FP), Y10
	VBROADCASTSS beta+28(FP), Y11
	XORPS        X1, X1
	MOVL         $0x3f800000, AX
	MOVL         AX, X2
	CLAMPSETUP
	SHLQ         $2, CX
	XORQ         AX, AX

hsig_loop:
	CMPQ    AX, CX
	JGE     hsig_done
	VMOVUPS (SI)(AX*1), Y4
	VMULPS  Y10, Y4, Y4
	VADDPS  Y11, Y4, Y4
	CLAMP8(Y4, Y5, Y6)
	VMOVUPS Y4, (DI)(AX*1)
	ADDQ    $32, AX
	JMP     hsig_loop

hsig_done:
	VZEROUPPER
	RET

// func hardSwishAVX2(dst, src *float32, n int)
//
// dst[i] = src[i] * min(max(src[i]/6 + 0.5, 0), 1) for i < n, n a positive multiple of 8.
TEXT ·hardSwishAVX2(SB), NOSPLIT, $0-24
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         n+16(FP), CX
	MOVL         $0x40c00000, AX // 6
	MOVL         AX, X10
	VBROADCASTSS X10, Y10
	MOVL         $0x3f000000, AX // 0.5
	MOVL         AX, X11
	VBROADCASTSS X11, Y11
	XORPS        X1, X1
	MOVL         $0x3f800000, AX // 1
	MOVL         AX, X2
	CLAMPSETUP
	SHLQ         $2, CX
	XORQ         AX, AX

hswish_loop:
	CMPQ    AX, CX
	JGE     hswish_done
	VMOVUPS (SI)(AX*1), Y3
	VDIVPS  Y10, Y3, Y4
	VADDPS  Y11, Y4, Y4
	CLAMP8(Y4, Y5, Y6)
	VMULPS  Y4, Y3, Y4
	VMOVUPS Y4, (DI)(AX*1)
	ADDQ    $32, AX
	JMP     hswish_loop

hswish_done:
	VZEROUPPER
	RET

// MAX8(a, b, t, u) sets a = max(a, b) lane-wise as Go's builtin max does, -min(-a, -b) with
// min spelt as above; b, t and u are scratch. Y0 holds the sign mask.
#define MAX8(a, b, t, u) \
	VXORPS  Y0, a, a \
	VXORPS  Y0, b, b \
	VMINPS  b, a, t \
	VMINPS  a, t, u \
	VORPS   t, u, a \
	VXORPS  Y0, a, a

// func maxAVX2(dst, a, b *float32, n int)
//
// dst[i] = max(a[i], b[i]) for i < n, n a positive multiple of 8.
TEXT ·maxAVX2(SB), NOSPLIT, $0-32
	MOVQ     dst+0(FP), DI
	MOVQ     a+8(FP), SI
	MOVQ     b+16(FP), DX
	MOVQ     n+24(FP), CX
	VPCMPEQD Y0, Y0, Y0
	VPSLLD   $31, Y0, Y0
	SHLQ     $2, CX
	XORQ     AX, AX

max_loop16:
	LEAQ    64(AX), BX
	CMPQ    BX, CX
	JGT     max_tail
	VMOVUPS (SI)(AX*1), Y1
	VMOVUPS (DX)(AX*1), Y2
	VMOVUPS 32(SI)(AX*1), Y5
	VMOVUPS 32(DX)(AX*1), Y6
	MAX8(Y1, Y2, Y3, Y4)
	MAX8(Y5, Y6, Y7, Y8)
	VMOVUPS Y1, (DI)(AX*1)
	VMOVUPS Y5, 32(DI)(AX*1)
	MOVQ    BX, AX
	JMP     max_loop16

max_tail:
	CMPQ    AX, CX
	JGE     max_done
	VMOVUPS (SI)(AX*1), Y1
	VMOVUPS (DX)(AX*1), Y2
	MAX8(Y1, Y2, Y3, Y4)
	VMOVUPS Y1, (DI)(AX*1)

max_done:
	VZEROUPPER
	RET

// func addAVX2(dst, a, b *float32, n int)
//
// dst[i] = a[i] + b[i] for i < n; n a positive multiple of 8.
TEXT ·addAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ n+24(FP), CX
	SHLQ $2, CX
	XORQ AX, AX

add_loop32:
	LEAQ    128(AX), BX
	CMPQ    BX, CX
	JGT     add_tail8
	VMOVUPS (SI)(AX*1), Y0
	VMOVUPS 32(SI)(AX*1), Y1
	VMOVUPS 64(SI)(AX*1), Y2
	VMOVUPS 96(SI)(AX*1), Y3
	VADDPS  (DX)(AX*1), Y0, Y0
	VADDPS  32(DX)(AX*1), Y1, Y1
	VADDPS  64(DX)(AX*1), Y2, Y2
	VADDPS  96(DX)(AX*1), Y3, Y3
	VMOVUPS Y0, (DI)(AX*1)
	VMOVUPS Y1, 32(DI)(AX*1)
	VMOVUPS Y2, 64(DI)(AX*1)
	VMOVUPS Y3, 96(DI)(AX*1)
	MOVQ    BX, AX
	JMP     add_loop32

add_tail8:
	CMPQ    AX, CX
	JGE     add_done
	VMOVUPS (SI)(AX*1), Y0
	VADDPS  (DX)(AX*1), Y0, Y0
	VMOVUPS Y0, (DI)(AX*1)
	ADDQ    $32, AX
	JMP     add_tail8

add_done:
	VZEROUPPER
	RET

// func addScalarClampAVX2(dst, src *float32, n int, b, lo, hi float32, clamp bool)
//
// dst[i] = src[i] + b for i < n, then limited to [lo, hi] when clamp is set; n a positive
// multiple of 8.
TEXT ·addScalarClampAVX2(SB), NOSPLIT, $0-37
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS b+24(FP), Y10
	MOVSS        lo+28(FP), X1
	MOVSS        hi+32(FP), X2
	MOVBLZX      clamp+36(FP), BX
	CLAMPSETUP
	SHLQ         $2, CX
	XORQ         AX, AX
	TESTQ        BX, BX
	JZ           addc_plain

addc_loop:
	CMPQ    AX, CX
	JGE     addc_done
	VMOVUPS (SI)(AX*1), Y4
	VADDPS  Y10, Y4, Y4
	CLAMP8(Y4, Y5, Y6)
	VMOVUPS Y4, (DI)(AX*1)
	ADDQ    $32, AX
	JMP     addc_loop

addc_plain:
	CMPQ    AX, CX
	JGE     addc_done
	VMOVUPS (SI)(AX*1), Y4
	VADDPS  Y10, Y4, Y4
	VMOVUPS Y4, (DI)(AX*1)
	ADDQ    $32, AX
	JMP     addc_plain

addc_done:
	VZEROUPPER
	RET

// func affineAVX2(dst, src *float32, n int, a, b float32)
//
// dst[i] = src[i]*a + b for i < n (a multiply, then an add, as Go computes it), n a positive
// multiple of 8.
TEXT ·affineAVX2(SB), NOSPLIT, $0-32
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS a+24(FP), Y10
	VBROADCASTSS b+28(FP), Y11
	SHLQ         $2, CX
	XORQ         AX, AX

affine_loop16:
	LEAQ    64(AX), DX
	CMPQ    DX, CX
	JGT     affine_tail
	VMULPS  (SI)(AX*1), Y10, Y4
	VMULPS  32(SI)(AX*1), Y10, Y5
	VADDPS  Y11, Y4, Y4
	VADDPS  Y11, Y5, Y5
	VMOVUPS Y4, (DI)(AX*1)
	VMOVUPS Y5, 32(DI)(AX*1)
	MOVQ    DX, AX
	JMP     affine_loop16

affine_tail:
	CMPQ    AX, CX
	JGE     affine_done
	VMULPS  (SI)(AX*1), Y10, Y4
	VADDPS  Y11, Y4, Y4
	VMOVUPS Y4, (DI)(AX*1)

affine_done:
	VZEROUPPER
	RET

// func adamAVX2(p, grad, m, v *float32, n int, c *AdamCoeffs)
//
// One Adam or AdamW update of n elements, n a positive multiple of 8 (see AdamStep). The
// coefficients are read at their offsets in AdamCoeffs: Beta1 0, OneMinusBeta1 4, Beta2 8,
// OneMinusBeta2 12, Eps 16, SqrtBiasCorrection2 20, NegStepSize 24, WeightDecay 28, Decay 32,
// Coupled 36, Decoupled 37.
TEXT ·adamAVX2(SB), NOSPLIT, $0-48
	MOVQ         p+0(FP), DI
	MOVQ         grad+8(FP), SI
	MOVQ         m+16(FP), R8
	MOVQ         v+24(FP), R9
	MOVQ         n+32(FP), CX
	MOVQ         c+40(FP), DX
	VBROADCASTSS 0(DX), Y8
	VBROADCASTSS 4(DX), Y9
	VBROADCASTSS 8(DX), Y10
	VBROADCASTSS 12(DX), Y11
	VBROADCASTSS 16(DX), Y12
	VBROADCASTSS 20(DX), Y13
	VBROADCASTSS 24(DX), Y14
	VBROADCASTSS 28(DX), Y15
	VBROADCASTSS 32(DX), Y7
	MOVBLZX      36(DX), BX
	MOVBLZX      37(DX), R10
	SHLQ         $2, CX
	XORQ         AX, AX

adam_loop:
	CMPQ        AX, CX
	JGE         adam_done
	VMOVUPS     (SI)(AX*1), Y0
	VMOVUPS     (DI)(AX*1), Y1
	TESTQ       R10, R10
	JZ          adam_coupled
	VMULPS      Y7, Y1, Y1

adam_coupled:
	TESTQ       BX, BX
	JZ          adam_moments
	VFMADD231PS Y15, Y1, Y0

adam_moments:
	VMULPS      (R8)(AX*1), Y8, Y2
	VFMADD231PS Y9, Y0, Y2
	VMOVUPS     Y2, (R8)(AX*1)
	VMULPS      Y11, Y0, Y3
	VMULPS      (R9)(AX*1), Y10, Y4
	VFMADD231PS Y3, Y0, Y4
	VMOVUPS     Y4, (R9)(AX*1)
	VSQRTPS     Y4, Y5
	VDIVPS      Y13, Y5, Y5
	VADDPS      Y12, Y5, Y5
	VMULPS      Y14, Y2, Y6
	VDIVPS      Y5, Y6, Y6
	VADDPS      Y6, Y1, Y1
	VMOVUPS     Y1, (DI)(AX*1)
	ADDQ        $32, AX
	JMP         adam_loop

adam_done:
	VZEROUPPER
	RET

// func reluGradAVX2(dst, grad, y *float32, n int)
//
// dst[i] = grad[i] where y[i]'s bits, read as an int32, are positive (y > 0, and a NaN with
// the sign clear, as posMask32 decides), else +0; n a positive multiple of 8.
TEXT ·reluGradAVX2(SB), NOSPLIT, $0-32
	MOVQ   dst+0(FP), DI
	MOVQ   grad+8(FP), SI
	MOVQ   y+16(FP), DX
	MOVQ   n+24(FP), CX
	VPXOR  Y0, Y0, Y0
	SHLQ   $2, CX
	XORQ   AX, AX

relug_loop:
	CMPQ     AX, CX
	JGE      relug_done
	VMOVDQU  (DX)(AX*1), Y1
	VPCMPGTD Y0, Y1, Y1
	VPAND    (SI)(AX*1), Y1, Y1
	VMOVDQU  Y1, (DI)(AX*1)
	ADDQ     $32, AX
	JMP      relug_loop

relug_done:
	VZEROUPPER
	RET

// func bnInputGradAVX2(dst, grad, x *float32, n int, a, b, off float32)
//
// dst[i] = (a*grad[i] + b*x[i]) + off for i < n, each operation rounding as Go's; n a
// positive multiple of 8.
TEXT ·bnInputGradAVX2(SB), NOSPLIT, $0-44
	MOVQ         dst+0(FP), DI
	MOVQ         grad+8(FP), SI
	MOVQ         x+16(FP), DX
	MOVQ         n+24(FP), CX
	VBROADCASTSS a+32(FP), Y10
	VBROADCASTSS b+36(FP), Y11
	VBROADCASTSS off+40(FP), Y12
	SHLQ         $2, CX
	XORQ         AX, AX

bng_loop:
	CMPQ    AX, CX
	JGE     bng_done
	VMULPS  (SI)(AX*1), Y10, Y1
	VMULPS  (DX)(AX*1), Y11, Y2
	VADDPS  Y2, Y1, Y1
	VADDPS  Y12, Y1, Y1
	VMOVUPS Y1, (DI)(AX*1)
	ADDQ    $32, AX
	JMP     bng_loop

bng_done:
	VZEROUPPER
	RET

// func addResidualClampAVX2(dst, src, res *float32, n int, b, lo, hi float32, clamp bool)
//
// dst[i] = (src[i] + b) + res[i] for i < n, then limited to [lo, hi] when clamp is set; n a
// positive multiple of 8. The sums are Go's, in Go's order.
TEXT ·addResidualClampAVX2(SB), NOSPLIT, $0-45
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         res+16(FP), R8
	MOVQ         n+24(FP), CX
	VBROADCASTSS b+32(FP), Y10
	MOVSS        lo+36(FP), X1
	MOVSS        hi+40(FP), X2
	MOVBLZX      clamp+44(FP), BX
	CLAMPSETUP
	SHLQ         $2, CX
	XORQ         AX, AX
	TESTQ        BX, BX
	JZ           addr_plain

addr_loop:
	CMPQ    AX, CX
	JGE     addr_done
	VMOVUPS (SI)(AX*1), Y4
	VADDPS  Y10, Y4, Y4
	VADDPS  (R8)(AX*1), Y4, Y4
	CLAMP8(Y4, Y5, Y6)
	VMOVUPS Y4, (DI)(AX*1)
	ADDQ    $32, AX
	JMP     addr_loop

addr_plain:
	CMPQ    AX, CX
	JGE     addr_done
	VMOVUPS (SI)(AX*1), Y4
	VADDPS  Y10, Y4, Y4
	VADDPS  (R8)(AX*1), Y4, Y4
	VMOVUPS Y4, (DI)(AX*1)
	ADDQ    $32, AX
	JMP     addr_plain

addr_done:
	VZEROUPPER
	RET

// func sumF64AVX2(x *float32, n int) float64
//
// The sum of x[:n] in float64 (each value widened exactly), over four vector accumulators;
// n a positive multiple of 8.
TEXT ·sumF64AVX2(SB), NOSPLIT, $0-24
	MOVQ   x+0(FP), SI
	MOVQ   n+8(FP), CX
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3
	SHLQ   $2, CX
	XORQ   AX, AX

sum_loop16:
	LEAQ      64(AX), DX
	CMPQ      DX, CX
	JGT       sum_tail8
	VCVTPS2PD (SI)(AX*1), Y4
	VCVTPS2PD 16(SI)(AX*1), Y5
	VCVTPS2PD 32(SI)(AX*1), Y6
	VCVTPS2PD 48(SI)(AX*1), Y7
	VADDPD    Y4, Y0, Y0
	VADDPD    Y5, Y1, Y1
	VADDPD    Y6, Y2, Y2
	VADDPD    Y7, Y3, Y3
	MOVQ      DX, AX
	JMP       sum_loop16

sum_tail8:
	CMPQ      AX, CX
	JGE       sum_done
	VCVTPS2PD (SI)(AX*1), Y4
	VCVTPS2PD 16(SI)(AX*1), Y5
	VADDPD    Y4, Y0, Y0
	VADDPD    Y5, Y1, Y1

sum_done:
	VADDPD       Y1, Y0, Y0
	VADDPD       Y3, Y2, Y2
	VADDPD       Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPD       X1, X0, X0
	VHADDPD      X0, X0, X0
	VZEROUPPER
	MOVSD        X0, ret+16(FP)
	RET

// func sqDevF64AVX2(x *float32, n int, m float64) float64
//
// The sum of (x[i] - m)² over x[:n] in float64, over four vector accumulators; n a positive
// multiple of 8.
TEXT ·sqDevF64AVX2(SB), NOSPLIT, $0-32
	MOVQ         x+0(FP), SI
	MOVQ         n+8(FP), CX
	VBROADCASTSD m+16(FP), Y8
	VXORPD       Y0, Y0, Y0
	VXORPD       Y1, Y1, Y1
	VXORPD       Y2, Y2, Y2
	VXORPD       Y3, Y3, Y3
	SHLQ         $2, CX
	XORQ         AX, AX

sq_loop16:
	LEAQ        64(AX), DX
	CMPQ        DX, CX
	JGT         sq_tail8
	VCVTPS2PD   (SI)(AX*1), Y4
	VCVTPS2PD   16(SI)(AX*1), Y5
	VCVTPS2PD   32(SI)(AX*1), Y6
	VCVTPS2PD   48(SI)(AX*1), Y7
	VSUBPD      Y8, Y4, Y4
	VSUBPD      Y8, Y5, Y5
	VSUBPD      Y8, Y6, Y6
	VSUBPD      Y8, Y7, Y7
	VFMADD231PD Y4, Y4, Y0
	VFMADD231PD Y5, Y5, Y1
	VFMADD231PD Y6, Y6, Y2
	VFMADD231PD Y7, Y7, Y3
	MOVQ        DX, AX
	JMP         sq_loop16

sq_tail8:
	CMPQ        AX, CX
	JGE         sq_done
	VCVTPS2PD   (SI)(AX*1), Y4
	VCVTPS2PD   16(SI)(AX*1), Y5
	VSUBPD      Y8, Y4, Y4
	VSUBPD      Y8, Y5, Y5
	VFMADD231PD Y4, Y4, Y0
	VFMADD231PD Y5, Y5, Y1

sq_done:
	VADDPD       Y1, Y0, Y0
	VADDPD       Y3, Y2, Y2
	VADDPD       Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPD       X1, X0, X0
	VHADDPD      X0, X0, X0
	VZEROUPPER
	MOVSD        X0, ret+24(FP)
	RET

// func dotAVX2(x, y *float32, n int) float32
//
// The sum of x[i]*y[i] for i < n, n a positive multiple of 8, over four vector
// accumulators (fused multiply-adds).
TEXT ·dotAVX2(SB), NOSPLIT, $0-28
	MOVQ   x+0(FP), SI
	MOVQ   y+8(FP), DI
	MOVQ   n+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	SHLQ   $2, CX
	XORQ   AX, AX

dot_loop32:
	LEAQ        128(AX), DX
	CMPQ        DX, CX
	JGT         dot_tail8
	VMOVUPS     (SI)(AX*1), Y4
	VMOVUPS     32(SI)(AX*1), Y5
	VMOVUPS     64(SI)(AX*1), Y6
	VMOVUPS     96(SI)(AX*1), Y7
	VFMADD231PS (DI)(AX*1), Y4, Y0
	VFMADD231PS 32(DI)(AX*1), Y5, Y1
	VFMADD231PS 64(DI)(AX*1), Y6, Y2
	VFMADD231PS 96(DI)(AX*1), Y7, Y3
	MOVQ        DX, AX
	JMP         dot_loop32

dot_tail8:
	CMPQ        AX, CX
	JGE         dot_done
	VMOVUPS     (SI)(AX*1), Y4
	VFMADD231PS (DI)(AX*1), Y4, Y0
	ADDQ        $32, AX
	JMP         dot_tail8

dot_done:
	VADDPS       Y1, Y0, Y0
	VADDPS       Y3, Y2, Y2
	VADDPS       Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	VZEROUPPER
	MOVSS        X0, ret+24(FP)
	RET

// func gradSumsF64AVX2(grad, x, dst *float32, n int, m float64, k float32) (sg, sgx float64)
//
// The sums of grad[i] and of grad[i]·(x[i] - m) over i < n in float64, n a positive multiple
// of 8; and, unless dst is nil, dst[i] = grad[i]*k: the input gradient of an affine
// BatchNormalization along with its parameters' gradients.
TEXT ·gradSumsF64AVX2(SB), NOSPLIT, $0-64
	MOVQ         grad+0(FP), SI
	MOVQ         x+8(FP), DI
	MOVQ         dst+16(FP), DX
	MOVQ         n+24(FP), CX
	VBROADCASTSD m+32(FP), Y8
	VBROADCASTSS k+40(FP), Y9
	VXORPD       Y0, Y0, Y0
	VXORPD       Y1, Y1, Y1
	VXORPD       Y2, Y2, Y2
	VXORPD       Y3, Y3, Y3
	SHLQ         $2, CX
	XORQ         AX, AX

gs_loop:
	CMPQ        AX, CX
	JGE         gs_done
	TESTQ       DX, DX
	JZ          gs_sums
	VMULPS      (SI)(AX*1), Y9, Y10
	VMOVUPS     Y10, (DX)(AX*1)

gs_sums:
	VCVTPS2PD   (SI)(AX*1), Y4
	VCVTPS2PD   16(SI)(AX*1), Y5
	VCVTPS2PD   (DI)(AX*1), Y6
	VCVTPS2PD   16(DI)(AX*1), Y7
	VADDPD      Y4, Y0, Y0
	VADDPD      Y5, Y1, Y1
	VSUBPD      Y8, Y6, Y6
	VSUBPD      Y8, Y7, Y7
	VFMADD231PD Y4, Y6, Y2
	VFMADD231PD Y5, Y7, Y3
	ADDQ        $32, AX
	JMP         gs_loop

gs_done:
	VADDPD       Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPD       X1, X0, X0
	VHADDPD      X0, X0, X0
	MOVSD        X0, sg+48(FP)
	VADDPD       Y3, Y2, Y2
	VEXTRACTF128 $1, Y2, X3
	VADDPD       X3, X2, X2
	VHADDPD      X2, X2, X2
	MOVSD        X2, sgx+56(FP)
	VZEROUPPER
	RET
