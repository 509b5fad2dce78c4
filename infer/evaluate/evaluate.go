package evaluate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gonum.org/v1/gonum/stat/distuv"

	"scorelens/infer"
	"scorelens/lens"
	"scorelens/lens/fitsimg"
)

// DefaultBaseline is the analytic Gaussian prior the model is compared with.
const DefaultBaseline = "grf:sigma=0.1,index=3"

// Options are the settings of `scorelens evaluate`.
type Options struct {
	Model *infer.ModelPrior // the score model; one channel of Grid×Grid images
	// Baseline is the analytic prior (infer.ParsePrior) sampled beside the model with the
	// same likelihood, steps and seeds; "" = DefaultBaseline. Its σ range is the one
	// `scorelens sample --prior` uses by default.
	Baseline   string
	Lenses     int    // held-out lenses 0…Lenses−1
	Samples    int    // posterior samples per lens and prior
	Batch      int    // samples solved together (does not change the samples)
	Steps      int    // solver steps for both priors; 0: infer.AutoSteps (model's σ range)
	Likelihood string // "" = "full"
	Predictor  string // "" = "em"
	Corrector  string // "" = "none"
	SNR        float64
	Churn      infer.Churn // the heun predictor's
	CGTol      float64
	Seed       uint64 // lens i: deflector and noise streams under Seed; posterior seed Seed+i
	GalaxySeed uint64 // 0 = DefaultGalaxySeed
	Grid       int    // source (and image) pixels a side; 0 = the model's
	Out        string // folder for every file
	// Shard and Shards split the lenses between processes: this one computes the lenses
	// with i mod Shards = Shard−1 and writes no table (0/0 or 1/1: every lens, and the
	// table). Run the shards on one folder, then once without a shard for the table: it
	// finds every posterior complete and draws nothing.
	Shard, Shards int
	Software      string
	Log           io.Writer // progress of each run; nil: quiet
}

// LensResult is one row of the table.
type LensResult struct {
	Case *Case
	// TruthChi2 is the reduced χ² of the noise-free model A·truth against the data: what
	// a perfect reconstruction reaches (≈ 1).
	TruthChi2 float64
	Model     PriorResult
	Baseline  PriorResult
}

// PriorResult summarises one posterior file.
type PriorResult struct {
	Path      string
	Chi2      []float64 // CHI2NU of every sample
	MedChi2   float64   // their median
	RMSError  float64   // rms over source pixels of MEAN − truth (truth peak = 1)
	Samples   int
	PriorName string
	// Calibration on the galaxy: of the Bright source pixels (truth above BrightFrac of
	// its peak), how many have |truth − MEAN| below one and two posterior STD.
	Bright, Within1, Within2 int
}

// BrightFrac is the fraction of the true source's peak above which a pixel counts as part
// of the galaxy for the calibration counts (the empty sky, where truth, mean and spread all
// vanish, says nothing about calibration).
const BrightFrac = 0.01

// Result is an evaluation.
type Result struct {
	Lenses       []LensResult
	Steps        int
	Grid         int
	Baseline     string
	MedChi2Model float64 // median χ²ν over every sample of the model, all lenses
	MedChi2Base  float64 // likewise for the baseline
	MeanErrModel float64 // mean over lenses of the model's posterior-mean rms error
	MeanErrBase  float64
	ModelBetter  int // lenses where the model's error < the baseline's
	// Within1Model, Within2Model: fractions of the bright source pixels of all lenses whose
	// truth lies within one and two posterior standard deviations of the model's mean;
	// Within1Base, Within2Base likewise for the baseline; Within1Ideal, Within2Ideal what
	// a calibrated Gaussian posterior gives with this many samples (Student's t, n−1 dof).
	Within1Model, Within2Model, Within1Base, Within2Base, Within1Ideal, Within2Ideal float64
}

