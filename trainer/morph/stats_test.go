package morph

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mathext"
)

// sersicImage renders I = exp(-b (r/re)^(1/n)) centred at the middle of an m×m stamp,
// each pixel the mean of s×s samples (the central pixel of 200×200), and returns the
// analytic total flux of the untruncated profile.
func sersicImage(m int, re, n float64, s int) ([]float64, float64) {
	b := sersicB(n)
	f := func(x, y float64) float64 { return math.Exp(-b * math.Pow(math.Hypot(x, y)/re, 1/n)) }
	c := float64(m-1) / 2
	img := make([]float64, m*m)
	for j := 0; j < m; j++ {
		for i := 0; i < m; i++ {
			k := s
			if math.Abs(float64(i)-c) < 1 && math.Abs(float64(j)-c) < 1 {
				k = 200
			}
			var v float64
			for bb := 0; bb < k; bb++ {
				for a := 0; a < k; a++ {
					v += f(float64(i)-c-0.5+(float64(a)+0.5)/float64(k), float64(j)-c-0.5+(float64(bb)+0.5)/float64(k))
				}
			}
			img[j*m+i] = v / float64(k*k)
		}
	}
	total := 2 * math.Pi * re * re * n * math.Gamma(2*n) * math.Pow(b, -2*n)
	return img, total
}

func sersicB(n float64) float64 {
	// The exact b_n: P(2n, b_n) = 1/2.
	return mathext.GammaIncRegInv(2*n, 0.5)
}

// analyticRadius is the radius holding the fraction f of the light in the stamp: the
// circular aperture inside the stamp holds P(2n, b (r/re)^(1/n)) of the total.
func analyticRadius(f, inStamp, re, n float64) float64 {
	return re * math.Pow(mathext.GammaIncRegInv(2*n, f*inStamp)/sersicB(n), n)
}

func TestSersicRadii(t *testing.T) {
	// Tolerances: the curve of growth spreads each pixel's light uniformly over the pixel,
	// which is all pixelised data says; a steep core loses its sub-pixel concentration, and
	// small radii move outwards by a fraction of a pixel (measured: 0.02 px for n = 1,
	// 0.06 px for n = 2 and 0.05 px for n = 4 at R20 ≈ 2.3–4 px). Tolerance: 0.08 px plus
	// 0.5% (the 5×5 sub-pixel and 0.05 px bin discretisation of the curve of growth). The
	// tolerance on C follows by propagating those on R20 and R80 through 5 log10(R80/R20).
	cases := []struct{ n, re float64 }{{1, 8}, {2, 6}, {4, 10}}
	const m = 128
	for _, c := range cases {
		img, total := sersicImage(m, c.re, c.n, 12)
		s := Measure(img, m)
		inStamp := s.Flux / total
		want := map[string]float64{}
		for _, f := range []float64{0.2, 0.5, 0.8} {
			want[map[float64]string{0.2: "r20", 0.5: "r50", 0.8: "r80"}[f]] = analyticRadius(f, inStamp, c.re, c.n)
		}
		got := map[string]float64{"r20": s.R20, "r50": s.R50, "r80": s.R80}
		tol := func(r float64) float64 { return 0.08 + 0.005*r }
		for k, w := range want {
			if math.Abs(got[k]-w) > tol(w) {
				t.Errorf("n=%g re=%g: %s = %.4f px, want %.4f ± %.3f", c.n, c.re, k, got[k], w, tol(w))
			}
		}
		wantC := 5 * math.Log10(want["r80"]/want["r20"])
		tolC := 5 / math.Ln10 * (tol(want["r80"])/want["r80"] + tol(want["r20"])/want["r20"])
		if math.Abs(s.C-wantC) > tolC {
			t.Errorf("n=%g: C = %.3f, want %.3f ± %.3f", c.n, s.C, wantC, tolC)
		}
		// A circular profile centred on a pixel is point-symmetric and round.
		if s.A > 1e-12 || s.Ellip > 1e-6 {
			t.Errorf("n=%g: asymmetry %g, ellipticity %g, want 0", c.n, s.A, s.Ellip)
		}
		if testing.Verbose() {
			t.Logf("n=%g re=%g: r20 %.3f/%.3f r50 %.3f/%.3f r80 %.3f/%.3f C %.3f/%.3f (in stamp %.4f)", c.n, c.re,
				s.R20, want["r20"], s.R50, want["r50"], s.R80, want["r80"], s.C, wantC, inStamp)
		}
	}
}

