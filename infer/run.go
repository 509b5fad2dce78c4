package infer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"scorelens/infer/progress"
	"scorelens/infer/runlock"
	"scorelens/lens"
)

// DefaultStepTarget is the technique-2 probability that --steps auto reaches (the paper's
// N = 8000 for 256² images corresponds to 0.99).
const DefaultStepTarget = 0.99

// ModelPrior is a prior score model given to Run instead of an analytic prior: the trained
// network behind ONNX Runtime (SPEC §6), or any other ScoreModel.
type ModelPrior struct {
	// Score is the model; its Shape must be one channel of the lens file's source grid.
	Score ScoreModel
	// Name is written to the MODEL header card (e.g. the model file's base name).
	Name string
	// SHA256 is the hexadecimal SHA-256 of the model file: the MODELSHA card, and part of
	// the run's fingerprint (a run with another model is another run).
	SHA256 string
	// SigmaMin and SigmaMax are the SDE defaults from the model's metadata, used when
	// RunOptions leaves them 0. Without a SigmaMin, 1e-3 × the smallest noise σ is used;
	// without any SigmaMax, Run refuses to start.
	SigmaMin, SigmaMax float64
}

// RunOptions are the settings of `scorelens sample` (SPEC §7).
type RunOptions struct {
	Lens, Obs, Out string
	Prior          string      // analytic prior specification (ParsePrior); or:
	Model          *ModelPrior // a score model (exactly one of Prior and Model)
	Likelihood     string
	Predictor      string
	Corrector      string
	SNR            float64
	Churn          Churn   // the heun predictor's (SolverOptions.Churn)
	Steps          int     // 0: auto (AutoSteps)
	SigmaMin       float64 // 0: the model's, or 1e-3 × min(prior σ, smallest used noise σ)
	SigmaMax       float64 // 0: the model's, or the prior's DefaultSigmaMax
	Samples        int     // total over all shards
	Batch          int     // samples solved together
	Seed           uint64
	Shard, Shards  int // this shard k of n (1-based); samples with index % n == k−1
	CGTol          float64
	NoDenoise      bool
	// Resume continues the posterior file at Out if it belongs to this run (same
	// fingerprint, lens, observation, seed, samples, shard and version): the samples it
	// holds are kept and only the others are drawn. Without a file at Out, the run starts
	// from scratch. A file of another run is refused (unless Force).
	Resume bool
	// Force lets Run replace a file at Out that is not a posterior of this run (or, without
	// Resume, any file). Without Force, an existing file is never overwritten by another
	// run, and a file of the same run needs Resume (to continue it) or Force (to start over).
	Force bool
	// Stop, when closed, makes Run finish the batch in flight, write it, and return an
	// error wrapping ErrStopped that says how many samples are on disk. Cancelling ctx
	// instead abandons the batch in flight at the next solver step (the file keeps the
	// batches written before).
	Stop     <-chan struct{}
	Software string    // version written to the header
	Log      io.Writer // progress (a bar on a terminal, lines otherwise) and summary; nil: quiet
}

// ErrStopped is wrapped by Run's error when it stopped early at the request of
// RunOptions.Stop.
var ErrStopped = errors.New("stopped")

