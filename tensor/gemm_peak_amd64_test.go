//go:build amd64 && !purego

package tensor

import (
	"runtime"
	"slices"
	"testing"

	"github.com/onnxtune/onnxtune/internal/parallel"
)

// BenchmarkGemmPeak measures the float32 FMA throughput of this machine on GOMAXPROCS cores,
// register to register: the ceiling for BenchmarkGemmArch's avx512-8x32 kernel, whose
// GFLOP/s are read against it (go test ./tensor -run '^$' -bench 'GemmPeak|GemmArch/avx512-8x32/square' -cpu 2).
func BenchmarkGemmPeak(b *testing.B) {
	if !slices.Contains(gemmArchs, &gemmAVX512Arch) {
		b.Skip("no AVX-512 on this CPU")
	}
	const steps = 1 << 20 // per core and iteration: 384 Mflop
	procs := runtime.GOMAXPROCS(0)
	for range b.N {
		parallel.For(procs, procs, func(int) { fmaPeakAVX512(steps) })
	}
	b.ReportMetric(float64(procs)*steps*384*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
