package data

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/tensor"
)

// The fixtures in testdata/ come from testdata/gen_npy.py (real numpy). Element i, counted in
// C order, holds fixtureValue(dtype, i); see the formulas at the top of the script.

// fixtureScale is the script's s: the multiplier for integers, by element width in bytes.
var fixtureScale = map[int]int64{1: 7, 2: 1000, 4: 100000, 8: 1_000_000_000_000}

// fixtureValue returns element i of a fixture of dtype dt, as gen_npy.py computes it.
func fixtureValue(dt tensor.DType, i int) float64 {
	x := float64(i)
	switch dt {
	case tensor.Float16:
		return (x - 2.5) * 0.5
	case tensor.Float32:
		return float64(float32((x - 2.5) / 3))
	case tensor.Float64:
		return (x - 2.5) / 3
	case tensor.Int8, tensor.Int16, tensor.Int32, tensor.Int64:
		return float64((int64(i) - 3) * fixtureScale[dt.Size()])
	case tensor.Uint8, tensor.Uint16, tensor.Uint32, tensor.Uint64:
		return float64(int64(i) * fixtureScale[dt.Size()])
	case tensor.Bool:
		if i%3 == 0 {
			return 1
		}
		return 0
	}
	panic(fmt.Sprintf("fixtureValue: dtype %v", dt))
}

// fixtureTensor builds, in Go, the tensor gen_npy.py saves for dt and shape.
func fixtureTensor(dt tensor.DType, shape ...int) *tensor.Tensor {
	t := tensor.New(dt, shape...)
	for i := range t.Len() {
		v := fixtureValue(dt, i)
		switch s := t.Data().(type) {
		case []float32:
			s[i] = float32(v)
		case []float64:
			s[i] = v
		case []uint16:
			if dt == tensor.Float16 {
				s[i] = tensor.Float32ToFloat16(float32(v))
			} else {
				s[i] = uint16(v)
			}
		case []int8:
			s[i] = int8(v)
		case []int16:
			s[i] = int16(v)
		case []int32:
			s[i] = int32(v)
		case []int64:
			s[i] = int64(v)
		case []uint8:
			s[i] = uint8(v)
		case []uint32:
			s[i] = uint32(v)
		case []uint64:
			s[i] = uint64(v)
		case []bool:
			s[i] = v != 0
		}
	}
	return t
}

// checkFixture fails unless got is the fixture of dtype dt and the given shape.
func checkFixture(t *testing.T, name string, got *tensor.Tensor, dt tensor.DType, shape ...int) {
	t.Helper()
	if got.DType() != dt || !tensor.EqualShapes(got.Shape(), shape) {
		t.Fatalf("%s: got %v, want %v%s", name, got, dt, tensor.ShapeString(shape))
	}
	for i := range got.Len() {
		if g, w := got.Float64At(i), fixtureValue(dt, i); g != w {
			t.Fatalf("%s: element %d: got %v, want %v", name, i, g, w)
		}
	}
}

// rawLE returns a tensor's elements encoded little-endian, to compare tensors bit for bit
// (NaN payloads and negative zero included).
func rawLE(t *tensor.Tensor) []byte {
	b, err := binary.Append(nil, binary.LittleEndian, t.Data())
	if err != nil {
		panic(err)
	}
	return b
}

func sameTensor(a, b *tensor.Tensor) bool {
	return a.DType() == b.DType() && tensor.EqualShapes(a.Shape(), b.Shape()) && bytes.Equal(rawLE(a), rawLE(b))
}

