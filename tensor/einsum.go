package tensor

import (
	"fmt"
	"strings"

	"github.com/onnxtune/onnxtune/internal/parallel"
)

// Einstein summation. An equation is parsed once (ParseEinsum) and then resolved against the
// operands' shapes on every call: the ellipsis and every letter become integer labels, each
// with one size. Evaluation then works on labels only:
//
//  1. each operand takes its diagonal over repeated labels and sums out the labels that no
//     other operand and not the result carry;
//  2. the operands are contracted pairwise, left to right, each pair as one batched GEMM: the
//     labels both carry and something later needs are the batch, those both carry and nothing
//     later needs are the inner dimension, the rest are the rows (first operand) and the
//     columns (second). An operand is transposed only when its labels are not already grouped
//     that way (a transposed group is a GEMM flag, not a copy);
//  3. one strided copy puts the labels in the result's order.
//
// The result of step 3 may repeat a label (it writes a diagonal) or name a label that no
// operand carries (it broadcasts): an equation never asks for either, but the gradient of an
// operand with a diagonal or a summed-out label does, and Grad is the same evaluation with the
// result's gradient as one of the operands.
//
// A dimension of size 1 broadcasts against the same label's size elsewhere, as in numpy and
// PyTorch: it gets a label of its own, of size 1, so the operand does not depend on the shared
// one, and its gradient is summed over it.

// EinsumEquation is a parsed einsum equation such as "bij,bjk->bik".
type EinsumEquation struct {
	// Inputs holds each operand's subscripts: letters, with '.' where the equation had "...".
	Inputs []string
	// Output holds the result's subscripts in the same form. In implicit mode (no "->") it is
	// the ellipsis, if any operand has one, followed by the letters that occur once, sorted.
	Output string
	// Explicit is set when the equation names the result after "->".
	Explicit bool
}

// ParseEinsum parses an einsum equation: comma-separated operand subscripts (letters a-z and
// A-Z, at most one "..." each), optionally followed by "->" and the result's. Spaces are
// ignored.
func ParseEinsum(eq string) (*EinsumEquation, error) {
	s := strings.Join(strings.Fields(eq), "")
	lhs, rhs, explicit := strings.Cut(s, "->")
	if explicit && strings.Contains(rhs, "->") {
		return nil, fmt.Errorf("tensor: einsum %q: more than one \"->\"", eq)
	}
	e := &EinsumEquation{Explicit: explicit}
	var count [128]int
	ellipsis := false
	for i, t := range strings.Split(lhs, ",") {
		term, err := einsumTerm(t)
		if err != nil {
			return nil, fmt.Errorf("tensor: einsum %q: operand %d: %w", eq, i, err)
		}
		for _, c := range []byte(term) {
			count[c]++
		}
		ellipsis = ellipsis || strings.Contains(term, ".")
		e.Inputs = append(e.Inputs, term)
	}
	if !explicit {
		var out []byte
		if ellipsis {
			out = append(out, '.')
		}
		for c := range count {
			if c != '.' && count[c] == 1 {
				out = append(out, byte(c))
			}
		}
		e.Output = string(out)
		return e, nil
	}
	out, err := einsumTerm(rhs)
	if err != nil {
		return nil, fmt.Errorf("tensor: einsum %q: output: %w", eq, err)
	}
	for i, c := range []byte(out) {
		if c == '.' {
			continue
		}
		if strings.IndexByte(out[:i], c) >= 0 {
			return nil, fmt.Errorf("tensor: einsum %q: the output repeats subscript %q", eq, c)
		}
		if count[c] == 0 {
			return nil, fmt.Errorf("tensor: einsum %q: output subscript %q is in no operand", eq, c)
		}
	}
	e.Output = out
	return e, nil
}

