package train

import (
	"fmt"
	"math"
	"math/big"
	"strings"
)

// Schedule gives the learning rate of every optimizer step of a run, as
// torch.optim.lr_scheduler computes it when a training loop steps the scheduler:
//
//   - constant: the base rate;
//   - step: StepLR(step_size, gamma) stepped after every epoch, so epoch e runs at
//     base * gamma^floor(e/step_size);
//   - cosine: CosineAnnealingLR(T_max = stepsPerEpoch*epochs, eta_min = 0) stepped after every
//     optimizer step, so step s runs at base * (1 + cos(pi*s/T_max)) / 2;
//
// and with W warm-up steps, LinearLR(start_factor=1/W, end_factor=1, total_iters=W-1)
// stepped after every optimizer step alongside the main scheduler, both scaling the same rate
// (as ChainedScheduler chains them): step s < W runs at (s+1)/W times the main schedule's rate,
// so the first step already moves and step W-1 reaches the full rate. Warm-up scales the main
// schedule rather than delaying it: cosine still spans every step of the run.
//
// Schedule uses the closed forms; PyTorch's recursive updates agree with them to a few
// float64 roundings (1e-14 relative over 10,000 steps) when cos is rounded as glibc's is.
type Schedule struct {
	name          string
	base          float64
	stepsPerEpoch int
	epochs        int
	warmup        int
	stepSize      int
	gamma         float64
}

// ScheduleNames lists the schedules NewSchedule accepts.
func ScheduleNames() []string { return []string{"constant", "step", "cosine"} }

// NewSchedule returns the schedule name ("" is constant) for a run of epochs epochs of
// stepsPerEpoch optimizer steps each, starting from baseLR, with warmup warm-up steps (0 for
// none). stepSize (in epochs, at least 1) and gamma (0 means PyTorch's default 0.1) are the
// step schedule's and ignored by the others.
func NewSchedule(name string, baseLR float64, stepsPerEpoch, epochs, warmup int, stepSize int, gamma float64) (*Schedule, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	if name == "" {
		name = "constant"
	}
	s := &Schedule{name: name, base: baseLR, stepsPerEpoch: stepsPerEpoch, epochs: epochs, warmup: warmup}
	switch {
	case math.IsNaN(baseLR) || math.IsInf(baseLR, 0) || baseLR < 0:
		return nil, fmt.Errorf("train: invalid learning rate %g (want a finite lr >= 0)", baseLR)
	case stepsPerEpoch < 1:
		return nil, fmt.Errorf("train: schedule %s: %d steps per epoch (want at least 1)", name, stepsPerEpoch)
	case epochs < 1:
		return nil, fmt.Errorf("train: schedule %s: %d epochs (want at least 1)", name, epochs)
	case warmup < 0:
		return nil, fmt.Errorf("train: schedule %s: %d warm-up steps (want 0 or more)", name, warmup)
	}
	switch name {
	case "constant", "cosine":
	case "step":
		if stepSize < 1 {
			return nil, fmt.Errorf("train: schedule step: step size %d epochs (want at least 1)", stepSize)
		}
		if gamma == 0 {
			gamma = 0.1
		}
		if math.IsNaN(gamma) || math.IsInf(gamma, 0) || gamma < 0 {
			return nil, fmt.Errorf("train: schedule step: invalid gamma %g (want a finite gamma > 0)", gamma)
		}
		s.stepSize, s.gamma = stepSize, gamma
	default:
		return nil, fmt.Errorf("train: unknown schedule %q (want one of %s)", name, strings.Join(ScheduleNames(), ", "))
	}
	if epochs > math.MaxInt/stepsPerEpoch {
		return nil, fmt.Errorf("train: schedule %s: %d epochs of %d steps overflow", name, epochs, stepsPerEpoch)
	}
	return s, nil
}

// TotalSteps returns the number of optimizer steps of the run.
func (s *Schedule) TotalSteps() int { return s.stepsPerEpoch * s.epochs }

// LR returns the learning rate of optimizer step step (0-based over the whole run; its epoch
// is step / stepsPerEpoch). A step before 0 counts as 0.
func (s *Schedule) LR(step int) float64 {
	step = max(step, 0)
	lr := s.base
	switch s.name {
	case "step":
		// StepLR's closed form: base_lr * gamma ** (last_epoch // step_size).
		lr = s.base * powInt(s.gamma, int64(step/s.stepsPerEpoch/s.stepSize))
	case "cosine":
		// CosineAnnealingLR's closed form with eta_min 0, in PyTorch's order of operations.
		lr = s.base * (1 + cosRounded(math.Pi*float64(step)/float64(s.TotalSteps()))) / 2
	}
	if step < s.warmup {
		lr *= float64(step+1) / float64(s.warmup)
	}
	return lr
}

// String describes the schedule as PyTorch's schedulers would be built for it.
func (s *Schedule) String() string {
	var b strings.Builder
	switch s.name {
	case "step":
		fmt.Fprintf(&b, "StepLR(step_size=%d epochs, gamma=%g)", s.stepSize, s.gamma)
	case "cosine":
		fmt.Fprintf(&b, "CosineAnnealingLR(T_max=%d steps)", s.TotalSteps())
	default:
		b.WriteString("constant")
	}
	if s.warmup > 0 {
		fmt.Fprintf(&b, " with LinearLR warm-up over %d steps", s.warmup)
	}
	return b.String()
}

// cosRounded returns cos(x) correctly rounded to float64. Python's math.cos (glibc's cos)
// is too but for rare near-halfway cases; math.Cos is an ulp off far more often. The ulp
// matters at the end of a cosine schedule, where 1 + cos(x) cancels: one ulp of cos is 2e-11
// of the last rate of a 1,000-step run. The Taylor series at 192 bits rounds correctly.
func cosRounded(x float64) float64 {
	if math.IsNaN(x) || math.Abs(x) > 8 {
		return math.Cos(x)
	}
	const prec = 192
	x2 := new(big.Float).SetPrec(prec).SetFloat64(x)
	x2.Mul(x2, x2)
	sum := new(big.Float).SetPrec(prec).SetInt64(1)
	term := new(big.Float).SetPrec(prec).SetInt64(1)
	k := new(big.Float).SetPrec(prec)
	for n := int64(1); term.Sign() != 0 && term.MantExp(nil) > -prec-8; n++ {
		term.Mul(term, x2)
		term.Quo(term, k.SetInt64((2*n-1)*(2*n)))
		term.Neg(term)
		sum.Add(sum, term)
	}
	f, _ := sum.Float64()
	return f
}
