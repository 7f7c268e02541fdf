package tensor

import (
	"math"
	"testing"
)

// TestAllFinite: one NaN or infinity anywhere (on the vector lanes or in the tail) makes a
// slice not finite, and the largest finite values, which would overflow a float32 sum, do
// not; with simdForceGo the Go loop says the same.
func TestAllFinite(t *testing.T) {
	for _, forceGo := range []bool{false, true} {
		simdForceGo = forceGo
		for _, n := range []int{1, 7, 8, 9, 31, 33, 4100, 10001} {
			v := make([]float32, n)
			for i := range v {
				v[i] = math.MaxFloat32
				if i%2 == 1 {
					v[i] = -math.MaxFloat32 / 3
				}
			}
			if !AllFinite(v) {
				t.Fatalf("go=%v n=%d: finite values reported not finite", forceGo, n)
			}
			for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
				for _, at := range []int{0, n / 2, n - 1} {
					old := v[at]
					v[at] = bad
					if AllFinite(v) {
						t.Errorf("go=%v n=%d: %v at %d not found", forceGo, n, bad, at)
					}
					v[at] = old
				}
			}
		}
	}
	simdForceGo = false
	if !AllFinite(nil) {
		t.Error("an empty slice is finite")
	}
}