var npyFixtures = []struct {
	file  string
	dtype tensor.DType
	shape []int
}{
	{"float16.npy", tensor.Float16, []int{2, 3}},
	{"float32.npy", tensor.Float32, []int{2, 3}},
	{"float64.npy", tensor.Float64, []int{2, 3}},
	{"int8.npy", tensor.Int8, []int{2, 3}},
	{"int16.npy", tensor.Int16, []int{2, 3}},
	{"int32.npy", tensor.Int32, []int{2, 3}},
	{"int64.npy", tensor.Int64, []int{2, 3}},
	{"uint8.npy", tensor.Uint8, []int{2, 3}},
	{"uint16.npy", tensor.Uint16, []int{2, 3}},
	{"uint32.npy", tensor.Uint32, []int{2, 3}},
	{"uint64.npy", tensor.Uint64, []int{2, 3}},
	{"bool.npy", tensor.Bool, []int{2, 3}},
	{"float16_be.npy", tensor.Float16, []int{2, 3}},
	{"float32_be.npy", tensor.Float32, []int{2, 3}},
	{"float64_be.npy", tensor.Float64, []int{2, 3}},
	{"int16_be.npy", tensor.Int16, []int{2, 3}},
	{"int64_be.npy", tensor.Int64, []int{2, 3}},
	{"uint32_be.npy", tensor.Uint32, []int{2, 3}},
	{"float32_fortran.npy", tensor.Float32, []int{2, 3, 4}},
	{"int16_fortran.npy", tensor.Int16, []int{2, 3}},
	{"float64_scalar.npy", tensor.Float64, []int{}},
	{"int64_scalar.npy", tensor.Int64, []int{}},
	{"float32_empty.npy", tensor.Float32, []int{3, 0}},
	{"bool_empty.npy", tensor.Bool, []int{0}},
}

func TestLoadNPY(t *testing.T) {
	for _, tc := range npyFixtures {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("testdata", tc.file)
			got, err := LoadNPY(path)
			if err != nil {
				t.Fatal(err)
			}
			checkFixture(t, "LoadNPY", got, tc.dtype, tc.shape...)

			// ReadNPY must give the same through readers that return one byte at a time,
			// which is how a short read from a pipe or a decompressor looks.
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			got, err = ReadNPY(iotest.OneByteReader(bytes.NewReader(raw)))
			if err != nil {
				t.Fatal(err)
			}
			checkFixture(t, "ReadNPY", got, tc.dtype, tc.shape...)
		})
	}
}

func TestLoadNPZ(t *testing.T) {
	for _, file := range []string{"savez.npz", "savez_compressed.npz"} {
		t.Run(file, func(t *testing.T) {
			arrays, keys, err := LoadNPZ(filepath.Join("testdata", file))
			if err != nil {
				t.Fatal(err)
			}
			if want := []string{"weight", "label", "scale", "mask"}; !slices.Equal(keys, want) {
				t.Fatalf("keys: got %q, want %q", keys, want)
			}
			if len(arrays) != len(keys) {
				t.Fatalf("got %d arrays for %d keys", len(arrays), len(keys))
			}
			checkFixture(t, "weight", arrays["weight"], tensor.Float32, 2, 3)
			checkFixture(t, "label", arrays["label"], tensor.Int64, 4)
			checkFixture(t, "scale", arrays["scale"], tensor.Float64)
			checkFixture(t, "mask", arrays["mask"], tensor.Bool, 2, 2)
		})
	}
}

// roundTripTensors returns, for every dtype numpy has, tensors of several shapes whose values
// include each type's extremes and, for floats, NaN, infinities and negative zero.
func roundTripTensors() []*tensor.Tensor {
	var out []*tensor.Tensor
	for _, dt := range []tensor.DType{
		tensor.Float16, tensor.Float32, tensor.Float64,
		tensor.Int8, tensor.Int16, tensor.Int32, tensor.Int64,
		tensor.Uint8, tensor.Uint16, tensor.Uint32, tensor.Uint64, tensor.Bool,
	} {
		out = append(out,
			fixtureTensor(dt, 2, 3),
			fixtureTensor(dt),
			fixtureTensor(dt, 0),
			fixtureTensor(dt, 3, 0, 2),
			fixtureTensor(dt, 2, 1, 3, 1, 2))
	}
	out = append(out,
		tensor.FromBits(tensor.Float16, []int{5}, []uint16{0x7e01, 0x7c00, 0xfc00, 0x8000, 0x0001}),
		tensor.From([]int{4}, []float32{float32(math.NaN()), float32(math.Inf(-1)), float32(math.Copysign(0, -1)), math.MaxFloat32}),
		tensor.From([]int{3}, []float64{math.Inf(1), math.SmallestNonzeroFloat64, math.Float64frombits(0x7ff8dead)}),
		tensor.From([]int{2}, []int64{math.MinInt64, math.MaxInt64}),
		tensor.From([]int{2}, []int8{math.MinInt8, math.MaxInt8}),
		tensor.From([]int{1}, []uint64{math.MaxUint64}),
		tensor.From([]int{1}, []uint32{math.MaxUint32}),
	)
	return out
}

