package data

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/onnxtune/onnxtune/internal/atomicfile"
	"github.com/onnxtune/onnxtune/tensor"
	"github.com/sbinet/npyio"
	"github.com/sbinet/npyio/npz"
)

// The NPY format is specified in numpy/lib/format.py and NEP 1: a 6-byte magic, a version
// byte pair, a little-endian header length (2 bytes in version 1, 4 in version 2), then a
// Python dict literal giving descr, fortran_order and shape, padded with spaces to a
// 64-byte boundary and ended by '\n', then the raw elements.
//
// npyio parses the dict. Everything around it is done here, for reasons npyio cannot
// accommodate: it allocates whatever header length the file declares (up to 4 GiB), it
// panics on some malformed dicts, its element reader treats a short read or early EOF as
// success (a truncated file comes back padded with zeros), it has no float16, and its
// writer derives the shape from the Go value, so it cannot write an N-d array from a flat
// slice, nor can its npz writer store entries uncompressed as np.savez does.

const (
	// maxHeaderLen bounds the header dict we accept. numpy's own reader refuses headers over
	// 10000 bytes unless told otherwise; the limit here only keeps a malicious length from
	// becoming an allocation.
	maxHeaderLen = 1 << 20
	// chunkBytes is how much array data is read or encoded at a time, so that memory grows
	// with the data actually present rather than with the size a header claims.
	chunkBytes = 1 << 20
	// arrayAlign is the boundary numpy pads headers to, so the data that follows is aligned.
	arrayAlign = 64
)

// npyDTypes maps a numpy type code (descr without its byte-order character) to a dtype.
var npyDTypes = map[string]tensor.DType{
	"f2": tensor.Float16,
	"f4": tensor.Float32,
	"f8": tensor.Float64,
	"i1": tensor.Int8,
	"i2": tensor.Int16,
	"i4": tensor.Int32,
	"i8": tensor.Int64,
	"u1": tensor.Uint8,
	"u2": tensor.Uint16,
	"u4": tensor.Uint32,
	"u8": tensor.Uint64,
	"b1": tensor.Bool,
}

// npyHeader is what the header of one NPY array says about the data after it.
type npyHeader struct {
	dtype   tensor.DType
	order   binary.ByteOrder
	fortran bool
	shape   []int
	n       int   // number of elements
	nbytes  int64 // bytes of element data
	size    int64 // bytes of the header itself, magic included
}

// ReadNPY reads one NPY array from r and returns it as a C-order tensor. It reads exactly
// the bytes of that array, so consecutive calls read consecutive arrays of a stream.
// Big-endian data is converted to native values and Fortran-order data is transposed to C
// order. Memory is allocated as data arrives, so a header claiming more data than r holds
// costs an error, not the claimed allocation.
func ReadNPY(r io.Reader) (*tensor.Tensor, error) {
	h, err := readNPYHeader(r)
	if err != nil {
		return nil, fmt.Errorf("data: npy: %w", err)
	}
	t, err := readNPYData(r, h, false)
	if err != nil {
		return nil, fmt.Errorf("data: npy: %w", err)
	}
	return t, nil
}

// LoadNPY reads the NPY file at path (see ReadNPY). Errors name the file. The data size
// the header declares is checked against the file size before anything is allocated.
func LoadNPY(path string) (*tensor.Tensor, error) {
	f, size, err := openRegular(path)
	if err != nil {
		return nil, fileError(path, err)
	}
	defer f.Close()
	h, err := readNPYHeader(f)
	if err != nil {
		return nil, fileError(path, err)
	}
	if have := size - h.size; h.nbytes > have {
		return nil, fmt.Errorf("data: %s: header declares %s%s, %d bytes of data, but the file holds %d",
			path, h.dtype, tensor.ShapeString(h.shape), h.nbytes, max(have, 0))
	}
	t, err := readNPYData(f, h, true)
	if err != nil {
		return nil, fileError(path, err)
	}
	return t, nil
}

// WriteNPY writes t to w in NPY format version 1.0 (2.0 for a header over 64 KiB), C order,
// little-endian, as np.save does. BFloat16 has no numpy dtype and is refused.
func WriteNPY(w io.Writer, t *tensor.Tensor) error {
	if err := writeNPY(w, t); err != nil {
		return fmt.Errorf("data: npy: %w", err)
	}
	return nil
}

