package infer

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync"

	"gonum.org/v1/gonum/dsp/fourier"
	"gonum.org/v1/gonum/mat"
)

// ScoreModel is the one interface every prior score model implements: the trained
// network behind ONNX Runtime (SPEC §6) and the analytic Gaussian priors of this package.
// Whatever a network outputs (ε, σ·score, …) is converted by its adapter; a ScoreModel
// returns the score itself.
type ScoreModel interface {
	// Shape returns the image layout the model works on.
	Shape() (channels, height, width int)
	// Score writes ∇x log p_t(x) for a batch of len(t) images: x and dst are
	// [B, C, H, W] float32 row-major, t holds the diffusion times in [0, 1].
	Score(ctx context.Context, dst, x, t []float32) error
}

// SigmaScorer is implemented by analytic models whose score is known in closed form in
// terms of the noise scale σ(t). The sampler prefers it to Score, staying in float64 and
// running it per sample alongside the likelihood. It must be safe for concurrent use.
type SigmaScorer interface {
	// ScoreSigma writes ∇x log p_σ(x) of one image x (C·H·W values) into dst.
	ScoreSigma(dst, x []float64, sigma float64)
}

// GaussianPrior is an analytic Gaussian prior N(m, Σx) on a single-channel H×W image,
// with Σx diagonal in the Fourier basis of the periodic grid: white noise (Σx = s² I)
// or a stationary Gaussian random field with power spectrum
//
//	P(k) ∝ (k² + 1/ℓ²)^(−α/2),  k in cycles per arcsec,
//
// normalised so that every pixel has standard deviation Sigma. Its score at every t is
// exact: ∇x log p_t(x) = −(Σx + σ(t)² I)⁻¹ (x − m).
//
// The zero value is not usable; build one with NewWhitePrior, NewGRFPrior or ParsePrior,
// and set SDE before calling Score (ScoreSigma does not need it).
type GaussianPrior struct {
	kind   string  // "white" or "grf"
	mean   float64 // m, surface brightness units
	sigma  float64 // per-pixel standard deviation, surface brightness units
	index  float64 // α (grf)
	scale  float64 // ℓ in arcsec (grf)
	pixel  float64 // pixel scale, arcsec
	ny, nx int
	lambda []float64 // eigenvalues of Σx in the unitary Fourier basis (grf), length ny·nx

	// SDE maps diffusion times to noise scales for Score.
	SDE VESDE

	pool sync.Pool // *fftWork
}

// NewWhitePrior returns N(mean, sigma² I) on an ny×nx image.
func NewWhitePrior(ny, nx int, mean, sigma float64) (*GaussianPrior, error) {
	if ny <= 0 || nx <= 0 {
		panic("infer: NewWhitePrior: image size must be positive")
	}
	if !(sigma > 0) || math.IsInf(sigma, 0) {
		return nil, fmt.Errorf("prior sigma must be a positive number, got %g", sigma)
	}
	if math.IsNaN(mean) || math.IsInf(mean, 0) {
		return nil, fmt.Errorf("prior mean must be finite, got %g", mean)
	}
	return &GaussianPrior{kind: "white", mean: mean, sigma: sigma, ny: ny, nx: nx}, nil
}

