//go:build !amd64 || purego

package tensor

// gemmAsmArchs reports no assembly kernels: only the pure-Go one exists on this platform.
func gemmAsmArchs() []*gemmArch { return nil }

// gemmCopyPanels copies len(src)/nr runs of nr values from src into dst, run j going to
// dst[j*stride:].
func gemmCopyPanels(dst []float32, stride int, src []float32, nr int) {
	for j := 0; j < len(src)/nr; j++ {
		copy(dst[j*stride:j*stride+nr], src[j*nr:j*nr+nr])
	}
}

// gemmInterleave8 has no portable fast path; gemmPackInterleave does all the work.
func gemmInterleave8(dst []float32, w int, src []float32, ld, kc int) int { return 0 }
