package data

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/tensor"
)

// FuzzReadIDX feeds the IDX reader arbitrary byte strings grown from valid headers: it may
// refuse one with an error, never panic, and what it accepts holds as many elements as its
// dimensions say.
func FuzzReadIDX(f *testing.F) {
	f.Add([]byte{0, 0, 0x0B, 2, 0, 0, 0, 2, 0, 0, 0, 2, 0xff, 0xfe, 0, 1, 0x01, 0x00, 0x7f, 0xff})
	f.Add([]byte{0, 0, 0x08, 1, 0, 0, 0, 3, 1, 2, 3})
	f.Add([]byte{0, 0, 0x0D, 3, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		var x *tensor.Tensor
		var err error
		fixture.BoundAllocs(t, func() { x, err = ReadIDX(bytes.NewReader(b)) })
		if err != nil {
			return
		}
		n := 1
		for _, d := range x.Shape() {
			n *= d
		}
		if x.Len() != n {
			t.Fatalf("%v holds %d elements", x, x.Len())
		}
	})
}

// FuzzImageFolder decodes arbitrary bytes as the one image of a class folder, as train and
// eval read scans: a file that is no image must fail with an error naming it, never panic.
func FuzzImageFolder(f *testing.F) {
	for _, name := range []string{"bags", "tops"} {
		entries, err := os.ReadDir(filepath.Join(fixture.Root(f), "testdata", "demo", "images", name))
		if err != nil || len(entries) == 0 {
			f.Fatalf("the demo images are missing: %v", err)
		}
		b, err := os.ReadFile(filepath.Join(fixture.Root(f), "testdata", "demo", "images", name, entries[0].Name()))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte("\x89PNG\r\n\x1a\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		if err := os.Mkdir(filepath.Join(dir, "a"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "a", "x.png"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		fixture.BoundAllocs(t, func() {
			ds, err := OpenImageFolder(dir, ImageTransform{Channels: 1, Height: 28, Width: 28})
			if err != nil {
				return
			}
			ds.Example(0)
		})
	})
}

// FuzzLoadNPZ opens arbitrary bytes grown from np.savez and np.savez_compressed archives as
// an .npz file: it may refuse one with an error naming the file, never panic, and never
// allocate more than fixture.FuzzAllocLimit (a deflated entry can claim any size).
func FuzzLoadNPZ(f *testing.F) {
	for _, name := range []string{"savez.npz", "savez_compressed.npz"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte("PK\x05\x06" + string(make([]byte, 18))))
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(t.TempDir(), "d.npz")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		fixture.BoundAllocs(t, func() {
			if _, _, err := LoadNPZ(path); err != nil && !strings.Contains(err.Error(), path) {
				t.Fatalf("the error does not name the file: %v", err)
			}
		})
	})
}
