package train

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/onnxtune/onnxtune/loss"
)

// BinaryScores are a binary classifier's scores of a data set: every example's log-odds of
// the positive class (log(p/(1-p)), which keeps the order of logits beyond where p rounds to
// 1) and whether it is positive. An example is predicted positive where sigmoid(LogOdds) is
// at least the threshold.
type BinaryScores struct {
	LogOdds  []float64
	Positive []bool
	// Source says how the log-odds were read from the model's output.
	Source ScoreSource
}

// ScoreSource says how a binary classifier's log-odds are read from the model's output
// [N, Width] (or [N] for one logit): the logit itself for one column (Width 1), else the
// log-odds of column Positive against the others under a softmax; Scores says whether the
// output holds logits, probabilities or log-probabilities.
type ScoreSource struct {
	Scores          loss.ScoreKind
	Width, Positive int
	// Dense says the output has positions beyond the class dimension (a segmentation model's
	// pixels), each scored as an example.
	Dense bool
}

// counts returns the confusion counts at threshold thr (a probability).
func (s BinaryScores) counts(thr float64) (tp, fp, tn, fn int64) {
	for i, v := range s.LogOdds {
		switch pred := sigmoid(v) >= thr; {
		case pred && s.Positive[i]:
			tp++
		case pred:
			fp++
		case s.Positive[i]:
			fn++
		default:
			tn++
		}
	}
	return tp, fp, tn, fn
}

// Report returns the screening numbers of the scores at threshold thr, positive naming the
// positive class.
func (s BinaryScores) Report(positive string, thr float64) *BinaryReport {
	tp, fp, tn, fn := s.counts(thr)
	return &BinaryReport{
		PositiveClass: positive, Threshold: thr,
		Sensitivity: ratio(tp, tp+fn), Specificity: ratio(tn, tn+fp),
		PPV: ratio(tp, tp+fp), NPV: ratio(tn, tn+fn), F1: ratio(2*tp, 2*tp+fp+fn),
		RocAUC:        jsonFloat(rocAUC(s.LogOdds, s.Positive)),
		PRAUC:         jsonFloat(averagePrecision(s.LogOdds, s.Positive)),
		TruePositives: tp, FalsePositives: fp, TrueNegatives: tn, FalseNegatives: fn,
		Scores: s,
	}
}

// BinaryReport is what matters of a binary classifier that screens for the positive class:
// the four counts at the threshold, the rates made of them (each 0 when its denominator is,
// as scikit-learn's zero_division default), the threshold-free ROC and PR AUC, and what chose
// the threshold and calibrated the probabilities, if anything did.
type BinaryReport struct {
	// PositiveClass names the positive class; Threshold is the probability at or above which
	// an example is predicted positive.
	PositiveClass string  `json:"positive_class"`
	Threshold     float64 `json:"threshold"`
	// Sensitivity is TP/(TP+FN) (recall of the positive class), Specificity TN/(TN+FP), PPV
	// TP/(TP+FP) (precision), NPV TN/(TN+FN), F1 2TP/(2TP+FP+FN).
	Sensitivity float64 `json:"sensitivity"`
	Specificity float64 `json:"specificity"`
	PPV         float64 `json:"ppv"`
	NPV         float64 `json:"npv"`
	F1          float64 `json:"f1"`
	// RocAUC is the area under the ROC curve of the positive class's probability, as
	// sklearn.metrics.roc_auc_score computes it (ties count half); NaN (JSON null) when the
	// data holds only one of the two classes. PRAUC is the average precision, as
	// sklearn.metrics.average_precision_score computes it; NaN without positives.
	RocAUC         jsonFloat `json:"roc_auc"`
	PRAUC          jsonFloat `json:"pr_auc"`
	TruePositives  int64     `json:"true_positives"`
	FalsePositives int64     `json:"false_positives"`
	TrueNegatives  int64     `json:"true_negatives"`
	FalseNegatives int64     `json:"false_negatives"`

	// TargetSensitivity, when set, is the sensitivity the threshold was chosen for
	// (ThresholdForSensitivity) on the data ThresholdData names.
	TargetSensitivity *float64 `json:"target_sensitivity,omitempty"`
	ThresholdData     string   `json:"threshold_data,omitempty"`
	// Temperature, when not 0, divided the log-odds (FitTemperature on CalibrationData), and
	// ECEBefore and ECEAfter are the expected calibration error there before and after.
	Temperature     float64 `json:"temperature,omitempty"`
	CalibrationData string  `json:"calibration_data,omitempty"`
	ECEBefore       float64 `json:"ece_before,omitempty"`
	ECEAfter        float64 `json:"ece_after,omitempty"`
	// ModelDecision says the threshold and temperature are those of the decision the model
	// carries (RecordedDecision), fitted on CalibrationData; there are no ECEs then.
	ModelDecision bool `json:"model_decision,omitempty"`
	// Bootstrap is the number of resamples behind CI, the 95% confidence interval [2.5th,
	// 97.5th percentile] of each rate and AUC (see BinaryScores.Bootstrap).
	Bootstrap int                   `json:"bootstrap,omitempty"`
	CI        map[string][2]float64 `json:"ci95,omitempty"`

	// Scores are the scores all this was measured on, for choosing a threshold, calibrating
	// and bootstrapping.
	Scores BinaryScores `json:"-"`
}