// manifest is what makes an evaluation folder one evaluation; everything but the number
// of lenses and the batch size.
type manifest struct {
	Version    string  `json:"version"`
	Grid       int     `json:"grid"`
	Seed       uint64  `json:"seed"`
	GalaxySeed uint64  `json:"galaxy_seed"`
	Model      string  `json:"model"`
	ModelSHA   string  `json:"model_sha256"`
	Baseline   string  `json:"baseline"`
	Samples    int     `json:"samples"`
	Steps      int     `json:"steps"`
	Likelihood string  `json:"likelihood"`
	Predictor  string  `json:"predictor"`
	Corrector  string  `json:"corrector"`
	SNR        float64 `json:"snr"`
	Churn      string  `json:"churn,omitempty"` // heun's churn, when any
	CGTol      float64 `json:"cg_tol"`
}

// Evaluate runs the held-out-lens evaluation of issue 8 into o.Out: for each lens i it
// writes lens-NN/lens.json, lens-NN/obs.fits (simulated; TRUTH is the galaxy),
// lens-NN/post-model.fits and lens-NN/post-baseline.fits (infer.Run, resumed when
// present), then table.md and table.csv, and returns the numbers. A folder of another
// evaluation (other seeds, grid, model, samples, steps, solver or baseline) is refused.
// With Shards > 1 only this shard's lenses are computed and no table is written.
func Evaluate(ctx context.Context, o Options) (*Result, error) {
	if o.Model == nil || o.Model.Score == nil {
		return nil, fmt.Errorf("no score model")
	}
	switch {
	case o.Lenses < 1:
		return nil, fmt.Errorf("lenses must be at least 1, got %d", o.Lenses)
	case o.Samples < 1:
		return nil, fmt.Errorf("samples must be at least 1, got %d", o.Samples)
	case o.Batch < 1:
		return nil, fmt.Errorf("batch must be at least 1, got %d", o.Batch)
	case o.Out == "":
		return nil, fmt.Errorf("no output folder (--out)")
	case o.Steps < 0:
		return nil, fmt.Errorf("steps must be positive, got %d", o.Steps)
	}
	c, h, w := o.Model.Score.Shape()
	if o.Grid == 0 {
		o.Grid = h
	}
	if c != 1 || h != o.Grid || w != o.Grid {
		return nil, fmt.Errorf("model %s works on %d×%d×%d images but the evaluation's source grid is 1×%d×%d", o.Model.Name, c, h, w, o.Grid, o.Grid)
	}
	if o.Shards == 0 && o.Shard == 0 {
		o.Shard, o.Shards = 1, 1
	}
	if o.Shards < 1 || o.Shard < 1 || o.Shard > o.Shards {
		return nil, fmt.Errorf("shard %d/%d: want k/n with 1 ≤ k ≤ n", o.Shard, o.Shards)
	}
	ns := o.Grid
	if ns < 4 {
		return nil, fmt.Errorf("grid of %d pixels is too small (at least 4)", ns)
	}
	if o.Baseline == "" {
		o.Baseline = DefaultBaseline
	}
	if _, err := infer.ParsePrior(o.Baseline, ns, SourceFOV/float64(ns)); err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	if o.GalaxySeed == 0 {
		o.GalaxySeed = DefaultGalaxySeed
	}
	if o.Likelihood == "" {
		o.Likelihood = infer.LikelihoodFull
	}
	if o.Predictor == "" {
		o.Predictor = "em"
	}
	if o.Corrector == "" {
		o.Corrector = "none"
	}
	if o.SNR == 0 {
		o.SNR = infer.DefaultSNR
	}
	if o.CGTol == 0 {
		o.CGTol = infer.DefaultCGTol
	}
	sde, err := modelSDE(o.Model, 0, 0)
	if err != nil {
		return nil, err
	}
	if o.Steps == 0 {
		if o.Steps, err = infer.AutoSteps(o.Predictor, ns*ns, sde); err != nil {
			return nil, err
		}
	}
	if err := (infer.SolverOptions{SDE: sde, Steps: o.Steps, Predictor: o.Predictor, Corrector: o.Corrector, SNR: o.SNR, Churn: o.Churn}).Check(); err != nil {
		return nil, err
	}
	if !contains(infer.LikelihoodNames, o.Likelihood) {
		return nil, fmt.Errorf("unknown likelihood %q (want %s)", o.Likelihood, strings.Join(infer.LikelihoodNames, ", "))
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, fmt.Errorf("could not create %q: %w", o.Out, err)
	}
	m := manifest{Version: o.Software, Grid: ns, Seed: o.Seed, GalaxySeed: o.GalaxySeed, Model: o.Model.Name,
		ModelSHA: o.Model.SHA256, Baseline: o.Baseline, Samples: o.Samples, Steps: o.Steps, Likelihood: o.Likelihood,
		Predictor: o.Predictor, Corrector: o.Corrector, SNR: o.SNR, CGTol: o.CGTol}
	if c := o.Churn; c != (infer.Churn{}) {
		m.Churn = fmt.Sprintf("%g, sigma %g:%g, noise %g", c.Amount, c.SigmaLo, c.SigmaHi, c.Noise)
	}
	if err := checkManifest(filepath.Join(o.Out, "evaluate.json"), m); err != nil {
		return nil, err
	}

	res := &Result{Steps: o.Steps, Grid: ns, Baseline: o.Baseline}
	for i := 0; i < o.Lenses; i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if i%o.Shards != o.Shard-1 {
			continue
		}
		lr, err := evalLens(ctx, o, i)
		if err != nil {
			return nil, fmt.Errorf("lens %d: %w", i, err)
		}
		res.Lenses = append(res.Lenses, *lr)
		if o.Log != nil {
			fmt.Fprintf(o.Log, "lens %d/%d: χ²ν model %.3g baseline %.3g, rms error model %.4g baseline %.4g\n",
				i+1, o.Lenses, lr.Model.MedChi2, lr.Baseline.MedChi2, lr.Model.RMSError, lr.Baseline.RMSError)
		}
	}
	if o.Shards > 1 {
		return res, nil // the table is written by the run without a shard
	}
	var allM, allB []float64
	for _, lr := range res.Lenses {
		allM = append(allM, lr.Model.Chi2...)
		allB = append(allB, lr.Baseline.Chi2...)
		res.MeanErrModel += lr.Model.RMSError / float64(len(res.Lenses))
		res.MeanErrBase += lr.Baseline.RMSError / float64(len(res.Lenses))
		if lr.Model.RMSError < lr.Baseline.RMSError {
			res.ModelBetter++
		}
	}
	res.MedChi2Model, res.MedChi2Base = median(allM), median(allB)
	var bm, bb, m1, m2, b1, b2 int
	for _, lr := range res.Lenses {
		bm, m1, m2 = bm+lr.Model.Bright, m1+lr.Model.Within1, m2+lr.Model.Within2
		bb, b1, b2 = bb+lr.Baseline.Bright, b1+lr.Baseline.Within1, b2+lr.Baseline.Within2
	}
	res.Within1Model, res.Within2Model = float64(m1)/float64(bm), float64(m2)/float64(bm)
	res.Within1Base, res.Within2Base = float64(b1)/float64(bb), float64(b2)/float64(bb)
	res.Within1Ideal, res.Within2Ideal = tWithin(1, o.Samples), tWithin(2, o.Samples)
	var md, csv bytes.Buffer
	res.WriteMarkdown(&md, o.Model.Name)
	res.WriteCSV(&csv)
	if err := writeAtomic(filepath.Join(o.Out, "table.md"), md.Bytes()); err != nil {
		return nil, err
	}
	if err := writeAtomic(filepath.Join(o.Out, "table.csv"), csv.Bytes()); err != nil {
		return nil, err
	}
	return res, nil
}

