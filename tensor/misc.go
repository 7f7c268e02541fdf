package tensor

import (
	"fmt"
	"math"
)

// ModTensor is ONNX Mod on two tensors of one numeric dtype, broadcast: with fmod the result
// takes the sign of the dividend (C's fmod, required for floats); without, the sign of the
// divisor (Python's %). An integer division by zero is an error.
func ModTensor(a, b *Tensor, fmod bool) (*Tensor, error) {
	if a.DType() != b.DType() {
		return nil, fmt.Errorf("tensor: Mod of %v and %v", a.DType(), b.DType())
	}
	if a.DType().IsFloat() && !fmod {
		return nil, fmt.Errorf("tensor: Mod of floating-point values needs fmod=1")
	}
	bc, err := NewBroadcast(a.Shape(), b.Shape())
	if err != nil {
		return nil, err
	}
	x, y := New(a.DType(), bc.Shape()...), New(a.DType(), bc.Shape()...)
	// Each operand broadcast on its own against the output shape, for Expand.
	bx, _ := NewBroadcast(a.Shape(), bc.Shape())
	by, _ := NewBroadcast(b.Shape(), bc.Shape())
	out := New(a.DType(), bc.Shape()...)
	switch d := out.Data().(type) {
	case []int8:
		return out, modInts(bx, by, d, Data[int8](x), Data[int8](y), Data[int8](a), Data[int8](b), fmod)
	case []int16:
		return out, modInts(bx, by, d, Data[int16](x), Data[int16](y), Data[int16](a), Data[int16](b), fmod)
	case []int32:
		return out, modInts(bx, by, d, Data[int32](x), Data[int32](y), Data[int32](a), Data[int32](b), fmod)
	case []int64:
		return out, modInts(bx, by, d, Data[int64](x), Data[int64](y), Data[int64](a), Data[int64](b), fmod)
	case []uint8:
		return out, modInts(bx, by, d, Data[uint8](x), Data[uint8](y), Data[uint8](a), Data[uint8](b), fmod)
	case []uint32:
		return out, modInts(bx, by, d, Data[uint32](x), Data[uint32](y), Data[uint32](a), Data[uint32](b), fmod)
	case []uint64:
		return out, modInts(bx, by, d, Data[uint64](x), Data[uint64](y), Data[uint64](a), Data[uint64](b), fmod)
	case []uint16:
		if a.DType() == Uint16 {
			return out, modInts(bx, by, d, Data[uint16](x), Data[uint16](y), Data[uint16](a), Data[uint16](b), fmod)
		}
	}
	if !a.DType().IsFloat() {
		return nil, fmt.Errorf("tensor: Mod of %v is not supported", a.DType())
	}
	// Floating point, float16 and bfloat16 included: C's fmod in float64, rounded back.
	af, bf := New(Float64, a.Shape()...), New(Float64, b.Shape()...)
	copy(Data[float64](af), a.ToFloat64s())
	copy(Data[float64](bf), b.ToFloat64s())
	xf, yf := Data[float64](New(Float64, bc.Shape()...)), Data[float64](New(Float64, bc.Shape()...))
	Expand(bx, xf, Data[float64](af))
	Expand(by, yf, Data[float64](bf))
	r := make([]float64, len(xf))
	for i, u := range xf {
		r[i] = math.Mod(u, yf[i])
	}
	return FromFloat64s(a.DType(), bc.Shape(), r), nil
}

func modInts[T int8 | int16 | int32 | int64 | uint8 | uint16 | uint32 | uint64](bx, by *Broadcast, dst, x, y, a, b []T, fmod bool) error {
	Expand(bx, x, a)
	Expand(by, y, b)
	for i, u := range x {
		v := y[i]
		if v == 0 {
			return fmt.Errorf("tensor: Mod: integer division by zero")
		}
		r := u % v
		if !fmod && r != 0 && (r < 0) != (v < 0) { // unsigned: never true
			r += v
		}
		dst[i] = r
	}
	return nil
}

// ScatterND is ONNX ScatterND: a copy of data where, for each index tuple in indices (shape
// [..., k]), the slice data[idx] is replaced by (reduction "none"), added to ("add") or
// multiplied by ("mul") the matching slice of updates. Negative indices count from the end.
func ScatterND(data, indices, updates *Tensor, reduction string) (*Tensor, error) {
	if indices.Rank() == 0 {
		return nil, fmt.Errorf("tensor: ScatterND indices must have rank >= 1")
	}
	k := indices.Shape()[indices.Rank()-1]
	if k > data.Rank() {
		return nil, fmt.Errorf("tensor: ScatterND index tuples of length %d for data of rank %d", k, data.Rank())
	}
	slice := Size(data.Shape()[k:])
	n := indices.Len() / max(k, 1)
	if k == 0 {
		n = Size(indices.Shape()[:indices.Rank()-1])
	}
	if updates.Len() != n*slice || updates.DType() != data.DType() {
		return nil, fmt.Errorf("tensor: ScatterND updates %v do not fit %d slices of %d elements of %v", updates, n, slice, data.DType())
	}
	out := data.Clone()
	strides := Strides(data.Shape())
	idx := indices.ToInt64s()
	offsets := make([]int, n)
	for i := 0; i < n; i++ {
		off := 0
		for j := 0; j < k; j++ {
			v, dim := idx[i*k+j], int64(data.Shape()[j])
			if v < 0 {
				v += dim
			}
			if v < 0 || v >= dim {
				return nil, fmt.Errorf("tensor: ScatterND index %d out of range for dimension %d of size %d", idx[i*k+j], j, dim)
			}
			off += int(v) * strides[j]
		}
		offsets[i] = off
	}
	if err := scatterInto(out, updates, offsets, slice, reduction); err != nil {
		return nil, err
	}
	return out, nil
}