// einsumTerm checks one term and returns it with its ellipsis, if any, as a single '.'.
func einsumTerm(t string) (string, error) {
	var b strings.Builder
	dots := false
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
			b.WriteByte(c)
		case c == '.':
			if !strings.HasPrefix(t[i:], "...") {
				return "", fmt.Errorf("%q has a '.' that does not start an ellipsis \"...\"", t)
			}
			if dots {
				return "", fmt.Errorf("%q has more than one ellipsis", t)
			}
			dots = true
			b.WriteByte('.')
			i += 2
		default:
			return "", fmt.Errorf("%q: %q is not a subscript (letters a-z, A-Z and \"...\")", t, c)
		}
	}
	return b.String(), nil
}

// String returns the equation in explicit form, as "bij,bjk->bik".
func (e *EinsumEquation) String() string {
	in := make([]string, len(e.Inputs))
	for i, t := range e.Inputs {
		in[i] = strings.ReplaceAll(t, ".", "...")
	}
	return strings.Join(in, ",") + "->" + strings.ReplaceAll(e.Output, ".", "...")
}

// einsumSpec is an equation resolved against the operands' shapes: every dimension of every
// operand and of the result is named by a label in [0, len(size)), of size size[label].
type einsumSpec struct {
	in   [][]int
	out  []int
	size []int
}

func (s *einsumSpec) shape(labels []int) []int {
	out := make([]int, len(labels))
	for i, l := range labels {
		out[i] = s.size[l]
	}
	return out
}

// resolve labels the dimensions of operands of the given shapes: the ellipsis dimensions
// first (right-aligned across operands, as numpy broadcasts them), then the letters.
func (e *EinsumEquation) resolve(shapes [][]int) (*einsumSpec, error) {
	if len(shapes) != len(e.Inputs) {
		return nil, fmt.Errorf("tensor: einsum %s: %d operands for %d terms", e, len(shapes), len(e.Inputs))
	}
	ell := 0
	ellOf := make([]int, len(shapes))
	for i, t := range e.Inputs {
		letters := len(t) - strings.Count(t, ".")
		r := len(shapes[i])
		if strings.Contains(t, ".") && r >= letters {
			ellOf[i] = r - letters
			ell = max(ell, ellOf[i])
		} else if r != letters {
			return nil, fmt.Errorf("tensor: einsum %s: operand %d has shape %v, but its subscripts %q name %d dimensions", e, i, shapes[i], strings.ReplaceAll(t, ".", "..."), letters)
		}
	}
	var id [128]int
	for c := range id {
		id[c] = -1
	}
	name := func(l int) string {
		if l < ell {
			return fmt.Sprintf("dimension %d of the ellipsis", l)
		}
		for c, v := range id {
			if v == l {
				return fmt.Sprintf("subscript %q", byte(c))
			}
		}
		return fmt.Sprintf("label %d", l)
	}
	sp := &einsumSpec{in: make([][]int, len(shapes))}
	for range ell {
		sp.size = append(sp.size, -1)
	}
	labelOf := func(c byte) int {
		if id[c] < 0 {
			id[c] = len(sp.size)
			sp.size = append(sp.size, -1)
		}
		return id[c]
	}
	for i, t := range e.Inputs {
		for _, c := range []byte(t) {
			if c == '.' {
				for l := ell - ellOf[i]; l < ell; l++ {
					sp.in[i] = append(sp.in[i], l)
				}
				continue
			}
			sp.in[i] = append(sp.in[i], labelOf(c))
		}
		seen := map[int]int{}
		for d, l := range sp.in[i] {
			n := shapes[i][d]
			if first, ok := seen[l]; ok && shapes[i][first] != n {
				return nil, fmt.Errorf("tensor: einsum %s: operand %d of shape %v repeats %s with sizes %d and %d", e, i, shapes[i], name(l), shapes[i][first], n)
			}
			seen[l] = d
			switch {
			case sp.size[l] < 0 || sp.size[l] == 1:
				sp.size[l] = n
			case n != 1 && n != sp.size[l]:
				return nil, fmt.Errorf("tensor: einsum %s: %s has size %d in operand %d (shape %v) and %d in an operand before it", e, name(l), n, i, shapes[i], sp.size[l])
			}
		}
	}
	// A dimension of size 1 that broadcasts gets a label of its own (one per operand and
	// shared label, so that a repeated one stays a diagonal).
	for i := range sp.in {
		fresh := map[int]int{}
		for d, l := range sp.in[i] {
			if shapes[i][d] == 1 && sp.size[l] != 1 {
				f, ok := fresh[l]
				if !ok {
					f = len(sp.size)
					sp.size = append(sp.size, 1)
					fresh[l] = f
				}
				sp.in[i][d] = f
			}
		}
	}
	for _, c := range []byte(e.Output) {
		if c == '.' {
			for l := range ell {
				sp.out = append(sp.out, l)
			}
			continue
		}
		sp.out = append(sp.out, labelOf(c))
	}
	for l, n := range sp.size {
		if n < 0 { // an output letter in no operand: ParseEinsum rejects it
			return nil, fmt.Errorf("tensor: einsum %s: %s has no size", e, name(l))
		}
	}
	return sp, nil
}

