package train

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/onnxtune/onnxtune/backprop"
	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/loss"
	"github.com/onnxtune/onnxtune/onnx"
	"github.com/onnxtune/onnxtune/tensor"
)

// Recorded is what a model tuned by onnxtune says about its training (the metadata_props
// Run writes): what `onnxtune eval` measures it with unless told otherwise.
type Recorded struct {
	// Loss is the loss expression it was trained with ("" when not recorded), ClassWeights
	// that loss's class weights.
	Loss         string
	ClassWeights []float64
	// PositiveClass is the positive class of a binary classifier, by name or index.
	PositiveClass string
	// TrainOnly and Freeze selected the weights trained: those the loss's penalties read.
	TrainOnly, Freeze string
	// Decision is the operating point the model carries (Calibration.Metadata), nil for none.
	Decision *RecordedDecision
	// Classes names the classes of the training data, in label order (nil when not
	// recorded); Mean and Std are the normalisation its images got (nil for none recorded).
	Classes   []string
	Mean, Std []float32
}

// RecordedDecision is the decision written into a model: its scores output, the temperature
// and threshold (a calibrated probability), and the data they were fitted on.
type RecordedDecision struct {
	Scores                 string
	Temperature, Threshold float64
	Data                   string
}

// ReadRecorded reads what m records of its training; a model onnxtune did not write records
// nothing.
func ReadRecorded(m *onnx.Model) (Recorded, error) {
	meta := map[string]string{}
	for k, v := range OwnMetadata(m) {
		meta[strings.TrimPrefix(k, MetadataPrefix)] = v
	}
	r := Recorded{Loss: meta["loss"], PositiveClass: meta["positive_class"], TrainOnly: meta["train_only"], Freeze: meta["freeze"]}
	if w := meta["class_weights"]; w != "" {
		for _, f := range strings.Split(w, ",") {
			v, err := strconv.ParseFloat(f, 64)
			if err != nil {
				return Recorded{}, fmt.Errorf("train: the model's metadata %sclass_weights %q is not a list of numbers", MetadataPrefix, w)
			}
			r.ClassWeights = append(r.ClassWeights, v)
		}
	}
	if c := meta["classes"]; c != "" {
		if err := json.Unmarshal([]byte(c), &r.Classes); err != nil {
			return Recorded{}, fmt.Errorf("train: the model's metadata %sclasses %q is not a JSON list of names", MetadataPrefix, c)
		}
	}
	for _, f := range []struct {
		key string
		v   *[]float32
	}{{"mean", &r.Mean}, {"std", &r.Std}} {
		if meta[f.key] == "" {
			continue
		}
		for _, part := range strings.Split(meta[f.key], ",") {
			v, err := strconv.ParseFloat(strings.TrimSpace(part), 32)
			if err != nil {
				return Recorded{}, fmt.Errorf("train: the model's metadata %s%s %q is not a list of numbers", MetadataPrefix, f.key, meta[f.key])
			}
			*f.v = append(*f.v, float32(v))
		}
	}
	if meta["decision_output"] != "" {
		d := &RecordedDecision{Scores: meta["scores_output"], Data: meta["calibration_data"]}
		for _, f := range []struct {
			key string
			v   *float64
		}{{"temperature", &d.Temperature}, {"threshold", &d.Threshold}} {
			v, err := strconv.ParseFloat(meta[f.key], 64)
			if err != nil || !(v > 0) {
				return Recorded{}, fmt.Errorf("train: the model carries a decision, but its metadata %s%s %q is not a positive number", MetadataPrefix, f.key, meta[f.key])
			}
			*f.v = v
		}
		r.Decision = d
	}
	return r, nil
}

// OwnMetadata returns the metadata_props of m that onnxtune wrote: those whose key starts
// with MetadataPrefix.
func OwnMetadata(m *onnx.Model) map[string]string {
	meta := map[string]string{}
	for _, p := range m.Proto.GetMetadataProps() {
		if strings.HasPrefix(p.GetKey(), MetadataPrefix) {
			meta[p.GetKey()] = p.GetValue()
		}
	}
	return meta
}

// PenaltyWeights returns the weights the loss's penalties (l2) read when the model is
// evaluated: those its training selected (every trainable initializer when it records no
// selection).
func (r Recorded) PenaltyWeights(g *graph.Graph) (map[string]*tensor.Tensor, error) {
	names, err := SelectTrainable(backprop.Trainable(g), r.TrainOnly, r.Freeze)
	if err != nil {
		return nil, err
	}
	w := make(map[string]*tensor.Tensor, len(names))
	for _, name := range names {
		w[name] = g.Initializers[name]
	}
	return w, nil
}

// DefaultLoss is the loss a classifier's output is evaluated with when neither the user nor
// the model's metadata names one, by what the output holds: bce for a Sigmoid's
// probabilities, nll for a LogSoftmax's log-probabilities, bce-logits for one logit per
// example ([N] or [N, 1]), cross-entropy for C >= 2 logits. It returns "" for a Softmax's
// probabilities, which no loss of onnxtune reads as they are; scores then says how to read
// them for the metrics.
func DefaultLoss(g *graph.Graph, output string) (spec string, scores loss.ScoreKind) {
	switch producerOp(g, output) {
	case "Sigmoid":
		return "bce", loss.Probabilities
	case "LogSoftmax":
		return "nll", loss.LogProbabilities
	case "Softmax":
		return "", loss.Probabilities
	}
	for _, o := range g.Outputs {
		if o.Name != output {
			continue
		}
		if s := o.Shape; len(s) == 1 || (len(s) == 2 && s[1].Size == 1) {
			return "bce-logits", loss.Logits
		}
	}
	return "cross-entropy", loss.Logits
}

// producerOp is the operator that computes value, looking through Identity; "" for a graph
// input or initializer.
func producerOp(g *graph.Graph, value string) string {
	for i := len(g.Nodes) - 1; i >= 0; i-- {
		n := g.Nodes[i]
		for _, out := range n.Outputs {
			if out != value {
				continue
			}
			if n.OpType == "Identity" && n.Domain == "" && len(n.Inputs) == 1 {
				return producerOp(g, n.Inputs[0])
			}
			if n.Domain != "" {
				return ""
			}
			return n.OpType
		}
	}
	return ""
}
