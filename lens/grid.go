package lens

import "math"

// Grid is a square pixel grid: N pixels a side, pixel scale Scale (arcsec), centred at
// (X0, Y0) (arcsec). Pixel (i, j) has its centre at (X(i), Y(j)); see SPEC §2.
type Grid struct {
	N     int     // pixels a side
	Scale float64 // arcsec per pixel
	X0    float64 // centre x, arcsec
	Y0    float64 // centre y, arcsec
}

// NewGrid returns the grid of n pixels a side spanning fov arcsec (edge to edge) centred
// at (x0, y0) arcsec.
func NewGrid(n int, fov, x0, y0 float64) Grid {
	return Grid{N: n, Scale: fov / float64(n), X0: x0, Y0: y0}
}

// X returns the x coordinate (arcsec) of the centre of column i.
func (g Grid) X(i int) float64 { return g.X0 + (float64(i)-float64(g.N-1)/2)*g.Scale }

// Y returns the y coordinate (arcsec) of the centre of row j.
func (g Grid) Y(j int) float64 { return g.Y0 + (float64(j)-float64(g.N-1)/2)*g.Scale }

// FOV returns the field of view, N·Scale (arcsec, edge to edge).
func (g Grid) FOV() float64 { return float64(g.N) * g.Scale }

// Len returns the number of pixels, N².
func (g Grid) Len() int { return g.N * g.N }

// Index returns the row-major index j*N+i of pixel (i, j).
func (g Grid) Index(i, j int) int { return j*g.N + i }

// Coords writes the pixel-centre coordinates (arcsec) of every pixel into x and y in
// row-major order. It panics if len(x) or len(y) is not N².
func (g Grid) Coords(x, y []float64) {
	if len(x) != g.Len() || len(y) != g.Len() {
		panic("lens: Grid.Coords length mismatch")
	}
	for j := 0; j < g.N; j++ {
		yj := g.Y(j)
		for i := 0; i < g.N; i++ {
			x[j*g.N+i] = g.X(i)
			y[j*g.N+i] = yj
		}
	}
}

// Fractional returns the continuous pixel coordinates (u, v) of the point (x, y) arcsec:
// u = i at the centre of column i, v = j at the centre of row j.
func (g Grid) Fractional(x, y float64) (u, v float64) {
	h := float64(g.N-1) / 2
	return (x-g.X0)/g.Scale + h, (y-g.Y0)/g.Scale + h
}

// Supersampled returns the grid of the k×k sub-pixels of g: N·k pixels a side with scale
// Scale/k and the same centre. Its pixel (i, j) is sub-pixel (i mod k, j mod k) of the
// pixel (i/k, j/k) of g.
func (g Grid) Supersampled(k int) Grid {
	return Grid{N: g.N * k, Scale: g.Scale / float64(k), X0: g.X0, Y0: g.Y0}
}

// Bilinear returns the bilinear interpolation of img (row-major, N×N on g) at (x, y)
// arcsec, with zeros beyond the grid: a point half a pixel outside the outer centres gets
// half the edge value, and one a full pixel outside gets zero.
func (g Grid) Bilinear(img []float64, x, y float64) float64 {
	var idx [4]int32
	var w [4]float64
	n := g.bilinearWeights(x, y, &idx, &w)
	s := 0.0
	for m := 0; m < n; m++ {
		s += w[m] * img[idx[m]]
	}
	return s
}

// bilinearWeights writes the (at most four) pixel indices and weights of the bilinear
// interpolation at (x, y) with zero padding and returns how many there are. Weights of
// pixels outside the grid are dropped (they multiply the zero padding).
func (g Grid) bilinearWeights(x, y float64, idx *[4]int32, w *[4]float64) int {
	u, v := g.Fractional(x, y)
	n := float64(g.N)
	if !(u > -1 && v > -1 && u < n && v < n) { // also rejects NaN
		return 0
	}
	fu, fv := math.Floor(u), math.Floor(v)
	i0, j0 := int(fu), int(fv)
	tu, tv := u-fu, v-fv
	m := 0
	add := func(i, j int, wt float64) {
		if wt == 0 || i < 0 || j < 0 || i >= g.N || j >= g.N {
			return
		}
		idx[m] = int32(j*g.N + i)
		w[m] = wt
		m++
	}
	add(i0, j0, (1-tu)*(1-tv))
	add(i0+1, j0, tu*(1-tv))
	add(i0, j0+1, (1-tu)*tv)
	add(i0+1, j0+1, tu*tv)
	return m
}
