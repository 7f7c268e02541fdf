package loss

import (
	"fmt"
	"math"

	"github.com/onnxtune/onnxtune/tensor"
)

// The in-batch forms of triplet and contrastive: on [N, D] embeddings with class-index
// targets [N], the triplets or pairs are formed inside the batch from the labels, as
// pytorch-metric-learning (PML) forms them. Its default distance normalises the embeddings
// first (LpDistance(normalize_embeddings=True)), and so does CosineSimilarity; its
// AvgNonZeroReducer averages the terms that are positive. testdata/gen_metric.py writes the
// formulas out in PyTorch.

// Mining chooses the triplets of an in-batch triplet loss.
type Mining int

const (
	MineAll       Mining = iota // every valid triplet
	MineBatchHard               // per anchor, the farthest positive and the nearest negative
	MineSemiHard                // negatives farther than the positive, by at most the margin
)

// miningChoices and distanceChoices are the words of the options, in the constants' order.
var (
	miningChoices   = []string{"all", "batch-hard", "semi-hard"}
	distanceChoices = []string{"euclidean", "cosine"}
)

// Distance measures embeddings in an in-batch loss.
type Distance int

const (
	Euclidean Distance = iota // |u_i - u_j| of the L2-normalised rows
	Cosine                    // u_i . u_j: a similarity, larger is closer
)

// NormalizeEps is F.normalize's eps: a row of norm below it is divided by it instead. The
// in-batch losses normalise with it, and so does the L2 normalisation train appends to an
// embedding model.
const NormalizeEps = 1e-12

// batchSet is a batch of embeddings read for an in-batch loss: the rows normalised, their
// norms, the labels and the distance (or similarity) matrix.
type batchSet struct {
	n, d   int
	u      []float64 // normalised rows
	norm   []float64
	labels []int64
	mat    []float64 // n x n
	dist   Distance
}

// inBatch reports whether y and target are an in-batch pair: [N, D] embeddings and [N] class
// indices.
func inBatch(y, target *tensor.Tensor) bool {
	return y != nil && target != nil && y.Rank() == 2 && target.Rank() == 1 &&
		target.Shape()[0] == y.Shape()[0] && target.DType().IsInteger()
}

func newBatchSet(y, target *tensor.Tensor, dist Distance) batchSet {
	n, d := y.Shape()[0], y.Shape()[1]
	x := values(y)
	b := batchSet{n: n, d: d, u: make([]float64, n*d), norm: make([]float64, n), labels: target.ToInt64s(), mat: make([]float64, n*n), dist: dist}
	for i := range n {
		var s float64
		for _, v := range x[i*d : (i+1)*d] {
			s += v * v
		}
		b.norm[i] = math.Sqrt(s)
		den := math.Max(b.norm[i], NormalizeEps)
		for k := range d {
			b.u[i*d+k] = x[i*d+k] / den
		}
	}
	for i := range n {
		for j := range n {
			ui, uj := b.u[i*d:(i+1)*d], b.u[j*d:(j+1)*d]
			var s float64
			for k := range d {
				if dist == Cosine {
					s += ui[k] * uj[k]
				} else {
					s += (ui[k] - uj[k]) * (ui[k] - uj[k])
				}
			}
			if dist == Euclidean {
				s = math.Sqrt(s)
			}
			b.mat[i*n+j] = s
		}
	}
	return b
}

// sign is 1 for a distance, which grows away from a match, and -1 for a similarity, which
// shrinks.
func (b batchSet) sign() float64 {
	if b.dist == Cosine {
		return -1
	}
	return 1
}

// at is entry (i, j) of the matrix.
func (b batchSet) at(i, j int) float64 { return b.mat[i*b.n+j] }

// gap is how much closer than q the example p is to a: d_aq - d_ap, or s_ap - s_aq for a
// similarity. A triplet (a, p, q) costs relu(margin - gap).
func (b batchSet) gap(a, p, q int) float64 { return b.sign() * (b.at(a, q) - b.at(a, p)) }

// triplets lists the triplets the mining keeps.
func (b batchSet) triplets(mining Mining, margin float64) [][3]int {
	var out [][3]int
	for a := range b.n {
		if mining == MineBatchHard {
			p, q := -1, -1
			for j := range b.n {
				switch {
				case j != a && b.labels[j] == b.labels[a]:
					if p < 0 || b.farther(a, j, p) {
						p = j
					}
				case b.labels[j] != b.labels[a]:
					if q < 0 || b.farther(a, q, j) {
						q = j
					}
				}
			}
			if p >= 0 && q >= 0 {
				out = append(out, [3]int{a, p, q})
			}
			continue
		}
		for p := range b.n {
			if p == a || b.labels[p] != b.labels[a] {
				continue
			}
			for q := range b.n {
				if b.labels[q] == b.labels[a] {
					continue
				}
				if g := b.gap(a, p, q); mining == MineSemiHard && !(g > 0 && g <= margin) {
					continue
				}
				out = append(out, [3]int{a, p, q})
			}
		}
	}
	return out
}

// farther reports whether j is strictly farther from a than k (less similar, for a
// similarity): the first of equals is kept, as torch.max and torch.min keep it.
func (b batchSet) farther(a, j, k int) bool { return b.sign()*(b.at(a, j)-b.at(a, k)) > 0 }

