package lens

import (
	"fmt"
	"math"
	"path/filepath"

	"scorelens/lens/fitsimg"
)

func (c *Config) base() string {
	if c.Name == "" {
		return "lens configuration"
	}
	return filepath.Base(c.Name)
}

// checkPixscale compares an optional PIXSCALE card with the expected scale (arcsec).
func checkPixscale(im *fitsimg.Image, want float64) error {
	got, ok := im.Header.Float("PIXSCALE")
	if !ok {
		return nil
	}
	if math.Abs(got-want) > 1e-6*want {
		return fmt.Errorf("%s has PIXSCALE = %g arcsec, the lens file implies %g", im.Name, got, want)
	}
	return nil
}

func (c *Config) readDeflectionMap(path string) (*DeflectionMap, error) {
	ax, err := fitsimg.ReadImage(path, "ALPHA_X")
	if err != nil {
		return nil, err
	}
	ay, err := fitsimg.ReadImage(path, "ALPHA_Y")
	if err != nil {
		return nil, err
	}
	m, err := ax.Square()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(ay.Axes) != 2 || ay.Axes[0] != m || ay.Axes[1] != m {
		return nil, fmt.Errorf("%s: ALPHA_Y has axes %v, ALPHA_X %v", path, ay.Axes, ax.Axes)
	}
	g := NewGrid(m, c.Image.FOV, 0, 0)
	for _, im := range []*fitsimg.Image{ax, ay} {
		if err := checkPixscale(im, g.Scale); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	dm, err := NewDeflectionMap(g, ax.Data, ay.Data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return dm, nil
}

// Kernel returns the PSF kernel of the configuration at the observed pixel scale, or nil
// when there is no PSF.
func (c *Config) Kernel() (*Kernel, error) {
	if c.PSF == nil {
		return nil, nil
	}
	switch c.PSF.Type {
	case "gaussian":
		return GaussianKernel(c.PSF.FWHM, c.ImageGrid().Scale, c.PSF.Size), nil
	case "fits":
		im, err := fitsimg.ReadImage(c.PSF.Path, "")
		if err != nil {
			return nil, fmt.Errorf("%s: psf: %w", c.base(), err)
		}
		if len(im.Axes) != 2 {
			return nil, fmt.Errorf("%s: psf: %s: want a 2-D kernel, got axes %v", c.base(), c.PSF.Path, im.Axes)
		}
		if err := checkPixscale(im, c.ImageGrid().Scale); err != nil {
			return nil, fmt.Errorf("%s: psf: %s: %w", c.base(), c.PSF.Path, err)
		}
		if im.Axes[0] > 2*c.Image.Pixels+1 || im.Axes[1] > 2*c.Image.Pixels+1 {
			return nil, fmt.Errorf("%s: psf: %s: kernel %v is larger than twice the image", c.base(), c.PSF.Path, im.Axes)
		}
		k, err := NewKernel(im.Axes[0], im.Axes[1], im.Data)
		if err != nil {
			return nil, fmt.Errorf("%s: psf: %s: %w", c.base(), c.PSF.Path, err)
		}
		return k, nil
	}
	panic("lens: unknown PSF type " + c.PSF.Type)
}

// readPlane reads the first image HDU of path as an n×n image.
func readPlane(path string, n int) (*fitsimg.Image, error) {
	im, err := fitsimg.ReadImage(path, "")
	if err != nil {
		return nil, err
	}
	if len(im.Axes) != 2 || im.Axes[0] != n || im.Axes[1] != n {
		return nil, fmt.Errorf("%s: image is %v pixels, the lens file's image is %d×%d", path, im.Axes, n, n)
	}
	return im, nil
}

// NoiseMap returns the per-pixel σ (row-major, no×no) of the configuration's noise
// section: the scalar sigma everywhere, or the sigma_map file. Every σ must be finite and
// > 0. It is an error if the configuration has no noise section.
func (c *Config) NoiseMap() ([]float64, error) {
	if c.Noise == nil {
		return nil, fmt.Errorf("%s: no \"noise\" section (give {\"sigma\": σ} or {\"sigma_map\": \"file.fits\"})", c.base())
	}
	n := c.Image.Pixels
	if c.Noise.SigmaMap == "" {
		s := make([]float64, n*n)
		for i := range s {
			s[i] = c.Noise.Sigma
		}
		return s, nil
	}
	im, err := readPlane(c.Noise.SigmaMap, n)
	if err != nil {
		return nil, fmt.Errorf("%s: noise.sigma_map: %w", c.base(), err)
	}
	for k, v := range im.Data {
		if !finite(v) || v <= 0 {
			return nil, fmt.Errorf("%s: noise.sigma_map: %s: σ = %g at pixel (%d, %d): must be finite and > 0", c.base(), c.Noise.SigmaMap, v, k%n, k/n)
		}
	}
	return im.Data, nil
}

// Mask returns the configuration's mask (true = use the pixel), or nil when every pixel
// is used. A mask file holds an no×no image; non-zero means use.
func (c *Config) Mask() ([]bool, error) {
	if c.Noise == nil || c.Noise.Mask == "" {
		return nil, nil
	}
	n := c.Image.Pixels
	im, err := readPlane(c.Noise.Mask, n)
	if err != nil {
		return nil, fmt.Errorf("%s: noise.mask: %w", c.base(), err)
	}
	m := make([]bool, n*n)
	used := 0
	for k, v := range im.Data {
		if math.IsNaN(v) {
			return nil, fmt.Errorf("%s: noise.mask: %s: NaN at pixel (%d, %d)", c.base(), c.Noise.Mask, k%n, k/n)
		}
		m[k] = v != 0
		if m[k] {
			used++
		}
	}
	if used == 0 {
		return nil, fmt.Errorf("%s: noise.mask: %s masks every pixel", c.base(), c.Noise.Mask)
	}
	return m, nil
}
