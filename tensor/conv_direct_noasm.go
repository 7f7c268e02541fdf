//go:build !amd64 || purego

package tensor

// convDirectSIMD reports that the direct convolution's kernels do not exist here.
func convDirectSIMD() bool { return false }

func convDirectTile(n, rows, blocks int, w []float32, offs []int64, x []float32, pix *[convDirectPixels]int64, out []float32, ldo int, ep gemmEpilogue, part *[convDirectPixels * convDirectChannels]float32, first, last bool) {
	panic("tensor: convDirectTile without assembly")
}
