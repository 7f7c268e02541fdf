//go:build !amd64 || purego

package tensor

// dwRowsSIMD reports that no vector row kernels exist here: convDepthwise3x3 does all.
func dwRowsSIMD() bool { return false }

func dwRowS1(dst, r0, r1, r2 []float32, w *[9]float32, bias float32) {
	panic("tensor: dwRowS1 without assembly")
}

func dwRowS2(dst, e0, e1, e2, o0, o1, o2 []float32, w *[9]float32, bias float32) {
	panic("tensor: dwRowS2 without assembly")
}

func dwFlat(dst, f []float32, maskL, maskR []uint32, iw int, w *[9]float32, bias float32) {
	panic("tensor: dwFlat without assembly")
}

func deinterleaveFloat32(a, b, src []float32) int { return 0 }