// SaveNPY writes t to the NPY file at path (see WriteNPY). The file is written under a
// temporary name in the same directory and renamed into place, so path ends up either
// unchanged or holding the complete array, never a partial one. Errors name the file.
func SaveNPY(path string, t *tensor.Tensor) error {
	err := atomicfile.Write(path, func(w io.Writer) error { return writeNPY(w, t) })
	if err != nil {
		return fileError(path, err)
	}
	return nil
}

// LoadNPZ reads every array of the NPZ archive at path, as written by np.savez (stored) or
// np.savez_compressed (deflated). It returns the arrays by key and the keys in archive
// order; a key is the entry name without its ".npy" suffix, as np.load reports it.
func LoadNPZ(path string) (map[string]*tensor.Tensor, []string, error) {
	f, size, err := openRegular(path)
	if err != nil {
		return nil, nil, fileError(path, err)
	}
	defer f.Close()
	zr, err := npz.NewReader(f, size)
	if err != nil {
		if cause := errors.Unwrap(err); cause != nil {
			err = cause // drop npyio's "npz: could not create zip reader"
		}
		return nil, nil, fmt.Errorf("data: %s: not an npz archive: %w", path, err)
	}
	arrays := make(map[string]*tensor.Tensor)
	var keys []string
	for _, name := range zr.Keys() {
		if strings.HasSuffix(name, "/") {
			continue // a directory entry, which some zip tools add; it holds no array
		}
		key := strings.TrimSuffix(name, ".npy")
		if _, dup := arrays[key]; dup {
			return nil, nil, fmt.Errorf("data: %s: array %q appears twice", path, key)
		}
		t, err := readNPZEntry(zr, name)
		if err != nil {
			return nil, nil, fmt.Errorf("data: %s: array %q: %w", path, key, err)
		}
		arrays[key] = t
		keys = append(keys, key)
	}
	return arrays, keys, nil
}

// SaveNPZ writes arrays to an uncompressed NPZ archive at path, as np.savez does, one entry
// "<name>.npy" per name in the given order. names must list every key of arrays exactly
// once. Like SaveNPY, it replaces path atomically. Errors name the file.
func SaveNPZ(path string, names []string, arrays map[string]*tensor.Tensor) error {
	if err := checkNPZNames(names, arrays); err != nil {
		return fmt.Errorf("data: %s: %w", path, err)
	}
	err := atomicfile.Write(path, func(w io.Writer) error {
		zw := zip.NewWriter(w)
		for _, name := range names {
			ew, err := zw.CreateHeader(&zip.FileHeader{
				Name:     name + ".npy",
				Method:   zip.Store,
				Modified: dosEpoch, // a fixed time keeps archives of equal arrays identical
			})
			if err != nil {
				return fmt.Errorf("array %q: %w", name, err)
			}
			if err := writeNPY(ew, arrays[name]); err != nil {
				return fmt.Errorf("array %q: %w", name, err)
			}
		}
		return zw.Close()
	})
	if err != nil {
		return fileError(path, err)
	}
	return nil
}

var dosEpoch = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

func checkNPZNames(names []string, arrays map[string]*tensor.Tensor) error {
	seen := make(map[string]bool, len(names))
	for _, name := range names {
		if name == "" {
			return errors.New("empty array name")
		}
		if seen[name] {
			return fmt.Errorf("array name %q given twice", name)
		}
		seen[name] = true
		if arrays[name] == nil {
			return fmt.Errorf("no array named %q", name)
		}
	}
	for name := range arrays {
		if !seen[name] {
			return fmt.Errorf("array %q is missing from names", name)
		}
	}
	return nil
}