// jsonFloat is a float64 that JSON writes as null when it is NaN or infinite.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
		return []byte("null"), nil
	}
	return json.Marshal(float64(f))
}

func (f *jsonFloat) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = jsonFloat(math.NaN())
		return nil
	}
	return json.Unmarshal(b, (*float64)(f))
}

// rocAUC is the area under the ROC curve of scores for the labels truth: the probability that
// a random positive scores above a random negative, a tie counting half (the Mann-Whitney
// statistic, which is what sklearn's trapezoidal roc_auc_score comes to). NaN unless both
// classes occur.
func rocAUC(scores []float64, truth []bool) float64 {
	tps, fps, _ := BinaryScores{LogOdds: scores, Positive: truth}.steps()
	var pos, neg, above float64 // above: positive-negative pairs ranked right, ties half
	for i := range tps {
		// The p positives and n negatives of this tie group: the n rank below the pos
		// positives above, and tie with the p.
		p, n := tps[i]-pos, fps[i]-neg
		above += n*pos + p*n/2
		pos, neg = tps[i], fps[i]
	}
	if pos == 0 || neg == 0 {
		return math.NaN()
	}
	return above / (pos * neg)
}

// averagePrecision is sklearn's average_precision_score: the sum over the distinct scores,
// from the highest, of (recall there - recall at the previous one) * precision there. NaN
// without positives.
func averagePrecision(scores []float64, truth []bool) float64 {
	tps, fps, _ := BinaryScores{LogOdds: scores, Positive: truth}.steps()
	if len(tps) == 0 || tps[len(tps)-1] == 0 {
		return math.NaN()
	}
	total := tps[len(tps)-1]
	var ap, recall float64
	for i, tp := range tps {
		r := tp / total
		ap += (r - recall) * tp / (tp + fps[i])
		recall = r
	}
	return ap
}

// steps returns, for each distinct log-odds from the highest (at), the true and false
// positives among the examples scoring at or above it: the points where the ROC and PR curves
// step, as sklearn's _binary_clf_curve finds them.
func (s BinaryScores) steps() (tps, fps, at []float64) {
	order := descending(s.LogOdds)
	var tp, fp float64
	for i := 0; i < len(order); {
		j := tieEnd(s.LogOdds, order, i)
		for _, k := range order[i:j] {
			if s.Positive[k] {
				tp++
			} else {
				fp++
			}
		}
		tps, fps, at = append(tps, tp), append(fps, fp), append(at, s.LogOdds[order[i]])
		i = j
	}
	return tps, fps, at
}