// NewGRFPrior returns the stationary Gaussian random field on an ny×nx image of pixel
// scale pixel (arcsec): mean m, per-pixel standard deviation sigma, spectral index
// index ≥ 0 (0 is white noise; larger is smoother) and turnover length scale > 0
// (arcsec), beyond which the spectrum flattens. The field is periodic on the grid.
func NewGRFPrior(ny, nx int, pixel, mean, sigma, index, scale float64) (*GaussianPrior, error) {
	p, err := NewWhitePrior(ny, nx, mean, sigma)
	if err != nil {
		return nil, err
	}
	switch {
	case !(pixel > 0) || math.IsInf(pixel, 0):
		return nil, fmt.Errorf("pixel scale must be positive, got %g", pixel)
	case !(index >= 0) || math.IsInf(index, 0):
		return nil, fmt.Errorf("grf index must be a non-negative number, got %g", index)
	case !(scale > 0) || math.IsInf(scale, 0):
		return nil, fmt.Errorf("grf scale must be a positive length in arcsec, got %g", scale)
	}
	p.kind, p.index, p.scale, p.pixel = "grf", index, scale, pixel
	n := ny * nx
	p.lambda = make([]float64, n)
	k0 := 1 / scale
	sum := 0.0
	for j := 0; j < ny; j++ {
		fy := freq(j, ny) / pixel
		for i := 0; i < nx; i++ {
			fx := freq(i, nx) / pixel
			v := math.Pow(fx*fx+fy*fy+k0*k0, -index/2)
			p.lambda[j*nx+i] = v
			sum += v
		}
	}
	// Per-pixel variance is (1/n)·Σλ: scale it to sigma².
	norm := sigma * sigma * float64(n) / sum
	for k := range p.lambda {
		p.lambda[k] *= norm
	}
	return p, nil
}

// freq returns the DFT frequency of index i of n in cycles per pixel.
func freq(i, n int) float64 {
	if i <= n/2 {
		return float64(i) / float64(n)
	}
	return float64(i-n) / float64(n)
}

// ParsePrior reads the CLI prior specification for a single-channel n×n source of pixel
// scale pixel (arcsec):
//
//	white:sigma=S[,mean=M]                       N(M, S² I)
//	grf:sigma=S,index=α[,mean=M][,scale=ℓ]       stationary Gaussian random field
//
// S is the per-pixel standard deviation and M the mean, in surface-brightness units; α ≥ 0
// is the power-spectrum slope, P(k) ∝ (k² + 1/ℓ²)^(−α/2); ℓ is in arcsec and defaults to
// a quarter of the field of view. Unknown or repeated keys are refused by name.
func ParsePrior(spec string, n int, pixel float64) (*GaussianPrior, error) {
	kind, rest, _ := strings.Cut(strings.TrimSpace(spec), ":")
	var allowed, required []string
	switch kind {
	case "white":
		allowed, required = []string{"sigma", "mean"}, []string{"sigma"}
	case "grf":
		allowed, required = []string{"sigma", "index", "mean", "scale"}, []string{"sigma", "index"}
	default:
		return nil, fmt.Errorf("prior %q: unknown kind %q (want white:sigma=S[,mean=M] or grf:sigma=S,index=A[,mean=M][,scale=L])", spec, kind)
	}
	vals := map[string]float64{}
	if strings.TrimSpace(rest) != "" {
		for _, kv := range strings.Split(rest, ",") {
			k, v, ok := strings.Cut(kv, "=")
			k = strings.TrimSpace(k)
			if !ok {
				return nil, fmt.Errorf("prior %q: %q is not key=value", spec, kv)
			}
			if !contains(allowed, k) {
				return nil, fmt.Errorf("prior %q: unknown key %q for %s (allowed: %s)", spec, k, kind, strings.Join(allowed, ", "))
			}
			if _, dup := vals[k]; dup {
				return nil, fmt.Errorf("prior %q: key %q given twice", spec, k)
			}
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				return nil, fmt.Errorf("prior %q: %s=%q is not a finite number", spec, k, v)
			}
			vals[k] = f
		}
	}
	for _, k := range required {
		if _, ok := vals[k]; !ok {
			return nil, fmt.Errorf("prior %q: missing %s=", spec, k)
		}
	}
	var (
		p   *GaussianPrior
		err error
	)
	if kind == "white" {
		p, err = NewWhitePrior(n, n, vals["mean"], vals["sigma"])
	} else {
		scale, ok := vals["scale"]
		if !ok {
			scale = float64(n) * pixel / 4
		}
		p, err = NewGRFPrior(n, n, pixel, vals["mean"], vals["sigma"], vals["index"], scale)
	}
	if err != nil {
		return nil, fmt.Errorf("prior %q: %w", spec, err)
	}
	return p, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// String returns the canonical specification, with every parameter explicit.
