package figure

import (
	"fmt"
	"math"

	"scorelens/lens"
)

// Posterior holds what the paper's figure 1 shows. Source-plane images are on Source,
// image-plane images on Image.
type Posterior struct {
	Source, Image lens.Grid
	Truth         []float64   // true source; nil when unknown (real data)
	Obs           []float64   // observed image y
	Sigma         []float64   // per-pixel noise σ of y
	Mask          []bool      // nil = every pixel used
	Samples       [][]float64 // at least one posterior sample x_k
	Preds         [][]float64 // A·x_k for the same samples
	Chi2          []float64   // reduced χ² of each A·x_k against y
	Mean, Std     []float64   // posterior mean and standard deviation over all samples
	PredMean      []float64   // A·mean
	PredStd       []float64   // standard deviation of A·x_k over all samples
	NSamples      int         // how many samples Mean and Std come from
	Critical      [][]Point   // critical curves (image plane); may be nil
	Caustics      [][]Point   // caustics (source plane); may be nil
}

// Figure1 draws the paper's figure 1: the source plane on the first row (truth, two
// samples, mean, standard deviation, residual SNR (truth − mean)/std) and the lens plane on
// the second (observation, the two samples' predictions with their χ²_ν, A·mean, the standard
// deviation of the predictions, residual SNR (y − A·mean)/σ). Without a truth the first
// source panel shows the mean and the source residual is left out.
func Figure1(path string, p *Posterior) error {
	if len(p.Samples) == 0 || len(p.Samples) != len(p.Preds) {
		panic("figure: Figure1 needs samples with their predictions")
	}
	ns, no := p.Source.N, p.Image.N
	se, ie := extent(p.Source), extent(p.Image)
	two := min(2, len(p.Samples))
	src := func(title string, d []float64, sc Scale, lines [][]Point) Panel {
		return Panel{Title: title, Data: d, N: ns, Extent: se, Scale: sc, ColorBar: true, Lines: lines, LineCol: causticColor}
	}
	img := func(title string, d []float64, sc Scale, lines [][]Point) Panel {
		return Panel{Title: title, Data: d, N: no, Extent: ie, Scale: sc, ColorBar: true, Lines: lines, LineCol: causticColor}
	}
	// Flux panels of one plane share colour limits, so samples, mean and truth compare.
	lo, hi := sharedRange(append([][]float64{p.Truth, p.Mean}, p.Samples[:two]...))
	ilo, ihi := sharedRange(append([][]float64{p.Obs, p.PredMean}, p.Preds[:two]...))
	chiMean := reducedChi2(p.PredMean, p.Obs, p.Sigma, p.Mask)
	var top, bottom []Panel
	if p.Truth != nil {
		top = append(top, src("true source", p.Truth, Linear, p.Caustics))
	}
	sig := "σ per pixel"
	if s := p.Sigma; len(s) > 0 {
		sig = fmt.Sprintf("σ = %.3g", s[0])
	}
	bottom = append(bottom, img("observation ("+sig+")", p.Obs, Linear, p.Critical))
	for k := 0; k < two; k++ {
		top = append(top, src(fmt.Sprintf("sample %d", k+1), p.Samples[k], Linear, nil))
		bottom = append(bottom, img(fmt.Sprintf("A·sample %d (χ²ν = %.2f)", k+1, p.Chi2[k]), p.Preds[k], Linear, nil))
	}
	top = append(top, src(fmt.Sprintf("mean of %d", p.NSamples), p.Mean, Linear, nil))
	bottom = append(bottom, img(fmt.Sprintf("A·mean (χ²ν = %.2f)", chiMean), p.PredMean, Linear, nil))
	top = append(top, src("standard deviation", p.Std, Linear, p.Caustics))
	bottom = append(bottom, img("std of A·samples", p.PredStd, Linear, p.Critical))
	for k := range top {
		if top[k].Scale == Linear && top[k].Title != "standard deviation" {
			top[k].Min, top[k].Max = lo, hi
		}
	}
	for k := range bottom {
		if bottom[k].Scale == Linear && bottom[k].Title != "std of A·samples" {
			bottom[k].Min, bottom[k].Max = ilo, ihi
		}
	}
	if p.Truth != nil {
		snr := make([]float64, len(p.Mean))
		for i := range snr {
			snr[i] = (p.Truth[i] - p.Mean[i]) / p.Std[i]
		}
		top = append(top, src("(truth − mean)/std", snr, Diverging, nil))
	}
	res := make([]float64, len(p.Obs))
	for i := range res {
		if p.Mask != nil && !p.Mask[i] {
			res[i] = math.NaN()
			continue
		}
		res[i] = (p.Obs[i] - p.PredMean[i]) / p.Sigma[i]
	}
	bottom = append(bottom, img("(y − A·mean)/σ", res, Diverging, nil))
	// Pad the shorter row so that planes stay on their own rows.
	cols := max(len(top), len(bottom))
	panels := make([]Panel, 0, 2*cols)
	panels = append(panels, top...)
	for len(panels) < cols {
		panels = append(panels, Panel{}) // blank
	}
	panels = append(panels, bottom...)
	for len(panels) < 2*cols {
		panels = append(panels, Panel{})
	}
	for k := range panels {
		panels[k].Label = ""
	}
	return Render(path, panels, cols, 170)
}

var causticColor = colorRGB(0x4d, 0xd0, 0xe1)

func sharedRange(ims [][]float64) (lo, hi float64) {
	lo, hi = 0, math.Inf(-1)
	for _, im := range ims {
		for _, v := range im {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				lo = math.Min(lo, v)
				hi = math.Max(hi, v)
			}
		}
	}
	if !(hi > lo) {
		hi = lo + 1
	}
	return lo, hi
}

// reducedChi2 is Σ((y − m)/σ)² over the used pixels divided by their number.
func reducedChi2(m, y, sigma []float64, mask []bool) float64 {
	var s float64
	n := 0
	for i := range y {
		if mask != nil && !mask[i] {
			continue
		}
		r := (y[i] - m[i]) / sigma[i]
		s += r * r
		n++
	}
	return s / float64(n)
}