func TestNPYRoundTrip(t *testing.T) {
	for _, want := range roundTripTensors() {
		var buf bytes.Buffer
		if err := WriteNPY(&buf, want); err != nil {
			t.Fatalf("WriteNPY %v: %v", want, err)
		}
		if buf.Len()%arrayAlign != (want.Len()*want.DType().Size())%arrayAlign {
			t.Errorf("%v: header not padded to %d bytes", want, arrayAlign)
		}
		got, err := ReadNPY(&buf)
		if err != nil {
			t.Fatalf("ReadNPY %v: %v", want, err)
		}
		if !sameTensor(got, want) {
			t.Errorf("round trip: got %v %v, want %v %v", got, got.Data(), want, want.Data())
		}
		if buf.Len() != 0 {
			t.Errorf("%v: ReadNPY left %d bytes unread", want, buf.Len())
		}
	}
}

// TestNPYStream checks that ReadNPY stops at the end of one array, as np.load does when
// several arrays were np.save'd to one file.
func TestNPYStream(t *testing.T) {
	a, b := fixtureTensor(tensor.Int32, 2, 2), fixtureTensor(tensor.Float16, 3)
	var buf bytes.Buffer
	if err := WriteNPY(&buf, a); err != nil {
		t.Fatal(err)
	}
	if err := WriteNPY(&buf, b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []*tensor.Tensor{a, b} {
		got, err := ReadNPY(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if !sameTensor(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	}
}

// TestNPYLarge covers data that spans several read and write chunks, and a header too long
// for format version 1.0.
func TestNPYLarge(t *testing.T) {
	n := 3*chunkBytes/4 + 17
	big := tensor.New(tensor.Float32, 4, n)
	s := tensor.Data[float32](big)
	for i := range s {
		s[i] = float32(i)
	}
	path := filepath.Join(t.TempDir(), "big.npy")
	if err := SaveNPY(path, big); err != nil {
		t.Fatal(err)
	}
	got, err := LoadNPY(path)
	if err != nil {
		t.Fatal(err)
	}
	if !sameTensor(got, big) {
		t.Errorf("LoadNPY: got %v, want %v with the same elements", got, big)
	}

	ones := make([]int, 30000) // "1, " per dimension: a header of about 90 KB
	for i := range ones {
		ones[i] = 1
	}
	deep := tensor.From(ones, []int16{-5})
	var buf bytes.Buffer
	if err := WriteNPY(&buf, deep); err != nil {
		t.Fatal(err)
	}
	if v := buf.Bytes()[6]; v != 2 {
		t.Errorf("a 90 KB header was written as format version %d, want 2", v)
	}
	got, err = ReadNPY(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !sameTensor(got, deep) {
		t.Errorf("version 2 round trip: got %v, want %v", got, deep)
	}
}

func TestSaveNPZRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.npz")
	names := []string{"z", "weight", "a", "f16"}
	arrays := map[string]*tensor.Tensor{
		"z":      fixtureTensor(tensor.Uint8, 0, 4),
		"weight": fixtureTensor(tensor.Float32, 3, 2),
		"a":      fixtureTensor(tensor.Int64),
		"f16":    fixtureTensor(tensor.Float16, 6),
	}
	if err := SaveNPZ(path, names, arrays); err != nil {
		t.Fatal(err)
	}
	got, keys, err := LoadNPZ(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(keys, names) {
		t.Fatalf("keys: got %q, want %q", keys, names)
	}
	for _, name := range names {
		if !sameTensor(got[name], arrays[name]) {
			t.Errorf("%s: got %v, want %v", name, got[name], arrays[name])
		}
	}
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	for _, f := range zr.File {
		if f.Method != zip.Store {
			t.Errorf("entry %s: got method %d, want %d (stored, as np.savez writes)", f.Name, f.Method, zip.Store)
		}
	}
}

// python returns the path of a Python 3 that can import numpy. It fails the test in CI, where
// the reference must exist, and skips it elsewhere.
func python(t *testing.T) string {
	t.Helper()
	const py = "/usr/bin/python3"
	out, err := exec.Command(py, "-c", "import numpy").CombinedOutput()
	if err != nil {
		msg := fmt.Sprintf("checking files against numpy needs %s with numpy "+
			"(install it: apt-get install python3-numpy, or pip install numpy): %v %s", py, err, out)
		t.Fatal(msg) // a missing reference fails, in CI and out of it

	}
	return py
}

// numpyLoadScript loads every .npy and .npz under a directory with numpy and prints, as
// JSON, each array's dtype string, shape and values; for archives also the key order and
// whether any entry is compressed.
const numpyLoadScript = `
import json, os, sys, zipfile
import numpy as np

def describe(a):
    return {"dtype": a.dtype.str, "shape": list(a.shape),
            "values": [float(v) for v in a.ravel(order="C").tolist()]}

out = {}
d = sys.argv[1]
for name in sorted(os.listdir(d)):
    path = os.path.join(d, name)
    if name.endswith(".npy"):
        out[name] = describe(np.load(path, allow_pickle=False))
    elif name.endswith(".npz"):
        with np.load(path, allow_pickle=False) as z:
            keys = list(z.keys())
            out[name] = {"keys": keys, "arrays": {k: describe(z[k]) for k in keys}}
        out[name]["compressed"] = any(i.compress_type != zipfile.ZIP_STORED
                                      for i in zipfile.ZipFile(path).infolist())
json.dump(out, sys.stdout)
`

type numpyArray struct {
	DType  string    `json:"dtype"`
	Shape  []int     `json:"shape"`
	Values []float64 `json:"values"`
}

// checkNumpyArray compares numpy's view of an array onnxtune wrote with the tensor written.
func checkNumpyArray(t *testing.T, name string, got numpyArray, want *tensor.Tensor) {
	t.Helper()
	descr, err := npyDescr(want.DType())
	if err != nil {
		t.Fatal(err)
	}
	if got.DType != descr || !tensor.EqualShapes(got.Shape, want.Shape()) {
		t.Errorf("%s: numpy sees %s %v, want %s %v", name, got.DType, got.Shape, descr, want.Shape())
		return
	}
	if !slices.Equal(got.Values, want.ToFloat64s()) {
		t.Errorf("%s: numpy sees %v, want %v", name, got.Values, want.ToFloat64s())
	}
}

func TestNumpyLoadsGoFiles(t *testing.T) {
	py := python(t)
	dir := t.TempDir()
	written := map[string]*tensor.Tensor{}
	for _, tc := range npyFixtures {
		// The same dtypes and shapes numpy wrote for the fixtures, now written by Go.
		name := "go_" + tc.file
		written[name] = fixtureTensor(tc.dtype, tc.shape...)
		if err := SaveNPY(filepath.Join(dir, name), written[name]); err != nil {
			t.Fatal(err)
		}
	}
	names := []string{"weight", "label", "scale", "mask"}
	arrays := map[string]*tensor.Tensor{
		"weight": fixtureTensor(tensor.Float32, 2, 3),
		"label":  fixtureTensor(tensor.Int64, 4),
		"scale":  fixtureTensor(tensor.Float64),
		"mask":   fixtureTensor(tensor.Bool, 2, 2),
	}
	if err := SaveNPZ(filepath.Join(dir, "go.npz"), names, arrays); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(py, "-c", numpyLoadScript, dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("numpy could not load the files Go wrote: %v\n%s", err, stderr.String())
	}
	var loaded map[string]json.RawMessage
	if err := json.Unmarshal(out, &loaded); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	for name, want := range written {
		var got numpyArray
		if err := json.Unmarshal(loaded[name], &got); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		checkNumpyArray(t, name, got, want)
	}
	var npz struct {
		Keys       []string              `json:"keys"`
		Arrays     map[string]numpyArray `json:"arrays"`
		Compressed bool                  `json:"compressed"`
	}
	if err := json.Unmarshal(loaded["go.npz"], &npz); err != nil {
		t.Fatalf("go.npz: %v", err)
	}
	if !slices.Equal(npz.Keys, names) {
		t.Errorf("go.npz: numpy sees keys %q, want %q", npz.Keys, names)
	}
	if npz.Compressed {
		t.Errorf("go.npz: numpy sees compressed entries, want stored ones as np.savez writes")
	}
	for _, name := range names {
		checkNumpyArray(t, "go.npz "+name, npz.Arrays[name], arrays[name])
	}
}

// npyBytes builds an NPY file from a header dict and data, padding as numpy does.
func npyBytes(dict string, data []byte) []byte {
	n := 10 + len(dict) + 1
	pad := (arrayAlign - n%arrayAlign) % arrayAlign
	h := dict + strings.Repeat(" ", pad) + "\n"
	b := append([]byte("\x93NUMPY\x01\x00"), byte(len(h)), byte(len(h)>>8))
	b = append(b, h...)
	return append(b, data...)
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// badNPY lists malformed NPY inputs and a piece of the error each must produce.
func badNPY(t testing.TB) []struct {
	name, content, want string
} {
	f32 := readFixture(t, "float32.npy")
	random := make([]byte, 300)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	// A header dict without the '\n' numpy ends it with.
	noNewline := npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", make([]byte, 4))
	noNewline[len(noNewline)-5] = ' '
	return []struct{ name, content, want string }{
		{"empty", "", "empty input"},
		{"wrong magic", "\x93NUMPX\x01\x00" + string(f32[8:]), "bad magic"},
		{"random bytes", string(random), "bad magic"},
		{"random after magic", "\x93NUMPY\x01\x00" + string(random), "header"},
		{"truncated magic", string(f32[:4]), "truncated header"},
		{"truncated header", string(f32[:50]), "truncated header"},
		{"truncated data", string(f32[:len(f32)-5]), "24 bytes"},
		{"no data", string(f32[:128]), "24 bytes"},
		{"huge shape", string(npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776,), }", make([]byte, 64))), "4398046511104 bytes"},
		{"overflowing shape", string(npyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", nil)), "too many"},
		{"negative dimension", string(npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", nil)), "negative dimension"},
		{"complex dtype", string(npyBytes("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", make([]byte, 8))), `unsupported dtype "<c8"`},
		{"object dtype", string(npyBytes("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", make([]byte, 8))), `unsupported dtype "|O"`},
		{"bad byte order", string(npyBytes("{'descr': '!f4', 'fortran_order': False, 'shape': (1,), }", make([]byte, 4))), "byte order"},
		{"bad fortran_order", string(npyBytes("{'descr': '<f4', 'fortran_order': 0, 'shape': (1,), }", make([]byte, 4))), "fortran_order"},
		{"keys out of order", string(npyBytes("{'shape': (1,), 'descr': '<f4', 'fortran_order': False, }", make([]byte, 4))), "not laid out"},
		{"no trailing comma", string(npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}", make([]byte, 24))), "not laid out"},
		{"not a dict", string(npyBytes("hello", nil)), "want a dict"},
		// npyio panics on a header without '\n' (it slices up to index -1); ReadNPY recovers.
		{"no newline", string(noNewline), "bad header"},
		// npyio slices between keys without bounds checks; these make it panic too.
		{"descr runs into fortran_order", string(npyBytes("{'descr': 'fortran_order': True, 'shape': (1,), }", make([]byte, 4))), "bad header"},
		{"empty shape value", string(npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': , }", nil)), "bad header"},
		{"version 3", "\x93NUMPY\x03\x00" + string(f32[8:]), "version 3.0"},
		{"huge header length", "\x93NUMPY\x02\x00\xff\xff\xff\xff{", "exceeds"},
	}
}

func TestLoadNPYErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range badNPY(t) {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".npy")
			if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := LoadNPY(path)
			checkError(t, err, "data: "+path+": ", tc.want)
		})
	}
	t.Run("missing file", func(t *testing.T) {
		path := filepath.Join(dir, "missing.npy")
		_, err := LoadNPY(path)
		checkError(t, err, "data: "+path+": ", "no such file")
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("got %v, want an error matching fs.ErrNotExist", err)
		}
	})
	t.Run("directory", func(t *testing.T) {
		_, err := LoadNPY(dir)
		checkError(t, err, "data: "+dir+": ", "is a directory")
	})
}

func TestReadNPYErrors(t *testing.T) {
	for _, tc := range badNPY(t) {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := ReadNPY(strings.NewReader(tc.content))
			runtime.ReadMemStats(&after)
			want := tc.want
			if tc.name == "truncated data" || tc.name == "no data" {
				want = "data ends after"
			}
			if tc.name == "huge shape" {
				want = "data ends after 64 of 4398046511104 bytes"
			}
			checkError(t, err, "data: npy: ", want)
			if n := after.TotalAlloc - before.TotalAlloc; n > 8*chunkBytes {
				t.Errorf("ReadNPY allocated %d bytes for a %d-byte input", n, len(tc.content))
			}
		})
	}
}

func checkError(t *testing.T, err error, prefix, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", want)
	}
	if msg := err.Error(); !strings.HasPrefix(msg, prefix) || !strings.Contains(msg, want) {
		t.Errorf("got error %q, want it to start with %q and contain %q", msg, prefix, want)
	}
}

func TestLoadNPZErrors(t *testing.T) {
	dir := t.TempDir()
	stored := readFixture(t, "savez.npz")
	corrupt := bytes.Clone(stored)
	// Flip a byte of weight's data: stored entries are raw, so only the CRC can notice.
	i := bytes.Index(corrupt, []byte("\x93NUMPY")) // weight.npy, whose 128-byte header precedes the data
	corrupt[i+128+1] ^= 0xff

	var notNPY, dup bytes.Buffer
	zw := zip.NewWriter(&notNPY)
	w, _ := zw.Create("x.npy")
	w.Write([]byte("this is not an array"))
	zw.Close()
	zw = zip.NewWriter(&dup)
	for _, name := range []string{"x.npy", "x"} {
		w, _ := zw.Create(name)
		WriteNPY(w, fixtureTensor(tensor.Int8, 2))
	}
	zw.Close()

	cases := []struct{ name, content, want string }{
		{"empty", "", "not an npz archive"},
		{"npy file", string(readFixture(t, "float32.npy")), "not an npz archive"},
		{"truncated", string(stored[:len(stored)/2]), "not an npz archive"},
		{"bad crc", string(corrupt), "checksum"},
		{"entry not npy", notNPY.String(), `array "x": not an npy array`},
		{"duplicate key", dup.String(), `array "x" appears twice`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".npz")
			if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			_, _, err := LoadNPZ(path)
			checkError(t, err, "data: "+path+": ", tc.want)
		})
	}
	t.Run("missing file", func(t *testing.T) {
		path := filepath.Join(dir, "missing.npz")
		_, _, err := LoadNPZ(path)
		checkError(t, err, "data: "+path+": ", "no such file")
	})
	t.Run("directory", func(t *testing.T) {
		_, _, err := LoadNPZ(dir)
		checkError(t, err, "data: "+dir+": ", "is a directory")
	})
}

// dirEntries lists a directory, to check that a failed save leaves no temporary file.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestSaveErrors(t *testing.T) {
	bf16 := tensor.New(tensor.BFloat16, 2)
	if err := WriteNPY(io.Discard, bf16); err == nil || !strings.Contains(err.Error(), "bfloat16 has no numpy dtype") {
		t.Errorf("WriteNPY bfloat16: got %v, want an error saying bfloat16 has no numpy dtype", err)
	}
	if err := WriteNPY(io.Discard, nil); err == nil {
		t.Error("WriteNPY nil tensor: got no error")
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "x.npy")
	checkError(t, SaveNPY(path, bf16), "data: "+path+": ", "bfloat16")
	if names := dirEntries(t, dir); len(names) != 0 {
		t.Errorf("failed SaveNPY left %q behind", names)
	}
	missing := filepath.Join(dir, "no", "x.npy")
	checkError(t, SaveNPY(missing, fixtureTensor(tensor.Int8, 2)), "data: "+missing+": ", "no such file")

	// A save that fails part-way must leave an existing file untouched.
	npzPath := filepath.Join(dir, "a.npz")
	good := map[string]*tensor.Tensor{"a": fixtureTensor(tensor.Float32, 2)}
	if err := SaveNPZ(npzPath, []string{"a"}, good); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(npzPath)
	if err != nil {
		t.Fatal(err)
	}
	bad := map[string]*tensor.Tensor{"a": fixtureTensor(tensor.Float32, 2), "b": bf16}
	checkError(t, SaveNPZ(npzPath, []string{"a", "b"}, bad), "data: "+npzPath+": ", `array "b": bfloat16`)
	after, err := os.ReadFile(npzPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(after, before) {
		t.Error("failed SaveNPZ changed the existing file")
	}
	if names := dirEntries(t, dir); !slices.Equal(names, []string{"a.npz"}) {
		t.Errorf("after a failed SaveNPZ the directory holds %q, want only a.npz", names)
	}

	for _, tc := range []struct {
		names []string
		want  string
	}{
		{[]string{"a"}, `array "b" is missing from names`},
		{[]string{"a", "b", "a"}, `"a" given twice`},
		{[]string{"a", "c"}, `no array named "c"`},
		{[]string{"a", ""}, "empty array name"},
	} {
		checkError(t, SaveNPZ(npzPath, tc.names, twoArrays()), "data: "+npzPath+": ", tc.want)
	}
}

func twoArrays() map[string]*tensor.Tensor {
	return map[string]*tensor.Tensor{"a": fixtureTensor(tensor.Uint8, 1), "b": fixtureTensor(tensor.Uint8, 1)}
}

// FuzzReadNPY checks that no input makes ReadNPY panic or allocate far beyond its size, and
// that whatever it accepts survives a WriteNPY/ReadNPY round trip unchanged.
func FuzzReadNPY(f *testing.F) {
	for _, name := range []string{"float32.npy", "float16_be.npy", "float32_fortran.npy", "int64_scalar.npy", "bool_empty.npy"} {
		f.Add(readFixture(f, name))
	}
	for _, tc := range badNPY(f) {
		f.Add([]byte(tc.content))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var got *tensor.Tensor
		var err error
		fixture.BoundAllocs(t, func() { got, err = ReadNPY(bytes.NewReader(b)) })
		if err != nil {
			if got != nil {
				t.Fatalf("ReadNPY returned %v and error %v", got, err)
			}
			return
		}
		var buf bytes.Buffer
		if err := WriteNPY(&buf, got); err != nil {
			t.Fatalf("WriteNPY of what ReadNPY accepted: %v", err)
		}
		again, err := ReadNPY(&buf)
		if err != nil {
			t.Fatalf("ReadNPY of what WriteNPY wrote: %v", err)
		}
		if !sameTensor(again, got) {
			t.Fatalf("round trip changed %v into %v", got, again)
		}
	})
}

// TestNPZNonFinite: a NaN or infinity in the inputs or float targets is refused at opening,
// naming the file, the example and the array.
func TestNPZNonFinite(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		x, y *tensor.Tensor
		want string
	}{
		{"x-nan", tensor.From([]int{3, 2}, []float32{1, 2, 3, float32(math.NaN()), 5, 6}), tensor.From([]int{3}, []int64{0, 1, 0}), `example 1 holds NaN in "x" (element 1 of it)`},
		{"y-inf", tensor.From([]int{3, 2}, []float32{1, 2, 3, 4, 5, 6}), tensor.From([]int{3, 1}, []float32{0, 1, float32(math.Inf(-1))}), `example 2 holds -Inf in "y"`},
	} {
		path := filepath.Join(dir, c.name+".npz")
		if err := SaveNPZ(path, []string{"x", "y"}, map[string]*tensor.Tensor{"x": c.x, "y": c.y}); err != nil {
			t.Fatal(err)
		}
		_, err := OpenNPZ(path, "")
		if err == nil || !strings.Contains(err.Error(), path+": "+c.want) {
			t.Errorf("%s: got %v, want an error with %q", c.name, err, c.want)
		}
	}
}
