//go:build !amd64 || purego

package tensor

// gemmAsmArchs reports no assembly kernels: only the pure-Go one exists on this platform.
func gemmAsmArchs() []*gemmArch { return nil }
