package loss

import (
	"fmt"
	"math"

	"github.com/onnxtune/onnxtune/tensor"
)

// The losses of embedding and distillation models: triplet and contrastive compare the
// model's outputs with each other (the target carries at most which pairs are similar), and
// kl-div compares the model's class distribution with a teacher's.

var (
	_ Unreducer = KLDiv{}
	_ Unreducer = Triplet{}
	_ Unreducer = Contrastive{}
)

// tripletEps is nn.TripletMarginLoss's default eps, added to each difference before its norm.
const tripletEps = 1e-6

func init() {
	Register(Spec{
		Name:    "kl-div",
		Summary: "KL divergence from target probabilities to softmax(output) over dim 1, for distillation from a teacher; the output holds logits",
		PyTorch: "nn.KLDivLoss(reduction='batchmean')(F.log_softmax(output, dim=1), target); reduction=sum and none as KLDivLoss's",
		Target:  "probabilities (e.g. a teacher's softmax) with the output's shape [N, C, ...], float",
		New: func(_ map[string]float64, p Params) (Loss, error) {
			return KLDiv{Reduction: p.Reduction}, nil
		},
	})
	Register(Spec{
		Name: "triplet",
		Summary: "triplet margin loss on embeddings: on [N, D] with class indices, the triplets formed in the batch (mining, distance); " +
			"or the output carries them, [N, 3, D] (anchor, positive, negative) or [3N, D] (N anchors, then N positives, then N negatives): max(0, |a-p| - |a-n| + margin)",
		PyTorch: "[N, D]: pytorch-metric-learning's TripletMarginLoss(margin) with LpDistance() or CosineSimilarity() and its " +
			"BatchHardMiner or TripletMarginMiner(type_of_triplets='semihard'); [N, 3, D]: nn.TripletMarginLoss(margin=margin, p=2, eps=1e-6)(anchor, positive, negative)",
		Target: "int class indices [N] for [N, D] embeddings; ignored for the forms that carry the triplets (give zeros [N], N triplets)",
		Options: []Option{
			{Key: "margin", Default: 1, Doc: "how much farther the negative must be than the positive"},
			{Key: "mining", Default: float64(MineAll), Choices: miningChoices, Doc: "[N, D]: the triplets: all, batch-hard (per anchor the farthest positive and nearest negative) or semi-hard (negatives farther than the positive by at most the margin)"},
			{Key: "distance", Default: float64(Euclidean), Choices: distanceChoices, Doc: "[N, D]: euclidean or cosine, between the L2-normalised embeddings"},
		},
		New: func(o map[string]float64, p Params) (Loss, error) {
			return Triplet{Margin: o["margin"], Mining: Mining(o["mining"]), Distance: Distance(o["distance"]), Reduction: p.Reduction}, nil
		},
	})
	Register(Spec{
		Name: "contrastive",
		Summary: "pair loss on embeddings: on [N, D] with class indices, every pair in the batch (relu(d - pos_margin) alike, relu(neg_margin - d) apart); " +
			"or the output carries the pairs, [N, 2, D] or [2N, D] (N first members, then N second), with y*d^2 + (1-y)*max(0, margin-d)^2",
		PyTorch: "[N, D]: pytorch-metric-learning's ContrastiveLoss(pos_margin, neg_margin) with LpDistance() or CosineSimilarity(); " +
			"pairs: d = (x1 - x2).norm(dim=1); (y*d**2 + (1-y)*(margin-d).clamp(min=0)**2).mean()",
		Target: "int class indices [N] for [N, D] embeddings; for pairs, [N] (or [N, 1]) float, int or bool: 1 for a similar pair, 0 for a dissimilar one",
		Options: []Option{
			{Key: "margin", Default: 1, Doc: "pairs: distance beyond which dissimilar pairs cost nothing"},
			{Key: "pos_margin", Default: 0, Doc: "[N, D]: distance within which same-class pairs cost nothing (a similarity above which, for cosine)"},
			{Key: "neg_margin", Default: 1, Doc: "[N, D]: distance beyond which other pairs cost nothing (a similarity below which, for cosine)"},
			{Key: "distance", Default: float64(Euclidean), Choices: distanceChoices, Doc: "[N, D]: euclidean or cosine, between the L2-normalised embeddings"},
		},
		New: func(o map[string]float64, p Params) (Loss, error) {
			return Contrastive{Margin: o["margin"], PosMargin: o["pos_margin"], NegMargin: o["neg_margin"], Distance: Distance(o["distance"]), Reduction: p.Reduction}, nil
		},
	})
}

