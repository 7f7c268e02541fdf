package train_test

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxtune/onnxtune/train"
)

// TestSchedulesTorch compares every learning rate of every schedule in schedule.json (written
// by gen_optim.py from torch.optim.lr_scheduler) within 1e-12 relative.
func TestSchedulesTorch(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "schedule.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Cases []struct {
			Name          string    `json:"name"`
			Schedule      string    `json:"schedule"`
			BaseLR        float64   `json:"base_lr"`
			StepsPerEpoch int       `json:"steps_per_epoch"`
			Epochs        int       `json:"epochs"`
			Warmup        int       `json:"warmup"`
			StepSize      int       `json:"step_size"`
			Gamma         float64   `json:"gamma"`
			LRs           []float64 `json:"lrs"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.Cases) == 0 {
		t.Fatal("schedule.json: no cases")
	}
	for _, c := range ref.Cases {
		s, err := train.NewSchedule(c.Schedule, c.BaseLR, c.StepsPerEpoch, c.Epochs, c.Warmup, c.StepSize, c.Gamma)
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		if s.TotalSteps() != len(c.LRs) {
			t.Errorf("%s: TotalSteps got %d, want %d", c.Name, s.TotalSteps(), len(c.LRs))
		}
		worst := 0.0
		for step, want := range c.LRs {
			got := s.LR(step)
			d := math.Abs(got - want)
			if want != 0 {
				d /= math.Abs(want)
			}
			if d > 1e-12 {
				t.Errorf("%s: step %d: got %.17g, want %.17g", c.Name, step, got, want)
				break
			}
			worst = math.Max(worst, d)
		}
		t.Logf("%s (%s): %d steps, worst relative difference %.2g", c.Name, s, len(c.LRs), worst)
	}
}

func TestScheduleErrors(t *testing.T) {
	for _, c := range []struct {
		name                               string
		base                               float64
		perEpoch, epochs, warmup, stepSize int
		gamma                              float64
	}{
		{"linear", 0.1, 10, 2, 0, 0, 0},
		{"constant", -0.1, 10, 2, 0, 0, 0},
		{"constant", math.Inf(1), 10, 2, 0, 0, 0},
		{"cosine", 0.1, 0, 2, 0, 0, 0},
		{"cosine", 0.1, 10, 0, 0, 0, 0},
		{"cosine", 0.1, 10, 2, -1, 0, 0},
		{"step", 0.1, 10, 2, 0, 0, 0.1},
		{"step", 0.1, 10, 2, 0, 1, -0.5},
		{"step", 0.1, 10, 2, 0, 1, math.NaN()},
	} {
		_, err := train.NewSchedule(c.name, c.base, c.perEpoch, c.epochs, c.warmup, c.stepSize, c.gamma)
		if err == nil || !strings.HasPrefix(err.Error(), "train: ") {
			t.Errorf("%+v: got error %v, want a train: error", c, err)
		}
	}
	// "" is constant; gamma 0 is StepLR's default 0.1.
	s, err := train.NewSchedule("", 0.5, 3, 2, 0, 0, 0)
	if err != nil || s.LR(5) != 0.5 {
		t.Errorf("empty name: got %v, %v; want a constant 0.5", s, err)
	}
	s, err = train.NewSchedule("step", 1, 3, 4, 0, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.LR(3); math.Abs(got-0.1) > 1e-15 {
		t.Errorf("step with gamma 0: epoch 1 runs at %g, want StepLR's default gamma 0.1", got)
	}
}
