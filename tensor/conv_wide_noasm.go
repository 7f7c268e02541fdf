//go:build !amd64 || purego

package tensor

func convWideTile(w []float32, offs []int64, x []float32, segs *[convWideSegments]int64, y []float32, outs *[convWideSegments]int64, ep gemmEpilogue, masks, ldo, outC int) {
	panic("tensor: convWideTile without assembly")
}