// KLDiv is the distillation loss KL(target || softmax(y)) with y the model's logits [N, C, ...]
// and target probabilities of the same shape: nn.KLDivLoss(reduction='batchmean') applied to
// F.log_softmax(y, dim=1). Mean (and the value Eval reports for None) is batchmean: the sum
// divided by N, not by the element count. Per element the loss is t log t - t log softmax(y)_c,
// 0 where t = 0 (xlogy, as PyTorch), and its gradient with respect to y is
// softmax(y) * sum_c t - t, computed through a log-sum-exp so that logits of 1e4 stay finite.
type KLDiv struct{ Reduction Reduction }

// Name implements Loss.
func (KLDiv) Name() string { return "kl-div" }

// Reading implements Loss: probabilities shaped like the logits (class indices one-hot).
func (KLDiv) Reading() Reading { return Reading{Labels: FloatLabels, Scores: Logits} }

// Eval implements Loss.
func (l KLDiv) Eval(y, target *tensor.Tensor) (Value, error) {
	t, logp, err := klInputs(y, target)
	if err != nil {
		return Value{}, err
	}
	shape := y.Shape()
	n, c := shape[0], shape[1]
	inner := len(t) / max(n*c, 1)
	w := weightFor(l.Reduction, float64(n)) // batchmean
	k := 1 / w
	g := make([]float64, len(t))
	var sum float64
	for i := 0; i < n; i++ {
		for j := 0; j < inner; j++ {
			base := i*c*inner + j
			var mass float64
			for cl := 0; cl < c; cl++ {
				e := base + cl*inner
				sum += xlogx(t[e]) - t[e]*logp[e]
				mass += t[e]
			}
			for cl := 0; cl < c; cl++ {
				e := base + cl*inner
				g[e] = k * (math.Exp(logp[e])*mass - t[e])
			}
		}
	}
	return reducedValue(l.Reduction, sum, w, tensor.FromFloat64s(y.DType(), shape, g)), nil
}

// Unreduced implements Unreducer: t log t - t log softmax(y) per element, shaped like y.
func (KLDiv) Unreduced(y, target *tensor.Tensor) (*tensor.Tensor, error) {
	t, logp, err := klInputs(y, target)
	if err != nil {
		return nil, err
	}
	v := make([]float64, len(t))
	for e := range v {
		v[e] = xlogx(t[e]) - t[e]*logp[e]
	}
	return tensor.FromFloat64s(y.DType(), y.Shape(), v), nil
}

// klInputs checks kl-div's output and target and returns the target and log_softmax(y, 1).
func klInputs(y, target *tensor.Tensor) (t, logp []float64, err error) {
	if err := checkFloatOutput("kl-div", y); err != nil {
		return nil, nil, err
	}
	if y.Rank() < 2 {
		return nil, nil, fmt.Errorf("loss kl-div: output must be logits [N, C, ...], got %v", y)
	}
	if target == nil {
		return nil, nil, fmt.Errorf("loss kl-div: no target: want %s float probabilities", tensor.ShapeString(y.Shape()))
	}
	if err := sameShapeFloatTarget("kl-div", "probabilities", y, target); err != nil {
		return nil, nil, err
	}
	return values(target), LogSoftmax(values(y), y.Shape()), nil
}

// xlogx is x log x with 0 log 0 = 0 (torch.xlogy(x, x)).
func xlogx(x float64) float64 {
	if x == 0 {
		return 0
	}
	return x * math.Log(x)
}

// Triplet is nn.TripletMarginLoss(margin, p=2, eps=1e-6): per triplet
// max(0, |a - p + eps| - |a - n + eps| + Margin), the mean over triplets. The model's output
// carries the triplets, as [N, 3, D] (anchor, positive, negative for each sample) or as
// [3N, D] (a batch of N anchors, then N positives, then N negatives, as a single-input
// embedding network produces when it is fed the three batches concatenated). The target is
// ignored and may be nil. Unreduced gives [N].
type Triplet struct {
	Margin float64
	// Mining and Distance apply to the in-batch form, [N, D] with class indices (inBatch).
	Mining    Mining
	Distance  Distance
	Reduction Reduction
}

// Name implements Loss.
func (Triplet) Name() string { return "triplet" }

// Reading implements Loss: a target of its own; the output holds embeddings.
func (Triplet) Reading() Reading { return Reading{Labels: OwnTarget} }

