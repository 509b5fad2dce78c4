package infer

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path/filepath"
	"sort"
	"strings"

	"scorelens/lens"
	"scorelens/lens/fitsimg"
)

// runMeta is everything the posterior file's header says about the run (SPEC §5), and the
// input files it read (the INPUTS table). Run builds it from its settings; resuming and
// merging read it back from files.
type runMeta struct {
	SolverSettings
	Likelihood        string
	CGTol             float64
	Seed              uint64
	Shard, Shards     int
	NSamples, NDone   int
	Fingerprint       string
	LensHash, ObsHash string
	PixScale          float64
	SrcX0, SrcY0      float64
	Version           string
	LensPath, ObsPath string // absolute paths of the lens configuration and observation
}

// SolverSettings are the settings of a reverse-SDE run that every file of samples records:
// posterior files and prior-sample cubes alike.
type SolverSettings struct {
	Model, ModelSHA    string
	SigmaMin, SigmaMax float64
	Steps              int
	Predictor          string
	Corrector          string
	SNR                float64
	Churn              Churn // the heun predictor's (zero for the others)
	Denoise            bool
}

// SetCards writes the settings into h (MODEL … DENOISE, in the order of SPEC §5).
func (s SolverSettings) SetCards(h *fitsimg.Header) {
	h.Set("MODEL", s.Model, "score model file, or prior:SPEC for an analytic prior")
	h.Set("MODELSHA", s.ModelSHA, "SHA-256 of the model (of the prior spec)")
	h.Set("SDE", "ve", "variance-exploding SDE")
	h.Set("SIGMAMIN", s.SigmaMin, "sigma_min of the VE SDE")
	h.Set("SIGMAMAX", s.SigmaMax, "sigma_max of the VE SDE")
	h.Set("STEPS", int64(s.Steps), "solver steps")
	h.Set("PREDICTR", s.Predictor, "predictor")
	h.Set("CORRECTR", s.Corrector, "corrector")
	h.Set("SNR", s.SNR, "Langevin corrector signal-to-noise ratio")
	h.Set("CHURN", s.Churn.Amount, "heun churn S_churn (Karras et al. 2022)")
	h.Set("CHURNLO", s.Churn.SigmaLo, "heun churn from sigma (S_tmin; 0: all)")
	h.Set("CHURNHI", s.Churn.SigmaHi, "heun churn up to sigma (S_tmax; 0: all)")
	h.Set("CHURNNS", s.Churn.Noise, "heun churn noise scale (S_noise; 0: 1)")
	h.Set("DENOISE", s.Denoise, "final step without noise")
}

// header returns the SAMPLES header cards of m, in the order of SPEC §5.
func (m *runMeta) header() fitsimg.Header {
	var h fitsimg.Header
	m.SetCards(&h)
	h.Set("LIKELIHD", m.Likelihood, "convolved likelihood (paper, diag, full)")
	h.Set("CGTOL", m.CGTol, "CG relative tolerance (full likelihood)")
	h.Set("SEED", int64(m.Seed), "seed; sample i uses PCG(seed, i)")
	h.Set("SHARD", fmt.Sprintf("%d/%d", m.Shard, m.Shards), "shard k/n: samples with index % n == k-1")
	h.Set("NSAMPLES", int64(m.NSamples), "samples in the whole run (all shards)")
	h.Set("NDONE", int64(m.NDone), "samples in this file")
	h.Set("FINGERPR", m.Fingerprint, "SHA-256 of the run settings (shards share it)")
	h.Set("LENSHASH", m.LensHash, "SHA-256 of the lens configuration")
	h.Set("OBSHASH", m.ObsHash, "SHA-256 of the observation file")
	h.Set("PIXSCALE", m.PixScale, "source pixel scale (arcsec)")
	h.Set("SRCX0", m.SrcX0, "source grid centre x (arcsec)")
	h.Set("SRCY0", m.SrcY0, "source grid centre y (arcsec)")
	h.Set("VERSION", m.Version, "scorelens version")
	return h
}

