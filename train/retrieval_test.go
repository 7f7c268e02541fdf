package train_test

import (
	"testing"

	"github.com/onnxtune/onnxtune/train"
)

// TestRetrievalByHand: four points on a line, labels 0, 0, 1, 2. Leave-one-out, the two
// examples of class 0 are the only queries with a reference of their class; the first finds
// the other first, the second finds class 1 first; their 5-NN votes tie, and the smallest
// label, 0, wins.
func TestRetrievalByHand(t *testing.T) {
	rep := train.Retrieval([]float64{0, 1, 1.2, 5}, []int64{0, 0, 1, 2}, nil, nil, 1)
	want := train.RetrievalReport{PrecisionAt1: 0.5, RecallAt5: 1, MAPAtR: 0.5, KNNAccuracy: 1, Queries: 2, Skipped: 2, LeaveOneOut: true}
	if rep != want {
		t.Errorf("got %+v, want %+v", rep, want)
	}
}
