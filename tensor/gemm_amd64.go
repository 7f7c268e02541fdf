//go:build amd64 && !purego

package tensor

import "math"

//go:generate go run gemm_asmgen.go conv_direct_asmgen.go conv_wide_asmgen.go

// The assembly kernels take raw pointers; the wrappers below bound-check the extreme
// elements each will touch so that a driver bug panics instead of corrupting memory.

//go:noescape
func gemmAVX2K6x16(kc int, a, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, flags int, bias *float32, lo, hi float32)

// fmaPeakAVX512 runs n steps of 12 independent AVX-512 FMAs (384 float32 flops a step).
func fmaPeakAVX512(n int)

//go:noescape
func gemmAVX512K8x32(kc int, a, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, flags int, bias *float32, lo, hi float32)

//go:noescape
func gemmCopyChunks(dst *float32, dstStride int, src *float32, chunks, chunkBytes int)

//go:noescape
func gemmTranspose8(dst *float32, dstStride int, src *float32, srcStride, blocks int)

//go:noescape
func gemmCPUID(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)

//go:noescape
func gemmXGETBV() (eax, edx uint32)

func gemmKernAVX2(kc int, a, b []float32, ldb int, c []float32, ldc int, alpha, beta float32, loadC bool, _ gemmEpilogue) {
	_, _, _ = a[kc*6-1], b[(kc-1)*ldb+15], c[5*ldc+15]
	gemmAVX2K6x16(kc, &a[0], &b[0], ldb, &c[0], ldc, alpha, beta, gemmFlags(loadC, alpha), nil, 0, 0)
}

// gemmKernAVX512 applies the epilogue in registers, before the tile is stored.
func gemmKernAVX512(kc int, a, b []float32, ldb int, c []float32, ldc int, alpha, beta float32, loadC bool, ep gemmEpilogue) {
	_, _, _ = a[kc*8-1], b[(kc-1)*ldb+31], c[7*ldc+31]
	flags, bias := ep.kernelFlags(8)
	gemmAVX512K8x32(kc, &a[0], &b[0], ldb, &c[0], ldc, alpha, beta, gemmFlags(loadC, alpha)|flags, bias, ep.lo, ep.hi)
}

// kernelFlags returns the flags (bits 2, 4, 8 and 16; see gemm_asmgen.go) and the bias
// pointer with which an assembly kernel applies e to a tile of rows rows.
func (e gemmEpilogue) kernelFlags(rows int) (flags int, bias *float32) {
	if e.bias != nil {
		_ = e.bias[rows-1]
		flags, bias = 2, &e.bias[0]
	}
	if e.clamp {
		flags |= 4
		// The two-instruction clamp (see gemm_asmgen.go) wherever it matches Go's.
		lo, hi := float64(e.lo), float64(e.hi)
		if !math.IsNaN(lo) && !math.IsNaN(hi) && !(hi == 0 && math.Signbit(hi)) {
			flags |= 8
			if lo == 0 && !math.Signbit(lo) {
				flags |= 16
			}
		}
	}
	return flags, bias
}

// gemmCopyPanels copies len(src)/nr runs of nr values from src into dst, run j going to
// dst[j*stride:]. It is the inner loop of packing an untransposed B.
func gemmCopyPanels(dst []float32, stride int, src []float32, nr int) {
	chunks := len(src) / nr
	if chunks == 0 {
		return
	}
	if gemmHasAVX && (nr == 16 || nr == 32) {
		_ = dst[(chunks-1)*stride+nr-1]
		gemmCopyChunks(&dst[0], stride*4, &src[0], chunks, nr*4)
		return
	}
	for j := 0; j < chunks; j++ {
		copy(dst[j*stride:j*stride+nr], src[j*nr:j*nr+nr])
	}
}

// gemmInterleave8 sets dst[p*w+i] = src[i*ld+p] for i < 8 and p below a multiple of 8 as
// close to kc as it can, with 8×8 register transposes, and returns that multiple; the
// caller finishes the remaining columns.
func gemmInterleave8(dst []float32, w int, src []float32, ld, kc int) int {
	blocks := kc / 8
	if !gemmHasAVX || blocks == 0 {
		return 0
	}
	_, _ = dst[(blocks*8-1)*w+7], src[7*ld+blocks*8-1]
	gemmTranspose8(&dst[0], w, &src[0], ld, blocks)
	return blocks * 8
}

// gemmFlags returns the kernels' flags for C and alpha: 1 to add beta*C, 32 when alpha is 1
// (the products need no scaling). The AVX-512 kernel's epilogue adds bits 2-16.
func gemmFlags(loadC bool, alpha float32) int {
	flags := 0
	if loadC {
		flags |= 1
	}
	if alpha == 1 {
		flags |= 32
	}
	return flags
}

var (
	gemmHasAVX bool // set by gemmAsmArchs, which runs during package initialisation

	gemmAVX2Arch   = gemmArch{name: "avx2-6x16", mr: 6, nr: 16, mc: 120, kc: 256, nc: 1024, kern: gemmKernAVX2}
	gemmAVX512Arch = gemmArch{name: "avx512-8x32", mr: 8, nr: 32, mc: 128, kc: 256, nc: 1024, kern: gemmKernAVX512, epilogue: true}
)

// gemmAsmArchs returns the assembly kernels this CPU and OS can run, best last. It reads
// CPUID itself rather than importing golang.org/x/sys/cpu for three feature bits.
func gemmAsmArchs() []*gemmArch {
	maxID, _, _, _ := gemmCPUID(0, 0)
	if maxID < 7 {
		return nil
	}
	_, _, ecx1, _ := gemmCPUID(1, 0)
	_, ebx7, _, _ := gemmCPUID(7, 0)
	const (
		fma     = 1 << 12 // CPUID.1:ECX
		osxsave = 1 << 27 // CPUID.1:ECX
		avx     = 1 << 28 // CPUID.1:ECX
		avx2    = 1 << 5  // CPUID.7.0:EBX
		avx512f = 1 << 16 // CPUID.7.0:EBX
	)
	if ecx1&(fma|osxsave|avx) != fma|osxsave|avx || ebx7&avx2 == 0 {
		return nil
	}
	// The OS must save the vector registers across context switches: XCR0 bits 1-2 cover
	// XMM/YMM, bits 5-7 the AVX-512 opmask and ZMM state.
	xcr0, _ := gemmXGETBV()
	if xcr0&0x6 != 0x6 {
		return nil
	}
	gemmHasAVX = true
	archs := []*gemmArch{&gemmAVX2Arch}
	if ebx7&avx512f != 0 && xcr0&0xe6 == 0xe6 {
		archs = append(archs, &gemmAVX512Arch)
	}
	return archs
}