func TestGini(t *testing.T) {
	const m = 32
	uniform := make([]float64, m*m)
	for i := range uniform {
		uniform[i] = 3
	}
	if g := Measure(uniform, m).Gini; math.Abs(g) > 1e-12 {
		t.Errorf("uniform image: Gini %g, want 0", g)
	}
	point := make([]float64, m*m)
	point[10*m+20] = 5
	if g := Measure(point, m).Gini; g < 0.99 {
		t.Errorf("single bright pixel: Gini %g, want ≈ 1", g)
	}
	// A Gini of the formula on a known set: values 1, 2, 3, 4 give
	// Σ(2i−m−1)x_i / (x̄ m(m−1)) = (−3·1 −1·2 + 1·3 + 3·4)/(2.5·4·3) = 1/3.
	img := []float64{1, 2, 3, 4}
	if g := gini(img, []int{0, 1, 2, 3}); math.Abs(g-1.0/3) > 1e-12 {
		t.Errorf("gini(1,2,3,4) = %g, want 1/3", g)
	}
}

func TestAsymmetry(t *testing.T) {
	const m = 48
	// Point-symmetric about (23.5, 20): two blobs and an elongated bar, off the stamp centre
	// and on a half-pixel, so the search has to find the centre.
	sym := make([]float64, m*m)
	asym := make([]float64, m*m)
	for j := 0; j < m; j++ {
		for i := 0; i < m; i++ {
			x, y := float64(i)-23.5, float64(j)-20
			g := func(x0, y0, s float64) float64 {
				return math.Exp(-((x-x0)*(x-x0) + (y-y0)*(y-y0)) / (2 * s * s))
			}
			u, v := 0.8*x+0.6*y, -0.6*x+0.8*y
			bar := math.Exp(-u*u/50 - v*v/4)
			sym[j*m+i] = g(6, 3, 2) + g(-6, -3, 2) + bar
			asym[j*m+i] = g(6, 3, 2) + 0.3*g(-6, -3, 2) + bar
		}
	}
	if a := Measure(sym, m).A; a > 1e-12 {
		t.Errorf("point-symmetric image: A = %g, want 0", a)
	}
	// Rotating the asymmetric image about its symmetry centre leaves |1 − 0.3| of each blob's
	// light unmatched twice: A = 2·0.7·F_blob/(F_bar + 1.3 F_blob) with F_blob = 2π·4 and
	// F_bar = π√(50·4); the minimising centre can only lower it.
	fb, fbar := 2*math.Pi*4, math.Pi*math.Sqrt(200)
	want := 2 * 0.7 * fb / (fbar + 1.3*fb)
	if a := Measure(asym, m).A; a > want+1e-3 || a < 0.5*want {
		t.Errorf("asymmetric image: A = %g, want in (%g, %g]", a, 0.5*want, want)
	}
}

func TestEllipticity(t *testing.T) {
	// A Gaussian with σ = 8 and 4 px at 30°: pixelisation adds 1/12 px² to both second
	// moments, so 1 − b/a = 1 − sqrt((16 + 1/12)/(64 + 1/12)); tolerance 1e-3 for the
	// truncation at the stamp edge (8σ) and point sampling.
	const m = 128
	img := make([]float64, m*m)
	s, c := math.Sincos(math.Pi / 6)
	for j := 0; j < m; j++ {
		for i := 0; i < m; i++ {
			x, y := float64(i)-63.5, float64(j)-63.5
			u, v := x*c+y*s, -x*s+y*c
			img[j*m+i] = math.Exp(-u*u/(2*64) - v*v/(2*16))
		}
	}
	want := 1 - math.Sqrt(16/64.0)
	if e := Measure(img, m).Ellip; math.Abs(e-want) > 1e-3 {
		t.Errorf("ellipticity %g, want %g", e, want)
	}
}

func TestPowerSpectrum(t *testing.T) {
	// White noise has a flat spectrum; each bin k averages ~2πk modes whose power scatters
	// by 100%, so the fitted slope over 2 ≤ k ≤ 32 has a standard error of about 0.05;
	// tolerance 0.2 (4σ).
	const m = 128
	r := rand.New(rand.NewPCG(1, 2))
	img := make([]float64, m*m)
	var ss float64
	for i := range img {
		img[i] = r.NormFloat64()
		ss += img[i] * img[i]
	}
	slope, _ := powerSummary(img, m)
	if math.Abs(slope) > 0.2 {
		t.Errorf("white noise: slope %g, want 0 ± 0.2", slope)
	}
	// The k = 0 bin holds only the DC mode: |Σx|².
	var sum float64
	for _, v := range img {
		sum += v
	}
	if p := PowerSpectrum(img, m); math.Abs(p[0]-sum*sum) > 1e-9*ss*m*m {
		t.Errorf("P(0) = %g, want %g", p[0], sum*sum)
	}
	// A smooth profile's power falls steeply.
	gauss, _ := sersicImage(64, 4, 0.5, 4)
	if s, _ := powerSummary(gauss, 64); s > -2 {
		t.Errorf("Gaussian: slope %g, want steep (< -2)", s)
	}
}
