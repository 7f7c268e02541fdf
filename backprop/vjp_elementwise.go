package backprop

import (
	"fmt"

	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/tensor"
)

// The VJPs of the element-wise family of graph/ops_elementwise.go: broadcasting arithmetic,
// the variadic folds, Where, Expand and the plain unary functions. A broadcast operand's
// gradient is the output-shaped gradient summed back over the axes it was stretched along
// (tensor.SumTo). Float16 and bfloat16 values are computed in float32, as the forward kernels
// do, and the gradients narrowed back to the input's dtype.

func init() {
	Register("Add", Rule{VJP: binaryVJP})
	Register("Sub", Rule{VJP: binaryVJP})
	Register("Mul", Rule{VJP: binaryVJP, Inputs: []int{0, 1}})
	Register("Div", Rule{VJP: binaryVJP, Inputs: []int{0, 1}})
	Register("Pow", Rule{VJP: binaryVJP, Inputs: []int{0, 1}})
	Register("Sum", Rule{VJP: variadicVJP})
	Register("Mean", Rule{VJP: variadicVJP})
	// Max and Min compare every operand with the output to find which one was selected.
	Register("Max", Rule{VJP: variadicVJP, AllInputs: true, Outputs: []int{0}})
	Register("Min", Rule{VJP: variadicVJP, AllInputs: true, Outputs: []int{0}})
	Register("Where", Rule{VJP: whereVJP, Inputs: []int{0}, NonDiff: []int{0}})
	Register("Expand", Rule{VJP: expandVJP, NonDiff: []int{1}})
	Register("Sqrt", Rule{VJP: sqrtVJP, Outputs: []int{0}})
	Register("Exp", Rule{VJP: expVJP, Outputs: []int{0}})
	Register("Log", Rule{VJP: logVJP, Inputs: []int{0}})
	Register("Neg", Rule{VJP: negVJP})
	Register("Abs", Rule{VJP: absVJP, Inputs: []int{0}})
	Register("Erf", Rule{VJP: erfVJP, Inputs: []int{0}})
	NotDifferentiable("Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual")
}

// ewKernelOf returns the forward kernel of c as the type K its operator builds.
func ewKernelOf[K any](c *Call) (K, error) {
	k, ok := c.Kernel.(K)
	if !ok {
		var zero K
		return zero, fmt.Errorf("the forward kernel is a %T, want a %T", c.Kernel, zero)
	}
	return k, nil
}

// ewCompute returns t as a tensor the gradient kernels take: float32 and float64 as they
// are, 16-bit floats widened to float32. nil stays nil.
func ewCompute(t *tensor.Tensor) (*tensor.Tensor, error) {
	if t == nil {
		return nil, nil
	}
	switch t.DType() {
	case tensor.Float32, tensor.Float64:
		return t, nil
	case tensor.Float16, tensor.BFloat16:
		return tensor.CastTensor(nil, t, tensor.Float32)
	}
	return nil, fmt.Errorf("got a %v value, want a floating-point one", t)
}

// ewComputeAll applies ewCompute to each tensor and checks that the non-nil results share one
// dtype.
func ewComputeAll(ts ...*tensor.Tensor) ([]*tensor.Tensor, error) {
	out := make([]*tensor.Tensor, len(ts))
	var dt tensor.DType
	for i, t := range ts {
		c, err := ewCompute(t)
		if err != nil {
			return nil, err
		}
		if c != nil {
			if dt != tensor.Undefined && c.DType() != dt {
				return nil, fmt.Errorf("values of types %v and %v meet in one gradient", dt, c.DType())
			}
			dt = c.DType()
		}
		out[i] = c
	}
	return out, nil
}

// ewFinish turns a computed gradient into the gradient of an input of the given shape and
// dtype: reshaped where only size-1 dimensions differ, narrowed back to a 16-bit float.
func ewFinish(t *tensor.Tensor, shape []int, dt tensor.DType) (*tensor.Tensor, error) {
	var err error
	if !tensor.EqualShapes(t.Shape(), shape) {
		if t, err = t.Reshape(shape...); err != nil {
			return nil, err
		}
	}
	if t.DType() != dt {
		return tensor.CastTensor(nil, t, dt)
	}
	return t, nil
}