// Eval implements Loss.
func (l Triplet) Eval(y, target *tensor.Tensor) (Value, error) {
	if err := checkFloatOutput("triplet", y); err != nil {
		return Value{}, err
	}
	if inBatch(y, target) {
		return l.inBatch(y, target)
	}
	if l.Mining != MineAll || l.Distance != Euclidean {
		return Value{}, fmt.Errorf("loss triplet: mining and distance apply to [N, D] embeddings with [N] class indices; got %v and target %v", y, target)
	}
	e, err := embeddings("triplet", y, 3, "(anchor, positive, negative)", "N anchors, then N positives, then N negatives")
	if err != nil {
		return Value{}, err
	}
	w := weightFor(l.Reduction, float64(e.n))
	k := 1 / w
	g := make([]float64, len(e.x))
	dp, dn := make([]float64, e.d), make([]float64, e.d)
	var sum float64
	for i := 0; i < e.n; i++ {
		a, p, n := e.at(i, 0), e.at(i, 1), e.at(i, 2)
		np, nn := tripletDiff(dp, e.x[a:a+e.d], e.x[p:p+e.d]), tripletDiff(dn, e.x[a:a+e.d], e.x[n:n+e.d])
		h := l.Margin + np - nn
		if h < 0 { // PyTorch's clamp_min passes the gradient at h = 0
			continue
		}
		sum += h
		// d|v|/dv = v/|v|, taken as 0 at v = 0 as torch.norm does.
		cp, cn := k/np, k/nn
		if np == 0 {
			cp = 0
		}
		if nn == 0 {
			cn = 0
		}
		for j := 0; j < e.d; j++ {
			g[a+j] += cp*dp[j] - cn*dn[j]
			g[p+j] -= cp * dp[j]
			g[n+j] += cn * dn[j]
		}
	}
	return reducedValue(l.Reduction, sum, w, tensor.FromFloat64s(y.DType(), y.Shape(), g)), nil
}

// Unreduced implements Unreducer: one loss per triplet, [N], for the forms that carry them.
func (l Triplet) Unreduced(y, target *tensor.Tensor) (*tensor.Tensor, error) {
	if inBatch(y, target) {
		return nil, fmt.Errorf("loss triplet: reduction=none gives one value per triplet, and in-batch triplets depend on the batch")
	}
	e, err := embeddings("triplet", y, 3, "(anchor, positive, negative)", "N anchors, then N positives, then N negatives")
	if err != nil {
		return nil, err
	}
	v := make([]float64, e.n)
	dp, dn := make([]float64, e.d), make([]float64, e.d)
	for i := range v {
		a, p, n := e.at(i, 0), e.at(i, 1), e.at(i, 2)
		h := l.Margin + tripletDiff(dp, e.x[a:a+e.d], e.x[p:p+e.d]) - tripletDiff(dn, e.x[a:a+e.d], e.x[n:n+e.d])
		v[i] = math.Max(h, 0)
	}
	return tensor.FromFloat64s(y.DType(), []int{e.n}, v), nil
}

// tripletDiff writes u - v + eps into dst (torch.pairwise_distance adds eps to the difference)
// and returns its Euclidean norm.
func tripletDiff(dst, u, v []float64) float64 {
	var s float64
	for j := range dst {
		dst[j] = u[j] - v[j] + tripletEps
		s += dst[j] * dst[j]
	}
	return math.Sqrt(s)
}

// Contrastive is the Siamese pair loss of Hadsell, Chopra and LeCun (without their factor 1/2):
// per pair y d^2 + (1 - y) max(0, Margin - d)^2, with d = |x1 - x2| the Euclidean distance of
// the pair's embeddings and y = 1 for a similar pair, 0 for a dissimilar one; the mean over
// pairs. The output carries the pairs, as [N, 2, D] or as [2N, D] (N first members, then their N
// partners); the target holds y, [N] or [N, 1]. Unreduced gives [N].
type Contrastive struct {
	Margin float64
	// PosMargin, NegMargin and Distance apply to the in-batch form, [N, D] with class
	// indices (inBatch).
	PosMargin, NegMargin float64
	Distance             Distance
	Reduction            Reduction
}

// Name implements Loss.
func (Contrastive) Name() string { return "contrastive" }

// Reading implements Loss: a target of its own; the output holds embeddings.
func (Contrastive) Reading() Reading { return Reading{Labels: OwnTarget} }

