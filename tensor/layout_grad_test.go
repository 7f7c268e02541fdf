package tensor_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/onnxtune/onnxtune/tensor"
)

// The adjoints are checked against their definition, through the forward kernels (themselves
// checked against numpy in layout_test.go): run the forward operation on a tensor whose
// elements are their own indices, which says for every result element which source element it
// copies (or -1 for a constant pad cell), then add each result gradient onto that source
// element. That is the gradient, element by element, whatever path the adjoint takes.

// lgradTrace runs a forward layout operation on the indices of a source of the given shape.
func lgradTrace(t *testing.T, shape []int, fwd func(x *tensor.Tensor) (*tensor.Tensor, error)) *tensor.Tensor {
	t.Helper()
	x := tensor.New(tensor.Float64, shape...)
	for i := range tensor.Data[float64](x) {
		tensor.Data[float64](x)[i] = float64(i)
	}
	y, err := fwd(x)
	if err != nil {
		t.Fatal(err)
	}
	return y
}

// lgradWant adds each element of g onto the source element trace names.
func lgradWant(shape []int, trace, g *tensor.Tensor) []float64 {
	want := make([]float64, tensor.Size(shape))
	for p := 0; p < g.Len(); p++ {
		if src := int(trace.Float64At(p)); src >= 0 {
			want[src] += g.Float64At(p)
		}
	}
	return want
}

func lgradRandom(rng *rand.Rand, dt tensor.DType, shape []int) *tensor.Tensor {
	vals := make([]float64, tensor.Size(shape))
	for i := range vals {
		vals[i] = rng.NormFloat64()
	}
	return tensor.FromFloat64s(dt, shape, vals)
}

// lgradCompare requires got to match want within tol, relative to max(1, |want|).
func lgradCompare(t *testing.T, name string, got *tensor.Tensor, shape []int, want []float64, tol float64) {
	t.Helper()
	if !tensor.EqualShapes(got.Shape(), shape) {
		t.Errorf("%s: got shape %v, want %v", name, got.Shape(), shape)
		return
	}
	for i, w := range want {
		if g := got.Float64At(i); math.Abs(g-w) > tol*math.Max(1, math.Abs(w)) || math.IsNaN(g) {
			t.Errorf("%s: element %d: got %v, want %v", name, i, g, w)
			return
		}
	}
}

// lgradCase is one adjoint: the forward operation on a source of shape, and its adjoint.
type lgradCase struct {
	name  string
	shape []int
	fwd   func(x *tensor.Tensor) (*tensor.Tensor, error)
	grad  func(g *tensor.Tensor) (*tensor.Tensor, error)
}