// ScatterElements is ONNX ScatterElements: a copy of data where each element of updates
// replaces ("none") or is reduced into ("add", "mul", "max", "min") the element of data at
// its own position but for the coordinate along axis, which indices gives (counting from the
// end when negative). indices and updates share a shape of data's rank.
func ScatterElements(data, indices, updates *Tensor, axis int, reduction string) (*Tensor, error) {
	if !EqualShapes(indices.Shape(), updates.Shape()) || updates.DType() != data.DType() {
		return nil, fmt.Errorf("tensor: ScatterElements updates %v do not match indices %v and data %v", updates, indices, data)
	}
	offsets, err := ScatterElementsOffsets(data.Shape(), indices, axis)
	if err != nil {
		return nil, err
	}
	out := data.Clone()
	if err := scatterInto(out, updates, offsets, 1, reduction); err != nil {
		return nil, err
	}
	return out, nil
}

// ScatterElementsOffsets returns, for each element of indices (whose rank is that of shape),
// the flat offset in a tensor of the given shape that ScatterElements writes it to.
func ScatterElementsOffsets(shape []int, indices *Tensor, axis int) ([]int, error) {
	r := len(shape)
	if indices.Rank() != r {
		return nil, fmt.Errorf("tensor: ScatterElements indices %v must have the data's rank %d", indices.Shape(), r)
	}
	if axis < -r || axis >= r {
		return nil, fmt.Errorf("tensor: ScatterElements axis %d is out of range for rank %d", axis, r)
	}
	if axis < 0 {
		axis += r
	}
	ishape := indices.Shape()
	for d := range r {
		if d != axis && ishape[d] > shape[d] {
			return nil, fmt.Errorf("tensor: ScatterElements indices %v exceed the data %v along axis %d", ishape, shape, d)
		}
	}
	strides := Strides(shape)
	idx := indices.ToInt64s()
	offsets := make([]int, len(idx))
	pos := make([]int, r) // the element's coordinates in indices
	dim := int64(shape[axis])
	for i, v := range idx {
		if v < 0 {
			v += dim
		}
		if v < 0 || v >= dim {
			return nil, fmt.Errorf("tensor: ScatterElements index %d out of range for axis %d of size %d", idx[i], axis, dim)
		}
		off := 0
		for d, p := range pos {
			if d == axis {
				p = int(v)
			}
			off += p * strides[d]
		}
		offsets[i] = off
		for d := r - 1; d >= 0; d-- { // the next position in indices, row-major
			if pos[d]++; pos[d] < ishape[d] {
				break
			}
			pos[d] = 0
		}
	}
	return offsets, nil
}

// scatterInto writes, or reduces, each run of slice elements of updates into out at the
// matching offset.
func scatterInto(out, updates *Tensor, offsets []int, slice int, reduction string) error {
	switch d := out.Data().(type) {
	case []float32:
		return scatterND(d, Data[float32](updates), offsets, slice, reduction)
	case []float64:
		return scatterND(d, Data[float64](updates), offsets, slice, reduction)
	case []int64:
		return scatterND(d, Data[int64](updates), offsets, slice, reduction)
	case []int32:
		return scatterND(d, Data[int32](updates), offsets, slice, reduction)
	case []bool:
		if reduction != "none" {
			return fmt.Errorf("tensor: scatter reduction %q on bool", reduction)
		}
		for i, off := range offsets {
			copy(d[off:off+slice], Data[bool](updates)[i*slice:(i+1)*slice])
		}
		return nil
	}
	return fmt.Errorf("tensor: scatter into %v is not supported", out.DType())
}

func scatterND[T float32 | float64 | int32 | int64](dst, upd []T, offsets []int, slice int, reduction string) error {
	for i, off := range offsets {
		d, u := dst[off:off+slice], upd[i*slice:(i+1)*slice]
		switch reduction {
		case "none":
			copy(d, u)
		case "add":
			for j := range d {
				d[j] += u[j]
			}
		case "mul":
			for j := range d {
				d[j] *= u[j]
			}
		case "max":
			for j := range d {
				d[j] = max(d[j], u[j])
			}
		case "min":
			for j := range d {
				d[j] = min(d[j], u[j])
			}
		default:
			return fmt.Errorf("tensor: scatter reduction %q is not supported", reduction)
		}
	}
	return nil
}