// gradient turns dL/dmat into dL/dy: through the distance (or dot product) and the
// normalisation.
func (b batchSet) gradient(gmat []float64) []float64 {
	n, d := b.n, b.d
	gu := make([]float64, n*d)
	for i := range n {
		for j := range n {
			g := gmat[i*n+j]
			if g == 0 {
				continue
			}
			ui, uj := b.u[i*d:(i+1)*d], b.u[j*d:(j+1)*d]
			if b.dist == Cosine {
				for k := range d {
					gu[i*d+k] += g * uj[k]
					gu[j*d+k] += g * ui[k]
				}
				continue
			}
			m := b.at(i, j)
			if m == 0 { // torch.cdist's gradient at a zero distance
				continue
			}
			for k := range d {
				c := g * (ui[k] - uj[k]) / m
				gu[i*d+k] += c
				gu[j*d+k] -= c
			}
		}
	}
	gx := make([]float64, n*d)
	for i := range n {
		u, g := b.u[i*d:(i+1)*d], gu[i*d:(i+1)*d]
		if b.norm[i] <= NormalizeEps {
			for k := range d {
				gx[i*d+k] = g[k] / NormalizeEps
			}
			continue
		}
		var dot float64
		for k := range d {
			dot += u[k] * g[k]
		}
		for k := range d {
			gx[i*d+k] = (g[k] - u[k]*dot) / b.norm[i]
		}
	}
	return gx
}

// reduceTerms reduces an in-batch loss's terms as pytorch-metric-learning does: their sum
// with reduction=sum, otherwise AvgNonZeroReducer's mean over the positive terms (0 when
// none). weight is d(value)/d(term) for a positive term.
func reduceTerms(terms []float64, r Reduction) (value, weight float64) {
	if r == Sum {
		for _, t := range terms {
			value += t
		}
		return value, 1
	}
	count := 0
	for _, t := range terms {
		if t > 0 {
			value += t
			count++
		}
	}
	if count == 0 {
		return 0, 0
	}
	return value / float64(count), 1 / float64(count)
}

// inBatch is Triplet on [N, D] embeddings with class-index targets: relu(margin - gap) over
// the mined triplets, averaged over the positive ones (summed with reduction=sum). A batch's
// Value has Weight 1: a data set's loss is the mean of its batches'.
func (l Triplet) inBatch(y, target *tensor.Tensor) (Value, error) {
	if l.Reduction == None {
		return Value{}, fmt.Errorf("loss triplet: reduction=none gives one value per triplet, and in-batch triplets depend on the batch: use mean or sum")
	}
	b := newBatchSet(y, target, l.Distance)
	ts := b.triplets(l.Mining, l.Margin)
	terms := make([]float64, len(ts))
	for i, t := range ts {
		terms[i] = math.Max(l.Margin-b.gap(t[0], t[1], t[2]), 0)
	}
	value, k := reduceTerms(terms, l.Reduction)
	sign := b.sign() // d(term)/d(mat[a][p]) where the term is positive
	gmat := make([]float64, b.n*b.n)
	for i, t := range ts {
		if terms[i] <= 0 {
			continue
		}
		a, p, q := t[0], t[1], t[2]
		gmat[a*b.n+p] += sign * k
		gmat[a*b.n+q] -= sign * k
	}
	return Value{Sum: value, Weight: 1, Summed: l.Reduction == Sum, Grad: tensor.FromFloat64s(y.DType(), y.Shape(), b.gradient(gmat))}, nil
}

// inBatch is Contrastive on [N, D] embeddings with class-index targets: every ordered pair,
// relu(d - PosMargin) for a same-class pair and relu(NegMargin - d) for the others (for a
// similarity, relu(PosMargin - s) and relu(s - NegMargin)), each set averaged over its
// positive terms and the two added.
func (l Contrastive) inBatch(y, target *tensor.Tensor) (Value, error) {
	if l.Reduction == None {
		return Value{}, fmt.Errorf("loss contrastive: reduction=none gives one value per pair, and in-batch pairs depend on the batch: use mean or sum")
	}
	b := newBatchSet(y, target, l.Distance)
	sign := b.sign()
	var pos, neg [][2]int
	var posTerms, negTerms []float64
	for i := range b.n {
		for j := range b.n {
			m := b.at(i, j)
			switch {
			case i != j && b.labels[i] == b.labels[j]:
				pos = append(pos, [2]int{i, j})
				posTerms = append(posTerms, math.Max(sign*(m-l.PosMargin), 0))
			case b.labels[i] != b.labels[j]:
				neg = append(neg, [2]int{i, j})
				negTerms = append(negTerms, math.Max(sign*(l.NegMargin-m), 0))
			}
		}
	}
	gmat := make([]float64, b.n*b.n)
	var value float64
	for _, set := range []struct {
		pairs [][2]int
		terms []float64
		slope float64 // d(term)/d(mat) where the term is positive
	}{{pos, posTerms, sign}, {neg, negTerms, -sign}} {
		v, k := reduceTerms(set.terms, l.Reduction)
		value += v
		for i, pr := range set.pairs {
			if set.terms[i] > 0 {
				gmat[pr[0]*b.n+pr[1]] += set.slope * k
			}
		}
	}
	return Value{Sum: value, Weight: 1, Summed: l.Reduction == Sum, Grad: tensor.FromFloat64s(y.DType(), y.Shape(), b.gradient(gmat))}, nil
}
