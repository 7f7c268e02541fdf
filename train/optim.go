package train

import (
	"fmt"
	"math"
	"math/big"
	"runtime"
	"sort"
	"strconv"
	"strings"

	"github.com/onnxtune/onnxtune/internal/parallel"
	"github.com/onnxtune/onnxtune/tensor"
)

// Optimizer updates float32 parameters in place from their gradients, as its PyTorch
// namesake does. An Optimizer is not safe for concurrent use.
type Optimizer interface {
	// Step updates every parameter that has a gradient, in place, with learning rate lr.
	// A parameter without a gradient (absent from grads, or nil) is skipped and its step is
	// not counted, as PyTorch skips a parameter whose grad is None. Step checks everything
	// before it changes anything: on error, no parameter and no buffer has moved.
	Step(params, grads map[string]*tensor.Tensor, lr float64) error
	// State returns a copy of the per-parameter buffers and step counts, for checkpoints, as
	// tensors keyed "<param>/<buffer>" with PyTorch's buffer names: momentum_buffer (sgd);
	// step (an int64 scalar), exp_avg, exp_avg_sq and max_exp_avg_sq (adam, adamw).
	State() map[string]*tensor.Tensor
	// SetState replaces the optimizer's state with one State returned (copying it), so that
	// training continues exactly where it stopped.
	SetState(map[string]*tensor.Tensor) error
	// Hyper returns the hyper-parameters the optimizer steps with, PyTorch's defaults filled
	// in, as the model's metadata records them: weight_decay, momentum, dampening and
	// nesterov (sgd); weight_decay, betas ("b1,b2"), eps and amsgrad (adam, adamw).
	Hyper() map[string]string
}

// OptimizerConfig selects an optimizer and its hyper-parameters, named after the keyword
// arguments of torch.optim.SGD, Adam and AdamW. A zero field means PyTorch's default:
// momentum, dampening and weight decay 0 (AdamW: weight decay 1e-2 unless WeightDecaySet),
// betas (0.9, 0.999) unless BetasSet, eps 1e-8 unless EpsSet. Options of another optimizer
// (Nesterov for adam, Amsgrad for sgd, ...) must be left zero.
type OptimizerConfig struct {
	Name string // sgd, adam or adamw

	Momentum, Dampening float64 // sgd
	Nesterov            bool    // sgd

	WeightDecay    float64 // L2 added to the gradient (sgd, adam); decoupled (adamw)
	WeightDecaySet bool    // WeightDecay holds the value even when it is 0 (adamw's default is 1e-2)

	Beta1, Beta2 float64 // adam, adamw
	BetasSet     bool    // Beta1 and Beta2 hold the values even when they are 0
	Eps          float64 // adam, adamw
	EpsSet       bool    // Eps holds the value even when it is 0
	Amsgrad      bool    // adam, adamw
}

// OptimizerNames lists the names NewOptimizer accepts.
func OptimizerNames() []string { return []string{"sgd", "adam", "adamw"} }

