package infer

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sort"
	"strings"
	"sync"
)

// BatchScore is the score a solver integrates, ∇x log p_t(x | y), for a batch of images
// stored one after the other in x (each of the solver's dimension n).
type BatchScore interface {
	Score(ctx context.Context, dst, x []float64, t float64) error
}

// Predictor advances one sample of the reverse SDE by one step.
type Predictor interface {
	// Step moves x from time t to t − dt (dt > 0) given the score at (x, t) and a standard
	// normal draw z. It writes the noise-free update into mean and the full update into x.
	Step(x, mean, score, z []float64, sde VESDE, t, dt float64)
}

// Corrector refines one sample at a fixed time with one step of an MCMC kernel that
// leaves p_t invariant.
type Corrector interface {
	// Correct updates x in place given its score at time t and a standard normal draw z,
	// writing the noise-free update into mean.
	Correct(x, mean, score, z []float64, snr float64)
}

// EulerMaruyama is the paper's solver (eq. 20): x ← x + g(t)²·dt·score + g(t)·√dt·z.
type EulerMaruyama struct{}

// Step implements Predictor.
func (EulerMaruyama) Step(x, mean, score, z []float64, sde VESDE, t, dt float64) {
	g2dt := sde.G2(t) * dt
	sd := math.Sqrt(g2dt)
	for i := range x {
		m := x[i] + g2dt*score[i]
		mean[i] = m
		x[i] = m + sd*z[i]
	}
}

// ReverseDiffusion is the reverse-diffusion predictor of Song et al. (2021), the
// ancestral discretisation of the VE SDE on its own noise levels:
// x ← x + (σ(t)² − σ(t−dt)²)·score + √(σ(t)² − σ(t−dt)²)·z.
type ReverseDiffusion struct{}

// Step implements Predictor.
func (ReverseDiffusion) Step(x, mean, score, z []float64, sde VESDE, t, dt float64) {
	s0, s1 := sde.Sigma(t), sde.Sigma(t-dt)
	G2 := s0*s0 - s1*s1
	sd := math.Sqrt(G2)
	for i := range x {
		m := x[i] + G2*score[i]
		mean[i] = m
		x[i] = m + sd*z[i]
	}
}

// Langevin is the Langevin corrector of Song et al. (2021): with the step size chosen from
// the signal-to-noise ratio, ε = 2·(snr·‖z‖/‖score‖)², x ← x + ε·score + √(2ε)·z.
type Langevin struct{}

// Correct implements Corrector.
func (Langevin) Correct(x, mean, score, z []float64, snr float64) {
	var gn, zn float64
	for i := range score {
		gn += score[i] * score[i]
		zn += z[i] * z[i]
	}
	if gn == 0 {
		copy(mean, x)
		return
	}
	eps := 2 * snr * snr * zn / gn
	sd := math.Sqrt(2 * eps)
	for i := range x {
		m := x[i] + eps*score[i]
		mean[i] = m
		x[i] = m + sd*z[i]
	}
}

// Heun integrates the probability-flow ODE of the VE SDE, dx/dσ = −σ·score(x, σ), with
// Heun's second-order method (Karras et al. 2022, "Elucidating the design space of
// diffusion-based generative models", algorithm 2): an Euler step from σ(t) to σ(t−dt)
// followed by a trapezoidal correction with the score at the step's end. With
// SolverOptions.Churn.Amount > 0 each step first raises the noise level from σ to σ̂ = σ·(1+γ),
// γ = min(Amount/Steps, √2−1), by adding fresh noise of variance σ̂² − σ² (their "churn"),
// which makes the sampler stochastic and lets it correct the score's errors. It costs two
// score evaluations per step, and reaches with a few hundred steps what Euler–Maruyama
// needs thousands for. Solve runs it on the whole batch; its Step, the Euler half alone,
// is there to satisfy Predictor.
type Heun struct{}

