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

//go:noescape
func winograd4InputAVX2(v *float32, stride int, phases *float32, rowStride, n int, pass *float32)

//go:noescape
func winograd4OutputAVX2(rows *float32, rowStride int, m *float32, stride, n int, pass *float32)

//go:noescape
func deinterleave4AVX2(dst *float32, stride int, src *float32, n int)

// winograd4InputRows does winograd4InputRow's tiles in vector registers, eight at a time,
// and returns how many it did: all of them, or none without AVX2. The last step writes up
// to seven values past n in each plane and reads up to eight cells past n in the phase
// rows, which the caller makes room for.
func winograd4InputRows(v []float32, stride int, phases []float32, rowStride, n int, pass []float32) int {
	whole := simdLen(n + 7)
	if whole > 0 {
		_, _, _ = v[35*stride+whole-1], phases[23*rowStride+whole], pass[36*8-1]
		winograd4InputAVX2(&v[0], stride, &phases[0], rowStride, whole, &pass[0])
	}
	return min(whole, n)
}

// winograd4OutputRows does winograd4OutputRow's tiles in vector registers, eight at a time,
// and returns how many it did: all of them, or none without AVX2. The last step reads up to
// seven tiles past n in each plane of m and writes up to 28 cells past 4n in the rows, which
// the caller makes room for.
func winograd4OutputRows(rows []float32, rowStride int, m []float32, stride, n int, pass []float32) int {
	whole := simdLen(n + 7)
	if whole > 0 {
		_, _, _ = rows[3*rowStride+4*whole-1], m[35*stride+whole-1], pass[24*8-1]
		winograd4OutputAVX2(&rows[0], rowStride, &m[0], stride, whole, &pass[0])
	}
	return min(whole, n)
}

// deinterleave4Rows does deinterleave4's cells in vector registers, eight at a time, and
// returns how many it did, or none without AVX2.
func deinterleave4Rows(dst []float32, stride int, src []float32) int {
	n := simdLen(len(src) / 4)
	if n > 0 {
		_, _ = dst[3*stride+n-1], src[4*n-1]
		deinterleave4AVX2(&dst[0], stride, &src[0], n)
	}
	return n
}

//go:noescape
func winograd4OutputGradAVX2(v *float32, stride int, phases *float32, rowStride, n int, pass *float32)

// winograd4OutputGradRows does winograd4OutputGradRow's tiles in vector registers, eight at
// a time, and returns how many it did: all of them, or none without AVX2. The last step
// writes up to seven values past n in each plane and reads up to seven cells past n in the
// phase rows, which the caller makes room for.
func winograd4OutputGradRows(v []float32, stride int, phases []float32, rowStride, n int, pass []float32) int {
	whole := simdLen(n + 7)
	if whole > 0 {
		_, _, _ = v[35*stride+whole-1], phases[15*rowStride+whole-1], pass[24*8-1]
		winograd4OutputGradAVX2(&v[0], stride, &phases[0], rowStride, whole, &pass[0])
	}
	return min(whole, n)
}
