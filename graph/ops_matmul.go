package graph

import (
	"fmt"
	"slices"

	"github.com/onnxtune/onnxtune/tensor"
)

func init() {
	// Gemm 1 and 6 take a `broadcast` attribute that later versions made implicit; the
	// unidirectional broadcast of C below covers both. C became optional at 11.
	for _, since := range []int{1, 6, 7, 9, 11, 13} {
		Register(OpDef{Type: "Gemm", Since: since, Build: buildGemm})
	}
	for _, since := range []int{1, 9, 13} {
		Register(OpDef{Type: "MatMul", Since: since, Build: buildMatMul})
	}
}

// Gemm is Y = alpha*op(A)*op(B) + beta*C, with C broadcast to Y's shape.
type Gemm struct {
	Alpha, Beta    float32
	TransA, TransB bool
}

func buildGemm(n *Node, opset int) (Kernel, error) {
	a := n.AttrReader()
	g := &Gemm{
		Alpha:  a.Float("alpha", 1),
		Beta:   a.Float("beta", 1),
		TransA: a.Int("transA", 0) != 0,
		TransB: a.Int("transB", 0) != 0,
	}
	return g, a.Err()
}

// Dims returns m, n, k for inputs of the given shapes, checking them.
func (g *Gemm) Dims(a, b []int) (m, n, k int, err error) {
	if len(a) != 2 || len(b) != 2 {
		return 0, 0, 0, fmt.Errorf("A and B must be matrices, got shapes %v and %v", a, b)
	}
	m, k = a[0], a[1]
	if g.TransA {
		m, k = k, m
	}
	kb, n := b[0], b[1]
	if g.TransB {
		kb, n = n, kb
	}
	if k != kb {
		return 0, 0, 0, fmt.Errorf("inner dimensions differ: op(A) is %dx%d, op(B) is %dx%d", m, k, kb, n)
	}
	return m, n, k, nil
}

// Run implements Kernel.
func (g *Gemm) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if err := needFloat32(in[:2]...); err != nil {
		return nil, err
	}
	m, n, k, err := g.Dims(in[0].Shape(), in[1].Shape())
	if err != nil {
		return nil, err
	}
	y := ctx.tensor([]int{m, n}, ctx.zeros(m*n))
	beta := g.Beta
	if len(in) > 2 && in[2] != nil && beta != 0 {
		c := in[2]
		if err := needFloat32(c); err != nil {
			return nil, err
		}
		if err := broadcastInto(y.Float32s(), []int{m, n}, c.Float32s(), c.Shape()); err != nil {
			return nil, fmt.Errorf("C: %w", err)
		}
	} else {
		beta = 0
	}
	lda, ldb := in[0].Shape()[1], in[1].Shape()[1]
	tensor.Gemm(g.TransA, g.TransB, m, n, k, g.Alpha, in[0].Float32s(), lda, in[1].Float32s(), ldb, beta, y.Float32s(), n)
	return ctx.one(y)
}

// broadcastInto fills dst (of shape dstShape) with src stretched to it by numpy's rules,
// in the one direction Gemm's C allows. A src that is dst's last dimensions (a bias, the
// common case) is copied whole into each stretch of dst, without an allocation.
func broadcastInto(dst []float32, dstShape []int, src []float32, srcShape []int) error {
	bad := func() error { // the shapes are copied: the callers' shapes stay on their stacks
		return fmt.Errorf("shape %v does not broadcast to %v", slices.Clone(srcShape), slices.Clone(dstShape))
	}
	if len(srcShape) > len(dstShape) {
		return bad()
	}
	inner := srcShape
	for len(inner) > 0 && inner[0] == 1 {
		inner = inner[1:]
	}
	if len(src) > 0 && slices.Equal(inner, dstShape[len(dstShape)-len(inner):]) {
		for off := 0; off < len(dst); off += len(src) {
			copy(dst[off:off+len(src)], src)
		}
		return nil
	}
	full := make([]int, len(dstShape))
	off := len(dstShape) - len(srcShape)
	for i := range full {
		full[i] = 1
		if i >= off {
			full[i] = srcShape[i-off]
		}
		if full[i] != 1 && full[i] != dstShape[i] {
			return bad()
		}
	}
	strides := tensor.Strides(full)
	for i := range full {
		if full[i] == 1 {
			strides[i] = 0
		}
	}
	idx := make([]int, len(dstShape))
	for j := range dst {
		o := 0
		for d, v := range idx {
			o += v * strides[d]
		}
		dst[j] = src[o]
		for d := len(idx) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < dstShape[d] {
				break
			}
			idx[d] = 0
		}
	}
	return nil
}