func (p *GaussianPrior) String() string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	if p.kind == "white" {
		return "white:sigma=" + f(p.sigma) + ",mean=" + f(p.mean)
	}
	return "grf:sigma=" + f(p.sigma) + ",index=" + f(p.index) + ",mean=" + f(p.mean) + ",scale=" + f(p.scale)
}

// Shape implements ScoreModel: one channel, H×W.
func (p *GaussianPrior) Shape() (channels, height, width int) { return 1, p.ny, p.nx }

// Len returns the number of pixels.
func (p *GaussianPrior) Len() int { return p.ny * p.nx }

// Mean returns the prior mean m (surface brightness units).
func (p *GaussianPrior) Mean() float64 { return p.mean }

// PixelSigma returns the per-pixel prior standard deviation.
func (p *GaussianPrior) PixelSigma() float64 { return p.sigma }

// Score implements ScoreModel with σ = p.SDE.Sigma(t).
func (p *GaussianPrior) Score(ctx context.Context, dst, x, t []float32) error {
	n := p.Len()
	if len(x) != len(t)*n || len(dst) != len(x) {
		panic("infer: GaussianPrior.Score: batch shape mismatch")
	}
	if err := p.SDE.Validate(); err != nil {
		return fmt.Errorf("gaussian prior: %w", err)
	}
	xb := make([]float64, n)
	db := make([]float64, n)
	for b, tb := range t {
		if err := ctx.Err(); err != nil {
			return err
		}
		for i := range xb {
			xb[i] = float64(x[b*n+i])
		}
		p.ScoreSigma(db, xb, p.SDE.Sigma(float64(tb)))
		for i, v := range db {
			dst[b*n+i] = float32(v)
		}
	}
	return nil
}

// ScoreSigma implements SigmaScorer: dst = −(Σx + σ² I)⁻¹ (x − m). Safe for concurrent
// use; dst and x may alias.
func (p *GaussianPrior) ScoreSigma(dst, x []float64, sigma float64) {
	n := p.Len()
	if len(x) != n || len(dst) != n {
		panic("infer: GaussianPrior.ScoreSigma: length mismatch")
	}
	s2 := sigma * sigma
	if p.lambda == nil {
		w := -1 / (p.sigma*p.sigma + s2)
		for i, v := range x {
			dst[i] = w * (v - p.mean)
		}
		return
	}
	fw := p.work()
	defer p.pool.Put(fw)
	for i, v := range x {
		fw.buf[i] = complex(v-p.mean, 0)
	}
	fw.forward(fw.buf)
	inv := -1 / float64(n)
	for k, l := range p.lambda {
		fw.buf[k] *= complex(inv/(l+s2), 0)
	}
	fw.backward(fw.buf)
	for i := range dst {
		dst[i] = real(fw.buf[i])
	}
}

// Sample fills dst with a draw from the prior.
func (p *GaussianPrior) Sample(dst []float64, rng *rand.Rand) {
	n := p.Len()
	if len(dst) != n {
		panic("infer: GaussianPrior.Sample: length mismatch")
	}
	if p.lambda == nil {
		for i := range dst {
			dst[i] = p.mean + p.sigma*rng.NormFloat64()
		}
		return
	}
	fw := p.work()
	defer p.pool.Put(fw)
	for i := range fw.buf {
		fw.buf[i] = complex(rng.NormFloat64(), 0)
	}
	fw.forward(fw.buf)
	for k, l := range p.lambda {
		fw.buf[k] *= complex(math.Sqrt(l)/float64(n), 0)
	}
	fw.backward(fw.buf)
	for i := range dst {
		dst[i] = p.mean + real(fw.buf[i])
	}
}

