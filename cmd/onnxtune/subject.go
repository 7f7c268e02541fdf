package main

import (
	"fmt"

	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/loss"
	"github.com/onnxtune/onnxtune/onnx"
	"github.com/onnxtune/onnxtune/train"
)

// subject is a model loaded to be measured on labelled data the way eval measures it (the
// commands that fit something to a model's scores, such as calibrate, read them the same way).
type subject struct {
	path  string
	model *onnx.Model
	plan  *graph.Plan
	rec   train.Recorded
	// opt has the loss, the output, how the output is read and the penalties' weights;
	// setLabels adds the data's labels.
	opt      train.EvalOptions
	lossSpec string // the loss measured, "" for none (a softmax's probabilities)
	image    data.ImageTransform
	// pre is the preprocessing the model file carries, taken out of plan (train.Unembed).
	pre *train.Preprocessing
}

// subjectFlags are the command-line choices that shape a subject.
type subjectFlags struct {
	output, loss string
	classWeights []float64
	mean, std    []float32
}

// loadSubject loads the model at path, without the preprocessing it may carry (whose mean
// and std are then the default). The loss is f.loss, else the one the model records
// (with its class weights unless f gives some), else train.DefaultLoss of the output.
func loadSubject(path string, f subjectFlags) (*subject, error) {
	model, plan, pre, err := loadDataModel(path)
	if err != nil {
		return nil, err
	}
	g := plan.Graph
	if len(g.Inputs) != 1 {
		return nil, fmt.Errorf("%s: the model has %d inputs; onnxtune feeds data to one", path, len(g.Inputs))
	}
	if f.output == "" && len(g.Outputs) > 0 {
		f.output = g.Outputs[0].Name
	}
	rec, err := train.ReadRecorded(model)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	s := &subject{path: path, model: model, plan: plan, rec: rec, pre: pre, opt: train.EvalOptions{Output: f.output}, lossSpec: f.loss}
	weights := f.classWeights
	switch {
	case s.lossSpec != "":
	case rec.Loss != "":
		s.lossSpec = rec.Loss
		if weights == nil {
			weights = rec.ClassWeights
		}
	default:
		s.lossSpec, s.opt.Scores = train.DefaultLoss(g, f.output)
	}
	if s.lossSpec != "" {
		if s.opt.Loss, err = loss.ParseExpr(s.lossSpec, loss.Params{ClassWeights: weights}); err != nil {
			return nil, usagef("--loss: %v", err)
		}
		s.lossSpec = s.opt.Loss.String()
	}
	if s.opt.Weights, err = rec.PenaltyWeights(g); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	mean, std := pre.Defaults(f.mean, f.std)
	s.image = train.InputTransform(g, mean, std)
	return s, nil
}

// open opens a labelled data set for the model's input; a directory of IDX files gives its
// test split.
func (s *subject) open(path string) (data.Dataset, error) {
	ds, err := data.Open(path, data.Options{InputName: s.plan.Graph.Inputs[0].Name, Split: "t10k", Image: s.image})
	if err == nil && ds.Len() == 0 {
		err = fmt.Errorf("%s holds no examples", path)
	}
	return ds, err
}

// setLabels reads ds's labels, with positive (by name or index; "" for the one the model
// records) as the positive class, into s.opt.
func (s *subject) setLabels(ds data.Dataset, dataPath, positive string) (err error) {
	if positive == "" {
		positive = s.rec.PositiveClass
	}
	if ds.Classes() == nil && s.rec.Classes != nil {
		ds = recordedNames{ds, s.rec.Classes} // class indices named as in training
	}
	if s.opt.Labels, err = train.DataLabels(ds, positive); err != nil {
		return fmt.Errorf("%s: %w", dataPath, err)
	}
	s.opt.Classes = ds.Classes()
	return nil
}

// recordedNames names the classes of a data set that has only indices (an .npz, IDX files)
// with the names the model records from its training data.
type recordedNames struct {
	data.Dataset
	names []string
}

func (r recordedNames) Classes() []string { return r.names }

// recordedPositive reports whether the positive class chosen (setLabels) is the one the model
// records, on ds.
func (s *subject) recordedPositive(ds data.Dataset) bool {
	rec, err := train.DataLabels(ds, s.rec.PositiveClass)
	return err == nil && rec.PositiveClass() == s.opt.Labels.PositiveClass()
}
