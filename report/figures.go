package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/onnxtune/onnxtune/train"
)

// dpi is the resolution of the figures: sharp on a high-density screen at their CSS size.
const dpi = 144

var (
	grey       = color.Gray{Y: 128}
	pointColor = color.RGBA{R: 214, G: 39, B: 40, A: 255}
	barColor   = color.NRGBA{R: 70, G: 130, B: 180, A: 150} // translucent: the grid and diagonal show through
	beforeRed  = color.RGBA{R: 255, G: 127, B: 14, A: 255}
)

// figure is one plot of w by h and, when legend is set, a legend outside the data, where it
// cannot hide a curve: to the right of the plot, or below it (the figure grows to hold it).
type figure struct {
	p      *plot.Plot
	w, h   vg.Length
	legend *plot.Legend
	below  bool
}

// png draws the figure at dpi.
func (f figure) png() ([]byte, error) {
	pad := vg.Points(10)
	var lh vg.Length
	if f.legend != nil && f.below {
		f.legend.Top, f.legend.Left = true, true
		lh = f.legend.Rectangle(draw.New(vgimg.New(f.w, f.h))).Size().Y + pad
	}
	c := vgimg.NewWith(vgimg.UseWH(f.w, f.h+lh), vgimg.UseDPI(dpi), vgimg.UseBackgroundColor(color.White))
	dc := draw.New(c)
	switch {
	case f.legend == nil:
		f.p.Draw(dc)
	case f.below:
		f.p.Draw(draw.Crop(dc, 0, 0, lh, 0))
		f.legend.Draw(draw.Crop(dc, 4*pad, 0, 0, -(f.h + pad/2)))
	default:
		f.legend.Top = true
		lw := f.legend.Rectangle(dc).Size().X + 2*pad
		f.p.Draw(draw.Crop(dc, 0, -lw, 0, 0))
		f.legend.Draw(draw.Crop(dc, f.w-lw+pad, 0, 0, -3*pad))
	}
	var b bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(&b); err != nil {
		return nil, fmt.Errorf("report: png: %w", err)
	}
	return b.Bytes(), nil
}

// newLegend is a legend whose entries do not touch each other.
func newLegend() plot.Legend {
	l := plot.NewLegend()
	l.Padding = vg.Points(3)
	return l
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text, p.X.Label.Text, p.Y.Label.Text = title, x, y
	p.Title.Padding = vg.Points(6)
	p.Add(plotter.NewGrid())
	return p
}

// epochTicks marks whole epochs only: an axis of 2 epochs would otherwise show 1.2, 1.4, ...
type epochTicks struct{}

func (epochTicks) Ticks(lo, hi float64) []plot.Tick {
	step := max(1, int(math.Ceil((hi-lo)/10)))
	var ticks []plot.Tick
	for e := int(math.Ceil(lo)); float64(e) <= hi; e += step {
		ticks = append(ticks, plot.Tick{Value: float64(e), Label: strconv.Itoa(e)})
	}
	return ticks
}

// series is one named curve over epochs.
type series struct {
	name string
	xy   plotter.XYs
}

// epochFigure draws the series against the epoch, each with its own colour, dashes and
// markers, a dotted line at the best epoch when there is one.
func epochFigure(title, ylabel string, ss []series, best int, unit bool) (figure, error) {
	p := newPlot(title, "epoch", ylabel)
	p.X.Tick.Marker = epochTicks{}
	leg := newLegend()
	for i, s := range ss {
		l, pts, err := plotter.NewLinePoints(s.xy)
		if err != nil {
			return figure{}, fmt.Errorf("report: %s: %w", s.name, err)
		}
		l.Color, l.Dashes, l.Width = plotutil.Color(i), plotutil.Dashes(i), vg.Points(1.5)
		pts.Color, pts.Shape = plotutil.Color(i), plotutil.Shape(i)
		p.Add(l, pts)
		leg.Add(s.name, l, pts)
	}
	if unit {
		p.Y.Max = 1
	}
	if best > 0 {
		l, err := plotter.NewLine(plotter.XYs{{X: float64(best), Y: p.Y.Min}, {X: float64(best), Y: p.Y.Max}})
		if err != nil {
			return figure{}, err
		}
		l.Color, l.Dashes = grey, []vg.Length{vg.Points(2), vg.Points(2)}
		p.Add(l)
		leg.Add(fmt.Sprintf("best epoch (%d)", best), l)
	}
	p.X.Min, p.X.Max = p.X.Min-0.2, p.X.Max+0.2
	return figure{p: p, w: 7 * vg.Inch, h: 3.6 * vg.Inch, legend: &leg}, nil
}