// ROC returns the ROC curve, as sklearn.metrics.roc_curve(truth, probabilities,
// drop_intermediate=False) does: a first point (0, 0) at threshold +Inf, then one point per
// distinct score from the highest, the false and true positive rates of predicting positive at
// or above it; thresholds are probabilities. A rate whose class is absent is NaN.
func (s BinaryScores) ROC() (fpr, tpr, thresholds []float64) {
	tps, fps, at := s.steps()
	fpr, tpr, thresholds = []float64{0}, []float64{0}, []float64{math.Inf(1)}
	if len(tps) == 0 {
		return fpr, tpr, thresholds
	}
	pos, neg := tps[len(tps)-1], fps[len(fps)-1]
	for i := range tps {
		fpr = append(fpr, fps[i]/neg)
		tpr = append(tpr, tps[i]/pos)
		thresholds = append(thresholds, sigmoid(at[i]))
	}
	return fpr, tpr, thresholds
}

// PR returns the precision-recall curve, as sklearn.metrics.precision_recall_curve(truth,
// probabilities) does: for each distinct score from the lowest (thresholds, probabilities),
// the precision and recall of predicting positive at or above it, then a last point of
// precision 1 and recall 0. Recall is NaN without positives.
func (s BinaryScores) PR() (precision, recall, thresholds []float64) {
	tps, fps, at := s.steps()
	if len(tps) == 0 {
		return []float64{1}, []float64{0}, nil
	}
	pos := tps[len(tps)-1]
	for i := len(tps) - 1; i >= 0; i-- {
		precision = append(precision, tps[i]/(tps[i]+fps[i])) // every step holds an example
		recall = append(recall, tps[i]/pos)
		thresholds = append(thresholds, sigmoid(at[i]))
	}
	return append(precision, 1), append(recall, 0), thresholds
}

// descending returns the indices of scores from the highest score to the lowest, ties in
// index order.
func descending(scores []float64) []int {
	order := make([]int, len(scores))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(scores[b], scores[a]) })
	return order
}

// tieEnd is the end of the run of order, from i, whose scores equal order[i]'s.
func tieEnd(scores []float64, order []int, i int) int {
	j := i + 1
	for j < len(order) && scores[order[j]] == scores[order[i]] {
		j++
	}
	return j
}

// ThresholdForSensitivity returns the highest threshold (a probability) at which the
// sensitivity of the scores is at least target: the probability of the k-th most probable
// positive, k = ceil(target * positives).
func (s BinaryScores) ThresholdForSensitivity(target float64) (float64, error) {
	v, err := s.logOddsForSensitivity(target)
	return sigmoid(v), err
}

// logOddsForSensitivity returns the log-odds of the k-th most probable positive, k =
// ceil(target * positives): the highest cut at which the sensitivity is at least target.
func (s BinaryScores) logOddsForSensitivity(target float64) (float64, error) {
	if !(target > 0 && target <= 1) {
		return 0, fmt.Errorf("train: target sensitivity %g: want a value in (0, 1]", target)
	}
	var pos []float64
	for i, v := range s.LogOdds {
		if s.Positive[i] {
			pos = append(pos, v)
		}
	}
	if len(pos) == 0 {
		return 0, errors.New("train: target sensitivity: the data holds no positive example")
	}
	slices.SortFunc(pos, func(a, b float64) int { return cmp.Compare(b, a) })
	// The smallest k with k/len(pos) >= target; the slack absorbs target*len's rounding.
	k := int(math.Ceil(target*float64(len(pos)) - 1e-9))
	k = min(max(k, 1), len(pos))
	return pos[k-1], nil
}

// cutMargin is how far, relative to max(1, |log-odds|), a cut chosen for a target sensitivity
// stays below the example it must keep: well above the float32 rounding by which two runtimes
// may disagree on a logit, well below any difference between examples that matters.
const cutMargin = 1e-3

