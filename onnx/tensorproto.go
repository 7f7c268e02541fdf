package onnx

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/onnxtune/onnxtune/tensor"
)

// dtypes maps ONNX element types to onnxtune's. STRING and the complex types have no tensor
// counterpart; models that compute with them are not supported.
var dtypes = map[TensorProto_DataType]tensor.DType{
	TensorProto_FLOAT:    tensor.Float32,
	TensorProto_DOUBLE:   tensor.Float64,
	TensorProto_FLOAT16:  tensor.Float16,
	TensorProto_BFLOAT16: tensor.BFloat16,
	TensorProto_INT8:     tensor.Int8,
	TensorProto_INT16:    tensor.Int16,
	TensorProto_INT32:    tensor.Int32,
	TensorProto_INT64:    tensor.Int64,
	TensorProto_UINT8:    tensor.Uint8,
	TensorProto_UINT16:   tensor.Uint16,
	TensorProto_UINT32:   tensor.Uint32,
	TensorProto_UINT64:   tensor.Uint64,
	TensorProto_BOOL:     tensor.Bool,
}

// DType converts an ONNX element type (TensorProto.data_type, TypeProto.Tensor.elem_type).
func DType(onnxType int32) (tensor.DType, error) {
	if dt, ok := dtypes[TensorProto_DataType(onnxType)]; ok {
		return dt, nil
	}
	return tensor.Undefined, fmt.Errorf("onnx: element type %s is not supported", TensorProto_DataType(onnxType))
}

// ElemType converts a dtype to its ONNX element type.
func ElemType(dt tensor.DType) TensorProto_DataType {
	for k, v := range dtypes {
		if v == dt {
			return k
		}
	}
	return TensorProto_UNDEFINED
}

// Tensor decodes t, whichever field holds its data: raw_data, a typed field, or external data
// loaded with the model.
func (m *Model) Tensor(t *TensorProto) (*tensor.Tensor, error) {
	if t.GetDataLocation() == TensorProto_EXTERNAL {
		raw, ok := m.external[t]
		if !ok {
			return nil, fmt.Errorf("onnx: tensor %q: its external data was never loaded", t.GetName())
		}
		return decode(t, raw)
	}
	return TensorFromProto(t)
}

// SetTensor replaces the values of t with v (same dtype and element count), in the form t
// already uses: external data stays external, raw_data stays raw and a typed field stays that
// field, so a saved model keeps its layout.
func (m *Model) SetTensor(t *TensorProto, v *tensor.Tensor) error {
	dt, err := DType(t.GetDataType())
	if err != nil {
		return err
	}
	if dt != v.DType() || elemCount(t.GetDims()) != int64(v.Len()) {
		return fmt.Errorf("onnx: tensor %q: cannot store %v in a %v tensor of shape %v", t.GetName(), v, dt, t.GetDims())
	}
	switch {
	case t.GetDataLocation() == TensorProto_EXTERNAL:
		m.external[t] = encodeRaw(v)
	case len(t.RawData) == 0 && hasTypedData(t):
		clearTyped(t)
		setTyped(t, v)
	default:
		t.RawData = encodeRaw(v)
	}
	return nil
}

// TensorFromProto decodes a tensor that holds its data inline (raw_data or a typed field).
func TensorFromProto(t *TensorProto) (*tensor.Tensor, error) {
	if t.GetDataLocation() == TensorProto_EXTERNAL {
		return nil, fmt.Errorf("onnx: tensor %q: stored as external data; use Model.Tensor", t.GetName())
	}
	if len(t.RawData) > 0 || !hasTypedData(t) {
		return decode(t, t.RawData)
	}
	return decodeTyped(t)
}

func elemCount(dims []int64) int64 {
	n := int64(1)
	for _, d := range dims {
		n *= d
	}
	return n
}