// Step implements Predictor: the Euler step of the probability-flow ODE,
// x ← x + ½·(σ(t)² − σ(t−dt)²)·score (exact for the ODE's linear part in σ²).
func (Heun) Step(x, mean, score, z []float64, sde VESDE, t, dt float64) {
	s0, s1 := sde.Sigma(t), sde.Sigma(t-dt)
	h := 0.5 * (s0*s0 - s1*s1)
	for i := range x {
		x[i] += h * score[i]
		mean[i] = x[i]
	}
}

var (
	regMu      sync.RWMutex
	predictors = map[string]Predictor{"em": EulerMaruyama{}, "rd": ReverseDiffusion{}, "heun": Heun{}}
	correctors = map[string]Corrector{"none": nil, "langevin": Langevin{}}
)

// RegisterPredictor adds a predictor under name (replacing any of that name).
func RegisterPredictor(name string, p Predictor) {
	regMu.Lock()
	defer regMu.Unlock()
	predictors[name] = p
}

// RegisterCorrector adds a corrector under name; a nil Corrector means "no correction".
func RegisterCorrector(name string, c Corrector) {
	regMu.Lock()
	defer regMu.Unlock()
	correctors[name] = c
}

// PredictorNames and CorrectorNames list the registered names, sorted.
func PredictorNames() []string { return names(predictors) }

// CorrectorNames lists the registered correctors, sorted.
func CorrectorNames() []string { return names(correctors) }

