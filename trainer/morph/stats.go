package morph

import (
	"math"
	"math/cmplx"
	"sort"

	"gonum.org/v1/gonum/dsp/fourier"
)

// Names are the statistics Measure returns, in the order of Stats.Values.
var Names = []string{"flux", "r20", "r50", "r80", "C", "A", "gini", "m20", "ellip", "ps_slope", "ps_high"}

// Stats are the morphology statistics of one image (see the package documentation).
// Statistics that an image does not define (no positive flux) are NaN.
type Stats struct {
	Flux          float64
	R20, R50, R80 float64 // pixels
	C, A          float64
	Gini, M20     float64
	Ellip         float64
	PSSlope       float64
	PSHigh        float64
}

// Values returns the statistics in the order of Names.
func (s Stats) Values() []float64 {
	return []float64{s.Flux, s.R20, s.R50, s.R80, s.C, s.A, s.Gini, s.M20, s.Ellip, s.PSSlope, s.PSHigh}
}

const sub = 5 // sub-pixels a side in the curve of growth

// Measure computes the statistics of an n×n image (row-major, data[j*n+i]).
func Measure(img []float64, n int) Stats {
	if len(img) != n*n {
		panic("morph: image length mismatch")
	}
	nan := math.NaN()
	s := Stats{R20: nan, R50: nan, R80: nan, C: nan, A: nan, Gini: nan, M20: nan, Ellip: nan, PSSlope: nan, PSHigh: nan}
	for _, v := range img {
		s.Flux += v
	}
	cx, cy, ok := centroid(img, n)
	if !ok || !(s.Flux > 0) {
		return s
	}
	cog := newGrowth(img, n, cx, cy)
	s.R20, s.R50, s.R80 = cog.radius(0.2), cog.radius(0.5), cog.radius(0.8)
	if s.R20 > 0 {
		s.C = 5 * math.Log10(s.R80/s.R20)
	}
	s.A = asymmetry(img, n, cx, cy)
	seg := segmentation(img, n, cx, cy, cog)
	s.Gini = gini(img, seg)
	s.M20 = m20(img, n, seg)
	s.Ellip = ellipticity(img, n, cx, cy)
	s.PSSlope, s.PSHigh = powerSummary(img, n)
	return s
}

// centroid is the flux-weighted centre of the positive pixels.
func centroid(img []float64, n int) (cx, cy float64, ok bool) {
	var sw float64
	for j := 0; j < n; j++ {
		for i := 0; i < n; i++ {
			if v := img[j*n+i]; v > 0 {
				sw += v
				cx += v * float64(i)
				cy += v * float64(j)
			}
		}
	}
	if !(sw > 0) {
		return 0, 0, false
	}
	return cx / sw, cy / sw, true
}

// growth is a curve of growth: enclosed flux in radial bins of width dr about a centre.
type growth struct {
	dr    float64
	cum   []float64 // cum[k]: flux within (k+1)·dr
	total float64
}

func newGrowth(img []float64, n int, cx, cy float64) *growth {
	g := &growth{dr: 0.05}
	rmax := math.Hypot(float64(n), float64(n))
	bins := make([]float64, int(rmax/g.dr)+2)
	w := 1.0 / (sub * sub)
	for j := 0; j < n; j++ {
		for i := 0; i < n; i++ {
			v := img[j*n+i] * w
			if v == 0 {
				continue
			}
			for b := 0; b < sub; b++ {
				dy := float64(j) - 0.5 + (float64(b)+0.5)/sub - cy
				for a := 0; a < sub; a++ {
					dx := float64(i) - 0.5 + (float64(a)+0.5)/sub - cx
					bins[int(math.Sqrt(dx*dx+dy*dy)/g.dr)] += v
				}
			}
		}
	}
	g.cum = bins
	for k := 1; k < len(bins); k++ {
		g.cum[k] += g.cum[k-1]
	}
	g.total = g.cum[len(g.cum)-1]
	return g
}

// radius returns the radius enclosing the fraction f of the total, interpolating linearly
// within a bin.
func (g *growth) radius(f float64) float64 {
	target := f * g.total
	prev := 0.0
	for k, c := range g.cum {
		if c >= target {
			t := 0.5
			if c > prev {
				t = (target - prev) / (c - prev)
			}
			return (float64(k) + t) * g.dr
		}
		prev = c
	}
	return float64(len(g.cum)) * g.dr
}

