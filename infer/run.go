package infer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"

	"scorelens/lens"
	"scorelens/lens/fitsimg"
)

// DefaultStepTarget is the technique-2 probability that --steps auto reaches (the paper's
// N = 8000 for 256² images corresponds to 0.99).
const DefaultStepTarget = 0.99

// RunOptions are the settings of `scorelens sample` (SPEC §7).
type RunOptions struct {
	Lens, Obs, Out string
	Prior          string // analytic prior specification (ParsePrior)
	Likelihood     string
	Predictor      string
	Corrector      string
	SNR            float64
	Steps          int     // 0: auto (StepsFor(DefaultStepTarget, …))
	SigmaMin       float64 // 0: 1e-3 × min(prior σ, smallest used noise σ)
	SigmaMax       float64 // 0: the prior's DefaultSigmaMax
	Samples        int     // total over all shards
	Batch          int     // samples solved together
	Seed           uint64
	Shard, Shards  int // this shard k of n (1-based); samples with index % n == k−1
	CGTol          float64
	NoDenoise      bool
	Software       string    // version written to the header
	Log            io.Writer // progress and summary; nil: quiet
}

// Run performs `scorelens sample`: it reads and checks every input before sampling, then
// draws this shard's samples batch by batch, writing the posterior file (SPEC §5)
// atomically after every batch.
func Run(ctx context.Context, o RunOptions) error {
	if o.Samples < 1 {
		return fmt.Errorf("samples must be at least 1, got %d", o.Samples)
	}
	if o.Batch < 1 {
		return fmt.Errorf("batch must be at least 1, got %d", o.Batch)
	}
	if o.Shards < 1 || o.Shard < 1 || o.Shard > o.Shards {
		return fmt.Errorf("shard %d/%d: want k/n with 1 ≤ k ≤ n", o.Shard, o.Shards)
	}
	if o.Out == "" {
		return fmt.Errorf("no output file (--out)")
	}
	cfg, err := lens.LoadConfig(o.Lens)
	if err != nil {
		return err
	}
	obs, err := lens.ReadObservation(o.Obs)
	if err != nil {
		return err
	}
	if err := obs.CheckAgainst(cfg); err != nil {
		return err
	}
	op, err := lens.NewOperator(cfg)
	if err != nil {
		return err
	}
	grid := cfg.SourceGrid()
	prior, err := ParsePrior(o.Prior, grid.N, grid.Scale)
	if err != nil {
		return err
	}
	lik, err := NewLikelihood(o.Likelihood, op, obs.Data, obs.Sigma, obs.Mask, LikelihoodOptions{CGTol: o.CGTol})
	if err != nil {
		return fmt.Errorf("%s: %w", o.Obs, err)
	}
	sde := VESDE{SigmaMin: o.SigmaMin, SigmaMax: o.SigmaMax}
	if sde.SigmaMax == 0 {
		sde.SigmaMax = prior.DefaultSigmaMax()
	}
	if sde.SigmaMin == 0 {
		s := prior.PixelSigma()
		for k, v := range obs.Sigma {
			if obs.Used(k) {
				s = math.Min(s, v)
			}
		}
		sde.SigmaMin = 1e-3 * s
	}
	if err := sde.Validate(); err != nil {
		return err
	}
	prior.SDE = sde
	n := grid.Len()
	steps := o.Steps
	if steps == 0 {
		if steps, err = StepsFor(DefaultStepTarget, n, sde.SigmaMin, sde.SigmaMax); err != nil {
			return err
		}
	}
	sopt := SolverOptions{SDE: sde, Steps: steps, Predictor: o.Predictor, Corrector: o.Corrector, SNR: o.SNR, NoDenoise: o.NoDenoise}
	if sopt.Corrector == "" {
		sopt.Corrector = "none"
	}
	if sopt.SNR == 0 {
		sopt.SNR = DefaultSNR
	}
	if err := sopt.Check(); err != nil {
		return err
	}
	var indices []int
	for i := 0; i < o.Samples; i++ {
		if i%o.Shards == o.Shard-1 {
			indices = append(indices, i)
		}
	}
	if len(indices) == 0 {
		return fmt.Errorf("shard %d/%d holds no sample of %d", o.Shard, o.Shards, o.Samples)
	}
	obsHash, err := fileHash(o.Obs)
	if err != nil {
		return err
	}
	pf := &posteriorFile{
		opt: o, sde: sde, steps: steps, sopt: sopt, prior: prior, lik: lik, obs: obs, cfg: cfg,
		lensHash: cfg.LensHash(), obsHash: obsHash, n: n, ns: grid.N, scale: grid.Scale,
	}
	if o.Log != nil {
		fmt.Fprintf(o.Log, "sampling %d of %d samples (shard %d/%d): prior %s, likelihood %s, %s+%s, %d steps, σ %.3g…%.3g\n",
			len(indices), o.Samples, o.Shard, o.Shards, prior, o.Likelihood, sopt.Predictor, sopt.Corrector, steps, sde.SigmaMin, sde.SigmaMax)
	}
	post := &Posterior{Prior: prior, Likelihood: lik, SDE: sde}
	for start := 0; start < len(indices); start += o.Batch {
		idx := indices[start:min(start+o.Batch, len(indices))]
		x := make([]float64, len(idx)*n)
		rngs := make([]*rand.Rand, len(idx))
		for b, i := range idx {
			rngs[b] = SampleRNG(o.Seed, i)
		}
		if err := Solve(ctx, post.NewBatch(len(idx)), x, rngs, sopt); err != nil {
			return err
		}
		pf.add(idx, x)
		if err := pf.write(); err != nil {
			return err
		}
		if o.Log != nil {
			fmt.Fprintf(o.Log, "  %d/%d samples written to %s\n", len(pf.index), len(indices), o.Out)
		}
	}
	return nil
}