// cutBelow returns a cut on the log-odds just below at, one of the scores: in the gap down to
// the next lower score, at most halfway, at most cutMargin below at. Every example is on the
// same side of it as of at, so the counts are the same, but none sits on it, so a runtime
// whose float32 rounding differs from the engine's decides every example the same way.
func (s BinaryScores) cutBelow(at float64) float64 {
	margin := cutMargin * max(1, math.Abs(at))
	for _, v := range s.LogOdds {
		if v < at {
			margin = min(margin, (at-v)/2)
		}
	}
	return at - margin
}

// bootstrapStream separates the bootstrap's random stream from the other uses of a seed.
const bootstrapStream = 0xb007

// BootstrapIndices returns the resamples Bootstrap draws: resamples lists of n indices in
// [0, n), drawn with replacement from a PCG seeded by (seed, bootstrapStream).
func BootstrapIndices(n, resamples int, seed uint64) [][]int {
	rng := rand.New(rand.NewPCG(seed, bootstrapStream))
	out := make([][]int, resamples)
	for r := range out {
		out[r] = drawResample(rng, make([]int, n))
	}
	return out
}

func drawResample(rng *rand.Rand, idx []int) []int {
	for i := range idx {
		idx[i] = rng.IntN(len(idx))
	}
	return idx
}

// BootstrapMetrics are the numbers Bootstrap gives intervals for.
var BootstrapMetrics = []string{"sensitivity", "specificity", "ppv", "npv", "f1", "roc_auc", "pr_auc"}

// Bootstrap returns the 95% confidence interval of each of BootstrapMetrics at threshold thr:
// the 2.5th and 97.5th percentiles (numpy's linear interpolation) of the metric over
// resamples of the examples drawn with replacement (BootstrapIndices). A resample where a
// rate's denominator is 0 counts it as 0 (zero_division); one without both classes leaves out
// its AUCs, which are undefined there.
func (s BinaryScores) Bootstrap(thr float64, resamples int, seed uint64) (map[string][2]float64, error) {
	if resamples < 1 {
		return nil, fmt.Errorf("train: bootstrap: %d resamples; want at least 1", resamples)
	}
	n := len(s.LogOdds)
	if n == 0 {
		return nil, errors.New("train: bootstrap: no examples")
	}
	rng := rand.New(rand.NewPCG(seed, bootstrapStream))
	values := map[string][]float64{}
	idx := make([]int, n)
	r := BinaryScores{LogOdds: make([]float64, n), Positive: make([]bool, n), Source: s.Source}
	for range resamples {
		for i, k := range drawResample(rng, idx) {
			r.LogOdds[i], r.Positive[i] = s.LogOdds[k], s.Positive[k]
		}
		b := r.Report("", thr)
		for name, v := range map[string]float64{"sensitivity": b.Sensitivity, "specificity": b.Specificity,
			"ppv": b.PPV, "npv": b.NPV, "f1": b.F1, "roc_auc": float64(b.RocAUC), "pr_auc": float64(b.PRAUC)} {
			if !math.IsNaN(v) {
				values[name] = append(values[name], v)
			}
		}
	}
	ci := map[string][2]float64{}
	for name, v := range values {
		slices.Sort(v)
		ci[name] = [2]float64{percentile(v, 2.5), percentile(v, 97.5)}
	}
	return ci, nil
}

// percentile is numpy.percentile(sorted, q) with linear interpolation.
func percentile(sorted []float64, q float64) float64 {
	pos := q / 100 * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	if lo+1 >= len(sorted) {
		return sorted[len(sorted)-1]
	}
	return sorted[lo] + (pos-float64(lo))*(sorted[lo+1]-sorted[lo])
}