// MatMul is numpy.matmul: 1-D operands are promoted to matrices and the batch dimensions
// broadcast.
type MatMul struct{}

func buildMatMul(*Node, int) (Kernel, error) { return MatMul{}, nil }

// Shapes returns the broadcast batch shape, m, n, k and Y's shape for operands of shapes a, b.
func (MatMul) Shapes(a, b []int) (batch []int, m, n, k int, out []int, err error) {
	if len(a) == 0 || len(b) == 0 {
		return nil, 0, 0, 0, nil, fmt.Errorf("MatMul operands must have rank >= 1, got shapes %v and %v", a, b)
	}
	a2, b2 := a, b
	if len(a) == 1 {
		a2 = []int{1, a[0]}
	}
	if len(b) == 1 {
		b2 = []int{b[0], 1}
	}
	m, k = a2[len(a2)-2], a2[len(a2)-1]
	kb, n := b2[len(b2)-2], b2[len(b2)-1]
	if k != kb {
		return nil, 0, 0, 0, nil, fmt.Errorf("MatMul: shapes %v and %v: inner dimensions %d and %d differ", a, b, k, kb)
	}
	batch, err = tensor.BroadcastShapes(a2[:len(a2)-2], b2[:len(b2)-2])
	if err != nil {
		return nil, 0, 0, 0, nil, fmt.Errorf("MatMul: batch dimensions of %v and %v do not broadcast", a, b)
	}
	out = append([]int(nil), batch...)
	if len(a) > 1 {
		out = append(out, m)
	}
	if len(b) > 1 {
		out = append(out, n)
	}
	return batch, m, n, k, out, nil
}

// Run implements Kernel.
func (mm MatMul) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if err := needFloat32(in...); err != nil {
		return nil, err
	}
	a, b := in[0], in[1]
	batch, m, n, k, outShape, err := mm.Shapes(a.Shape(), b.Shape())
	if err != nil {
		return nil, err
	}
	y := ctx.tensor(outShape, ctx.zeros(tensor.Size(outShape)))
	ad, bd, yd := a.Float32s(), b.Float32s(), y.Float32s()
	nb := tensor.Size(batch)
	aBatch := batchOffsets(a.Shape(), batch, m*k)
	bBatch := batchOffsets(b.Shape(), batch, k*n)
	if nb == 1 || (len(b.Shape()) <= 2 && m*nb*n*k >= 1<<16 && isDenseBatch(aBatch, m*k)) {
		// One GEMM: a stack of A matrices against a shared B is one tall matrix.
		rows := m * nb
		if nb > 1 {
			tensor.Gemm(false, false, rows, n, k, 1, ad, k, bd, n, 0, yd, n)
			return []*tensor.Tensor{y}, nil
		}
		tensor.Gemm(false, false, m, n, k, 1, ad[aBatch[0]:], k, bd[bBatch[0]:], n, 0, yd, n)
		return []*tensor.Tensor{y}, nil
	}
	parallelFor(nb, func(i int) {
		tensor.GemmSerial(false, false, m, n, k, 1, ad[aBatch[i]:], k, bd[bBatch[i]:], n, 0, yd[i*m*n:], n)
	})
	return []*tensor.Tensor{y}, nil
}

// batchOffsets returns, for each index of the broadcast batch shape, the element offset of
// the matching matrix (of matSize elements) in an operand of shape s.
func batchOffsets(s, batch []int, matSize int) []int {
	own := []int{}
	if len(s) > 2 {
		own = s[:len(s)-2]
	}
	full := make([]int, len(batch))
	off := len(batch) - len(own)
	for i := range full {
		full[i] = 1
		if i >= off {
			full[i] = own[i-off]
		}
	}
	strides := tensor.Strides(full)
	for i := range full {
		if full[i] == 1 {
			strides[i] = 0
		}
	}
	n := tensor.Size(batch)
	out := make([]int, n)
	idx := make([]int, len(batch))
	for j := 0; j < n; j++ {
		o := 0
		for d, v := range idx {
			o += v * strides[d]
		}
		out[j] = o * matSize
		for d := len(idx) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < batch[d] {
				break
			}
			idx[d] = 0
		}
	}
	return out
}

func isDenseBatch(offsets []int, size int) bool {
	for i, o := range offsets {
		if o != i*size {
			return false
		}
	}
	return true
}

// needFloat32 checks that every non-nil tensor is float32, the type the fast kernels take.
func needFloat32(ts ...*tensor.Tensor) error {
	for _, t := range ts {
		if t != nil && t.DType() != tensor.Float32 {
			return fmt.Errorf("got a %v input; this operator runs on float32 only", t.DType())
		}
	}
	return nil
}
