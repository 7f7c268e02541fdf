//go:build !amd64 || purego

package tensor

func winogradInputRows(v []float32, stride int, eo []float32, rowStride, n int) int { return 0 }

func winogradOutputRows(row0, row1, m []float32, stride, n int) int { return 0 }

func winogradOutputGradRows(v []float32, stride int, eo []float32, rowStride, n int) int {
	return 0
}

func winograd4InputRows(v []float32, stride int, phases []float32, rowStride, n int, pass []float32) int {
	return 0
}

func winograd4OutputRows(rows []float32, rowStride int, m []float32, stride, n int, pass []float32) int {
	return 0
}

func deinterleave4Rows(dst []float32, stride int, src []float32) int { return 0 }

func winograd4OutputGradRows(v []float32, stride int, phases []float32, rowStride, n int, pass []float32) int {
	return 0
}
