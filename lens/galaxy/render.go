package galaxy

import "math"

// Adaptive sub-pixel sampling: every pixel is integrated by recursive subdivision. A cell
// is sampled at its centre and at the centres of its four quadrants; the mean of the four
// is its value and their difference from the centre sample estimates that value's error.
// A cell is split into its quadrants, each integrated the same way, while its error,
// weighted by its share of the pixel's area, exceeds refineTol of the pixel's value (and
// absTol of the mean surface brightness over the stamp), down to cells 2^-maxDepth of a pixel across.
// Smooth regions cost five samples per pixel; a steep Sérsic cusp or a knot smaller than
// a pixel is followed down to its core, so compact bulges are not aliased.
const (
	refineTol = 0.003
	maxDepth  = 8
	absTol    = 1e-3
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
	// Errors below floor (a fraction absTol of the mean over a grid of pixel centres, a scale a
	// cusp cannot inflate much) are not refined: they do not matter, and the faint wings of
	// steep profiles (Gaussian bars, knots) would otherwise be refined on relative grounds.
	// Sampled on every fourth pixel centre: a scale, not a measurement.
	var floor float64
	var m int
	for j := 1; j < n; j += 4 {
		for i := 1; i < n; i += 4 {
			floor += sb((float64(i)-float64(n-1)/2)*ps, (float64(j)-float64(n-1)/2)*ps)
			m++
		}
	}
	floor *= absTol / float64(m)
	var cell func(xc, yc, size float64, depth int, ref float64) float64
	cell = func(xc, yc, size float64, depth int, ref float64) float64 {
		q := size / 4
		v0 := sb(xc-q, yc-q)
		v1 := sb(xc+q, yc-q)
		v2 := sb(xc-q, yc+q)
		v3 := sb(xc+q, yc+q)
		m := (v0 + v1 + v2 + v3) / 4
		if depth == 0 {
			ref = math.Abs(m)
		}
		vc := sb(xc, yc)
		errW := math.Abs(vc-m) * math.Ldexp(1, -2*depth) // error × share of the pixel
		if depth >= maxDepth || !(errW > refineTol*ref) || errW < floor {
			return m
		}
		h := size / 2
		return (cell(xc-q, yc-q, h, depth+1, ref) + cell(xc+q, yc-q, h, depth+1, ref) +
			cell(xc-q, yc+q, h, depth+1, ref) + cell(xc+q, yc+q, h, depth+1, ref)) / 4
	}
	for j := 0; j < n; j++ {
		yc := (float64(j) - float64(n-1)/2) * ps
		for i := 0; i < n; i++ {
			xc := (float64(i) - float64(n-1)/2) * ps
			dst[j*n+i] = cell(xc, yc, ps, 0, 0)
		}
	}
}
