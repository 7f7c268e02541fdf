package onnx

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/onnxtune/onnxtune/internal/atomicfile"

	"google.golang.org/protobuf/proto"
)

// Model is a parsed ONNX file: the ModelProto exactly as it was read, plus the bytes of every
// tensor stored as external data, keyed by the TensorProto that refers to them. Keeping those
// bytes in memory lets Save write a model back beside its data, or elsewhere, without touching
// the proto, so that a load/save round trip changes nothing.
type Model struct {
	Proto *ModelProto

	external map[*TensorProto][]byte
}

// maxModelBytes bounds what Read accepts: protobuf messages cannot exceed 2 GiB, and larger
// models keep their weights in external data files.
const maxModelBytes = 2<<30 - 1

// maxNesting bounds how deeply the model's messages may nest. Each subgraph (an If branch, a
// Loop body) adds three levels (attribute, graph, node) below the model's five, so 64 leaves
// room for nineteen subgraphs inside each other; a file nested thousands deep is built to
// exhaust the stack or, through the names each subgraph inherits, the memory.
const maxNesting = 64

// Load reads an ONNX model from path and the external data files it names, resolved relative to
// the model's directory. Errors name the file: `onnx: model.onnx: truncated or not an ONNX
// model: ...`.
func Load(path string) (*Model, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", unwrapPathError(err, path))
	}
	defer f.Close()
	var size int64 // the file's size where known: the buffer to read it into
	if st, err := f.Stat(); err == nil {
		if st.IsDir() {
			return nil, fmt.Errorf("onnx: %s: is a directory, not an ONNX file", path)
		}
		size = st.Size()
	}
	m, err := read(f, size)
	if err != nil {
		return nil, fmt.Errorf("onnx: %s: %w", path, err)
	}
	if err := m.loadExternalData(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("onnx: %s: %w", path, err)
	}
	return m, nil
}

// Read parses an ONNX model from r. Tensors stored as external data stay unresolved until
// LoadExternalData is called with the directory they live in.
func Read(r io.Reader) (*Model, error) {
	m, err := read(r, 0)
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	return m, nil
}

// read parses a model from r, whose size, when more than 0, is that many bytes: the buffer
// is made that large at once. Grown as it reads (io.ReadAll), it leaves twice the file's
// size of smaller copies to the collector, which a process's peak memory counts.
func read(r io.Reader, size int64) (*Model, error) {
	var buf bytes.Buffer
	if size > 0 && size <= maxModelBytes {
		buf.Grow(int(size) + bytes.MinRead) // the room for the read that meets EOF
	}
	if _, err := buf.ReadFrom(io.LimitReader(r, maxModelBytes+1)); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	if len(b) == 0 {
		return nil, errors.New("empty file, not an ONNX model")
	}
	if len(b) > maxModelBytes {
		return nil, errors.New("larger than the 2 GiB a protobuf can hold")
	}
	mp := new(ModelProto)
	if err := (proto.UnmarshalOptions{RecursionLimit: maxNesting}).Unmarshal(b, mp); err != nil {
		if strings.Contains(err.Error(), "recursion depth") {
			return nil, fmt.Errorf("messages nested more than %d deep (subgraphs within subgraphs, or types within types); no exported network needs that", maxNesting)
		}
		return nil, fmt.Errorf("truncated or not an ONNX model (%v)", err)
	}
	if err := checkModel(mp); err != nil {
		return nil, err
	}
	return &Model{Proto: mp, external: map[*TensorProto][]byte{}}, nil
}

// checkModel rejects byte strings that parse as protobuf but are no ONNX model: random bytes
// sometimes do, and a file cut between two top-level fields always does.
func checkModel(mp *ModelProto) error {
	if mp.GetIrVersion() <= 0 {
		return errors.New("not an ONNX model (no IR version; truncated or another format?)")
	}
	if mp.Graph == nil {
		return errors.New("not an ONNX model, or truncated: it has no graph")
	}
	if len(mp.OpsetImport) == 0 && mp.GetIrVersion() >= 3 {
		return errors.New("truncated or invalid ONNX model: no opset_import")
	}
	return nil
}

// LoadExternalData reads the external data of every tensor that has some, from files named
// relative to dir. Load calls it with the model's directory.
func (m *Model) LoadExternalData(dir string) error {
	if err := m.loadExternalData(dir); err != nil {
		return fmt.Errorf("onnx: %w", err)
	}
	return nil
}

