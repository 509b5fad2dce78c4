package evaluate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"scorelens/infer"
	"scorelens/infer/figure"
	"scorelens/infer/progress"
	"scorelens/infer/runlock"
	"scorelens/lens/fitsimg"
)

// SourceFOV is the source field of view of SPEC §4 and of the training galaxies (arcsec).
const SourceFOV = 3.0

// GenerateOptions are the settings of `scorelens generate`.
type GenerateOptions struct {
	Model     *infer.ModelPrior // the score model (one channel, square images)
	Samples   int               // number of prior samples
	Batch     int               // samples solved together (the file is rewritten after each batch)
	Steps     int               // solver steps; 0: infer.AutoSteps
	Predictor string            // "" = "em"
	Corrector string            // "" = "none"
	SNR       float64           // Langevin corrector; 0 = infer.DefaultSNR
	Churn     infer.Churn       // the heun predictor's
	// SigmaMin and SigmaMax override the model's σ range (physical units); 0 keeps it.
	SigmaMin, SigmaMax float64
	NoDenoise          bool
	Seed               uint64 // sample i draws from infer.SampleRNG(Seed, i)
	Out                string // FITS cube to write
	// Resume continues the cube at Out if it holds samples of this run (same model, σ
	// range, steps, solver, seed and count); otherwise an existing Out is refused unless
	// Force.
	Resume, Force bool
	// Shard and Shards split the samples between processes: shard k of n draws the
	// samples with index i mod n = k−1 into ShardPath(Out, k, n). A run without a shard
	// (0/0 or 1/1) takes the samples of every shard file of the same run beside Out and
	// draws only the missing ones, writing the whole cube to Out.
	Shard, Shards int
	Preview       string    // PNG grid of the first samples ("" for none)
	Software      string    // VERSION card
	Log           io.Writer // progress; nil: quiet
}

// genMeta is what identifies a generate run in its file's header.
type genMeta struct {
	infer.SolverSettings
	Seed          uint64
	NSamples      int
	Version       string
	Shard, Shards int
}

func (m *genMeta) header(n, done int) fitsimg.Header {
	var h fitsimg.Header
	h.Set("ORIGIN", "prior samples", "where the images came from")
	h.Set("NPIX", int64(n), "pixels a side")
	h.Set("PIXSCALE", SourceFOV/float64(n), "arcsec per pixel (the training grid)")
	h.Set("NORM", "none", "physical units of the model (data_scale applied)")
	h.Set("COUNT", int64(done), "number of images")
	m.SetCards(&h)
	h.Set("SEED", int64(m.Seed), "seed; sample i uses PCG(seed, i)")
	h.Set("NSAMPLES", int64(m.NSamples), "samples asked for")
	h.Set("SHARD", fmt.Sprintf("%d/%d", m.Shard, m.Shards), "shard k/n: samples with index % n == k-1")
	h.Set("NDONE", int64(done), "samples in this file (the shard's first NDONE indices)")
	h.Set("VERSION", m.Version, "scorelens version")
	return h
}