// NewOptimizer returns the optimizer cfg names, with its defaults filled in, after the
// checks torch.optim makes when it is constructed: momentum, weight decay and eps not
// negative, betas in [0, 1), Nesterov only with momentum and no dampening. (The learning rate
// is checked by Step, which receives it.)
func NewOptimizer(cfg OptimizerConfig) (Optimizer, error) {
	name := strings.ToLower(strings.TrimSpace(cfg.Name))
	finite := func(what string, v float64) error {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("train: optimizer %s: %s %v is not a finite number", name, what, v)
		}
		return nil
	}
	for _, f := range []struct {
		what string
		v    float64
	}{{"momentum", cfg.Momentum}, {"dampening", cfg.Dampening}, {"weight decay", cfg.WeightDecay},
		{"beta1", cfg.Beta1}, {"beta2", cfg.Beta2}, {"eps", cfg.Eps}} {
		if err := finite(f.what, f.v); err != nil {
			return nil, err
		}
	}
	if cfg.WeightDecay < 0 {
		return nil, fmt.Errorf("train: optimizer %s: invalid weight decay %g (want >= 0)", name, cfg.WeightDecay)
	}
	switch name {
	case "sgd":
		var other []string
		if cfg.Beta1 != 0 || cfg.Beta2 != 0 || cfg.BetasSet {
			other = append(other, "betas")
		}
		if cfg.Eps != 0 || cfg.EpsSet {
			other = append(other, "eps")
		}
		if cfg.Amsgrad {
			other = append(other, "amsgrad")
		}
		if len(other) > 0 {
			return nil, fmt.Errorf("train: optimizer sgd has no option %s (adam and adamw do)", strings.Join(other, ", "))
		}
		if cfg.Momentum < 0 {
			return nil, fmt.Errorf("train: optimizer sgd: invalid momentum %g (want >= 0)", cfg.Momentum)
		}
		if cfg.Nesterov && (cfg.Momentum <= 0 || cfg.Dampening != 0) {
			return nil, fmt.Errorf("train: optimizer sgd: nesterov momentum requires a momentum > 0 and zero dampening (got momentum %g, dampening %g)", cfg.Momentum, cfg.Dampening)
		}
		return &sgd{momentum: cfg.Momentum, dampening: cfg.Dampening, nesterov: cfg.Nesterov,
			weightDecay: cfg.WeightDecay, buf: map[string]*tensor.Tensor{}}, nil
	case "adam", "adamw":
		var other []string
		if cfg.Momentum != 0 {
			other = append(other, "momentum")
		}
		if cfg.Dampening != 0 {
			other = append(other, "dampening")
		}
		if cfg.Nesterov {
			other = append(other, "nesterov")
		}
		if len(other) > 0 {
			return nil, fmt.Errorf("train: optimizer %s has no option %s (sgd does)", name, strings.Join(other, ", "))
		}
		a := &adam{decoupled: name == "adamw", beta1: 0.9, beta2: 0.999, eps: 1e-8,
			weightDecay: cfg.WeightDecay, amsgrad: cfg.Amsgrad, state: map[string]*adamState{}}
		if a.decoupled && !cfg.WeightDecaySet && cfg.WeightDecay == 0 {
			a.weightDecay = 1e-2
		}
		if cfg.BetasSet || cfg.Beta1 != 0 || cfg.Beta2 != 0 {
			a.beta1, a.beta2 = cfg.Beta1, cfg.Beta2
		}
		if cfg.EpsSet || cfg.Eps != 0 {
			a.eps = cfg.Eps
		}
		if a.eps < 0 {
			return nil, fmt.Errorf("train: optimizer %s: invalid eps %g (want >= 0)", name, a.eps)
		}
		for i, b := range []float64{a.beta1, a.beta2} {
			if b < 0 || b >= 1 {
				return nil, fmt.Errorf("train: optimizer %s: invalid beta%d %g (want 0 <= beta < 1)", name, i+1, b)
			}
		}
		return a, nil
	case "":
		return nil, fmt.Errorf("train: no optimizer named (want one of %s)", strings.Join(OptimizerNames(), ", "))
	}
	return nil, fmt.Errorf("train: unknown optimizer %q (want one of %s)", cfg.Name, strings.Join(OptimizerNames(), ", "))
}

// sgd is torch.optim.SGD (foreach=False, maximize=False).
type sgd struct {
	momentum, dampening, weightDecay float64
	nesterov                         bool
	buf                              map[string]*tensor.Tensor // momentum_buffer, once a step has made it
}

// adam is torch.optim.Adam, or AdamW when decoupled (foreach=False, capturable=False,
// maximize=False).
type adam struct {
	decoupled                      bool
	beta1, beta2, eps, weightDecay float64
	amsgrad                        bool
	state                          map[string]*adamState
}

// adamState is PyTorch's per-parameter state: step, exp_avg, exp_avg_sq, max_exp_avg_sq.
type adamState struct {
	step       int64
	m, v, vmax *tensor.Tensor // vmax only with amsgrad
}

