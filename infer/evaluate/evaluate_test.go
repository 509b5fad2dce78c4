package evaluate

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"scorelens/lens"
	"scorelens/lens/fitsimg"
)

// TestEvaluate runs a two-lens evaluation on a 16×16 grid with a white Gaussian "model"
// (through the float32 ScoreModel interface) against a GRF baseline, and checks the
// files, the table and its numbers against the posterior files, resuming, and refusals.
func TestEvaluate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "eval")
	model, g := whiteModel(t, 16, 0.3)
	var log bytes.Buffer
	o := Options{Model: model, Lenses: 2, Samples: 3, Batch: 2, Steps: 60, Likelihood: "paper", Seed: 5,
		Out: dir, Software: "test", Log: &log}
	res, err := Evaluate(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Lenses) != 2 || res.Grid != 16 || res.Steps != 60 || res.Baseline != DefaultBaseline {
		t.Fatalf("result %+v", res)
	}
	for i, lr := range res.Lenses {
		sub := filepath.Join(dir, []string{"lens-00", "lens-01"}[i])
		for _, f := range []string{"lens.json", "obs.fits", "post-model.fits", "post-baseline.fits"} {
			if _, err := os.Stat(filepath.Join(sub, f)); err != nil {
				t.Errorf("lens %d: %v", i, err)
			}
		}
		obs, err := lens.ReadObservation(filepath.Join(sub, "obs.fits"))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range obs.Truth {
			if v != lr.Case.Truth[k] {
				t.Fatalf("lens %d: TRUTH differs from the case at %d", i, k)
			}
		}
		if obs.Sigma[0] != NoiseFrac {
			t.Errorf("lens %d: noise σ %g, want %g", i, obs.Sigma[0], NoiseFrac)
		}
		// χ²ν of the truth's noise-free image: a χ²/ν with ν = 256, standard deviation
		// √(2/256) = 0.09; 5 standard deviations.
		if math.Abs(lr.TruthChi2-1) > 0.45 {
			t.Errorf("lens %d: χ²ν of the truth %g", i, lr.TruthChi2)
		}
		for name, p := range map[string]PriorResult{"model": lr.Model, "baseline": lr.Baseline} {
			if p.Samples != 3 || len(p.Chi2) != 3 {
				t.Errorf("lens %d %s: %d samples", i, name, p.Samples)
			}
			// Recompute the error from the file's MEAN: the same to rounding.
			mean, err := fitsimg.ReadImage(p.Path, "MEAN")
			if err != nil {
				t.Fatal(err)
			}
			s := 0.0
			for k, v := range mean.Data {
				s += (v - obs.Truth[k]) * (v - obs.Truth[k])
			}
			if e := math.Sqrt(s / 256); math.Abs(e-p.RMSError) > 1e-12 {
				t.Errorf("lens %d %s: error %g, file says %g", i, name, p.RMSError, e)
			}
			sm, _ := fitsimg.ReadImage(p.Path, "SAMPLES")
			if seed, _ := sm.Header.Int("SEED"); seed != int64(5+i) {
				t.Errorf("lens %d %s: SEED %d, want %d", i, name, seed, 5+i)
			}
			if steps, _ := sm.Header.Int("STEPS"); steps != 60 {
				t.Errorf("lens %d %s: STEPS %d", i, name, steps)
			}
		}
	}
	md, err := os.ReadFile(filepath.Join(dir, "table.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := 0
	for _, line := range strings.Split(string(md), "\n") {
		if strings.HasPrefix(line, "| 0 |") || strings.HasPrefix(line, "| 1 |") {
			rows++
		}
	}
	if rows != 2 || !strings.Contains(string(md), "| **all** |") || !strings.Contains(string(md), "median χ²ν of the model's samples") {
		t.Errorf("table.md:\n%s", md)
	}
	if csv, _ := os.ReadFile(filepath.Join(dir, "table.csv")); strings.Count(string(csv), "\n") != 3 {
		t.Errorf("table.csv:\n%s", csv)
	}
	// The calibration counts: every lens has bright source pixels, and the fractions are
	// fractions, ordered (within 2σ at least as often as within 1σ).
	for _, lr := range res.Lenses {
		for _, p := range []PriorResult{lr.Model, lr.Baseline} {
			if p.Bright == 0 || p.Within1 > p.Within2 || p.Within2 > p.Bright {
				t.Errorf("lens %d %s: %d bright pixels, %d within 1σ, %d within 2σ", lr.Case.Index, p.Path, p.Bright, p.Within1, p.Within2)
			}
		}
	}
	if !strings.Contains(string(md), "calibration on the galaxies") {
		t.Errorf("table.md has no calibration line:\n%s", md)
	}
	var all []float64
	for _, lr := range res.Lenses {
		all = append(all, lr.Model.Chi2...)
	}
	if res.MedChi2Model != median(all) {
		t.Errorf("summary median %g, want %g", res.MedChi2Model, median(all))
	}

	// Resuming a complete evaluation draws nothing and gives the same table; more lenses
	// keep the first ones.
	calls := g.calls.Load()
	o.Log = nil
	if _, err := Evaluate(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if g.calls.Load() != calls {
		t.Errorf("a complete evaluation called the model %d more times", g.calls.Load()-calls)
	}
	if md2, _ := os.ReadFile(filepath.Join(dir, "table.md")); !bytes.Equal(md, md2) {
		t.Errorf("the resumed table differs")
	}
	// Lenses 2 and 3 in two shards (as two processes would), then the table.
	o.Lenses = 4
	for k := 1; k <= 2; k++ {
		sh := o
		sh.Shard, sh.Shards = k, 2
		rs, err := Evaluate(context.Background(), sh)
		if err != nil {
			t.Fatal(err)
		}
		if len(rs.Lenses) != 2 || rs.Lenses[0].Case.Index != k-1 || rs.Lenses[1].Case.Index != k+1 {
			t.Errorf("shard %d/2 computed %d lenses", k, len(rs.Lenses))
		}
	}
	if got := g.calls.Load() - calls; got != 2*2*(60+1) {
		t.Errorf("two new lenses took %d model calls, want 244 (two batches of 60 steps each, and the denoising call after each)", got)
	}
	calls = g.calls.Load()
	res3, err := Evaluate(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if got := g.calls.Load() - calls; got != 0 || len(res3.Lenses) != 4 {
		t.Errorf("the table run after the shards took %d model calls and has %d lenses", got, len(res3.Lenses))
	}
	if res3.Lenses[1].Model.RMSError != res.Lenses[1].Model.RMSError {
		t.Errorf("lens 1 changed when lens 2 was added")
	}

	for name, c := range map[string]struct {
		mod  func(*Options)
		want string
	}{
		"other samples":  {func(o *Options) { o.Samples = 4 }, "holds another evaluation (samples 3 vs 4"},
		"other grid":     {func(o *Options) { o.Grid = 32 }, "works on 1×16×16 images but the evaluation's source grid is 1×32×32"},
		"bad baseline":   {func(o *Options) { o.Baseline = "grf:sigma=0.1" }, "baseline: prior"},
		"bad likelihood": {func(o *Options) { o.Likelihood = "exact" }, `unknown likelihood "exact"`},
		"no lenses":      {func(o *Options) { o.Lenses = 0 }, "lenses must be at least 1"},
		"bad shard":      {func(o *Options) { o.Shard, o.Shards = 3, 2 }, "shard 3/2"},
	} {
		oc := o
		c.mod(&oc)
		_, err := Evaluate(context.Background(), oc)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v, want one line with %q", name, err, c.want)
		}
	}
}

// tWithin against the Gaussian limit (0.682689, 0.954500 for n → ∞, to 1e-4 at n = 10⁶)
// and against Student's t with 15 degrees of freedom at k/sqrt(1 + 1/16) (16 samples:
// P(|T₁₅| < 0.9701) and P(|T₁₅| < 1.9403), the t density integrated by Simpson's rule with
// 10⁵ intervals independently of gonum: 0.65264 and 0.92862; to 1e-3).
func TestTWithin(t *testing.T) {
	for _, tc := range []struct {
		k    float64
		n    int
		want float64
		tol  float64
	}{{1, 1e6, 0.682689, 1e-4}, {2, 1e6, 0.954500, 1e-4}, {1, 16, 0.6525, 1e-3}, {2, 16, 0.9287, 1e-3}} {
		if got := tWithin(tc.k, tc.n); math.Abs(got-tc.want) > tc.tol {
			t.Errorf("tWithin(%g, %d) = %.5f, want %.4f ± %g", tc.k, tc.n, got, tc.want, tc.tol)
		}
	}
	if !math.IsNaN(tWithin(1, 1)) {
		t.Error("tWithin of one sample is defined")
	}
}
