//go:build amd64 && !purego

package tensor

//go:noescape
func winogradInputAVX2(v *float32, stride int, eo *float32, rowStride, n int)

//go:noescape
func winogradOutputAVX2(row0, row1, m *float32, stride, n int)

// winogradInputRows does winogradInputRow's tiles in vector registers, eight at a time, and
// returns how many it did: all of them, or none without AVX2. The last step writes up to
// seven values past n in each plane and reads up to seven tiles past n in eo, which the
// caller makes room for.
func winogradInputRows(v []float32, stride int, eo []float32, rowStride, n int) int {
	whole := simdLen(n + 7)
	if whole > 0 {
		_, _ = v[15*stride+whole-1], eo[7*rowStride+whole]
		winogradInputAVX2(&v[0], stride, &eo[0], rowStride, whole)
	}
	return min(whole, n)
}

// winogradOutputRows does winogradOutputRow's tiles in vector registers, eight at a time,
// and returns how many it did: all of them, or none without AVX2. The last step reads up to
// seven tiles past n in each plane of m and writes up to 14 cells past 2n in the rows, which
// the caller makes room for.
func winogradOutputRows(row0, row1, m []float32, stride, n int) int {
	whole := simdLen(n + 7)
	if whole > 0 {
		_, _, _ = row0[2*whole-1], row1[2*whole-1], m[15*stride+whole-1]
		winogradOutputAVX2(&row0[0], &row1[0], &m[0], stride, whole)
	}
	return min(whole, n)
}

//go:noescape
func winogradOutputGradAVX2(v *float32, stride int, eo *float32, rowStride, n int)

// winogradOutputGradRows does winogradOutputGradRow's tiles in vector registers, eight at a
// time, and returns how many it did: all of them, or none without AVX2. The last step writes
// up to seven values past n in each plane and reads up to seven cells past n in eo's rows,
// which the caller makes room for.
func winogradOutputGradRows(v []float32, stride int, eo []float32, rowStride, n int) int {
	whole := simdLen(n + 7)
	if whole > 0 {
		_, _ = v[15*stride+whole-1], eo[3*rowStride+whole-1]
		winogradOutputGradAVX2(&v[0], stride, &eo[0], rowStride, whole)
	}
	return min(whole, n)
}
