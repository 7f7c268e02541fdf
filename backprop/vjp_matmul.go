package backprop

import (
	"fmt"
	"runtime"

	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/internal/parallel"
	"github.com/onnxtune/onnxtune/tensor"
)

// The VJPs of Gemm and MatMul (graph/ops_matmul.go), float32 like their forward kernels. For
// Y = A·B the gradients are dA = dY·Bᵀ and dB = Aᵀ·dY; every product runs through tensor.Gemm
// with the transposes expressed as its flags, never materialised.

func init() {
	Register("Gemm", Rule{VJP: gemmVJP, Inputs: []int{0, 1}})
	Register("MatMul", Rule{VJP: matMulVJP, Inputs: []int{0, 1}})
}

// mmFloat32 checks that the values a product's gradient reads are float32.
func mmFloat32(op string, ts ...*tensor.Tensor) error {
	for _, t := range ts {
		if t == nil {
			return fmt.Errorf("%s: the forward inputs were not kept", op)
		}
		if t.DType() != tensor.Float32 {
			return fmt.Errorf("%s: got a %v value; the gradient runs on float32 only, as the operator does", op, t)
		}
	}
	return nil
}

// gemmVJP differentiates Y = alpha·op(A)·op(B) + beta·C:
//
//	d op(A) = alpha·dY·op(B)ᵀ, d op(B) = alpha·op(A)ᵀ·dY, dC = beta·dY summed to C's shape,
//
// and a transposed operand's gradient is the transpose of its op's, which the same product
// gives with its factors swapped and transposed.
func gemmVJP(c *Call, gradOut []*tensor.Tensor) ([]*tensor.Tensor, error) {
	k, err := ewKernelOf[*graph.Gemm](c)
	if err != nil {
		return nil, err
	}
	res := make([]*tensor.Tensor, len(c.InShapes))
	g := gradOut[0]
	if g == nil {
		return res, nil
	}
	m, n, kk, err := k.Dims(c.InShapes[0], c.InShapes[1])
	if err != nil {
		return nil, err
	}
	if err := mmFloat32("Gemm", g); err != nil {
		return nil, err
	}
	gd := g.Float32s()
	if ewNeed(c, 0) {
		b := c.In[1]
		if err := mmFloat32("Gemm", b); err != nil {
			return nil, err
		}
		da := c.newFloat32(c.InShapes[0]) // Gemm with beta 0 overwrites it
		bd, ldb := b.Float32s(), b.Shape()[1]
		err := ewRecover(func() {
			if !k.TransA { // dA (m×k) = alpha·dY·op(B)ᵀ
				tensor.Gemm(false, !k.TransB, m, kk, n, k.Alpha, gd, n, bd, ldb, 0, da.Float32s(), kk)
			} else { // dA (k×m) = alpha·op(B)·dYᵀ
				tensor.Gemm(k.TransB, true, kk, m, n, k.Alpha, bd, ldb, gd, n, 0, da.Float32s(), m)
			}
		})
		if err != nil {
			return nil, err
		}
		res[0] = da
	}
	if ewNeed(c, 1) {
		a := c.In[0]
		if err := mmFloat32("Gemm", a); err != nil {
			return nil, err
		}
		db := c.newFloat32(c.InShapes[1]) // Gemm with beta 0 overwrites it
		ad, lda := a.Float32s(), a.Shape()[1]
		err := ewRecover(func() {
			if !k.TransB { // dB (k×n) = alpha·op(A)ᵀ·dY
				tensor.Gemm(!k.TransA, false, kk, n, m, k.Alpha, ad, lda, gd, n, 0, db.Float32s(), n)
			} else { // dB (n×k) = alpha·dYᵀ·op(A)
				tensor.Gemm(true, k.TransA, n, kk, m, k.Alpha, gd, n, ad, lda, 0, db.Float32s(), kk)
			}
		})
		if err != nil {
			return nil, err
		}
		res[1] = db
	}
	if ewNeed(c, 2) {
		cShape := c.InShapes[2]
		if k.Beta == 0 {
			// The forward pass ignores C when beta is 0.
			res[2] = tensor.New(c.InTypes[2], cShape...)
			return res, nil
		}
		if _, err := tensor.BroadcastShapes(cShape, []int{m, n}); err != nil || len(cShape) > 2 {
			return nil, fmt.Errorf("Gemm: C of shape %v does not broadcast to %dx%d", cShape, m, n)
		}
		dc, fresh, err := ewSumTo(g, cShape)
		if err != nil {
			return nil, err
		}
		if k.Beta != 1 {
			if dc, err = ewScaled(dc, fresh, float64(k.Beta)); err != nil {
				return nil, err
			}
		}
		if res[2], err = ewFinish(dc, cShape, c.InTypes[2]); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// matMulVJP differentiates numpy's matmul: a 1-D operand was a matrix of one row (A) or one
// column (B), and the gradient of an operand whose batch dimensions were broadcast is summed
// over them.
func matMulVJP(c *Call, gradOut []*tensor.Tensor) ([]*tensor.Tensor, error) {
	res := make([]*tensor.Tensor, 2)
	g := gradOut[0]
	if g == nil {
		return res, nil
	}
	aShape, bShape := c.InShapes[0], c.InShapes[1]
	batch, m, n, k, outShape, err := graph.MatMul{}.Shapes(aShape, bShape)
	if err != nil {
		return nil, err
	}
	if err := mmFloat32("MatMul", g); err != nil {
		return nil, err
	}
	if !tensor.EqualShapes(g.Shape(), outShape) {
		return nil, fmt.Errorf("MatMul: a gradient of shape %v for an output of %v", g.Shape(), outShape)
	}
	nb := tensor.Size(batch)
	gd := g.Float32s()
	// A stack of A matrices against one B (a Linear layer over [N, T, k]) differentiates as one
	// tall product: the rows of every batch are rows of one matrix.
	tall := len(bShape) <= 2 && len(aShape) >= 2 && tensor.Size(aShape[:len(aShape)-2]) == nb
	if ewNeed(c, 0) {
		b := c.In[1]
		if err := mmFloat32("MatMul", b); err != nil {
			return nil, err
		}
		bd := b.Float32s()
		var da *tensor.Tensor
		if tall {
			da = c.newFloat32(aShape) // Gemm with beta 0 overwrites it
			err = ewRecover(func() {
				tensor.Gemm(false, true, nb*m, k, n, 1, gd, n, bd, n, 0, da.Float32s(), k)
			})
		} else {
			// dA_i (m×k) = dY_i (m×n) · B_iᵀ.
			da, err = mmBatched(aShape, batch, m, k, func(i int, dst []float32, beta float32, serial bool) {
				mmGemm(serial, false, true, m, k, n, gd[i*m*n:], n, bd[mmOffset(bShape, batch, i, k*n):], n, beta, dst, k)
			})
		}
		if err != nil {
			return nil, err
		}
		res[0] = da
	}
	if ewNeed(c, 1) {
		a := c.In[0]
		if err := mmFloat32("MatMul", a); err != nil {
			return nil, err
		}
		ad := a.Float32s()
		var db *tensor.Tensor
		if tall {
			db = c.newFloat32(bShape) // Gemm with beta 0 overwrites it
			err = ewRecover(func() {
				tensor.Gemm(true, false, k, n, nb*m, 1, ad, k, gd, n, 0, db.Float32s(), n)
			})
		} else {
			// dB_i (k×n) = A_iᵀ (k×m) · dY_i (m×n).
			db, err = mmBatched(bShape, batch, k, n, func(i int, dst []float32, beta float32, serial bool) {
				mmGemm(serial, true, false, k, n, m, ad[mmOffset(aShape, batch, i, m*k):], k, gd[i*m*n:], n, beta, dst, n)
			})
		}
		if err != nil {
			return nil, err
		}
		res[1] = db
	}
	return res, nil
}

// mmBatched computes the gradient of an operand of shape own, rows×cols per matrix, from the
// per-batch products prod(i, dst, beta, serial) that write (beta 0) or add (beta 1) the
// contribution of index i of the broadcast batch into dst. Batch indices that read one matrix
// of the operand (its batch dimensions were broadcast) accumulate into it.
func mmBatched(own, batch []int, rows, cols int, prod func(i int, dst []float32, beta float32, serial bool)) (*tensor.Tensor, error) {
	out := tensor.New(tensor.Float32, own...)
	d := out.Float32s()
	mat := rows * cols
	if mat == 0 {
		return out, nil
	}
	nb := tensor.Size(batch)
	// owner[i] is the matrix of the operand that batch index i reads.
	owner := make([]int, nb)
	for i := range owner {
		owner[i] = mmOffset(own, batch, i, mat) / mat
	}
	err := ewRecover(func() {
		if nb == 1 || !mmDistinct(owner) {
			// Batch indices share matrices: accumulate in batch order, one product at a time,
			// each free to use every core. The first product into a matrix writes it.
			seen := make([]bool, len(d)/mat)
			for i, o := range owner {
				beta := float32(1)
				if !seen[o] {
					beta, seen[o] = 0, true
				}
				prod(i, d[o*mat:(o+1)*mat], beta, false)
			}
			return
		}
		// Every batch index has its own matrix: spread them over the cores.
		mmParallel(nb, func(i int) { prod(i, d[owner[i]*mat:(owner[i]+1)*mat], 0, true) })
	})
	return out, err
}

// mmDistinct reports whether no two batches share a matrix.
func mmDistinct(owner []int) bool {
	seen := make(map[int]bool, len(owner))
	for _, o := range owner {
		if seen[o] {
			return false
		}
		seen[o] = true
	}
	return true
}

// mmOffset returns the element offset, in an operand of shape s (matrices of mat elements),
// of the matrix that index i of the broadcast batch shape reads.
func mmOffset(s, batch []int, i, mat int) int {
	var own []int
	if len(s) > 2 {
		own = s[:len(s)-2]
	}
	off, stride := 0, 1
	for d := len(batch) - 1; d >= 0; d-- {
		idx := i % batch[d]
		i /= batch[d]
		if j := d - (len(batch) - len(own)); j >= 0 {
			if own[j] != 1 {
				off += idx * stride
			}
			stride *= own[j]
		}
	}
	return off * mat
}

// mmGemm runs one product, with tensor.GemmSerial when the caller already runs products in
// parallel.
func mmGemm(serial, transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if serial {
		tensor.GemmSerial(transA, transB, m, n, k, 1, a, lda, b, ldb, beta, c, ldc)
		return
	}
	tensor.Gemm(transA, transB, m, n, k, 1, a, lda, b, ldb, beta, c, ldc)
}

// mmParallel calls fn(0..n-1) over GOMAXPROCS goroutines, re-raising a panic on the caller's.
func mmParallel(n int, fn func(i int)) {
	parallel.For(n, runtime.GOMAXPROCS(0), fn)
}