func (m *Model) loadExternalData(dir string) error {
	if m.external == nil {
		m.external = map[*TensorProto][]byte{}
	}
	files := map[string][]byte{}
	var firstErr error
	forEachTensor(m.Proto, func(t *TensorProto) {
		if firstErr != nil || t.GetDataLocation() != TensorProto_EXTERNAL {
			return
		}
		ref, err := parseExternal(t)
		if err != nil {
			firstErr = err
			return
		}
		if filepath.IsAbs(ref.location) || !filepath.IsLocal(ref.location) {
			firstErr = fmt.Errorf("tensor %q: external data location %q is outside the model's directory", t.GetName(), ref.location)
			return
		}
		data, ok := files[ref.location]
		if !ok {
			data, err = os.ReadFile(filepath.Join(dir, ref.location))
			if err != nil {
				firstErr = fmt.Errorf("tensor %q: external data: %w", t.GetName(), unwrapPathError(err, filepath.Join(dir, ref.location)))
				return
			}
			files[ref.location] = data
		}
		length := ref.length
		if length < 0 {
			length = int64(len(data)) - ref.offset
		}
		if ref.offset < 0 || ref.offset > int64(len(data)) || length > int64(len(data))-ref.offset {
			firstErr = fmt.Errorf("tensor %q: external data %s holds %d bytes, the model asks for offset %d length %d", t.GetName(), ref.location, len(data), ref.offset, length)
			return
		}
		m.external[t] = data[ref.offset : ref.offset+length : ref.offset+length]
	})
	return firstErr
}

type externalRef struct {
	location       string
	offset, length int64 // length -1: to the end of the file
}

func parseExternal(t *TensorProto) (externalRef, error) {
	ref := externalRef{length: -1}
	for _, e := range t.ExternalData {
		var err error
		switch e.GetKey() {
		case "location":
			ref.location = e.GetValue()
		case "offset":
			ref.offset, err = strconv.ParseInt(e.GetValue(), 10, 64)
		case "length":
			ref.length, err = strconv.ParseInt(e.GetValue(), 10, 64)
		}
		if err != nil {
			return ref, fmt.Errorf("tensor %q: external data %s %q is not a number", t.GetName(), e.GetKey(), e.GetValue())
		}
	}
	if ref.location == "" {
		return ref, fmt.Errorf("tensor %q: external data has no location", t.GetName())
	}
	return ref, nil
}

// Save writes m to path, and each external data file it refers to beside it with the same
// locations, offsets and lengths. Every file is written to a temporary name and renamed into
// place once all are written, so a failure (a full disk) never leaves a half-written model, nor
// a model beside external data that is not its own.
func Save(m *Model, path string) error {
	if err := save(m, path); err != nil {
		return fmt.Errorf("onnx: %s: %w", path, err)
	}
	return nil
}

func save(m *Model, path string) error {
	b, err := proto.Marshal(m.Proto)
	if err != nil {
		return err
	}
	files, err := m.externalFiles()
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	names := make([]string, 0, len(files))
	for loc := range files {
		names = append(names, loc)
	}
	sort.Strings(names)
	var paths []string
	var contents [][]byte
	for _, loc := range names {
		paths, contents = append(paths, filepath.Join(dir, loc)), append(contents, files[loc])
	}
	// The model last: all or none of the files replace those there before.
	return atomicfile.WriteAll(append(paths, path), append(contents, b))
}

// externalFiles lays out the contents of every external data file from the tensors that refer
// to it. Gaps between tensors are zero-filled.
func (m *Model) externalFiles() (map[string][]byte, error) {
	files := map[string][]byte{}
	var firstErr error
	forEachTensor(m.Proto, func(t *TensorProto) {
		if firstErr != nil || t.GetDataLocation() != TensorProto_EXTERNAL {
			return
		}
		ref, err := parseExternal(t)
		if err != nil {
			firstErr = err
			return
		}
		data, ok := m.external[t]
		if !ok {
			firstErr = fmt.Errorf("tensor %q: its external data was never loaded", t.GetName())
			return
		}
		if ref.length >= 0 && int64(len(data)) != ref.length {
			firstErr = fmt.Errorf("tensor %q: external data is %d bytes, the model records %d", t.GetName(), len(data), ref.length)
			return
		}
		f := files[ref.location]
		if end := ref.offset + int64(len(data)); int64(len(f)) < end {
			f = append(f, make([]byte, end-int64(len(f)))...)
		}
		copy(f[ref.offset:], data)
		files[ref.location] = f
	})
	return files, firstErr
}