func names[T any](m map[string]T) []string {
	regMu.RLock()
	defer regMu.RUnlock()
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// SolverOptions configures Solve.
type SolverOptions struct {
	SDE       VESDE
	Steps     int     // N: the time grid is t_i = 1 − i/N, i = 0…N−1, each step dt = 1/N
	Predictor string  // registered predictor name ("em", "rd")
	Corrector string  // registered corrector name ("none", "langevin"); "" = "none"
	SNR       float64 // Langevin signal-to-noise ratio (0: DefaultSNR)
	// CorrectorSteps is the number of corrector steps before each predictor step (0: 1).
	CorrectorSteps int
	// Churn is the heun predictor's stochasticity; other predictors refuse a non-zero one.
	Churn Churn
	// NoDenoise keeps the noise of the final predictor step. By default the last step
	// returns its noise-free mean (score_sde's denoise option) and then Tweedie's formula at
	// t = 0, x + σmin²·s(x, 0) (score_models' denoise_last_step), removes the noise of
	// level σmin that every sample still carries: without it, a galaxy's empty background
	// keeps a floor of rms σmin (0.001 of the peak for the shipped prior), which the
	// morphology statistics of the whole stamp see.
	NoDenoise bool
	// Workers bounds the goroutines used per step (0: GOMAXPROCS).
	Workers int
	// Progress, if set, is called after every step with the number of steps done.
	Progress func(done, total int)
}

// Churn is the stochasticity of the heun predictor (Karras et al. 2022, algorithm 2). The
// zero value is the deterministic probability-flow ODE.
type Churn struct {
	// Amount is S_churn: each step raises σ by the factor 1 + min(Amount/Steps, √2−1)
	// with fresh noise before integrating down.
	Amount float64
	// SigmaLo and SigmaHi restrict the churn to steps that start at SigmaLo ≤ σ ≤ SigmaHi
	// (their S_tmin and S_tmax, in the units of x; SigmaHi 0: no upper limit). Churn at the
	// lowest noise levels costs detail, because a denoiser trained with the L2 loss
	// removes slightly too much noise each time (their §4).
	SigmaLo, SigmaHi float64
	// Noise scales the fresh noise (their S_noise, slightly above 1 to make up for that
	// excess; 0: 1).
	Noise float64
}

// validate reports the first bad value.
func (c Churn) validate() error {
	bad := func(v float64) bool { return !(v >= 0) || math.IsInf(v, 0) }
	switch {
	case bad(c.Amount):
		return fmt.Errorf("churn must be a non-negative number, got %g", c.Amount)
	case bad(c.SigmaLo) || bad(c.SigmaHi) || (c.SigmaHi != 0 && c.SigmaHi < c.SigmaLo):
		return fmt.Errorf("churn σ range must be 0 ≤ low ≤ high (0:0 for every step), got %g:%g", c.SigmaLo, c.SigmaHi)
	case bad(c.Noise):
		return fmt.Errorf("churn noise must be a non-negative number, got %g", c.Noise)
	}
	return nil
}

// DefaultHeunSteps is the heun predictor's step count for --steps auto (401 model calls
// per sample). On the shipped galaxy prior 100 steps with churn 40 already matched 1,150
// Euler–Maruyama steps with a Langevin corrector step each (2,301 calls) in posteriors of
// held-out lenses; prior samples came closer to the held-out galaxies at 200 steps than at
// 100 (models/galaxies64.md).
const DefaultHeunSteps = 200

// AutoSteps is the step count of --steps auto for a predictor on images of n values:
// DefaultHeunSteps for heun, else StepsFor(DefaultStepTarget, …), the paper's rule for
// Euler–Maruyama.
func AutoSteps(predictor string, n int, sde VESDE) (int, error) {
	if predictor == "heun" {
		return DefaultHeunSteps, nil
	}
	return StepsFor(DefaultStepTarget, n, sde.SigmaMin, sde.SigmaMax)
}

// DefaultSNR is the Langevin corrector's default signal-to-noise ratio.
const DefaultSNR = 0.1

// Validate checks the options and resolves the names.
func (o *SolverOptions) resolve() (Predictor, Corrector, error) {
	if err := o.SDE.Validate(); err != nil {
		return nil, nil, err
	}
	if o.Steps < 1 {
		return nil, nil, fmt.Errorf("steps must be at least 1, got %d", o.Steps)
	}
	regMu.RLock()
	p, okP := predictors[o.Predictor]
	cname := o.Corrector
	if cname == "" {
		cname = "none"
	}
	c, okC := correctors[cname]
	regMu.RUnlock()
	if !okP || p == nil {
		return nil, nil, fmt.Errorf("unknown predictor %q (want %s)", o.Predictor, strings.Join(PredictorNames(), ", "))
	}
	if !okC {
		return nil, nil, fmt.Errorf("unknown corrector %q (want %s)", o.Corrector, strings.Join(CorrectorNames(), ", "))
	}
	if c != nil && !(o.SNR >= 0) {
		return nil, nil, fmt.Errorf("snr must be non-negative, got %g", o.SNR)
	}
	if err := o.Churn.validate(); err != nil {
		return nil, nil, err
	}
	if _, heun := p.(Heun); o.Churn != (Churn{}) && !heun {
		return nil, nil, fmt.Errorf("churn applies to the heun predictor only, not %q", o.Predictor)
	}
	return p, c, nil
}

// Check validates the options without running anything.
func (o SolverOptions) Check() error {
	_, _, err := o.resolve()
	return err
}

// SampleRNG returns the random stream of sample index under seed. Every draw a sample
// needs (its p₁ start and every step's noise) comes from this stream in a fixed order, so
// a sample does not depend on the batch or shard it is computed in.
func SampleRNG(seed uint64, index int) *rand.Rand {
	return rand.New(rand.NewPCG(seed, uint64(index)))
}

// Solve draws len(rngs) samples of dimension n = len(x)/len(rngs) by integrating the
// reverse SDE from t = 1 to t = 0 with the given score, and leaves them in x. Sample b
// starts from p₁ = N(0, σmax² I) drawn from rngs[b] and takes every later draw from it
// too. The context is checked between steps.
func Solve(ctx context.Context, score BatchScore, x []float64, rngs []*rand.Rand, opt SolverOptions) error {
	pred, corr, err := opt.resolve()
	if err != nil {
		return err
	}
	B := len(rngs)
	if B == 0 || len(x)%B != 0 {
		panic("infer: Solve: x does not hold len(rngs) samples")
	}
	n := len(x) / B
	snr := opt.SNR
	if snr == 0 {
		snr = DefaultSNR
	}
	csteps := opt.CorrectorSteps
	if csteps <= 0 {
		csteps = 1
	}
	if corr == nil {
		csteps = 0
	}
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	sub := func(v []float64, b int) []float64 { return v[b*n : (b+1)*n] }
	parallel(B, workers, func(b int) { opt.SDE.SamplePrior(sub(x, b), rngs[b]) })
	sc := make([]float64, len(x))
	mean := make([]float64, len(x))
	z := make([]float64, len(x))
	draw := func(b int) {
		zb := sub(z, b)
		for i := range zb {
			zb[i] = rngs[b].NormFloat64()
		}
	}
	N := opt.Steps
	dt := 1 / float64(N)
	var heun *heunStepper
	if _, ok := pred.(Heun); ok {
		heun = newHeunStepper(opt, len(x))
	}
	for i := 0; i < N; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		t := 1 - float64(i)*dt
		for c := 0; c < csteps; c++ {
			if err := score.Score(ctx, sc, x, t); err != nil {
				return err
			}
			parallel(B, workers, func(b int) {
				draw(b)
				corr.Correct(sub(x, b), sub(mean, b), sub(sc, b), sub(z, b), snr)
			})
		}
		if heun != nil {
			if err := heun.step(ctx, score, x, sc, rngs, opt.SDE, t, dt, workers); err != nil {
				return err
			}
		} else {
			if err := score.Score(ctx, sc, x, t); err != nil {
				return err
			}
			last := i == N-1
			parallel(B, workers, func(b int) {
				draw(b)
				xb := sub(x, b)
				pred.Step(xb, sub(mean, b), sub(sc, b), sub(z, b), opt.SDE, t, dt)
				if last && !opt.NoDenoise {
					copy(xb, sub(mean, b))
				}
			})
		}
		if opt.Progress != nil {
			opt.Progress(i+1, N)
		}
	}
	if opt.NoDenoise {
		return nil
	}
	if err := score.Score(ctx, sc, x, 0); err != nil {
		return err
	}
	s2 := opt.SDE.Sigma(0) * opt.SDE.Sigma(0)
	parallel(B, workers, func(b int) {
		xb, sb := sub(x, b), sub(sc, b)
		for i := range xb {
			xb[i] += s2 * sb[i]
		}
	})
	return nil
}