// FitTemperature returns the temperature T that minimises the mean negative log-likelihood
// of sigmoid(LogOdds / T) (temperature scaling, Guo et al. 2017, for a binary classifier). The
// NLL is convex in 1/T, which Newton's method finds from 1/T = 1, with halving steps that
// keep the NLL from rising. It fails when the scores rank negatives above positives (no
// positive temperature helps) or hold one class only.
func (s BinaryScores) FitTemperature() (float64, error) {
	var pos, neg bool
	for _, p := range s.Positive {
		pos, neg = pos || p, neg || !p
	}
	if !pos || !neg {
		return 0, errors.New("train: calibrate: the data holds one class only; temperature scaling needs both")
	}
	// f(a) = mean softplus(-y a s), y = +-1; f' = mean -y s sigmoid(-y a s); f'' = mean s^2 sigma (1 - sigma).
	nll := func(a float64) (f, d1, d2 float64) {
		for i, v := range s.LogOdds {
			y := -1.0
			if s.Positive[i] {
				y = 1
			}
			m := -y * a * v
			f += softplus(m)
			sg := sigmoid(m)
			d1 += -y * v * sg
			d2 += v * v * sg * (1 - sg)
		}
		n := float64(len(s.LogOdds))
		return f / n, d1 / n, d2 / n
	}
	a := 1.0
	f, d1, d2 := nll(a)
	for range 100 {
		if math.Abs(d1) < 1e-12 || d2 <= 0 {
			break
		}
		step := d1 / d2
		next := a - step
		fn, _, _ := nll(next)
		for fn > f && math.Abs(step) > 1e-15 {
			step /= 2
			next = a - step
			fn, _, _ = nll(next)
		}
		if fn > f {
			break
		}
		a = next
		f, d1, d2 = nll(a)
	}
	if !(a > 0) {
		return 0, errors.New("train: calibrate: the scores rank negatives above positives; no temperature calibrates them")
	}
	return 1 / a, nil
}

// softplus is log(1 + exp(x)) without overflow.
func softplus(x float64) float64 {
	if x > 0 {
		return x + math.Log1p(math.Exp(-x))
	}
	return math.Log1p(math.Exp(x))
}

// ECEBins is the number of equal-width confidence bins of ECE.
const ECEBins = 15

// ReliabilityBin is one of ECE's confidence bins, (Lo, Hi]: how many examples have their
// predicted class's probability there, their mean confidence, and the share of them predicted
// right.
type ReliabilityBin struct {
	Lo, Hi               float64
	Count                int
	Confidence, Accuracy float64
}

// Reliability returns the ECEBins bins of ECE, over [0, 1], of the probabilities
// sigmoid(LogOdds / temperature): what a reliability diagram draws.
func (s BinaryScores) Reliability(temperature float64) []ReliabilityBin {
	bins := make([]ReliabilityBin, ECEBins)
	var conf, correct [ECEBins]float64
	for i, v := range s.LogOdds {
		p := sigmoid(v / temperature)
		pred := p >= 0.5
		c := p
		if !pred {
			c = 1 - p
		}
		b := min(max(int(math.Ceil(c*ECEBins))-1, 0), ECEBins-1)
		bins[b].Count++
		conf[b] += c
		if pred == s.Positive[i] {
			correct[b]++
		}
	}
	for b := range bins {
		bins[b].Lo, bins[b].Hi = float64(b)/ECEBins, float64(b+1)/ECEBins
		if n := float64(bins[b].Count); n > 0 {
			bins[b].Confidence, bins[b].Accuracy = conf[b]/n, correct[b]/n
		}
	}
	return bins
}

// ECE is the expected calibration error of the probabilities sigmoid(LogOdds / temperature)
// (Guo et al. 2017): each example's confidence is the probability of its predicted class
// (max(p, 1-p), predicted positive where p >= 0.5), the confidences fall into ECEBins
// equal-width bins over [0, 1] (right-closed, as (0, 1/15], ...; see Reliability), and ECE is
// the sum over bins of |accuracy - mean confidence| weighted by the bin's share of the
// examples.
func (s BinaryScores) ECE(temperature float64) float64 {
	var ece float64
	n := float64(len(s.LogOdds))
	for _, b := range s.Reliability(temperature) {
		if b.Count > 0 {
			ece += float64(b.Count) / n * math.Abs(b.Accuracy-b.Confidence)
		}
	}
	return ece
}

// OperatingPoint says how a binary classifier's decision is set: a fixed Threshold (a
// probability; 0 for DefaultThreshold), or the highest one that reaches TargetSensitivity;
// with Calibrate, after temperature scaling.
type OperatingPoint struct {
	Threshold, TargetSensitivity float64
	Calibrate                    bool
}