// evalLens simulates lens i (or reuses its files) and samples both posteriors.
func evalLens(ctx context.Context, o Options, i int) (*LensResult, error) {
	cs, err := NewCase(o.Seed, o.GalaxySeed, i, o.Grid)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(o.Out, fmt.Sprintf("lens-%02d", i))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("could not create %q: %w", dir, err)
	}
	lensPath, obsPath := filepath.Join(dir, "lens.json"), filepath.Join(dir, "obs.fits")
	old, err := os.ReadFile(lensPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("could not read %q: %w", lensPath, err)
	case !bytes.Equal(old, cs.Config):
		return nil, fmt.Errorf("%s differs from this evaluation's lens %d: choose another --out", lensPath, i)
	}
	if err := writeAtomic(lensPath, cs.Config); err != nil {
		return nil, err
	}
	cfg, err := lens.LoadConfig(lensPath)
	if err != nil {
		return nil, err
	}
	obs, err := lens.ReadObservation(obsPath)
	if errors.Is(err, fs.ErrNotExist) {
		obs, err = simulate(cfg, cs, o, obsPath)
	}
	if err != nil {
		return nil, err
	}
	if obs.Truth == nil || len(obs.Truth) != len(cs.Truth) {
		return nil, fmt.Errorf("%s has no TRUTH of %d×%d pixels", obsPath, o.Grid, o.Grid)
	}
	for k, v := range obs.Truth {
		if v != cs.Truth[k] {
			return nil, fmt.Errorf("%s holds another source than this evaluation's lens %d: choose another --out", obsPath, i)
		}
	}
	lr := &LensResult{Case: cs, TruthChi2: reducedChi2(obs.Model, obs)}
	run := infer.RunOptions{Lens: lensPath, Obs: obsPath, Likelihood: o.Likelihood, Predictor: o.Predictor,
		Corrector: o.Corrector, SNR: o.SNR, Churn: o.Churn, CGTol: o.CGTol, Steps: o.Steps, Samples: o.Samples, Batch: o.Batch,
		Seed: o.Seed + uint64(i), Shard: 1, Shards: 1, Resume: true, Software: o.Software, Log: o.Log}
	mo := run
	mo.Model, mo.Out = o.Model, filepath.Join(dir, "post-model.fits")
	if err := infer.Run(ctx, mo); err != nil {
		return nil, err
	}
	bo := run
	bo.Prior, bo.Out = o.Baseline, filepath.Join(dir, "post-baseline.fits")
	if err := infer.Run(ctx, bo); err != nil {
		return nil, err
	}
	if lr.Model, err = summarise(mo.Out, cs.Truth); err != nil {
		return nil, err
	}
	lr.Model.PriorName = o.Model.Name
	if lr.Baseline, err = summarise(bo.Out, cs.Truth); err != nil {
		return nil, err
	}
	lr.Baseline.PriorName = o.Baseline
	return lr, nil
}