var (
	_ Optimizer = (*sgd)(nil)
	_ Optimizer = (*adam)(nil)
)

// stepItem is one parameter a Step updates.
type stepItem struct {
	name string
	p, g *tensor.Tensor
}

// stepItems checks lr, the parameters with a gradient and their gradients, and returns them
// in name order. buffer returns a buffer the optimizer holds for a parameter (nil: none),
// which must have the parameter's shape.
func stepItems(params, grads map[string]*tensor.Tensor, lr float64, buffer func(string) *tensor.Tensor) ([]stepItem, error) {
	if lr < 0 || math.IsNaN(lr) || math.IsInf(lr, 0) {
		return nil, fmt.Errorf("train: invalid learning rate %g (want a finite lr >= 0)", lr)
	}
	var items []stepItem
	for name, g := range grads {
		if g == nil {
			continue
		}
		p, ok := params[name]
		if !ok || p == nil {
			return nil, fmt.Errorf("train: optimizer step: gradient for %q, which is not a parameter", name)
		}
		if p.DType() != tensor.Float32 {
			return nil, fmt.Errorf("train: optimizer step: parameter %q is %s, want float32", name, p)
		}
		if g.DType() != tensor.Float32 || !tensor.EqualShapes(g.Shape(), p.Shape()) {
			return nil, fmt.Errorf("train: optimizer step: gradient of %q is %s, want %s", name, g, p)
		}
		if b := buffer(name); b != nil && !tensor.EqualShapes(b.Shape(), p.Shape()) {
			return nil, fmt.Errorf("train: optimizer step: the state of %q is %s, the parameter %s", name, b, p)
		}
		items = append(items, stepItem{name: name, p: p, g: g})
	}
	sort.Slice(items, func(i, j int) bool { return items[i].name < items[j].name })
	return items, nil
}

// Step implements Optimizer. Per element, in float32, as PyTorch's _single_tensor_sgd with
// its CPU kernels (add with alpha and addcmul round once, as the FMA they compile to):
//
//	d = g + wd*p; buf = d (first step) or buf*momentum + (1-dampening)*d;
//	d = d + momentum*buf (nesterov) or buf; p = p - lr*d
func (o *sgd) Step(params, grads map[string]*tensor.Tensor, lr float64) error {
	items, err := stepItems(params, grads, lr, func(name string) *tensor.Tensor { return o.buf[name] })
	if err != nil {
		return err
	}
	wd, mom, damp, nlr := float32(o.weightDecay), float32(o.momentum), float32(1-o.dampening), float32(-lr)
	jobs := make([]chunkJob, 0, len(items))
	for _, it := range items {
		p, g := it.p.Float32s(), it.g.Float32s()
		var buf []float32
		first := false
		if o.momentum != 0 {
			b := o.buf[it.name]
			if b == nil {
				b = tensor.New(tensor.Float32, it.p.Shape()...)
				o.buf[it.name] = b
				first = true
			}
			buf = b.Float32s()
		}
		jobs = append(jobs, chunkJob{n: len(p), run: func(lo, hi int) {
			for i := lo; i < hi; i++ {
				d := g[i]
				if o.weightDecay != 0 {
					d = fma32(wd, p[i], d)
				}
				if o.momentum != 0 {
					if first {
						buf[i] = d
					} else {
						buf[i] = fma32(damp, d, float32(buf[i]*mom))
					}
					if o.nesterov {
						d = fma32(mom, buf[i], d)
					} else {
						d = buf[i]
					}
				}
				p[i] = fma32(nlr, d, p[i])
			}
		}})
	}
	runChunks(jobs)
	return nil
}

// State implements Optimizer.
func (o *sgd) State() map[string]*tensor.Tensor {
	out := make(map[string]*tensor.Tensor, len(o.buf))
	for name, b := range o.buf {
		out[name+"/momentum_buffer"] = b.Clone()
	}
	return out
}