// differs lists the header cards of h that disagree with m (empty: the same run).
func (m *genMeta) differs(h *fitsimg.Header) []string {
	want := m.header(0, 0)
	var d []string
	for _, key := range []string{"MODEL", "MODELSHA", "SIGMAMIN", "SIGMAMAX", "STEPS", "PREDICTR", "CORRECTR", "SNR", "CHURN", "CHURNLO", "CHURNHI", "CHURNNS", "DENOISE", "SEED", "NSAMPLES", "SHARD", "VERSION"} {
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
	Resumed  int     // samples found on disk (this run's file; without a shard, the shard files too)
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
		if steps, err = infer.AutoSteps(o.Predictor, n*n, sde); err != nil {
			return nil, err
		}
	}
	sopt := infer.SolverOptions{SDE: sde, Steps: steps, Predictor: o.Predictor, Corrector: o.Corrector, SNR: o.SNR, Churn: o.Churn, NoDenoise: o.NoDenoise}
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
	if o.Shards == 0 && o.Shard == 0 {
		o.Shard, o.Shards = 1, 1
	}
	if o.Shards < 1 || o.Shard < 1 || o.Shard > o.Shards {
		return nil, fmt.Errorf("shard %d/%d: want k/n with 1 ≤ k ≤ n", o.Shard, o.Shards)
	}
	meta := genMeta{SolverSettings: infer.SolverSettings{Model: o.Model.Name, ModelSHA: o.Model.SHA256,
		SigmaMin: sde.SigmaMin, SigmaMax: sde.SigmaMax, Steps: steps, Predictor: sopt.Predictor,
		Corrector: sopt.Corrector, SNR: sopt.SNR, Churn: sopt.Churn, Denoise: !o.NoDenoise},
		Seed: o.Seed, NSamples: o.Samples, Version: o.Software, Shard: o.Shard, Shards: o.Shards}
	path := o.Out
	if o.Shards > 1 {
		path = ShardPath(o.Out, o.Shard, o.Shards)
	}
	idx := shardIndices(o.Samples, o.Shard, o.Shards)
	if len(idx) == 0 {
		return nil, fmt.Errorf("shard %d/%d holds no sample of %d", o.Shard, o.Shards, o.Samples)
	}
	lock, err := runlock.Acquire(path)
	if err != nil {
		return nil, err
	}
	defer lock.Release()
	lock.WarnUnheld(o.Log, path)
	have := map[int][]float64{} // sample index → image
	onDisk := 0                 // samples in path: the resumed prefix, then each batch's write
	prev, err := fitsimg.ReadImage(path, "IMAGES")
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		if !o.Force {
			return nil, fmt.Errorf("%s exists and is not a prior-sample cube (%v): not overwriting it; choose another --out or pass --force", path, err)
		}
	default:
		diff := meta.differs(&prev.Header)
		done, _ := prev.Header.Int("NDONE")
		same := len(diff) == 0 && len(prev.Axes) == 3 && prev.Axes[0] == n && prev.Axes[1] == n && int64(prev.Axes[2]) == done && int(done) <= len(idx)
		switch {
		case same && o.Resume:
			onDisk = int(done)
			for j := 0; j < int(done); j++ {
				have[idx[j]] = prev.Plane(j)
			}
		case o.Force:
		case !same:
			if len(diff) == 0 {
				diff = []string{fmt.Sprintf("axes %v", prev.Axes)}
			}
			return nil, fmt.Errorf("%s holds another run (%s; file vs now): not overwriting it; choose another --out or pass --force", path, joinMax(diff, 4))
		case int(done) == len(idx):
			return nil, fmt.Errorf("%s already holds all %d samples of this run: nothing to do (pass --force to draw them again)", path, done)
		default:
			return nil, fmt.Errorf("%s holds %d of %d samples of this run: add --resume to continue it, or --force to start over", path, done, len(idx))
		}
	}
	res := &GenerateResult{N: n, Steps: steps, SDE: sde, Resumed: len(have)}
	bar := progress.New(o.Log)
	if o.Shards == 1 {
		// The shard files of this run beside Out supply the samples they hold.
		found, files, err := readShards(o.Out, &meta, n, have)
		if err != nil {
			return nil, err
		}
		if found > 0 && o.Log != nil {
			bar.Printf("%d samples from %d shard files", found, files)
		}
		res.Resumed += found
	}
	var todo []int
	for _, i := range idx {
		if have[i] == nil {
			todo = append(todo, i)
		}
	}
	if o.Log != nil {
		if res.Resumed > 0 {
			bar.Printf("%d of %d samples on disk", len(idx)-len(todo), len(idx))
		}
		bar.Printf("%d prior samples (shard %d/%d) of %s (%d×%d): %s+%s, %d steps, σ %.3g…%.3g, batch %d",
			len(todo), o.Shard, o.Shards, o.Model.Name, n, n, sopt.Predictor, sopt.Corrector, steps, sde.SigmaMin, sde.SigmaMax, o.Batch)
	}
	post := &infer.Posterior{Prior: o.Model.Score, SDE: sde}
	start := time.Now()
	batches := (len(todo) + o.Batch - 1) / o.Batch
	total := int64(steps) * int64(len(todo))
	for b := 0; b < batches; b++ {
		bi := todo[b*o.Batch : min((b+1)*o.Batch, len(todo))]
		k := len(bi)
		x := make([]float64, k*n*n)
		rngs := make([]*rand.Rand, k)
		for j, i := range bi {
			rngs[j] = infer.SampleRNG(o.Seed, i)
		}
		base := int64(b*o.Batch) * int64(steps)
		so := sopt
		so.Progress = func(step, nsteps int) {
			bar.Update(progress.State{Done: base + int64(step)*int64(k), Total: total, Batch: b + 1, Batches: batches,
				Step: step, Steps: nsteps, Samples: b * o.Batch, SamplesTotal: len(todo)})
		}
		if err := infer.Solve(ctx, post.NewBatch(k), x, rngs, so); err != nil {
			bar.Finish()
			if ctx.Err() != nil {
				return nil, fmt.Errorf("aborted: %d of %d samples are in %s; continue with the same command and --resume", onDisk, len(idx), path)
			}
			return nil, err
		}
		for j, i := range bi {
			im := x[j*n*n : (j+1)*n*n]
			for p, v := range im {
				im[p] = float64(float32(v))
			}
			have[i] = im
		}
		if onDisk, err = writePrefix(path, &meta, n, idx, have); err != nil {
			bar.Finish()
			return nil, err
		}
	}
	bar.Finish()
	if len(todo) == 0 {
		// Nothing drawn (a complete resumed file, or shard files that held everything):
		// write the file as this run writes it.
		if onDisk, err = writePrefix(path, &meta, n, idx, have); err != nil {
			return nil, err
		}
	}
	res.Computed = len(todo)
	res.Seconds = time.Since(start).Seconds()
	for _, i := range idx[:onDisk] {
		res.Samples = append(res.Samples, have[i]...)
	}
	if o.Log != nil && len(todo) > 0 {
		bar.Printf("wrote %d prior samples to %s in %s (%.3g s per sample drawn)", onDisk, path, progress.Duration(time.Since(start)), res.Seconds/float64(len(todo)))
	}
	if o.Preview != "" {
		k := min(onDisk, 48)
		ims := make([][]float64, k)
		for j := range ims {
			ims[j] = have[idx[j]]
		}
		if err := figure.Grid(o.Preview, ims, n, 8, nil); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// ShardPath is the file shard k of n writes for the cube out: beside it, named
// NAME.shard-K-of-N.fits. A run without a shard on the same out reads them.
func ShardPath(out string, k, n int) string {
	base := strings.TrimSuffix(out, filepath.Ext(out))
	return fmt.Sprintf("%s.shard-%d-of-%d.fits", base, k, n)
}

// shardIndices returns the sample indices of shard k of n: i mod n = k−1.
func shardIndices(samples, k, n int) []int {
	var idx []int
	for i := k - 1; i < samples; i += n {
		idx = append(idx, i)
	}
	return idx
}

// readShards adds to have the samples of every shard file of this run beside out and
// returns how many it added and from how many files. A shard file of another run is an
// error (it would otherwise be silently ignored).
func readShards(out string, m *genMeta, n int, have map[int][]float64) (added, files int, err error) {
	base := strings.TrimSuffix(out, filepath.Ext(out))
	paths, _ := filepath.Glob(globEscape(base) + ".shard-*-of-*.fits")
	sort.Strings(paths)
	for _, p := range paths {
		var k, s int
		if _, e := fmt.Sscanf(strings.TrimPrefix(p, base), ".shard-%d-of-%d.fits", &k, &s); e != nil || ShardPath(out, k, s) != p || s < 2 || k < 1 || k > s {
			continue
		}
		im, e := fitsimg.ReadImage(p, "IMAGES")
		if e != nil {
			return 0, 0, fmt.Errorf("shard file %s: %w", p, e)
		}
		ms := *m
		ms.Shard, ms.Shards = k, s
		done, _ := im.Header.Int("NDONE")
		idx := shardIndices(m.NSamples, k, s)
		if d := ms.differs(&im.Header); len(d) > 0 || len(im.Axes) != 3 || im.Axes[0] != n || im.Axes[1] != n || int64(im.Axes[2]) != done || int(done) > len(idx) {
			return 0, 0, fmt.Errorf("shard file %s belongs to another run (%s; file vs now): move it away", p, joinMax(d, 4))
		}
		for j := 0; j < int(done); j++ {
			if have[idx[j]] == nil {
				have[idx[j]] = im.Plane(j)
				added++
			}
		}
		files++
	}
	return added, files, nil
}

// globEscape escapes the metacharacters of filepath.Match in s.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// writePrefix writes the longest prefix of idx whose samples are all in have, and returns
// its length.
func writePrefix(path string, m *genMeta, n int, idx []int, have map[int][]float64) (int, error) {
	var samples []float64
	k := 0
	for ; k < len(idx) && have[idx[k]] != nil; k++ {
		samples = append(samples, have[idx[k]]...)
	}
	return k, writeCube(path, m, n, samples)
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
