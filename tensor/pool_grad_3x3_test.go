package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestMaxPoolGrad3x3S2: the 3×3 stride-2 path (maxPoolGrad3x3S2) sends each output's
// gradient to the cell MaxPool's Indices name, on rows shorter and longer than a vector step,
// every padding up to 2, ceil-mode windows past the edge, inputs full of ties (as after a
// Relu) and NaNs; with the vector kernel and with the Go loop alone.
func TestMaxPoolGrad3x3S2(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	nan := float32(math.NaN())
	for _, c := range []struct {
		planes, h, w, pad int
		ceil              bool
	}{
		{3, 9, 8, 1, false}, {2, 8, 7, 1, true}, {2, 40, 37, 1, false}, {1, 23, 35, 0, true},
		{2, 12, 20, 2, false}, {1, 5, 5, 0, false}, {4, 55, 55, 0, true}, {2, 112, 112, 1, false},
	} {
		oh := ConvOutSize(c.h, 3, 2, 1, c.pad, c.pad, c.ceil)
		ow := ConvOutSize(c.w, 3, 2, 1, c.pad, c.pad, c.ceil)
		g := &PoolGeom{Planes: c.planes, InShape: []int{c.h, c.w}, Kernel: []int{3, 3}, OutShape: []int{oh, ow},
			Strides: []int{2, 2}, Dilations: []int{1, 1}, Pads: []int{c.pad, c.pad}, PadsEnd: []int{c.pad, c.pad}}
		for _, input := range []string{"normal", "ties", "nan"} {
			n, m := c.planes*c.h*c.w, c.planes*oh*ow
			x := make([]float32, n)
			for i := range x {
				x[i] = float32(r.NormFloat64())
				switch {
				case input == "ties":
					x[i] = max(0, float32(math.Floor(float64(x[i])*2)))
				case input == "nan" && r.IntN(20) == 0:
					x[i] = nan
				}
			}
			y, idx := make([]float32, m), make([]int64, m)
			MaxPool(y, idx, x, g, false)
			dy := gemmRandom(r, m)
			want := make([]float32, n)
			for o, i := range idx {
				if i >= 0 {
					want[i] += dy[o]
				}
			}
			for _, forceGo := range []bool{false, true} {
				name := fmt.Sprintf("%+v/%s/forceGo=%v", c, input, forceGo)
				simdForceGo = forceGo
				dx := gemmRandom(r, n) // overwritten
				MaxPoolGrad(dx, dy, x, y, g)
				simdForceGo = false
				for i := range want {
					if dx[i] != want[i] {
						t.Fatalf("%s: dx[%d] = %v, want %v", name, i, dx[i], want[i])
					}
				}
			}
		}
	}
}