// ewPresent reports whether the node has input j (an optional input may be left out; a nil
// shape in Call.InShapes does not tell, since a scalar's may be nil too).
func ewPresent(c *Call, j int) bool {
	return c.Node != nil && j < len(c.Node.Inputs) && c.Node.Inputs[j] != ""
}

// ewNeed reports whether input j's gradient is wanted.
func ewNeed(c *Call, j int) bool { return j < len(c.Need) && c.Need[j] }

// ewSumTo sums g, of the output's shape, down to shape (which broadcasts to it). When nothing
// is summed it returns g itself, or a view of it: fresh says whether the result may be
// written.
func ewSumTo(g *tensor.Tensor, shape []int) (t *tensor.Tensor, fresh bool, err error) {
	if tensor.Size(shape) == g.Len() {
		return g, false, nil
	}
	out := tensor.New(g.DType(), shape...)
	err = ewRecover(func() {
		switch d := out.Data().(type) {
		case []float32:
			tensor.SumTo(d, shape, g.Float32s(), g.Shape())
		case []float64:
			tensor.SumTo(d, shape, tensor.Data[float64](g), g.Shape())
		default:
			panic(fmt.Sprintf("cannot sum a %v gradient", g))
		}
	})
	return out, true, err
}

// ewRecover runs f, turning a panic of the tensor kernels (a shape that does not fit) into an
// error.
func ewRecover(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	f()
	return nil
}

// ewFloat runs f32 or f64 by dt.
func ewFloat(dt tensor.DType, f32, f64 func()) error {
	return ewRecover(func() {
		switch dt {
		case tensor.Float32:
			f32()
		case tensor.Float64:
			f64()
		default:
			panic(fmt.Sprintf("no gradient kernel for %v", dt))
		}
	})
}

// ewScaled returns t * k, in place when fresh.
func ewScaled(t *tensor.Tensor, fresh bool, k float64) (*tensor.Tensor, error) {
	out := t
	if !fresh {
		out = tensor.New(t.DType(), t.Shape()...)
	}
	err := ewFloat(t.DType(),
		func() { tensor.Scale(out.Float32s(), t.Float32s(), float32(k)) },
		func() { tensor.Scale(tensor.Data[float64](out), tensor.Data[float64](t), k) })
	return out, err
}