// Run performs `scorelens sample`: it reads and checks every input and the output file
// before sampling, then draws this shard's samples batch by batch, writing the posterior
// file (SPEC §5) atomically after every batch, so that a run killed at any moment keeps
// every finished batch. Sample i is drawn from SampleRNG(Seed, i) alone, so a resumed run,
// or any batch size or shard, gives the same samples; a resumed run's file is byte-identical
// to an unbroken run's at the same batch size on the same machine.
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
	if (o.Prior == "") == (o.Model == nil) {
		return fmt.Errorf("give exactly one of an analytic prior (--prior) and a score model (--model)")
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
		return fmt.Errorf("%s: %w", filepath.Base(o.Obs), err)
	}
	op, err := lens.NewOperator(cfg)
	if err != nil {
		return err
	}
	grid := cfg.SourceGrid()
	pr, err := resolvePrior(o, grid.N, grid.Scale)
	if err != nil {
		return err
	}
	lik, err := NewLikelihood(o.Likelihood, op, obs.Data, obs.Sigma, obs.Mask, LikelihoodOptions{CGTol: o.CGTol})
	if err != nil {
		return fmt.Errorf("%s: %w", o.Obs, err)
	}
	sde := VESDE{SigmaMin: o.SigmaMin, SigmaMax: o.SigmaMax}
	if sde.SigmaMax == 0 {
		sde.SigmaMax = pr.sigmaMax
		if sde.SigmaMax == 0 {
			return fmt.Errorf("model %s gives no default sigma_max: pass --sigma-max", pr.name)
		}
	}
	if sde.SigmaMin == 0 {
		sde.SigmaMin = pr.sigmaMin
	}
	if sde.SigmaMin == 0 {
		s := pr.pixelSigma
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
	if pr.gauss != nil {
		pr.gauss.SDE = sde
	}
	n := grid.Len()
	steps := o.Steps
	if steps == 0 {
		if steps, err = AutoSteps(o.Predictor, n, sde); err != nil {
			return err
		}
	}
	sopt := SolverOptions{SDE: sde, Steps: steps, Predictor: o.Predictor, Corrector: o.Corrector, SNR: o.SNR, Churn: o.Churn, NoDenoise: o.NoDenoise}
	if sopt.Corrector == "" {
		sopt.Corrector = "none"
	}
	if sopt.SNR == 0 {
		sopt.SNR = DefaultSNR
	}
	if err := sopt.Check(); err != nil {
		return err
	}
	indices := shardIndices(o.Samples, o.Shard, o.Shards)
	if len(indices) == 0 {
		return fmt.Errorf("shard %d/%d holds no sample of %d", o.Shard, o.Shards, o.Samples)
	}
	obsHash, err := fileHash(o.Obs)
	if err != nil {
		return err
	}
	lensAbs, err1 := filepath.Abs(o.Lens)
	obsAbs, err2 := filepath.Abs(o.Obs)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("could not resolve the input paths: %w", err)
	}
	meta := runMeta{
		SolverSettings: SolverSettings{Model: pr.name, ModelSHA: pr.sha, SigmaMin: sde.SigmaMin, SigmaMax: sde.SigmaMax,
			Steps: steps, Predictor: sopt.Predictor, Corrector: sopt.Corrector, SNR: sopt.SNR, Churn: sopt.Churn, Denoise: !o.NoDenoise},
		Likelihood: lik.Kind(), CGTol: lik.tol, Seed: o.Seed, Shard: o.Shard, Shards: o.Shards,
		NSamples: o.Samples, LensHash: cfg.LensHash(), ObsHash: obsHash,
		PixScale: grid.Scale, SrcX0: cfg.Source.X0, SrcY0: cfg.Source.Y0, Version: o.Software,
		LensPath: lensAbs, ObsPath: obsAbs,
	}
	meta.Fingerprint = fingerprint(&meta, pr.id)

	// The output file: continue it, refuse it, or replace it, before any sampling, and
	// only while no other process is writing it.
	lock, err := runlock.Acquire(o.Out)
	if err != nil {
		return err
	}
	defer lock.Release()
	lock.WarnUnheld(o.Log, o.Out)
	var samples []float64
	var done []int
	prev, err := readPosterior(o.Out)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		if !o.Force {
			return fmt.Errorf("%s exists and is not a posterior file of scorelens (%v): not overwriting it; choose another --out or pass --force", o.Out, err)
		}
	default:
		diff := differences(&prev.Meta, &meta, false)
		same := len(diff) == 0 && prev.NS == grid.N
		switch {
		case !same && !o.Force:
			return fmt.Errorf("%s holds another run (%s; file vs now): not overwriting it; choose another --out or pass --force to replace it", o.Out, strings.Join(diff, ", "))
		case same && o.Resume:
			samples, done = prev.Samples, prev.Index
		case same && !o.Force:
			if prev.Meta.NDone == len(indices) {
				return fmt.Errorf("%s already holds all %d samples of this run: nothing to do (pass --force to draw them again)", o.Out, len(indices))
			}
			return fmt.Errorf("%s holds %d of %d samples of this run: add --resume to continue it, or --force to start over", o.Out, prev.Meta.NDone, len(indices))
		}
	}
	have := make(map[int]bool, len(done))
	for _, i := range done {
		have[i] = true
	}
	var todo []int
	for _, i := range indices {
		if !have[i] {
			todo = append(todo, i)
		}
	}
	bar := progress.New(o.Log)
	if o.Log != nil {
		if len(done) > 0 {
			bar.Printf("resuming %s: %d of %d samples on disk", o.Out, len(done), len(indices))
		}
		bar.Printf("sampling %d of %d samples (shard %d/%d): %s, likelihood %s, %s+%s, %d steps, σ %.3g…%.3g, batch %d",
			len(todo), o.Samples, o.Shard, o.Shards, pr.name, o.Likelihood, sopt.Predictor, sopt.Corrector, steps, sde.SigmaMin, sde.SigmaMax, o.Batch)
	}
	if len(todo) == 0 {
		if o.Log != nil {
			bar.Printf("%s already holds all %d samples of this run: nothing to do", o.Out, len(indices))
		}
		return nil
	}
	w := &posteriorWriter{a: op, obs: obs, ns: grid.N}
	post := &Posterior{Prior: pr.model, Likelihood: lik, SDE: sde}
	batches := (len(todo) + o.Batch - 1) / o.Batch
	total := int64(steps) * int64(len(todo))
	var unitsDone int64
	stopping := make(chan struct{})
	defer close(stopping)
	if o.Stop != nil {
		go func() {
			select {
			case <-o.Stop:
				bar.Printf("stopping after the batch in flight (interrupt again to abandon it)")
			case <-stopping:
			}
		}()
	}
	start := time.Now()
	for b := 0; b < batches; b++ {
		if stopped(o.Stop) {
			return &runError{msg: "stopped: " + onDisk(len(done), len(indices), o.Out), err: ErrStopped}
		}
		idx := todo[b*o.Batch : min((b+1)*o.Batch, len(todo))]
		x := make([]float64, len(idx)*n)
		rngs := make([]*rand.Rand, len(idx))
		for k, i := range idx {
			rngs[k] = SampleRNG(o.Seed, i)
		}
		base := unitsDone
		so := sopt
		so.Progress = func(step, nsteps int) {
			if step == nsteps {
				return // reported once the batch is on disk
			}
			bar.Update(progress.State{Done: base + int64(step)*int64(len(idx)), Total: total, Batch: b + 1, Batches: batches,
				Step: step, Steps: nsteps, Samples: len(done), SamplesTotal: len(indices)})
		}
		if err := Solve(ctx, post.NewBatch(len(idx)), x, rngs, so); err != nil {
			bar.Finish()
			if ctx.Err() != nil {
				return &runError{msg: "aborted (the batch in flight is lost): " + onDisk(len(done), len(indices), o.Out), err: err}
			}
			return err
		}
		unitsDone += int64(steps) * int64(len(idx))
		toFloat32(x)
		samples = append(samples, x...)
		done = append(done, idx...)
		if err := w.write(o.Out, meta, samples, done); err != nil {
			bar.Finish()
			return err
		}
		bar.Update(progress.State{Done: unitsDone, Total: total, Batch: b + 1, Batches: batches,
			Step: steps, Steps: steps, Samples: len(done), SamplesTotal: len(indices)})
	}
	bar.Finish()
	if o.Log != nil {
		el := time.Since(start)
		bar.Printf("wrote %d samples to %s in %s (%.3g s per sample)", len(done), o.Out, progress.Duration(el), el.Seconds()/float64(len(todo)))
	}
	return nil
}

