package train_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/internal/fixture"
	"github.com/onnxtune/onnxtune/tensor"
	"github.com/onnxtune/onnxtune/train"
)

// optimCase is one entry of the "cases" list of optim.npz (written by gen_optim.py).
type optimCase struct {
	Name      string             `json:"name"`
	Optimizer string             `json:"optimizer"`
	Config    map[string]float64 `json:"config"`
	LRs       []float64          `json:"lrs"`
	Params    []string           `json:"params"`
}

// UnmarshalJSON reads the config's booleans (nesterov, amsgrad) as 0 or 1.
func (c *optimCase) UnmarshalJSON(b []byte) error {
	type plain optimCase
	var raw struct {
		plain
		Config map[string]any `json:"config"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*c = optimCase(raw.plain)
	c.Config = configNumbers(raw.Config)
	return nil
}

func configNumbers(raw map[string]any) map[string]float64 {
	out := map[string]float64{}
	for k, v := range raw {
		switch v := v.(type) {
		case bool:
			if v {
				out[k] = 1
			} else {
				out[k] = 0
			}
		case float64:
			out[k] = v
		}
	}
	return out
}

// optimizerConfig maps torch.optim keyword arguments to an OptimizerConfig, marking every
// given option as set (PyTorch's values, zeros included).
func optimizerConfig(t *testing.T, name string, kw map[string]float64) train.OptimizerConfig {
	t.Helper()
	cfg := train.OptimizerConfig{Name: name}
	for k, v := range kw {
		switch k {
		case "momentum":
			cfg.Momentum = v
		case "dampening":
			cfg.Dampening = v
		case "nesterov":
			cfg.Nesterov = v != 0
		case "weight_decay":
			cfg.WeightDecay, cfg.WeightDecaySet = v, true
		case "beta1":
			cfg.Beta1, cfg.BetasSet = v, true
		case "beta2":
			cfg.Beta2, cfg.BetasSet = v, true
		case "eps":
			cfg.Eps, cfg.EpsSet = v, true
		case "amsgrad":
			cfg.Amsgrad = v != 0
		default:
			t.Fatalf("unknown torch.optim option %q", k)
		}
	}
	return cfg
}

func loadOptim(t *testing.T) (map[string]*tensor.Tensor, []optimCase) {
	t.Helper()
	arrays, _, err := data.LoadNPZ(filepath.Join("testdata", "optim.npz"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []optimCase
	if err := json.Unmarshal(tensor.Data[uint8](arrays["cases"]), &cases); err != nil {
		t.Fatalf("optim.npz: cases: %v", err)
	}
	if len(cases) == 0 {
		t.Fatal("optim.npz: no cases")
	}
	return arrays, cases
}

// row returns row i of a stacked [steps, ...] float32 array as a tensor of the remaining shape,
// or nil when the row is NaN (no gradient at that step).
func row(a *tensor.Tensor, i int) *tensor.Tensor {
	shape := a.Shape()[1:]
	n := tensor.Size(shape)
	r := append([]float32(nil), a.Float32s()[i*n:(i+1)*n]...)
	if n > 0 && math.IsNaN(float64(r[0])) {
		return nil
	}
	return tensor.From(append([]int(nil), shape...), r)
}

// closeF32 compares got with want element-wise within rel relative to each element (with a
// floor of rel*1e-3 of the largest reference), and counts the elements that differ in bits.
func closeF32(got, want *tensor.Tensor, rel float64) (ok bool, worst float64, differ int) {
	if got == nil || got.DType() != tensor.Float32 || !tensor.EqualShapes(got.Shape(), want.Shape()) {
		return false, math.Inf(1), -1
	}
	g, w := got.Float32s(), want.Float32s()
	var scale float64
	for _, v := range w {
		scale = math.Max(scale, math.Abs(float64(v)))
	}
	ok = true
	for i := range w {
		if math.Float32bits(g[i]) != math.Float32bits(w[i]) {
			differ++
		}
		d := math.Abs(float64(g[i]) - float64(w[i]))
		den := math.Max(math.Abs(float64(w[i])), 1e-3*scale)
		if den == 0 {
			den = 1
		}
		if r := d / den; r > worst || r != r {
			worst = r
		}
	}
	return worst <= rel, worst, differ
}

// TestOptimizersTorch replays every case of optim.npz: the same parameters, gradients (some
// steps without one for some parameters) and per-step learning rates, comparing the parameters
// after every step and the final state with torch.optim's.
func TestOptimizersTorch(t *testing.T) {
	arrays, cases := loadOptim(t)
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			opt, err := train.NewOptimizer(optimizerConfig(t, c.Optimizer, c.Config))
			if err != nil {
				t.Fatal(err)
			}
			params := map[string]*tensor.Tensor{}
			for _, p := range c.Params {
				params[p] = arrays[c.Name+"/init/"+p].Clone()
			}
			total, differ := 0, 0
			for step, lr := range c.LRs {
				grads := map[string]*tensor.Tensor{}
				for _, p := range c.Params {
					if g := row(arrays[c.Name+"/grads/"+p], step); g != nil {
						grads[p] = g
					}
				}
				if err := opt.Step(params, grads, lr); err != nil {
					t.Fatalf("step %d: %v", step, err)
				}
				for _, p := range c.Params {
					want := row(arrays[c.Name+"/params/"+p], step)
					ok, worst, d := closeF32(params[p], want, 1e-6)
					if !ok {
						t.Fatalf("step %d: %s: got %v, want %v (worst relative difference %.3g)", step, p, params[p].Float32s()[:4], want.Float32s()[:4], worst)
					}
					total += want.Len()
					differ += d
				}
			}
			t.Logf("%d of %d parameter values after a step differ from PyTorch's in bits", differ, total)
			state := opt.State()
			prefix := c.Name + "/state/"
			wantKeys := 0
			for key, want := range arrays {
				if !strings.HasPrefix(key, prefix) {
					continue
				}
				wantKeys++
				k := strings.TrimPrefix(key, prefix)
				got, ok := state[k]
				if !ok {
					t.Errorf("State lacks %q", k)
					continue
				}
				if strings.HasSuffix(k, "/step") {
					if got.DType() != tensor.Int64 || got.Len() != 1 || got.Int64s()[0] != want.Int64s()[0] {
						t.Errorf("state %q: got %v %v, want %d", k, got, got.ToFloat64s(), want.Int64s()[0])
					}
					continue
				}
				if ok, worst, _ := closeF32(got, want, 1e-6); !ok {
					t.Errorf("state %q: got %v, want %v (worst relative difference %.3g)", k, got, want, worst)
				}
			}
			if len(state) != wantKeys {
				t.Errorf("State has %d entries, PyTorch's %d", len(state), wantKeys)
			}
		})
	}
}

// TestOptimizerValidation checks that NewOptimizer accepts exactly the configurations the
// torch.optim constructors accept (recorded in optim.npz).
func TestOptimizerValidation(t *testing.T) {
	arrays, _ := loadOptim(t)
	var cases []struct {
		Optimizer string         `json:"optimizer"`
		Config    map[string]any `json:"config"`
		Accepted  bool           `json:"accepted"`
	}
	if err := json.Unmarshal(tensor.Data[uint8](arrays["validation"]), &cases); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		_, err := train.NewOptimizer(optimizerConfig(t, c.Optimizer, configNumbers(c.Config)))
		if (err == nil) != c.Accepted {
			t.Errorf("%s %v: got error %v, PyTorch accepts: %v", c.Optimizer, c.Config, err, c.Accepted)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "train: ") {
			t.Errorf("%s %v: error %q lacks the package prefix", c.Optimizer, c.Config, err)
		}
	}
}

// TestOptimizerDefaults checks the zero-value defaults against PyTorch's: a zero config and
// the explicit defaults step identically.
func TestOptimizerDefaults(t *testing.T) {
	explicit := map[string]train.OptimizerConfig{
		"sgd":   {Name: "sgd", WeightDecaySet: true},
		"adam":  {Name: "adam", Beta1: 0.9, Beta2: 0.999, BetasSet: true, Eps: 1e-8, EpsSet: true, WeightDecaySet: true},
		"adamw": {Name: "adamw", Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 1e-2},
	}
	for name, cfg := range explicit {
		a, b := runSteps(t, train.OptimizerConfig{Name: name}, 3, 100, 0), runSteps(t, cfg, 3, 100, 0)
		if !bitsEqual(a, b) {
			t.Errorf("%s: the zero config steps differently from PyTorch's explicit defaults", name)
		}
	}
	// AdamW with WeightDecaySet and 0 is Adam without weight decay.
	a := runSteps(t, train.OptimizerConfig{Name: "adamw", WeightDecaySet: true}, 3, 100, 0)
	b := runSteps(t, train.OptimizerConfig{Name: "adam"}, 3, 100, 0)
	if !bitsEqual(a, b) {
		t.Error("adamw with weight decay 0 steps differently from adam")
	}
}

// TestOptimizerHyper checks the hyper-parameters each optimizer reports for the model's
// metadata, PyTorch's defaults filled in: the values onnxtune has always written.
func TestOptimizerHyper(t *testing.T) {
	sgd := func(momentum, dampening, nesterov, wd string) map[string]string {
		return map[string]string{"momentum": momentum, "dampening": dampening, "nesterov": nesterov, "weight_decay": wd}
	}
	adam := func(betas, eps, amsgrad, wd string) map[string]string {
		return map[string]string{"betas": betas, "eps": eps, "amsgrad": amsgrad, "weight_decay": wd}
	}
	for _, c := range []struct {
		cfg  train.OptimizerConfig
		want map[string]string
	}{
		{train.OptimizerConfig{Name: "sgd"}, sgd("0", "0", "false", "0")},
		{train.OptimizerConfig{Name: " SGD", Momentum: 0.9, Nesterov: true, WeightDecay: 5e-4}, sgd("0.9", "0", "true", "0.0005")},
		{train.OptimizerConfig{Name: "sgd", Momentum: 0.9, Dampening: 0.1}, sgd("0.9", "0.1", "false", "0")},
		{train.OptimizerConfig{Name: "adam"}, adam("0.9,0.999", "1e-08", "false", "0")},
		{train.OptimizerConfig{Name: "adam", Beta1: 0.8, Beta2: 0.99, Eps: 1e-6, Amsgrad: true, WeightDecay: 1e-4},
			adam("0.8,0.99", "1e-06", "true", "0.0001")},
		{train.OptimizerConfig{Name: "adamw"}, adam("0.9,0.999", "1e-08", "false", "0.01")},
		{train.OptimizerConfig{Name: "AdamW", WeightDecaySet: true}, adam("0.9,0.999", "1e-08", "false", "0")},
		{train.OptimizerConfig{Name: "adamw", WeightDecay: 0.05}, adam("0.9,0.999", "1e-08", "false", "0.05")},
		{train.OptimizerConfig{Name: "adamw", BetasSet: true, EpsSet: true}, adam("0,0", "0", "false", "0.01")},
	} {
		o, err := train.NewOptimizer(c.cfg)
		if err != nil {
			t.Fatalf("%+v: %v", c.cfg, err)
		}
		if got := o.Hyper(); !maps.Equal(got, c.want) {
			t.Errorf("%+v: got %v, want %v", c.cfg, got, c.want)
		}
	}
}

// randomProblem returns parameters and per-step gradients, seeded, of sizes that exercise
// Step's split across goroutines (one tensor spans several chunks).
func randomProblem(steps, size int, seed uint64) (map[string]*tensor.Tensor, []map[string]*tensor.Tensor) {
	r := rand.New(rand.NewPCG(seed, 1))
	shapes := map[string][]int{"a.weight": {size, 3}, "b/bias": {7}, "c": {size/2 + 1}}
	randT := func(shape []int, scale float64) *tensor.Tensor {
		v := make([]float32, tensor.Size(shape))
		for i := range v {
			v[i] = float32(r.NormFloat64() * scale)
		}
		return tensor.From(shape, v)
	}
	params := map[string]*tensor.Tensor{}
	for _, n := range []string{"a.weight", "b/bias", "c"} {
		params[n] = randT(shapes[n], 1)
	}
	grads := make([]map[string]*tensor.Tensor, steps)
	for s := range grads {
		grads[s] = map[string]*tensor.Tensor{}
		for _, n := range []string{"a.weight", "b/bias", "c"} {
			if n == "c" && s%3 == 1 {
				continue // no gradient at this step
			}
			grads[s][n] = randT(shapes[n], 1+float64(s%4))
		}
	}
	return params, grads
}

// runSteps runs steps optimizer steps on randomProblem, stopping after stop steps (if > 0) to
// carry the state over to a fresh optimizer, and returns the parameters.
func runSteps(t *testing.T, cfg train.OptimizerConfig, steps, size, stop int) map[string]*tensor.Tensor {
	t.Helper()
	params, grads := randomProblem(steps, size, 7)
	opt, err := train.NewOptimizer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for s := 0; s < steps; s++ {
		if stop > 0 && s == stop {
			state := opt.State()
			if opt, err = train.NewOptimizer(cfg); err != nil {
				t.Fatal(err)
			}
			if err := opt.SetState(state); err != nil {
				t.Fatal(err)
			}
			// The restored optimizer must own its buffers: scribbling on the snapshot
			// must not change what follows.
			for _, v := range state {
				if f := v.Float32s(); f != nil {
					for i := range f {
						f[i] = float32(math.NaN())
					}
				}
			}
		}
		if err := opt.Step(params, grads[s], 0.05*(1-0.05*float64(s))); err != nil {
			t.Fatal(err)
		}
	}
	return params
}

func bitsEqual(a, b map[string]*tensor.Tensor) bool {
	if len(a) != len(b) {
		return false
	}
	for k, x := range a {
		y, ok := b[k]
		if !ok || !tensor.EqualShapes(x.Shape(), y.Shape()) {
			return false
		}
		xs, ys := x.Float32s(), y.Float32s()
		for i := range xs {
			if math.Float32bits(xs[i]) != math.Float32bits(ys[i]) {
				return false
			}
		}
	}
	return true
}

var resumeConfigs = []train.OptimizerConfig{
	{Name: "sgd"},
	{Name: "sgd", Momentum: 0.9, Dampening: 0.1, WeightDecay: 5e-4},
	{Name: "sgd", Momentum: 0.9, Nesterov: true, WeightDecay: 1e-3},
	{Name: "adam"},
	{Name: "adam", Amsgrad: true, WeightDecay: 1e-2},
	{Name: "adamw", Amsgrad: true, Beta1: 0.8, Beta2: 0.99, Eps: 1e-6},
}

// TestOptimizerResume stops after 2 steps, restores the state into a new optimizer and goes
// on: the parameters must be bit-identical to an uninterrupted run's.
func TestOptimizerResume(t *testing.T) {
	size := 40000 // several chunks: the parallel path runs (under -race too)
	for _, cfg := range resumeConfigs {
		t.Run(fmt.Sprintf("%+v", cfg), func(t *testing.T) {
			want := runSteps(t, cfg, 6, size, 0)
			got := runSteps(t, cfg, 6, size, 2)
			if !bitsEqual(got, want) {
				t.Error("resumed run differs from the uninterrupted one")
			}
		})
	}
}

// TestOptimizerStateKeys checks State's keys, shapes and the step count of a parameter that
// missed a step.
func TestOptimizerStateKeys(t *testing.T) {
	params, grads := randomProblem(3, 10, 1)
	opt, err := train.NewOptimizer(train.OptimizerConfig{Name: "adam", Amsgrad: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range grads {
		if err := opt.Step(params, g, 0.01); err != nil {
			t.Fatal(err)
		}
	}
	state := opt.State()
	if len(state) != 12 {
		t.Errorf("got %d state entries, want 12 (4 buffers of 3 parameters)", len(state))
	}
	for _, k := range []string{"b/bias/step", "b/bias/exp_avg", "a.weight/max_exp_avg_sq", "c/exp_avg_sq"} {
		if state[k] == nil {
			t.Errorf("State lacks %q", k)
		}
	}
	if got := state["c/step"].Int64s()[0]; got != 2 { // c has no gradient at step 1
		t.Errorf("c/step: got %d, want 2", got)
	}
	if got := state["a.weight/exp_avg"].Shape(); !tensor.EqualShapes(got, []int{10, 3}) {
		t.Errorf("a.weight/exp_avg: got shape %v, want [10 3]", got)
	}
	plain, _ := train.NewOptimizer(train.OptimizerConfig{Name: "sgd"})
	if err := plain.Step(params, grads[0], 0.1); err != nil {
		t.Fatal(err)
	}
	if s := plain.State(); len(s) != 0 {
		t.Errorf("sgd without momentum: got state %v, want none", s)
	}
}

// TestOptimizerErrors checks that bad calls fail with a train: error and move nothing.
func TestOptimizerErrors(t *testing.T) {
	for _, cfg := range []train.OptimizerConfig{
		{Name: "rmsprop"},
		{Name: ""},
		{Name: "sgd", Amsgrad: true},
		{Name: "sgd", Beta1: 0.9},
		{Name: "adam", Momentum: 0.9},
		{Name: "adamw", Nesterov: true},
		{Name: "adam", Eps: math.NaN()},
	} {
		if _, err := train.NewOptimizer(cfg); err == nil || !strings.HasPrefix(err.Error(), "train: ") {
			t.Errorf("%+v: got error %v, want a train: error", cfg, err)
		}
	}
	opt, err := train.NewOptimizer(train.OptimizerConfig{Name: "adam"})
	if err != nil {
		t.Fatal(err)
	}
	w := tensor.From([]int{2, 2}, []float32{1, 2, 3, 4})
	b := tensor.From([]int{2}, []float32{5, 6})
	params := map[string]*tensor.Tensor{"w": w, "b": b}
	good := tensor.From([]int{2, 2}, []float32{1, 1, 1, 1})
	for name, call := range map[string]struct {
		grads map[string]*tensor.Tensor
		lr    float64
	}{
		"negative lr":   {map[string]*tensor.Tensor{"w": good}, -0.1},
		"NaN lr":        {map[string]*tensor.Tensor{"w": good}, math.NaN()},
		"unknown param": {map[string]*tensor.Tensor{"w": good, "x": good}, 0.1},
		"shape":         {map[string]*tensor.Tensor{"w": good, "b": good}, 0.1},
		"dtype":         {map[string]*tensor.Tensor{"w": good, "b": tensor.From([]int{2}, []float64{1, 1})}, 0.1},
	} {
		err := opt.Step(params, call.grads, call.lr)
		if err == nil || !strings.HasPrefix(err.Error(), "train: ") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: got error %v, want a one-line train: error", name, err)
		}
	}
	if got := w.Float32s(); got[0] != 1 || got[3] != 4 || b.Float32s()[1] != 6 {
		t.Errorf("a failed Step moved the parameters: %v %v", w.Float32s(), b.Float32s())
	}
	if s := opt.State(); len(s) != 0 {
		t.Errorf("a failed Step left state: %v", s)
	}
	if err := opt.Step(params, map[string]*tensor.Tensor{"w": good}, 0.1); err != nil {
		t.Fatal(err)
	}
	for name, state := range map[string]map[string]*tensor.Tensor{
		"no slash":         {"w": good},
		"unknown buffer":   {"w/momentum_buffer": good},
		"missing step":     {"w/exp_avg": good, "w/exp_avg_sq": good},
		"amsgrad buffer":   {"w/step": tensor.Scalar(int64(1)), "w/exp_avg": good, "w/exp_avg_sq": good, "w/max_exp_avg_sq": good},
		"fractional step":  {"w/step": tensor.Scalar(1.5), "w/exp_avg": good, "w/exp_avg_sq": good},
		"float64 buffer":   {"w/step": tensor.Scalar(int64(1)), "w/exp_avg": tensor.From([]int{1}, []float64{1}), "w/exp_avg_sq": good},
		"mismatched shape": {"w/step": tensor.Scalar(int64(1)), "w/exp_avg": good, "w/exp_avg_sq": b},
	} {
		if err := opt.SetState(state); err == nil || !strings.HasPrefix(err.Error(), "train: ") {
			t.Errorf("SetState %s: got error %v, want a train: error", name, err)
		}
	}
	if s := opt.State(); len(s) != 3 || s["w/step"].Int64s()[0] != 1 {
		t.Errorf("a failed SetState changed the state: %v", s)
	}
	// A restored buffer of the wrong shape fails at Step, before anything moves.
	if err := opt.SetState(map[string]*tensor.Tensor{"w/step": tensor.Scalar(int64(1)), "w/exp_avg": b, "w/exp_avg_sq": b}); err != nil {
		t.Fatal(err)
	}
	before := w.Clone()
	if err := opt.Step(params, map[string]*tensor.Tensor{"w": good}, 0.1); err == nil {
		t.Error("Step with a state of the wrong shape: no error")
	}
	if !bitsEqual(map[string]*tensor.Tensor{"w": w}, map[string]*tensor.Tensor{"w": before}) {
		t.Error("a failed Step moved the parameters")
	}
}

// TestOptimizersTorchLarge runs torch.optim live on tensors large enough for PyTorch's
// vectorised kernels and for Step's goroutines, and compares every step.
func TestOptimizersTorchLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("runs PyTorch")
	}
	const code = `
import sys, json, numpy as np, torch
out = sys.argv[1]
rng = np.random.default_rng(5)
cases = [("sgd", {"momentum": 0.9, "nesterov": True, "weight_decay": 1e-3}, 0.1),
         ("sgd", {"momentum": 0.9, "dampening": 0.2}, 0.1),
         ("adam", {"amsgrad": True, "weight_decay": 1e-2}, 1e-2),
         ("adamw", {"betas": (0.8, 0.99), "eps": 1e-6}, 1e-2)]
opts = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
arrays, meta = {}, []
for i, (name, kw, lr) in enumerate(cases):
    p0 = rng.standard_normal(70001).astype(np.float32)
    p = torch.nn.Parameter(torch.from_numpy(p0.copy()))
    opt = opts[name]([p], lr=lr, foreach=False, **kw)
    arrays[f"{i}/init"] = p0
    for s in range(3):
        g = (rng.standard_normal(p0.shape) * (1 + s)).astype(np.float32)
        p.grad = torch.from_numpy(g)
        opt.step()
        arrays[f"{i}/grad/{s}"] = g
        arrays[f"{i}/param/{s}"] = p.detach().numpy().copy()
    meta.append(dict(optimizer=name, config={k: v for k, v in kw.items() if k != "betas"}, lr=lr, betas=kw.get("betas")))
np.savez(out, **arrays)
print(json.dumps(meta))
`
	path := filepath.Join(t.TempDir(), "large.npz")
	var meta []struct {
		Optimizer string         `json:"optimizer"`
		Config    map[string]any `json:"config"`
		LR        float64        `json:"lr"`
		Betas     []float64      `json:"betas"`
	}
	if err := json.Unmarshal([]byte(fixture.RunPython(t, code, path)), &meta); err != nil {
		t.Fatal(err)
	}
	arrays, _, err := data.LoadNPZ(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range meta {
		kw := configNumbers(m.Config)
		if m.Betas != nil {
			kw["beta1"], kw["beta2"] = m.Betas[0], m.Betas[1]
		}
		opt, err := train.NewOptimizer(optimizerConfig(t, m.Optimizer, kw))
		if err != nil {
			t.Fatal(err)
		}
		params := map[string]*tensor.Tensor{"p": arrays[fmt.Sprintf("%d/init", i)].Clone()}
		for s := 0; s < 3; s++ {
			grads := map[string]*tensor.Tensor{"p": arrays[fmt.Sprintf("%d/grad/%d", i, s)]}
			if err := opt.Step(params, grads, m.LR); err != nil {
				t.Fatal(err)
			}
			want := arrays[fmt.Sprintf("%d/param/%d", i, s)]
			ok, worst, differ := closeF32(params["p"], want, 1e-6)
			if !ok {
				t.Errorf("%s %v step %d: worst relative difference %.3g", m.Optimizer, m.Config, s, worst)
			}
			t.Logf("%s %v step %d: %d of %d values differ from PyTorch's in bits", m.Optimizer, m.Config, s, differ, want.Len())
		}
	}
}

// BenchmarkOptimizerStep steps 5.8M parameters, the shapes of resnet18's largest layers.
func BenchmarkOptimizerStep(b *testing.B) {
	shapes := map[string][]int{"fc.weight": {1000, 512}, "layer4.conv": {512, 512, 3, 3}, "layer3.conv": {256, 256, 3, 3}, "layer4.1.conv": {512, 512, 3, 3}}
	for _, cfg := range []train.OptimizerConfig{
		{Name: "sgd", Momentum: 0.9, WeightDecay: 1e-4},
		{Name: "adam"},
		{Name: "adamw", Amsgrad: true},
	} {
		b.Run(cfg.Name, func(b *testing.B) {
			params, grads := map[string]*tensor.Tensor{}, map[string]*tensor.Tensor{}
			n := 0
			for name, s := range shapes {
				params[name], grads[name] = tensor.New(tensor.Float32, s...), tensor.New(tensor.Float32, s...)
				g := grads[name].Float32s()
				for i := range g {
					g[i] = float32(i%7) * 1e-3
				}
				n += params[name].Len()
			}
			opt, err := train.NewOptimizer(cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(4 * n))
			for b.Loop() {
				if err := opt.Step(params, grads, 1e-3); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