// heunStepper takes the steps of the heun predictor (Karras et al. 2022, algorithm 2, on
// the solver's geometric σ grid) for Solve. The time of a raised level σ̂ is
// t(σ̂) = ln(σ̂/σmin)/ln(σmax/σmin); churn is skipped where σ̂ would pass σmax, beyond the
// times the model was trained on, and outside [Churn.SigmaLo, Churn.SigmaHi].
type heunStepper struct {
	gamma, lo, hi, noise float64
	x1, sc2              []float64 // the Euler step's end point and its score
}

func newHeunStepper(opt SolverOptions, size int) *heunStepper {
	h := &heunStepper{gamma: math.Min(opt.Churn.Amount/float64(opt.Steps), math.Sqrt2-1),
		lo: opt.Churn.SigmaLo, hi: opt.Churn.SigmaHi, noise: opt.Churn.Noise,
		x1: make([]float64, size), sc2: make([]float64, size)}
	if h.hi == 0 {
		h.hi = math.Inf(1)
	}
	if h.noise == 0 {
		h.noise = 1
	}
	return h
}

// step moves the batch x from t to t − dt, using sc as the score's workspace.
func (h *heunStepper) step(ctx context.Context, score BatchScore, x, sc []float64, rngs []*rand.Rand, sde VESDE, t, dt float64, workers int) error {
	B := len(rngs)
	n := len(x) / B
	sub := func(v []float64, b int) []float64 { return v[b*n : (b+1)*n] }
	sig, sigNext := sde.Sigma(t), sde.Sigma(t-dt)
	sigHat, tHat := sig, t
	if h.gamma > 0 && sig*(1+h.gamma) <= sde.SigmaMax && sig >= h.lo && sig <= h.hi {
		sigHat = sig * (1 + h.gamma)
		tHat = math.Log(sigHat/sde.SigmaMin) / sde.logRatio()
		sd := h.noise * math.Sqrt(sigHat*sigHat-sig*sig)
		parallel(B, workers, func(b int) {
			xb := sub(x, b)
			for k := range xb {
				xb[k] += sd * rngs[b].NormFloat64()
			}
		})
	}
	if err := score.Score(ctx, sc, x, tHat); err != nil {
		return err
	}
	// dx/dσ = −σ·score: the Euler step from σ̂ down to σnext is (σ̂ − σnext)·σ̂·score.
	step := sigHat - sigNext
	parallel(B, workers, func(b int) {
		xb, x1b, sb := sub(x, b), sub(h.x1, b), sub(sc, b)
		for k := range xb {
			x1b[k] = xb[k] + step*sigHat*sb[k]
		}
	})
	if err := score.Score(ctx, h.sc2, h.x1, t-dt); err != nil {
		return err
	}
	parallel(B, workers, func(b int) {
		xb, sb, s2b := sub(x, b), sub(sc, b), sub(h.sc2, b)
		for k := range xb {
			xb[k] += 0.5 * step * (sigHat*sb[k] + sigNext*s2b[k])
		}
	})
	return nil
}

