package lens

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"scorelens/lens/fitsimg"
	"scorelens/lens/galaxy"
)

// DefaultSource is the built-in galaxy that simulate uses when no source is given.
const DefaultSource = "spiral"

// LensHash returns the hexadecimal SHA-256 of the configuration's bytes (LENSHASH).
func (c *Config) LensHash() string {
	h := sha256.Sum256(c.Raw)
	return hex.EncodeToString(h[:])
}

// Simulate makes a mock observation of source (row-major ns×ns on cfg.SourceGrid()):
// MODEL = A·source, OBS = MODEL + σ·N(0,1) per pixel with σ from the noise section
// (noise is drawn for every pixel, masked or not), NOISE = σ, TRUTH = source, ALPHA_X and
// ALPHA_Y = the lens deflection (arcsec) at the observed pixel centres, PSF = the kernel
// used (if any), MASK from the noise section (if any). The primary header gets PIXSCALE,
// VERSION (software), LENSHASH, OBSSIDE, SRCSIDE, SRCSCALE, SRCX0, SRCY0 and SUPERSMP;
// the caller adds SEED.
func Simulate(cfg *Config, source []float64, rng *rand.Rand, software string) (*Observation, error) {
	if len(source) != cfg.SourceGrid().Len() {
		panic(fmt.Sprintf("lens: Simulate source length %d, want %d", len(source), cfg.SourceGrid().Len()))
	}
	for k, v := range source {
		if !finite(v) {
			return nil, fmt.Errorf("source is %v at pixel (%d, %d)", v, k%cfg.Source.Pixels, k/cfg.Source.Pixels)
		}
	}
	sigma, err := cfg.NoiseMap()
	if err != nil {
		return nil, err
	}
	mask, err := cfg.Mask()
	if err != nil {
		return nil, err
	}
	d, err := cfg.Deflector()
	if err != nil {
		return nil, err
	}
	kern, err := cfg.Kernel()
	if err != nil {
		return nil, err
	}
	img := cfg.ImageGrid()
	a := Build(cfg.SourceGrid(), img, cfg.Supersample(), d, kern)
	n := img.N
	o := &Observation{
		N: n, PixScale: img.Scale,
		Sigma: sigma, Mask: mask,
		Truth: slices.Clone(source), TruthN: cfg.Source.Pixels,
		Model: make([]float64, n*n), Data: make([]float64, n*n),
		AlphaX: make([]float64, n*n), AlphaY: make([]float64, n*n),
	}
	a.Apply(o.Model, source)
	for k := range o.Data {
		o.Data[k] = o.Model[k] + sigma[k]*rng.NormFloat64()
	}
	for j := 0; j < n; j++ {
		for i := 0; i < n; i++ {
			o.AlphaX[j*n+i], o.AlphaY[j*n+i] = d.Deflection(img.X(i), img.Y(j))
		}
	}
	if kern != nil {
		o.PSF = fitsimg.NewImage("PSF", slices.Clone(kern.Data), kern.W, kern.H)
		o.PSF.Header.Set("PIXSCALE", img.Scale, "[arcsec] pixel scale of the kernel")
	}
	h := &o.Header
	h.Set("PIXSCALE", img.Scale, "[arcsec] pixel scale of the image")
	h.Set("OBSSIDE", int64(n), "no, image pixels a side")
	h.Set("SRCSIDE", int64(cfg.Source.Pixels), "ns, source pixels a side")
	h.Set("SRCSCALE", cfg.SourceGrid().Scale, "[arcsec] source pixel scale")
	h.Set("SRCX0", cfg.Source.X0, "[arcsec] source grid centre x")
	h.Set("SRCY0", cfg.Source.Y0, "[arcsec] source grid centre y")
	h.Set("SUPERSMP", int64(cfg.Supersample()), "rays per image pixel side")
	h.Set("LENSHASH", cfg.LensHash(), "SHA-256 of the lens file")
	h.Set("VERSION", software, "scorelens version")
	return o, nil
}