// Decision is an operating point fitted to data: the temperature that divides the log-odds
// (1 without calibration), the threshold on the calibrated probability, and the expected
// calibration error before and after. Cut is the log-odds (after the temperature) at or above
// which a model carrying the decision predicts positive (AppendDecision): logit(Threshold)
// for a fixed threshold; for a target sensitivity, just below the score that reaches it (see
// BinaryScores.cutBelow), so that the decision does not hang on the rounding of the one
// example that sits on the threshold.
type Decision struct {
	Temperature, Threshold float64
	ECEBefore, ECEAfter    float64
	Cut                    float64
}

// Fit fits the operating point to the scores of the data it is chosen on (validation data).
func (op OperatingPoint) Fit(s BinaryScores) (Decision, error) {
	d := Decision{Temperature: 1, Threshold: op.Threshold}
	if d.Threshold == 0 {
		d.Threshold = DefaultThreshold
	}
	if op.Calibrate {
		t, err := s.FitTemperature()
		if err != nil {
			return Decision{}, err
		}
		d.Temperature, d.ECEBefore, d.ECEAfter = t, s.ECE(1), s.ECE(t)
	}
	d.Cut = math.Log(d.Threshold) - math.Log1p(-d.Threshold)
	if op.TargetSensitivity != 0 {
		scaled := BinaryScores{LogOdds: make([]float64, len(s.LogOdds)), Positive: s.Positive, Source: s.Source}
		for i, v := range s.LogOdds {
			scaled.LogOdds[i] = v / d.Temperature
		}
		at, err := scaled.logOddsForSensitivity(op.TargetSensitivity)
		if err != nil {
			return Decision{}, err
		}
		d.Threshold, d.Cut = sigmoid(at), scaled.cutBelow(at)
	}
	return d, nil
}

// Record writes the decision, and what it was fitted on, into a report of it.
func (d Decision) Record(b *BinaryReport, op OperatingPoint, data string) {
	if op.TargetSensitivity != 0 {
		target := op.TargetSensitivity
		b.TargetSensitivity, b.ThresholdData = &target, data
	}
	if op.Calibrate {
		b.Temperature, b.CalibrationData = d.Temperature, data
		b.ECEBefore, b.ECEAfter = d.ECEBefore, d.ECEAfter
	}
}

// SensitivityAtSpecificity returns the highest sensitivity at any threshold whose specificity
// is at least minSpec (the best true-positive rate of the ROC curve's points with false-positive
// rate at most 1 - minSpec); 0 when the data holds no positive, and 0 when no threshold but
// "nothing positive" keeps specificity at minSpec.
func (s BinaryScores) SensitivityAtSpecificity(minSpec float64) float64 {
	best := 0.0
	s.rocPoints(func(sens, spec float64) {
		if spec >= minSpec {
			best = max(best, sens)
		}
	})
	return best
}

// SpecificityAtSensitivity returns the highest specificity at any threshold whose sensitivity
// is at least minSens.
func (s BinaryScores) SpecificityAtSensitivity(minSens float64) float64 {
	best := 0.0
	s.rocPoints(func(sens, spec float64) {
		if sens >= minSens {
			best = max(best, spec)
		}
	})
	return best
}

// rocPoints calls point with the sensitivity and specificity of every threshold: above every
// score (nothing positive), then at each distinct score from the highest down.
func (s BinaryScores) rocPoints(point func(sens, spec float64)) {
	tps, fps, _ := s.steps()
	var pos, neg float64
	if len(tps) > 0 {
		pos, neg = tps[len(tps)-1], fps[len(fps)-1]
	}
	rate := func(a, b float64) float64 {
		if b == 0 {
			return 0
		}
		return a / b
	}
	point(0, rate(neg, neg))
	for i := range tps {
		point(rate(tps[i], pos), rate(neg-fps[i], neg))
	}
}