func readNPZEntry(zr *npz.Reader, name string) (*tensor.Tensor, error) {
	rc, err := zr.Open(name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	h, err := readNPYHeader(rc)
	if err != nil {
		return nil, err
	}
	t, err := readNPYData(rc, h, false)
	if err != nil {
		return nil, err
	}
	// Reading the entry to its end makes archive/zip verify its CRC-32.
	if _, err := io.Copy(io.Discard, rc); err != nil {
		return nil, err
	}
	return t, nil
}

// openRegular opens path for reading and returns its size, refusing directories and other
// non-regular files early with a clear error rather than a confusing read error later.
func openRegular(path string) (*os.File, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if st.IsDir() {
		f.Close()
		return nil, 0, errors.New("is a directory")
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, 0, errors.New("not a regular file")
	}
	return f, st.Size(), nil
}

// fileError prefixes err with the file name, dropping an *fs.PathError's own copy of it so
// the name appears once; errors.Is still sees the cause (fs.ErrNotExist and so on).
func fileError(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Path == path {
		return fmt.Errorf("data: %s: %s: %w", path, pe.Op, pe.Err)
	}
	return fmt.Errorf("data: %s: %w", path, err)
}

// readNPYHeader reads the magic, version and header of one array, leaving r at its data.
func readNPYHeader(r io.Reader) (npyHeader, error) {
	var pre [12]byte // magic, major, minor, header length (2 or 4 bytes)
	if _, err := io.ReadFull(r, pre[:10]); err != nil {
		if err == io.EOF {
			return npyHeader{}, errors.New("empty input, not an npy array")
		}
		return npyHeader{}, fmt.Errorf("truncated header: %w", err)
	}
	if !bytes.Equal(pre[:6], npyio.Magic[:]) {
		return npyHeader{}, errors.New("not an npy array (bad magic)")
	}
	var dictLen int
	prefix := pre[:10]
	switch pre[6] {
	case 1:
		dictLen = int(binary.LittleEndian.Uint16(pre[8:10]))
	case 2:
		prefix = pre[:12]
		if _, err := io.ReadFull(r, prefix[10:]); err != nil {
			return npyHeader{}, fmt.Errorf("truncated header: %w", noEOF(err))
		}
		n := binary.LittleEndian.Uint32(pre[8:12])
		if n > maxHeaderLen {
			return npyHeader{}, fmt.Errorf("header length %d exceeds the %d-byte limit", n, maxHeaderLen)
		}
		dictLen = int(n)
	default:
		return npyHeader{}, fmt.Errorf("unsupported npy format version %d.%d", pre[6], pre[7])
	}
	raw := make([]byte, len(prefix)+dictLen)
	copy(raw, prefix)
	if _, err := io.ReadFull(r, raw[len(prefix):]); err != nil {
		return npyHeader{}, fmt.Errorf("truncated header: %w", noEOF(err))
	}
	dict := raw[len(prefix):]
	if err := checkDictLayout(dict); err != nil {
		return npyHeader{}, err
	}
	ph, err := parseHeader(raw, len(prefix))
	if err != nil {
		return npyHeader{}, err
	}

	h := npyHeader{fortran: ph.Descr.Fortran, shape: ph.Descr.Shape, size: int64(len(raw))}
	if h.shape == nil {
		h.shape = []int{}
	}
	descr := ph.Descr.Type
	if len(descr) < 2 {
		return npyHeader{}, fmt.Errorf("unsupported dtype %q", descr)
	}
	var ok bool
	if h.dtype, ok = npyDTypes[descr[1:]]; !ok {
		return npyHeader{}, fmt.Errorf("unsupported dtype %q (want one of f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1)", descr)
	}
	switch descr[0] {
	case '<':
		h.order = binary.LittleEndian
	case '>':
		h.order = binary.BigEndian
	case '|', '=':
		h.order = binary.NativeEndian
	default:
		return npyHeader{}, fmt.Errorf("unsupported dtype %q (bad byte order)", descr)
	}
	if h.n, err = tensor.SizeChecked(h.shape); err != nil {
		return npyHeader{}, fmt.Errorf("bad shape: %w", err)
	}
	es := h.dtype.Size()
	if h.n > math.MaxInt64/es {
		return npyHeader{}, fmt.Errorf("shape %v holds too many bytes", h.shape)
	}
	h.nbytes = int64(h.n) * int64(es)
	return h, nil
}

// checkDictLayout rejects header dicts that npyio would misread rather than refuse: it
// finds values by slicing between keys it expects in numpy's order (descr, fortran_order,
// shape) and assumes the ", }" ending numpy writes; without that ending, it silently drops
// the last dimension.
func checkDictLayout(dict []byte) error {
	d := bytes.Index(dict, []byte("'descr': "))
	o := bytes.Index(dict, []byte("'fortran_order': "))
	s := bytes.Index(dict, []byte("'shape': "))
	e := bytes.IndexByte(dict, '}')
	if d < 0 || o < 0 || s < 0 || e < 0 {
		return errors.New("bad header: want a dict with keys 'descr', 'fortran_order' and 'shape'")
	}
	if !(d < o && o < s && s < e) || !bytes.HasSuffix(dict[:e], []byte(", ")) {
		return fmt.Errorf("bad header: %q is not laid out as numpy writes it", bytes.TrimRight(dict, " \n"))
	}
	return nil
}

// parseHeader runs npyio's header parser on a complete, length-checked header. npyio indexes
// into the dict without bounds checks, so a malformed one can make it panic: that becomes an
// error here.
func parseHeader(raw []byte, dictStart int) (h npyio.Header, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("bad header: %q: npyio: %v", bytes.TrimRight(raw[dictStart:], " \n"), p)
		}
	}()
	rd, err := npyio.NewReader(bytes.NewReader(raw))
	if err != nil {
		return npyio.Header{}, fmt.Errorf("bad header: %w", noEOF(err))
	}
	return rd.Header, nil
}

