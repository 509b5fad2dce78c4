package evaluate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"time"

	"scorelens/infer"
	"scorelens/infer/figure"
	"scorelens/infer/progress"
	"scorelens/lens/fitsimg"
)

// SourceFOV is the source field of view of SPEC §4 and of the training galaxies (arcsec).
const SourceFOV = 3.0

// GenerateOptions are the settings of `scorelens generate`.
type GenerateOptions struct {
	Model     *infer.ModelPrior // the score model (one channel, square images)
	Samples   int               // number of prior samples
	Batch     int               // samples solved together (the file is rewritten after each batch)
	Steps     int               // solver steps; 0: infer.StepsFor(infer.DefaultStepTarget, …)
	Predictor string            // "" = "em"
	Corrector string            // "" = "none"
	SNR       float64           // Langevin corrector; 0 = infer.DefaultSNR
	// SigmaMin and SigmaMax override the model's σ range (physical units); 0 keeps it.
	SigmaMin, SigmaMax float64
	NoDenoise          bool
	Seed               uint64 // sample i draws from infer.SampleRNG(Seed, i)
	Out                string // FITS cube to write
	// Resume continues the cube at Out if it holds samples of this run (same model, σ
	// range, steps, solver, seed and count); otherwise an existing Out is refused unless
	// Force.
	Resume, Force bool
	Preview       string    // PNG grid of the first samples ("" for none)
	Software      string    // VERSION card
	Log           io.Writer // progress; nil: quiet
}

// genMeta is what identifies a generate run in its file's header.
type genMeta struct {
	Model, ModelSHA    string
	SigmaMin, SigmaMax float64
	Steps              int
	Predictor          string
	Corrector          string
	SNR                float64
	Denoise            bool
	Seed               uint64
	NSamples           int
	Version            string
}

func (m *genMeta) header(n, done int) fitsimg.Header {
	var h fitsimg.Header
	h.Set("ORIGIN", "prior samples", "where the images came from")
	h.Set("NPIX", int64(n), "pixels a side")
	h.Set("PIXSCALE", SourceFOV/float64(n), "arcsec per pixel (the training grid)")
	h.Set("NORM", "none", "physical units of the model (data_scale applied)")
	h.Set("COUNT", int64(done), "number of images")
	h.Set("MODEL", m.Model, "score model file")
	h.Set("MODELSHA", m.ModelSHA, "SHA-256 of the model")
	h.Set("SDE", "ve", "variance-exploding SDE")
	h.Set("SIGMAMIN", m.SigmaMin, "sigma_min of the VE SDE")
	h.Set("SIGMAMAX", m.SigmaMax, "sigma_max of the VE SDE")
	h.Set("STEPS", int64(m.Steps), "solver steps")
	h.Set("PREDICTR", m.Predictor, "predictor")
	h.Set("CORRECTR", m.Corrector, "corrector")
	h.Set("SNR", m.SNR, "Langevin corrector signal-to-noise ratio")
	h.Set("DENOISE", m.Denoise, "final step without noise")
	h.Set("SEED", int64(m.Seed), "seed; sample i uses PCG(seed, i)")
	h.Set("NSAMPLES", int64(m.NSamples), "samples asked for")
	h.Set("NDONE", int64(done), "samples in this file (the first NDONE indices)")
	h.Set("VERSION", m.Version, "scorelens version")
	return h
}

// differs lists the header cards of h that disagree with m (empty: the same run).
func (m *genMeta) differs(h *fitsimg.Header) []string {
	want := m.header(0, 0)
	var d []string
	for _, key := range []string{"MODEL", "MODELSHA", "SIGMAMIN", "SIGMAMAX", "STEPS", "PREDICTR", "CORRECTR", "SNR", "DENOISE", "SEED", "NSAMPLES", "VERSION"} {
		a, _ := want.Get(key)
		b, ok := h.Get(key)
		if !ok || fmt.Sprint(a) != fmt.Sprint(b) {
			d = append(d, fmt.Sprintf("%s %v vs %v", key, b, a))
		}
	}
	return d
}

// GenerateResult describes a finished Generate.
type GenerateResult struct {
	N        int       // pixels a side
	Samples  []float64 // the samples, one n×n image after the other, as written (float32 values)
	Steps    int
	SDE      infer.VESDE
	Seconds  float64 // wall time of the sampling done by this call
	Resumed  int     // samples found in the file and kept
	Computed int     // samples drawn by this call
}

