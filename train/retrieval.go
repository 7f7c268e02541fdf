package train

import (
	"context"
	"fmt"
	"math"
	"sort"

	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/tensor"
)

// RetrievalReport is how well an embedding model finds examples of a query's class among
// the references: pytorch-metric-learning's AccuracyCalculator metrics on the Euclidean
// distances of the embeddings as the model gives them (scikit-learn's NearestNeighbors).
type RetrievalReport struct {
	// PrecisionAt1 is the share of queries whose nearest reference has their class (the
	// recall@1 of the retrieval literature).
	PrecisionAt1 float64 `json:"precision_at_1"`
	// RecallAt5 is the share of queries with a reference of their class among the 5 nearest.
	RecallAt5 float64 `json:"recall_at_5"`
	// MAPAtR is the mean over queries of the average precision over the R nearest
	// references, R the number of references of the query's class.
	MAPAtR float64 `json:"map_at_r"`
	// KNNAccuracy is the share of queries whose 5 nearest references' majority class (the
	// smallest label among ties, as KNeighborsClassifier) is theirs.
	KNNAccuracy float64 `json:"knn_accuracy"`
	// Queries counts the queries scored; Skipped those left out because no reference has
	// their class. LeaveOneOut says each query was searched among the others.
	Queries     int  `json:"queries"`
	Skipped     int  `json:"skipped"`
	LeaveOneOut bool `json:"leave_one_out"`
}

// retrievalK is k of recall@k and of the k-NN accuracy.
const retrievalK = 5

// Retrieval scores queries (one embedding per row, labels qLabels) against references; with
// refs nil, each query is searched among the other queries (leave-one-out).
func Retrieval(queries []float64, qLabels []int64, refs []float64, rLabels []int64, dim int) RetrievalReport {
	rep := RetrievalReport{LeaveOneOut: refs == nil}
	if refs == nil {
		refs, rLabels = queries, qLabels
	}
	count := map[int64]int{}
	for _, l := range rLabels {
		count[l]++
	}
	nr := len(rLabels)
	dist := make([]float64, nr)
	order := make([]int, nr)
	var p1, r5, mapr, knn float64
	for q, ql := range qLabels {
		relevant := count[ql]
		if rep.LeaveOneOut {
			relevant-- // the query itself
		}
		if relevant <= 0 {
			rep.Skipped++
			continue
		}
		x := queries[q*dim : (q+1)*dim]
		order = order[:0]
		for r := range nr {
			if rep.LeaveOneOut && r == q {
				continue
			}
			var s float64
			for k, v := range refs[r*dim : (r+1)*dim] {
				s += (x[k] - v) * (x[k] - v)
			}
			dist[r] = math.Sqrt(s)
			order = append(order, r)
		}
		sort.SliceStable(order, func(i, j int) bool { return dist[order[i]] < dist[order[j]] })
		rep.Queries++
		if rLabels[order[0]] == ql {
			p1++
		}
		votes := map[int64]int{}
		for i := range min(retrievalK, len(order)) {
			l := rLabels[order[i]]
			votes[l]++
			if l == ql && votes[l] == 1 {
				r5++
			}
		}
		best, most := int64(math.MaxInt64), 0
		for l, v := range votes {
			if v > most || v == most && l < best {
				best, most = l, v
			}
		}
		if best == ql {
			knn++
		}
		var hits, ap float64
		for i := range relevant {
			if rLabels[order[i]] == ql {
				hits++
				ap += hits / float64(i+1)
			}
		}
		mapr += ap / float64(relevant)
	}
	if rep.Queries > 0 {
		n := float64(rep.Queries)
		rep.PrecisionAt1, rep.RecallAt5, rep.MAPAtR, rep.KNNAccuracy = p1/n, r5/n, mapr/n, knn/n
	}
	return rep
}

// Embed runs plan over a loader's epoch and returns output's rows, flattened ([N, D] as N*D
// values, D returned), with the examples' class labels.
func Embed(ctx context.Context, plan *graph.Plan, loader *data.Loader, output string) (rows []float64, labels []int64, dim int, err error) {
	input := plan.Graph.Inputs[0].Name
	for b, err := range loader.Epoch(ctx, 0) {
		if err != nil {
			return nil, nil, 0, err
		}
		outs, err := plan.Run(nil, map[string]*tensor.Tensor{input: b.X})
		if err != nil {
			return nil, nil, 0, err
		}
		y := outs[output]
		if y == nil || y.Rank() != 2 {
			return nil, nil, 0, fmt.Errorf("train: retrieval reads [N, D] embeddings; output %q is %v", output, y)
		}
		dim = y.Shape()[1]
		rows = append(rows, y.ToFloat64s()...)
		if b.Y == nil || b.Y.DType() != tensor.Int64 || b.Y.Rank() != 1 {
			return nil, nil, 0, fmt.Errorf("train: retrieval needs class-index labels; the data's targets are %v", b.Y)
		}
		labels = append(labels, b.Y.Int64s()...)
	}
	return rows, labels, dim, nil
}