// Eval implements Loss.
func (l Contrastive) Eval(y, target *tensor.Tensor) (Value, error) {
	if err := checkFloatOutput("contrastive", y); err != nil {
		return Value{}, err
	}
	if inBatch(y, target) {
		return l.inBatch(y, target)
	}
	e, sim, err := contrastiveInputs(y, target)
	if err != nil {
		return Value{}, err
	}
	w := weightFor(l.Reduction, float64(e.n))
	k := 1 / w
	g := make([]float64, len(e.x))
	diff := make([]float64, e.d)
	var sum float64
	for i := 0; i < e.n; i++ {
		u, v := e.at(i, 0), e.at(i, 1)
		d := distance(diff, e.x[u:u+e.d], e.x[v:v+e.d])
		h := math.Max(l.Margin-d, 0)
		s := sim[i]
		sum += s*d*d + (1-s)*h*h
		// d(d^2)/dx1 = 2 diff; d(h^2)/dx1 = -2 h diff/d, 0 at d = 0 as torch.norm's gradient.
		c := 2 * s
		if d > 0 {
			c -= 2 * (1 - s) * h / d
		}
		c *= k
		for j := 0; j < e.d; j++ {
			g[u+j] += c * diff[j]
			g[v+j] -= c * diff[j]
		}
	}
	return reducedValue(l.Reduction, sum, w, tensor.FromFloat64s(y.DType(), y.Shape(), g)), nil
}

// Unreduced implements Unreducer: one loss per pair, [N], for the forms that carry them.
func (l Contrastive) Unreduced(y, target *tensor.Tensor) (*tensor.Tensor, error) {
	if inBatch(y, target) {
		return nil, fmt.Errorf("loss contrastive: reduction=none gives one value per pair, and in-batch pairs depend on the batch")
	}
	e, sim, err := contrastiveInputs(y, target)
	if err != nil {
		return nil, err
	}
	v := make([]float64, e.n)
	diff := make([]float64, e.d)
	for i := range v {
		a, b := e.at(i, 0), e.at(i, 1)
		d := distance(diff, e.x[a:a+e.d], e.x[b:b+e.d])
		h := math.Max(l.Margin-d, 0)
		v[i] = sim[i]*d*d + (1-sim[i])*h*h
	}
	return tensor.FromFloat64s(y.DType(), []int{e.n}, v), nil
}

func contrastiveInputs(y, target *tensor.Tensor) (embeddingSet, []float64, error) {
	e, err := embeddings("contrastive", y, 2, "pairs", "N first members, then their N partners")
	if err != nil {
		return e, nil, err
	}
	want := fmt.Sprintf("[%d] float, int or bool values (1 = similar pair, 0 = dissimilar)", e.n)
	if target == nil {
		return e, nil, fmt.Errorf("loss contrastive: no target: want %s", want)
	}
	s := target.Shape()
	if !(len(s) == 1 && s[0] == e.n) && !(len(s) == 2 && s[0] == e.n && s[1] == 1) {
		return e, nil, shapeError("contrastive", y, target, want)
	}
	if dt := target.DType(); !dt.IsFloat() && !dt.IsInteger() && dt != tensor.Bool {
		return e, nil, fmt.Errorf("loss contrastive: target %v holds %v values: want %s", target, target.DType(), want)
	}
	return e, values(target), nil
}

// distance writes u - v into dst and returns its Euclidean norm.
func distance(dst, u, v []float64) float64 {
	var s float64
	for j := range dst {
		dst[j] = u[j] - v[j]
		s += dst[j] * dst[j]
	}
	return math.Sqrt(s)
}

// embeddingSet is a model output read as N groups of k embeddings of size d.
type embeddingSet struct {
	x       []float64
	n, k, d int
	grouped bool // [N, k, D] rather than [kN, D]
}

// at returns the offset in x of member j of group i.
func (e embeddingSet) at(i, j int) int {
	if e.grouped {
		return (i*e.k + j) * e.d
	}
	return (j*e.n + i) * e.d
}

// embeddings reads y as [N, k, D] or [kN, D].
func embeddings(name string, y *tensor.Tensor, k int, grouped, stacked string) (embeddingSet, error) {
	if err := checkFloatOutput(name, y); err != nil {
		return embeddingSet{}, err
	}
	s := y.Shape()
	switch {
	case len(s) == 3 && s[1] == k:
		return embeddingSet{x: values(y), n: s[0], k: k, d: s[2], grouped: true}, nil
	case len(s) == 2 && s[0]%k == 0:
		return embeddingSet{x: values(y), n: s[0] / k, k: k, d: s[1]}, nil
	}
	return embeddingSet{}, fmt.Errorf("loss %s: output must be embeddings [N, %d, D] %s or [%dN, D] (%s), got %v", name, k, grouped, k, stacked, y)
}