// parseMeta reads the header cards written by header.
func parseMeta(h *fitsimg.Header) (runMeta, error) {
	var m runMeta
	var missing []string
	str := func(key string) string {
		v, ok := h.String(key)
		if !ok {
			missing = append(missing, key)
		}
		return v
	}
	flt := func(key string) float64 {
		v, ok := h.Float(key)
		if !ok {
			missing = append(missing, key)
		}
		return v
	}
	integer := func(key string) int64 {
		v, ok := h.Int(key)
		if !ok {
			missing = append(missing, key)
		}
		return v
	}
	m.Model, m.ModelSHA = str("MODEL"), str("MODELSHA")
	m.SigmaMin, m.SigmaMax = flt("SIGMAMIN"), flt("SIGMAMAX")
	m.Steps = int(integer("STEPS"))
	m.Predictor, m.Corrector = str("PREDICTR"), str("CORRECTR")
	m.SNR = flt("SNR")
	// Files written before the heun predictor lack the churn cards: zero churn.
	for key, dst := range map[string]*float64{"CHURN": &m.Churn.Amount, "CHURNLO": &m.Churn.SigmaLo,
		"CHURNHI": &m.Churn.SigmaHi, "CHURNNS": &m.Churn.Noise} {
		if v, ok := h.Float(key); ok {
			*dst = v
		}
	}
	if v, ok := h.Bool("DENOISE"); ok {
		m.Denoise = v
	} else {
		missing = append(missing, "DENOISE")
	}
	m.Likelihood, m.CGTol = str("LIKELIHD"), flt("CGTOL")
	m.Seed = uint64(integer("SEED"))
	m.NSamples, m.NDone = int(integer("NSAMPLES")), int(integer("NDONE"))
	m.Fingerprint, m.LensHash, m.ObsHash = str("FINGERPR"), str("LENSHASH"), str("OBSHASH")
	m.PixScale, m.SrcX0, m.SrcY0 = flt("PIXSCALE"), flt("SRCX0"), flt("SRCY0")
	m.Version = str("VERSION")
	shard := str("SHARD")
	if len(missing) > 0 {
		return m, fmt.Errorf("header lacks %s", strings.Join(missing, ", "))
	}
	if _, err := fmt.Sscanf(shard, "%d/%d", &m.Shard, &m.Shards); err != nil || m.Shards < 1 || m.Shard < 1 || m.Shard > m.Shards {
		return m, fmt.Errorf("bad SHARD %q", shard)
	}
	if m.NSamples < 1 || m.NDone < 0 || m.Steps < 1 {
		return m, fmt.Errorf("bad NSAMPLES %d, NDONE %d or STEPS %d", m.NSamples, m.NDone, m.Steps)
	}
	return m, nil
}

// shardIndices returns the sample indices of shard k of n among samples: i mod n = k−1.
func shardIndices(samples, k, n int) []int {
	var idx []int
	for i := k - 1; i < samples; i += n {
		idx = append(idx, i)
	}
	return idx
}

// differences lists how run b differs from run a, in the words of the command line
// ("seed 3 vs 4"); empty when they are the same run. Shards are compared unless
// ignoreShard.
func differences(a, b *runMeta, ignoreShard bool) []string {
	var d []string
	add := func(what string, x, y any) {
		if fmt.Sprint(x) != fmt.Sprint(y) {
			d = append(d, fmt.Sprintf("%s %v vs %v", what, x, y))
		}
	}
	if a.LensHash != b.LensHash {
		d = append(d, "lens configuration (LENSHASH)")
	}
	if a.ObsHash != b.ObsHash {
		d = append(d, "observation (OBSHASH)")
	}
	if a.ModelSHA != b.ModelSHA {
		if a.Model == b.Model {
			d = append(d, fmt.Sprintf("model %s (SHA-256 %.12s… vs %.12s…)", a.Model, a.ModelSHA, b.ModelSHA))
		} else {
			d = append(d, fmt.Sprintf("model %s vs %s", a.Model, b.Model))
		}
	}
	add("seed", a.Seed, b.Seed)
	add("samples", a.NSamples, b.NSamples)
	if !ignoreShard {
		add("shard", fmt.Sprintf("%d/%d", a.Shard, a.Shards), fmt.Sprintf("%d/%d", b.Shard, b.Shards))
	}
	add("sigma-min", a.SigmaMin, b.SigmaMin)
	add("sigma-max", a.SigmaMax, b.SigmaMax)
	add("steps", a.Steps, b.Steps)
	add("predictor", a.Predictor, b.Predictor)
	add("corrector", a.Corrector, b.Corrector)
	add("snr", a.SNR, b.SNR)
	add("churn", a.Churn.Amount, b.Churn.Amount)
	add("churn-sigma", fmt.Sprintf("%g:%g", a.Churn.SigmaLo, a.Churn.SigmaHi), fmt.Sprintf("%g:%g", b.Churn.SigmaLo, b.Churn.SigmaHi))
	add("churn-noise", a.Churn.Noise, b.Churn.Noise)
	add("denoise", a.Denoise, b.Denoise)
	add("likelihood", a.Likelihood, b.Likelihood)
	add("cg-tol", a.CGTol, b.CGTol)
	if len(d) == 0 && a.Fingerprint != b.Fingerprint {
		d = append(d, "settings (FINGERPR)")
	}
	add("version", a.Version, b.Version)
	return d
}