// Write marshals the model proto to w. External data is not written: the proto keeps referring
// to its files, so use Save to write a model together with its data, or Internalize first.
func Write(m *Model, w io.Writer) error {
	b, err := proto.Marshal(m.Proto)
	if err != nil {
		return fmt.Errorf("onnx: %w", err)
	}
	_, err = io.Copy(w, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("onnx: %w", err)
	}
	return nil
}

// Internalize moves every external tensor's bytes into its raw_data, so the model is one file.
func (m *Model) Internalize() error {
	var firstErr error
	forEachTensor(m.Proto, func(t *TensorProto) {
		if firstErr != nil || t.GetDataLocation() != TensorProto_EXTERNAL {
			return
		}
		data, ok := m.external[t]
		if !ok {
			firstErr = fmt.Errorf("onnx: tensor %q: its external data was never loaded", t.GetName())
			return
		}
		t.RawData = data
		t.ExternalData = nil
		t.DataLocation = nil
		delete(m.external, t)
	})
	return firstErr
}

// Externalize moves the data of every tensor of at least threshold bytes into one external file
// named location (relative to the model), in the layout onnx.save_model(...,
// save_as_external_data=True, all_tensors_to_one_file=True) writes. Save then writes the file.
func (m *Model) Externalize(location string, threshold int) error {
	if !filepath.IsLocal(location) {
		return fmt.Errorf("onnx: external data location %q must be a file name relative to the model", location)
	}
	if err := m.Internalize(); err != nil {
		return err
	}
	var offset int64
	var firstErr error
	forEachTensor(m.Proto, func(t *TensorProto) {
		if firstErr != nil {
			return
		}
		if len(t.RawData) == 0 && hasTypedData(t) {
			raw, err := typedToRaw(t)
			if err != nil {
				firstErr = err
				return
			}
			t.RawData = raw
			clearTyped(t)
		}
		if len(t.RawData) < threshold || len(t.RawData) == 0 {
			return
		}
		data := t.RawData
		t.RawData = nil
		loc := TensorProto_EXTERNAL
		t.DataLocation = &loc
		t.ExternalData = []*StringStringEntryProto{
			{Key: proto.String("location"), Value: proto.String(location)},
			{Key: proto.String("offset"), Value: proto.String(strconv.FormatInt(offset, 10))},
			{Key: proto.String("length"), Value: proto.String(strconv.Itoa(len(data)))},
		}
		m.external[t] = data
		offset += int64(len(data))
	})
	return firstErr
}

// forEachTensor calls fn for every TensorProto in the model: initializers, sparse initializers,
// tensor-valued attributes, and those of subgraphs and functions.
func forEachTensor(mp *ModelProto, fn func(*TensorProto)) {
	forEachGraphTensor(mp.GetGraph(), fn)
	for _, f := range mp.GetFunctions() {
		for _, n := range f.GetNode() {
			forEachNodeTensor(n, fn)
		}
	}
	for _, ti := range mp.GetTrainingInfo() {
		forEachGraphTensor(ti.GetInitialization(), fn)
		forEachGraphTensor(ti.GetAlgorithm(), fn)
	}
}

func forEachGraphTensor(g *GraphProto, fn func(*TensorProto)) {
	if g == nil {
		return
	}
	for _, t := range g.GetInitializer() {
		fn(t)
	}
	for _, s := range g.GetSparseInitializer() {
		if s.GetValues() != nil {
			fn(s.GetValues())
		}
		if s.GetIndices() != nil {
			fn(s.GetIndices())
		}
	}
	for _, n := range g.GetNode() {
		forEachNodeTensor(n, fn)
	}
}

func forEachNodeTensor(n *NodeProto, fn func(*TensorProto)) {
	for _, a := range n.GetAttribute() {
		if a.GetT() != nil {
			fn(a.GetT())
		}
		for _, t := range a.GetTensors() {
			fn(t)
		}
		forEachGraphTensor(a.GetG(), fn)
		for _, g := range a.GetGraphs() {
			forEachGraphTensor(g, fn)
		}
	}
}

// unwrapPathError turns *fs.PathError's "open x: no such file or directory" into
// "x: no such file or directory", which reads better after a package prefix.
func unwrapPathError(err error, path string) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", path, pe.Err)
	}
	return err
}