// Hyper implements Optimizer.
func (o *sgd) Hyper() map[string]string {
	return map[string]string{
		"weight_decay": metaFloat(o.weightDecay),
		"momentum":     metaFloat(o.momentum),
		"dampening":    metaFloat(o.dampening),
		"nesterov":     strconv.FormatBool(o.nesterov),
	}
}

// SetState implements Optimizer.
func (o *sgd) SetState(state map[string]*tensor.Tensor) error {
	buf := map[string]*tensor.Tensor{}
	for key, t := range state {
		name, b, err := splitStateKey(key)
		if err != nil {
			return err
		}
		if b != "momentum_buffer" || o.momentum == 0 {
			return fmt.Errorf("train: optimizer state: sgd (momentum %g) keeps no %q", o.momentum, key)
		}
		if err := stateFloats(key, t); err != nil {
			return err
		}
		buf[name] = t.Clone()
	}
	o.buf = buf
	return nil
}

// Hyper implements Optimizer.
func (o *adam) Hyper() map[string]string {
	return map[string]string{
		"weight_decay": metaFloat(o.weightDecay),
		"betas":        metaFloat(o.beta1) + "," + metaFloat(o.beta2),
		"eps":          metaFloat(o.eps),
		"amsgrad":      strconv.FormatBool(o.amsgrad),
	}
}

// Step implements Optimizer. Per element, in float32, as PyTorch's _single_tensor_adam and
// _single_tensor_adamw with their CPU kernels (add with alpha and addcmul round once, as the
// FMA they compile to), the step count t starting at 1:
//
//	p = p*(1 - lr*wd) (adamw) or g = g + wd*p (adam);
//	m = m*b1 + (1-b1)*g; v = v*b2 + ((1-b2)*g)*g; vmax = max(vmax, v) (amsgrad);
//	denom = sqrt(v or vmax)/sqrt(1 - b2^t) + eps; p = p + (-(lr/(1 - b1^t))*m)/denom
//
// where the scalars are computed in float64 and rounded to float32 once, as PyTorch does.
func (o *adam) Step(params, grads map[string]*tensor.Tensor, lr float64) error {
	items, err := stepItems(params, grads, lr, func(name string) *tensor.Tensor {
		if s, ok := o.state[name]; ok {
			return s.m
		}
		return nil
	})
	if err != nil {
		return err
	}
	b1, c1 := float32(o.beta1), float32(1-o.beta1)
	b2, c2 := float32(o.beta2), float32(1-o.beta2)
	eps, wd := float32(o.eps), float32(o.weightDecay)
	decay := float32(1 - lr*o.weightDecay)
	corrections := map[int64][2]float32{} // step -> (-lr/bias_correction1, sqrt(bias_correction2))
	jobs := make([]chunkJob, 0, len(items))
	for _, it := range items {
		st := o.state[it.name]
		if st == nil {
			shape := it.p.Shape()
			st = &adamState{m: tensor.New(tensor.Float32, shape...), v: tensor.New(tensor.Float32, shape...)}
			if o.amsgrad {
				st.vmax = tensor.New(tensor.Float32, shape...)
			}
			o.state[it.name] = st
		}
		st.step++
		c, ok := corrections[st.step]
		if !ok {
			bc1 := 1 - powInt(o.beta1, st.step)
			bc2 := 1 - powInt(o.beta2, st.step)
			c = [2]float32{float32(-(lr / bc1)), float32(math.Sqrt(bc2))}
			corrections[st.step] = c
		}
		nstep, bc2sqrt := c[0], c[1]
		p, g, m, v := it.p.Float32s(), it.g.Float32s(), st.m.Float32s(), st.v.Float32s()
		var vmax []float32
		if st.vmax != nil {
			vmax = st.vmax.Float32s()
		}
		coeffs := &tensor.AdamCoeffs{Beta1: b1, OneMinusBeta1: c1, Beta2: b2, OneMinusBeta2: c2, Eps: eps,
			SqrtBiasCorrection2: bc2sqrt, NegStepSize: nstep, WeightDecay: wd, Decay: decay,
			Coupled: !o.decoupled && o.weightDecay != 0, Decoupled: o.decoupled}
		jobs = append(jobs, chunkJob{n: len(p), run: func(lo, hi int) {
			if vmax == nil && adamVector {
				// The vector kernel takes what it can; the loop below, the rest.
				lo += tensor.AdamStep(p[lo:hi], g[lo:hi], m[lo:hi], v[lo:hi], coeffs)
			}
			for i := lo; i < hi; i++ {
				gi := g[i]
				if o.decoupled {
					p[i] *= decay
				} else if o.weightDecay != 0 {
					gi = fma32(wd, p[i], gi)
				}
				m[i] = fma32(c1, gi, float32(m[i]*b1))
				v[i] = fma32(float32(c2*gi), gi, float32(v[i]*b2))
				vi := v[i]
				if vmax != nil {
					if vi > vmax[i] || vi != vi { // torch.maximum propagates NaN
						vmax[i] = vi
					}
					vi = vmax[i]
				}
				denom := float32(math.Sqrt(float64(vi)))/bc2sqrt + eps
				p[i] += float32(nstep*m[i]) / denom
			}
		}})
	}
	runChunks(jobs)
	return nil
}