func lgradCases() []lgradCase {
	var cases []lgradCase
	pad := func(shape, begins, ends []int, mode tensor.PadMode) {
		cases = append(cases, lgradCase{
			name:  fmt.Sprintf("pad/%v%v%v%v", mode, shape, begins, ends),
			shape: shape,
			fwd: func(x *tensor.Tensor) (*tensor.Tensor, error) {
				return tensor.PadTensor(nil, x, begins, ends, mode, tensor.Scalar(-1.0))
			},
			grad: func(g *tensor.Tensor) (*tensor.Tensor, error) {
				return tensor.PadGradTensor(nil, g, shape, begins, ends, mode)
			},
		})
	}
	pad([]int{2, 3, 4, 5}, []int{0, 0, 1, 2}, []int{0, 0, 2, 1}, tensor.PadConstant)
	pad([]int{2, 3, 4, 5}, []int{0, 1, 2, 3}, []int{1, 0, 3, 2}, tensor.PadReflect)
	pad([]int{2, 3, 4, 5}, []int{1, 0, 2, 3}, []int{0, 2, 3, 4}, tensor.PadEdge)
	pad([]int{3}, []int{7}, []int{5}, tensor.PadReflect) // wider than the input: reflects repeatedly
	pad([]int{2, 3, 4, 5}, []int{0, 1, 2, 3}, []int{1, 0, 3, 2}, tensor.PadWrap)
	pad([]int{3}, []int{7}, []int{5}, tensor.PadWrap) // wider than the input: cycles repeatedly
	pad([]int{1, 4}, []int{2, 1}, []int{1, 0}, tensor.PadEdge)
	pad([]int{1, 4}, []int{2, 3}, []int{1, 0}, tensor.PadReflect) // a one-cell axis reflects onto itself
	pad([]int{4, 6}, []int{-1, 2}, []int{1, -3}, tensor.PadConstant)
	pad([]int{4, 6}, []int{-1, 2}, []int{2, -3}, tensor.PadReflect)
	pad([]int{4, 6}, []int{1, -2}, []int{-2, 3}, tensor.PadEdge)
	pad([]int{3, 0}, []int{1, 1}, []int{0, 2}, tensor.PadConstant)
	pad([]int{2, 3}, []int{0, 0}, []int{0, 0}, tensor.PadReflect)
	pad([]int{4, 5}, []int{-4, 0}, []int{0, 0}, tensor.PadConstant) // everything cropped

	slice := func(shape, first, counts, steps []int) {
		cases = append(cases, lgradCase{
			name:  fmt.Sprintf("unslice/%v%v%v%v", shape, first, counts, steps),
			shape: shape,
			fwd: func(x *tensor.Tensor) (*tensor.Tensor, error) {
				return tensor.SliceTensor(nil, x, first, counts, steps)
			},
			grad: func(g *tensor.Tensor) (*tensor.Tensor, error) {
				return tensor.UnsliceTensor(nil, g, shape, first, counts, steps)
			},
		})
	}
	slice([]int{6, 7}, []int{1, 0}, []int{4, 7}, []int{1, 1})
	slice([]int{6, 7}, []int{4, 6}, []int{2, 4}, []int{1, -2})
	slice([]int{6, 7, 8}, []int{5, 1, 7}, []int{3, 2, 3}, []int{-2, 3, -3})
	slice([]int{4, 5}, []int{3, 2}, []int{0, 3}, []int{1, 1})

	gather := func(shape []int, axis int, indices *tensor.Tensor) {
		cases = append(cases, lgradCase{
			name:  fmt.Sprintf("gather/%v axis %d indices %v %v", shape, axis, indices, indices.ToInt64s()),
			shape: shape,
			fwd: func(x *tensor.Tensor) (*tensor.Tensor, error) {
				return tensor.GatherTensor(nil, x, axis, indices)
			},
			grad: func(g *tensor.Tensor) (*tensor.Tensor, error) {
				return tensor.GatherGradTensor(nil, g, shape, axis, indices)
			},
		})
	}
	gather([]int{5, 4, 3}, 1, tensor.From([]int{2, 3}, []int64{3, -1, 0, 2, 2, -4}))
	gather([]int{5, 4, 3}, -1, tensor.From([]int{4}, []int32{2, 0, 2, 2}))
	gather([]int{5, 4}, 0, tensor.From([]int{}, []int64{-2}))
	gather([]int{7}, 0, tensor.From([]int{3, 2}, []int64{1, 1, 6, 1, 0, -7}))
	gather([]int{3, 4}, 1, tensor.From([]int{0}, []int64{}))

	tile := func(shape, repeats []int) {
		cases = append(cases, lgradCase{
			name:  fmt.Sprintf("tile/%v%v", shape, repeats),
			shape: shape,
			fwd: func(x *tensor.Tensor) (*tensor.Tensor, error) {
				return tensor.TileTensor(nil, x, repeats)
			},
			grad: func(g *tensor.Tensor) (*tensor.Tensor, error) {
				return tensor.TileGradTensor(nil, g, shape, repeats)
			},
		})
	}
	tile([]int{2, 3, 4}, []int{2, 1, 3})
	tile([]int{1, 3}, []int{4, 2})
	tile([]int{2, 3}, []int{0, 2})
	tile([]int{}, []int{})
	tile([]int{3, 1, 2}, []int{1, 5, 1})
	return cases
}

// TestLayoutGradDefinition checks every adjoint against the traced definition, in float64 (to
// rounding), float32 and float16 (to their precision).
func TestLayoutGradDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range lgradCases() {
		trace := lgradTrace(t, c.shape, c.fwd)
		for _, dt := range []tensor.DType{tensor.Float64, tensor.Float32, tensor.Float16} {
			g := lgradRandom(rng, dt, trace.Shape())
			got, err := c.grad(g)
			if err != nil {
				t.Errorf("%s %v: %v", c.name, dt, err)
				continue
			}
			if got.DType() != dt {
				t.Errorf("%s %v: got dtype %v", c.name, dt, got.DType())
			}
			tol := map[tensor.DType]float64{tensor.Float64: 1e-12, tensor.Float32: 1e-5, tensor.Float16: 2e-3}[dt]
			lgradCompare(t, c.name+" "+dt.String(), got, c.shape, lgradWant(c.shape, trace, g), tol)
		}
	}
}

