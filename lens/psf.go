package lens

import (
	"fmt"
	"math"
)

// Kernel is a PSF kernel at the observed pixel scale: W×H pixels (both odd), row-major,
// normalised to sum 1, centred on pixel (W/2, H/2).
type Kernel struct {
	W, H int
	Data []float64 // Data[v*W+u]
}

// fwhmToSigma is 2·sqrt(2·ln 2), the FWHM of a unit Gaussian.
var fwhmToSigma = 2 * math.Sqrt(2*math.Ln2)

// GaussianKernel returns the circular Gaussian PSF of full width at half maximum fwhm
// (arcsec) on pixels of scale pixscale (arcsec): each kernel pixel is the Gaussian
// integrated over that pixel (not sampled at its centre, which matters when the FWHM is
// about a pixel), then the kernel is renormalised to sum 1. size is the odd kernel width in
// pixels; size 0 picks 2·ceil(4σ/pixscale)+1 (σ = fwhm/2.3548), which keeps all but
// ~6e-5 of the flux of each axis before renormalisation. It panics on non-positive fwhm or
// pixscale or an even size.
func GaussianKernel(fwhm, pixscale float64, size int) *Kernel {
	if !(fwhm > 0) || !(pixscale > 0) || size < 0 || (size > 0 && size%2 == 0) {
		panic(fmt.Sprintf("lens: bad Gaussian kernel fwhm=%v pixscale=%v size=%d", fwhm, pixscale, size))
	}
	sigma := fwhm / fwhmToSigma / pixscale // in pixels
	if size == 0 {
		size = 2*int(math.Ceil(4*sigma)) + 1
	}
	r := size / 2
	w1 := make([]float64, size)
	for u := -r; u <= r; u++ {
		// ∫ over [u−½, u+½] of the unit Gaussian of width sigma
		a := (float64(u) - 0.5) / (sigma * math.Sqrt2)
		b := (float64(u) + 0.5) / (sigma * math.Sqrt2)
		if u >= 0 {
			w1[u+r] = 0.5 * (math.Erfc(a) - math.Erfc(b))
		} else {
			w1[u+r] = 0.5 * (math.Erfc(-b) - math.Erfc(-a))
		}
	}
	k := &Kernel{W: size, H: size, Data: make([]float64, size*size)}
	for v := 0; v < size; v++ {
		for u := 0; u < size; u++ {
			k.Data[v*size+u] = w1[v] * w1[u]
		}
	}
	k.normalise()
	return k
}

// NewKernel checks and normalises a kernel given as w×h values (row-major): both sides
// odd, every value finite and ≥ 0, positive sum. The data are copied.
func NewKernel(w, h int, data []float64) (*Kernel, error) {
	if w < 1 || h < 1 || w%2 == 0 || h%2 == 0 {
		return nil, fmt.Errorf("PSF kernel is %d×%d pixels: both sides must be odd so that it has a centre pixel", w, h)
	}
	if len(data) != w*h {
		panic("lens: NewKernel data length mismatch")
	}
	sum := 0.0
	for n, v := range data {
		if !finite(v) {
			return nil, fmt.Errorf("PSF kernel has a non-finite value at pixel (%d, %d)", n%w, n/w)
		}
		if v < 0 {
			return nil, fmt.Errorf("PSF kernel has a negative value %g at pixel (%d, %d): clip it to zero before use", v, n%w, n/w)
		}
		sum += v
	}
	if !(sum > 0) {
		return nil, fmt.Errorf("PSF kernel sums to %g: it must have positive total flux", sum)
	}
	k := &Kernel{W: w, H: h, Data: append([]float64(nil), data...)}
	k.normalise()
	return k, nil
}

func (k *Kernel) normalise() {
	s := 0.0
	for _, v := range k.Data {
		s += v
	}
	for i := range k.Data {
		k.Data[i] /= s
	}
}

// Convolve writes into dst the zero-padded "same" convolution of the n×n image src with
// the kernel: dst[j,i] = Σ K[v,u]·src[j−(v−H/2), i−(u−W/2)], with src = 0 outside the
// image. dst and src must not overlap. It panics on length mismatch.
func (k *Kernel) Convolve(dst, src []float64, n int) { k.apply(dst, src, n, -1) }

// Correlate is the adjoint of Convolve: dst[j,i] = Σ K[v,u]·src[j+(v−H/2), i+(u−W/2)],
// zero outside the image. dst and src must not overlap. It panics on length mismatch.
func (k *Kernel) Correlate(dst, src []float64, n int) { k.apply(dst, src, n, +1) }

// apply computes dst[j,i] = Σ K[v,u]·src[j+sgn·(v−cy), i+sgn·(u−cx)] over the offsets
// that stay inside the image.
func (k *Kernel) apply(dst, src []float64, n, sgn int) {
	if len(dst) != n*n || len(src) != n*n {
		panic("lens: Kernel convolution length mismatch")
	}
	cx, cy := k.W/2, k.H/2
	for j := 0; j < n; j++ {
		row := dst[j*n : (j+1)*n]
		clear(row)
		for v := 0; v < k.H; v++ {
			jj := j + sgn*(v-cy)
			if jj < 0 || jj >= n {
				continue
			}
			srow := src[jj*n : (jj+1)*n]
			for u := 0; u < k.W; u++ {
				kv := k.Data[v*k.W+u]
				if kv == 0 {
					continue
				}
				off := sgn * (u - cx) // dst[i] += kv·srow[i+off] for 0 ≤ i+off < n
				lo, hi := max(0, -off), min(n, n-off)
				if lo >= hi {
					continue
				}
				d, s := row[lo:hi], srow[lo+off:hi+off]
				s = s[:len(d)]
				for i := range d {
					d[i] += kv * s[i]
				}
			}
		}
	}
}