// noEOF turns io.EOF into io.ErrUnexpectedEOF: when part of an array has been read, the end
// of the input is never the expected end.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readNPYData reads the elements h describes. known means the caller has checked that r
// holds all of them, so the result can be allocated at once instead of grown as data comes.
func readNPYData(r io.Reader, h npyHeader, known bool) (*tensor.Tensor, error) {
	switch h.dtype {
	case tensor.Float16:
		bits, err := readElems[uint16](r, h, known)
		if err != nil {
			return nil, err
		}
		return tensor.FromBits(tensor.Float16, h.shape, bits), nil
	case tensor.Float32:
		return readTensor[float32](r, h, known)
	case tensor.Float64:
		return readTensor[float64](r, h, known)
	case tensor.Int8:
		return readTensor[int8](r, h, known)
	case tensor.Int16:
		return readTensor[int16](r, h, known)
	case tensor.Int32:
		return readTensor[int32](r, h, known)
	case tensor.Int64:
		return readTensor[int64](r, h, known)
	case tensor.Uint8:
		return readTensor[uint8](r, h, known)
	case tensor.Uint16:
		return readTensor[uint16](r, h, known)
	case tensor.Uint32:
		return readTensor[uint32](r, h, known)
	case tensor.Uint64:
		return readTensor[uint64](r, h, known)
	case tensor.Bool:
		return readTensor[bool](r, h, known)
	}
	return nil, fmt.Errorf("unsupported dtype %v", h.dtype)
}

func readTensor[T tensor.Elem](r io.Reader, h npyHeader, known bool) (*tensor.Tensor, error) {
	s, err := readElems[T](r, h, known)
	if err != nil {
		return nil, err
	}
	return tensor.From(h.shape, s), nil
}

// readElems reads h.n elements of type T in chunks, decoding each from the file's byte
// order, and returns them in C order.
func readElems[T tensor.Elem](r io.Reader, h npyHeader, known bool) ([]T, error) {
	es := h.dtype.Size()
	perChunk := max(chunkBytes/es, 1)
	capacity := h.n
	if !known {
		capacity = min(h.n, perChunk)
	}
	out := make([]T, 0, capacity)
	buf := make([]byte, min(h.n, perChunk)*es)
	for len(out) < h.n {
		k := min(h.n-len(out), perChunk)
		if m, err := io.ReadFull(r, buf[:k*es]); err != nil {
			return nil, fmt.Errorf("data ends after %d of %d bytes the header declares: %w",
				int64(len(out))*int64(es)+int64(m), h.nbytes, noEOF(err))
		}
		start := len(out)
		out = slices.Grow(out, k)[:start+k]
		if _, err := binary.Decode(buf[:k*es], h.order, out[start:]); err != nil {
			return nil, err
		}
	}
	if h.fortran && len(h.shape) > 1 {
		out = fortranToC(out, h.shape)
	}
	return out, nil
}