// OutShape returns the shape of the result for operands of the given shapes, or an error
// saying why they do not fit the equation.
func (e *EinsumEquation) OutShape(shapes ...[]int) ([]int, error) {
	sp, err := e.resolve(shapes)
	if err != nil {
		return nil, err
	}
	return sp.shape(sp.out), nil
}

// Eval computes the equation over the operands, which must share one numeric dtype (16-bit
// floats are computed in float32), into dst, or into a new tensor if dst is nil.
func (e *EinsumEquation) Eval(dst *Tensor, operands ...*Tensor) (*Tensor, error) {
	shapes := make([][]int, len(operands))
	for i, x := range operands {
		if x == nil {
			return nil, fmt.Errorf("tensor: einsum %s: operand %d is missing", e, i)
		}
		shapes[i] = x.shape
	}
	sp, err := e.resolve(shapes)
	if err != nil {
		return nil, err
	}
	y, err := einsumRun(operands, sp.in, sp.out, sp.size)
	if err != nil {
		return nil, fmt.Errorf("tensor: einsum %s: %w", e, err)
	}
	return einsumInto(dst, y)
}

// Grad returns the gradient of operand j of the equation given grad, the gradient of its
// result, written into dst, or a new tensor if dst is nil. Every operand must be given (only
// the shape of operand j is read). It is the einsum of grad with the other operands whose
// result carries operand j's subscripts: zero off a diagonal operand j took, broadcast along
// the subscripts it summed out alone, summed over the dimensions of size 1 it broadcast.
func (e *EinsumEquation) Grad(dst, grad *Tensor, operands []*Tensor, j int) (*Tensor, error) {
	if j < 0 || j >= len(operands) {
		return nil, fmt.Errorf("tensor: einsum %s: gradient of operand %d of %d", e, j, len(operands))
	}
	if grad == nil {
		return nil, fmt.Errorf("tensor: einsum %s: no gradient of the result", e)
	}
	shapes := make([][]int, len(operands))
	for i, x := range operands {
		if x == nil {
			return nil, fmt.Errorf("tensor: einsum %s: operand %d is missing", e, i)
		}
		if x.dtype != grad.dtype {
			return nil, fmt.Errorf("tensor: einsum %s: operand %d is %v, the gradient %v", e, i, x, grad)
		}
		shapes[i] = x.shape
	}
	sp, err := e.resolve(shapes)
	if err != nil {
		return nil, err
	}
	if want := sp.shape(sp.out); !EqualShapes(grad.shape, want) {
		return nil, fmt.Errorf("tensor: einsum %s: gradient of shape %v for a result of shape %v", e, grad.shape, want)
	}
	ops := []*Tensor{grad}
	labels := [][]int{sp.out}
	for i, x := range operands {
		if i != j {
			ops = append(ops, x)
			labels = append(labels, sp.in[i])
		}
	}
	g, err := einsumRun(ops, labels, sp.in[j], sp.size)
	if err != nil {
		return nil, fmt.Errorf("tensor: einsum %s: gradient of operand %d: %w", e, j, err)
	}
	return einsumInto(dst, g)
}