// simulate makes and writes the observation of a case: noise from PCG(seed, streamNoise+i).
func simulate(cfg *lens.Config, cs *Case, o Options, path string) (*lens.Observation, error) {
	r := newPCG(o.Seed, streamNoise+uint64(cs.Index))
	obs, err := lens.Simulate(cfg, cs.Truth, r, o.Software)
	if err != nil {
		return nil, err
	}
	obs.Header.Set("SEED", int64(o.Seed), "evaluation seed (noise: PCG stream 0x5ce11e050000 + lens)")
	obs.Header.Set("GALSEED", int64(o.GalaxySeed), "held-out galaxy stream seed (training: 20261125)")
	obs.Header.Set("LENSIDX", int64(cs.Index), "lens index in the evaluation")
	obs.Header.Set("GALTYPE", cs.Galaxy.Type, "galaxy type of the source")
	obs.Header.Set("BETAX", cs.Beta.X, "[arcsec] source light centroid x")
	obs.Header.Set("BETAY", cs.Beta.Y, "[arcsec] source light centroid y")
	obs.Header.Set("CAUSTIC", cs.Caustic, "source centroid drawn inside the tangential caustic")
	if err := obs.Write(path); err != nil {
		return nil, err
	}
	return obs, nil
}

// summarise reads MEAN and CHI2NU of a posterior file.
func summarise(path string, truth []float64) (PriorResult, error) {
	mean, err := fitsimg.ReadImage(path, "MEAN")
	if err != nil {
		return PriorResult{}, err
	}
	chi, err := fitsimg.ReadImage(path, "CHI2NU")
	if err != nil {
		return PriorResult{}, err
	}
	if len(mean.Data) != len(truth) {
		return PriorResult{}, fmt.Errorf("%s: MEAN has %d pixels, the truth %d", path, len(mean.Data), len(truth))
	}
	std, err := fitsimg.ReadImage(path, "STD")
	if err != nil {
		return PriorResult{}, err
	}
	if len(std.Data) != len(truth) {
		return PriorResult{}, fmt.Errorf("%s: STD has %d pixels, the truth %d", path, len(std.Data), len(truth))
	}
	peak := 0.0
	for _, v := range truth {
		peak = max(peak, v)
	}
	r := PriorResult{Path: path, Chi2: chi.Data, MedChi2: median(chi.Data), Samples: len(chi.Data)}
	s := 0.0
	for k, v := range mean.Data {
		d := v - truth[k]
		s += d * d
		if truth[k] > BrightFrac*peak {
			r.Bright++
			if math.Abs(d) < std.Data[k] {
				r.Within1++
			}
			if math.Abs(d) < 2*std.Data[k] {
				r.Within2++
			}
		}
	}
	r.RMSError = math.Sqrt(s / float64(len(truth)))
	return r, nil
}