// binaryVJP is the VJP of Add, Sub, Mul, Div and Pow, each operand's gradient summed back to
// its shape (under the legacy broadcast attributes, to the shape B was lined up as).
func binaryVJP(c *Call, gradOut []*tensor.Tensor) ([]*tensor.Tensor, error) {
	k, err := ewKernelOf[*graph.Binary](c)
	if err != nil {
		return nil, err
	}
	res := make([]*tensor.Tensor, 2)
	if gradOut[0] == nil {
		return res, nil
	}
	aShape := c.InShapes[0]
	bShape, err := k.OperandShape(aShape, c.InShapes[1])
	if err != nil {
		return nil, err
	}
	bIn := c.In[1]
	if k.Op == "Pow" && bIn != nil && c.In[0] != nil && bIn.DType() != c.In[0].DType() {
		// An exponent of another type (Pow 12) is differentiated in the base's type.
		if bIn, err = tensor.CastTensor(nil, bIn, c.In[0].DType()); err != nil {
			return nil, err
		}
	}
	vals, err := ewComputeAll(gradOut[0], c.In[0], bIn)
	if err != nil {
		return nil, err
	}
	g, a, b := vals[0], vals[1], vals[2]
	needA, needB := ewNeed(c, 0), ewNeed(c, 1)
	if (k.Op == "Mul" || k.Op == "Div" || k.Op == "Pow") && (a == nil || b == nil) {
		return nil, fmt.Errorf("%s: the forward inputs were not kept", k.Op)
	}
	var da, db *tensor.Tensor
	freshB := false
	switch k.Op {
	case "Add", "Sub":
		if needA {
			if da, _, err = ewSumTo(g, aShape); err != nil {
				return nil, err
			}
		}
		if needB {
			if db, freshB, err = ewSumTo(g, bShape); err != nil {
				return nil, err
			}
			if k.Op == "Sub" {
				out := db
				if !freshB {
					out = tensor.New(db.DType(), db.Shape()...)
				}
				err = ewFloat(db.DType(),
					func() { tensor.Neg(out.Float32s(), db.Float32s()) },
					func() { tensor.Neg(tensor.Data[float64](out), tensor.Data[float64](db)) })
				db = out
			}
		}
	case "Mul", "Div", "Pow":
		if needA {
			if da, err = ewBinaryGrad(k.Op, 0, g, a, b, aShape, bShape); err != nil {
				return nil, err
			}
			if da, _, err = ewSumTo(da, aShape); err != nil {
				return nil, err
			}
		}
		if needB {
			if db, err = ewBinaryGrad(k.Op, 1, g, a, b, aShape, bShape); err != nil {
				return nil, err
			}
			if db, _, err = ewSumTo(db, bShape); err != nil {
				return nil, err
			}
		}
	default:
		return nil, fmt.Errorf("%s has no gradient", k.Op)
	}
	if err != nil {
		return nil, err
	}
	if da != nil {
		if res[0], err = ewFinish(da, c.InShapes[0], c.InTypes[0]); err != nil {
			return nil, err
		}
	}
	if db != nil {
		if res[1], err = ewFinish(db, c.InShapes[1], c.InTypes[1]); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// ewBinaryGrad returns, at the output's shape, g times the partial derivative of a op b with
// respect to operand j (0: a, 1: b), the operands having the (aligned) shapes aShape and
// bShape.
func ewBinaryGrad(op string, j int, g, a, b *tensor.Tensor, aShape, bShape []int) (*tensor.Tensor, error) {
	out := tensor.New(g.DType(), g.Shape()...)
	// other is the operand broadcast against g in the one-factor cases.
	other, otherShape := b, bShape
	if j == 1 {
		other, otherShape = a, aShape
	}
	var bc *tensor.Broadcast
	var err error
	if op == "Mul" || op == "Div" && j == 0 {
		bc, err = tensor.NewBroadcast(g.Shape(), otherShape)
	} else {
		bc, err = tensor.NewBroadcast(aShape, bShape)
	}
	if err != nil {
		return nil, err
	}
	err = ewFloat(g.DType(), func() {
		ewBinaryGradT(op, j, bc, out.Float32s(), g.Float32s(), tensor.Data[float32](a), tensor.Data[float32](b), tensor.Data[float32](other))
	}, func() {
		ewBinaryGradT(op, j, bc, tensor.Data[float64](out), tensor.Data[float64](g), tensor.Data[float64](a), tensor.Data[float64](b), tensor.Data[float64](other))
	})
	return out, err
}

func ewBinaryGradT[T tensor.Float](op string, j int, bc *tensor.Broadcast, d, g, a, b, other []T) {
	switch {
	case op == "Mul":
		tensor.Mul(bc, d, g, other)
	case op == "Div" && j == 0:
		tensor.Div(bc, d, g, b)
	case op == "Div":
		tensor.DivGradB(bc, d, g, a, b)
	case op == "Pow" && j == 0:
		tensor.PowGradBase(bc, d, g, a, b)
	case op == "Pow":
		tensor.PowGradExp(bc, d, g, a, b)
	}
}

// variadicVJP is the VJP of Sum, Mean, Max and Min. Max and Min share the gradient equally
// among the operands that attain the extremum: torch.maximum's rule for two operands (half
// each on a tie), and torch.amax's for more.
func variadicVJP(c *Call, gradOut []*tensor.Tensor) ([]*tensor.Tensor, error) {
	k, err := ewKernelOf[*graph.Variadic](c)
	if err != nil {
		return nil, err
	}
	n := len(c.InShapes)
	res := make([]*tensor.Tensor, n)
	if gradOut[0] == nil {
		return res, nil
	}
	g, err := ewCompute(gradOut[0])
	if err != nil {
		return nil, err
	}
	switch k.Op {
	case "Sum", "Mean":
		for j := range n {
			if !ewNeed(c, j) {
				continue
			}
			t, fresh, err := ewSumTo(g, c.InShapes[j])
			if err != nil {
				return nil, err
			}
			if k.Op == "Mean" && n > 1 {
				if t, err = ewScaled(t, fresh, 1/float64(n)); err != nil {
					return nil, err
				}
			}
			if res[j], err = ewFinish(t, c.InShapes[j], c.InTypes[j]); err != nil {
				return nil, err
			}
		}
		return res, nil
	case "Max", "Min":
		vals, err := ewComputeAll(append([]*tensor.Tensor{g, c.Out[0]}, c.In...)...)
		if err != nil {
			return nil, err
		}
		y, xs := vals[1], vals[2:]
		if y == nil {
			return nil, fmt.Errorf("%s: the forward output was not kept", k.Op)
		}
		bcs := make([]*tensor.Broadcast, n)
		for j, x := range xs {
			if x == nil {
				return nil, fmt.Errorf("%s: forward input %d was not kept", k.Op, j)
			}
			if bcs[j], err = tensor.NewBroadcast(y.Shape(), x.Shape()); err != nil {
				return nil, err
			}
		}
		cnt := tensor.New(g.DType(), g.Shape()...)
		err = ewFloat(g.DType(), func() {
			for j, x := range xs {
				tensor.CountEqual(bcs[j], cnt.Float32s(), y.Float32s(), x.Float32s())
			}
		}, func() {
			for j, x := range xs {
				tensor.CountEqual(bcs[j], tensor.Data[float64](cnt), tensor.Data[float64](y), tensor.Data[float64](x))
			}
		})
		if err != nil {
			return nil, err
		}
		for j, x := range xs {
			if !ewNeed(c, j) {
				continue
			}
			d := tensor.New(g.DType(), g.Shape()...)
			err := ewFloat(g.DType(), func() {
				tensor.SelectGrad(bcs[j], d.Float32s(), g.Float32s(), y.Float32s(), x.Float32s(), cnt.Float32s())
			}, func() {
				tensor.SelectGrad(bcs[j], tensor.Data[float64](d), tensor.Data[float64](g), tensor.Data[float64](y), tensor.Data[float64](x), tensor.Data[float64](cnt))
			})
			if err != nil {
				return nil, err
			}
			if d, _, err = ewSumTo(d, c.InShapes[j]); err != nil {
				return nil, err
			}
			if res[j], err = ewFinish(d, c.InShapes[j], c.InTypes[j]); err != nil {
				return nil, err
			}
		}
		return res, nil
	}
	return nil, fmt.Errorf("%s has no gradient", k.Op)
}

// whereVJP routes the gradient to X where the condition holds and to Y elsewhere.
func whereVJP(c *Call, gradOut []*tensor.Tensor) ([]*tensor.Tensor, error) {
	res := make([]*tensor.Tensor, 3)
	if gradOut[0] == nil {
		return res, nil
	}
	cond := c.In[0]
	if cond == nil || cond.DType() != tensor.Bool {
		return nil, fmt.Errorf("Where: the boolean condition was not kept")
	}
	g, err := ewCompute(gradOut[0])
	if err != nil {
		return nil, err
	}
	for j := 1; j <= 2; j++ {
		if !ewNeed(c, j) {
			continue
		}
		// Operands: the condition, then g and a zero scalar in X's and Y's places.
		shapes := [][]int{cond.Shape(), g.Shape(), {}}
		if j == 2 {
			shapes[1], shapes[2] = shapes[2], shapes[1]
		}
		bc, err := tensor.NewBroadcast(shapes...)
		if err != nil {
			return nil, err
		}
		d := tensor.New(g.DType(), bc.Shape()...)
		err = ewFloat(g.DType(), func() {
			ewWhereGrad(bc, d.Float32s(), tensor.Data[bool](cond), g.Float32s(), j == 1)
		}, func() {
			ewWhereGrad(bc, tensor.Data[float64](d), tensor.Data[bool](cond), tensor.Data[float64](g), j == 1)
		})
		if err != nil {
			return nil, err
		}
		if d, _, err = ewSumTo(d, c.InShapes[j]); err != nil {
			return nil, err
		}
		if res[j], err = ewFinish(d, c.InShapes[j], c.InTypes[j]); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func ewWhereGrad[T tensor.Float](bc *tensor.Broadcast, d []T, cond []bool, g []T, onTrue bool) {
	zero := []T{0}
	if onTrue {
		tensor.Where(bc, d, cond, g, zero)
	} else {
		tensor.Where(bc, d, cond, zero, g)
	}
}

// expandVJP sums the gradient back over the broadcast axes.
func expandVJP(c *Call, gradOut []*tensor.Tensor) ([]*tensor.Tensor, error) {
	res := make([]*tensor.Tensor, len(c.InShapes))
	if gradOut[0] == nil || !ewNeed(c, 0) {
		return res, nil
	}
	g, err := ewCompute(gradOut[0])
	if err != nil {
		return nil, err
	}
	d, _, err := ewSumTo(g, c.InShapes[0])
	if err != nil {
		return nil, err
	}
	res[0], err = ewFinish(d, c.InShapes[0], c.InTypes[0])
	return res, err
}

// ewUnary computes the gradient of a one-input operator from the gradient of its output and
// v, the forward value its derivative reads (the input or the output, by the rule).
func ewUnary(c *Call, gradOut []*tensor.Tensor, v *tensor.Tensor, f32 func(d, g, v []float32), f64 func(d, g, v []float64)) ([]*tensor.Tensor, error) {
	res := make([]*tensor.Tensor, len(c.InShapes))
	if gradOut[0] == nil || !ewNeed(c, 0) {
		return res, nil
	}
	if v == nil {
		return nil, fmt.Errorf("the forward value the gradient reads was not kept")
	}
	vals, err := ewComputeAll(gradOut[0], v)
	if err != nil {
		return nil, err
	}
	g, v := vals[0], vals[1]
	if g.Len() != v.Len() {
		return nil, fmt.Errorf("a gradient of shape %v for a value of shape %v", g.Shape(), v.Shape())
	}
	var d *tensor.Tensor
	if g.DType() == tensor.Float32 {
		d = c.newFloat32(g.Shape()) // f32 overwrites every element
	} else {
		d = tensor.New(g.DType(), g.Shape()...)
	}
	err = ewFloat(g.DType(),
		func() { f32(d.Float32s(), g.Float32s(), v.Float32s()) },
		func() { f64(tensor.Data[float64](d), tensor.Data[float64](g), tensor.Data[float64](v)) })
	if err != nil {
		return nil, err
	}
	res[0], err = ewFinish(d, c.InShapes[0], c.InTypes[0])
	return res, err
}

func sqrtVJP(c *Call, g []*tensor.Tensor) ([]*tensor.Tensor, error) {
	return ewUnary(c, g, c.Out[0], tensor.SqrtGrad[float32], tensor.SqrtGrad[float64])
}

func expVJP(c *Call, g []*tensor.Tensor) ([]*tensor.Tensor, error) {
	return ewUnary(c, g, c.Out[0], tensor.MulGrad[float32], tensor.MulGrad[float64])
}

func logVJP(c *Call, g []*tensor.Tensor) ([]*tensor.Tensor, error) {
	return ewUnary(c, g, c.In[0], tensor.LogGrad[float32], tensor.LogGrad[float64])
}

func absVJP(c *Call, g []*tensor.Tensor) ([]*tensor.Tensor, error) {
	return ewUnary(c, g, c.In[0], tensor.AbsGrad[float32], tensor.AbsGrad[float64])
}

func erfVJP(c *Call, g []*tensor.Tensor) ([]*tensor.Tensor, error) {
	return ewUnary(c, g, c.In[0], tensor.ErfGrad[float32], tensor.ErfGrad[float64])
}

// negVJP reads no forward value: the gradient itself stands in for one.
func negVJP(c *Call, g []*tensor.Tensor) ([]*tensor.Tensor, error) {
	return ewUnary(c, g, g[0],
		func(d, g, _ []float32) { tensor.Neg(d, g) },
		func(d, g, _ []float64) { tensor.Neg(d, g) })
}