// einsumInto returns y, or y copied into dst when dst is given.
func einsumInto(dst, y *Tensor) (*Tensor, error) {
	if dst == nil {
		return y, nil
	}
	if dst.dtype != y.dtype || !EqualShapes(dst.shape, y.shape) {
		return nil, fmt.Errorf("tensor: einsum: dst is %v, the result is %v", dst, y)
	}
	copyData(dst.data, y.data)
	return dst, nil
}

// einsumRun evaluates the labelled einsum: operand i carries labels in[i], the result out.
func einsumRun(ops []*Tensor, in [][]int, out []int, size []int) (*Tensor, error) {
	if len(ops) == 0 {
		return nil, fmt.Errorf("no operands")
	}
	dt := ops[0].dtype
	for i, x := range ops {
		if x.dtype != dt {
			return nil, fmt.Errorf("operand %d is %v, operand 0 %v: the dtypes differ", i, x, ops[0])
		}
	}
	if dt == Float16 || dt == BFloat16 {
		wide := make([]*Tensor, len(ops))
		for i, x := range ops {
			var err error
			if wide[i], err = CastTensor(nil, x, Float32); err != nil {
				return nil, err
			}
		}
		y, err := einsumRun(wide, in, out, size)
		if err != nil {
			return nil, err
		}
		return CastTensor(nil, y, dt)
	}
	sp := &einsumSpec{in: in, out: out, size: size}
	shape := sp.shape(out)
	var data any
	switch ops[0].data.(type) {
	case []float32:
		data = einsumRunT[float32](ops, sp)
	case []float64:
		data = einsumRunT[float64](ops, sp)
	case []int8:
		data = einsumRunT[int8](ops, sp)
	case []int16:
		data = einsumRunT[int16](ops, sp)
	case []int32:
		data = einsumRunT[int32](ops, sp)
	case []int64:
		data = einsumRunT[int64](ops, sp)
	case []uint8:
		data = einsumRunT[uint8](ops, sp)
	case []uint16:
		data = einsumRunT[uint16](ops, sp)
	case []uint32:
		data = einsumRunT[uint32](ops, sp)
	case []uint64:
		data = einsumRunT[uint64](ops, sp)
	default:
		return nil, fmt.Errorf("no einsum for %v operands", dt)
	}
	return &Tensor{dtype: dt, shape: shape, data: data}, nil
}

// einsumRunT runs the three steps of the file comment on operands of element type T.
func einsumRunT[T Number](ops []*Tensor, sp *einsumSpec) []T {
	uses := make([]int, len(sp.size)) // how many operands, and the result, carry each label
	mark := func(labels []int) {
		seen := map[int]bool{}
		for _, l := range labels {
			if !seen[l] {
				seen[l] = true
				uses[l]++
			}
		}
	}
	for _, labels := range sp.in {
		mark(labels)
	}
	mark(sp.out)
	inOut := make([]bool, len(sp.size))
	for _, l := range sp.out {
		inOut[l] = true
	}
	xs := make([][]T, len(ops))
	ls := make([][]int, len(ops))
	for i, x := range ops {
		// A label some other operand or the result carries stays.
		xs[i], ls[i] = einsumPrepare(Data[T](x), sp.in[i], sp, func(l int) bool { return uses[l] > 1 || inOut[l] })
	}
	x, lx := xs[0], ls[0]
	for i := 1; i < len(xs); i++ {
		keep := append([]bool(nil), inOut...)
		for _, labels := range ls[i+1:] {
			for _, l := range labels {
				keep[l] = true
			}
		}
		x, lx = einsumContract(x, lx, xs[i], ls[i], sp, keep, i == len(xs)-1)
	}
	y := einsumPlace(x, lx, sp)
	if len(ops) == 1 && len(y) > 0 && &y[0] == &Data[T](ops[0])[0] {
		// Nothing was computed ("ij->ij", or only size-1 dimensions dropped): the result
		// must still not share the operand's elements.
		y = append([]T(nil), y...)
	}
	return y
}