// confusionGrid is a confusion matrix as a heat map: column c is the predicted class, row r
// the true class counted from the bottom, so that the first class is the top row as in a
// table. Each cell's value is its share of its true class.
type confusionGrid [][]int64

func (g confusionGrid) Dims() (c, r int) { return len(g), len(g) }
func (g confusionGrid) X(c int) float64  { return float64(c) }
func (g confusionGrid) Y(r int) float64  { return float64(r) }
func (g confusionGrid) Z(c, r int) float64 {
	row := g[len(g)-1-r]
	var n int64
	for _, v := range row {
		n += v
	}
	if n == 0 {
		return 0
	}
	return float64(row[c]) / float64(n)
}

// blues runs from white to dark blue, so that an empty cell reads as blank paper.
type blues int

func (n blues) Colors() []color.Color {
	out := make([]color.Color, n)
	for i := range out {
		t := float64(i) / float64(n-1)
		mix := func(a, b float64) uint8 { return uint8(math.Round(a + t*(b-a))) }
		out[i] = color.RGBA{R: mix(255, 8), G: mix(255, 48), B: mix(255, 107), A: 255}
	}
	return out
}

// maxCellText is the largest class count whose confusion heat map writes the counts in its
// cells and names every class on the axes.
const maxCellText = 30

// confusionFigure draws the confusion matrix of names.
func confusionFigure(m [][]int64, names []string) (figure, error) {
	n := len(m)
	p := newPlot("Confusion matrix (colour: share of the true class)", "predicted class", "true class")
	hm := plotter.NewHeatMap(confusionGrid(m), blues(100))
	hm.Min, hm.Max = 0, 1
	p.Add(hm)
	if n <= maxCellText {
		var xticks, yticks plot.ConstantTicks
		for i, name := range names {
			xticks = append(xticks, plot.Tick{Value: float64(i), Label: name})
			yticks = append(yticks, plot.Tick{Value: float64(n - 1 - i), Label: name})
		}
		p.X.Tick.Marker, p.Y.Tick.Marker = xticks, yticks
		cells := plotter.XYLabels{}
		for r, row := range m {
			for c, v := range row {
				cells.XYs = append(cells.XYs, plotter.XY{X: float64(c), Y: float64(n - 1 - r)})
				cells.Labels = append(cells.Labels, strconv.FormatInt(v, 10))
			}
		}
		labels, err := plotter.NewLabels(cells)
		if err != nil {
			return figure{}, err
		}
		for i := range labels.TextStyle {
			s := &labels.TextStyle[i]
			s.XAlign, s.YAlign = -0.5, -0.5 // centred on the cell
			s.Font.Size = vg.Points(max(7, 14-0.25*float64(n)))
			if confusionGrid(m).Z(i%n, n-1-i/n) > 0.5 {
				s.Color = color.White
			}
		}
		p.Add(labels)
	}
	p.X.Padding, p.Y.Padding = 0, 0
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = -0.5, float64(n)-0.5, -0.5, float64(n)-0.5
	side := vg.Length(math.Min(11, math.Max(5, 0.6*float64(n)+2))) * vg.Inch
	return figure{p: p, w: side, h: side}, nil
}

