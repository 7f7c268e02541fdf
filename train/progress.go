package train

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// progress reports training progress: a bar redrawn in place per epoch, or a line per epoch.
type progress struct {
	w                         io.Writer
	bar                       bool
	epochs, batches, examples int
	epoch                     int
	began, drawn              time.Time
}

func newProgress(w io.Writer, bar bool, epochs, batches, examples int) *progress {
	return &progress{w: w, bar: bar, epochs: epochs, batches: batches, examples: examples}
}

// note prints a line about the run before its first epoch.
func (p *progress) note(line string) {
	if p.w != nil && line != "" {
		fmt.Fprintln(p.w, line)
	}
}

func (p *progress) epochStart(epoch int) {
	p.epoch, p.began, p.drawn = epoch, time.Now(), time.Time{}
}

// batchDone redraws the bar at most ten times a second, and for the last batch.
func (p *progress) batchDone(batches, examples int, meanLoss float64) {
	if p.w == nil || !p.bar {
		return
	}
	now := time.Now()
	if batches < p.batches && now.Sub(p.drawn) < 100*time.Millisecond {
		return
	}
	p.drawn = now
	const width = 24
	done := width * batches / max(p.batches, 1)
	el := now.Sub(p.began).Seconds()
	rate := float64(examples) / math.Max(el, 1e-9)
	eta := time.Duration(float64(p.examples-examples) / math.Max(rate, 1e-9) * float64(time.Second))
	fmt.Fprintf(p.w, "\repoch %d/%d [%s%s] %d/%d loss %.4f %.0f ex/s ETA %s \x1b[K",
		p.epoch+1, p.epochs, strings.Repeat("=", done), strings.Repeat(" ", width-done),
		batches, p.batches, meanLoss, rate, eta.Round(time.Second))
}

func (p *progress) epochDone(s EpochStats) {
	if p.w == nil {
		return
	}
	if p.bar {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "epoch %d/%d: train_loss %.4f", s.Epoch, p.epochs, s.TrainLoss)
	if s.ValLoss != nil {
		fmt.Fprintf(&b, " val_loss %.4f", *s.ValLoss)
	}
	shown := []string{"accuracy", "macro_f1"}
	if _, binary := s.Metrics["sensitivity"]; binary {
		shown = []string{"sensitivity", "specificity", "ppv", "npv", "f1", "roc_auc", "false_negatives", "false_positives"}
	}
	for k := range s.Metrics {
		if strings.Contains(k, "@") { // a monitored constrained rate, e.g. sensitivity@spec=0.9
			shown = append(shown, k)
		}
	}
	for _, k := range shown {
		v, ok := s.Metrics[k]
		switch {
		case !ok:
		case strings.HasPrefix(k, "false_"):
			fmt.Fprintf(&b, " val_%s %d", k, int64(v))
		default:
			fmt.Fprintf(&b, " val_%s %.4f", k, v)
		}
	}
	fmt.Fprintf(&b, " lr %.3g %.1fs %.0f ex/s", s.LR, s.Seconds, float64(s.Examples)/math.Max(s.Seconds, 1e-9))
	fmt.Fprintln(p.w, b.String())
}
