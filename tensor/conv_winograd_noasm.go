//go:build !amd64 || purego

package tensor

func winogradInputRows(v []float32, stride int, eo []float32, rowStride, n int) int { return 0 }

func winogradOutputRows(row0, row1, m []float32, stride, n int) int { return 0 }

func winogradOutputGradRows(v []float32, stride int, eo []float32, rowStride, n int) int {
	return 0
}
