package onnx_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/onnx"
)

// FuzzRead feeds onnx.Read, then Import, byte strings grown from the committed models: either
// may refuse one with an error, neither may panic or allocate more than
// fixture.FuzzAllocLimit. CI runs it for a few seconds
// (scripts/test.sh); `go test -fuzz FuzzRead ./onnx` runs it for longer.
func FuzzRead(f *testing.F) {
	for _, name := range []string{"tiny_cnn.onnx", "resblock.onnx", "meta.onnx"} {
		b, err := os.ReadFile(filepath.Join(fixture.Models(f), name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte{0x08, 0x08, 0x3a, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		fixture.BoundAllocs(t, func() {
			m, err := onnx.Read(bytes.NewReader(b))
			if err != nil {
				return
			}
			onnx.Import(m) // an error is an answer; a panic is the bug
		})
	})
}
