package figure

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"scorelens/infer"
	"scorelens/lens"
)

const tinyLens = `{
  "lens":   [{"type":"sie","theta_e":0.8,"q":0.8,"phi":20}, {"type":"shear","gamma1":0.02,"gamma2":0.01}],
  "source": {"pixels":16,"fov":2.0},
  "image":  {"pixels":16,"fov":3.2,"supersample":2},
  "noise":  {"sigma":0.02}
}`

func TestPlotFile(t *testing.T) {
	dir := t.TempDir()
	lp := filepath.Join(dir, "lens.json")
	os.WriteFile(lp, []byte(tinyLens), 0o644)
	cfg, err := lens.LoadConfig(lp)
	if err != nil {
		t.Fatal(err)
	}
	src := gaussian(16, 2, 3)
	obs, err := lens.Simulate(cfg, src, rand.New(rand.NewPCG(1, 2)), "test")
	if err != nil {
		t.Fatal(err)
	}
	op := filepath.Join(dir, "obs.fits")
	if err := obs.Write(op); err != nil {
		t.Fatal(err)
	}
	pp := filepath.Join(dir, "post.fits")
	err = infer.Run(context.Background(), infer.RunOptions{Lens: lp, Obs: op, Out: pp, Prior: "white:sigma=0.5",
		Likelihood: "diag", Predictor: "em", Corrector: "none", Steps: 200, Samples: 3, Batch: 3, Seed: 1, Shard: 1, Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	// The lens file is found through the posterior's INPUTS table.
	out := filepath.Join(dir, "fig1.png")
	grid := filepath.Join(dir, "grid.png")
	if err := PlotFile(PlotOptions{Posterior: pp, Obs: op, Out: out, Samples: grid}); err != nil {
		t.Fatal(err)
	}
	decoded(t, out)
	decoded(t, grid)

	// Another lens file than the one sampled with is refused.
	other := filepath.Join(dir, "other.json")
	os.WriteFile(other, []byte(strings.Replace(tinyLens, `"q":0.8`, `"q":0.7`, 1)), 0o644)
	err = PlotFile(PlotOptions{Posterior: pp, Obs: op, Lens: other, Out: out})
	if err == nil || !strings.Contains(err.Error(), "LENSHASH") {
		t.Errorf("a different lens file: %v", err)
	}
	// An observation file is not a posterior file.
	if err := PlotFile(PlotOptions{Posterior: op, Obs: op, Out: out}); err == nil || !strings.Contains(err.Error(), "not a posterior file") {
		t.Errorf("plotting an observation as a posterior: %v", err)
	}
}