// operatingPoint marks the threshold's point of a curve.
func operatingPoint(p *plot.Plot, leg *plot.Legend, name string, x, y float64) error {
	s, err := plotter.NewScatter(plotter.XYs{{X: x, Y: y}})
	if err != nil {
		return err
	}
	s.Shape, s.Color, s.Radius = draw.CircleGlyph{}, pointColor, vg.Points(5)
	p.Add(s)
	leg.Add(name, s)
	return nil
}

// unitSquare is a figure of p with both axes fixed to [0, 1] and the legend below.
func unitSquare(p *plot.Plot, leg *plot.Legend) figure {
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1.02
	return figure{p: p, w: 5.5 * vg.Inch, h: 5 * vg.Inch, legend: leg, below: true}
}

// rocFigure draws the ROC curve of b's scores, the chance diagonal and the operating point.
func rocFigure(b *train.BinaryReport) (figure, error) {
	fpr, tpr, _ := b.Scores.ROC()
	p := newPlot("ROC curve", "false positive rate (1 − specificity)", "true positive rate (sensitivity)")
	xy := make(plotter.XYs, len(fpr))
	for i := range fpr {
		xy[i] = plotter.XY{X: fpr[i], Y: tpr[i]}
	}
	leg := newLegend()
	if err := curve(p, &leg, xy, fmt.Sprintf("ROC curve (AUC %.4f)", float64(b.RocAUC)), plotter.NoStep); err != nil {
		return figure{}, err
	}
	if err := dashedLine(p, &leg, plotter.XYs{{X: 0, Y: 0}, {X: 1, Y: 1}}, "chance"); err != nil {
		return figure{}, err
	}
	name := fmt.Sprintf("threshold %.4g: sensitivity %.3f, specificity %.3f", b.Threshold, b.Sensitivity, b.Specificity)
	if err := operatingPoint(p, &leg, name, 1-b.Specificity, b.Sensitivity); err != nil {
		return figure{}, err
	}
	return unitSquare(p, &leg), nil
}

// prFigure draws the precision-recall curve of b's scores as the step function that average
// precision sums, the precision of predicting every example positive, and the operating point.
func prFigure(b *train.BinaryReport) (figure, error) {
	precision, recall, _ := b.Scores.PR()
	p := newPlot("Precision-recall curve", "recall (sensitivity)", "precision (PPV)")
	xy := make(plotter.XYs, len(recall))
	for i := range recall { // from recall 0 up
		xy[i] = plotter.XY{X: recall[len(recall)-1-i], Y: precision[len(recall)-1-i]}
	}
	// PreStep holds each point's precision over the recall gained since the previous one, the
	// rectangles average precision adds up.
	leg := newLegend()
	if err := curve(p, &leg, xy, fmt.Sprintf("PR curve (average precision %.4f)", float64(b.PRAUC)), plotter.PreStep); err != nil {
		return figure{}, err
	}
	pos := b.TruePositives + b.FalseNegatives
	prevalence := float64(pos) / float64(pos+b.FalsePositives+b.TrueNegatives)
	if err := dashedLine(p, &leg, plotter.XYs{{X: 0, Y: prevalence}, {X: 1, Y: prevalence}}, fmt.Sprintf("all predicted positive (prevalence %.3f)", prevalence)); err != nil {
		return figure{}, err
	}
	name := fmt.Sprintf("threshold %.4g: recall %.3f, precision %.3f", b.Threshold, b.Sensitivity, b.PPV)
	if err := operatingPoint(p, &leg, name, b.Sensitivity, b.PPV); err != nil {
		return figure{}, err
	}
	return unitSquare(p, &leg), nil
}

func curve(p *plot.Plot, leg *plot.Legend, xy plotter.XYs, name string, step plotter.StepKind) error {
	l, err := plotter.NewLine(xy)
	if err != nil {
		return fmt.Errorf("report: %s: %w", name, err)
	}
	l.Color, l.Width, l.StepStyle = plotutil.Color(2), vg.Points(2), step
	p.Add(l)
	leg.Add(name, l)
	return nil
}