// TestLayoutGradLarge runs the adjoints on tensors large enough to be cut between goroutines,
// along each of the ways they cut: blocks, and rows within few blocks.
func TestLayoutGradLarge(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	shape := []int{2, 8, 96, 96}
	if testing.Short() {
		shape = []int{1, 8, 96, 96}
	}
	var cases []lgradCase
	for _, mode := range []tensor.PadMode{tensor.PadConstant, tensor.PadReflect, tensor.PadEdge} {
		begins, ends := []int{1, 0, 3, 2}, []int{0, 2, -1, 5}
		cases = append(cases, lgradCase{
			name: fmt.Sprintf("pad/%v", mode), shape: shape,
			fwd: func(x *tensor.Tensor) (*tensor.Tensor, error) {
				return tensor.PadTensor(nil, x, begins, ends, mode, tensor.Scalar(-1.0))
			},
			grad: func(g *tensor.Tensor) (*tensor.Tensor, error) {
				return tensor.PadGradTensor(nil, g, shape, begins, ends, mode)
			},
		})
	}
	for _, axis := range []int{0, 1, 3} {
		idx := make([]int64, 2*shape[axis]+1)
		for i := range idx {
			idx[i] = int64(rng.IntN(shape[axis]))
		}
		indices := tensor.From([]int{len(idx)}, idx)
		cases = append(cases, lgradCase{
			name: fmt.Sprintf("gather/axis%d", axis), shape: shape,
			fwd: func(x *tensor.Tensor) (*tensor.Tensor, error) {
				return tensor.GatherTensor(nil, x, axis, indices)
			},
			grad: func(g *tensor.Tensor) (*tensor.Tensor, error) {
				return tensor.GatherGradTensor(nil, g, shape, axis, indices)
			},
		})
	}
	first, counts, steps := []int{0, shape[1] - 1, 1, 95}, []int{shape[0], shape[1] / 2, 47, 90}, []int{1, -2, 2, -1}
	cases = append(cases, lgradCase{
		name: "unslice", shape: shape,
		fwd: func(x *tensor.Tensor) (*tensor.Tensor, error) {
			return tensor.SliceTensor(nil, x, first, counts, steps)
		},
		grad: func(g *tensor.Tensor) (*tensor.Tensor, error) {
			return tensor.UnsliceTensor(nil, g, shape, first, counts, steps)
		},
	})
	repeats := []int{2, 1, 1, 2}
	cases = append(cases, lgradCase{
		name: "tile", shape: shape,
		fwd: func(x *tensor.Tensor) (*tensor.Tensor, error) { return tensor.TileTensor(nil, x, repeats) },
		grad: func(g *tensor.Tensor) (*tensor.Tensor, error) {
			return tensor.TileGradTensor(nil, g, shape, repeats)
		},
	})
	for _, c := range cases {
		trace := lgradTrace(t, c.shape, c.fwd)
		g := lgradRandom(rng, tensor.Float32, trace.Shape())
		got, err := c.grad(g)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		lgradCompare(t, c.name, got, c.shape, lgradWant(c.shape, trace, g), 1e-5)
	}
}

