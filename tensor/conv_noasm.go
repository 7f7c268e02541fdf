//go:build !amd64 || purego

package tensor

// dwRowsSIMD reports that no vector kernels exist here: the Go loops do all.
func dwRowsSIMD() bool { return false }

func dwRowS1(dst, r0, r1, r2 []float32, w *[9]float32, bias float32) {
	panic("tensor: dwRowS1 without assembly")
}

func dwRowS2(dst, e0, e1, e2, o0, o1, o2 []float32, w *[9]float32, bias float32) {
	panic("tensor: dwRowS2 without assembly")
}

func dwPlaneS2(dst, e, o []float32, oh, ow int, w *[9]float32, bias float32) {
	panic("tensor: dwPlaneS2 without assembly")
}

func dwFlatPlanes(dst, f []float32, maskL, maskR []uint32, n, iw, stride int, w, bias []float32) {
	panic("tensor: dwFlatPlanes without assembly")
}

func deinterleaveFloat32(a, b, src []float32) int { return 0 }

func dwRow(dst []float32, rows [][]float32, taps []int, w []float32, bias float32) {
	panic("tensor: dwRow without assembly")
}

func maxPoolRow3x3S2(dst, r0, r1, r2 []float32) bool { return false }

func maxPoolArgRow3x3S2(idx []int32, r0, r1, r2, y []float32) int { return 0 }