func dashedLine(p *plot.Plot, leg *plot.Legend, xy plotter.XYs, name string) error {
	l, err := plotter.NewLine(xy)
	if err != nil {
		return err
	}
	l.Color, l.Dashes = grey, []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(l)
	leg.Add(name, l)
	return nil
}

// reliabilityFigure draws ECE's bins of b's scores: a bar of each bin's accuracy over its
// confidence interval, the diagonal a calibrated classifier follows and, when a temperature
// calibrated the scores, the bins of the uncalibrated probabilities as points.
func reliabilityFigure(b *train.BinaryReport) (figure, error) {
	bins := b.Scores.Reliability(1) // the scores are divided by the temperature already
	title := fmt.Sprintf("Reliability diagram (ECE %.4f, %d bins)", b.Scores.ECE(1), train.ECEBins)
	bars := "accuracy per confidence bin"
	if b.Temperature != 0 {
		title = fmt.Sprintf("Reliability diagram (ECE %.4f after temperature %.3g, %.4f before)", b.Scores.ECE(1), b.Temperature, b.Scores.ECE(1/b.Temperature))
		bars = fmt.Sprintf("accuracy per bin, temperature %.3g", b.Temperature)
	}
	p := newPlot(title, "confidence (probability of the predicted class)", "accuracy")
	leg := newLegend()
	lo := 1.0
	var rings []plotter.XYer
	var counts plotter.XYLabels
	for _, bin := range bins {
		if bin.Count == 0 {
			continue
		}
		lo = math.Min(lo, bin.Lo)
		rings = append(rings, plotter.XYs{{X: bin.Lo, Y: 0}, {X: bin.Hi, Y: 0}, {X: bin.Hi, Y: bin.Accuracy}, {X: bin.Lo, Y: bin.Accuracy}})
		counts.XYs = append(counts.XYs, plotter.XY{X: (bin.Lo + bin.Hi) / 2, Y: bin.Accuracy})
		counts.Labels = append(counts.Labels, strconv.Itoa(bin.Count))
	}
	if len(rings) > 0 {
		poly, err := plotter.NewPolygon(rings...)
		if err != nil {
			return figure{}, err
		}
		poly.Color, poly.LineStyle.Color = barColor, color.White
		p.Add(poly)
		leg.Add(bars+" (examples above each bar)", poly)
		labels, err := plotter.NewLabels(counts)
		if err != nil {
			return figure{}, err
		}
		for i := range labels.TextStyle {
			labels.TextStyle[i].XAlign = -0.5
			labels.TextStyle[i].Font.Size = vg.Points(8)
		}
		labels.Offset = vg.Point{Y: vg.Points(2)}
		p.Add(labels)
	}
	lo = math.Min(lo, 0.5)
	if err := dashedLine(p, &leg, plotter.XYs{{X: lo, Y: lo}, {X: 1, Y: 1}}, "perfect calibration"); err != nil {
		return figure{}, err
	}
	if b.Temperature != 0 {
		var before plotter.XYs
		for _, bin := range b.Scores.Reliability(1 / b.Temperature) {
			if bin.Count > 0 {
				before = append(before, plotter.XY{X: bin.Confidence, Y: bin.Accuracy})
				lo = math.Min(lo, bin.Lo)
			}
		}
		if len(before) > 0 {
			s, err := plotter.NewScatter(before)
			if err != nil {
				return figure{}, err
			}
			s.Color, s.Shape, s.Radius = beforeRed, draw.PyramidGlyph{}, vg.Points(4)
			p.Add(s)
			leg.Add("before calibration: accuracy at each bin's mean confidence", s)
		}
	}
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = lo, 1, 0, 1.08
	return figure{p: p, w: 6.5 * vg.Inch, h: 5 * vg.Inch, legend: &leg, below: true}, nil
}