// TestLayoutGradGeneric checks the slice forms against the *Tensor forms, which the definition
// test covers, and that they overwrite whatever dst held (Unslice only inside its box).
func TestLayoutGradGeneric(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	shape := []int{3, 4, 5}
	dirty := func(n int) []float32 {
		d := make([]float32, n)
		for i := range d {
			d[i] = 99
		}
		return d
	}
	same := func(name string, got []float32, want *tensor.Tensor) {
		t.Helper()
		for i, w := range want.Float32s() {
			if got[i] != w {
				t.Errorf("%s: element %d: got %v, want %v", name, i, got[i], w)
				return
			}
		}
	}
	begins, ends := []int{1, 0, 2}, []int{0, -1, 3}
	g := lgradRandom(rng, tensor.Float32, []int{4, 3, 10})
	for _, mode := range []tensor.PadMode{tensor.PadConstant, tensor.PadReflect, tensor.PadEdge} {
		want, err := tensor.PadGradTensor(nil, g, shape, begins, ends, mode)
		if err != nil {
			t.Fatal(err)
		}
		got := dirty(60)
		tensor.PadGrad(got, g.Float32s(), shape, begins, ends, mode)
		same("PadGrad "+mode.String(), got, want)
	}
	idx := []int{3, 0, 3}
	gg := lgradRandom(rng, tensor.Float32, []int{3, 3, 5})
	want, err := tensor.GatherGradTensor(nil, gg, shape, 1, tensor.From([]int{3}, []int64{3, 0, -1}))
	if err != nil {
		t.Fatal(err)
	}
	got := dirty(60)
	tensor.GatherGrad(got, gg.Float32s(), 3, 4, 5, idx)
	same("GatherGrad", got, want)

	gt := lgradRandom(rng, tensor.Float32, []int{6, 4, 10})
	if want, err = tensor.TileGradTensor(nil, gt, shape, []int{2, 1, 2}); err != nil {
		t.Fatal(err)
	}
	got = dirty(60)
	tensor.TileGrad(got, gt.Float32s(), shape, []int{2, 1, 2})
	same("TileGrad", got, want)

	gs := lgradRandom(rng, tensor.Float32, []int{2, 4, 2})
	got = dirty(60)
	tensor.Unslice(got, gs.Float32s(), shape, []int{2, 0, 4}, []int{2, 4, 2}, []int{-1, 1, -3})
	inBox, err := tensor.UnsliceTensor(nil, gs, shape, []int{2, 0, 4}, []int{2, 4, 2}, []int{-1, 1, -3})
	if err != nil {
		t.Fatal(err)
	}
	touched := 0
	for i, v := range got {
		switch w := inBox.Float32s()[i]; {
		case v != 99:
			touched++
			if v != w {
				t.Errorf("Unslice: element %d: got %v, want %v", i, v, w)
			}
		case w != 0:
			t.Errorf("Unslice: element %d was not written", i)
		}
	}
	if touched != gs.Len() {
		t.Errorf("Unslice wrote %d elements, want %d", touched, gs.Len())
	}
}

// TestDropoutGrad: the gradient is the result gradient scaled by 1/(1-ratio) where the mask
// keeps, computed as the forward kernel computes its scale; masks may be bool or numeric.
func TestDropoutGrad(t *testing.T) {
	g := tensor.From([]int{2, 3}, []float32{1, -2, 3, 0.5, 7, -1})
	keep := []bool{true, false, true, true, false, false}
	numeric := tensor.From([]int{2, 3}, []float32{2, 0, -1, 1e-30, 0, 0})
	for _, ratio := range []float32{0.1, 0.5, 0.9} {
		scale := 1 / (1 - ratio)
		for name, mask := range map[string]*tensor.Tensor{"bool": tensor.From([]int{2, 3}, keep), "float": numeric} {
			got, err := tensor.DropoutGradTensor(nil, g, mask, ratio)
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range got.Float32s() {
				want := float32(0)
				if keep[i] {
					want = g.Float32s()[i] * scale
				}
				if v != want {
					t.Errorf("ratio %v, %s mask: element %d: got %v, want %v", ratio, name, i, v, want)
				}
			}
		}
	}
	got, err := tensor.DropoutGradTensor(nil, g, tensor.From([]int{2, 3}, keep), 1)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range got.Float32s() {
		if v != 0 {
			t.Errorf("ratio 1: element %d: got %v, want 0", i, v)
		}
	}
	g64, err := tensor.CastTensor(nil, g, tensor.Float64)
	if err != nil {
		t.Fatal(err)
	}
	if got, err = tensor.DropoutGradTensor(nil, g64, tensor.From([]int{2, 3}, keep), 0.25); err != nil {
		t.Fatal(err)
	}
	if v := got.Float64At(2); v != 3/(1-float64(float32(0.25))) {
		t.Errorf("float64: got %v, want %v", v, 4.0)
	}
}