// LoadSource returns the source for simulate on grid: spec is either the path of a FITS
// image (its first image HDU) or the name of a built-in galaxy (galaxy.Names()), rendered
// at grid.N pixels and peak 1. A FITS image already of grid.N×grid.N pixels is used as it
// is. Any other square image is taken to span the source field of view and is resampled:
// to fewer pixels by averaging over each output pixel's area (which conserves flux and
// mean surface brightness), to more pixels by bilinear interpolation between input pixel
// centres (clamped to the edge values beyond the outer centres). Non-finite pixels are an
// error.
func LoadSource(spec string, grid Grid) ([]float64, error) {
	if spec == "" {
		spec = DefaultSource
	}
	_, statErr := os.Stat(spec)
	looksLikeFile := statErr == nil || strings.ContainsAny(spec, `/\`) ||
		strings.Contains(strings.ToLower(filepath.Ext(spec)), "fit")
	if !looksLikeFile {
		if slices.Contains(galaxy.Names(), spec) {
			return galaxy.Example(spec, grid.N)
		}
		return nil, fmt.Errorf("source %q is neither a file nor a built-in galaxy (%s)", spec, strings.Join(galaxy.Names(), ", "))
	}
	im, err := fitsimg.ReadImage(spec, "")
	if err != nil {
		return nil, err
	}
	if len(im.Axes) != 2 || im.Axes[0] != im.Axes[1] {
		return nil, fmt.Errorf("%s: source image has axes %v; want a square 2-D image spanning the source field of view", spec, im.Axes)
	}
	m := im.Axes[0]
	for k, v := range im.Data {
		if !finite(v) {
			return nil, fmt.Errorf("%s: source image is %v at pixel (%d, %d)", spec, v, k%m, k/m)
		}
	}
	if m == grid.N {
		return im.Data, nil
	}
	return Resample(im.Data, m, grid.N), nil
}

// Resample maps an m×m image onto n×n pixels over the same field of view: area
// averaging when n < m, bilinear interpolation between pixel centres (edge-clamped) when
// n > m, a copy when n = m. It panics if len(src) != m².
func Resample(src []float64, m, n int) []float64 {
	if len(src) != m*m {
		panic("lens: Resample length mismatch")
	}
	if n == m {
		return slices.Clone(src)
	}
	w := resampleWeights(m, n) // n×m, rows sum to 1
	// dst = W · src · Wᵀ
	tmp := make([]float64, m*n) // rows j of src (m), columns resampled to n
	for j := 0; j < m; j++ {
		for i := 0; i < n; i++ {
			s := 0.0
			for p, wt := range w[i*m : (i+1)*m] {
				if wt != 0 {
					s += wt * src[j*m+p]
				}
			}
			tmp[j*n+i] = s
		}
	}
	dst := make([]float64, n*n)
	for jj := 0; jj < n; jj++ {
		for p, wt := range w[jj*m : (jj+1)*m] {
			if wt == 0 {
				continue
			}
			for i := 0; i < n; i++ {
				dst[jj*n+i] += wt * tmp[p*n+i]
			}
		}
	}
	return dst
}

// resampleWeights returns the n×m one-dimensional resampling matrix.
func resampleWeights(m, n int) []float64 {
	w := make([]float64, n*m)
	if n < m {
		// output pixel o covers [o·m/n, (o+1)·m/n) in input pixel units
		r := float64(m) / float64(n)
		for o := 0; o < n; o++ {
			lo, hi := float64(o)*r, float64(o+1)*r
			for p := int(lo); p < m && float64(p) < hi; p++ {
				ov := math.Min(hi, float64(p+1)) - math.Max(lo, float64(p))
				if ov > 0 {
					w[o*m+p] = ov / r
				}
			}
		}
		return w
	}
	for o := 0; o < n; o++ {
		// centre of output pixel o in input pixel-centre units
		u := (float64(o)+0.5)*float64(m)/float64(n) - 0.5
		u = math.Max(0, math.Min(float64(m-1), u))
		p := min(int(u), m-2)
		t := u - float64(p)
		w[o*m+p] += 1 - t
		w[o*m+p+1] += t
	}
	return w
}

// SimulateFile is the simulate command: it reads the lens file, loads the source
// (LoadSource), simulates with a PCG generator seeded by seed, records SEED, LENSFILE and
// SOURCE in the header and writes the observation to out atomically.
func SimulateFile(ctx context.Context, lensPath, source string, seed uint64, out, software string) (*Observation, error) {
	cfg, err := LoadConfig(lensPath)
	if err != nil {
		return nil, err
	}
	if source == "" {
		source = DefaultSource
	}
	x, err := LoadSource(source, cfg.SourceGrid())
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 0x5ce11e05))
	o, err := Simulate(cfg, x, rng, software)
	if err != nil {
		return nil, err
	}
	o.Header.Set("SEED", int64(seed), "noise seed (PCG, stream 0x5ce11e05)")
	o.Header.Set("LENSFILE", filepath.Base(lensPath), "lens configuration")
	o.Header.Set("SOURCE", truncate(source, 60), "source: FITS file or built-in galaxy")
	if err := o.Write(out); err != nil {
		return nil, err
	}
	return o, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n+3:]
}

// WriteOperator writes A as the FITS binary table "A" of SPEC §4: columns ROW, COL
// (0-based, int32) and VAL (float64), one row per stored entry in row-major order; header
// NOBS = no² and NSRC = ns² (the matrix shape: rows = image pixels j*no+i, columns =
// source pixels), OBSSIDE = no, SRCSIDE = ns, NNZ, SUPERSMP, PIXSCALE, SRCSCALE and
// whatever extra cards are in hdr.
func WriteOperator(path string, a *Operator, hdr fitsimg.Header) error {
	nnz := a.NNZ()
	rows, cols, vals := make([]int32, 0, nnz), make([]int32, 0, nnz), make([]float64, 0, nnz)
	a.Triplets(func(r, c int, v float64) {
		rows = append(rows, int32(r))
		cols = append(cols, int32(c))
		vals = append(vals, v)
	})
	t := &fitsimg.Table{Name: "A", Columns: []fitsimg.Column{
		{Name: "ROW", Data: rows},
		{Name: "COL", Data: cols},
		{Name: "VAL", Data: vals},
	}}
	t.Header.Cards = append(t.Header.Cards, hdr.Cards...)
	h := &t.Header
	h.Set("NOBS", int64(a.Rows()), "rows of A: image pixels no*no (row = j*no+i)")
	h.Set("NSRC", int64(a.Cols()), "columns of A: source pixels ns*ns")
	h.Set("OBSSIDE", int64(a.ImageGrid().N), "no, image pixels a side")
	h.Set("SRCSIDE", int64(a.SourceGrid().N), "ns, source pixels a side")
	h.Set("NNZ", int64(nnz), "stored entries")
	h.Set("SUPERSMP", int64(a.Supersample()), "rays per image pixel side")
	h.Set("PIXSCALE", a.ImageGrid().Scale, "[arcsec] image pixel scale")
	h.Set("SRCSCALE", a.SourceGrid().Scale, "[arcsec] source pixel scale")
	return fitsimg.Write(path, t)
}

// OperatorFile is the operator command: it builds A from the lens file and writes it to
// out (WriteOperator) with LENSHASH, LENSFILE and VERSION in the header. It returns the
// operator so that the caller can report on it.
func OperatorFile(ctx context.Context, lensPath, out, software string) (*Operator, error) {
	cfg, err := LoadConfig(lensPath)
	if err != nil {
		return nil, err
	}
	a, err := NewOperator(cfg)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var h fitsimg.Header
	h.Set("LENSHASH", cfg.LensHash(), "SHA-256 of the lens file")
	h.Set("LENSFILE", filepath.Base(lensPath), "lens configuration")
	h.Set("VERSION", software, "scorelens version")
	if err := WriteOperator(out, a, h); err != nil {
		return nil, err
	}
	return a, nil
}