// tWithin is how often the truth lies within k sample standard deviations S (the STD
// extension, with n−1 in the denominator) of the mean m̄ of n draws when the posterior is
// Gaussian and calibrated: truth − m̄ has variance σ²(1 + 1/n), so
// (truth − m̄)/(S·sqrt(1 + 1/n)) is Student's t with n−1 degrees of freedom.
func tWithin(k float64, n int) float64 {
	if n < 2 {
		return math.NaN()
	}
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(n - 1)}
	c := k / math.Sqrt(1+1/float64(n))
	return t.CDF(c) - t.CDF(-c)
}

// reducedChi2 is Σ((y − m)/σ)² / N over the used pixels.
func reducedChi2(m []float64, obs *lens.Observation) float64 {
	if m == nil {
		return math.NaN()
	}
	s, n := 0.0, 0
	for k, y := range obs.Data {
		if obs.Used(k) {
			d := (y - m[k]) / obs.Sigma[k]
			s += d * d
			n++
		}
	}
	return s / float64(n)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// checkManifest writes m to path, or checks that the one there equals it.
func checkManifest(path string, m manifest) error {
	want, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		panic(err)
	}
	want = append(want, '\n')
	old, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return writeAtomic(path, want)
	case err != nil:
		return fmt.Errorf("could not read %q: %w", path, err)
	}
	var prev manifest
	if err := json.Unmarshal(old, &prev); err != nil {
		return fmt.Errorf("%s is not an evaluation manifest (%v): choose another --out", path, err)
	}
	if prev == m {
		return nil
	}
	var d []string
	a, _ := json.Marshal(prev)
	b, _ := json.Marshal(m)
	var pa, pb map[string]any
	json.Unmarshal(a, &pa)
	json.Unmarshal(b, &pb)
	keys := make([]string, 0, len(pa))
	for k := range pa {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if fmt.Sprint(pa[k]) != fmt.Sprint(pb[k]) {
			d = append(d, fmt.Sprintf("%s %v vs %v", k, pa[k], pb[k]))
		}
	}
	return fmt.Errorf("%s holds another evaluation (%s; folder vs now): choose another --out", filepath.Dir(path), joinMax(d, 4))
}

// writeAtomic writes data to path through a synced temporary file in the same folder.
func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("could not write %q: %w", path, err)
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if e := tmp.Close(); err == nil {
		err = e
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("could not write %q: %w", path, err)
	}
	return nil
}