// runError is an early end of Run: its message says what is on disk; it wraps the cause.
type runError struct {
	msg string
	err error
}

func (e *runError) Error() string { return e.msg }
func (e *runError) Unwrap() error { return e.err }

// onDisk says how many samples a stopped run left and how to continue.
func onDisk(done, total int, out string) string {
	if done == 0 {
		return fmt.Sprintf("no sample of %d was written to %s yet; run the same command again", total, out)
	}
	return fmt.Sprintf("%d of %d samples are in %s; continue with the same command and --resume", done, total, out)
}

func stopped(c <-chan struct{}) bool {
	if c == nil {
		return false
	}
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// resolvedPrior is the prior of a run, analytic or a model.
type resolvedPrior struct {
	model              ScoreModel
	gauss              *GaussianPrior // the analytic prior, or nil
	name, sha          string         // MODEL and MODELSHA
	id                 string         // what identifies the prior in the fingerprint
	sigmaMin, sigmaMax float64        // defaults (0: none)
	pixelSigma         float64        // per-pixel prior σ for the σmin default (+Inf: unknown)
}

func resolvePrior(o RunOptions, ns int, scale float64) (*resolvedPrior, error) {
	if o.Model != nil {
		m := o.Model
		if m.Score == nil {
			return nil, fmt.Errorf("model %s: no score model", m.Name)
		}
		c, h, w := m.Score.Shape()
		if c != 1 || h != ns || w != ns {
			return nil, fmt.Errorf("model %s works on %d×%d×%d images but the lens file's source grid is 1×%d×%d", m.Name, c, h, w, ns, ns)
		}
		if m.SHA256 == "" {
			return nil, fmt.Errorf("model %s: no SHA-256", m.Name)
		}
		return &resolvedPrior{model: m.Score, name: m.Name, sha: m.SHA256, id: "model=" + m.SHA256,
			sigmaMin: m.SigmaMin, sigmaMax: m.SigmaMax, pixelSigma: math.Inf(1)}, nil
	}
	p, err := ParsePrior(o.Prior, ns, scale)
	if err != nil {
		return nil, err
	}
	spec := "prior:" + p.String()
	sum := sha256.Sum256([]byte(spec))
	return &resolvedPrior{model: p, gauss: p, name: spec, sha: hex.EncodeToString(sum[:]), id: "prior=" + p.String(),
		sigmaMax: p.DefaultSigmaMax(), pixelSigma: p.PixelSigma()}, nil
}

// fingerprint returns the SHA-256 of everything that determines the samples (inputs,
// prior or model, SDE, solver, likelihood, seed, sample count), but not the shard or batch:
// shards of one run share it, which is what merging checks.
func fingerprint(m *runMeta, priorID string) string {
	s := fmt.Sprintf("lens=%s obs=%s %s sde=ve:%.17g:%.17g steps=%d pred=%s corr=%s snr=%.17g lik=%s cgtol=%.17g denoise=%t seed=%d samples=%d",
		m.LensHash, m.ObsHash, priorID, m.SigmaMin, m.SigmaMax, m.Steps, m.Predictor, m.Corrector, m.SNR,
		m.Likelihood, m.CGTol, m.Denoise, m.Seed, m.NSamples)
	if c := m.Churn; c != (Churn{}) { // only when set, so files of earlier versions keep their fingerprint
		s += fmt.Sprintf(" churn=%.17g:%.17g:%.17g:%.17g", c.Amount, c.SigmaLo, c.SigmaHi, c.Noise)
	}
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func fileHash(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("could not read %q: %w", path, err)
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:]), nil
}
