package tensor

import "testing"

func BenchmarkClipSIMD(b *testing.B) {
	x := simdInputs(8*32*112*112, 1)
	d := make([]float32, len(x))
	for _, force := range []bool{false, true} {
		name := "asm"
		if force {
			name = "go"
		}
		b.Run(name, func(b *testing.B) {
			simdForceGo = force
			defer func() { simdForceGo = false }()
			b.SetBytes(int64(8 * len(x)))
			for b.Loop() {
				Clip(d, x, 0, 6)
			}
		})
	}
}

