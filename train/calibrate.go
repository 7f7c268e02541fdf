package train

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"

	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/tensor"
)

// Calibration is a binary classifier's operating point fitted on data and written into the
// model (AppendDecision), with what the model's decision output gives on that data.
type Calibration struct {
	Model    *DecisionModel
	Op       OperatingPoint
	Decision Decision
	// Data names the data it was fitted on; Examples counts them.
	Data     string
	Examples int
	// PositiveClass names the positive class, NegativeClass the rest.
	PositiveClass, NegativeClass string
	// The counts of the decision output on the data, and the rates made of them.
	TruePositives, FalsePositives, TrueNegatives, FalseNegatives int64
	Sensitivity, Specificity                                     float64
}

// Calibrate fits op on the scores plan gives the loader's data (Evaluate with opt; the data
// must make the output a binary classifier's), writes the decision into the model
// (AppendDecision) and runs that model on the same data to count what its decision output
// decides: the numbers a second runtime running the exported model reproduces. dataName
// names the data in the metadata.
func Calibrate(ctx context.Context, plan *graph.Plan, loader *data.Loader, opt EvalOptions, op OperatingPoint, dataName string) (*Calibration, error) {
	rep, err := Evaluate(ctx, plan, loader.Epoch(ctx, 0), opt)
	if err != nil {
		return nil, err
	}
	b := rep.BinaryReport
	if b == nil {
		return nil, errors.New("train: calibrate: the model's output is not a binary classifier's on this data (want one logit, a two-class data set, or a positive class)")
	}
	d, err := op.Fit(b.Scores)
	if err != nil {
		return nil, err
	}
	output := opt.Output
	if output == "" {
		output = plan.Graph.Outputs[0].Name
	}
	dm, err := AppendDecision(plan.Graph, output, b.Scores.Source, d)
	if err != nil {
		return nil, err
	}
	c := &Calibration{Model: dm, Op: op, Decision: d, Data: dataName, Examples: len(b.Scores.Positive), PositiveClass: b.PositiveClass, NegativeClass: rep.Classes[0].Name}
	if err := c.count(ctx, loader, b.Scores.Positive, opt.Graph); err != nil {
		return nil, err
	}
	return c, nil
}

// count runs the model with the decision on the loader's data and counts its decisions
// against truth, the examples' classes in the loader's order.
func (c *Calibration) count(ctx context.Context, loader *data.Loader, truth []bool, gctx *graph.Context) error {
	plan, err := graph.NewPlan(c.Model.Graph)
	if err != nil {
		return fmt.Errorf("train: calibrate: %w", err)
	}
	input := c.Model.Graph.Inputs[0].Name
	i := 0
	for batch, err := range loader.Epoch(ctx, 0) {
		if err != nil {
			return err
		}
		outs, err := plan.Run(gctx, map[string]*tensor.Tensor{input: batch.X})
		if err != nil {
			return err
		}
		decided := outs[c.Model.Decision]
		if decided == nil || decided.DType() != tensor.Bool || i+decided.Len() > len(truth) {
			return fmt.Errorf("train: calibrate: decision output %v after %d of %d examples", decided, i, len(truth))
		}
		for _, pred := range decided.Data().([]bool) {
			switch {
			case pred && truth[i]:
				c.TruePositives++
			case pred:
				c.FalsePositives++
			case truth[i]:
				c.FalseNegatives++
			default:
				c.TrueNegatives++
			}
			i++
		}
	}
	if i != len(truth) {
		return fmt.Errorf("train: calibrate: the decision output covers %d of %d examples", i, len(truth))
	}
	c.Sensitivity = ratio(c.TruePositives, c.TruePositives+c.FalseNegatives)
	c.Specificity = ratio(c.TrueNegatives, c.TrueNegatives+c.FalsePositives)
	return nil
}

// Threshold is the calibrated probability at or above which the model decides positive:
// sigmoid of the cut.
func (c *Calibration) Threshold() float64 { return sigmoid(c.Decision.Cut) }

// decisionKeys are the metadata keys (less MetadataPrefix) of a decision (Metadata).
var decisionKeys = []string{"scores_output", "probability_output", "decision_output", "temperature", "threshold",
	"threshold_log_odds", "sensitivity", "specificity", "calibration_data", "calibration_examples", "target_sensitivity"}

// WithoutDecision returns a copy of the metadata meta (full keys) without a decision's
// records: what a model keeps when its decision is refitted or dropped.
func WithoutDecision(meta map[string]string) map[string]string {
	out := maps.Clone(meta)
	for _, k := range decisionKeys {
		delete(out, MetadataPrefix+k)
	}
	return out
}

// Metadata is what the model records of its decision (decisionKeys), under MetadataPrefix.
func (c *Calibration) Metadata() map[string]string {
	m := map[string]string{
		"scores_output":        c.Model.Scores,
		"probability_output":   c.Model.Probability,
		"decision_output":      c.Model.Decision,
		"positive_class":       c.PositiveClass,
		"temperature":          metaFloat(c.Decision.Temperature),
		"threshold":            metaFloat(c.Threshold()),
		"threshold_log_odds":   metaFloat(c.Decision.Cut),
		"sensitivity":          metaFloat(c.Sensitivity),
		"specificity":          metaFloat(c.Specificity),
		"calibration_data":     c.Data,
		"calibration_examples": strconv.Itoa(c.Examples),
	}
	if c.Op.TargetSensitivity != 0 {
		m["target_sensitivity"] = metaFloat(c.Op.TargetSensitivity)
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[MetadataPrefix+k] = v
	}
	return out
}