// adamVector lets Adam's update use tensor.AdamStep; tests clear it to compare with the Go
// loop alone.
var adamVector = true

// State implements Optimizer.
func (o *adam) State() map[string]*tensor.Tensor {
	out := make(map[string]*tensor.Tensor, 4*len(o.state))
	for name, st := range o.state {
		out[name+"/step"] = tensor.Scalar(st.step)
		out[name+"/exp_avg"] = st.m.Clone()
		out[name+"/exp_avg_sq"] = st.v.Clone()
		if st.vmax != nil {
			out[name+"/max_exp_avg_sq"] = st.vmax.Clone()
		}
	}
	return out
}

// SetState implements Optimizer.
func (o *adam) SetState(state map[string]*tensor.Tensor) error {
	kind := "adam"
	if o.decoupled {
		kind = "adamw"
	}
	type seen struct {
		st  adamState
		has map[string]bool
	}
	byName := map[string]*seen{}
	for key, t := range state {
		name, b, err := splitStateKey(key)
		if err != nil {
			return err
		}
		s := byName[name]
		if s == nil {
			s = &seen{has: map[string]bool{}}
			byName[name] = s
		}
		s.has[b] = true
		switch b {
		case "step":
			if t == nil || t.Len() != 1 {
				return fmt.Errorf("train: optimizer state %q: want a scalar step count", key)
			}
			f := t.Float64At(0)
			if f < 0 || f != math.Trunc(f) || f > 1<<62 {
				return fmt.Errorf("train: optimizer state %q: invalid step count %v", key, f)
			}
			s.st.step = int64(f)
		case "exp_avg", "exp_avg_sq", "max_exp_avg_sq":
			if b == "max_exp_avg_sq" && !o.amsgrad {
				return fmt.Errorf("train: optimizer state: %s without amsgrad keeps no %q", kind, key)
			}
			if err := stateFloats(key, t); err != nil {
				return err
			}
			switch b {
			case "exp_avg":
				s.st.m = t.Clone()
			case "exp_avg_sq":
				s.st.v = t.Clone()
			default:
				s.st.vmax = t.Clone()
			}
		default:
			return fmt.Errorf("train: optimizer state: %s keeps no %q", kind, key)
		}
	}
	next := make(map[string]*adamState, len(byName))
	for name, s := range byName {
		want := []string{"step", "exp_avg", "exp_avg_sq"}
		if o.amsgrad {
			want = append(want, "max_exp_avg_sq")
		}
		for _, b := range want {
			if !s.has[b] {
				return fmt.Errorf("train: optimizer state: %s for %q lacks %q", kind, name, name+"/"+b)
			}
		}
		if !tensor.EqualShapes(s.st.v.Shape(), s.st.m.Shape()) || o.amsgrad && !tensor.EqualShapes(s.st.vmax.Shape(), s.st.m.Shape()) {
			return fmt.Errorf("train: optimizer state: the buffers of %q differ in shape", name)
		}
		st := s.st
		next[name] = &st
	}
	o.state = next
	return nil
}