// enclosed is the flux within radius r.
func (g *growth) enclosed(r float64) float64 {
	k := int(r/g.dr) - 1
	if k < 0 {
		return g.cum[0] * r / g.dr
	}
	if k >= len(g.cum)-1 {
		return g.total
	}
	t := r/g.dr - float64(k+1)
	return g.cum[k] + t*(g.cum[k+1]-g.cum[k])
}

// petrosian returns the radius where the surface brightness in an annulus falls to
// η = 0.2 of the mean within it, and that annular surface brightness; ok is false where
// the profile never falls so far inside the stamp.
func (g *growth) petrosian(rmax float64) (rp, mu float64, ok bool) {
	const eta = 0.2
	for r := 1.0; r < rmax; r += 0.25 {
		r0, r1 := 0.8*r, 1.25*r
		ann := (g.enclosed(r1) - g.enclosed(r0)) / (math.Pi * (r1*r1 - r0*r0))
		mean := g.enclosed(r) / (math.Pi * r * r)
		if mean > 0 && ann < eta*mean {
			return r, ann, true
		}
	}
	return rmax, 0, false
}

// segmentation is the Lotz et al. (2004) map: pixels within 1.5 Petrosian radii brighter
// than the surface brightness at the Petrosian radius.
func segmentation(img []float64, n int, cx, cy float64, g *growth) []int {
	rp, mu, _ := g.petrosian(float64(n) / 2 * math.Sqrt2)
	var seg []int
	for j := 0; j < n; j++ {
		for i := 0; i < n; i++ {
			if math.Hypot(float64(i)-cx, float64(j)-cy) <= 1.5*rp && img[j*n+i] >= mu {
				seg = append(seg, j*n+i)
			}
		}
	}
	return seg
}

// gini is G = Σ (2i − m − 1)|X_i| / (|X̄| m (m − 1)) over the sorted |X_i| of the map.
func gini(img []float64, seg []int) float64 {
	m := len(seg)
	if m < 2 {
		return math.NaN()
	}
	x := make([]float64, m)
	var sum float64
	for k, p := range seg {
		x[k] = math.Abs(img[p])
		sum += x[k]
	}
	if sum == 0 {
		return math.NaN()
	}
	sort.Float64s(x)
	var g float64
	for k, v := range x {
		g += float64(2*(k+1)-m-1) * v
	}
	return g / (sum / float64(m) * float64(m) * float64(m-1))
}

// m20 is log10 of the second moment of the brightest 20% of the light over the total
// second moment, about the centre minimising the latter (the centroid of the map).
func m20(img []float64, n int, seg []int) float64 {
	var sw, cx, cy float64
	for _, p := range seg {
		v := img[p]
		sw += v
		cx += v * float64(p%n)
		cy += v * float64(p/n)
	}
	if !(sw > 0) {
		return math.NaN()
	}
	cx, cy = cx/sw, cy/sw
	type px struct{ f, m float64 }
	all := make([]px, len(seg))
	var mtot float64
	for k, p := range seg {
		dx, dy := float64(p%n)-cx, float64(p/n)-cy
		all[k] = px{img[p], img[p] * (dx*dx + dy*dy)}
		mtot += all[k].m
	}
	if !(mtot > 0) {
		return math.NaN()
	}
	sort.Slice(all, func(a, b int) bool { return all[a].f > all[b].f })
	var f, m float64
	for _, q := range all {
		if f >= 0.2*sw {
			break
		}
		f += q.f
		m += q.m
	}
	if m <= 0 {
		return math.NaN()
	}
	return math.Log10(m / mtot)
}

// asymmetry minimises Σ|I − I₁₈₀| / Σ|I| over rotation centres on a half-pixel grid,
// descending from the centroid to the neighbouring centre of least asymmetry until none is
// lower (at most 4 pixels from the centroid).
func asymmetry(img []float64, n int, cx, cy float64) float64 {
	// Rotation about (ci/2, cj/2) maps pixel i to ci − i, exactly.
	at := func(ci, cj int) float64 {
		var num, den float64
		for j := 0; j < n; j++ {
			jr := cj - j
			if jr < 0 || jr >= n {
				continue
			}
			for i := 0; i < n; i++ {
				ir := ci - i
				if ir < 0 || ir >= n {
					continue
				}
				v := img[j*n+i]
				num += math.Abs(v - img[jr*n+ir])
				den += math.Abs(v)
			}
		}
		if !(den > 0) {
			return math.Inf(1)
		}
		return num / den
	}
	ci0, cj0 := int(math.Round(2*cx)), int(math.Round(2*cy))
	ci, cj := ci0, cj0
	best := at(ci, cj)
	seen := map[[2]int]bool{{ci, cj}: true}
	for {
		bi, bj, moved := ci, cj, false
		for dj := -1; dj <= 1; dj++ {
			for di := -1; di <= 1; di++ {
				ni, nj := ci+di, cj+dj
				if seen[[2]int{ni, nj}] || abs(ni-ci0) > 8 || abs(nj-cj0) > 8 {
					continue
				}
				seen[[2]int{ni, nj}] = true
				if a := at(ni, nj); a < best {
					best, bi, bj, moved = a, ni, nj, true
				}
			}
		}
		if !moved {
			break
		}
		ci, cj = bi, bj
	}
	if math.IsInf(best, 1) {
		return math.NaN()
	}
	return best
}