func fileHash(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("could not read %q: %w", path, err)
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:]), nil
}

// posteriorFile accumulates samples and writes the posterior file.
type posteriorFile struct {
	opt               RunOptions
	sde               VESDE
	steps             int
	sopt              SolverOptions
	prior             *GaussianPrior
	lik               *Likelihood
	obs               *lens.Observation
	cfg               *lens.Config
	lensHash, obsHash string
	n, ns             int
	scale             float64
	samples           []float64
	index             []int
}

func (p *posteriorFile) add(idx []int, x []float64) {
	p.samples = append(p.samples, x...)
	p.index = append(p.index, idx...)
}

// Fingerprint returns the SHA-256 of everything that determines the samples (inputs,
// prior, SDE, solver, likelihood, seed, sample count), but not the shard or batch: shards
// of one run share it, which is what merging checks.
func (p *posteriorFile) fingerprint() string {
	s := fmt.Sprintf("lens=%s obs=%s prior=%s sde=ve:%.17g:%.17g steps=%d pred=%s corr=%s snr=%.17g lik=%s cgtol=%.17g denoise=%t seed=%d samples=%d",
		p.lensHash, p.obsHash, p.prior, p.sde.SigmaMin, p.sde.SigmaMax, p.steps, p.sopt.Predictor, p.sopt.Corrector, p.sopt.SNR,
		p.lik.Kind(), p.lik.tol, !p.opt.NoDenoise, p.opt.Seed, p.opt.Samples)
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func (p *posteriorFile) write() error {
	n, K := p.n, len(p.index)
	mean, std := make([]float64, n), make([]float64, n)
	for k := 0; k < K; k++ {
		for j, v := range p.samples[k*n : (k+1)*n] {
			mean[j] += v / float64(K)
		}
	}
	if K > 1 {
		for k := 0; k < K; k++ {
			for j, v := range p.samples[k*n : (k+1)*n] {
				d := v - mean[j]
				std[j] += d * d / float64(K-1)
			}
		}
		for j := range std {
			std[j] = math.Sqrt(std[j])
		}
	}
	a := p.lik.Operator()
	m := a.Rows()
	pred := make([]float64, m)
	a.Apply(pred, mean)
	resid := make([]float64, m)
	used := 0
	for i := range resid {
		if p.obs.Used(i) {
			resid[i] = (p.obs.Data[i] - pred[i]) / p.obs.Sigma[i]
			used++
		} else {
			resid[i] = math.NaN()
		}
	}
	chi2 := make([]float64, K)
	ax := make([]float64, m)
	for k := 0; k < K; k++ {
		a.Apply(ax, p.samples[k*n:(k+1)*n])
		s := 0.0
		for i := range ax {
			if p.obs.Used(i) {
				d := (p.obs.Data[i] - ax[i]) / p.obs.Sigma[i]
				s += d * d
			}
		}
		chi2[k] = s / float64(used)
	}
	idx := make([]float64, K)
	for k, v := range p.index {
		idx[k] = float64(v)
	}
	samples := fitsimg.NewImage("SAMPLES", append([]float64(nil), p.samples...), p.ns, p.ns, K)
	h := &samples.Header
	spec := "prior:" + p.prior.String()
	sum := sha256.Sum256([]byte(spec))
	h.Set("MODEL", spec, "score model: an analytic prior (no model file)")
	h.Set("MODELSHA", hex.EncodeToString(sum[:]), "SHA-256 of the model (of the prior spec)")
	h.Set("SDE", "ve", "variance-exploding SDE")
	h.Set("SIGMAMIN", p.sde.SigmaMin, "sigma_min of the VE SDE")
	h.Set("SIGMAMAX", p.sde.SigmaMax, "sigma_max of the VE SDE")
	h.Set("STEPS", int64(p.steps), "solver steps")
	h.Set("PREDICTR", p.sopt.Predictor, "predictor")
	h.Set("CORRECTR", p.sopt.Corrector, "corrector")
	h.Set("SNR", p.sopt.SNR, "Langevin corrector signal-to-noise ratio")
	h.Set("DENOISE", !p.opt.NoDenoise, "final step without noise")
	h.Set("LIKELIHD", p.lik.Kind(), "convolved likelihood (paper, diag, full)")
	h.Set("CGTOL", p.lik.tol, "CG relative tolerance (full likelihood)")
	h.Set("SEED", int64(p.opt.Seed), "seed; sample i uses PCG(seed, i)")
	h.Set("SHARD", fmt.Sprintf("%d/%d", p.opt.Shard, p.opt.Shards), "shard k/n: samples with index % n == k-1")
	h.Set("NSAMPLES", int64(p.opt.Samples), "samples in the whole run (all shards)")
	h.Set("NDONE", int64(K), "samples in this file")
	h.Set("FINGERPR", p.fingerprint(), "SHA-256 of the run settings (shards share it)")
	h.Set("LENSHASH", p.lensHash, "SHA-256 of the lens configuration")
	h.Set("OBSHASH", p.obsHash, "SHA-256 of the observation file")
	h.Set("PIXSCALE", p.scale, "source pixel scale (arcsec)")
	h.Set("SRCX0", p.cfg.Source.X0, "source grid centre x (arcsec)")
	h.Set("SRCY0", p.cfg.Source.Y0, "source grid centre y (arcsec)")
	h.Set("VERSION", p.opt.Software, "scorelens version")
	hdus := []fitsimg.HDU{
		samples,
		fitsimg.NewImage("MEAN", mean, p.ns, p.ns),
		fitsimg.NewImage("STD", std, p.ns, p.ns),
		fitsimg.NewImage("PRED", pred, p.obs.N, p.obs.N),
		fitsimg.NewImage("RESID", resid, p.obs.N, p.obs.N),
		fitsimg.NewImage("CHI2NU", chi2, K),
		func() *fitsimg.Image {
			im := fitsimg.NewImage("INDEX", idx, K)
			im.BitPix = 32
			return im
		}(),
	}
	if err := fitsimg.Write(p.opt.Out, hdus...); err != nil {
		return fmt.Errorf("could not write posterior %q: %w", p.opt.Out, err)
	}
	return nil
}