// parallel runs f(0…n−1) on up to workers goroutines. Each index is handled by exactly
// one call, so results that depend only on the index are deterministic.
func parallel(n, workers int, f func(int)) {
	if workers > n {
		workers = n
	}
	if workers <= 1 {
		for i := 0; i < n; i++ {
			f(i)
		}
		return
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	next := 0
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= n {
					return
				}
				f(i)
			}
		}()
	}
	wg.Wait()
}

// Posterior is the score of the diffused posterior as the paper approximates it (eq. 5):
// the prior score plus the convolved likelihood score.
type Posterior struct {
	Prior      ScoreModel  // required; a SigmaScorer is evaluated in float64 per sample
	Likelihood *Likelihood // nil: sample the prior
	SDE        VESDE       // maps t to σ(t) for the likelihood (and SigmaScorer priors)
	Workers    int         // goroutines (0: GOMAXPROCS)
}

// NewBatch returns the BatchScore for b samples, with a fresh likelihood workspace (CG
// warm start) for each.
func (p *Posterior) NewBatch(b int) *PosteriorBatch {
	pb := &PosteriorBatch{p: p, b: b}
	if p.Likelihood != nil {
		pb.works = make([]*LikelihoodWork, b)
		for i := range pb.works {
			pb.works[i] = p.Likelihood.NewWork()
		}
	}
	return pb
}

// PosteriorBatch is the posterior score of one batch; it implements BatchScore.
type PosteriorBatch struct {
	p        *Posterior
	b        int
	works    []*LikelihoodWork
	x32, s32 []float32
	t32      []float32
}

// Works returns the per-sample likelihood workspaces (nil without a likelihood).
func (pb *PosteriorBatch) Works() []*LikelihoodWork { return pb.works }

// Score implements BatchScore.
func (pb *PosteriorBatch) Score(ctx context.Context, dst, x []float64, t float64) error {
	p := pb.p
	c, h, w := p.Prior.Shape()
	n := c * h * w
	if len(x) != pb.b*n || len(dst) != len(x) {
		panic("infer: PosteriorBatch.Score: batch shape mismatch")
	}
	sigma := p.SDE.Sigma(t)
	workers := p.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	ss, analytic := p.Prior.(SigmaScorer)
	if !analytic {
		if pb.x32 == nil {
			pb.x32, pb.s32, pb.t32 = make([]float32, len(x)), make([]float32, len(x)), make([]float32, pb.b)
		}
		for i, v := range x {
			pb.x32[i] = float32(v)
		}
		for i := range pb.t32 {
			pb.t32[i] = float32(t)
		}
		if err := p.Prior.Score(ctx, pb.s32, pb.x32, pb.t32); err != nil {
			return fmt.Errorf("prior score at t=%g: %w", t, err)
		}
	}
	parallel(pb.b, workers, func(b int) {
		xb, db := x[b*n:(b+1)*n], dst[b*n:(b+1)*n]
		if analytic {
			ss.ScoreSigma(db, xb, sigma)
		} else {
			for i, v := range pb.s32[b*n : (b+1)*n] {
				db[i] = float64(v)
			}
		}
		if p.Likelihood != nil {
			p.Likelihood.AddScore(db, xb, sigma, pb.works[b])
		}
	})
	return nil
}