func abs(i int) int {
	if i < 0 {
		return -i
	}
	return i
}

// ellipticity is 1 − b/a from the second moments of the positive pixels.
func ellipticity(img []float64, n int, cx, cy float64) float64 {
	var sw, xx, yy, xy float64
	for j := 0; j < n; j++ {
		for i := 0; i < n; i++ {
			v := img[j*n+i]
			if v <= 0 {
				continue
			}
			dx, dy := float64(i)-cx, float64(j)-cy
			sw += v
			xx += v * dx * dx
			yy += v * dy * dy
			xy += v * dx * dy
		}
	}
	if !(sw > 0) {
		return math.NaN()
	}
	xx, yy, xy = xx/sw, yy/sw, xy/sw
	tr, det := xx+yy, xx*yy-xy*xy
	d := math.Sqrt(math.Max(tr*tr/4-det, 0))
	l1, l2 := tr/2+d, tr/2-d
	if l1 <= 0 {
		return math.NaN()
	}
	return 1 - math.Sqrt(math.Max(l2, 0)/l1)
}

// PowerSpectrum returns the azimuthally averaged power |F(k)|² of the n×n image in bins of
// width 1 in |k| (cycles per stamp): p[k] averages the modes with k − ½ ≤ |k| < k + ½.
func PowerSpectrum(img []float64, n int) []float64 {
	if len(img) != n*n {
		panic("morph: image length mismatch")
	}
	fft := fourier.NewCmplxFFT(n)
	rows := make([]complex128, n*n)
	buf := make([]complex128, n)
	for j := 0; j < n; j++ {
		for i := 0; i < n; i++ {
			buf[i] = complex(img[j*n+i], 0)
		}
		fft.Coefficients(rows[j*n:(j+1)*n], buf)
	}
	col := make([]complex128, n)
	out := make([]complex128, n)
	nb := n/2 + 1
	p := make([]float64, nb)
	cnt := make([]float64, nb)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			col[j] = rows[j*n+i]
		}
		fft.Coefficients(out, col)
		ki := freq(i, n)
		for j := 0; j < n; j++ {
			k := int(math.Round(math.Hypot(ki, freq(j, n))))
			if k < nb {
				a := cmplx.Abs(out[j])
				p[k] += a * a
				cnt[k]++
			}
		}
	}
	for k := range p {
		if cnt[k] > 0 {
			p[k] /= cnt[k]
		}
	}
	return p
}

func freq(i, n int) float64 {
	if i > n/2 {
		return float64(i - n)
	}
	return float64(i)
}

// powerSummary fits log P = a + s log k over 2 ≤ k ≤ n/4 and measures the fraction of the
// power at k ≥ 1 that lies beyond n/8.
func powerSummary(img []float64, n int) (slope, high float64) {
	p := PowerSpectrum(img, n)
	var sx, sy, sxx, sxy, m float64
	for k := 2; k <= n/4 && k < len(p); k++ {
		if p[k] <= 0 {
			continue
		}
		x, y := math.Log10(float64(k)), math.Log10(p[k])
		sx += x
		sy += y
		sxx += x * x
		sxy += x * y
		m++
	}
	slope = math.NaN()
	if m >= 2 {
		slope = (m*sxy - sx*sy) / (m*sxx - sx*sx)
	}
	var all, hi float64
	for k := 1; k < len(p); k++ {
		// Weight each bin by its number of modes (~2πk) to sum power, not mean power.
		w := p[k] * float64(k)
		all += w
		if k > n/8 {
			hi += w
		}
	}
	high = math.NaN()
	if all > 0 && hi > 0 {
		high = math.Log10(hi / all)
	}
	return slope, high
}
