package galaxy

import "math"

// Adaptive sub-pixel sampling: every pixel is sampled on a 2×2 grid; where the samples
// differ by more than refineTol of their mean the pixel is resampled on an 8×8 grid, and
// where the brightest of those exceeds deepRatio times their mean (a cusp or a knot much
// smaller than the pixel, not a resolved edge), on a 24×24 grid.
const (
	refineTol = 0.25
	deepRatio = 4.0
)

// renderInto writes the pixel-averaged surface brightness of the sum of comps into dst
// (n×n, row-major, +y up, the stamp spanning [-1, 1]²).
func renderInto(dst []float64, n int, comps []component) {
	if len(dst) != n*n {
		panic("galaxy: dst length mismatch")
	}
	ps := 2 / float64(n)
	sb := func(x, y float64) float64 {
		var s float64
		for _, c := range comps {
			s += c.eval(x, y)
		}
		return s
	}
	// sample returns the mean, minimum and maximum over a k×k grid inside the pixel.
	sample := func(xc, yc float64, k int) (mean, lo, hi float64) {
		lo, hi = math.Inf(1), math.Inf(-1)
		d := ps / float64(k)
		x0 := xc - ps/2 + d/2
		y0 := yc - ps/2 + d/2
		for b := 0; b < k; b++ {
			y := y0 + float64(b)*d
			for a := 0; a < k; a++ {
				v := sb(x0+float64(a)*d, y)
				mean += v
				lo = math.Min(lo, v)
				hi = math.Max(hi, v)
			}
		}
		return mean / float64(k*k), lo, hi
	}
	for j := 0; j < n; j++ {
		yc := (float64(j) - float64(n-1)/2) * ps
		for i := 0; i < n; i++ {
			xc := (float64(i) - float64(n-1)/2) * ps
			m, lo, hi := sample(xc, yc, 2)
			if hi-lo > refineTol*math.Abs(m) && hi > 0 {
				m, _, hi = sample(xc, yc, 8)
				if hi > deepRatio*m {
					m, _, _ = sample(xc, yc, 24)
				}
			}
			dst[j*n+i] = m
		}
	}
}