// Generate draws o.Samples samples of the prior alone (the model's score, no likelihood)
// and writes them as a FITS cube: an IMAGES HDU of NAXIS3 = samples done, in physical
// units, whose header records the model, its SHA-256, the σ range, steps, solver and seed.
// The file is rewritten atomically after every batch, so a killed run keeps what it drew
// and Resume continues it; the result does not depend on Batch.
func Generate(ctx context.Context, o GenerateOptions) (*GenerateResult, error) {
	if o.Model == nil || o.Model.Score == nil {
		return nil, fmt.Errorf("no score model")
	}
	if o.Samples < 1 {
		return nil, fmt.Errorf("samples must be at least 1, got %d", o.Samples)
	}
	if o.Batch < 1 {
		return nil, fmt.Errorf("batch must be at least 1, got %d", o.Batch)
	}
	if o.Out == "" {
		return nil, fmt.Errorf("no output file (--out)")
	}
	c, h, w := o.Model.Score.Shape()
	if c != 1 || h != w || h < 2 {
		return nil, fmt.Errorf("model %s works on %d×%d×%d images; generate needs one channel of square images", o.Model.Name, c, h, w)
	}
	n := h
	sde, err := modelSDE(o.Model, o.SigmaMin, o.SigmaMax)
	if err != nil {
		return nil, err
	}
	steps := o.Steps
	if steps == 0 {
		if steps, err = infer.StepsFor(infer.DefaultStepTarget, n*n, sde.SigmaMin, sde.SigmaMax); err != nil {
			return nil, err
		}
	}
	sopt := infer.SolverOptions{SDE: sde, Steps: steps, Predictor: o.Predictor, Corrector: o.Corrector, SNR: o.SNR, NoDenoise: o.NoDenoise}
	if sopt.Predictor == "" {
		sopt.Predictor = "em"
	}
	if sopt.Corrector == "" {
		sopt.Corrector = "none"
	}
	if sopt.SNR == 0 {
		sopt.SNR = infer.DefaultSNR
	}
	if err := sopt.Check(); err != nil {
		return nil, err
	}
	meta := genMeta{Model: o.Model.Name, ModelSHA: o.Model.SHA256, SigmaMin: sde.SigmaMin, SigmaMax: sde.SigmaMax,
		Steps: steps, Predictor: sopt.Predictor, Corrector: sopt.Corrector, SNR: sopt.SNR, Denoise: !o.NoDenoise,
		Seed: o.Seed, NSamples: o.Samples, Version: o.Software}

	var samples []float64
	prev, err := fitsimg.ReadImage(o.Out, "IMAGES")
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		if !o.Force {
			return nil, fmt.Errorf("%s exists and is not a prior-sample cube (%v): not overwriting it; choose another --out or pass --force", o.Out, err)
		}
	default:
		diff := meta.differs(&prev.Header)
		done, _ := prev.Header.Int("NDONE")
		same := len(diff) == 0 && len(prev.Axes) == 3 && prev.Axes[0] == n && prev.Axes[1] == n && int64(prev.Axes[2]) == done
		switch {
		case same && o.Resume:
			samples = prev.Data[:int(done)*n*n]
		case o.Force:
		case !same:
			if len(diff) == 0 {
				diff = []string{fmt.Sprintf("axes %v", prev.Axes)}
			}
			return nil, fmt.Errorf("%s holds another run (%s; file vs now): not overwriting it; choose another --out or pass --force", o.Out, joinMax(diff, 4))
		case int(done) == o.Samples:
			return nil, fmt.Errorf("%s already holds all %d samples of this run: nothing to do (pass --force to draw them again)", o.Out, o.Samples)
		default:
			return nil, fmt.Errorf("%s holds %d of %d samples of this run: add --resume to continue it, or --force to start over", o.Out, done, o.Samples)
		}
	}
	res := &GenerateResult{N: n, Steps: steps, SDE: sde, Resumed: len(samples) / (n * n)}
	bar := progress.New(o.Log)
	first := res.Resumed
	if o.Log != nil {
		if first > 0 {
			bar.Printf("resuming %s: %d of %d samples on disk", o.Out, first, o.Samples)
		}
		bar.Printf("prior samples %d…%d of %s (%d×%d): %s+%s, %d steps, σ %.3g…%.3g, batch %d",
			first, o.Samples-1, o.Model.Name, n, n, sopt.Predictor, sopt.Corrector, steps, sde.SigmaMin, sde.SigmaMax, o.Batch)
	}
	post := &infer.Posterior{Prior: o.Model.Score, SDE: sde}
	start := time.Now()
	todo := o.Samples - first
	batches := (todo + o.Batch - 1) / o.Batch
	total := int64(steps) * int64(todo)
	for b := 0; b < batches; b++ {
		lo := first + b*o.Batch
		hi := min(lo+o.Batch, o.Samples)
		k := hi - lo
		x := make([]float64, k*n*n)
		rngs := make([]*rand.Rand, k)
		for j := range rngs {
			rngs[j] = infer.SampleRNG(o.Seed, lo+j)
		}
		base := int64(b*o.Batch) * int64(steps)
		so := sopt
		so.Progress = func(step, nsteps int) {
			bar.Update(progress.State{Done: base + int64(step)*int64(k), Total: total, Batch: b + 1, Batches: batches,
				Step: step, Steps: nsteps, Samples: lo - first, SamplesTotal: todo})
		}
		if err := infer.Solve(ctx, post.NewBatch(k), x, rngs, so); err != nil {
			bar.Finish()
			if ctx.Err() != nil {
				return nil, fmt.Errorf("aborted: %d of %d samples are in %s; continue with the same command and --resume", len(samples)/(n*n), o.Samples, o.Out)
			}
			return nil, err
		}
		for i, v := range x {
			x[i] = float64(float32(v))
		}
		samples = append(samples, x...)
		if err := writeCube(o.Out, &meta, n, samples); err != nil {
			bar.Finish()
			return nil, err
		}
	}
	bar.Finish()
	res.Computed = todo
	res.Seconds = time.Since(start).Seconds()
	res.Samples = samples
	if todo == 0 {
		// A resumed, complete cube: make sure it is on disk as this run writes it.
		if err := writeCube(o.Out, &meta, n, samples); err != nil {
			return nil, err
		}
	}
	if o.Log != nil && todo > 0 {
		bar.Printf("wrote %d prior samples to %s in %s (%.3g s per sample)", o.Samples, o.Out, progress.Duration(time.Since(start)), res.Seconds/float64(todo))
	}
	if o.Preview != "" {
		k := min(o.Samples, 48)
		ims := make([][]float64, k)
		for i := range ims {
			ims[i] = samples[i*n*n : (i+1)*n*n]
		}
		if err := figure.Grid(o.Preview, ims, n, 8, nil); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// writeCube writes the samples as the IMAGES cube of a generate run, atomically.
func writeCube(path string, m *genMeta, n int, samples []float64) error {
	k := len(samples) / (n * n)
	cube := fitsimg.NewImage("IMAGES", append([]float64(nil), samples...), n, n, k)
	cube.Header = m.header(n, k)
	if err := fitsimg.Write(path, cube); err != nil {
		return fmt.Errorf("could not write prior samples: %w", err)
	}
	return nil
}

// modelSDE returns the SDE of a model prior with optional overrides (0 keeps the model's).
func modelSDE(m *infer.ModelPrior, sigmaMin, sigmaMax float64) (infer.VESDE, error) {
	sde := infer.VESDE{SigmaMin: m.SigmaMin, SigmaMax: m.SigmaMax}
	if sigmaMin != 0 {
		sde.SigmaMin = sigmaMin
	}
	if sigmaMax != 0 {
		sde.SigmaMax = sigmaMax
	}
	if sde.SigmaMax == 0 {
		return sde, fmt.Errorf("model %s gives no sigma_max: pass --sigma-max", m.Name)
	}
	if sde.SigmaMin == 0 {
		return sde, fmt.Errorf("model %s gives no sigma_min: pass --sigma-min", m.Name)
	}
	if err := sde.Validate(); err != nil {
		return sde, err
	}
	return sde, nil
}

// joinMax joins at most k items, saying how many more there are.
func joinMax(items []string, k int) string {
	if len(items) <= k {
		return join(items)
	}
	return join(items[:k]) + fmt.Sprintf(" and %d more", len(items)-k)
}

func join(items []string) string {
	s := ""
	for i, v := range items {
		if i > 0 {
			s += ", "
		}
		s += v
	}
	return s
}
