package lens

import (
	"fmt"
	"math"
	"path/filepath"

	"scorelens/lens/fitsimg"
)

// Observation is an observation file (SPEC §5): image HDUs named by EXTNAME, OBS first.
// All images are row-major, data[j*N+i], in the conventions of SPEC §2.
type Observation struct {
	N        int            // no, image pixels a side
	PixScale float64        // arcsec per pixel; 0 when the file has no PIXSCALE card
	Data     []float64      // OBS, the observed surface brightness
	Sigma    []float64      // NOISE, per-pixel σ (same units as Data)
	Mask     []bool         // MASK (1 = use); nil = use every pixel
	PSF      *fitsimg.Image // PSF kernel at the observed pixel scale; nil if none
	Truth    []float64      // TRUTH, the source used (TruthN×TruthN); nil if absent
	Model    []float64      // MODEL, the noise-free A·TRUTH; nil if absent
	AlphaX   []float64      // ALPHA_X, deflection (arcsec) at the observed pixel centres; nil if absent
	AlphaY   []float64      // ALPHA_Y, likewise
	TruthN   int            // ns, source pixels a side (0 without TRUTH)
	Header   fitsimg.Header // primary-header cards (PIXSCALE, SEED, VERSION, LENSHASH, ...)
}

// Used reports whether pixel k enters the likelihood.
func (o *Observation) Used(k int) bool { return o.Mask == nil || o.Mask[k] }

// ReadObservation reads and validates an observation file: OBS and NOISE are required
// and must be square and of the same size; MASK, MODEL, ALPHA_X and ALPHA_Y, if present,
// have that size too; OBS must be finite and NOISE finite and > 0 on the used pixels;
// a PSF must be 2-D with odd sides. Errors name the file and the HDU.
func ReadObservation(path string) (*Observation, error) {
	name := filepath.Base(path)
	hdus, err := fitsimg.ReadAll(path)
	if err != nil {
		return nil, err
	}
	images := map[string]*fitsimg.Image{}
	for _, h := range hdus {
		if im, ok := h.(*fitsimg.Image); ok && im.Name != "" {
			if _, dup := images[im.Name]; !dup {
				images[im.Name] = im
			}
		}
	}
	obs, ok := images["OBS"]
	if !ok {
		return nil, fmt.Errorf("%s: no image HDU named OBS (found %v)", name, hduNames(hdus))
	}
	n, err := obs.Square()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if n < 2 {
		return nil, fmt.Errorf("%s: OBS is %d×%d pixels", name, n, n)
	}
	o := &Observation{N: n, Data: obs.Data, Header: obs.Header}
	if ps, ok := obs.Header.Float("PIXSCALE"); ok {
		if !(ps > 0) || !finite(ps) {
			return nil, fmt.Errorf("%s: OBS: PIXSCALE = %v is not a positive number of arcsec", name, ps)
		}
		o.PixScale = ps
	}
	plane := func(ext string, required bool) ([]float64, error) {
		im, ok := images[ext]
		if !ok {
			if required {
				return nil, fmt.Errorf("%s: no image HDU named %s", name, ext)
			}
			return nil, nil
		}
		if len(im.Axes) != 2 || im.Axes[0] != n || im.Axes[1] != n {
			return nil, fmt.Errorf("%s: %s has axes %v, OBS is %d×%d", name, ext, im.Axes, n, n)
		}
		return im.Data, nil
	}
	if o.Sigma, err = plane("NOISE", true); err != nil {
		return nil, err
	}
	mask, err := plane("MASK", false)
	if err != nil {
		return nil, err
	}
	if mask != nil {
		o.Mask = make([]bool, n*n)
		used := 0
		for k, v := range mask {
			if math.IsNaN(v) {
				return nil, fmt.Errorf("%s: MASK is NaN at pixel (%d, %d)", name, k%n, k/n)
			}
			o.Mask[k] = v != 0
			if o.Mask[k] {
				used++
			}
		}
		if used == 0 {
			return nil, fmt.Errorf("%s: MASK excludes every pixel", name)
		}
	}
	for k := range o.Data {
		if !o.Used(k) {
			continue
		}
		if !finite(o.Data[k]) {
			return nil, fmt.Errorf("%s: OBS is %v at pixel (%d, %d); mask it (MASK = 0) or fix it", name, o.Data[k], k%n, k/n)
		}
		if s := o.Sigma[k]; !finite(s) || s <= 0 {
			return nil, fmt.Errorf("%s: NOISE is %v at pixel (%d, %d); σ must be finite and > 0 where MASK = 1", name, s, k%n, k/n)
		}
	}
	if o.Model, err = plane("MODEL", false); err != nil {
		return nil, err
	}
	if o.AlphaX, err = plane("ALPHA_X", false); err != nil {
		return nil, err
	}
	if o.AlphaY, err = plane("ALPHA_Y", false); err != nil {
		return nil, err
	}
	if (o.AlphaX == nil) != (o.AlphaY == nil) {
		return nil, fmt.Errorf("%s: ALPHA_X and ALPHA_Y must come together", name)
	}
	if im, ok := images["PSF"]; ok {
		if len(im.Axes) != 2 || im.Axes[0]%2 == 0 || im.Axes[1]%2 == 0 {
			return nil, fmt.Errorf("%s: PSF has axes %v; want a 2-D kernel with odd sides", name, im.Axes)
		}
		if _, err := NewKernel(im.Axes[0], im.Axes[1], im.Data); err != nil {
			return nil, fmt.Errorf("%s: PSF: %w", name, err)
		}
		o.PSF = im
	}
	if im, ok := images["TRUTH"]; ok {
		ns, err := im.Square()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		o.Truth, o.TruthN = im.Data, ns
	}
	return o, nil
}