// einsumPrepare takes the diagonal of x over its repeated labels and sums out those keep
// rejects. It returns x itself, or a view of it, when neither applies.
func einsumPrepare[T Number](x []T, labels []int, sp *einsumSpec, keep func(l int) bool) ([]T, []int) {
	strides := Strides(sp.shape(labels))
	var uniq, us []int
	for d, l := range labels {
		k := einsumIndex(uniq, l)
		if k < 0 {
			uniq = append(uniq, l)
			us = append(us, strides[d])
			continue
		}
		us[k] += strides[d]
	}
	if len(uniq) < len(labels) {
		box := sp.shape(uniq)
		diag := make([]T, Size(box))
		CopyStrided(diag, 0, Strides(box), x, 0, us, box)
		x, labels = diag, uniq
	}
	var axes, kept []int
	dense := true // every dimension summed out has size 1: a reshape, no arithmetic
	for d, l := range labels {
		if keep(l) {
			kept = append(kept, l)
			continue
		}
		axes = append(axes, d)
		dense = dense && sp.size[l] == 1
	}
	if len(axes) == 0 || dense {
		return x, kept
	}
	sum := make([]T, Size(sp.shape(kept)))
	ReduceSum(sum, x, sp.shape(labels), axes)
	return sum, kept
}

func einsumIndex(s []int, v int) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// einsumContract contracts a (labels la) with b (labels lb), keeping the labels keep marks,
// and returns the product with its labels: the batch, then a's rows, then b's columns. last
// marks the final contraction, whose result order is worth matching the output's.
func einsumContract[T Number](a []T, la []int, b []T, lb []int, sp *einsumSpec, keep []bool, last bool) ([]T, []int) {
	inA := make([]bool, len(sp.size))
	inB := make([]bool, len(sp.size))
	for _, l := range la {
		inA[l] = true
	}
	for _, l := range lb {
		inB[l] = true
	}
	a, la = einsumPrepare(a, la, sp, func(l int) bool { return keep[l] || inB[l] })
	b, lb = einsumPrepare(b, lb, sp, func(l int) bool { return keep[l] || inA[l] })
	var batch, rows, inner, cols []int
	for _, l := range la {
		switch {
		case inB[l] && keep[l]:
			batch = append(batch, l)
		case inB[l]:
			inner = append(inner, l)
		default:
			rows = append(rows, l)
		}
	}
	for _, l := range lb {
		if !inA[l] {
			cols = append(cols, l)
		}
	}
	if last && !einsumIs(sp.out, batch, rows, cols) && einsumIs(sp.out, batch, cols, rows) {
		// (A·B)ᵀ = Bᵀ·Aᵀ: with the operands swapped, the product comes out in the result's
		// order and needs no final transpose.
		return einsumContract(b, lb, a, la, sp, keep, false)
	}
	size := func(ls []int) int { return Size(sp.shape(ls)) }
	nb, m, n, k := size(batch), size(rows), size(cols), size(inner)
	transA := false
	switch {
	case einsumIs(la, batch, rows, inner):
	case einsumIs(la, batch, inner, rows):
		transA = true
	default:
		a = einsumPermute(a, la, einsumConcat(batch, rows, inner), sp)
	}
	// b's batch and inner labels must come in a's order; its columns keep their own.
	transB := false
	switch {
	case einsumIs(lb, batch, inner, cols):
	case einsumIs(lb, batch, cols, inner):
		transB = true
	default:
		b = einsumPermute(b, lb, einsumConcat(batch, inner, cols), sp)
	}
	c := make([]T, nb*m*n)
	einsumGemm(transA, transB, nb, m, n, k, a, b, c)
	return c, einsumConcat(batch, rows, cols)
}

// einsumIs reports whether labels is the concatenation of the groups.
func einsumIs(labels []int, groups ...[]int) bool {
	i := 0
	for _, g := range groups {
		for _, l := range g {
			if i >= len(labels) || labels[i] != l {
				return false
			}
			i++
		}
	}
	return i == len(labels)
}