// splitStateKey splits "<param>/<buffer>" at its last slash (parameter names may hold slashes).
func splitStateKey(key string) (name, buffer string, err error) {
	i := strings.LastIndexByte(key, '/')
	if i <= 0 || i == len(key)-1 {
		return "", "", fmt.Errorf("train: optimizer state: key %q is not <param>/<buffer>", key)
	}
	return key[:i], key[i+1:], nil
}

// stateFloats checks that a buffer of a state is float32.
func stateFloats(key string, t *tensor.Tensor) error {
	if t == nil {
		return fmt.Errorf("train: optimizer state %q: nil tensor", key)
	}
	if t.DType() != tensor.Float32 {
		return fmt.Errorf("train: optimizer state %q: want float32, got %s", key, t)
	}
	return nil
}

// powInt returns b**n rounded once to float64, as the C library's pow that Python's b ** n
// calls does (in all but the rarest cases); math.Pow's repeated squaring can be an ulp off.
func powInt(b float64, n int64) float64 {
	const prec = 160
	r := new(big.Float).SetPrec(prec).SetFloat64(1)
	x := new(big.Float).SetPrec(prec).SetFloat64(b)
	for ; n > 0; n >>= 1 {
		if n&1 == 1 {
			r.Mul(r, x)
		}
		x.Mul(x, x)
	}
	f, _ := r.Float64()
	return f
}

// fma32 returns x*y + z rounded once to float32, as the FMA instructions PyTorch's CPU
// kernels compile add(alpha) and addcmul to. x*y is exact in float64, so the float64 sum s is
// the exact value rounded once; rounding s to float32 gives the same float32 unless s is a
// float32 halfway point (no other halfway point can lie between the exact value and s). Only
// then, and in float32's subnormal range where halfway points look different, is s rounded to
// odd (its TwoSum error sets the last bit), which makes the final rounding a single one.
func fma32(x, y, z float32) float32 {
	a, b := float64(x)*float64(y), float64(z)
	s := a + b
	bits := math.Float64bits(s)
	const halfway = 1 << 28 // the 29 bits float64 has beyond float32's 24, at a halfway point
	if bits&(1<<29-1) != halfway && bits>>52&0x7ff >= 1023-126 {
		return float32(s)
	}
	bb := s - a
	e := (a - (s - bb)) + (b - bb)
	if (e > 0 || e < 0) && !math.IsInf(s, 0) && bits&1 == 0 {
		if (e > 0) == (s > 0) {
			bits++
		} else {
			bits--
		}
		s = math.Float64frombits(bits)
	}
	return float32(s)
}

// chunkJob is one parameter's element-wise update, run on ranges [lo, hi) of its n elements.
type chunkJob struct {
	n   int
	run func(lo, hi int)
}

// runChunks runs the jobs split into ranges on up to GOMAXPROCS goroutines. The updates are
// element-wise, so the result does not depend on the split.
func runChunks(jobs []chunkJob) {
	const chunk = 1 << 14
	type task struct {
		job    int
		lo, hi int
	}
	var tasks []task
	total := 0
	for j, job := range jobs {
		for lo := 0; lo < job.n; lo += chunk {
			tasks = append(tasks, task{j, lo, min(lo+chunk, job.n)})
		}
		total += job.n
	}
	workers := min(runtime.GOMAXPROCS(0), len(tasks))
	if workers <= 1 || total < 4*chunk {
		for _, t := range tasks {
			jobs[t.job].run(t.lo, t.hi)
		}
		return
	}
	parallel.For(len(tasks), workers, func(i int) {
		t := tasks[i]
		jobs[t.job].run(t.lo, t.hi)
	})
}