// Covariance returns Σx as a dense n×n matrix (n = H·W); for tests and small problems.
func (p *GaussianPrior) Covariance() *mat.SymDense {
	n := p.Len()
	c := mat.NewSymDense(n, nil)
	if p.lambda == nil {
		for i := 0; i < n; i++ {
			c.SetSym(i, i, p.sigma*p.sigma)
		}
		return c
	}
	// c(Δ) = (1/n)·Σk λk e^{2πik·Δ}: the unnormalised inverse DFT of λ over n.
	fw := p.work()
	defer p.pool.Put(fw)
	for k, l := range p.lambda {
		fw.buf[k] = complex(l/float64(n), 0)
	}
	fw.backward(fw.buf)
	for a := 0; a < n; a++ {
		ja, ia := a/p.nx, a%p.nx
		for b := a; b < n; b++ {
			jb, ib := b/p.nx, b%p.nx
			dj := ((jb-ja)%p.ny + p.ny) % p.ny
			di := ((ib-ia)%p.nx + p.nx) % p.nx
			c.SetSym(a, b, real(fw.buf[dj*p.nx+di]))
		}
	}
	return c
}

// Eigenvalues returns the eigenvalues of Σx, sorted in decreasing order.
func (p *GaussianPrior) Eigenvalues() []float64 {
	ev := make([]float64, p.Len())
	if p.lambda == nil {
		for i := range ev {
			ev[i] = p.sigma * p.sigma
		}
		return ev
	}
	copy(ev, p.lambda)
	sort.Sort(sort.Reverse(sort.Float64Slice(ev)))
	return ev
}

// DefaultSigmaMax is the rule `scorelens sample` uses for an analytic prior when
// --sigma-max is not given: the root-mean-square distance between two prior draws,
// √(2·tr Σx), combined with the offset of the prior mean from the origin of p₁,
// ‖m‖ = |M|·√n: σmax = √(2·tr Σx + ‖m‖²). It is the Gaussian version of the paper's rule
// (the largest distance between two training images; distances between draws of an
// n-dimensional Gaussian concentrate around their rms value).
func (p *GaussianPrior) DefaultSigmaMax() float64 {
	n := float64(p.Len())
	return math.Sqrt(2*n*p.sigma*p.sigma + n*p.mean*p.mean)
}

// fftWork is the per-goroutine state of the 2-D FFTs.
type fftWork struct {
	nx, ny   int
	row, col *fourier.CmplxFFT
	buf, tmp []complex128
}

func (p *GaussianPrior) work() *fftWork {
	if w, ok := p.pool.Get().(*fftWork); ok {
		return w
	}
	return &fftWork{
		nx: p.nx, ny: p.ny,
		row: fourier.NewCmplxFFT(p.nx), col: fourier.NewCmplxFFT(p.ny),
		buf: make([]complex128, p.nx*p.ny), tmp: make([]complex128, p.ny),
	}
}

func (w *fftWork) forward(a []complex128) { w.transform(a, false) }

func (w *fftWork) backward(a []complex128) { w.transform(a, true) }

// transform applies the unnormalised 2-D DFT (or its inverse) to the row-major a in place.
func (w *fftWork) transform(a []complex128, inverse bool) {
	for j := 0; j < w.ny; j++ {
		r := a[j*w.nx : (j+1)*w.nx]
		if inverse {
			w.row.Sequence(r, r)
		} else {
			w.row.Coefficients(r, r)
		}
	}
	for i := 0; i < w.nx; i++ {
		for j := 0; j < w.ny; j++ {
			w.tmp[j] = a[j*w.nx+i]
		}
		if inverse {
			w.col.Sequence(w.tmp, w.tmp)
		} else {
			w.col.Coefficients(w.tmp, w.tmp)
		}
		for j := 0; j < w.ny; j++ {
			a[j*w.nx+i] = w.tmp[j]
		}
	}
}