// posteriorData is a posterior file read back: its run, its samples (in file order, each
// ns×ns) and their indices.
type posteriorData struct {
	Path    string
	Meta    runMeta
	NS      int
	Samples []float64
	Index   []int
}

// errNotPosterior is wrapped by readPosterior when a file exists but is not a posterior
// file scorelens wrote.
var errNotPosterior = errors.New("not a scorelens posterior file")

// readPosterior reads and checks a posterior file: its header, SAMPLES and INDEX agree,
// and every index belongs to the file's shard, once. A missing file gives an error
// wrapping fs.ErrNotExist.
func readPosterior(path string) (*posteriorData, error) {
	name := filepath.Base(path)
	hdus, err := fitsimg.ReadAll(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("%s: %w (%v)", name, errNotPosterior, err)
	}
	var samples, index *fitsimg.Image
	var inputs *fitsimg.Table
	for _, h := range hdus {
		switch h := h.(type) {
		case *fitsimg.Image:
			switch h.Name {
			case "SAMPLES":
				samples = h
			case "INDEX":
				index = h
			}
		case *fitsimg.Table:
			if h.Name == "INPUTS" {
				inputs = h
			}
		}
	}
	if samples == nil || index == nil {
		return nil, fmt.Errorf("%s: %w (no SAMPLES or INDEX HDU)", name, errNotPosterior)
	}
	m, err := parseMeta(&samples.Header)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (%v)", name, errNotPosterior, err)
	}
	if inputs != nil {
		role, ok1 := inputs.Column("ROLE")
		p, ok2 := inputs.Column("PATH")
		r, _ := role.Data.([]string)
		ps, _ := p.Data.([]string)
		if ok1 && ok2 && len(r) == len(ps) {
			for i, v := range r {
				switch strings.TrimSpace(v) {
				case "lens":
					m.LensPath = strings.TrimRight(ps[i], " ")
				case "obs":
					m.ObsPath = strings.TrimRight(ps[i], " ")
				}
			}
		}
	}
	K := m.NDone
	if len(samples.Axes) != 3 || samples.Axes[0] != samples.Axes[1] || samples.Axes[2] != K || len(index.Data) != K {
		return nil, fmt.Errorf("%s: SAMPLES axes %v and %d INDEX entries disagree with NDONE = %d", name, samples.Axes, len(index.Data), K)
	}
	seen := make(map[int]bool, K)
	idx := make([]int, K)
	for k, v := range index.Data {
		i := int(v)
		if float64(i) != v || i < 0 || i >= m.NSamples || i%m.Shards != m.Shard-1 {
			return nil, fmt.Errorf("%s: INDEX holds %g, not a sample of shard %d/%d of %d", name, v, m.Shard, m.Shards, m.NSamples)
		}
		if seen[i] {
			return nil, fmt.Errorf("%s: INDEX holds sample %d twice", name, i)
		}
		seen[i] = true
		idx[k] = i
	}
	for _, v := range samples.Data {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%s: SAMPLES holds a non-finite value", name)
		}
	}
	return &posteriorData{Path: path, Meta: m, NS: samples.Axes[0], Samples: samples.Data, Index: idx}, nil
}

// posteriorWriter computes the summaries of a set of samples and writes the posterior
// file. Run and Merge both write through it, so a merged file equals an unsharded run's.
type posteriorWriter struct {
	a   LinearOperator
	obs *lens.Observation
	ns  int
}

