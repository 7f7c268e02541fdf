//go:build amd64 && !purego

package tensor

//go:noescape
func winogradInputAVX2(v *float32, stride int, eo *float32, rowStride, n int)

//go:noescape
func winogradOutputAVX2(row0, row1, m *float32, stride, n int)

// winogradInputRows does the leading multiple of 8 of winogradInputRow's tiles in vector
// registers and returns how many it did.
func winogradInputRows(v []float32, stride int, eo []float32, rowStride, n int) int {
	n = simdLen(n)
	if n > 0 {
		_, _ = v[15*stride+n-1], eo[7*rowStride+n]
		winogradInputAVX2(&v[0], stride, &eo[0], rowStride, n)
	}
	return n
}

// winogradOutputRows does the leading multiple of 8 of winogradOutputRow's tiles in vector
// registers and returns how many it did.
func winogradOutputRows(row0, row1, m []float32, stride, n int) int {
	n = simdLen(n)
	if n > 0 {
		_, _, _ = row0[2*n-1], row1[2*n-1], m[15*stride+n-1]
		winogradOutputAVX2(&row0[0], &row1[0], &m[0], stride, n)
	}
	return n
}