func hduNames(hdus []fitsimg.HDU) []string {
	var s []string
	for _, h := range hdus {
		s = append(s, h.HDUName())
	}
	return s
}

// Write writes the observation atomically: OBS (primary, with Header and PIXSCALE),
// NOISE, then MASK, PSF, TRUTH, MODEL, ALPHA_X, ALPHA_Y where present. Pixel data are
// written as 64-bit floats so that nothing is lost (deflections are checked to 1e-8
// arcsec), the mask as 8-bit integers.
func (o *Observation) Write(path string) error {
	n := o.N
	if len(o.Data) != n*n || len(o.Sigma) != n*n {
		panic("lens: Observation.Write: OBS/NOISE length mismatch")
	}
	img := func(name string, data []float64, side int) *fitsimg.Image {
		im := fitsimg.NewImage(name, data, side, side)
		im.BitPix = -64
		return im
	}
	obs := img("OBS", o.Data, n)
	obs.Header.Cards = append([]fitsimg.Card(nil), o.Header.Cards...)
	if o.PixScale > 0 {
		obs.Header.Set("PIXSCALE", o.PixScale, "[arcsec] pixel scale of the image")
	}
	hdus := []fitsimg.HDU{obs, img("NOISE", o.Sigma, n)}
	if o.Mask != nil {
		m := make([]float64, n*n)
		for k, use := range o.Mask {
			if use {
				m[k] = 1
			}
		}
		mi := fitsimg.NewImage("MASK", m, n, n)
		mi.BitPix = 8
		hdus = append(hdus, mi)
	}
	if o.PSF != nil {
		p := *o.PSF
		p.Name = "PSF"
		p.BitPix = -64
		hdus = append(hdus, &p)
	}
	if o.Truth != nil {
		hdus = append(hdus, img("TRUTH", o.Truth, o.TruthN))
	}
	if o.Model != nil {
		hdus = append(hdus, img("MODEL", o.Model, n))
	}
	if o.AlphaX != nil {
		ax, ay := img("ALPHA_X", o.AlphaX, n), img("ALPHA_Y", o.AlphaY, n)
		ax.Header.Set("BUNIT", "arcsec", "deflection angle, x component")
		ay.Header.Set("BUNIT", "arcsec", "deflection angle, y component")
		hdus = append(hdus, ax, ay)
	}
	return fitsimg.Write(path, hdus...)
}

// CheckAgainst reports whether the observation fits the lens configuration: the same
// image size and, when the file records PIXSCALE, the same pixel scale (to 1e-6
// relative). The error is one line naming both files' values.
func (o *Observation) CheckAgainst(cfg *Config) error {
	g := cfg.ImageGrid()
	if o.N != g.N {
		return fmt.Errorf("observation is %d×%d pixels but %s says image.pixels = %d", o.N, o.N, cfg.base(), g.N)
	}
	if o.PixScale > 0 && math.Abs(o.PixScale-g.Scale) > 1e-6*g.Scale {
		return fmt.Errorf("observation has PIXSCALE = %g arcsec but %s implies image.fov/image.pixels = %g arcsec", o.PixScale, cfg.base(), g.Scale)
	}
	return nil
}
