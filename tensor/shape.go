package tensor

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Size returns the number of elements a shape holds (1 for the empty shape of a scalar). It
// does not check for negative dimensions or overflow; SizeChecked does.
func Size(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// SizeChecked is Size for shapes that come from outside: it rejects negative dimensions and
// element counts that overflow an int.
func SizeChecked(shape []int) (int, error) {
	n := 1
	for _, d := range shape {
		// The messages format a copy, so that shape does not escape: a caller's shape
		// literal stays on its stack.
		if d < 0 {
			return 0, fmt.Errorf("tensor: negative dimension in shape %v", slices.Clone(shape))
		}
		if d != 0 && n > math.MaxInt/d {
			return 0, fmt.Errorf("tensor: shape %v has too many elements", slices.Clone(shape))
		}
		n *= d
	}
	return n, nil
}

func mustSize(shape []int) int {
	n, err := SizeChecked(shape)
	if err != nil {
		panic(err.Error())
	}
	return n
}

// Strides returns the row-major strides, in elements, of a shape.
func Strides(shape []int) []int {
	s := make([]int, len(shape))
	acc := 1
	for i := len(shape) - 1; i >= 0; i-- {
		s[i] = acc
		acc *= shape[i]
	}
	return s
}

// BroadcastShapes returns the numpy broadcast of the given shapes: aligned from the right, each
// dimension is the common size, where a dimension of 1 stretches to match.
func BroadcastShapes(shapes ...[]int) ([]int, error) {
	rank := 0
	for _, s := range shapes {
		rank = max(rank, len(s))
	}
	out := make([]int, rank)
	for i := range out {
		out[i] = 1
	}
	for _, s := range shapes {
		off := rank - len(s)
		for i, d := range s {
			switch o := out[off+i]; {
			case o == d || d == 1:
			case o == 1:
				out[off+i] = d
			default:
				return nil, fmt.Errorf("tensor: shapes %s do not broadcast", shapesString(shapes))
			}
		}
	}
	return out, nil
}

// EqualShapes reports whether two shapes are identical.
func EqualShapes(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// ShapeString formats a shape as "[2 3 224 224]" ("[]" for a scalar).
func ShapeString(shape []int) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, d := range shape {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.Itoa(d))
	}
	b.WriteByte(']')
	return b.String()
}

func shapesString(shapes [][]int) string {
	parts := make([]string, len(shapes))
	for i, s := range shapes {
		parts[i] = ShapeString(s)
	}
	return strings.Join(parts, " and ")
}

// cloneInts copies a shape; the copy is never nil, so a scalar's shape is distinguishable from
// a missing one.
func cloneInts(s []int) []int {
	out := make([]int, len(s))
	copy(out, s)
	return out
}
