package demo

import (
	"context"
	_ "embed"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"scorelens/infer"
	"scorelens/infer/figure"
	"scorelens/infer/ort"
	"scorelens/lens"
)

// exampleLens is the lens of SPEC §4: SIE + shear, a 64×64 source over 3″, a 64×64 image
// over 6″ supersampled twice, a Gaussian PSF and σ = 0.01 (1% of the source peak, the
// setting of the paper's figure 1).
//
//go:embed lens.json
var exampleLens []byte

// Options configure a demo run.
type Options struct {
	Out      string    // output directory (created; the demo's files in it are replaced)
	OOD      bool      // run the out-of-distribution figure (the paper's figure 2) instead
	Samples  int       // posterior samples for figure 1 (default 16)
	Steps    int       // heun steps (0: DefaultSteps)
	Seed     uint64    // noise and sampling seed
	Model    string    // score model (ONNX); "" = the shipped one (ShippedModel), if present
	Prior    string    // analytic prior, used when no model is given or shipped
	Software string    // version written to file headers
	Log      io.Writer // progress; nil for none
}

// ShippedModelName is the file name of the galaxy prior shipped in models/.
const ShippedModelName = "galaxies64.onnx"

// ShippedModel returns the path of the shipped galaxy prior: models/galaxies64.onnx in the
// working directory or beside the executable's folder (bin/../models), or "" when neither
// exists.
func ShippedModel() string {
	cands := []string{filepath.Join("models", ShippedModelName)}
	if exe, err := os.Executable(); err == nil {
		cands = append(cands, filepath.Join(filepath.Dir(exe), "..", "models", ShippedModelName))
	}
	for _, c := range cands {
		if st, err := os.Stat(c); err == nil && !st.IsDir() {
			return c
		}
	}
	return ""
}

// DefaultPrior is the analytic prior of the demo: a Gaussian random field whose per-pixel
// spread and correlation length suit the built-in galaxies (peak 1, a few tenths of an
// arcsec across).
const DefaultPrior = "grf:sigma=0.1,index=3"

// The demo samples as the model card's posterior table does (`evaluate --predictor heun
// --steps 100 --churn 40`): on the shipped prior that setting fits held-out lenses to the
// noise (median χ²_ν 1.00) with 201 model calls per sample, against 1,150 for the
// Euler–Maruyama steps of --steps auto.
const (
	DefaultSteps = 100
	DefaultChurn = 40
)

// churn is the churn of every demo posterior (over all steps, as in the card's table).
var churn = infer.Churn{Amount: DefaultChurn}

func (o *Options) defaults() {
	if o.Samples == 0 {
		// 3.2 s per sample with the shipped model and the full likelihood on 2 cores.
		o.Samples = 16
	}
	if o.Steps == 0 {
		o.Steps = DefaultSteps
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Model == "" && o.Prior == "" {
		o.Model = ShippedModel()
	}
	if o.Model == "" && o.Prior == "" {
		o.Prior = DefaultPrior
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
}

// Run performs the demo and returns the paths of the files it wrote.
func Run(ctx context.Context, o Options) ([]string, error) {
	o.defaults()
	// Bad counts are refused before anything is written.
	if o.Steps < 1 {
		return nil, fmt.Errorf("steps must be at least 1, got %d", o.Steps)
	}
	if o.Samples < 1 {
		return nil, fmt.Errorf("samples must be at least 1, got %d", o.Samples)
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, fmt.Errorf("could not create %q: %w", o.Out, err)
	}
	lensPath := filepath.Join(o.Out, "lens.json")
	if err := os.WriteFile(lensPath, exampleLens, 0o644); err != nil {
		return nil, fmt.Errorf("could not write %q: %w", lensPath, err)
	}
	if o.OOD {
		return runOOD(ctx, o, lensPath)
	}
	start := time.Now()
	cfg, err := lens.LoadConfig(lensPath)
	if err != nil {
		return nil, err
	}
	// The model is checked before anything is simulated.
	model, closeModel, err := o.openModel(cfg.SourceGrid().N)
	if err != nil {
		return nil, err
	}
	defer closeModel()
	obsPath := filepath.Join(o.Out, "obs.fits")
	obs, err := lens.SimulateFile(ctx, lensPath, "spiral", o.Seed, obsPath, o.Software)
	if err != nil {
		return nil, err
	}
	obsPNG := filepath.Join(o.Out, "obs.png")
	if err := figure.Observation(obsPNG, obs, cfg); err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Log, "simulated %s (%s)\n", obsPath, time.Since(start).Round(time.Millisecond))
	postPath := filepath.Join(o.Out, "posterior.fits")
	err = infer.Run(ctx, infer.RunOptions{
		Lens: lensPath, Obs: obsPath, Out: postPath, Prior: o.Prior, Model: model, Likelihood: "full",
		Predictor: "heun", Churn: churn, Steps: o.Steps, Samples: o.Samples, Batch: o.Samples,
		Seed: o.Seed, Shard: 1, Shards: 1, Force: true, Software: o.Software, Log: o.Log,
	})
	if err != nil {
		return nil, err
	}
	fig1 := filepath.Join(o.Out, "figure1.png")
	grid := filepath.Join(o.Out, "samples.png")
	if err := figure.PlotFile(figure.PlotOptions{Posterior: postPath, Obs: obsPath, Lens: lensPath, Out: fig1, Samples: grid}); err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Log, "done in %s\n", time.Since(start).Round(time.Second))
	return []string{lensPath, obsPath, obsPNG, postPath, fig1, grid}, nil
}

// openModel opens o.Model as the prior (nil when the demo uses the analytic prior).
func (o *Options) openModel(ns int) (*infer.ModelPrior, func(), error) {
	if o.Model == "" {
		return nil, func() {}, nil
	}
	prior, m, err := ort.OpenPrior(o.Model, ns, ort.Options{})
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(o.Log, "prior: score model %s\n", o.Model)
	return prior, func() { m.Close() }, nil
}