// fortranToC returns the column-major array src of the given shape in row-major order.
func fortranToC[T any](src []T, shape []int) []T {
	dst := make([]T, len(src))
	if len(dst) == 0 {
		return dst
	}
	// stride[k] is the distance in src between neighbours along dimension k.
	stride := make([]int, len(shape))
	acc := 1
	for k, d := range shape {
		stride[k] = acc
		acc *= d
	}
	idx := make([]int, len(shape))
	off := 0
	for i := range dst {
		dst[i] = src[off]
		// Advance idx like an odometer, last dimension fastest, tracking the src offset.
		for k := len(shape) - 1; k >= 0; k-- {
			idx[k]++
			off += stride[k]
			if idx[k] < shape[k] {
				break
			}
			off -= stride[k] * shape[k]
			idx[k] = 0
		}
	}
	return dst
}

// npyDescr returns numpy's little-endian type string for a dtype ('|' for one-byte types,
// where byte order does not apply, as numpy writes them).
func npyDescr(dt tensor.DType) (string, error) {
	if dt == tensor.BFloat16 {
		return "", errors.New("bfloat16 has no numpy dtype; convert the tensor to float32 first")
	}
	for code, d := range npyDTypes {
		if d != dt {
			continue
		}
		if dt.Size() == 1 {
			return "|" + code, nil
		}
		return "<" + code, nil
	}
	return "", fmt.Errorf("dtype %v has no numpy equivalent", dt)
}

// npyHeaderBytes returns the magic, version, length and padded header dict for an array, laid
// out as numpy's format.write_array_header does.
func npyHeaderBytes(descr string, shape []int) []byte {
	var tuple strings.Builder
	tuple.WriteByte('(')
	for i, d := range shape {
		if i > 0 {
			tuple.WriteString(", ")
		}
		tuple.WriteString(strconv.Itoa(d))
	}
	if len(shape) == 1 {
		tuple.WriteByte(',')
	}
	tuple.WriteByte(')')
	dict := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, tuple.String())

	prefixLen, major := 10, byte(1)
	total := func() int { // padded to arrayAlign, counting the final '\n'
		n := prefixLen + len(dict) + 1
		return n + (arrayAlign-n%arrayAlign)%arrayAlign
	}
	if total()-prefixLen > math.MaxUint16 {
		prefixLen, major = 12, 2
	}
	out := make([]byte, prefixLen, total())
	copy(out, npyio.Magic[:])
	out[6], out[7] = major, 0
	hlen := total() - prefixLen
	if major == 1 {
		binary.LittleEndian.PutUint16(out[8:], uint16(hlen))
	} else {
		binary.LittleEndian.PutUint32(out[8:], uint32(hlen))
	}
	out = append(out, dict...)
	for len(out) < cap(out)-1 {
		out = append(out, ' ')
	}
	return append(out, '\n')
}

func writeNPY(w io.Writer, t *tensor.Tensor) error {
	if t == nil {
		return errors.New("nil tensor")
	}
	descr, err := npyDescr(t.DType())
	if err != nil {
		return err
	}
	if _, err := w.Write(npyHeaderBytes(descr, t.Shape())); err != nil {
		return err
	}
	switch s := t.Data().(type) {
	case []float32:
		return writeElems(w, s)
	case []float64:
		return writeElems(w, s)
	case []uint16: // Float16 bits and Uint16 alike
		return writeElems(w, s)
	case []int8:
		return writeElems(w, s)
	case []int16:
		return writeElems(w, s)
	case []int32:
		return writeElems(w, s)
	case []int64:
		return writeElems(w, s)
	case []uint8:
		_, err := w.Write(s)
		return err
	case []uint32:
		return writeElems(w, s)
	case []uint64:
		return writeElems(w, s)
	case []bool:
		return writeElems(w, s)
	}
	return fmt.Errorf("tensor %v has unexpected storage %T", t, t.Data())
}

// writeElems encodes s little-endian in chunks, so a large tensor is not copied whole.
func writeElems[T tensor.Elem](w io.Writer, s []T) error {
	var z T
	perChunk := max(chunkBytes/binary.Size(z), 1)
	buf := make([]byte, 0, min(len(s), perChunk)*binary.Size(z))
	for len(s) > 0 {
		k := min(len(s), perChunk)
		var err error
		if buf, err = binary.Append(buf[:0], binary.LittleEndian, s[:k]); err != nil {
			return err
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
		s = s[k:]
	}
	return nil
}