func einsumConcat(groups ...[]int) []int {
	var out []int
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

// einsumPermute returns x, labelled from, transposed to the label order to.
func einsumPermute[T Number](x []T, from, to []int, sp *einsumSpec) []T {
	perm := make([]int, len(to))
	for i, l := range to {
		perm[i] = einsumIndex(from, l)
	}
	y := make([]T, len(x))
	Transpose(y, x, sp.shape(from), perm)
	return y
}

// einsumPlace returns x, labelled lx (no repeats, every label in sp.out), laid out as the
// result sp.out: permuted, written on a diagonal where sp.out repeats a label, and broadcast
// along the labels of sp.out that lx lacks.
func einsumPlace[T Number](x []T, lx []int, sp *einsumSpec) []T {
	if einsumIs(sp.out, lx) {
		return x
	}
	shape := sp.shape(sp.out)
	y := make([]T, Size(shape))
	ys, xs := Strides(shape), Strides(sp.shape(lx))
	// The copy walks the distinct labels of the result. A repeated one walks a diagonal of y,
	// its strides added up; one x lacks reads the same element all along, stride 0.
	var uniq, ds, ss []int
	for d, l := range sp.out {
		if k := einsumIndex(uniq, l); k >= 0 {
			ds[k] += ys[d]
			continue
		}
		uniq = append(uniq, l)
		ds = append(ds, ys[d])
		if k := einsumIndex(lx, l); k >= 0 {
			ss = append(ss, xs[k])
		} else {
			ss = append(ss, 0)
		}
	}
	CopyStrided(y, 0, ds, x, 0, ss, sp.shape(uniq))
	return y
}

// einsumThreadWork is the least multiply-adds worth another goroutine in a batch of small
// products; as for Gemm, it has to pay for waking an idle processor.
const einsumThreadWork = 4 << 20

// einsumGemm computes the nb products C_i = op(A_i)·op(B_i), C_i m×n, over the inner size k,
// of matrices stored one after the other.
func einsumGemm[T Number](transA, transB bool, nb, m, n, k int, a, b, c []T) {
	if af, ok := asFloat32(a); ok {
		bf, cf := mustFloat32(b), mustFloat32(c)
		lda, ldb := k, n
		if transA {
			lda = m
		}
		if transB {
			ldb = k
		}
		if nb == 1 || int64(m)*int64(n)*int64(k) >= gemmThreadWork {
			for i := range nb {
				Gemm(transA, transB, m, n, k, 1, af[i*m*k:], lda, bf[i*k*n:], ldb, 0, cf[i*m*n:], n)
			}
			return
		}
		einsumParallel(nb, int64(nb)*int64(m)*int64(n)*int64(k), func(i int) {
			GemmSerial(transA, transB, m, n, k, 1, af[i*m*k:], lda, bf[i*k*n:], ldb, 0, cf[i*m*n:], n)
		})
		return
	}
	for i := range nb {
		einsumLoop(transA, transB, m, n, k, a[i*m*k:(i+1)*m*k], b[i*k*n:(i+1)*k*n], c[i*m*n:(i+1)*m*n])
	}
}

// einsumLoop is the plain product for the element types Gemm does not take: C = op(A)·op(B)
// with C zeroed.
func einsumLoop[T Number](transA, transB bool, m, n, k int, a, b, c []T) {
	for i := range m {
		crow := c[i*n : (i+1)*n]
		for p := range k {
			var av T
			if transA {
				av = a[p*m+i]
			} else {
				av = a[i*k+p]
			}
			if transB {
				for j := range crow {
					crow[j] += av * b[j*k+p]
				}
				continue
			}
			for j, bv := range b[p*n : (p+1)*n] {
				crow[j] += av * bv
			}
		}
	}
}

// einsumParallel calls f(0..n-1) split into contiguous runs over up to parallel.Procs goroutines,
// as many as work (multiply-adds in all) pays for.
func einsumParallel(n int, work int64, f func(i int)) {
	chunks := int(min(int64(parallel.Procs()), int64(n), work/einsumThreadWork))
	if chunks <= 1 {
		for i := range n {
			f(i)
		}
		return
	}
	parallel.For(chunks, chunks, func(c int) {
		for i := n * c / chunks; i < n*(c+1)/chunks; i++ {
			f(i)
		}
	})
}