// sortByIndex orders samples (each n values) by their indices, in place.
func sortByIndex(samples []float64, index []int, n int) {
	if sort.IntsAreSorted(index) {
		return
	}
	perm := make([]int, len(index))
	for k := range perm {
		perm[k] = k
	}
	sort.Slice(perm, func(a, b int) bool { return index[perm[a]] < index[perm[b]] })
	s := append([]float64(nil), samples...)
	ix := append([]int(nil), index...)
	for k, p := range perm {
		copy(samples[k*n:(k+1)*n], s[p*n:(p+1)*n])
		index[k] = ix[p]
	}
}

// write writes the posterior file of meta to path: SAMPLES (ordered by index), MEAN, STD
// (with K−1 in the denominator; 0 for a single sample), PRED = A·MEAN, RESID =
// (y − PRED)/σ (NaN on masked pixels), CHI2NU of each sample over the used pixels, INDEX and
// INPUTS. The samples must already be float32 values (as SAMPLES stores them), so that
// the summaries of a file are those of its SAMPLES whether it was written in one go,
// resumed or merged. meta.NDone is set to the number of samples.
func (w *posteriorWriter) write(path string, meta runMeta, samples []float64, index []int) error {
	n := w.ns * w.ns
	K := len(index)
	if len(samples) != K*n {
		panic("infer: posterior samples do not match the index")
	}
	sortByIndex(samples, index, n)
	meta.NDone = K
	mean, std := make([]float64, n), make([]float64, n)
	for k := 0; k < K; k++ {
		for j, v := range samples[k*n : (k+1)*n] {
			mean[j] += v / float64(K)
		}
	}
	if K > 1 {
		for k := 0; k < K; k++ {
			for j, v := range samples[k*n : (k+1)*n] {
				d := v - mean[j]
				std[j] += d * d / float64(K-1)
			}
		}
		for j := range std {
			std[j] = math.Sqrt(std[j])
		}
	}
	a, obs := w.a, w.obs
	m := a.Rows()
	pred := make([]float64, m)
	a.Apply(pred, mean)
	resid := make([]float64, m)
	used := 0
	for i := range resid {
		if obs.Used(i) {
			resid[i] = (obs.Data[i] - pred[i]) / obs.Sigma[i]
			used++
		} else {
			resid[i] = math.NaN()
		}
	}
	chi2 := make([]float64, K)
	ax := make([]float64, m)
	for k := 0; k < K; k++ {
		a.Apply(ax, samples[k*n:(k+1)*n])
		s := 0.0
		for i := range ax {
			if obs.Used(i) {
				d := (obs.Data[i] - ax[i]) / obs.Sigma[i]
				s += d * d
			}
		}
		chi2[k] = s / float64(used)
	}
	idx := make([]float64, K)
	for k, v := range index {
		idx[k] = float64(v)
	}
	sm := fitsimg.NewImage("SAMPLES", append([]float64(nil), samples...), w.ns, w.ns, K)
	sm.Header = meta.header()
	ix := fitsimg.NewImage("INDEX", idx, K)
	ix.BitPix = 32
	inputs := &fitsimg.Table{Name: "INPUTS", Columns: []fitsimg.Column{
		{Name: "ROLE", Data: []string{"lens", "obs"}},
		{Name: "PATH", Data: []string{meta.LensPath, meta.ObsPath}},
		{Name: "SHA256", Data: []string{meta.LensHash, meta.ObsHash}},
	}}
	hdus := []fitsimg.HDU{
		sm,
		fitsimg.NewImage("MEAN", mean, w.ns, w.ns),
		fitsimg.NewImage("STD", std, w.ns, w.ns),
		fitsimg.NewImage("PRED", pred, obs.N, obs.N),
		fitsimg.NewImage("RESID", resid, obs.N, obs.N),
		fitsimg.NewImage("CHI2NU", chi2, K),
		ix,
		inputs,
	}
	if err := fitsimg.Write(path, hdus...); err != nil {
		return fmt.Errorf("could not write posterior %q: %w", path, err)
	}
	return nil
}

// toFloat32 rounds every value to float32, as SAMPLES stores them.
func toFloat32(x []float64) {
	for i, v := range x {
		x[i] = float64(float32(v))
	}
}
