package figure

import (
	"fmt"
	"math"
	"os"

	"scorelens/lens"
	"scorelens/lens/fitsimg"
)

// PlotOptions are the inputs of `scorelens plot`.
type PlotOptions struct {
	Posterior string // posterior file (SAMPLES, MEAN, STD, CHI2NU, ...)
	Obs       string // observation file
	Lens      string // lens configuration; "" = the LENSFILE recorded in the posterior header
	Truth     string // FITS image of the true source; "" = the observation's TRUTH, if any
	Out       string // figure 1 (PNG)
	Samples   string // optional grid of samples with their χ²_ν (the paper's figure 3)
	NoCurves  bool   // leave out critical curves and caustics
}

// PlotFile draws figure 1 (and optionally the sample grid) of a posterior file.
func PlotFile(o PlotOptions) error {
	hdus, err := fitsimg.ReadAll(o.Posterior)
	if err != nil {
		return err
	}
	get := func(name string) (*fitsimg.Image, error) {
		for _, h := range hdus {
			if im, ok := h.(*fitsimg.Image); ok && im.Name == name {
				return im, nil
			}
		}
		return nil, fmt.Errorf("%s: no %s HDU: not a posterior file", o.Posterior, name)
	}
	samples, err := get("SAMPLES")
	if err != nil {
		return err
	}
	chi, err := get("CHI2NU")
	if err != nil {
		return err
	}
	if len(samples.Axes) < 2 || samples.Axes[0] != samples.Axes[1] || samples.Depth() < 1 {
		return fmt.Errorf("%s: SAMPLES has axes %v, want ns×ns×K", o.Posterior, samples.Axes)
	}
	primary := hdus[0].(*fitsimg.Image)
	lensPath := o.Lens
	if lensPath == "" {
		// The sampler records the absolute paths of its inputs in the INPUTS table.
		for _, h := range hdus {
			if t, ok := h.(*fitsimg.Table); ok && t.Name == "INPUTS" {
				role, ok1 := t.Column("ROLE")
				path, ok2 := t.Column("PATH")
				if ok1 && ok2 {
					for i, r := range role.Data.([]string) {
						if r == "lens" {
							lensPath = path.Data.([]string)[i]
						}
					}
				}
			}
		}
		if lensPath == "" {
			return fmt.Errorf("%s records no lens file: give --lens", o.Posterior)
		}
		if _, err := os.Stat(lensPath); err != nil {
			return fmt.Errorf("the lens file recorded in %s, %q, is not there: give --lens", o.Posterior, lensPath)
		}
	}
	cfg, err := lens.LoadConfig(lensPath)
	if err != nil {
		return err
	}
	if h, ok := primary.Header.String("LENSHASH"); ok && h != cfg.LensHash() {
		return fmt.Errorf("%s was not sampled with the lens file %s (LENSHASH differs)", o.Posterior, lensPath)
	}
	obs, err := lens.ReadObservation(o.Obs)
	if err != nil {
		return err
	}
	if err := obs.CheckAgainst(cfg); err != nil {
		return err
	}
	src := cfg.SourceGrid()
	if samples.Axes[0] != src.N {
		return fmt.Errorf("%s: samples are %d×%d but the lens file's source grid is %d×%d", o.Posterior, samples.Axes[0], samples.Axes[0], src.N, src.N)
	}
	op, err := lens.NewOperator(cfg)
	if err != nil {
		return err
	}
	truth := obs.Truth
	if o.Truth != "" {
		im, err := fitsimg.ReadImage(o.Truth, "")
		if err != nil {
			return err
		}
		if len(im.Axes) != 2 || im.Axes[0] != src.N || im.Axes[1] != src.N {
			return fmt.Errorf("%s: truth is %v, want %d×%d", o.Truth, im.Axes, src.N, src.N)
		}
		truth = im.Data
	}
	if truth != nil && len(truth) != src.Len() {
		truth = nil // a TRUTH on another grid cannot be compared pixel by pixel
	}
	K := samples.Depth()
	p := &Posterior{Source: src, Image: cfg.ImageGrid(), Truth: truth, Obs: obs.Data, Sigma: obs.Sigma,
		Mask: obs.Mask, NSamples: K}
	n, m := src.Len(), obs.N*obs.N
	p.Mean = make([]float64, n)
	p.Std = make([]float64, n)
	p.PredMean = make([]float64, m)
	p.PredStd = make([]float64, m)
	pred := make([]float64, m)
	sum2 := make([]float64, m)
	var sum2s = make([]float64, n)
	for k := 0; k < K; k++ {
		x := samples.Plane(k)
		op.Apply(pred, x)
		for i, v := range pred {
			p.PredMean[i] += v / float64(K)
			sum2[i] += v * v / float64(K)
		}
		for i, v := range x {
			p.Mean[i] += v / float64(K)
			sum2s[i] += v * v / float64(K)
		}
		if k < 2 {
			p.Samples = append(p.Samples, x)
			p.Preds = append(p.Preds, append([]float64(nil), pred...))
			p.Chi2 = append(p.Chi2, chi.Data[k])
		}
	}
	for i := range p.Std {
		p.Std[i] = math.Sqrt(math.Max(0, sum2s[i]-p.Mean[i]*p.Mean[i]))
	}
	for i := range p.PredStd {
		p.PredStd[i] = math.Sqrt(math.Max(0, sum2[i]-p.PredMean[i]*p.PredMean[i]))
	}
	// The predictions of the mean are what PRED holds; recompute from MEAN for consistency.
	op.Apply(p.PredMean, p.Mean)
	if !o.NoCurves {
		if p.Critical, p.Caustics, err = Curves(cfg); err != nil {
			return err
		}
	}
	if err := Figure1(o.Out, p); err != nil {
		return err
	}
	if o.Samples != "" {
		ims := make([][]float64, min(K, 24))
		titles := make([]string, len(ims))
		for k := range ims {
			ims[k] = samples.Plane(k)
			titles[k] = fmt.Sprintf("χ²ν = %.2f", chi.Data[k])
		}
		if err := SampleGrid(o.Samples, ims, src, titles); err != nil {
			return err
		}
	}
	return nil
}

// SampleGrid draws posterior samples side by side on shared linear colour limits, each
// titled (e.g. with its χ²_ν): the paper's figure 3.
func SampleGrid(path string, ims [][]float64, src lens.Grid, titles []string) error {
	lo, hi := sharedRange(ims)
	panels := make([]Panel, len(ims))
	for k := range ims {
		panels[k] = Panel{Data: ims[k], N: src.N, Min: lo, Max: hi}
		if k < len(titles) {
			panels[k].Title = titles[k]
		}
	}
	cols := int(math.Ceil(math.Sqrt(float64(len(ims)) * 1.5)))
	return Render(path, panels, cols, 120)
}