// TestLayoutGradErrors: the *Tensor forms report inconsistent arguments instead of panicking.
func TestLayoutGradErrors(t *testing.T) {
	f := tensor.New(tensor.Float32, 2, 3)
	i64 := tensor.New(tensor.Int64, 2, 3)
	bad := map[string]func() (*tensor.Tensor, error){
		"unslice shape": func() (*tensor.Tensor, error) {
			return tensor.UnsliceTensor(nil, f, []int{4, 4}, []int{0, 0}, []int{2, 2}, []int{1, 1})
		},
		"unslice bounds": func() (*tensor.Tensor, error) {
			return tensor.UnsliceTensor(nil, f, []int{4, 4}, []int{3, 0}, []int{2, 3}, []int{1, 1})
		},
		"unslice step": func() (*tensor.Tensor, error) {
			return tensor.UnsliceTensor(nil, f, []int{4, 4}, []int{0, 0}, []int{2, 3}, []int{0, 1})
		},
		"unslice dst": func() (*tensor.Tensor, error) {
			return tensor.UnsliceTensor(tensor.New(tensor.Float64, 4, 4), f, []int{4, 4}, []int{0, 0}, []int{2, 3}, []int{1, 1})
		},
		"pad shape": func() (*tensor.Tensor, error) {
			return tensor.PadGradTensor(nil, f, []int{2, 2}, []int{0, 0}, []int{0, 0}, tensor.PadConstant)
		},
		"pad nothing kept": func() (*tensor.Tensor, error) {
			return tensor.PadGradTensor(nil, f, []int{2, 2}, []int{-2, 0}, []int{2, 1}, tensor.PadEdge)
		},
		"pad integer": func() (*tensor.Tensor, error) {
			return tensor.PadGradTensor(nil, i64, []int{2, 2}, []int{0, 0}, []int{0, 1}, tensor.PadReflect)
		},
		"gather index": func() (*tensor.Tensor, error) {
			return tensor.GatherGradTensor(nil, f, []int{2, 2}, 1, tensor.From([]int{3}, []int64{0, 2, 1}))
		},
		"gather axis": func() (*tensor.Tensor, error) {
			return tensor.GatherGradTensor(nil, f, []int{2, 2}, 2, tensor.From([]int{3}, []int64{0, 1, 1}))
		},
		"gather shape": func() (*tensor.Tensor, error) {
			return tensor.GatherGradTensor(nil, f, []int{2, 2}, 1, tensor.From([]int{2}, []int64{0, 1}))
		},
		"tile shape": func() (*tensor.Tensor, error) {
			return tensor.TileGradTensor(nil, f, []int{2, 2}, []int{1, 2})
		},
		"tile repeats": func() (*tensor.Tensor, error) {
			return tensor.TileGradTensor(nil, f, []int{2, 3}, []int{1})
		},
		"dropout mask": func() (*tensor.Tensor, error) {
			return tensor.DropoutGradTensor(nil, f, tensor.New(tensor.Bool, 3, 2), 0.5)
		},
		"dropout ratio": func() (*tensor.Tensor, error) {
			return tensor.DropoutGradTensor(nil, f, tensor.New(tensor.Bool, 2, 3), 1.5)
		},
		"dropout integer": func() (*tensor.Tensor, error) {
			return tensor.DropoutGradTensor(nil, i64, tensor.New(tensor.Bool, 2, 3), 0.5)
		},
	}
	for name, f := range bad {
		if _, err := f(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func BenchmarkLayoutGrad(b *testing.B) {
	rng := rand.New(rand.NewPCG(7, 8))
	shape := []int{8, 64, 56, 56}
	x := lgradRandom(rng, tensor.Float32, shape)
	bench := func(name string, f func() (*tensor.Tensor, error)) {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(4 * x.Len()))
			for b.Loop() {
				if _, err := f(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	gp := lgradRandom(rng, tensor.Float32, []int{8, 64, 58, 58})
	for _, mode := range []tensor.PadMode{tensor.PadConstant, tensor.PadReflect} {
		bench("pad-"+mode.String()+"-1", func() (*tensor.Tensor, error) {
			return tensor.PadGradTensor(nil, gp, shape, []int{0, 0, 1, 1}, []int{0, 0, 1, 1}, mode)
		})
	}
	gs := lgradRandom(rng, tensor.Float32, []int{8, 32, 56, 56})
	bench("unslice-channels-half", func() (*tensor.Tensor, error) {
		return tensor.UnsliceTensor(nil, gs, shape, []int{0, 32, 0, 0}, []int{8, 32, 56, 56}, []int{1, 1, 1, 1})
	})
	idx := make([]int64, 64)
	for i := range idx {
		idx[i] = int64(rng.IntN(64))
	}
	bench("gather-channels", func() (*tensor.Tensor, error) {
		return tensor.GatherGradTensor(nil, x, shape, 1, tensor.From([]int{64}, idx))
	})
}