func shapeOf(t *TensorProto) ([]int, error) {
	shape := make([]int, len(t.Dims))
	n := int64(1)
	for i, d := range t.Dims {
		if d < 0 || (d > 0 && n > math.MaxInt32*int64(1<<20)/d) {
			return nil, fmt.Errorf("onnx: tensor %q: bad dims %v", t.GetName(), t.Dims)
		}
		n *= d
		shape[i] = int(d)
	}
	return shape, nil
}

// decode reads little-endian raw bytes.
func decode(t *TensorProto, raw []byte) (*tensor.Tensor, error) {
	dt, err := DType(t.GetDataType())
	if err != nil {
		return nil, fmt.Errorf("onnx: tensor %q: %w", t.GetName(), unprefix(err))
	}
	shape, err := shapeOf(t)
	if err != nil {
		return nil, err
	}
	n := tensor.Size(shape)
	if len(raw) != n*dt.Size() {
		return nil, fmt.Errorf("onnx: tensor %q: %d bytes of data for %v of shape %v (want %d)", t.GetName(), len(raw), dt, shape, n*dt.Size())
	}
	out := tensor.New(dt, shape...)
	le := binary.LittleEndian
	switch d := out.Data().(type) {
	case []float32:
		for i := range d {
			d[i] = math.Float32frombits(le.Uint32(raw[4*i:]))
		}
	case []float64:
		for i := range d {
			d[i] = math.Float64frombits(le.Uint64(raw[8*i:]))
		}
	case []uint16:
		for i := range d {
			d[i] = le.Uint16(raw[2*i:])
		}
	case []int8:
		for i := range d {
			d[i] = int8(raw[i])
		}
	case []int16:
		for i := range d {
			d[i] = int16(le.Uint16(raw[2*i:]))
		}
	case []int32:
		for i := range d {
			d[i] = int32(le.Uint32(raw[4*i:]))
		}
	case []int64:
		for i := range d {
			d[i] = int64(le.Uint64(raw[8*i:]))
		}
	case []uint8:
		copy(d, raw)
	case []uint32:
		for i := range d {
			d[i] = le.Uint32(raw[4*i:])
		}
	case []uint64:
		for i := range d {
			d[i] = le.Uint64(raw[8*i:])
		}
	case []bool:
		for i := range d {
			d[i] = raw[i] != 0
		}
	}
	return out, nil
}

// decodeTyped reads the typed fields, whose use per element type the ONNX spec fixes: 8- and
// 16-bit types, bool and the 16-bit floats (as bit patterns) live in int32_data, uint32 and
// uint64 in uint64_data.
func decodeTyped(t *TensorProto) (*tensor.Tensor, error) {
	dt, err := DType(t.GetDataType())
	if err != nil {
		return nil, fmt.Errorf("onnx: tensor %q: %w", t.GetName(), unprefix(err))
	}
	shape, err := shapeOf(t)
	if err != nil {
		return nil, err
	}
	n := tensor.Size(shape)
	var have int
	switch dt {
	case tensor.Float32:
		have = len(t.FloatData)
	case tensor.Float64:
		have = len(t.DoubleData)
	case tensor.Int64:
		have = len(t.Int64Data)
	case tensor.Uint32, tensor.Uint64:
		have = len(t.Uint64Data)
	default:
		have = len(t.Int32Data)
	}
	if have != n {
		return nil, fmt.Errorf("onnx: tensor %q: %d values for %v of shape %v (want %d)", t.GetName(), have, dt, shape, n)
	}
	out := tensor.New(dt, shape...)
	switch d := out.Data().(type) {
	case []float32:
		copy(d, t.FloatData)
	case []float64:
		copy(d, t.DoubleData)
	case []int64:
		copy(d, t.Int64Data)
	case []uint16:
		for i := range d {
			d[i] = uint16(t.Int32Data[i])
		}
	case []int8:
		for i := range d {
			d[i] = int8(t.Int32Data[i])
		}
	case []int16:
		for i := range d {
			d[i] = int16(t.Int32Data[i])
		}
	case []int32:
		copy(d, t.Int32Data)
	case []uint8:
		for i := range d {
			d[i] = uint8(t.Int32Data[i])
		}
	case []bool:
		for i := range d {
			d[i] = t.Int32Data[i] != 0
		}
	case []uint32:
		for i := range d {
			d[i] = uint32(t.Uint64Data[i])
		}
	case []uint64:
		copy(d, t.Uint64Data)
	}
	return out, nil
}

