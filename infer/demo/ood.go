package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"scorelens/infer"
	"scorelens/infer/figure"
	"scorelens/lens"
	"scorelens/lens/fitsimg"
)

// oodNoise are the noise levels of the out-of-distribution figure, as fractions of the
// source peak: from an informative likelihood to one where the prior dominates.
var oodNoise = []float64{0.01, 0.05, 0.2, 0.5}

// runOOD reproduces the paper's figure 2: a source shaped like a "7" observed at increasing
// noise, one posterior sample each.
func runOOD(ctx context.Context, o Options, lensPath string) ([]string, error) {
	cfg, err := lens.LoadConfig(lensPath)
	if err != nil {
		return nil, err
	}
	src, err := lens.LoadSource("seven", cfg.SourceGrid())
	if err != nil {
		return nil, err
	}
	model, closeModel, err := o.openModel(cfg.SourceGrid().N)
	if err != nil {
		return nil, err
	}
	defer closeModel()
	var written []string
	panels := []figure.Panel{}
	var obsRow, sampleRow []figure.Panel
	srcExt, imgExt := extent(cfg.SourceGrid()), extent(cfg.ImageGrid())
	for k, noise := range oodNoise {
		// A lens file per noise level: the sampler reads σ from the observation.
		lp := filepath.Join(o.Out, fmt.Sprintf("lens-ood-%d.json", k))
		cfgK, err := withNoise(cfg, noise)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(lp, cfgK.Raw, 0o644); err != nil {
			return nil, fmt.Errorf("could not write %q: %w", lp, err)
		}
		rng := infer.SampleRNG(o.Seed, k)
		obs, err := lens.Simulate(cfgK, src, rng, o.Software)
		if err != nil {
			return nil, err
		}
		obs.Header.Set("SEED", int64(o.Seed), "noise seed")
		op := filepath.Join(o.Out, fmt.Sprintf("obs-ood-%d.fits", k))
		if err := obs.Write(op); err != nil {
			return nil, err
		}
		pp := filepath.Join(o.Out, fmt.Sprintf("posterior-ood-%d.fits", k))
		err = infer.Run(ctx, infer.RunOptions{Lens: lp, Obs: op, Out: pp, Prior: o.Prior, Model: model, Likelihood: "full",
			Predictor: "heun", Churn: churn, Steps: o.Steps, Samples: 1, Batch: 1, Seed: o.Seed,
			Shard: 1, Shards: 1, Force: true, Software: o.Software, Log: o.Log})
		if err != nil {
			return nil, err
		}
		sample, err := fitsimg.ReadImage(pp, "SAMPLES")
		if err != nil {
			return nil, err
		}
		sampleRow = append(sampleRow, figure.Panel{Title: fmt.Sprintf("sample, σN = %g", noise), Data: sample.Plane(0),
			N: cfgK.SourceGrid().N, Extent: srcExt, ColorBar: true})
		obsRow = append(obsRow, figure.Panel{Title: fmt.Sprintf("observation, σN = %g", noise), Data: obs.Data,
			N: obs.N, Extent: imgExt, ColorBar: true})
		written = append(written, lp, op, pp)
	}
	panels = append(panels, figure.Panel{Title: "true source", Data: src, N: cfg.SourceGrid().N, Extent: srcExt, ColorBar: true})
	panels = append(panels, sampleRow...)
	panels = append(panels, figure.Panel{})
	panels = append(panels, obsRow...)
	fig := filepath.Join(o.Out, "figure2.png")
	if err := figure.Render(fig, panels, len(oodNoise)+1, 170); err != nil {
		return nil, err
	}
	return append(written, fig), nil
}

func extent(g lens.Grid) [4]float64 {
	h := g.FOV() / 2
	return [4]float64{g.X0 - h, g.X0 + h, g.Y0 - h, g.Y0 + h}
}

// withNoise returns cfg with its noise replaced by a scalar σ.
func withNoise(cfg *lens.Config, sigma float64) (*lens.Config, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(cfg.Raw, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Name, err)
	}
	m["noise"] = json.RawMessage(fmt.Sprintf(`{"sigma": %g}`, sigma))
	raw, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return lens.ParseConfig(raw, cfg.Name)
}
