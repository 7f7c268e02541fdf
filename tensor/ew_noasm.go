//go:build !amd64 || purego

package tensor

// Without assembly every element-wise loop runs in Go: the wrappers do no elements.

var simdForceGo bool

func clampFloat32(dst, src []float32, lo, hi float32) int                         { return 0 }
func hardSigmoidFloat32(dst, src []float32, alpha, beta float32) int              { return 0 }
func adamFloat32(p, g, m, v []float32, c *AdamCoeffs) int                         { return 0 }
func reluGradFloat32(dst, g, y []float32) int                                     { return 0 }
func bnInputGradFloat32(dst, g, x []float32, a, b, off float32) int               { return 0 }
func affineFloat32(dst, src []float32, a, b float32) int                          { return 0 }
func addScalarClampFloat32(dst, src []float32, b, lo, hi float32, clamp bool) int { return 0 }
func addResidualClampFloat32(dst, src, res []float32, b, lo, hi float32, clamp bool) int {
	return 0
}
func maxFloat32(dst, a, b []float32) int      { return 0 }
func addFloat32(dst, a, b []float32) int      { return 0 }
func hardSwishFloat32(dst, src []float32) int { return 0 }
func expFloat32(dst, src []float32) int       { return 0 }
func sigmoidFloat32(dst, src []float32) int   { return 0 }
func tanhFloat32(dst, src []float32) int      { return 0 }

func sumF64Float32(x []float32) (float64, int)              { return 0, 0 }
func sqDevF64Float32(x []float32, m float64) (float64, int) { return 0, 0 }
func gradSumsF64Float32(g, x, dst []float32, m float64, k float32) (sg, sgx float64, done int) {
	return 0, 0, 0
}

func dotSIMD(x, y []float32) (float32, int) { return 0, 0 }