// TensorToProto encodes v as a TensorProto named name, with its data in raw_data (the form
// PyTorch writes).
func TensorToProto(name string, v *tensor.Tensor) *TensorProto {
	dims := make([]int64, v.Rank())
	for i, d := range v.Shape() {
		dims[i] = int64(d)
	}
	dt := int32(ElemType(v.DType()))
	return &TensorProto{Name: &name, Dims: dims, DataType: &dt, RawData: encodeRaw(v)}
}

func encodeRaw(v *tensor.Tensor) []byte {
	n := v.Len()
	raw := make([]byte, n*v.DType().Size())
	le := binary.LittleEndian
	switch d := v.Data().(type) {
	case []float32:
		for i, x := range d {
			le.PutUint32(raw[4*i:], math.Float32bits(x))
		}
	case []float64:
		for i, x := range d {
			le.PutUint64(raw[8*i:], math.Float64bits(x))
		}
	case []uint16:
		for i, x := range d {
			le.PutUint16(raw[2*i:], x)
		}
	case []int8:
		for i, x := range d {
			raw[i] = byte(x)
		}
	case []int16:
		for i, x := range d {
			le.PutUint16(raw[2*i:], uint16(x))
		}
	case []int32:
		for i, x := range d {
			le.PutUint32(raw[4*i:], uint32(x))
		}
	case []int64:
		for i, x := range d {
			le.PutUint64(raw[8*i:], uint64(x))
		}
	case []uint8:
		copy(raw, d)
	case []uint32:
		for i, x := range d {
			le.PutUint32(raw[4*i:], x)
		}
	case []uint64:
		for i, x := range d {
			le.PutUint64(raw[8*i:], x)
		}
	case []bool:
		for i, x := range d {
			if x {
				raw[i] = 1
			}
		}
	}
	return raw
}

func hasTypedData(t *TensorProto) bool {
	return len(t.FloatData)+len(t.DoubleData)+len(t.Int32Data)+len(t.Int64Data)+len(t.Uint64Data) > 0
}

func clearTyped(t *TensorProto) {
	t.FloatData, t.DoubleData, t.Int32Data, t.Int64Data, t.Uint64Data = nil, nil, nil, nil, nil
}

func setTyped(t *TensorProto, v *tensor.Tensor) {
	switch d := v.Data().(type) {
	case []float32:
		t.FloatData = append([]float32(nil), d...)
	case []float64:
		t.DoubleData = append([]float64(nil), d...)
	case []int64:
		t.Int64Data = append([]int64(nil), d...)
	case []uint32:
		for _, x := range d {
			t.Uint64Data = append(t.Uint64Data, uint64(x))
		}
	case []uint64:
		t.Uint64Data = append([]uint64(nil), d...)
	case []uint16: // float16 and bfloat16 as bit patterns, like uint16
		for _, x := range d {
			t.Int32Data = append(t.Int32Data, int32(x))
		}
	default:
		for i := 0; i < v.Len(); i++ {
			t.Int32Data = append(t.Int32Data, int32(v.Int64At(i)))
		}
	}
}

func typedToRaw(t *TensorProto) ([]byte, error) {
	v, err := decodeTyped(t)
	if err != nil {
		return nil, err
	}
	return encodeRaw(v), nil
}

// unprefix strips this package's "onnx: " from an error that is about to be wrapped again.
func unprefix(err error) error {
	const p = "onnx: "
	if s := err.Error(); len(s) > len(p) && s[:len(p)] == p {
		return fmt.Errorf("%s", s[len(p):])
	}
	return err
}
